use serialmesh_config::{Access, AllowRule, DevicePattern, Grants, Place};

use super::rules::{access, zone_places_naming_this_agent};

fn device(p: &str) -> DevicePattern {
    match p.split_once('@') {
        None => DevicePattern {
            name: p.into(),
            place: None,
        },
        Some((name, place)) => DevicePattern {
            name: name.into(),
            place: Some(match place.strip_prefix("agent:") {
                Some(a) => Place::Agent(a.into()),
                None => Place::Zone(place.into()),
            }),
        },
    }
}

fn rule(clients: &[&str], devices: &[&str], zones: &[&str], access: Access) -> AllowRule {
    AllowRule {
        clients: clients.iter().map(|s| s.to_string()).collect(),
        devices: devices.iter().map(|d| device(d)).collect(),
        places: zones.iter().map(|z| Place::Zone(z.to_string())).collect(),
        access,
    }
}

#[test]
fn without_rules_everyone_opens_everything() {
    for grants in [Grants::Unrestricted, Grants::Everyone] {
        assert_eq!(
            access(&grants, "anyone", "zwave", "shed", "garden"),
            Some(Access::Open)
        );
    }
}

#[test]
fn an_empty_rule_list_grants_nothing() {
    let none = Grants::Rules(Vec::new());
    assert_eq!(access(&none, "anyone", "zwave", "shed", "garden"), None);
}

#[test]
fn rules_grant_the_most_any_matching_rule_gives() {
    let rules = Grants::Rules(vec![
        rule(&["gw-*"], &["zwave"], &[], Access::Open),
        rule(&["*"], &["*"], &[], Access::List),
        rule(&["laptop"], &[], &["gard?n"], Access::Open),
        rule(&["z2m"], &["zigbee@garage"], &[], Access::Open),
    ]);
    let a = |client, device| access(&rules, client, device, "shed", "garden");
    assert_eq!(a("gw-1", "zwave"), Some(Access::Open));
    assert_eq!(a("gw-1", "zigbee"), Some(Access::List));
    assert_eq!(a("laptop", "zigbee"), Some(Access::Open));
    // zigbee@garage names another zone: here it is only listed, by rule 2.
    assert_eq!(a("z2m", "zigbee"), Some(Access::List));
    let here = access(&rules, "z2m", "zigbee", "pi-7", "garage");
    assert_eq!(here, Some(Access::Open));
}

#[test]
fn a_client_no_rule_names_gets_nothing() {
    let rules = Grants::Rules(vec![rule(&["gw"], &["zwave@garden"], &[], Access::Open)]);
    assert_eq!(access(&rules, "other", "zwave", "shed", "garden"), None);
    assert_eq!(access(&rules, "gw", "zigbee", "shed", "garden"), None);
    assert_eq!(
        access(&rules, "gw", "zwave", "shed", "garden"),
        Some(Access::Open)
    );
}

#[test]
fn a_zone_place_never_matches_an_agent_of_that_name_in_another_zone() {
    let rules = Grants::Rules(vec![
        rule(&["gw"], &["*@garage"], &[], Access::Open),
        rule(&["z2m"], &[], &["garage"], Access::Open),
    ]);
    // The agent called "garage" stands in the zone "house".
    assert_eq!(access(&rules, "gw", "zwave", "garage", "house"), None);
    assert_eq!(access(&rules, "z2m", "zwave", "garage", "house"), None);
    assert_eq!(
        zone_places_naming_this_agent(&rules, "garage", "house"),
        ["garage"]
    );
}

#[test]
fn an_agent_place_matches_the_agent_name_only() {
    let rules = Grants::Rules(vec![rule(
        &["gw"],
        &["zwave@agent:shed-pi"],
        &[],
        Access::Open,
    )]);
    assert_eq!(
        access(&rules, "gw", "zwave", "shed-pi", "shed"),
        Some(Access::Open)
    );
    assert_eq!(access(&rules, "gw", "zwave", "other", "shed-pi"), None);
    assert!(zone_places_naming_this_agent(&rules, "shed-pi", "shed").is_empty());
}
