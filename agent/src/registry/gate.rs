//! What the registry asks about the client it is serving: authorisation
//! decisions are made by whoever implements [`Gate`] (the agent's
//! `[[allow]]` rules), the registry only asks.

use serialmesh_pki::Fingerprint;
use serialmesh_proto::CloseReason;

/// One client's view of the devices.
pub trait Gate: Sync {
    /// The client's certificate name (the holder shown to others).
    fn client(&self) -> &str;
    /// Its certificate fingerprint, if known.
    fn fingerprint(&self) -> Option<Fingerprint>;
    /// Whether it may see `device` in inventories and refusals.
    fn visible(&self, device: &str) -> bool;
    /// Whether it may open `device`; the refusal to send if not.
    fn may_open(&self, device: &str) -> Result<(), CloseReason>;
}

/// A client that may see and open everything (no rules; tests).
pub struct OpenToAll<'a>(pub &'a str);

impl Gate for OpenToAll<'_> {
    fn client(&self) -> &str {
        self.0
    }
    fn fingerprint(&self) -> Option<Fingerprint> {
        None
    }
    fn visible(&self, _device: &str) -> bool {
        true
    }
    fn may_open(&self, _device: &str) -> Result<(), CloseReason> {
        Ok(())
    }
}
