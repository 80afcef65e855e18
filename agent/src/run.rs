//! Turning a config into a running agent.

use std::sync::Arc;
use std::time::Duration;

use serialmesh_config::AgentConfig;
use serialmesh_pki::{DenyList, TlsFiles};
use serialmesh_proto::ALPN;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use crate::authz::reload::{ConfigSource, Reloader};
use crate::authz::Authz;
use crate::failure::StartError;
use crate::identity::AgentIdentity;
use crate::listener::{Limits, Server};
use crate::registry::Registry;
use crate::telemetry::AgentMetrics;
use crate::usb::hotplug::Hotplug;
use crate::usb::DiscoveryConfig;
use serialmesh_observe::{bind_admin, serve_admin, AdminState, Readiness};

/// How long shutdown waits for the reloader, hotplug, the admin endpoint
/// and renewal once the listener and the mesh have stopped.
const TASKS_GRACE: Duration = Duration::from_secs(2);

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
    let (mut tls, own_cert) = serialmesh_pki::renewable_server_config(&files, deny.clone())?;
    tls.alpn_protocols = vec![ALPN.to_vec()];
    // Who the certificate just loaded says this agent is (read once).
    let me = AgentIdentity::of(&own_cert.identity(), &config)?;
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
    let reloader = Reloader::start(authz.clone(), registry.clone(), &config, source)?;
    // Every task of the agent's own, so shutdown can wait for them.
    let tasks = TaskTracker::new();
    tasks.spawn(reloader.run(shutdown.clone()));
    let listener = crate::listener::bind(config.listen).map_err(|source| StartError::Listen {
        addr: config.listen,
        source,
    })?;
    let local = listener.local_addr().map_err(StartError::LocalAddr)?;
    let names: Vec<String> = config
        .devices
        .iter()
        .map(|d| format!("{}={}", d.name, d.path.display()))
        .collect();
    info!(agent = %me.name, zone = %me.zone, fingerprint = %me.fingerprint, devices = %names.join(","), "listening on {local}");
    let discovery = config.discovery.then(|| DiscoveryConfig::from(&config));
    let reserved: Vec<String> = config.devices.iter().map(|d| d.name.clone()).collect();
    if let Some(cfg) = discovery {
        let mut h = Hotplug::new(cfg, &reserved, registry.clone());
        // Devices present at start are shared before the first client comes.
        h.rescan();
        tasks.spawn(h.run(shutdown.clone()));
    }
    let metrics = AgentMetrics::new();
    metrics.watch_devices(&registry);
    let admin = match config.admin {
        Some(addr) => Some(bind_admin(addr).await.map_err(StartError::Admin)?),
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
        tasks.spawn(serve_admin(listener, state, shutdown.clone()));
    }
    let peering = crate::mesh::Mesh::start(
        &me,
        local,
        &files,
        &own_cert,
        deny_for_mesh,
        &config.seeds,
        shutdown.clone(),
    )?;
    tasks.spawn(crate::renewal::follow(
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
    )?;
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
    tasks.close();
    // Each ends as soon as it sees `shutdown`; bounded all the same, so a
    // wedged one (a reload stuck reading a file) cannot keep the process.
    if tokio::time::timeout(TASKS_GRACE, tasks.wait())
        .await
        .is_err()
    {
        warn!("some of the agent's tasks did not stop within {TASKS_GRACE:?}");
    }
    Ok(())
}
