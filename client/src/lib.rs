//! `serialctl`: reaching serialmesh devices from anywhere on the network.

pub mod agent_text;
pub mod backoff;
pub mod cli;
pub mod connect;
pub mod dial;
pub mod dial_pinned;
pub mod doctor;
pub mod endpoint;
pub mod link;
pub mod local_users;
pub mod ls;
pub mod peer_uid;
pub mod pki_cmd;
pub mod pty;
pub mod pty_alloc;
pub mod pty_endpoint;
pub mod pty_link;
pub mod resolve;
pub mod revocation;
pub mod revoke;
pub mod rfc2217;
pub mod serial_pin;
pub mod serve;
pub mod sidecar;
pub mod telemetry;
pub mod termios;

/// A problem with what the user asked for (exit status 2), as opposed to a
/// failure while doing it (exit status 1).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);
