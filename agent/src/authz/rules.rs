//! Matching `[[allow]]` rules against a client name and a device.

use serialmesh_config::{Access, AllowRule, DevicePattern, Grants, Place};

use crate::usb::glob_match;

/// The most `grants` give `client` on `device` of the agent `agent` in
/// `zone`.
pub fn access(
    grants: &Grants,
    client: &str,
    device: &str,
    agent: &str,
    zone: &str,
) -> Option<Access> {
    let rules = match grants {
        Grants::Unrestricted | Grants::Everyone => return Some(Access::Open),
        Grants::Rules(rules) => rules,
    };
    rules
        .iter()
        .filter(|r| r.clients.iter().any(|p| glob_match(p, client)))
        .filter(|r| covers(r, device, agent, zone))
        .map(|r| r.access)
        .max()
}

fn covers(rule: &AllowRule, device: &str, agent: &str, zone: &str) -> bool {
    let here = |place: &Place| place.matches(agent, zone, glob_match);
    rule.places.iter().any(here)
        || rule.devices.iter().any(|DevicePattern { name, place }| {
            glob_match(name, device) && place.as_ref().is_none_or(here)
        })
}

/// Zone places of `grants` that match this agent's name but not its zone:
/// before zones and agent names were told apart they matched, now they do
/// not, and the agent says so rather than lock a client out silently.
pub fn zone_places_naming_this_agent(grants: &Grants, agent: &str, zone: &str) -> Vec<String> {
    let Grants::Rules(rules) = grants else {
        return Vec::new();
    };
    let mut found: Vec<String> = rules
        .iter()
        .flat_map(|r| {
            let on_devices = r.devices.iter().filter_map(|d| d.place.as_ref());
            r.places.iter().chain(on_devices)
        })
        .filter_map(|p| match p {
            Place::Zone(z) if glob_match(z, agent) && !glob_match(z, zone) => Some(z.clone()),
            _ => None,
        })
        .collect();
    found.sort();
    found.dedup();
    found
}
