//! The agent's metrics: connections, refusals, sessions and bytes per device,
//! and the last error of each device.

use std::sync::Arc;

use serialmesh_io::Meters;
use serialmesh_observe::{Counter, Gauge, Kind, Metrics};

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
        let m = Metrics::default();
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
            "The last error of a device, in the error label",
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

    pub fn error(&self, device: &str, error: &str) {
        self.metrics.set_info(
            "serialmesh_agent_last_error",
            &[("device", device)],
            &[("error", error)],
        );
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
