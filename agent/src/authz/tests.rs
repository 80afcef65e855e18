use serialmesh_config::{Access, AllowRule};

use super::rules::access;

fn rule(clients: &[&str], devices: &[&str], zones: &[&str], access: Access) -> AllowRule {
    let v = |x: &[&str]| x.iter().map(|s| s.to_string()).collect();
    AllowRule {
        clients: v(clients),
        devices: v(devices),
        zones: v(zones),
        access,
    }
}

#[test]
fn without_rules_everyone_opens_everything() {
    assert_eq!(
        access(&[], "anyone", "zwave", "shed", "garden"),
        Some(Access::Open)
    );
}

#[test]
fn rules_grant_the_most_any_matching_rule_gives() {
    let rules = [
        rule(&["gw-*"], &["zwave"], &[], Access::Open),
        rule(&["*"], &["*"], &[], Access::List),
        rule(&["laptop"], &[], &["gard?n"], Access::Open),
        rule(&["z2m"], &["zigbee@garage"], &[], Access::Open),
    ];
    let a = |client, device| access(&rules, client, device, "shed", "garden");
    assert_eq!(a("gw-1", "zwave"), Some(Access::Open));
    assert_eq!(a("gw-1", "zigbee"), Some(Access::List));
    assert_eq!(a("laptop", "zigbee"), Some(Access::Open));
    // zigbee@garage names another zone: here it is only listed, by rule 2.
    assert_eq!(a("z2m", "zigbee"), Some(Access::List));
    let here = access(&rules, "z2m", "zigbee", "garage", "garage");
    assert_eq!(here, Some(Access::Open));
}

#[test]
fn a_client_no_rule_names_gets_nothing() {
    let rules = [rule(&["gw"], &["zwave@shed"], &[], Access::Open)];
    assert_eq!(access(&rules, "other", "zwave", "shed", "garden"), None);
    assert_eq!(access(&rules, "gw", "zigbee", "shed", "garden"), None);
    // The place may be the agent's name as well as its zone.
    assert_eq!(
        access(&rules, "gw", "zwave", "shed", "garden"),
        Some(Access::Open)
    );
}
