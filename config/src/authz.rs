//! Who may do what on an agent: `[[allow]]` rules and the revocation
//! settings (`revoked`, `revoked_file`) of an agent config.
//!
//! Rules only grant; there are no deny rules, so the order of rules never
//! matters and a client's rights on a device are the most any matching
//! rule gives. Without any rule every client of the CA may open every
//! device (the behaviour before rules existed); with at least one rule a
//! client gets nothing that no rule grants. Because "no rules" opens
//! everything, it is kept apart from "every client, said on purpose"
//! (`allow_everyone = true`): a reload that drops the last rule must not
//! open every device by accident ([`Grants`]).
//!
//! Zones and agent names are separate namespaces: a place in a rule is a
//! zone unless written `agent:NAME` ([`Place`]), so `*@garage` never
//! matches an agent that happens to be called `garage` in another zone.

use std::path::PathBuf;

use serde::Deserialize;
use serialmesh_pki::Fingerprint;
use toml::Spanned;

use crate::load::Ctx;
use crate::ConfigError;

/// What a rule lets its clients do with its devices. Ordered: `Open`
/// includes `List`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    /// See the device in inventories (`serialctl ls`, resolution).
    List,
    /// See it and open sessions on it.
    #[default]
    Open,
}

impl std::fmt::Display for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Access::List => "list",
            Access::Open => "open",
        })
    }
}

/// Where a rule applies: a zone or an agent, never "either". Patterns are
/// shell-style globs (`*`, `?`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// `ZONE` or `zone:ZONE` in `devices`, an entry of `zones`.
    Zone(String),
    /// `agent:NAME` in `devices`, an entry of `agents`.
    Agent(String),
}

impl Place {
    /// Whether this place is the agent `agent` in `zone`.
    pub fn matches(&self, agent: &str, zone: &str, glob: impl Fn(&str, &str) -> bool) -> bool {
        match self {
            Place::Zone(p) => glob(p, zone),
            Place::Agent(p) => glob(p, agent),
        }
    }
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Place::Zone(z) => write!(f, "zone:{z}"),
            Place::Agent(a) => write!(f, "agent:{a}"),
        }
    }
}

/// An entry of `devices`: a device name pattern, on any agent or at one
/// place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevicePattern {
    pub name: String,
    /// `None`: on whichever agent holds the rule.
    pub place: Option<Place>,
}

/// One `[[allow]]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowRule {
    /// Client certificate names (`--name` of `serialctl pki issue`).
    pub clients: Vec<String>,
    /// `NAME`, `NAME@ZONE` or `NAME@agent:AGENT`; a place that is not this
    /// agent's matches nothing here, so one rule set can be shared by every
    /// agent.
    pub devices: Vec<DevicePattern>,
    /// Every device of an agent in these zones (`zones`) or of these agents
    /// (`agents`).
    pub places: Vec<Place>,
    pub access: Access,
}

/// Who gets what, before revocation.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Grants {
    /// No `[[allow]]` and no `allow_everyone`: every client of the CA may
    /// open everything, as before rules existed. A reload never goes from
    /// rules to this (it would open everything without anyone saying so).
    #[default]
    Unrestricted,
    /// `allow_everyone = true`: every client of the CA may open everything,
    /// on purpose.
    Everyone,
    /// Only what these rules grant (none: nothing, with
    /// `allow_everyone = false` and no rules).
    Rules(Vec<AllowRule>),
}

/// Authorisation and revocation settings of an agent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuthzConfig {
    pub grants: Grants,
    /// Certificate fingerprints refused at the handshake (`revoked = [..]`).
    pub revoked: Vec<Fingerprint>,
    /// A file of fingerprints, one a line (`serialctl pki revoke` writes
    /// it); re-read when it changes.
    pub revoked_file: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAllow {
    clients: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    devices: Vec<Spanned<String>>,
    #[serde(default)]
    zones: Vec<Spanned<String>>,
    #[serde(default)]
    agents: Vec<Spanned<String>>,
    #[serde(default)]
    access: Access,
}

/// The raw top-level keys this module owns.
pub(crate) struct RawAuthz {
    pub allow: Vec<Spanned<RawAllow>>,
    pub allow_everyone: Option<Spanned<bool>>,
    pub revoked: Vec<Spanned<String>>,
    pub revoked_file: Option<PathBuf>,
}

impl RawAuthz {
    pub(crate) fn validate(self, ctx: &Ctx) -> Result<AuthzConfig, ConfigError> {
        let mut rules = Vec::new();
        for rule in self.allow {
            let span = rule.span();
            let raw = rule.into_inner();
            let Some(clients) = raw.clients.filter(|c| !c.is_empty()) else {
                return Err(ctx.at(
                    span,
                    "[[allow]] names no clients".into(),
                    Some("add clients = [\"NAME\", ...] with client certificate names; \"*\" means every client".into()),
                ));
            };
            if raw.devices.is_empty() && raw.zones.is_empty() && raw.agents.is_empty() {
                return Err(ctx.at(
                    span,
                    "[[allow]] names no devices, zones or agents".into(),
                    Some("add devices = [\"zwave\", \"zigbee@garage\"], zones = [\"shed\"] or agents = [\"shed-pi\"]; devices = [\"*\"] means every device".into()),
                ));
            }
            let mut places = patterns(ctx, raw.zones, "zone", check_pattern)?
                .into_iter()
                .map(Place::Zone)
                .collect::<Vec<_>>();
            places.extend(
                patterns(ctx, raw.agents, "agent", check_pattern)?
                    .into_iter()
                    .map(Place::Agent),
            );
            rules.push(AllowRule {
                clients: patterns(ctx, clients, "client", check_pattern)?,
                devices: patterns(ctx, raw.devices, "device", check_device_pattern)?
                    .into_iter()
                    .map(|p| device_pattern(&p))
                    .collect(),
                places,
                access: raw.access,
            });
        }
        let grants = match (self.allow_everyone, rules.is_empty()) {
            (None, true) => Grants::Unrestricted,
            (Some(all), true) if *all.get_ref() => Grants::Everyone,
            (Some(all), false) if *all.get_ref() => {
                return Err(ctx.at(
                    all.span(),
                    "allow_everyone = true contradicts the [[allow]] rules of this file".into(),
                    Some("remove allow_everyone to let only the [[allow]] rules grant, or remove the rules to open every device to every client of the CA".into()),
                ))
            }
            _ => Grants::Rules(rules),
        };
        Ok(AuthzConfig {
            grants,
            revoked: crate::revoked::parse_list(ctx, self.revoked)?,
            revoked_file: self.revoked_file.map(|p| ctx.resolve(p)),
        })
    }
}

pub(crate) const REVOKE_HINT: &str =
    "`serialctl pki show CERT.pem` prints a certificate's fingerprint (that of its key, spki:...); `serialctl pki revoke` writes revoked files";

fn patterns(
    ctx: &Ctx,
    raw: Vec<Spanned<String>>,
    what: &str,
    check: fn(&str) -> Result<(), String>,
) -> Result<Vec<String>, ConfigError> {
    raw.into_iter()
        .map(|p| {
            check(p.get_ref()).map_err(|why| {
                ctx.at(
                    p.span(),
                    format!("[[allow]] {what} pattern '{}' {why}", p.get_ref()),
                    Some(pattern_hint(what).into()),
                )
            })?;
            Ok(p.into_inner())
        })
        .collect()
}

fn pattern_hint(what: &str) -> &'static str {
    match what {
        "device" => "write NAME, NAME@ZONE or NAME@agent:AGENT, e.g. \"zwave\", \"zigbee@garage\" or \"*@agent:shed-pi\"; * and ? are wildcards",
        "client" => "write a client certificate name, e.g. \"zwave-js-ui\" or \"gw-*\"; * and ? are wildcards",
        "agent" => "write an agent name, e.g. \"shed-pi\" or \"pi-*\"; * and ? are wildcards",
        _ => "write a zone name, e.g. \"shed\" or \"lab-*\"; * and ? are wildcards; agents = [..] names agents",
    }
}

/// A name pattern: what names may hold (letters, digits, '-', '_'), plus
/// the wildcards.
fn check_pattern(p: &str) -> Result<(), String> {
    if p.is_empty() || p.len() > 63 {
        return Err("must be 1 to 63 characters long".into());
    }
    match p
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '*' | '?')))
    {
        Some(bad) => Err(format!(
            "contains '{bad}'; use letters, digits, '-', '_' and the wildcards * and ?"
        )),
        None => Ok(()),
    }
}

fn check_device_pattern(p: &str) -> Result<(), String> {
    match p.split_once('@') {
        Some((device, place)) => {
            check_pattern(device).map_err(|e| format!("(device part) {e}"))?;
            match place.split_once(':') {
                Some(("agent", name)) => {
                    check_pattern(name).map_err(|e| format!("(agent part) {e}"))
                }
                Some(("zone", name)) => check_pattern(name).map_err(|e| format!("(zone part) {e}")),
                Some((kind, _)) => Err(format!(
                    "names a place of kind '{kind}'; a place is ZONE, zone:ZONE or agent:AGENT"
                )),
                None => check_pattern(place).map_err(|e| format!("(zone part) {e}")),
            }
        }
        None => check_pattern(p),
    }
}

/// A pattern `check_device_pattern` accepted, as its parts.
fn device_pattern(p: &str) -> DevicePattern {
    let (name, place) = match p.split_once('@') {
        None => {
            return DevicePattern {
                name: p.to_owned(),
                place: None,
            }
        }
        Some(parts) => parts,
    };
    let place = match place.split_once(':') {
        Some(("agent", a)) => Place::Agent(a.to_owned()),
        Some((_, z)) => Place::Zone(z.to_owned()),
        None => Place::Zone(place.to_owned()),
    };
    DevicePattern {
        name: name.to_owned(),
        place: Some(place),
    }
}
