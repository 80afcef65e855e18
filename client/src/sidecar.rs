//! `serialctl sidecar --config FILE`: every endpoint of a client config, for
//! running beside a gateway in the same pod.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::Result;
use serialmesh_config::ClientConfig;
use tokio_util::sync::CancellationToken;

use crate::connect::dialer_for;
use crate::serve::{serve, Spec};
use crate::UsageError;

pub async fn run(
    path: &Path,
    admin: Option<SocketAddr>,
    shutdown: CancellationToken,
) -> Result<()> {
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
    let mut specs = Vec::new();
    for e in config.endpoints {
        let agent = e.agent.clone().ok_or_else(|| {
            UsageError(format!(
                "{}: endpoint for '{}' has no agent; add agent = \"HOST:PORT\" (this build does not resolve addresses through mDNS or seeds yet)",
                path.display(),
                e.device
            ))
        })?;
        specs.push(Spec {
            address: e.device,
            local: e.target,
            agent,
        });
    }
    serve(dialer, specs, admin.or(config.admin), shutdown).await
}
