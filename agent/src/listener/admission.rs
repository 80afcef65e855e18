//! Who gets a connection slot: the caps of `[limits]` and the bookkeeping
//! behind them.
//!
//! - Every connection holds a slot of `max_connections`; at the cap a new
//!   connection is closed at once. A pending connection's slot is kept
//!   with its pending place and freed the moment that place is taken, not
//!   when its task next runs: under a flood, the tasks of evicted
//!   connections wait for a worker, and their slots would otherwise fill
//!   `max_connections` and shut real clients out.
//! - A connection still in its TLS handshake (no certificate checked yet)
//!   is also *pending*. At `max_pending` the pending connection that has
//!   waited longest is closed to make room: peers that hold handshakes open
//!   (slowloris) lose their slots to newcomers, while a real client's
//!   handshake, a few milliseconds long, is only lost to a flood of more
//!   than `max_pending` connections inside those milliseconds.
//! - That flood is cheap from one host, so one source (an IPv4 address, or
//!   an IPv6 /64, which one host can fill with addresses of its own) holds
//!   at most `max_pending_per_source` pending places: beyond, its own
//!   oldest gives way. At `max_pending` the place is taken from the source
//!   holding the most, so a client's one pending handshake is only pushed
//!   out once every pending place is held by a different address (a
//!   flood from `max_pending` addresses at least).
//!   Sources come from the network, so one is forgotten as soon as it has
//!   no pending connection: the map never holds more than `max_pending`.
//! - After the handshake, one client certificate name may hold at most
//!   `max_connections_per_client` connections.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use serialmesh_throttle::LogThrottle;

/// How often each kind of flood-driven event may be logged.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// The caps [`Admission`] enforces.
#[derive(Debug, Clone, Copy)]
pub struct Caps {
    pub max_connections: usize,
    pub max_pending: usize,
    pub max_pending_per_source: usize,
    pub max_per_client: usize,
}

pub struct Admission {
    total: Arc<Semaphore>,
    caps: Caps,
    pending: Mutex<Pending>,
    per_client: Mutex<HashMap<String, usize>>,
    pub log_over_limit: LogThrottle,
    pub log_evicted: LogThrottle,
    pub log_evicted_source: LogThrottle,
    pub log_handshake: LogThrottle,
    pub log_per_client: LogThrottle,
}

/// Where a connection comes from, as far as the per-source cap counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    V4(Ipv4Addr),
    /// The first 64 bits of an IPv6 address: a host is given a whole /64,
    /// and picks a fresh address in it for free.
    V6Net(u64),
}

impl Source {
    pub fn of(ip: IpAddr) -> Self {
        // An agent listening on [::] sees IPv4 peers as ::ffff:a.b.c.d.
        match ip.to_canonical() {
            IpAddr::V4(v4) => Source::V4(v4),
            IpAddr::V6(v6) => Source::V6Net((v6.to_bits() >> 64) as u64),
        }
    }
}

/// What a new pending connection cost someone else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Eviction {
    None,
    /// Its source was at `max_pending_per_source`: that source's oldest
    /// pending connection was closed.
    OwnSource,
    /// All `max_pending` places were taken: the oldest pending connection
    /// of the source holding the most was closed.
    BusiestSource,
}

struct Entry {
    source: Source,
    evicted: CancellationToken,
    slot: Slot,
}

#[derive(Default)]
struct Pending {
    next: u64,
    /// By arrival: the first entry is the oldest.
    open: BTreeMap<u64, Entry>,
    /// Each source's pending connections, oldest first; never empty (a
    /// source with none is removed).
    by_source: HashMap<Source, BTreeSet<u64>>,
}

impl Pending {
    /// Forgets pending connection `id`, if still there.
    fn remove(&mut self, id: u64) -> Option<Entry> {
        let entry = self.open.remove(&id)?;
        if let Some(ids) = self.by_source.get_mut(&entry.source) {
            ids.remove(&id);
            if ids.is_empty() {
                self.by_source.remove(&entry.source);
            }
        }
        Some(entry)
    }

    fn evict_oldest_of(&mut self, source: Source) {
        let oldest = self
            .by_source
            .get(&source)
            .and_then(|ids| ids.first().copied());
        // Its slot is freed here, as the entry is dropped.
        if let Some(entry) = oldest.and_then(|id| self.remove(id)) {
            entry.evicted.cancel();
        }
    }

    /// The source with the most pending connections; among equals, the one
    /// whose oldest has waited longest. A scan, as there are at most
    /// `max_pending` sources and this runs only at the cap.
    fn busiest(&self) -> Option<Source> {
        self.by_source
            .iter()
            .filter_map(|(s, ids)| Some((ids.len(), std::cmp::Reverse(*ids.first()?), *s)))
            .max_by_key(|&(n, oldest, _)| (n, oldest))
            .map(|(_, _, s)| s)
    }
}

/// A connection's slot in `max_connections`.
pub struct Slot(#[allow(dead_code)] OwnedSemaphorePermit);

/// A connection's place among the pending handshakes, holding its slot;
/// dropping it (the handshake failed) frees both, [`PendingTicket::admitted`]
/// (it succeeded) hands the slot back. Owned, as it is taken in the accept
/// loop and moved into the connection's task.
pub struct PendingTicket {
    admission: Arc<Admission>,
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
    pub fn new(caps: Caps) -> Self {
        Self {
            total: Arc::new(Semaphore::new(caps.max_connections)),
            caps,
            pending: Mutex::new(Pending::default()),
            per_client: Mutex::new(HashMap::new()),
            log_over_limit: LogThrottle::new(LOG_EVERY),
            log_evicted: LogThrottle::new(LOG_EVERY),
            log_evicted_source: LogThrottle::new(LOG_EVERY),
            log_handshake: LogThrottle::new(LOG_EVERY),
            log_per_client: LogThrottle::new(LOG_EVERY),
        }
    }

    /// A slot for a new connection, or `None` at `max_connections`.
    pub fn connection(&self) -> Option<Slot> {
        self.total.clone().try_acquire_owned().ok().map(Slot)
    }

    /// Registers a connection from `source`, holding `slot`, that starts
    /// its handshake, and says whose pending connection had to give up its
    /// place for it.
    pub fn pending(self: &Arc<Self>, source: Source, slot: Slot) -> (PendingTicket, Eviction) {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let mine = p.by_source.get(&source).map_or(0, BTreeSet::len);
        let eviction = if mine >= self.caps.max_pending_per_source {
            p.evict_oldest_of(source);
            Eviction::OwnSource
        } else if p.open.len() >= self.caps.max_pending {
            if let Some(busiest) = p.busiest() {
                p.evict_oldest_of(busiest);
            }
            Eviction::BusiestSource
        } else {
            Eviction::None
        };
        let id = p.next;
        p.next += 1;
        let token = CancellationToken::new();
        p.open.insert(
            id,
            Entry {
                source,
                evicted: token.clone(),
                slot,
            },
        );
        p.by_source.entry(source).or_default().insert(id);
        let ticket = PendingTicket {
            admission: self.clone(),
            id,
            evicted: token,
        };
        (ticket, eviction)
    }

    /// A share for client `name`, or `None` when it holds
    /// `max_connections_per_client` already.
    pub fn client(&self, name: &str) -> Option<ClientTicket<'_>> {
        let mut m = self.per_client.lock().unwrap_or_else(|e| e.into_inner());
        let n = m.entry(name.to_owned()).or_insert(0);
        if *n >= self.caps.max_per_client {
            return None;
        }
        *n += 1;
        Some(ClientTicket {
            admission: self,
            name: name.to_owned(),
        })
    }

    pub fn caps(&self) -> &Caps {
        &self.caps
    }

    #[cfg(test)]
    fn pending_now(&self) -> usize {
        self.pending.lock().unwrap().open.len()
    }

    #[cfg(test)]
    fn sources_now(&self) -> usize {
        self.pending.lock().unwrap().by_source.len()
    }
}

impl PendingTicket {
    /// The handshake is done: the connection's slot, no longer pending, or
    /// `None` if a newer connection took the place in the meantime.
    pub fn admitted(self) -> Option<Slot> {
        let mut p = self
            .admission
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        p.remove(self.id).map(|e| e.slot)
    }
}

impl Drop for PendingTicket {
    fn drop(&mut self) {
        let mut p = self
            .admission
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        p.remove(self.id);
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
#[path = "admission_tests.rs"]
mod tests;
