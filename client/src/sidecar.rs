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
    let dialer = Arc::new(dialer_for(tls, None)?);
    // One resolver (one mDNS browse) for every endpoint without an agent.
    let mut resolver: Option<Arc<crate::resolve::Resolver>> = None;
    let mut specs = Vec::new();
    for e in config.endpoints {
        let (agent, this) = match e.agent {
            Some(agent) => (agent, None),
            None => {
                let r = match &resolver {
                    Some(r) => r.clone(),
                    None => {
                        let dialers = Arc::new(crate::dial_pinned::Dialers::new(tls)?);
                        let r = Arc::new(crate::resolve::Resolver::new(
                            dialers,
                            config.seeds.clone(),
                            true,
                        ));
                        resolver = Some(r.clone());
                        r
                    }
                };
                crate::resolve::report_at_start(&r, &e.device);
                ("(resolved through mDNS and seeds)".to_string(), Some(r))
            }
        };
        let own = match e.agent_fingerprint {
            Some(pin) => Some(Arc::new(dialer_for(tls, Some(pin))?)),
            None => None,
        };
        specs.push(Spec {
            pin: e.agent_fingerprint,
            dialer: own,
            address: e.device,
            local: e.target,
            agent,
            resolver: this,
            rfc2217: e.rfc2217,
        });
    }
    serve(dialer, specs, admin.or(config.admin), shutdown).await
}
