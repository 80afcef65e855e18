//! Rounds of checks: which peers, in what order, how many at once, and
//! what a result does to a peer (see the module doc of `super`).

use std::sync::Arc;

use serialmesh_pki::{Fingerprint, Identity};
use tokio::task::JoinSet;
use tracing::{debug, info};

use super::adverts::Key;
use super::probe::{self, CheckError};
use super::{Mesh, Round, Source, State, MAX_PROBES};

impl Mesh {
    /// Checks peers, [`MAX_PROBES`] at a time: verified peers first (keep
    /// what works fresh), then new candidates, then failing ones.
    pub(super) async fn check(self: Arc<Self>, which: Round) {
        let mut targets: Vec<(u32, Key, Vec<String>, Option<Fingerprint>)> = self
            .lock()
            .peers
            .iter()
            .filter(|(_, p)| !p.addrs.is_empty())
            .filter(|(_, p)| which == Round::All || (p.state == State::Unverified && p.misses == 0))
            .map(|(k, p)| {
                let rank = match p.state {
                    State::Verified { .. } => 0,
                    State::Unverified => 1 + p.misses,
                };
                (rank, k.clone(), p.addrs.clone(), p.pin)
            })
            .collect();
        targets.sort_by_key(|t| t.0);
        let mut pending = targets.into_iter();
        let mut checks = JoinSet::new();
        loop {
            while checks.len() < MAX_PROBES {
                let Some((_, key, addrs, pin)) = pending.next() else {
                    break;
                };
                let mesh = self.clone();
                checks.spawn(async move {
                    let result = probe::check(&mesh.checker, &addrs, pin, mesh.probe.timeout).await;
                    (key, result)
                });
            }
            match checks.join_next().await {
                Some(Ok((key, result))) => self.checked(&key, result),
                Some(Err(_)) => {}
                None => break,
            }
        }
    }

    fn checked(&self, key: &Key, result: Result<(String, Identity), CheckError>) {
        let mut table = self.lock();
        let Some(p) = table.peers.get_mut(key) else {
            return; // removed meanwhile
        };
        match result {
            Ok((addr, identity)) => {
                if p.state == State::Unverified || p.misses >= self.probe.misses {
                    info!(peer = ?p.name, %addr, key = %identity.fingerprint, "peer answers");
                }
                p.name = Some(identity.name);
                p.misses = 0;
                p.state = State::Verified {
                    addr,
                    key: identity.fingerprint,
                };
            }
            Err(error) => {
                p.misses = p.misses.saturating_add(1);
                if p.misses != self.probe.misses {
                    return;
                }
                match (&p.state, &p.source) {
                    (State::Verified { .. }, _) | (_, Source::Seed) => {
                        info!(peer = ?p.name, addrs = ?p.addrs, misses = p.misses, %error, "peer stopped answering; no longer reported");
                    }
                    (State::Unverified, Source::Mdns { .. }) => {
                        debug!(peer = ?p.name, addrs = ?p.addrs, %error, "mDNS candidate never proved to be an agent; forgotten");
                        table.remove(key);
                    }
                }
            }
        }
    }
}
