//! Choosing the one agent that has a device, from what a survey found, and
//! saying what exists when there is no such agent or more than one.

use serialmesh_config::Address;
use serialmesh_pki::Fingerprint;
use serialmesh_proto::{DeviceInfo, DeviceState};

use super::survey::{Reached, Survey};

/// Where an address lives now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// `host:port` to dial.
    pub agent: String,
    pub name: String,
    pub zone: String,
    /// The key the survey's handshake verified: the session is dialled
    /// pinned to it, so it reaches the agent that was resolved, not
    /// whoever answers at that address next.
    pub key: Fingerprint,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    #[error("no agent answered, so '{address}' cannot be found{detail}")]
    NoAgents {
        address: String,
        detail: String,
        /// Every agent asked refused the connection (restarting, most
        /// likely): worth asking again soon.
        restarting: bool,
    },
    #[error("{0}")]
    Unknown(String),
    #[error("{0}")]
    Ambiguous(String),
}

/// The agent for `address`: one whose zone or name is the address's `@`
/// part (any agent without one) and that has the device. A device that is
/// present wins over one listed as gone (a stick moved to another host);
/// two present ones are ambiguous. With `pin`, only the agent of that key
/// counts. The chosen agent's name must be its alone: another key
/// presenting the same name is an ambiguity, never a silent first-wins.
pub fn pick(
    survey: &Survey,
    address: &Address,
    pin: Option<Fingerprint>,
) -> Result<Resolved, ResolveError> {
    let pinned;
    let survey = match pin {
        None => survey,
        Some(key) => {
            pinned = Survey {
                agents: survey
                    .agents
                    .iter()
                    .filter(|r| r.fingerprint == key)
                    .cloned()
                    .collect(),
                ..survey.clone()
            };
            &pinned
        }
    };
    if survey.agents.is_empty() {
        return Err(ResolveError::NoAgents {
            address: address.to_string(),
            detail: no_agents_detail(survey),
            restarting: !survey.unreachable.is_empty()
                && survey.unreachable.iter().all(|u| u.nothing_listens),
        });
    }
    let here: Vec<&Reached> = survey
        .agents
        .iter()
        .filter(|r| match &address.place {
            None => true,
            Some(p) => *p == r.inventory.zone || *p == r.inventory.agent,
        })
        .collect();
    let holders: Vec<(&Reached, &DeviceInfo)> = here
        .iter()
        .flat_map(|r| {
            r.inventory
                .devices
                .iter()
                .filter(|d| d.name == address.device)
                .map(move |d| (*r, d))
        })
        .collect();
    let present: Vec<&(&Reached, &DeviceInfo)> = holders
        .iter()
        .filter(|(_, d)| d.state != DeviceState::Gone)
        .collect();
    let chosen = match (present.as_slice(), holders.first()) {
        ([one], _) => one.0,
        ([], Some(gone)) => gone.0,
        ([], None) => return Err(ResolveError::Unknown(unknown(survey, &here, address))),
        (many, _) => {
            for (r, _) in many {
                one_key_per_name(survey, address, &r.inventory.agent)?;
            }
            let list: Vec<String> = many
                .iter()
                .map(|(r, _)| format!("{} ({})", r.inventory.agent, r.addr))
                .collect();
            let hints: Vec<String> = many
                .iter()
                .map(|(r, _)| format!("{}@{}", address.device, r.inventory.agent))
                .collect();
            return Err(ResolveError::Ambiguous(format!(
                "'{address}' is ambiguous: agents {} each have a device '{}'; use {}",
                list.join(", "),
                address.device,
                hints.join(" or ")
            )));
        }
    };
    one_key_per_name(survey, address, &chosen.inventory.agent)?;
    Ok(Resolved {
        agent: chosen.addr.clone(),
        name: chosen.inventory.agent.clone(),
        zone: chosen.inventory.zone.clone(),
        key: chosen.fingerprint,
    })
}

/// Refuses `name` when agents of more than one key present it.
fn one_key_per_name(survey: &Survey, address: &Address, name: &str) -> Result<(), ResolveError> {
    let namesakes: Vec<&Reached> = survey
        .agents
        .iter()
        .filter(|r| r.inventory.agent == name)
        .collect();
    if namesakes.len() < 2 {
        return Ok(());
    }
    let list: Vec<String> = namesakes
        .iter()
        .map(|r| {
            format!(
                "{} in zone {} at {} (key {})",
                r.inventory.agent, r.inventory.zone, r.addr, r.fingerprint
            )
        })
        .collect();
    Err(ResolveError::Ambiguous(format!(
        "'{address}' is ambiguous: {} agents present the name '{name}' with different keys: {}; \
         one of them is not who it says (or an old certificate is still in use): revoke the \
         certificate that should not exist (`serialctl pki revoke`), or pin the right agent \
         with agent_fingerprint",
        namesakes.len(),
        list.join(", ")
    )))
}

fn unknown(survey: &Survey, here: &[&Reached], address: &Address) -> String {
    let mut msg = match &address.place {
        Some(place) if here.is_empty() => {
            let zones: Vec<String> = zones(survey);
            format!(
                "no agent has zone or name '{place}', so '{address}' cannot be found; found: {}",
                zones.join("; ")
            )
        }
        _ => {
            let devices: Vec<String> = here
                .iter()
                .flat_map(|r| {
                    r.inventory
                        .devices
                        .iter()
                        .map(move |d| format!("{} (agent {})", d.address, r.inventory.agent))
                })
                .collect();
            let scope = match &address.place {
                Some(p) => format!("in zone or agent '{p}'"),
                None => "on any agent".to_string(),
            };
            let listing = if devices.is_empty() {
                "there are no devices there".to_string()
            } else {
                format!("there are: {}", devices.join(", "))
            };
            format!("no device '{}' {scope}; {listing}", address.device)
        }
    };
    if !survey.unreachable.is_empty() {
        msg.push_str(&format!(
            " ({} more agent(s) did not answer: {})",
            survey.unreachable.len(),
            survey
                .unreachable
                .iter()
                .map(|u| u.addrs.join("/"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    msg
}

/// "zone house: zwave@house (agent a), zigbee@house (agent b)" per zone.
fn zones(survey: &Survey) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut zone_names: Vec<&str> = survey
        .agents
        .iter()
        .map(|r| r.inventory.zone.as_str())
        .collect();
    zone_names.sort();
    zone_names.dedup();
    for zone in zone_names {
        let agents: Vec<&Reached> = survey
            .agents
            .iter()
            .filter(|r| r.inventory.zone == zone)
            .collect();
        let devices: Vec<String> = agents
            .iter()
            .flat_map(|r| {
                r.inventory
                    .devices
                    .iter()
                    .map(move |d| format!("{} (agent {})", d.address, r.inventory.agent))
            })
            .collect();
        let names: Vec<&str> = agents.iter().map(|r| r.inventory.agent.as_str()).collect();
        if devices.is_empty() {
            out.push(format!(
                "zone {zone} (agents {}): no devices",
                names.join(", ")
            ));
        } else {
            out.push(format!("zone {zone}: {}", devices.join(", ")));
        }
    }
    out
}

fn no_agents_detail(survey: &Survey) -> String {
    if survey.unreachable.is_empty() {
        return "; none was found on mDNS and no seed was given (give agents as \
                seeds = [\"host:port\"] in the client config, or --agent HOST:PORT)"
            .to_string();
    }
    let list: Vec<String> = survey
        .unreachable
        .iter()
        .map(|u| format!("{}: {}", u.addrs.join("/"), u.error))
        .collect();
    format!("; tried {}", list.join("; "))
}

#[cfg(test)]
#[path = "pick_tests.rs"]
mod tests;
