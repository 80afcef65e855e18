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
fn inventory_shows_holder_and_configured_paths_that_are_missing() {
    let dir = tempfile::tempdir().unwrap();
    let there = dir.path().join("usb-zwave");
    std::fs::write(&there, b"").unwrap();
    let dev = |name: &str, path: &std::path::Path| DeviceConfig {
        name: name.into(),
        path: path.into(),
        settings: LineSettings::default(),
        takeover: false,
    };
    let r = Registry::new(
        "shed",
        "garden",
        vec![
            dev("zwave", &there),
            dev("zigbee", &dir.path().join("usb-zigbee")),
        ],
        CancellationToken::new(),
    );
    let _c = r.claim("zwave", "gw").unwrap();
    let state = |name: &str| {
        r.inventory()
            .into_iter()
            .find(|d| d.name == name)
            .unwrap()
            .state
    };
    assert!(matches!(state("zwave"), DeviceState::InUse { client, .. } if client == "gw"));
    assert_eq!(state("zigbee"), DeviceState::Gone);
    std::fs::write(dir.path().join("usb-zigbee"), b"").unwrap();
    assert_eq!(state("zigbee"), DeviceState::Free);
    std::fs::remove_file(&there).unwrap();
    assert_eq!(state("zwave"), DeviceState::Gone);
}

fn found(name: &str, path: &str) -> (DeviceConfig, DeviceMeta) {
    (
        DeviceConfig {
            name: name.into(),
            path: path.into(),
            settings: LineSettings::default(),
            takeover: false,
        },
        DeviceMeta {
            profile: Some("aeotec-zstick-gen5".into()),
            usb_id: Some("0658:0200".into()),
            serial: None,
            product: None,
        },
    )
}

#[test]
fn discovered_device_appears_renumbers_vanishes_and_returns() {
    let r = Registry::new("shed", "shed", vec![], CancellationToken::new());
    r.sync_discovered(vec![found("zwave", "/dev/ttyUSB0")]);
    let held = r.claim("zwave@shed", "gw").unwrap();
    assert_eq!(held.device.path, std::path::Path::new("/dev/ttyUSB0"));

    r.sync_discovered(vec![]);
    assert!(held.stop.token().is_cancelled());
    assert_eq!(held.stop.reason().kind, CloseReasonKind::DeviceGone);
    r.release("zwave", held.session);
    let e = r.claim("zwave@shed", "gw").err().unwrap();
    assert_eq!(e.kind, CloseReasonKind::DeviceGone);
    assert!(e.kind.is_retryable());
    let inv = r.inventory();
    assert_eq!(inv[0].state, DeviceState::Gone);
    assert_eq!(inv[0].usb_id.as_deref(), Some("0658:0200"));

    // Back under another number: the same name follows the new path.
    r.sync_discovered(vec![found("zwave", "/dev/ttyUSB1")]);
    let again = r.claim("zwave@shed", "gw").unwrap();
    assert_eq!(again.device.path, std::path::Path::new("/dev/ttyUSB1"));
}

#[test]
fn discovery_never_overrides_a_configured_device() {
    let r = registry(false);
    r.sync_discovered(vec![found("zwave", "/dev/ttyUSB9")]);
    let c = r.claim("zwave", "gw").unwrap();
    assert_eq!(c.device.path, std::path::Path::new("/dev/zwave"));
    r.sync_discovered(vec![]);
    assert!(
        !c.stop.token().is_cancelled(),
        "configured devices are not discovery's to remove"
    );
}

#[test]
fn a_missing_path_counts_as_vanished_only_after_it_opened() {
    let r = registry(false);
    assert_eq!(r.missing("zwave"), None, "never opened: a wrong path");
    r.found("zwave");
    let first = r.missing("zwave").expect("opened before, now missing");
    std::thread::sleep(Duration::from_millis(20));
    let later = r.missing("zwave").expect("still missing");
    assert!(
        later >= first + Duration::from_millis(20),
        "{first:?} then {later:?}"
    );
    r.found("zwave");
    assert!(
        r.missing("zwave").unwrap() < Duration::from_millis(20),
        "clock restarted"
    );
    assert_eq!(r.missing("nope"), None);
}
