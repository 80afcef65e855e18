//! The other agents this one knows, reported in `Inventory.peers`.
//!
//! Peers come from mDNS browsing and from static seeds (`host:port`, for pod
//! networks and VLANs that multicast does not cross). An agent never dials
//! another agent over TLS: its certificate is an agent's (server role), and
//! roles stay strict, so it cannot ask a peer for the peer's peers. Instead
//! every agent reports the peers it sees, and clients walk the mesh: they
//! ask each agent they learn of for its inventory and peers in turn, so one
//! reachable agent reveals every agent reachable through it.
//!
//! Liveness is a TCP connect to the peer's port every [`Probe::interval`];
//! after [`Probe::misses`] failures in a row a peer is no longer reported
//! (at most about `misses * interval` after it died), and it is reported
//! again as soon as a probe succeeds. A goodbye on mDNS drops a peer at once.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use mdns_sd::{Receiver, ServiceDaemon, ServiceEvent};
use serialmesh_pki::Fingerprint;
use tokio::net::TcpStream;
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::mdns::{self, seen, Advertiser, Scope, Seen};

/// How peers are checked.
#[derive(Debug, Clone, Copy)]
pub struct Probe {
    pub interval: Duration,
    /// Per connection attempt; a host that is gone does not refuse, it is
    /// silent, so this bounds how long one probe waits for it.
    pub timeout: Duration,
    /// Failed probes in a row before a peer is no longer reported.
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
    Mdns { fullname: String },
    Seed,
}

/// What the mesh knows about one peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerStatus {
    /// The agent name from its advertisement (seeds: unknown).
    pub name: Option<String>,
    pub source: Source,
    /// Addresses to try, best first.
    pub addrs: Vec<String>,
    /// The address that answered last (reported in `Inventory.peers`).
    pub answered: Option<String>,
    /// Failed probes in a row.
    pub misses: u32,
}

impl PeerStatus {
    fn reported(&self, probe: &Probe) -> Option<&str> {
        match (&self.source, &self.answered) {
            (_, Some(addr)) if self.misses < probe.misses => Some(addr),
            // Just announced on mDNS and not probed yet: it spoke a moment
            // ago, which is as good as a probe.
            (Source::Mdns { .. }, None) if self.misses == 0 => self.addrs.first().map(|a| &**a),
            _ => None,
        }
    }
}

pub struct Mesh {
    own: Option<Fingerprint>,
    probe: Probe,
    peers: Mutex<BTreeMap<String, PeerStatus>>,
}

impl Mesh {
    /// A mesh seeded with `seeds`; `own` (this agent's certificate
    /// fingerprint) keeps the agent's own advertisement out.
    pub fn new(seeds: &[String], own: Option<Fingerprint>, probe: Probe) -> Arc<Mesh> {
        let peers = seeds
            .iter()
            .map(|s| {
                (
                    format!("seed {s}"),
                    PeerStatus {
                        name: None,
                        source: Source::Seed,
                        addrs: vec![s.clone()],
                        answered: None,
                        misses: 0,
                    },
                )
            })
            .collect();
        Arc::new(Mesh {
            own,
            probe,
            peers: Mutex::new(peers),
        })
    }

    /// `host:port` of every peer that answers, for `Inventory.peers`.
    pub fn peers(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .lock()
            .values()
            .filter_map(|p| p.reported(&self.probe).map(str::to_string))
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// Everything known, for logs and tests.
    pub fn status(&self) -> Vec<PeerStatus> {
        self.lock().values().cloned().collect()
    }

    /// Starts the agent's side of discovery: the mDNS advertisement (on the
    /// interfaces `listen` covers, see [`Scope`]), the browse for other
    /// agents, and the probes of every peer. Nothing here is fatal: without
    /// mDNS the agent still serves, and its seeds still count.
    pub fn start(
        name: &str,
        zone: &str,
        listen: SocketAddr,
        cert: &Path,
        seeds: &[String],
        shutdown: CancellationToken,
    ) -> MeshHandle {
        let own = match serialmesh_pki::load_certs(cert) {
            Ok(certs) => certs.first().and_then(|c| {
                Some(mdns::Certificate {
                    key: Fingerprint::of_cert(c).ok()?,
                    legacy: serialmesh_pki::legacy_certificate_hash(c),
                })
            }),
            Err(e) => {
                warn!(error = %e, "cannot read the agent certificate; not advertising on mDNS");
                None
            }
        };
        let scope = Scope::of(&listen);
        let mdns = match (scope, &own) {
            (Scope::Off, _) => {
                info!(%listen, "listening on loopback only: not on mDNS (clients need --agent or seeds)");
                Mdns::Off
            }
            (_, Some(cert)) => match Advertiser::start(scope, name, zone, listen.port(), cert) {
                Ok(Some(a)) => Mdns::Advertised(a),
                Ok(None) => Mdns::Off,
                Err(e) => {
                    warn!(error = %e, "clients must use seeds to find this agent");
                    Mdns::Off
                }
            },
            (_, None) => match mdns::daemon(scope) {
                Ok(Some(d)) => Mdns::BrowseOnly(d),
                Ok(None) => Mdns::Off,
                Err(e) => {
                    warn!(error = %e, "mDNS unavailable; peers come from seeds only");
                    Mdns::Off
                }
            },
        };
        let mesh = Mesh::new(seeds, own.map(|c| c.key), Probe::default());
        let task = tokio::spawn(mesh.clone().run(mdns, shutdown));
        MeshHandle { mesh, task }
    }

    /// Runs until `shutdown`: follows mDNS and probes every peer each
    /// interval, the first time at once; then says goodbye on mDNS.
    pub async fn run(self: Arc<Self>, mdns: Mdns, shutdown: CancellationToken) {
        let mut events = mdns.daemon().and_then(browse);
        let mut tick = tokio::time::interval(self.probe.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                // No peers, nothing to probe: an idle agent alone on its
                // network has no timer at all.
                _ = tick.tick(), if !self.lock().is_empty() => {
                    let gone = self.probe_all().await;
                    if let Some(d) = mdns.daemon() {
                        for fullname in gone {
                            // RFC 6762 10.4: ask the link whether it is
                            // still there; if not, its records are flushed
                            // and a removal event follows.
                            let _ = d.verify(fullname, Duration::from_secs(1));
                        }
                    }
                }
                ev = next_event(&events), if events.is_some() => match ev {
                    Some(ServiceEvent::ServiceResolved(s)) => {
                        if let Some(seen) = seen(&s) {
                            self.on_seen(seen);
                        }
                    }
                    Some(ServiceEvent::ServiceRemoved(_, fullname)) => self.on_removed(&fullname),
                    Some(_) => {}
                    None => {
                        warn!("mDNS browse ended; mesh continues with seeds only");
                        events = None;
                    }
                },
            }
        }
        match mdns {
            Mdns::Advertised(a) => a.shutdown().await,
            Mdns::BrowseOnly(d) => mdns::stop(&d).await,
            Mdns::Off => {}
        }
    }

    /// An agent announced itself (or changed its addresses).
    pub fn on_seen(&self, seen: Seen) {
        if self
            .own
            .is_some_and(|own| seen.advert.key.as_deref() == Some(&own.to_string()))
        {
            return;
        }
        let mut peers = self.lock();
        let key = format!("mdns {}", seen.fullname);
        if let Some(known) = peers.get_mut(&key) {
            // The same addresses again (a cache refresh, an answer to a
            // verification): what the probes found still stands.
            if known.addrs == seen.addrs {
                known.name = Some(seen.advert.name);
                return;
            }
        } else {
            info!(peer = %seen.advert.name, zone = %seen.advert.zone, addrs = ?seen.addrs, "found peer on mDNS");
        }
        let status = PeerStatus {
            name: Some(seen.advert.name.clone()),
            source: Source::Mdns {
                fullname: seen.fullname,
            },
            answered: None,
            addrs: seen.addrs,
            misses: 0,
        };
        peers.insert(key, status);
    }

    /// An agent said goodbye (or its records expired).
    pub fn on_removed(&self, fullname: &str) {
        if let Some(p) = self.lock().remove(&format!("mdns {fullname}")) {
            info!(peer = ?p.name, "peer left (mDNS goodbye)");
        }
    }

    /// Probes every peer at once; returns the mDNS names of peers that
    /// just reached the miss limit.
    async fn probe_all(&self) -> Vec<String> {
        let targets: Vec<(String, Vec<String>)> = self
            .lock()
            .iter()
            .map(|(k, p)| (k.clone(), p.addrs.clone()))
            .collect();
        let mut probes = JoinSet::new();
        for (key, addrs) in targets {
            let timeout = self.probe.timeout;
            probes.spawn(async move { (key, answering(&addrs, timeout).await) });
        }
        let mut gone = Vec::new();
        while let Some(Ok((key, answer))) = probes.join_next().await {
            let mut peers = self.lock();
            let Some(p) = peers.get_mut(&key) else {
                continue; // removed meanwhile
            };
            match answer {
                Some(addr) => {
                    if p.misses >= self.probe.misses || p.answered.is_none() {
                        info!(peer = ?p.name, %addr, "peer answers");
                    }
                    p.misses = 0;
                    p.answered = Some(addr);
                }
                None => {
                    p.misses = p.misses.saturating_add(1);
                    if p.misses == self.probe.misses {
                        info!(peer = ?p.name, addrs = ?p.addrs, misses = p.misses, "peer stopped answering; no longer reported");
                        if let Source::Mdns { fullname } = &p.source {
                            gone.push(fullname.clone());
                        }
                    }
                }
            }
        }
        gone
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, PeerStatus>> {
        self.peers.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A started mesh; [`MeshHandle::finished`] waits for its goodbye.
pub struct MeshHandle {
    pub mesh: Arc<Mesh>,
    task: JoinHandle<()>,
}

impl MeshHandle {
    /// Waits until the mesh has stopped after shutdown and its mDNS
    /// goodbye has gone out (bounded: about a second).
    pub async fn finished(self) {
        let _ = self.task.await;
    }
}

/// How the agent takes part in mDNS.
pub enum Mdns {
    /// Listening on loopback, or mDNS unavailable: seeds only.
    Off,
    /// Browsing only (the agent's own certificate could not be read).
    BrowseOnly(ServiceDaemon),
    Advertised(Advertiser),
}

impl Mdns {
    fn daemon(&self) -> Option<&ServiceDaemon> {
        match self {
            Mdns::Off => None,
            Mdns::BrowseOnly(d) => Some(d),
            Mdns::Advertised(a) => Some(a.daemon()),
        }
    }
}

fn browse(daemon: &ServiceDaemon) -> Option<Receiver<ServiceEvent>> {
    mdns::browse(daemon)
        .map_err(|e| warn!(error = %e, "mesh continues with seeds only"))
        .ok()
}

async fn next_event(events: &Option<Receiver<ServiceEvent>>) -> Option<ServiceEvent> {
    match events {
        Some(rx) => rx.recv_async().await.ok(),
        None => None,
    }
}

/// The first of `addrs` that accepts a TCP connection within `timeout`.
async fn answering(addrs: &[String], timeout: Duration) -> Option<String> {
    for addr in addrs {
        if let Ok(Ok(_)) = tokio::time::timeout(timeout, TcpStream::connect(addr.as_str())).await {
            return Some(addr.clone());
        }
    }
    None
}

#[cfg(test)]
#[path = "mesh_tests.rs"]
mod tests;
