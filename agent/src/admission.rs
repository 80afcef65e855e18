//! Who gets a connection slot: the caps of `[limits]` and the bookkeeping
//! behind them.
//!
//! - Every connection holds a slot of `max_connections`; at the cap a new
//!   connection is closed at once.
//! - A connection still in its TLS handshake (no certificate checked yet)
//!   is also *pending*. At `max_pending` the pending connection that has
//!   waited longest is closed to make room: peers that hold handshakes open
//!   (slowloris) lose their slots to newcomers, while a real client's
//!   handshake, a few milliseconds long, is only lost to a flood of more
//!   than `max_pending` connections inside those milliseconds.
//! - After the handshake, one client certificate name may hold at most
//!   `max_connections_per_client` connections.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::throttle::LogThrottle;

/// How often each kind of flood-driven event may be logged.
const LOG_EVERY: Duration = Duration::from_secs(10);

pub struct Admission {
    total: Arc<Semaphore>,
    max_pending: usize,
    pending: Mutex<Pending>,
    max_per_client: usize,
    per_client: Mutex<HashMap<String, usize>>,
    pub log_over_limit: LogThrottle,
    pub log_evicted: LogThrottle,
    pub log_handshake: LogThrottle,
    pub log_per_client: LogThrottle,
}

#[derive(Default)]
struct Pending {
    next: u64,
    /// By arrival: the first entry is the oldest.
    open: BTreeMap<u64, CancellationToken>,
}

/// A connection's slot in `max_connections`.
pub struct Slot(#[allow(dead_code)] OwnedSemaphorePermit);

/// A connection's place among the pending handshakes; dropping it (the
/// handshake ended, either way) frees the place.
pub struct PendingTicket<'a> {
    admission: &'a Admission,
    id: u64,
    /// Cancelled when a newer connection needs the place.
    pub evicted: CancellationToken,
}

/// A client name's share of `max_connections_per_client`.
pub struct ClientTicket<'a> {
    admission: &'a Admission,
    name: String,
}

impl Admission {
    pub fn new(max_connections: usize, max_pending: usize, max_per_client: usize) -> Self {
        Self {
            total: Arc::new(Semaphore::new(max_connections)),
            max_pending,
            pending: Mutex::new(Pending::default()),
            max_per_client,
            per_client: Mutex::new(HashMap::new()),
            log_over_limit: LogThrottle::new(LOG_EVERY),
            log_evicted: LogThrottle::new(LOG_EVERY),
            log_handshake: LogThrottle::new(LOG_EVERY),
            log_per_client: LogThrottle::new(LOG_EVERY),
        }
    }

    /// A slot for a new connection, or `None` at `max_connections`.
    pub fn connection(&self) -> Option<Slot> {
        self.total.clone().try_acquire_owned().ok().map(Slot)
    }

    /// Registers a connection that starts its handshake. Returns whether an
    /// older pending connection was told to give up its place.
    pub fn pending(&self) -> (PendingTicket<'_>, bool) {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let mut evicted = false;
        while p.open.len() >= self.max_pending {
            let Some((_, oldest)) = p.open.pop_first() else {
                break;
            };
            oldest.cancel();
            evicted = true;
        }
        let id = p.next;
        p.next += 1;
        let token = CancellationToken::new();
        p.open.insert(id, token.clone());
        let ticket = PendingTicket {
            admission: self,
            id,
            evicted: token,
        };
        (ticket, evicted)
    }

    /// A share for client `name`, or `None` when it holds
    /// `max_connections_per_client` already.
    pub fn client(&self, name: &str) -> Option<ClientTicket<'_>> {
        let mut m = self.per_client.lock().unwrap_or_else(|e| e.into_inner());
        let n = m.entry(name.to_owned()).or_insert(0);
        if *n >= self.max_per_client {
            return None;
        }
        *n += 1;
        Some(ClientTicket {
            admission: self,
            name: name.to_owned(),
        })
    }

    pub fn max_per_client(&self) -> usize {
        self.max_per_client
    }

    #[cfg(test)]
    fn pending_now(&self) -> usize {
        self.pending.lock().unwrap().open.len()
    }
}

impl Drop for PendingTicket<'_> {
    fn drop(&mut self) {
        let mut p = self
            .admission
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        p.open.remove(&self.id);
    }
}

impl Drop for ClientTicket<'_> {
    fn drop(&mut self) {
        let mut m = self
            .admission
            .per_client
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(n) = m.get_mut(&self.name) {
            *n -= 1;
            // Names come from certificates: forget them when idle so the
            // map stays as small as the set of connected clients.
            if *n == 0 {
                m.remove(&self.name);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_the_pending_cap_the_oldest_handshake_gives_way() {
        let a = Admission::new(10, 2, 1);
        let (first, e1) = a.pending();
        let (second, e2) = a.pending();
        assert!(!e1 && !e2);
        let (third, e3) = a.pending();
        assert!(e3);
        assert!(first.evicted.is_cancelled());
        assert!(!second.evicted.is_cancelled() && !third.evicted.is_cancelled());
        drop(first);
        assert_eq!(a.pending_now(), 2);
        drop((second, third));
        assert_eq!(a.pending_now(), 0);
    }

    #[test]
    fn connections_beyond_the_cap_get_no_slot_until_one_is_freed() {
        let a = Admission::new(2, 1, 1);
        let s1 = a.connection().unwrap();
        let _s2 = a.connection().unwrap();
        assert!(a.connection().is_none());
        drop(s1);
        assert!(a.connection().is_some());
    }

    #[test]
    fn one_client_name_is_capped_and_forgotten_when_it_leaves() {
        let a = Admission::new(10, 1, 2);
        let t1 = a.client("gw").unwrap();
        let t2 = a.client("gw").unwrap();
        assert!(a.client("gw").is_none());
        assert!(a.client("laptop").is_some());
        drop((t1, t2));
        assert!(a.per_client.lock().unwrap().is_empty());
        assert!(a.client("gw").is_some());
    }
}
