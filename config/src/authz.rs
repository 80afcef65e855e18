//! Who may do what on an agent: `[[allow]]` rules and the revocation
//! settings (`revoked`, `revoked_file`) of an agent config.
//!
//! Rules only grant; there are no deny rules, so the order of rules never
//! matters and a client's rights on a device are the most any matching
//! rule gives. Without any rule every client of the CA may open every
//! device (the behaviour before rules existed); with at least one rule a
//! client gets nothing that no rule grants.

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

/// One `[[allow]]` table. Patterns are shell-style globs (`*`, `?`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowRule {
    /// Client certificate names (`--name` of `serialctl pki issue`).
    pub clients: Vec<String>,
    /// `NAME`, `NAME@ZONE` or `NAME@AGENT`; a place that is not this
    /// agent's zone or name matches nothing here, so one rule set can be
    /// shared by every agent.
    pub devices: Vec<String>,
    /// Every device of an agent whose zone (or name) matches.
    pub zones: Vec<String>,
    pub access: Access,
}

/// Authorisation and revocation settings of an agent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuthzConfig {
    /// Empty: every client of the CA may open everything.
    pub rules: Vec<AllowRule>,
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
    access: Access,
}

/// The raw top-level keys this module owns.
pub(crate) struct RawAuthz {
    pub allow: Vec<Spanned<RawAllow>>,
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
            if raw.devices.is_empty() && raw.zones.is_empty() {
                return Err(ctx.at(
                    span,
                    "[[allow]] names no devices or zones".into(),
                    Some("add devices = [\"zwave\", \"zigbee@garage\"] or zones = [\"shed\"]; devices = [\"*\"] means every device".into()),
                ));
            }
            rules.push(AllowRule {
                clients: patterns(ctx, clients, "client", check_pattern)?,
                devices: patterns(ctx, raw.devices, "device", check_device_pattern)?,
                zones: patterns(ctx, raw.zones, "zone", check_pattern)?,
                access: raw.access,
            });
        }
        Ok(AuthzConfig {
            rules,
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
        "device" => "write NAME, NAME@ZONE or NAME@AGENT, e.g. \"zwave\", \"zigbee@garage\" or \"*@shed\"; * and ? are wildcards",
        "client" => "write a client certificate name, e.g. \"zwave-js-ui\" or \"gw-*\"; * and ? are wildcards",
        _ => "write a zone or agent name, e.g. \"shed\" or \"lab-*\"; * and ? are wildcards",
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
            check_pattern(place).map_err(|e| format!("(zone or agent part) {e}"))
        }
        None => check_pattern(p),
    }
}
