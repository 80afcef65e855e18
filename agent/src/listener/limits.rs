//! [`Limits`]: what one agent grants its clients, from the config's
//! `[limits]`.
//!
//! The agent listens on the network, so every resource a peer can hold
//! (a connection, a pending handshake, time before its request) has a cap;
//! the caps themselves are enforced in `admission.rs` and `server.rs`.

use std::time::Duration;

use serialmesh_config::LimitsConfig;
use serialmesh_io::Liveness;

/// The caps and deadlines of the listener.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections at once, authenticated or not.
    pub max_connections: usize,
    /// Connections in their TLS handshake at once (see `admission.rs`).
    pub max_pending: usize,
    /// Of those, from one source address (an IPv6 /64) at once.
    pub max_pending_per_source: usize,
    /// Connections at once from one client certificate name.
    pub max_connections_per_client: usize,
    /// The TLS handshake must finish within this.
    pub handshake_timeout: Duration,
    /// After the handshake, Hello and the request must arrive within this.
    pub request_timeout: Duration,
    pub liveness: Liveness,
    /// Grace period for sessions to say goodbye on shutdown.
    pub shutdown_grace: Duration,
}

impl Limits {
    pub fn from_config(c: &LimitsConfig) -> Self {
        Self {
            max_connections: c.max_connections,
            max_pending: c.max_pending,
            max_pending_per_source: c.max_pending_per_source,
            max_connections_per_client: c.max_connections_per_client,
            handshake_timeout: c.handshake_timeout,
            request_timeout: c.request_timeout,
            liveness: Liveness::default(),
            shutdown_grace: Duration::from_millis(1500),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self::from_config(&LimitsConfig::default())
    }
}
