//! ESPHome's native API, served for one shared device per `[[esphome]]`:
//! zwave-js (inside zwave-js-ui and Home Assistant's Z-Wave JS) connects to
//! `esphome://HOST:6053?key=BASE64` natively, so a stick on any agent is one
//! encrypted hop away with no `serialctl` beside the gateway.
//!
//! The outside constraints: zwave-js speaks only what ESPHome's
//! `zwave_proxy` serves (Noise frames, `api.proto` messages, ZWaveProxyFrame
//! both ways) and reports nothing but "closed" or "no Z-Wave support" when
//! something is wrong, so refusals are DeviceInfo with feature flags 0 and
//! a log line here; it reconnects only 10 times, 1 s apart, so the endpoint
//! must answer again within seconds of an agent restart; ESPHome has one
//! key per device, while an agent tells its clients apart by their keys.

mod advertise;
mod conn;
mod endpoint;
mod home_id;
pub mod keys;
mod port;

use std::sync::Arc;

use serialmesh_config::{EsphomeConfig, LimitsConfig};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use crate::authz::Authz;
use crate::registry::Registry;
use crate::telemetry::AgentMetrics;
use keys::KeyFingerprint;

/// What `run` hands over to start the endpoints.
pub struct Shared {
    pub agent: String,
    pub registry: Arc<Registry>,
    pub authz: Arc<Authz>,
    pub metrics: AgentMetrics,
    pub limits: LimitsConfig,
}

/// Binds every `[[esphome]]` listener (an address in use fails the start)
/// and serves them until `shutdown`; wait on the returned tracker.
pub fn start(
    configs: &[EsphomeConfig],
    shared: Shared,
    shutdown: &CancellationToken,
) -> Result<TaskTracker, crate::failure::StartError> {
    let tracker = TaskTracker::new();
    for config in configs {
        let listener = crate::listener::bind(config.listen).map_err(|source| {
            crate::failure::StartError::EsphomeListen {
                device: config.device.clone(),
                addr: config.listen,
                source,
            }
        })?;
        let ep = Arc::new(endpoint::Endpoint::new(
            config,
            &shared.agent,
            shared.registry.clone(),
            shared.authz.clone(),
            shared.metrics.clone(),
            &shared.limits,
        ));
        ep.keys
            .watch(&config.clients, &shared.registry, &tracker, shutdown);
        for c in &config.clients {
            let fp = serialmesh_esphome::noise::ClientKey {
                name: c.name.clone(),
                key: c.key,
            }
            .fingerprint();
            info!(device = %config.device, client = %c.name, key = %fp, "ESPHome client key in force (revoke with this fingerprint or by changing its key file)");
        }
        if shared.registry.path_of(&config.device).is_none() {
            warn!(device = %config.device, "the ESPHome endpoint's device is not shared (yet): clients are told \"no Z-Wave proxy\" until discovery finds it; check `device` in [[esphome]]");
        }
        let addr = listener.local_addr().unwrap_or(config.listen);
        info!(device = %config.device, clients = config.clients.len(), "ESPHome API on {addr}");
        if config.advertise {
            tracker.spawn(advertise::run(
                shared.agent.clone(),
                config.device.clone(),
                config.listen,
                shutdown.clone(),
            ));
        }
        let sessions = tracker.clone();
        tracker.spawn(ep.serve(listener, sessions, shutdown.clone()));
    }
    tracker.close();
    Ok(tracker)
}
