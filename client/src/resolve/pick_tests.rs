use serialmesh_proto::{DeviceInfo, DeviceState, Inventory, LineSettings};

use super::*;
use crate::resolve::agent::Source;
use crate::resolve::survey::{Unanswerable, Unreached};

fn device(name: &str, zone: &str, state: DeviceState) -> DeviceInfo {
    DeviceInfo {
        name: name.into(),
        address: format!("{name}@{zone}"),
        path: "/dev/ttyUSB0".into(),
        profile: None,
        usb_id: None,
        serial: None,
        product: None,
        settings: LineSettings::default(),
        state,
    }
}

fn agent(name: &str, zone: &str, addr: &str, devices: &[(&str, DeviceState)]) -> Reached {
    Reached {
        addr: addr.into(),
        source: Source::Mdns,
        // One key per address: agents at two addresses are two agents.
        fingerprint: serialmesh_pki::Fingerprint::of_key(addr.as_bytes()),
        inventory: Inventory {
            agent: name.into(),
            zone: zone.into(),
            devices: devices
                .iter()
                .map(|(d, s)| device(d, zone, s.clone()))
                .collect(),
            peers: vec![],
            ..Inventory::default()
        },
    }
}

fn survey(agents: Vec<Reached>) -> Survey {
    Survey {
        agents,
        ..Survey::default()
    }
}

fn addr(s: &str) -> Address {
    s.parse().unwrap()
}

#[test]
fn the_agent_of_the_zone_that_has_the_device_is_chosen() {
    let s = survey(vec![
        agent("a", "house", "10.0.0.1:1", &[("zigbee", DeviceState::Free)]),
        agent("b", "house", "10.0.0.2:1", &[("zwave", DeviceState::Free)]),
        agent("g", "garage", "10.0.0.3:1", &[("zwave", DeviceState::Free)]),
    ]);
    let r = pick(&s, &addr("zwave@house"), None).unwrap();
    assert_eq!((r.name.as_str(), r.agent.as_str()), ("b", "10.0.0.2:1"));
    // By agent name too.
    assert_eq!(pick(&s, &addr("zwave@g"), None).unwrap().name, "g");
}

#[test]
fn a_present_device_wins_over_one_listed_as_gone() {
    let s = survey(vec![
        agent("a", "house", "10.0.0.1:1", &[("zwave", DeviceState::Gone)]),
        agent("b", "house", "10.0.0.2:1", &[("zwave", DeviceState::Free)]),
    ]);
    assert_eq!(pick(&s, &addr("zwave@house"), None).unwrap().name, "b");
}

#[test]
fn two_holders_are_ambiguous_and_both_are_named() {
    let s = survey(vec![
        agent("a", "house", "10.0.0.1:1", &[("zwave", DeviceState::Free)]),
        agent("b", "house", "10.0.0.2:1", &[("zwave", DeviceState::Free)]),
    ]);
    let e = pick(&s, &addr("zwave@house"), None)
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "'zwave@house' is ambiguous: agents a (10.0.0.1:1), b (10.0.0.2:1) each have a device 'zwave'; use zwave@a or zwave@b"
    );
}

#[test]
fn an_unknown_device_lists_what_the_zone_has() {
    let s = survey(vec![
        agent("a", "house", "10.0.0.1:1", &[("zigbee", DeviceState::Free)]),
        agent("g", "garage", "10.0.0.3:1", &[("zwave", DeviceState::Free)]),
    ]);
    let e = pick(&s, &addr("zwave@house"), None)
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "no device 'zwave' in zone or agent 'house'; there are: zigbee@house (agent a)"
    );
}

#[test]
fn an_unknown_zone_lists_every_zone_found() {
    let s = survey(vec![
        agent("a", "house", "10.0.0.1:1", &[("zigbee", DeviceState::Free)]),
        agent("g", "garage", "10.0.0.3:1", &[]),
    ]);
    let e = pick(&s, &addr("zwave@shed"), None).unwrap_err().to_string();
    assert_eq!(
        e,
        "no agent has zone or name 'shed', so 'zwave@shed' cannot be found; found: zone garage (agents g): no devices; zone house: zigbee@house (agent a)"
    );
}

#[test]
fn no_agents_at_all_says_what_was_tried() {
    let mut s = survey(vec![]);
    let e = pick(&s, &addr("zwave@shed"), None).unwrap_err().to_string();
    assert!(
        e.contains("none was found on mDNS and no seed was given"),
        "{e}"
    );
    s.unreachable.push(Unreached {
        addrs: vec!["10.9.0.1:21317".into()],
        name: None,
        source: Source::Seed,
        error: Unanswerable::NoAnswer(std::time::Duration::from_millis(1500)),
        nothing_listens: true,
    });
    let err = pick(&s, &addr("zwave@shed"), None).unwrap_err();
    assert!(
        matches!(
            err,
            ResolveError::NoAgents {
                restarting: true,
                ..
            }
        ),
        "every agent refused the connection: {err:?}"
    );
    let e = err.to_string();
    assert!(
        e.ends_with("tried 10.9.0.1:21317: no answer within 1.5s"),
        "{e}"
    );
}

#[test]
fn two_keys_presenting_one_name_are_ambiguous_and_both_are_listed() {
    // A rogue with a valid agent certificate of the same name, listed
    // first: never a silent first-wins, even when it lacks the device.
    let s = survey(vec![
        agent("shed", "shed", "10.0.0.66:1", &[]),
        agent(
            "shed",
            "shed",
            "10.0.0.5:1",
            &[("zwave", DeviceState::Free)],
        ),
    ]);
    let e = pick(&s, &addr("zwave@shed"), None).unwrap_err().to_string();
    let rogue = serialmesh_pki::Fingerprint::of_key(b"10.0.0.66:1");
    let real = serialmesh_pki::Fingerprint::of_key(b"10.0.0.5:1");
    assert!(
        e.contains("2 agents present the name 'shed' with different keys"),
        "{e}"
    );
    assert!(
        e.contains(&format!("shed in zone shed at 10.0.0.66:1 (key {rogue})")),
        "{e}"
    );
    assert!(
        e.contains(&format!("shed in zone shed at 10.0.0.5:1 (key {real})")),
        "{e}"
    );
    assert!(
        e.contains("pin the right agent with agent_fingerprint"),
        "{e}"
    );
}

#[test]
fn a_pin_picks_the_agent_of_that_key_among_namesakes() {
    let s = survey(vec![
        agent(
            "shed",
            "shed",
            "10.0.0.66:1",
            &[("zwave", DeviceState::Free)],
        ),
        agent(
            "shed",
            "shed",
            "10.0.0.5:1",
            &[("zwave", DeviceState::Free)],
        ),
    ]);
    let real = serialmesh_pki::Fingerprint::of_key(b"10.0.0.5:1");
    let r = pick(&s, &addr("zwave@shed"), Some(real)).unwrap();
    assert_eq!((r.agent.as_str(), r.key), ("10.0.0.5:1", real));
}

#[test]
fn the_resolved_key_is_the_one_the_survey_verified() {
    let s = survey(vec![agent(
        "b",
        "house",
        "10.0.0.2:1",
        &[("zwave", DeviceState::Free)],
    )]);
    let r = pick(&s, &addr("zwave@house"), None).unwrap();
    assert_eq!(r.key, serialmesh_pki::Fingerprint::of_key(b"10.0.0.2:1"));
}
