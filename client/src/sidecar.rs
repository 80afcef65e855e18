//! `serialctl sidecar --config FILE`: every endpoint of a client config, for
//! running beside a gateway in the same pod.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use serialmesh_config::{ClientConfig, EndpointTarget};
use serialmesh_proto::Liveness;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, Instrument};

use crate::connect::dialer_for;
use crate::endpoint::serve_tcp;
use crate::link::Target;
use crate::pty::PtyEndpoint;
use crate::pty_endpoint::serve_pty;
use crate::UsageError;

pub async fn run(path: &Path, shutdown: CancellationToken) -> Result<()> {
    let config = ClientConfig::load(path).map_err(|e| UsageError(e.to_string()))?;
    let tls = config.tls.as_ref().ok_or_else(|| {
        UsageError(format!(
            "{}: no [tls] table; add cert, key and ca of this client",
            path.display()
        ))
    })?;
    if config.endpoints.is_empty() {
        return Err(UsageError(format!(
            "{}: no [[endpoint]] tables; add one with device = \"zwave@shed\" and tcp = \"127.0.0.1:5000\"",
            path.display()
        ))
        .into());
    }
    let dialer = Arc::new(dialer_for(tls)?);
    let tracker = TaskTracker::new();
    // Everything is bound before anything is served, so a bad endpoint
    // fails the start instead of leaving half a sidecar running.
    let mut ready = Vec::new();
    for e in &config.endpoints {
        let agent = e.agent.clone().ok_or_else(|| {
            UsageError(format!(
                "{}: endpoint for '{}' has no agent; add agent = \"HOST:PORT\" (this build does not resolve addresses through mDNS or seeds yet)",
                path.display(),
                e.device
            ))
        })?;
        let target = Arc::new(Target {
            address: e.device.to_string(),
            agent,
        });
        let bound = match &e.target {
            EndpointTarget::Tcp(addr) => {
                Bound::Tcp(TcpListener::bind(addr).await.with_context(|| {
                    format!("endpoint for '{}': cannot listen on {addr}", e.device)
                })?)
            }
            EndpointTarget::Pty(link) => Bound::Pty(
                PtyEndpoint::create(link)
                    .with_context(|| format!("endpoint for '{}': cannot create pty", e.device))?,
            ),
        };
        ready.push((target, bound));
    }
    for (target, bound) in ready {
        let span = tracing::info_span!("endpoint", device = %target.address);
        let (dialer, shutdown) = (dialer.clone(), shutdown.clone());
        match bound {
            Bound::Tcp(listener) => {
                let local = listener.local_addr().context("listener has no address")?;
                info!(parent: &span, agent = %target.agent, "serving tcp://{local}");
                tracker.spawn(
                    serve_tcp(listener, dialer, target, shutdown, Liveness::default())
                        .instrument(span),
                );
            }
            Bound::Pty(pty) => {
                info!(parent: &span, agent = %target.agent, "serving pty {}", pty.link().display());
                tracker.spawn(
                    serve_pty(pty, dialer, target, shutdown, Liveness::default()).instrument(span),
                );
            }
        }
    }
    tracker.close();
    tracker.wait().await;
    info!("stopped");
    Ok(())
}

enum Bound {
    Tcp(TcpListener),
    Pty(PtyEndpoint),
}
