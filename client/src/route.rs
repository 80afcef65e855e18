//! Where an endpoint's sessions go: decided once, when the endpoint is
//! set up, and used by every dial and every readiness probe after.
//!
//! An endpoint either names its agent (`--agent`, `agent =`), and then
//! every session goes there with the endpoint's dialer (pinned to its
//! `agent_fingerprint`), or it names only the device, and the agent that
//! has the device is found anew before every dial (mDNS, seeds, peers), so
//! a stick moved to another host is followed. Both forms take the same
//! pin, so "which agent may we trust" cannot differ between the session
//! and the probe that says the endpoint is ready.

use std::fmt;
use std::sync::Arc;

use serialmesh_config::Address;
use serialmesh_pki::Fingerprint;
use serialmesh_proto::DeviceState;

use crate::dial::revocation::Revocation;
use crate::dial::{DialError, Dialer, Session};
use crate::resolve::{ResolveError, Resolver};

pub enum Route {
    /// The agent at `agent` (`host:port`), dialled with `dialer`.
    Fixed { agent: String, dialer: Arc<Dialer> },
    /// Whichever agent has the device when asked; with `pin`, only the
    /// agent with that key is considered.
    Resolved {
        resolver: Arc<Resolver>,
        pin: Option<Fingerprint>,
    },
}

/// Why a probe could not say the device is there.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error(transparent)]
    Dial(#[from] DialError),
    #[error(transparent)]
    Resolve(#[from] ResolveError),
}

impl Route {
    /// Opens `address` on the agent this route leads to now; with
    /// `expect_serial`, only the device with that USB serial number.
    pub async fn open(
        &self,
        address: &Address,
        expect_serial: Option<&str>,
    ) -> Result<Session, DialError> {
        let address = address.to_string();
        match self {
            Route::Fixed { agent, dialer } => dialer.open(agent, &address, expect_serial).await,
            Route::Resolved { resolver, pin } => resolver.open(&address, *pin, expect_serial).await,
        }
    }

    /// Whether an application connecting now would get a session on
    /// `address`: the fixed agent lists the device (and it is not gone),
    /// or resolution finds the one agent that has it. Asks over TLS, as a
    /// dial would, but opens nothing.
    pub async fn probe(&self, address: &Address) -> Result<bool, ProbeError> {
        match self {
            Route::Fixed { agent, dialer } => {
                let (inv, _) = dialer.list(agent).await?;
                let device = &address.device;
                Ok(inv.devices.iter().any(|d| {
                    (&d.name == device || &d.address == device) && d.state != DeviceState::Gone
                }))
            }
            Route::Resolved { resolver, pin } => {
                resolver.resolve(address, *pin).await?;
                Ok(true)
            }
        }
    }

    /// The agent certificates this client refuses; a live session ends
    /// when its agent joins them.
    pub fn revocation(&self) -> &Arc<Revocation> {
        match self {
            Route::Fixed { dialer, .. } => &dialer.revocation,
            Route::Resolved { resolver, .. } => resolver.dialers().revocation(),
        }
    }

    /// This client's name, from its certificate (for logs).
    pub fn client_name(&self) -> &str {
        match self {
            Route::Fixed { dialer, .. } => &dialer.client_name,
            Route::Resolved { resolver, .. } => resolver.dialers().client_name(),
        }
    }
}

/// The agent, or how it is found, for logs.
impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Route::Fixed { agent, .. } => f.write_str(agent),
            Route::Resolved { .. } => f.write_str("(resolved through mDNS and seeds)"),
        }
    }
}
