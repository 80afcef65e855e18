//! Why a session ended, sent out of band so the data stream carries only the
//! device's bytes (ser2net writes its errors into the stream instead).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CloseReasonKind {
    /// The requested device does not exist on this agent.
    UnknownDevice,
    /// Another client identity holds the device.
    Busy,
    /// The client's certificate name may not open this device.
    NotAuthorised,
    /// The device disappeared or failed (unplugged, I/O error).
    DeviceGone,
    /// The device exists but could not be opened (permissions, in use locally).
    OpenFailed,
    /// The agent or client is shutting down.
    Shutdown,
    /// A newer session of the same client (or a takeover) replaced this one.
    Replaced,
    /// The peer violated the protocol (bad frame, wrong order, wrong version).
    Protocol,
    /// Nothing heard from the peer within the heartbeat window.
    Timeout,
    /// The peer ended the session normally (its application disconnected).
    Normal,
    /// The device under that name is not the one the client pinned
    /// (`expect_serial`). Sent only to clients that sent `expect_serial`,
    /// so no client that predates it ever has to parse it. Retryable: the
    /// pinned stick may be plugged in again.
    WrongDevice,
}

impl CloseReasonKind {
    /// Whether retrying the same open later can succeed without a human.
    /// A replaced session must not retry: the newer one wins, and a retry
    /// would replace it in turn (two instances of one client, or a client
    /// and a taker-over, kicking each other for ever).
    pub fn is_retryable(self) -> bool {
        !matches!(self, Self::NotAuthorised | Self::Protocol | Self::Replaced)
    }
}

impl std::fmt::Display for CloseReasonKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::UnknownDevice => "unknown device",
            Self::Busy => "busy",
            Self::NotAuthorised => "not authorised",
            Self::DeviceGone => "device gone",
            Self::OpenFailed => "open failed",
            Self::Shutdown => "shutdown",
            Self::Replaced => "replaced",
            Self::Protocol => "protocol error",
            Self::Timeout => "timeout",
            Self::Normal => "closed",
            Self::WrongDevice => "wrong device",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CloseReason {
    pub kind: CloseReasonKind,
    /// Human-readable detail, e.g. the holder's name or the candidate devices.
    #[serde(default)]
    pub message: String,
    /// For `Busy`: the client name holding the device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder: Option<String>,
}

impl CloseReason {
    pub fn new(kind: CloseReasonKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            holder: None,
        }
    }

    pub fn busy(holder: &str, message: impl Into<String>) -> Self {
        Self {
            kind: CloseReasonKind::Busy,
            message: message.into(),
            holder: Some(holder.to_string()),
        }
    }
}

impl std::fmt::Display for CloseReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.message.is_empty() {
            write!(f, "{}", self.kind)
        } else {
            write!(f, "{}: {}", self.kind, self.message)
        }
    }
}
