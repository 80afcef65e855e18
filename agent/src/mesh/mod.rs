//! The other agents this one knows, reported in `Inventory.peers`.
//!
//! Peers come from mDNS adverts and from static seeds (`host:port`, for pod
//! networks and VLANs that multicast does not cross). Every agent reports
//! the peers it has verified, and clients walk the mesh: they ask each
//! agent they learn of for its inventory and peers in turn, so one
//! reachable agent reveals every agent reachable through it.
//!
//! mDNS is unauthenticated, so an advert is only a candidate, kept under
//! caps (see [`adverts`]). A peer is reported only once a TLS handshake
//! proved it an agent of the CA holding the key its advert names
//! ([`probe`]); the report carries that key, and clients dial the peer
//! pinned to it. Probes run [`MAX_PROBES`] at a time in a round of their
//! own, so dead addresses (each costing up to [`Probe::timeout`]) delay
//! only the round, never the handling of adverts or of clients.
//!
//! Liveness is that same check, every [`Probe::interval`]; after
//! [`Probe::misses`] failures in a row a peer is no longer reported (and a
//! candidate that never proved itself is forgotten, freeing its place), and
//! it is reported again as soon as a check succeeds. A goodbye on mDNS
//! drops a peer at once.
//!
//! - `mdns.rs`: this agent's advertisement (mdns-sd), its cache kept bounded.
//! - `addr_watch.rs`: rtnetlink address changes, so the advertisement
//!   follows new addresses without a timer.
//! - `browse/`: the agent's own bounded browse for the others (`wire.rs`
//!   parses DNS packets).
//! - `adverts.rs`: candidates from adverts, under caps per source and in
//!   total; `probe.rs` proves a candidate; `rounds.rs` schedules checks.

pub mod addr_watch;
pub mod adverts;
pub mod browse;
pub mod mdns;
pub mod probe;
mod rounds;

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serialmesh_pki::{AgentProbe, DenyList, Fingerprint};
use serialmesh_proto::PeerKey;
use tokio::sync::{mpsc, Notify};
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use adverts::{Caps, Heard, Table};
use browse::{Browser, Packet, QUERY_EVERY};
use mdns::{Advertiser, Scope};
use serialmesh_throttle::LogThrottle;

/// Peers checked at once.
pub const MAX_PROBES: usize = 8;
/// Responses waiting for the mesh; more are dropped (see `browse`).
const QUEUE: usize = 64;
/// An mDNS peer not heard for this long (two rounds of queries, and no
/// goodbye) is forgotten.
const FORGET_AFTER: Duration = Duration::from_secs(2 * QUERY_EVERY.as_secs() + 30);

/// How peers are checked.
#[derive(Debug, Clone, Copy)]
pub struct Probe {
    pub interval: Duration,
    /// Per address and check (TCP connect and TLS): a host that is gone
    /// does not refuse, it is silent, so this bounds how long one waits.
    pub timeout: Duration,
    /// Failed checks in a row before a peer is no longer reported.
    pub misses: u32,
}

impl Default for Probe {
    fn default() -> Self {
        Probe {
            interval: Duration::from_secs(10),
            timeout: Duration::from_secs(2),
            misses: 3,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Mdns { instance: String, from: IpAddr },
    Seed,
}

/// What the last successful check proved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    Unverified,
    Verified {
        /// The address that answered.
        addr: String,
        key: Fingerprint,
    },
}

/// What the mesh knows about one peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerStatus {
    /// The agent name from its advert, then from its certificate.
    pub name: Option<String>,
    pub source: Source,
    /// The key its advert names (`None` for seeds and agents from before
    /// key fingerprints: checked against the CA alone).
    pub pin: Option<Fingerprint>,
    /// Addresses to try, best first.
    pub addrs: Vec<String>,
    pub state: State,
    /// Failed checks in a row.
    pub misses: u32,
    /// For mDNS peers: the records heard.
    pub heard: Option<Heard>,
}

impl PeerStatus {
    fn new(
        name: Option<String>,
        source: Source,
        pin: Option<Fingerprint>,
        addrs: Vec<String>,
    ) -> Self {
        PeerStatus {
            name,
            source,
            pin,
            addrs,
            state: State::Unverified,
            misses: 0,
            heard: None,
        }
    }

    fn reported(&self, probe: &Probe) -> Option<PeerKey> {
        match &self.state {
            State::Verified { addr, key } if self.misses < probe.misses => Some(PeerKey {
                addr: addr.clone(),
                key: key.to_string(),
            }),
            _ => None,
        }
    }
}

/// Which peers a round of checks covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Round {
    /// Candidates never checked (or with new claims): an advert arrived,
    /// and its agent should be reported within a moment, not an interval.
    /// A failure counts as a miss like any other, so a flood of new
    /// adverts cannot make a verified peer miss faster than the interval.
    New,
    /// Every peer, each interval.
    All,
}

pub struct Mesh {
    /// This agent's key; a renewal with a new key replaces it.
    own: Mutex<Option<Fingerprint>>,
    probe: Probe,
    caps: Caps,
    checker: AgentProbe,
    table: Mutex<Table>,
    /// New candidates: check them without waiting for the next interval.
    kick: Notify,
    log_over_cap: LogThrottle,
}

impl Mesh {
    /// A mesh seeded with `seeds`; `own` (this agent's key) keeps the
    /// agent's own advert out; `checker` verifies peers.
    pub fn new(
        seeds: &[String],
        own: Option<Fingerprint>,
        probe: Probe,
        caps: Caps,
        checker: AgentProbe,
    ) -> Arc<Mesh> {
        let mut table = Table::default();
        for s in seeds {
            table.insert_seed(s);
        }
        Arc::new(Mesh {
            own: Mutex::new(own),
            probe,
            caps,
            checker,
            table: Mutex::new(table),
            kick: Notify::new(),
            log_over_cap: LogThrottle::new(Duration::from_secs(10)),
        })
    }

    /// Every verified peer that answers, with its key, for `Inventory`.
    pub fn peers(&self) -> Vec<PeerKey> {
        let mut out: Vec<PeerKey> = self
            .lock()
            .peers
            .values()
            .filter_map(|p| p.reported(&self.probe))
            .collect();
        out.sort_by(|a, b| a.addr.cmp(&b.addr));
        out.dedup_by(|a, b| a.addr == b.addr);
        out
    }

    fn own(&self) -> Option<Fingerprint> {
        *self.own.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Everything known, for logs and tests.
    pub fn status(&self) -> Vec<PeerStatus> {
        self.lock().peers.values().cloned().collect()
    }

    /// Starts the agent's side of discovery: the mDNS advertisement and
    /// browse (on the interfaces `listen` covers, see [`Scope`]) and the
    /// checks of every peer. Nothing here is fatal: without mDNS the agent
    /// still serves, and its seeds still count.
    pub fn start(
        me: &crate::identity::AgentIdentity,
        listen: SocketAddr,
        tls: &serialmesh_pki::TlsFiles,
        own: &serialmesh_pki::RenewableCert,
        deny: DenyList,
        seeds: &[String],
        shutdown: CancellationToken,
    ) -> Result<MeshHandle, serialmesh_pki::PkiError> {
        let checker = AgentProbe::load(&tls.ca, deny)?;
        let own = mdns::Certificate::of(&own.end_entity());
        let scope = Scope::of(&listen);
        if scope == Scope::Off {
            info!(%listen, "listening on loopback only: not on mDNS (clients need --agent or seeds)");
        }
        let advertiser = match &own {
            Some(cert) => Advertiser::start(scope, &me.name, &me.zone, listen.port(), cert)
                .unwrap_or_else(|e| {
                    warn!(error = %e, "clients must use seeds to find this agent");
                    None
                }),
            None => None,
        };
        let browser = Browser::start(scope).unwrap_or_else(|e| {
            warn!(error = %e, "peers come from seeds only");
            None
        });
        let mesh = Mesh::new(
            seeds,
            own.map(|c| c.key),
            Probe::default(),
            Caps::default(),
            checker,
        );
        let (rekey, rekeyed) = tokio::sync::watch::channel(None);
        let task = tokio::spawn(mesh.clone().run(browser, advertiser, rekeyed, shutdown));
        Ok(MeshHandle {
            mesh,
            task,
            rekey: Arc::new(rekey),
        })
    }

    /// Runs until `shutdown`: follows mDNS and checks every peer each
    /// interval (new candidates at once); then says goodbye on mDNS.
    pub async fn run(
        self: Arc<Self>,
        browser: Option<Browser>,
        advertiser: Option<Advertiser>,
        mut rekeyed: tokio::sync::watch::Receiver<Option<mdns::Certificate>>,
        shutdown: CancellationToken,
    ) {
        let (tx, mut packets) = mpsc::channel::<Packet>(QUEUE);
        let heard_many = Arc::new(Notify::new());
        let (known, known_rx) = tokio::sync::watch::channel(false);
        let mut browsing = JoinSet::new();
        let mut listening = browser.is_some();
        if let Some(b) = browser {
            browsing.spawn(b.run(tx, heard_many.clone(), known_rx, shutdown.clone()));
        }
        let mut advertiser = advertiser;
        let mut tick = tokio::time::interval(self.probe.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut round: Option<JoinHandle<()>> = None;
        let mut due = None;
        loop {
            known.send_if_modified(|k| std::mem::replace(k, self.lock().len_mdns() > 0) != *k);
            if round.is_none() && !self.lock().peers.is_empty() {
                if let Some(which) = due.take() {
                    round = Some(tokio::spawn(self.clone().check(which)));
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                // No peers, nothing to check: an idle agent alone on its
                // network has no timer at all.
                _ = tick.tick(), if !self.lock().peers.is_empty() => {
                    due = Some(Round::All);
                    if let Some(before) = Instant::now().checked_sub(FORGET_AFTER) {
                        self.lock().expire(before);
                    }
                }
                Ok(()) = rekeyed.changed() => {
                    let cert = rekeyed.borrow_and_update().clone();
                    if let Some(cert) = cert {
                        *self.own.lock().unwrap_or_else(|p| p.into_inner()) = Some(cert.key);
                        if let Some(a) = advertiser.as_mut() {
                            a.renew(&cert).await;
                        }
                    }
                }
                _ = heard_many.notified() => {
                    if let Some(a) = advertiser.as_mut() {
                        a.bound_cache().await;
                    }
                }
                _ = self.kick.notified() => {
                    due = due.max(Some(Round::New));
                }
                _ = async { round.as_mut().expect("guarded").await }, if round.is_some() => round = None,
                p = packets.recv(), if listening => match p {
                    Some(p) => self.on_packet(&p),
                    None => {
                        warn!("mDNS browse ended; mesh continues with seeds only");
                        listening = false;
                    }
                },
            }
        }
        if let Some(r) = round {
            r.abort();
        }
        browsing.shutdown().await;
        if let Some(a) = advertiser {
            a.shutdown().await;
        }
    }

    /// Applies one mDNS response.
    pub fn on_packet(&self, p: &Packet) {
        let applied =
            self.lock()
                .apply(p.source, &p.records, Instant::now(), self.caps, self.own());
        if applied.to_check > 0 {
            self.kick.notify_one();
        }
        if applied.over_cap > 0 {
            if let Some(unlogged) = self.log_over_cap.admit() {
                let kept = self.lock().len_mdns();
                warn!(source = %p.source, kept, per_source = self.caps.per_source, total = self.caps.total, unlogged, "mDNS adverts over the cap; ignoring new agents until candidates prove themselves or go");
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A started mesh; [`MeshHandle::finished`] waits for its goodbye.
pub struct MeshHandle {
    pub mesh: Arc<Mesh>,
    task: JoinHandle<()>,
    rekey: Arc<tokio::sync::watch::Sender<Option<mdns::Certificate>>>,
}

impl MeshHandle {
    /// What to call when the agent's certificate gets another key (a
    /// renewal): the mesh advertises it, and recognises the agent's own
    /// advert by it.
    pub fn key_renewer(&self) -> impl Fn(mdns::Certificate) + Send + Sync + 'static {
        let rekey = self.rekey.clone();
        move |cert| {
            let _ = rekey.send(Some(cert));
        }
    }

    /// Waits until the mesh has stopped after shutdown and its mDNS
    /// goodbye has gone out (bounded: about a second).
    pub async fn finished(self) {
        let _ = self.task.await;
    }
}

#[cfg(test)]
mod tests;
