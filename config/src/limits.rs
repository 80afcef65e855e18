//! The agent's `[limits]` table: how much an unauthenticated or idle peer
//! may cost it. Defaults are sized for a small host (a 2 GiB thin client)
//! facing a LAN with untrusted devices on it.

use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::load::Ctx;
use crate::ConfigError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitsConfig {
    /// A TLS handshake must finish within this, or the connection is closed.
    pub handshake_timeout: Duration,
    /// After its handshake a connection must send Hello and its request
    /// (open a device, or list) within this, or it is closed.
    pub request_timeout: Duration,
    /// Connections still in their TLS handshake at once; more are closed at
    /// once, so a flood of them can not starve clients that have a
    /// certificate.
    pub max_pending: usize,
    /// Of the pending connections, how many one source may hold at once
    /// (an IPv4 address, or an IPv6 /64); beyond, its own oldest is closed,
    /// so one host flooding handshakes can not take every pending place.
    pub max_pending_per_source: usize,
    /// Connections at once, authenticated or not.
    pub max_connections: usize,
    /// Connections at once from one client certificate name.
    pub max_connections_per_client: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            handshake_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            max_pending: 64,
            max_pending_per_source: 64 / PENDING_SHARE,
            max_connections: 256,
            max_connections_per_client: 32,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLimits {
    handshake_timeout: Option<Spanned<f64>>,
    request_timeout: Option<Spanned<f64>>,
    max_pending: Option<Spanned<i64>>,
    max_pending_per_source: Option<Spanned<i64>>,
    max_connections: Option<Spanned<i64>>,
    max_connections_per_client: Option<Spanned<i64>>,
}

/// Longest timeout accepted: beyond an hour it is a typo (milliseconds
/// written as seconds), not a policy.
const MAX_TIMEOUT_SECS: f64 = 3600.0;
/// More connections than this would run a small host out of descriptors.
const MAX_COUNT: i64 = 65_536;
/// Unset, `max_pending_per_source` is this fraction of `max_pending`: a
/// flood from one host then needs three more hosts to fill the pending
/// places, while a host with several clients (a sidecar with a dozen
/// endpoints reconnecting at once) still handshakes them all together.
const PENDING_SHARE: usize = 4;

impl RawLimits {
    pub(crate) fn validate(self, ctx: &Ctx) -> Result<LimitsConfig, ConfigError> {
        let d = LimitsConfig::default();
        let secs = |v: Option<Spanned<f64>>, what: &str, default: Duration| match v {
            None => Ok(default),
            Some(s) => {
                let x = *s.get_ref();
                if (0.001..=MAX_TIMEOUT_SECS).contains(&x) {
                    Ok(Duration::from_secs_f64(x))
                } else {
                    Err(ctx.at(
                        s.span(),
                        format!("{what} {x} is out of range"),
                        Some(format!(
                            "give seconds between 0.001 and {MAX_TIMEOUT_SECS}, e.g. {what} = {}",
                            default.as_secs()
                        )),
                    ))
                }
            }
        };
        let count = |v: Option<Spanned<i64>>, what: &str, default: usize| match v {
            None => Ok(default),
            Some(s) => {
                let n = *s.get_ref();
                if (1..=MAX_COUNT).contains(&n) {
                    Ok(n as usize)
                } else {
                    Err(ctx.at(
                        s.span(),
                        format!("{what} {n} is out of range"),
                        Some(format!(
                            "use a number between 1 and {MAX_COUNT}, e.g. {what} = {default}"
                        )),
                    ))
                }
            }
        };
        let max_connections = count(self.max_connections, "max_connections", d.max_connections)?;
        // Unset, it follows a lowered max_connections instead of refusing it.
        let max_pending = match self.max_pending {
            None => d.max_pending.min(max_connections),
            Some(s) => {
                let n = count(Some(s.clone()), "max_pending", d.max_pending)?;
                if n > max_connections {
                    return Err(ctx.at(
                        s.span(),
                        format!("max_pending {n} exceeds max_connections {max_connections}"),
                        Some("pending connections count toward max_connections; lower max_pending or raise max_connections".into()),
                    ));
                }
                n
            }
        };
        // Unset, it follows max_pending; set, it must fit in it.
        let max_pending_per_source = match self.max_pending_per_source {
            None => (max_pending / PENDING_SHARE).max(1),
            Some(s) => {
                let n = count(
                    Some(s.clone()),
                    "max_pending_per_source",
                    d.max_pending_per_source,
                )?;
                if n > max_pending {
                    return Err(ctx.at(
                        s.span(),
                        format!("max_pending_per_source {n} exceeds max_pending {max_pending}"),
                        Some("one address holds at most every pending place; lower max_pending_per_source or raise max_pending".into()),
                    ));
                }
                n
            }
        };
        let limits = LimitsConfig {
            handshake_timeout: secs(
                self.handshake_timeout,
                "handshake_timeout",
                d.handshake_timeout,
            )?,
            request_timeout: secs(self.request_timeout, "request_timeout", d.request_timeout)?,
            max_pending,
            max_pending_per_source,
            max_connections,
            max_connections_per_client: count(
                self.max_connections_per_client,
                "max_connections_per_client",
                d.max_connections_per_client,
            )?,
        };
        Ok(limits)
    }
}
