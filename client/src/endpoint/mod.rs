//! Running a set of endpoints: bind them all, then serve them, with metrics,
//! readiness probes and an optional admin server. `connect` is the case of
//! one endpoint; `sidecar` reads them from a config.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, Result};
use serialmesh_config::{allow_users_unusable_on, Address, EndpointTarget, LocalUsers};
use serialmesh_observe::{bind_admin, serve_admin, AdminState, Metrics};
use serialmesh_proto::Liveness;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, Instrument};

use crate::dial::Dialer;
use crate::endpoint::{serve_tcp, Gate};
use crate::link::Target;
use crate::local_users::{resolve_uids, Owner};
use crate::pty::PtyEndpoint;
use crate::pty_endpoint::serve_pty;
use crate::pty_link::LinkDir;
use crate::telemetry::{self, EndpointMeters};
use crate::UsageError;

pub struct Spec {
    pub address: Address,
    pub local: LocalEnd,
    pub agent: String,
    /// Resolve the address before every dial instead of using `agent`.
    pub resolver: Option<Arc<crate::resolve::Resolver>>,
    /// Accept only this agent certificate (see [`crate::link::Target::pin`]).
    pub pin: Option<serialmesh_pki::Fingerprint>,
    /// A dialer of its own (pinned to `pin`) instead of the shared one.
    pub dialer: Option<Arc<Dialer>>,
    /// The TCP endpoint speaks RFC 2217 (telnet COM-PORT-OPTION).
    pub rfc2217: bool,
}

/// An endpoint's local side with its users looked up on this host and a
/// pty's directory checked and open.
#[derive(Debug)]
pub enum LocalEnd {
    Tcp { listen: SocketAddr, gate: Gate },
    Pty { dir: LinkDir, owner: Owner },
}

/// How `connect` and the sidecar config name the settings, for messages.
pub struct Names {
    pub allow_users: &'static str,
    pub pty_owner: &'static str,
}

impl LocalEnd {
    /// `target` with its users looked up and a pty's directory checked (a
    /// usage error if a user is unknown, a TCP endpoint restricted to users
    /// is not on loopback, or others could write the pty's directory).
    pub fn resolve(target: &EndpointTarget, names: &Names) -> Result<LocalEnd, UsageError> {
        Ok(match target {
            EndpointTarget::Tcp { listen, users } => LocalEnd::Tcp {
                listen: *listen,
                gate: match users {
                    LocalUsers::Anyone => Gate::Anyone,
                    LocalUsers::Only(users) => {
                        if let Some(why) = allow_users_unusable_on(listen) {
                            return Err(UsageError(format!("{} {why}", names.allow_users)));
                        }
                        Gate::Uids(resolve_uids(names.allow_users, users)?)
                    }
                },
            },
            EndpointTarget::Pty { link, owner } => LocalEnd::Pty {
                owner: Owner::resolve(names.pty_owner, owner.as_ref())?,
                // The message names the cause (the source is kept for callers).
                dir: LinkDir::open(link).map_err(|e| UsageError(e.to_string()))?,
            },
        })
    }
}

enum Bound {
    Tcp(TcpListener, Gate),
    Pty(PtyEndpoint),
}

pub async fn serve(
    dialer: Arc<Dialer>,
    specs: Vec<Spec>,
    admin: Option<SocketAddr>,
    shutdown: CancellationToken,
) -> Result<()> {
    let metrics = Metrics::default();
    telemetry::describe(&metrics);
    // Everything is bound before anything is served, so a bad endpoint
    // fails the start instead of leaving half a sidecar running.
    let admin_listener = match admin {
        Some(addr) => Some(bind_admin(addr).await?),
        None => None,
    };
    let mut ready = Vec::new();
    for spec in specs {
        let bound = match &spec.local {
            LocalEnd::Tcp { listen, gate } => Bound::Tcp(
                TcpListener::bind(listen).await.with_context(|| {
                    format!("endpoint for '{}': cannot listen on {listen}", spec.address)
                })?,
                gate.clone(),
            ),
            LocalEnd::Pty { dir, owner } => {
                let pty = dir
                    .try_clone()
                    .and_then(|dir| PtyEndpoint::create(dir, *owner));
                Bound::Pty(pty.with_context(|| {
                    format!("endpoint for '{}': cannot create pty", spec.address)
                })?)
            }
        };
        ready.push((spec, bound));
    }

    let tracker = TaskTracker::new();
    let mut all_meters = Vec::new();
    for (spec, bound) in ready {
        let meters = Arc::new(EndpointMeters::new(&metrics, &spec.address.to_string()));
        all_meters.push(meters.clone());
        let target = Arc::new(Target {
            address: spec.address.to_string(),
            agent: spec.agent.clone(),
            meters: meters.clone(),
            resolver: spec.resolver.clone(),
            pin: spec.pin,
        });
        let span = tracing::info_span!("endpoint", device = %spec.address);
        let dialer = spec.dialer.clone().unwrap_or_else(|| dialer.clone());
        let shutdown = shutdown.clone();
        if admin_listener.is_some() {
            tracker.spawn(telemetry::probe(
                dialer.clone(),
                spec.resolver.clone().map(|r| (r, spec.pin)),
                spec.address.clone(),
                spec.agent.clone(),
                spec.address.device.clone(),
                meters,
                shutdown.clone(),
            ));
        }
        match bound {
            Bound::Tcp(listener, gate) => {
                let local = listener.local_addr().context("listener has no address")?;
                let scheme = if spec.rfc2217 { "rfc2217" } else { "tcp" };
                let only = match &gate {
                    Gate::Anyone => String::new(),
                    Gate::Uids(uids) => format!(" for uid(s) {uids:?} only"),
                };
                info!(parent: &span, client = %dialer.client_name, agent = %spec.agent, "serving {scheme}://{local}{only}");
                tracker.spawn(
                    serve_tcp(
                        listener,
                        dialer,
                        target,
                        shutdown,
                        Liveness::default(),
                        spec.rfc2217,
                        gate,
                    )
                    .instrument(span),
                );
            }
            Bound::Pty(pty) => {
                info!(parent: &span, client = %dialer.client_name, agent = %spec.agent, "serving pty {}", pty.link().display());
                tracker.spawn(
                    serve_pty(pty, dialer, target, shutdown, Liveness::default()).instrument(span),
                );
            }
        }
    }
    if let Some(listener) = admin_listener {
        let addr = listener
            .local_addr()
            .context("admin listener has no address")?;
        info!("admin on http://{addr} (/healthz, /readyz, /metrics)");
        let state = AdminState {
            metrics,
            ready: Arc::new(telemetry::readiness(all_meters)),
        };
        tracker.spawn(serve_admin(listener, state, shutdown.clone()));
    }
    tracker.close();
    tracker.wait().await;
    info!("stopped");
    Ok(())
}
