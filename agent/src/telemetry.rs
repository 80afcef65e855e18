//! The agent's metrics: connections, refusals, sessions and bytes per device,
//! whether each device is present, how long sessions take to set up, and
//! the last error of each device.
//!
//! Every label value is bounded by what the operator controls, because a
//! LAN peer or client must not be able to grow the scrape: `device` is a
//! name from the registry (the config, or a device plugged into this
//! host; never an address a client asked for), `reason` and `error` are
//! close reason kinds (a closed enum), `direction` is one of two words.
//! Free text (paths, messages, client names) goes to the logs only.

use std::sync::{Arc, Weak};
use std::time::Duration;

use serialmesh_io::Meters;
use serialmesh_observe::{Counter, Gauge, Kind, Metrics};
use serialmesh_proto::{CloseReasonKind, DeviceState};

use crate::registry::Registry;

/// Session setup, from the open request to the session starting: a few
/// milliseconds normally, up to the hold window (docs/design.md) while a
/// re-plugged device comes back.
static SETUP_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

#[derive(Clone)]
pub struct AgentMetrics {
    metrics: Metrics,
    pub over_limit: Counter,
    pub handshake_failures: Counter,
    pub protocol_violations: Counter,
}

/// Instruments of one session on one device.
pub struct SessionMeters {
    pub active: Gauge,
    pub relay: Meters,
    pub lost_to_device: Counter,
    pub lost_to_client: Counter,
}

impl AgentMetrics {
    pub fn new() -> Self {
        let m = Metrics::for_process("seriald");
        m.describe(
            "serialmesh_agent_connections_dropped_total",
            Kind::Counter,
            "Connections closed at max_connections, or to make room under max_pending or max_pending_per_source",
        );
        m.describe("serialmesh_agent_handshake_failures_total", Kind::Counter, "TLS handshakes that failed or timed out (wrong CA, no certificate, garbage, slow peers)");
        m.describe(
            "serialmesh_agent_protocol_violations_total",
            Kind::Counter,
            "Connections dropped for malformed, oversized or out-of-order frames",
        );
        m.describe(
            "serialmesh_agent_refusals_total",
            Kind::Counter,
            "Opens refused, by reason",
        );
        m.describe(
            "serialmesh_agent_sessions_total",
            Kind::Counter,
            "Sessions started, by device",
        );
        m.describe(
            "serialmesh_agent_sessions_active",
            Kind::Gauge,
            "Sessions open now, by device",
        );
        m.describe(
            "serialmesh_agent_bytes_total",
            Kind::Counter,
            "Bytes relayed, by device and direction",
        );
        m.describe(
            "serialmesh_agent_bytes_lost_total",
            Kind::Counter,
            "Bytes in flight when a session ended abnormally, and device output discarded because no client was attached",
        );
        m.describe(
            "serialmesh_agent_last_error",
            Kind::Gauge,
            "The kind of the last error of a device, in the error label (a close reason kind)",
        );
        m.describe(
            "serialmesh_agent_device_errors_total",
            Kind::Counter,
            "Device errors (open failed, device gone, protocol), by device and kind",
        );
        m.describe(
            "serialmesh_agent_device_present",
            Kind::Gauge,
            "1 while the device is plugged in (or its configured path exists), 0 while it is gone; a device keeps its series until the agent restarts",
        );
        m.describe(
            "serialmesh_agent_session_setup_seconds",
            Kind::Histogram,
            "From a client's open request to its session starting, including waiting for a re-plugged device",
        );
        m.describe(
            "serialmesh_agent_esphome_sessions_total",
            Kind::Counter,
            "ESPHome API connections that proved their key, by device, client (an [[esphome.client]] name: bounded by the config) and outcome (granted the device, or refused it)",
        );
        Self {
            over_limit: m.counter("serialmesh_agent_connections_dropped_total", &[]),
            handshake_failures: m.counter("serialmesh_agent_handshake_failures_total", &[]),
            protocol_violations: m.counter("serialmesh_agent_protocol_violations_total", &[]),
            metrics: m,
        }
    }

    pub fn registry(&self) -> &Metrics {
        &self.metrics
    }

    pub fn refused(&self, reason: &str) {
        self.metrics
            .counter("serialmesh_agent_refusals_total", &[("reason", reason)])
            .inc();
    }

    /// A device error, as its kind only: the message (a path, an OS
    /// error, a peer's words) is logged by the caller.
    pub fn error(&self, device: &str, kind: CloseReasonKind) {
        let kind = kind.to_string();
        self.metrics.set_info(
            "serialmesh_agent_last_error",
            &[("device", device)],
            &[("error", &kind)],
        );
        self.metrics
            .counter(
                "serialmesh_agent_device_errors_total",
                &[("device", device), ("kind", &kind)],
            )
            .inc();
    }

    /// An ESPHome client asked for the device: `granted` or not. The
    /// client label is a name from the agent's own config, never from
    /// the peer (a connection is counted only once its key is proven).
    pub fn esphome_session(&self, device: &str, client: &str, granted: bool) {
        let outcome = if granted { "granted" } else { "refused" };
        self.metrics
            .counter(
                "serialmesh_agent_esphome_sessions_total",
                &[("device", device), ("client", client), ("outcome", outcome)],
            )
            .inc();
    }

    pub fn session_setup(&self, device: &str, took: Duration) {
        self.metrics
            .histogram(
                "serialmesh_agent_session_setup_seconds",
                &[("device", device)],
                SETUP_BUCKETS,
            )
            .observe_duration(took);
    }

    /// Keeps `serialmesh_agent_device_present` in step with the registry,
    /// read at each scrape. A device that goes away stays at 0 rather than
    /// losing its series: `serialmesh_agent_device_present == 0` then
    /// fires, where a vanished series would only go stale (docs/observability.md).
    pub fn watch_devices(&self, registry: &Arc<Registry>) {
        // Weak: the registry must not outlive the agent because the
        // metrics registry (held by the admin endpoint) still refers to it.
        let registry: Weak<Registry> = Arc::downgrade(registry);
        self.metrics.on_render(move |m| {
            let Some(registry) = registry.upgrade() else {
                return;
            };
            for d in registry.inventory() {
                let present = i64::from(d.state != DeviceState::Gone);
                m.gauge("serialmesh_agent_device_present", &[("device", &d.name)])
                    .set(present);
            }
        });
    }

    /// Counts a session start and hands out its instruments.
    pub fn session(&self, device: &str) -> SessionMeters {
        let m = &self.metrics;
        let to_device = [("device", device), ("direction", "to_device")];
        let to_client = [("device", device), ("direction", "to_client")];
        m.counter("serialmesh_agent_sessions_total", &[("device", device)])
            .inc();
        SessionMeters {
            active: m.gauge("serialmesh_agent_sessions_active", &[("device", device)]),
            relay: Meters {
                to_device: Arc::new(m.counter("serialmesh_agent_bytes_total", &to_device)),
                to_net: Arc::new(m.counter("serialmesh_agent_bytes_total", &to_client)),
            },
            lost_to_device: m.counter("serialmesh_agent_bytes_lost_total", &to_device),
            lost_to_client: m.counter("serialmesh_agent_bytes_lost_total", &to_client),
        }
    }
}

impl Default for AgentMetrics {
    fn default() -> Self {
        Self::new()
    }
}
