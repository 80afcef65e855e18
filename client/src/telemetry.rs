//! The client's metrics and readiness: per endpoint, whether its tunnel is
//! up and whether it could serve its application, how often it
//! reconnected and how long each outage lasted, how long a session takes
//! to set up, what was lost, and the kind of the last error.
//!
//! Label values are the endpoint (from the config) and closed sets of
//! words: an agent's close message, an OS error or a resolver's complaint
//! is logged, never exported, so neither an agent nor a LAN peer can add
//! series (docs/observability.md).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serialmesh_io::Meters;
use serialmesh_observe::{Counter, Gauge, Histogram, Kind, Metrics, Readiness};
use serialmesh_proto::CloseReasonKind;
use tokio_util::sync::CancellationToken;

use crate::dial::DialError;
use crate::route::{ProbeError, Route};

/// Dial, TLS handshake and open, to the agent's `Opened`.
static SETUP_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// From the tunnel going down to it carrying bytes again. 10 s is a
/// bound on purpose: zwave-js gives up on a port it cannot reopen after
/// ten attempts a second apart, and the alert on outages longer than that
/// reads this bucket (deploy/prometheus/serialmesh-rules.yaml).
static OUTAGE_BUCKETS: &[f64] = &[
    0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0,
];

/// Why an endpoint has no tunnel, as a closed set: the label value of
/// `serialmesh_endpoint_last_error` and `_errors_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The agent's host refused or did not answer the connection.
    Unreachable,
    /// The TLS handshake with the agent failed.
    Tls,
    /// The agent broke the protocol, or the exchange before the session failed.
    Protocol,
    /// The agent is not the one the address names, or claims another name.
    WrongAgent,
    /// No agent on the network has the device (resolved addresses).
    Unresolved,
    /// The agent refused the open, for this reason.
    Refused(CloseReasonKind),
    /// The agent ended a running session, for this reason.
    Closed(CloseReasonKind),
    /// The connection to the agent dropped, or the agent went silent.
    Lost,
    /// This client revoked the agent's certificate.
    Revoked,
}

impl ErrorKind {
    pub fn of_dial(e: &DialError) -> Self {
        match e {
            DialError::Connect { .. } => Self::Unreachable,
            DialError::Tls { .. } => Self::Tls,
            DialError::Conn { .. } => Self::Protocol,
            DialError::Refused { reason, .. } => Self::Refused(reason.kind),
            DialError::NotThatAgent { .. } | DialError::Impostor { .. } => Self::WrongAgent,
        }
    }

    pub fn label(self) -> String {
        match self {
            Self::Unreachable => "unreachable".into(),
            Self::Tls => "tls".into(),
            Self::Protocol => "protocol".into(),
            Self::WrongAgent => "wrong agent".into(),
            Self::Unresolved => "unresolved".into(),
            Self::Refused(k) => format!("refused: {k}"),
            Self::Closed(k) => format!("closed: {k}"),
            Self::Lost => "lost".into(),
            Self::Revoked => "revoked".into(),
        }
    }
}

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
        "The kind of the last error of an endpoint, in the error label",
    );
    m.describe(
        "serialmesh_endpoint_errors_total",
        Kind::Counter,
        "Errors by endpoint and kind (failed dials, lost tunnels)",
    );
    m.describe(
        "serialmesh_endpoint_ready",
        Kind::Gauge,
        "1 while the endpoint could serve its application now (tunnel up, or the agent has the device), as /readyz",
    );
    m.describe(
        "serialmesh_endpoint_session_setup_seconds",
        Kind::Histogram,
        "Successful session setups: dial, TLS handshake and open, until the agent's reply",
    );
    m.describe(
        "serialmesh_endpoint_outage_seconds",
        Kind::Histogram,
        "Tunnel outages that ended: from the tunnel going down to it carrying bytes again",
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
    pub session_setup: Histogram,
    pub outage: Histogram,
    /// The agent answered the last probe and has the device: an application
    /// that connects now gets a tunnel.
    available: Arc<AtomicBool>,
}

impl EndpointMeters {
    pub fn new(metrics: &Metrics, endpoint: &str) -> Self {
        let one = [("endpoint", endpoint)];
        let to_device = [("endpoint", endpoint), ("direction", "to_device")];
        let to_app = [("endpoint", endpoint), ("direction", "to_app")];
        let tunnel_up = metrics.gauge("serialmesh_endpoint_tunnel_up", &one);
        let available = Arc::new(AtomicBool::new(false));
        let ready = metrics.gauge("serialmesh_endpoint_ready", &one);
        let (up, avail) = (tunnel_up.clone(), available.clone());
        metrics.on_render(move |_| ready.set(i64::from(is_ready(&up, &avail))));
        Self {
            metrics: metrics.clone(),
            endpoint: endpoint.to_string(),
            tunnel_up,
            reconnects: metrics.counter("serialmesh_endpoint_reconnects_total", &one),
            lost_to_device: metrics.counter("serialmesh_endpoint_bytes_lost_total", &to_device),
            lost_to_app: metrics.counter("serialmesh_endpoint_bytes_lost_total", &to_app),
            refused: metrics.counter("serialmesh_endpoint_refused_total", &one),
            // The relay's "device" is the application's connection and its
            // "net" the tunnel to the agent, so the directions cross over.
            relay: Meters {
                to_device: Arc::new(metrics.counter("serialmesh_endpoint_bytes_total", &to_app)),
                to_net: Arc::new(metrics.counter("serialmesh_endpoint_bytes_total", &to_device)),
            },
            session_setup: metrics.histogram(
                "serialmesh_endpoint_session_setup_seconds",
                &one,
                SETUP_BUCKETS,
            ),
            outage: metrics.histogram("serialmesh_endpoint_outage_seconds", &one, OUTAGE_BUCKETS),
            available,
        }
    }

    /// An error, as its kind only: the caller logs the message.
    pub fn error(&self, kind: ErrorKind) {
        let kind = kind.label();
        let endpoint = self.endpoint.as_str();
        self.metrics.set_info(
            "serialmesh_endpoint_last_error",
            &[("endpoint", endpoint)],
            &[("error", &kind)],
        );
        self.metrics
            .counter(
                "serialmesh_endpoint_errors_total",
                &[("endpoint", endpoint), ("kind", &kind)],
            )
            .inc();
    }

    pub fn ready(&self) -> bool {
        is_ready(&self.tunnel_up, &self.available)
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }
}

fn is_ready(tunnel_up: &Gauge, available: &AtomicBool) -> bool {
    tunnel_up.get() > 0 || available.load(Ordering::Relaxed)
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
                    tracing::debug!(error = %e, "probe: the device is not reachable");
                    meters.error(match &e {
                        ProbeError::Dial(d) => ErrorKind::of_dial(d),
                        ProbeError::Resolve(_) => ErrorKind::Unresolved,
                    });
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
