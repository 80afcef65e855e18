//! Local endpoints: a device served on a TCP port (raw or RFC 2217) or a
//! pty, and running a set of them: bind them all, then serve them, with
//! metrics, readiness probes and an optional admin server. `connect` is
//! the case of one endpoint; `sidecar` reads them from a config.
//!
//! Everything a user can get wrong about an endpoint (an unknown user, a
//! pty directory others can write, RFC 2217 on a pty) is refused when the
//! [`LocalEnd`] is made, before anything is bound: a sidecar that starts
//! half its endpoints leaves a gateway failing in ways that are hard to
//! trace back to the config.

mod local_end;
pub mod local_users;
mod peer_uid;
pub mod pty;
pub mod rfc2217;
pub mod tcp;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use serialmesh_config::Address;
use serialmesh_io::Liveness;
use serialmesh_observe::{bind_admin, serve_admin, AdminState, Metrics};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, Instrument};

use crate::link::Target;
use crate::route::Route;
use crate::telemetry::{self, EndpointMeters};
use crate::Result;
pub use local_end::{Local, LocalEnd, Names};
use pty::master::PtyEndpoint;
use pty::serve_pty;
pub use tcp::Wire;
use tcp::{serve_tcp, Gate};

/// One endpoint: a device, where it is served here, and how its agent is
/// reached.
pub struct Spec {
    pub address: Address,
    pub local: LocalEnd,
    pub route: Arc<Route>,
    /// See [`Target::expect_serial`].
    pub expect_serial: Option<String>,
}

enum Bound {
    Tcp(TcpListener, Gate, Wire),
    Pty(PtyEndpoint),
}

/// Binds every endpoint of `specs` (and the admin server), then serves
/// them all until `shutdown`.
pub async fn serve(
    specs: Vec<Spec>,
    admin: Option<SocketAddr>,
    shutdown: CancellationToken,
) -> Result<()> {
    let metrics = Metrics::for_process("serialctl");
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
            LocalEnd::Tcp { listen, gate, wire } => Bound::Tcp(
                TcpListener::bind(listen).await.with_context(|| {
                    format!("endpoint for '{}': cannot listen on {listen}", spec.address)
                })?,
                gate.clone(),
                *wire,
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
        let route = &spec.route;
        let target = Arc::new(Target {
            address: spec.address.clone(),
            route: route.clone(),
            meters: meters.clone(),
            expect_serial: spec.expect_serial.clone(),
        });
        let span = tracing::info_span!("endpoint", device = %spec.address);
        let shutdown = shutdown.clone();
        if admin_listener.is_some() {
            tracker.spawn(telemetry::probe(
                route.clone(),
                spec.address.clone(),
                meters,
                shutdown.clone(),
            ));
        }
        let client = route.client_name();
        match bound {
            Bound::Tcp(listener, gate, wire) => {
                let local = listener.local_addr().context("listener has no address")?;
                let scheme = match wire {
                    Wire::Raw => "tcp",
                    Wire::Rfc2217 => "rfc2217",
                };
                let only = match &gate {
                    Gate::Anyone => String::new(),
                    Gate::Uids(uids) => format!(" for uid(s) {uids:?} only"),
                };
                info!(parent: &span, client = %client, agent = %route, "serving {scheme}://{local}{only}");
                tracker.spawn(
                    serve_tcp(listener, target, shutdown, Liveness::default(), wire, gate)
                        .instrument(span),
                );
            }
            Bound::Pty(pty) => {
                info!(parent: &span, client = %client, agent = %route, "serving pty {}", pty.link().display());
                tracker
                    .spawn(serve_pty(pty, target, shutdown, Liveness::default()).instrument(span));
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
