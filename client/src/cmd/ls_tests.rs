use serialmesh_proto::{Inventory, LineSettings};

use super::*;
use crate::resolve::{Reached, Source, Unanswerable};

fn dev(name: &str, zone: &str, state: DeviceState) -> DeviceInfo {
    DeviceInfo {
        name: name.into(),
        address: format!("{name}@{zone}"),
        path: format!("/dev/{name}"),
        profile: Some(name.into()),
        usb_id: Some("10c4:ea60".into()),
        serial: None,
        product: None,
        settings: LineSettings::default(),
        state,
    }
}

fn reached(agent: &str, zone: &str, devices: Vec<DeviceInfo>) -> Reached {
    Reached {
        addr: format!("10.0.0.1:{}", 21317),
        source: Source::Peer { via: "x".into() },
        fingerprint: serialmesh_pki::Fingerprint::of_key(agent.as_bytes()),
        inventory: Inventory {
            agent: agent.into(),
            zone: zone.into(),
            devices,
            peers: vec!["10.0.0.2:21317".into()],
            ..Inventory::default()
        },
    }
}

fn sample() -> Survey {
    Survey {
        agents: vec![
            reached("g", "garage", vec![]),
            reached(
                "a",
                "house",
                vec![
                    dev(
                        "zwave",
                        "house",
                        DeviceState::InUse {
                            client: "gw".into(),
                            since: 1_714_564_803,
                        },
                    ),
                    dev("zigbee", "house", DeviceState::Free),
                ],
            ),
        ],
        unreachable: vec![Unreached {
            addrs: vec!["10.0.0.9:21317".into()],
            name: None,
            source: Source::Seed,
            error: Unanswerable::NoAnswer(std::time::Duration::from_millis(1500)),
            nothing_listens: true,
        }],
        not_followed: 0,
        took: Duration::ZERO,
    }
}

#[test]
fn table_groups_zones_and_shows_agents_without_devices() {
    let want = "\
ZONE    AGENT  DEVICE  PROFILE  USB ID     SERIAL  STATE
garage  g      -       -        -          -       (no devices)

house   a      zigbee  zigbee   10c4:ea60  -       free
house   a      zwave   zwave    10c4:ea60  -       in use by gw since 2024-05-01T12:00:03Z
";
    assert_eq!(table(&sample()), want);
}

#[test]
fn json_follows_the_documented_schema() {
    let v = to_json(&sample());
    assert_eq!(v["schema"], 1);
    let house = &v["agents"][1];
    assert_eq!(house["name"], "a");
    assert_eq!(house["zone"], "house");
    assert_eq!(house["address"], "10.0.0.1:21317");
    assert_eq!(house["source"], "peer");
    // The key the handshake verified, for every agent however found.
    assert_eq!(
        house["fingerprint"],
        serialmesh_pki::Fingerprint::of_key(b"a").to_string()
    );
    assert_eq!(house["peers"][0], "10.0.0.2:21317");
    let zwave = &house["devices"][0];
    assert_eq!(zwave["address"], "zwave@house");
    assert_eq!(zwave["state"], "in_use");
    assert_eq!(zwave["client"], "gw");
    assert_eq!(zwave["since"], 1_714_564_803);
    assert_eq!(zwave["serial"], Value::Null);
    assert_eq!(zwave["settings"]["baud"], 115_200);
    let free = &house["devices"][1];
    assert_eq!(
        (&free["state"], &free["client"]),
        (&json!("free"), &Value::Null)
    );
    let u = &v["unreachable"][0];
    assert_eq!(u["addresses"][0], "10.0.0.9:21317");
    assert_eq!(u["source"], "seed");
    assert_eq!(u["via"], Value::Null);
    assert_eq!(u["error"], "no answer within 1.5s");
}

#[test]
fn watch_json_is_one_line_per_document() {
    let text = render(&sample(), true, true);
    assert_eq!(text.lines().count(), 1);
    assert!(text.ends_with('\n'));
}
