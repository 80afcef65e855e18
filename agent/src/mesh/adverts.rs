//! What the mesh keeps of the adverts it hears, under caps.
//!
//! mDNS is unauthenticated and costs an attacker one UDP packet per fake
//! agent, so nothing here grows with what arrives: at most
//! [`Caps::per_source`] agents per source address and [`Caps::total`] in
//! all are kept (each with at most [`MAX_ADDRS`] addresses); adverts beyond
//! that are counted and dropped. An advert only makes a candidate: it is
//! reported to clients once a TLS handshake proved it an agent of the CA
//! holding the key it advertised (`super::probe`), and a candidate that
//! never proves it is forgotten after [`super::Probe::misses`] probes,
//! which frees its place. A goodbye counts only from the source that
//! announced the agent, so nobody else can make an agent forget its peers.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use serialmesh_pki::Fingerprint;
use serialmesh_proto::discovery::{rank_addrs, Advert, SERVICE_TYPE};
use tracing::{debug, info};

use super::{PeerStatus, Source, State};
use crate::mesh::browse::wire::{Data, Record};

/// Addresses kept per advertised agent.
pub const MAX_ADDRS: usize = 4;

/// Bounds on what mDNS adverts can add.
#[derive(Debug, Clone, Copy)]
pub struct Caps {
    pub per_source: usize,
    pub total: usize,
}

impl Default for Caps {
    /// A host seldom runs more than a few agents; an installation of more
    /// than a few dozen would want seeds and zones anyway. 256 candidates
    /// are probed 8 at a time within about a minute even if all are dead.
    fn default() -> Self {
        Caps {
            per_source: 16,
            total: 256,
        }
    }
}

/// Where a peer came from; the key of the mesh's table.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Key {
    Seed(String),
    /// The same instance name from two sources is two candidates: the
    /// first to claim a name cannot keep the real agent out.
    Mdns {
        from: IpAddr,
        instance: String,
    },
}

/// The advert's records as heard so far (they may come in several packets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heard {
    pub target: Option<String>,
    pub port: u16,
    pub txt: Option<Vec<(String, String)>>,
    pub ips: Vec<Ipv4Addr>,
    /// The last PTR answer for it: a peer not heard for a while (and that
    /// said no goodbye) is forgotten, see [`Table::expire`].
    pub last: Instant,
}

/// The mesh's table and the counts that bound it.
#[derive(Debug, Default)]
pub struct Table {
    pub peers: BTreeMap<Key, PeerStatus>,
    per_source: HashMap<IpAddr, usize>,
    mdns: usize,
}

/// What one packet did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// Candidates to check soon: new ones, or ones whose claims changed.
    pub to_check: usize,
    /// Adverts of new agents dropped over a cap.
    pub over_cap: usize,
}

impl Table {
    pub fn len_mdns(&self) -> usize {
        self.mdns
    }

    pub fn insert_seed(&mut self, seed: &str) {
        self.peers.insert(
            Key::Seed(seed.to_string()),
            PeerStatus::new(None, Source::Seed, None, vec![seed.to_string()]),
        );
    }

    /// Applies the records of one response from `from`. `own` keeps this
    /// agent's own advert out.
    pub fn apply(
        &mut self,
        from: IpAddr,
        records: &[Record],
        now: Instant,
        caps: Caps,
        own: Option<Fingerprint>,
    ) -> Applied {
        let service = SERVICE_TYPE.trim_end_matches('.');
        let mut applied = Applied::default();
        let mut touched = Vec::new();
        let key = |instance: &str| Key::Mdns {
            from,
            instance: instance.to_string(),
        };
        for r in records {
            let Data::Ptr(instance) = &r.data else {
                continue;
            };
            if r.name != service {
                continue;
            }
            let k = key(instance);
            if r.ttl == 0 {
                if let Some(p) = self.remove(&k) {
                    info!(peer = ?p.name, "peer left (mDNS goodbye)");
                }
            } else if let Some(p) = self.peers.get_mut(&k) {
                if let Some(h) = p.heard.as_mut() {
                    h.last = now;
                }
            } else if self.per_source.get(&from).copied().unwrap_or(0) >= caps.per_source
                || self.mdns >= caps.total
            {
                applied.over_cap += 1;
            } else {
                let source = Source::Mdns {
                    instance: instance.clone(),
                    from,
                };
                let mut p = PeerStatus::new(None, source, None, Vec::new());
                p.heard = Some(Heard {
                    target: None,
                    port: 0,
                    txt: None,
                    ips: Vec::new(),
                    last: now,
                });
                self.peers.insert(k.clone(), p);
                *self.per_source.entry(from).or_default() += 1;
                self.mdns += 1;
                touched.push(k);
            }
        }
        let mut flushed: Vec<String> = Vec::new();
        for r in records {
            match &r.data {
                Data::Srv { port, target } => {
                    if let Some(h) = self.heard_mut(&key(&r.name)) {
                        h.target = Some(target.clone());
                        h.port = *port;
                        touched.push(key(&r.name));
                    }
                }
                Data::Txt(txt) => {
                    if let Some(h) = self.heard_mut(&key(&r.name)) {
                        h.txt = Some(txt.clone());
                        touched.push(key(&r.name));
                    }
                }
                Data::A(ip) => {
                    // The first cache-flush record of a host in a packet
                    // replaces what was known (RFC 6762 10.2).
                    let flush = r.flush && !flushed.contains(&r.name);
                    if flush {
                        flushed.push(r.name.clone());
                    }
                    for (k, p) in self.peers.iter_mut() {
                        let Some(h) = p.heard.as_mut() else { continue };
                        let ours = matches!(k, Key::Mdns { from: f, .. } if *f == from);
                        if !ours || h.target.as_deref() != Some(&r.name) {
                            continue;
                        }
                        if flush {
                            h.ips.clear();
                        }
                        if r.ttl == 0 {
                            h.ips.retain(|x| x != ip);
                        } else if !h.ips.contains(ip) && h.ips.len() < MAX_ADDRS {
                            h.ips.push(*ip);
                        }
                        touched.push(k.clone());
                    }
                }
                Data::Ptr(_) => {}
            }
        }
        touched.sort();
        touched.dedup();
        for k in &touched {
            self.refresh(k, own);
        }
        // What is still here (our own advert, or one that does not parse,
        // is gone again) and complete enough to check, new or with claims
        // that changed.
        applied.to_check = touched
            .iter()
            .filter_map(|k| self.peers.get(k))
            .filter(|p| p.state == State::Unverified && p.misses == 0 && !p.addrs.is_empty())
            .count();
        applied
    }

    /// Forgets mDNS peers not heard since `before`.
    pub fn expire(&mut self, before: Instant) {
        let old: Vec<Key> = self
            .peers
            .iter()
            .filter(|(_, p)| p.heard.as_ref().is_some_and(|h| h.last < before))
            .map(|(k, _)| k.clone())
            .collect();
        for k in old {
            if let Some(p) = self.remove(&k) {
                info!(peer = ?p.name, "peer no longer heard on mDNS; forgotten");
            }
        }
    }

    pub fn remove(&mut self, key: &Key) -> Option<PeerStatus> {
        let p = self.peers.remove(key)?;
        if let Key::Mdns { from, .. } = key {
            self.mdns -= 1;
            if let Some(n) = self.per_source.get_mut(from) {
                *n -= 1;
                if *n == 0 {
                    self.per_source.remove(from);
                }
            }
        }
        Some(p)
    }

    fn heard_mut(&mut self, key: &Key) -> Option<&mut Heard> {
        self.peers.get_mut(key)?.heard.as_mut()
    }

    /// Derives name, pin and addresses from what was heard; an advert that
    /// is our own, or names a key that does not parse, is dropped.
    fn refresh(&mut self, key: &Key, own: Option<Fingerprint>) {
        let Some(p) = self.peers.get_mut(key) else {
            return;
        };
        let Some(h) = &p.heard else { return };
        let Some(txt) = &h.txt else { return };
        let advert =
            match Advert::from_txt(|k| txt.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())) {
                Ok(a) => a,
                Err(e) => {
                    debug!(?key, error = %e, "ignoring mDNS advert");
                    self.remove(key);
                    return;
                }
            };
        let pin = match advert.key.as_deref().map(str::parse::<Fingerprint>) {
            None => None,
            Some(Ok(f)) => Some(f),
            Some(Err(e)) => {
                debug!(?key, error = %e, "ignoring mDNS advert with a malformed key");
                self.remove(key);
                return;
            }
        };
        if pin.is_some() && pin == own {
            self.remove(key);
            return;
        }
        let ips: Vec<(IpAddr, u32)> = h.ips.iter().map(|ip| (IpAddr::V4(*ip), 0)).collect();
        let addrs = rank_addrs(&ips, h.port);
        let is_new = p.name.is_none();
        if p.pin != pin || p.addrs != addrs {
            // New claims: what a probe proved before does not cover them.
            p.state = State::Unverified;
            p.misses = 0;
        }
        p.name = Some(advert.name.clone());
        p.pin = pin;
        p.addrs = addrs;
        if is_new {
            // Debug: anyone can advertise; what counts is "peer answers".
            debug!(peer = %advert.name, zone = %advert.zone, addrs = ?p.addrs, "found peer on mDNS");
        }
    }
}

#[cfg(test)]
#[path = "adverts_tests.rs"]
mod tests;
