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
    /// The USB serial number the client expects the device to have
    /// (`expect_serial`): an agent that knows this field refuses any other
    /// device with [`crate::CloseReasonKind::WrongDevice`] before opening
    /// it. Left out when not set; older agents ignore it, which is why the
    /// client also checks [`Opened::serial`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_serial: Option<String>,
}

/// Agent reply: the device is open and data may flow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Opened {
    pub device: String,
    pub agent: String,
    pub zone: String,
    pub settings: LineSettings,
    /// USB serial number of the device opened, when it has one the agent
    /// knows. Left out otherwise, and by agents that predate it (a client
    /// pinning a serial number then refuses the session).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
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
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inventory {
    pub agent: String,
    pub zone: String,
    pub devices: Vec<DeviceInfo>,
    /// Other agents this one has verified (a TLS handshake in which the
    /// peer proved an agent key of the CA), as `host:port`: what clients
    /// before [`Inventory::peer_keys`] read.
    #[serde(default)]
    pub peers: Vec<String>,
    /// The same peers with the key each proved, so a client dials each one
    /// pinned to that key. Left out when empty; older agents never send it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub peer_keys: Vec<PeerKey>,
    /// Set when the agent left peers (then devices) out so the reply fits
    /// in one frame ([`crate::MAX_PAYLOAD`]); see [`Inventory::fit`]. Older
    /// clients ignore it, and older agents never set it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
}

/// A peer an agent reports, with the key fingerprint (`spki:HEX`) it proved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerKey {
    pub addr: String,
    pub key: String,
}

impl Inventory {
    /// The inventory itself if its frame fits in [`crate::MAX_PAYLOAD`];
    /// otherwise the longest prefix of its peers that fits (then, if even
    /// no peer does, of its devices), with `truncated` set. Devices come
    /// before peers: they are what this agent is asked about, while a
    /// client can still learn of the peers left out from other agents.
    pub fn fit(mut self) -> Inventory {
        if fits(&self) {
            return self;
        }
        self.truncated = true;
        let (peers, keys) = (
            std::mem::take(&mut self.peers),
            std::mem::take(&mut self.peer_keys),
        );
        if fits(&self) {
            let keep = longest(peers.len(), |n| {
                let mut probe = self.clone();
                probe.peers = peers[..n].to_vec();
                probe.peer_keys = keys
                    .iter()
                    .filter(|k| probe.peers.contains(&k.addr))
                    .cloned()
                    .collect();
                fits(&probe).then_some(probe)
            });
            return keep.unwrap_or(self);
        }
        let devices = std::mem::take(&mut self.devices);
        longest(devices.len(), |n| {
            let mut probe = self.clone();
            probe.devices = devices[..n].to_vec();
            fits(&probe).then_some(probe)
        })
        .unwrap_or(self)
    }
}

fn fits(inventory: &Inventory) -> bool {
    serde_json::to_vec(inventory).is_ok_and(|b| b.len() <= crate::MAX_PAYLOAD)
}

/// The result of `try_n` for the largest `n <= max` it accepts (it accepts
/// every `n` below one it accepts), by bisection: a few serialisations,
/// however long the lists.
fn longest<T>(max: usize, try_n: impl Fn(usize) -> Option<T>) -> Option<T> {
    let (mut lo, mut hi) = (0, max);
    let mut best = try_n(0)?;
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        match try_n(mid) {
            Some(found) => {
                best = found;
                lo = mid;
            }
            None => hi = mid - 1,
        }
    }
    Some(best)
}
