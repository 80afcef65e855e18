//! Turning a config into a running agent.

use std::sync::Arc;

use anyhow::Context;
use serialmesh_config::AgentConfig;
use serialmesh_pki::{DenyList, Role, TlsFiles};
use serialmesh_proto::ALPN;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::authz::reload::{ConfigSource, Reloader};
use crate::authz::Authz;
use crate::discovery::DiscoveryConfig;
use crate::hotplug::Hotplug;
use crate::identity::AgentIdentity;
use crate::registry::Registry;
use crate::server::{Limits, Server};
use crate::telemetry::AgentMetrics;
use serialmesh_observe::{bind_admin, serve_admin, AdminState, Readiness};

/// Errors from here are configuration problems (exit status 2) unless they
/// are about the listen socket (exit status 1).
pub enum StartError {
    Config(anyhow::Error),
    Runtime(anyhow::Error),
}

/// `source` re-reads the config on SIGHUP (see [`crate::authz::reload`]).
pub async fn run(
    config: AgentConfig,
    source: ConfigSource,
    shutdown: CancellationToken,
) -> Result<(), StartError> {
    let files = TlsFiles {
        cert: config.tls.cert.clone(),
        key: config.tls.key.clone(),
        ca: config.tls.ca.clone(),
    };
    let deny = DenyList::default();
    // The same list: a revoked agent key stops being reported as a peer.
    let deny_for_mesh = deny.clone();
    let (mut tls, own_cert) = serialmesh_pki::renewable_server_config(&files, deny.clone())
        .map_err(|e| StartError::Config(e.into()))?;
    tls.alpn_protocols = vec![ALPN.to_vec()];
    // Who the certificate just loaded says this agent is (read once).
    let me = AgentIdentity::of(&own_cert.identity(), &config)
        .map_err(|e| StartError::Config(anyhow::Error::new(*e)))?;
    let registry = Arc::new(Registry::new(
        &me.name,
        &me.zone,
        config.devices.clone(),
        shutdown.clone(),
    ));
    let authz = Arc::new(Authz::new(
        &me.name,
        &me.zone,
        config.authz.grants.clone(),
        deny,
    ));
    // Before anything is served: the revoked file is in force (or the
    // start fails) by the time the first client connects.
    let reloader = Reloader::start(authz.clone(), registry.clone(), &config, source)
        .map_err(|e| StartError::Config(e.into()))?;
    tokio::spawn(reloader.run(shutdown.clone()));
    let listener = crate::server::bind(config.listen)
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}; is another seriald running? change `listen` in the config", config.listen))
        .map_err(StartError::Runtime)?;
    let local = listener
        .local_addr()
        .context("listener has no local address")
        .map_err(StartError::Runtime)?;
    let names: Vec<String> = config
        .devices
        .iter()
        .map(|d| format!("{}={}", d.name, d.path.display()))
        .collect();
    info!(agent = %me.name, zone = %me.zone, fingerprint = %me.fingerprint, devices = %names.join(","), "listening on {local}");
    let discovery = config.discovery.then(|| DiscoveryConfig::from(&config));
    let reserved: Vec<String> = config.devices.iter().map(|d| d.name.clone()).collect();
    let hotplug = discovery.map(|cfg| {
        let mut h = Hotplug::new(cfg, &reserved, registry.clone());
        // Devices present at start are shared before the first client comes.
        h.rescan();
        tokio::spawn(h.run(shutdown.clone()))
    });
    let metrics = AgentMetrics::new();
    let admin = match config.admin {
        Some(addr) => Some(
            bind_admin(addr)
                .await
                .map_err(|e| StartError::Runtime(e.into()))?,
        ),
        None => None,
    };
    if let Some(listener) = admin {
        if let Ok(addr) = listener.local_addr() {
            info!("admin on http://{addr} (/healthz, /readyz, /metrics)");
        }
        let state = AdminState {
            metrics: metrics.registry().clone(),
            ready: Arc::new(|| Readiness::ready("listening")),
        };
        tokio::spawn(serve_admin(listener, state, shutdown.clone()));
    }
    let peering = crate::mesh::Mesh::start(
        &me,
        local,
        &files,
        &own_cert,
        deny_for_mesh,
        &config.seeds,
        shutdown.clone(),
    )
    .map_err(|e| StartError::Config(e.into()))?;
    tokio::spawn(crate::renewal::follow(
        own_cert,
        files.clone(),
        peering.key_renewer(),
        shutdown.clone(),
    ));
    let esphome = crate::esphome::start(
        &config.esphome,
        crate::esphome::Shared {
            agent: me.name.clone(),
            registry: registry.clone(),
            authz: authz.clone(),
            metrics: metrics.clone(),
            limits: config.limits,
        },
        &shutdown,
    )
    .map_err(StartError::Runtime)?;
    let server = Arc::new(Server {
        mesh: peering.mesh.clone(),
        metrics,
        registry,
        authz,
        acceptor: TlsAcceptor::from(Arc::new(tls)),
        limits: Limits::from_config(&config.limits),
    });
    server.serve(listener, shutdown).await;
    peering.finished().await;
    esphome.wait().await;
    if let Some(task) = hotplug {
        let _ = task.await;
    }
    Ok(())
}

/// Who the agent certificate says this agent is, checked against the
/// config's `name` and `zone` (see [`crate::identity`]).
pub fn own_identity(config: &AgentConfig) -> anyhow::Result<AgentIdentity> {
    let cert = serialmesh_pki::check_certificate(&config.tls.cert, &config.tls.ca, Role::Agent)?;
    Ok(AgentIdentity::of(&cert, config)?)
}
