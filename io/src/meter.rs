//! Where the relay counts the bytes it moves.
//!
//! The relay bumps a counter per read or write so a metrics scrape sees a
//! long session progress, but it must not know whose metrics those are:
//! the wire protocol and the I/O below it sit under the observability
//! crate, not on it. So it takes this trait, and the metrics registry
//! implements it for its counters.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// A counter of bytes; called once per read or write on the data path, so
/// it must be cheap (one relaxed atomic add).
pub trait ByteMeter: Send + Sync {
    fn add(&self, bytes: u64);
}

impl ByteMeter for AtomicU64 {
    fn add(&self, bytes: u64) {
        self.fetch_add(bytes, Ordering::Relaxed);
    }
}

/// The two counters of one relay: bytes written to the device, and device
/// bytes handed to the network.
#[derive(Clone)]
pub struct Meters {
    pub to_device: Arc<dyn ByteMeter>,
    pub to_net: Arc<dyn ByteMeter>,
}
