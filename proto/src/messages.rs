//! JSON bodies of the control frames. Control frames are rare (a handful per
//! session), so a self-describing, extensible encoding costs nothing that
//! matters; the hot path (data) is raw bytes.

use serde::{Deserialize, Serialize};

use crate::LineSettings;

/// First frame each side sends after the TLS handshake.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    pub version: u16,
    /// e.g. "seriald 0.1.0"; informational, for logs.
    pub software: String,
    /// The sender's name (the agent name, or the client's certificate name).
    pub name: String,
    /// The agent's zone; empty for clients.
    #[serde(default)]
    pub zone: String,
    /// Optional protocol features the sender understands (e.g.
    /// [`crate::FEATURE_LINE_CONTROL`]). Peers that predate a feature leave
    /// it out, and older peers ignore the field, so the version stays 1.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub features: Vec<String>,
    /// The agent's clock (Unix seconds) when it answered; informational
    /// (`serialctl doctor` compares clocks), never used for trust. Absent
    /// from clients and from agents before it was added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<u64>,
}

/// Client request: attach to a device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Open {
    /// `NAME`, `NAME@ZONE` or `NAME@AGENT`.
    pub address: String,
    /// Line settings the client wants instead of the device's profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<LineSettings>,
}

/// Agent reply: the device is open and data may flow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Opened {
    pub device: String,
    pub agent: String,
    pub zone: String,
    pub settings: LineSettings,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum DeviceState {
    Free,
    InUse {
        client: String,
        /// Seconds since the Unix epoch, by the agent's clock.
        since: u64,
    },
    Gone,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceInfo {
    pub name: String,
    pub address: String,
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usb_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    pub settings: LineSettings,
    #[serde(flatten)]
    pub state: DeviceState,
}

/// Agent reply to a list request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inventory {
    pub agent: String,
    pub zone: String,
    pub devices: Vec<DeviceInfo>,
    /// Other agents this one knows, as `host:port`.
    #[serde(default)]
    pub peers: Vec<String>,
}
