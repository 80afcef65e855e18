use super::*;
use serialmesh_proto::LineSettings;

fn registry(takeover: bool) -> Registry {
    let dev = |name: &str| DeviceConfig {
        name: name.into(),
        path: format!("/dev/{name}").into(),
        settings: LineSettings::default(),
        takeover,
    };
    Registry::new(
        "shed",
        "garden",
        vec![dev("zwave"), dev("zigbee")],
        CancellationToken::new(),
    )
}

#[test]
fn address_forms_resolve() {
    let r = registry(false);
    for a in ["zwave", "zwave@garden", "zwave@shed"] {
        let c = r.claim(a, "gw").unwrap_or_else(|e| panic!("{a}: {e}"));
        assert_eq!(c.device.name, "zwave");
        r.release("zwave", c.session);
    }
}

#[test]
fn unknown_device_lists_candidates() {
    let e = registry(false).claim("rs232@garden", "gw").err().unwrap();
    assert_eq!(e.kind, CloseReasonKind::UnknownDevice);
    assert_eq!(
        e.message,
        "agent 'shed' (zone 'garden') has no device 'rs232@garden'; it has: zigbee@garden, zwave@garden"
    );
    let e = registry(false).claim("zwave@house", "gw").err().unwrap();
    assert_eq!(e.kind, CloseReasonKind::UnknownDevice);
}

#[test]
fn same_client_replaces_its_old_session() {
    let r = registry(false);
    let first = r.claim("zwave", "gw").unwrap();
    let second = r.claim("zwave", "gw").unwrap();
    assert!(first.stop.token().is_cancelled());
    assert_eq!(first.stop.reason().kind, CloseReasonKind::Replaced);
    assert!(!second.stop.token().is_cancelled());
    // The old session's late release must not free the new one's hold.
    r.release("zwave", first.session);
    let e = r.claim("zwave", "other").err().unwrap();
    assert_eq!(e.kind, CloseReasonKind::Busy);
}

#[test]
fn other_client_is_refused_with_holder_named() {
    let r = registry(false);
    let _held = r.claim("zwave", "gw").unwrap();
    let e = r.claim("zwave", "laptop").err().unwrap();
    assert_eq!(e.kind, CloseReasonKind::Busy);
    assert_eq!(e.holder.as_deref(), Some("gw"));
    assert!(
        e.message
            .starts_with("zwave@garden is in use by client 'gw'"),
        "{}",
        e.message
    );
}

#[test]
fn takeover_device_kicks_the_holder() {
    let r = registry(true);
    let held = r.claim("zwave", "gw").unwrap();
    let _new = r.claim("zwave", "laptop").unwrap();
    assert_eq!(held.stop.reason().kind, CloseReasonKind::Replaced);
    assert!(held.stop.reason().message.contains("laptop"));
}

#[test]
fn shutdown_is_the_default_stop_reason() {
    let shutdown = CancellationToken::new();
    let r = Registry::new("a", "a", vec![], shutdown.clone());
    let s = SessionStop::new(&r.shutdown);
    shutdown.cancel();
    assert!(s.token().is_cancelled());
    assert_eq!(s.reason().kind, CloseReasonKind::Shutdown);
}

#[test]
fn inventory_shows_holder() {
    let r = registry(false);
    let _c = r.claim("zwave", "gw").unwrap();
    let inv = r.inventory();
    let z = inv.iter().find(|d| d.name == "zwave").unwrap();
    assert!(matches!(&z.state, DeviceState::InUse { client, .. } if client == "gw"));
    assert_eq!(z.address, "zwave@garden");
}
