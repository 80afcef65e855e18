//! The client's metrics and readiness: per endpoint, whether its tunnel is
//! up, how often it reconnected, what was lost, and the last error.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serialmesh_observe::{Counter, Gauge, Kind, Metrics, Readiness};
use serialmesh_proto::Meters;
use tokio_util::sync::CancellationToken;

use crate::route::Route;

pub fn describe(m: &Metrics) {
    m.describe(
        "serialmesh_endpoint_tunnel_up",
        Kind::Gauge,
        "1 while the endpoint has a live session on its device",
    );
    m.describe(
        "serialmesh_endpoint_reconnects_total",
        Kind::Counter,
        "Tunnels restored after a loss",
    );
    m.describe(
        "serialmesh_endpoint_bytes_total",
        Kind::Counter,
        "Bytes relayed, by direction",
    );
    m.describe(
        "serialmesh_endpoint_bytes_lost_total",
        Kind::Counter,
        "Bytes dropped while the tunnel was down or lost in flight",
    );
    m.describe(
        "serialmesh_endpoint_refused_total",
        Kind::Counter,
        "Local connections refused: their socket's user is not in allow_users",
    );
    m.describe(
        "serialmesh_endpoint_last_error",
        Kind::Gauge,
        "The last error of an endpoint, in the error label",
    );
}

/// One endpoint's instruments, shared by its links and its prober.
pub struct EndpointMeters {
    metrics: Metrics,
    endpoint: String,
    pub tunnel_up: Gauge,
    pub reconnects: Counter,
    pub lost_to_device: Counter,
    pub lost_to_app: Counter,
    /// Local connections refused by `allow_users`.
    pub refused: Counter,
    pub relay: Meters,
    /// The agent answered the last probe and has the device: an application
    /// that connects now gets a tunnel.
    available: AtomicBool,
}

impl EndpointMeters {
    pub fn new(metrics: &Metrics, endpoint: &str) -> Self {
        let one = [("endpoint", endpoint)];
        let to_device = [("endpoint", endpoint), ("direction", "to_device")];
        let to_app = [("endpoint", endpoint), ("direction", "to_app")];
        Self {
            metrics: metrics.clone(),
            endpoint: endpoint.to_string(),
            tunnel_up: metrics.gauge("serialmesh_endpoint_tunnel_up", &one),
            reconnects: metrics.counter("serialmesh_endpoint_reconnects_total", &one),
            lost_to_device: metrics.counter("serialmesh_endpoint_bytes_lost_total", &to_device),
            lost_to_app: metrics.counter("serialmesh_endpoint_bytes_lost_total", &to_app),
            refused: metrics.counter("serialmesh_endpoint_refused_total", &one),
            // The relay's "device" is the application's connection and its
            // "net" the tunnel to the agent, so the directions cross over.
            relay: Meters {
                to_device: metrics.counter("serialmesh_endpoint_bytes_total", &to_app),
                to_net: metrics.counter("serialmesh_endpoint_bytes_total", &to_device),
            },
            available: AtomicBool::new(false),
        }
    }

    pub fn error(&self, error: &str) {
        self.metrics.set_info(
            "serialmesh_endpoint_last_error",
            &[("endpoint", self.endpoint.as_str())],
            &[("error", error)],
        );
    }

    pub fn ready(&self) -> bool {
        self.tunnel_up.get() > 0 || self.available.load(Ordering::Relaxed)
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }
}

/// Ready when every endpoint could serve its application now.
pub fn readiness(endpoints: Vec<Arc<EndpointMeters>>) -> impl Fn() -> Readiness + Send + Sync {
    move || {
        let waiting: Vec<&str> = endpoints
            .iter()
            .filter(|e| !e.ready())
            .map(|e| e.endpoint())
            .collect();
        if waiting.is_empty() {
            Readiness::ready(format!("{} endpoint(s) ready", endpoints.len()))
        } else {
            Readiness::not_ready(format!("no tunnel for: {}", waiting.join(", ")))
        }
    }
}

/// While no application is attached there is no tunnel to watch, so the
/// agent is asked every few seconds whether the device is there, the way
/// the endpoint's sessions reach it ([`Route::probe`]).
pub async fn probe(
    route: Arc<Route>,
    address: serialmesh_config::Address,
    meters: Arc<EndpointMeters>,
    stop: CancellationToken,
) {
    const EVERY: Duration = Duration::from_secs(5);
    loop {
        if meters.tunnel_up.get() == 0 {
            let ok = match route.probe(&address).await {
                Ok(there) => there,
                Err(e) => {
                    meters.error(&e.to_string());
                    false
                }
            };
            meters.available.store(ok, Ordering::Relaxed);
        }
        tokio::select! {
            _ = tokio::time::sleep(EVERY) => {}
            _ = stop.cancelled() => return,
        }
    }
}
