//! Matching `[[allow]]` rules against a client name and a device.

use serialmesh_config::{Access, AllowRule};

use crate::discovery::glob_match;

/// The most any rule grants `client` on `device` of the agent `agent` in
/// `zone`; without rules, everything.
pub fn access(
    rules: &[AllowRule],
    client: &str,
    device: &str,
    agent: &str,
    zone: &str,
) -> Option<Access> {
    if rules.is_empty() {
        return Some(Access::Open);
    }
    rules
        .iter()
        .filter(|r| r.clients.iter().any(|p| glob_match(p, client)))
        .filter(|r| covers(r, device, agent, zone))
        .map(|r| r.access)
        .max()
}

fn covers(rule: &AllowRule, device: &str, agent: &str, zone: &str) -> bool {
    let here = |place: &str| glob_match(place, zone) || glob_match(place, agent);
    rule.zones.iter().any(|z| here(z))
        || rule.devices.iter().any(|p| match p.split_once('@') {
            Some((name, place)) => glob_match(name, device) && here(place),
            None => glob_match(p, device),
        })
}
