//! The resolver's long-lived mDNS browse (mdns-sd), bounded.
//!
//! Anyone on the link can announce any number of `_serialmesh._tcp`
//! agents. The agents this browse keeps are capped ([`MAX_BROWSED`]), and
//! mdns-sd's own cache, which keeps every record of a browsed type without
//! limit for as long as its TTL says, is emptied by restarting the daemon
//! when it holds more than [`MAX_CACHED`] records (looked at every
//! [`LOOK_EVERY`] resolved services): a long-running `connect` stays
//! bounded whatever the link sends. The agents known are forgotten with
//! the old daemon and found again by the new one's first query (about a
//! second; lookups meanwhile use seeds and peers).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use mdns_sd::{ResolvedService, ServiceDaemon, ServiceEvent};
use serialmesh_pki::Fingerprint;
use serialmesh_proto::discovery::{rank_addrs, Advert, SERVICE_TYPE};
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{debug, warn};

use super::agent::{AgentInfo, Source, MAX_CANDIDATES};
use super::oneshot;

/// How long a new browse collects mDNS answers before a lookup uses them.
/// Responders delay answers to a shared question by 20-120 ms (RFC 6762
/// section 6), and resolving an instance can take a second round trip, so
/// a healthy LAN has answered within about 250 ms; twice that leaves room
/// for a busy host and still leaves most of `serialctl ls`'s 2 s for the
/// TLS round trips. (A lost packet is only retried by the browser after
/// 1 s; `--watch` and the long-lived resolver of `connect` pick it up.)
pub const MDNS_WINDOW: Duration = Duration::from_millis(500);
/// How long answers to the one-shot query at start stand in for the
/// browse's own: by then the browse has asked again (its retries come 1 s
/// and 3 s after it starts) and knows them itself, or they are gone.
const EARLY_TRUST: Duration = Duration::from_secs(5);

/// Agents kept from mDNS; a survey follows no more than this many anyway.
pub(super) const MAX_BROWSED: usize = MAX_CANDIDATES;
/// Records mdns-sd may cache before the browse restarts it.
const MAX_CACHED: i64 = 4096;
/// Resolved services between two looks at the cache size.
const LOOK_EVERY: u32 = 256;

/// A running mDNS browse and the agents it has seen.
pub(super) struct Browse {
    daemon: Mutex<ServiceDaemon>,
    pub(super) started: Instant,
    seen: Mutex<BTreeMap<String, AgentInfo>>,
    /// Answers to the one-shot query sent at start (see [`oneshot`]).
    early: Mutex<Vec<AgentInfo>>,
    /// Bumped on every change, for `--watch` and waiting lookups.
    pub(super) changes: watch::Sender<u64>,
}

impl Browse {
    pub(super) fn start() -> Result<Arc<Browse>, mdns_sd::Error> {
        let daemon = ServiceDaemon::new()?;
        let mut events = daemon.browse(SERVICE_TYPE)?;
        let browse = Arc::new(Browse {
            daemon: Mutex::new(daemon),
            started: Instant::now(),
            seen: Mutex::default(),
            early: Mutex::default(),
            changes: watch::Sender::new(0),
        });
        let b = browse.clone();
        tokio::spawn(async move {
            oneshot::query(MDNS_WINDOW, |agent| {
                let mut early = b.early.lock().unwrap_or_else(|p| p.into_inner());
                if early.len() < MAX_BROWSED {
                    early.push(agent);
                }
                drop(early);
                b.changes.send_modify(|n| *n += 1);
            })
            .await;
        });
        let b = browse.clone();
        tokio::spawn(async move {
            let mut resolved = 0u32;
            // Ends when the daemon stops (its channel closes), which a
            // restart does only after handing over a new one.
            while let Ok(event) = events.recv_async().await {
                if matches!(event, ServiceEvent::ServiceResolved(_)) {
                    resolved += 1;
                    if resolved.is_multiple_of(LOOK_EVERY) {
                        if let Some(fresh) = b.bound_cache().await {
                            events = fresh;
                        }
                    }
                }
                let changed = match event {
                    ServiceEvent::ServiceResolved(s) => match agent_of(&s) {
                        Some(agent) => {
                            let mut seen = b.lock();
                            // Bounded whatever the link sends: past the cap,
                            // only agents already known are updated.
                            if seen.len() >= MAX_BROWSED && !seen.contains_key(&s.fullname) {
                                false
                            } else {
                                let old = seen.insert(s.fullname.clone(), agent.clone());
                                old.as_ref() != Some(&agent)
                            }
                        }
                        None => false,
                    },
                    ServiceEvent::ServiceRemoved(_, fullname) => {
                        b.lock().remove(&fullname).is_some()
                    }
                    _ => false,
                };
                if changed {
                    b.changes.send_modify(|n| *n += 1);
                }
            }
        });
        Ok(browse)
    }

    /// Restarts the daemon when its cache holds more than [`MAX_CACHED`]
    /// records; the new browse's events, if it did.
    async fn bound_cache(&self) -> Option<mdns_sd::Receiver<ServiceEvent>> {
        let daemon = self.daemon();
        let metrics = daemon.get_metrics().ok()?;
        let metrics = tokio::time::timeout(Duration::from_millis(500), metrics.recv_async())
            .await
            .ok()?
            .ok()?;
        let cached: i64 = metrics
            .iter()
            .filter(|(k, _)| k.starts_with("cached-"))
            .map(|(_, v)| *v)
            .sum();
        if cached <= MAX_CACHED {
            return None;
        }
        warn!(cached, limit = MAX_CACHED, "mDNS cache over its bound (a flood of adverts on the link?); restarting the browse to empty it");
        let fresh = ServiceDaemon::new()
            .and_then(|d| Ok((d.browse(SERVICE_TYPE)?, d)))
            .map_err(|e| warn!(error = %e, "cannot browse mDNS again; keeping the full cache"))
            .ok()?;
        let old = std::mem::replace(
            &mut *self.daemon.lock().unwrap_or_else(|p| p.into_inner()),
            fresh.1,
        );
        let _ = old.shutdown();
        // What the old daemon resolved goes with it: it alone could have
        // said when those agents left. The new one asks the link at once.
        self.lock().clear();
        self.changes.send_modify(|n| *n += 1);
        Some(fresh.0)
    }

    /// The running daemon (a handle).
    fn daemon(&self) -> ServiceDaemon {
        self.daemon
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Stops the daemon; the browse's task ends with it.
    pub(super) fn stop(&self) {
        let _ = self.daemon().shutdown();
    }

    pub(super) fn snapshot(&self) -> Vec<AgentInfo> {
        let seen = self.lock();
        let mut out: Vec<AgentInfo> = seen.values().cloned().collect();
        if self.started.elapsed() < EARLY_TRUST {
            let early = self.early.lock().unwrap_or_else(|p| p.into_inner());
            out.extend(
                early
                    .iter()
                    .filter(|a| a.fullname.as_ref().is_some_and(|f| !seen.contains_key(f)))
                    .cloned(),
            );
        }
        out
    }

    /// Asks the link whether `fullname` is still there (RFC 6762 10.4); a
    /// dead agent's records are flushed instead of waiting for their TTL.
    pub(super) fn verify(&self, fullname: &str) {
        let _ = self
            .daemon()
            .verify(fullname.to_string(), Duration::from_secs(1));
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, AgentInfo>> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn agent_of(s: &ResolvedService) -> Option<AgentInfo> {
    let advert = Advert::from_txt(|k| s.get_property_val_str(k))
        .map_err(|e| debug!(fullname = %s.fullname, error = %e, "ignoring mDNS service"))
        .ok()?;
    // No key: an agent from before key fingerprints, dialled unpinned
    // (and verified as any agent is).
    let fingerprint: Option<Fingerprint> = match &advert.key {
        Some(key) => Some(
            key.parse()
                .map_err(|e| debug!(fullname = %s.fullname, error = %e, "ignoring mDNS service"))
                .ok()?,
        ),
        None => None,
    };
    let addrs: Vec<(IpAddr, u32)> = s
        .get_addresses()
        .iter()
        .map(|a| {
            let scope = match a {
                mdns_sd::ScopedIp::V6(v6) => v6.scope_id().index,
                _ => 0,
            };
            (a.to_ip_addr(), scope)
        })
        .collect();
    let addrs = rank_addrs(&addrs, s.get_port());
    (!addrs.is_empty()).then(|| AgentInfo {
        name: Some(advert.name),
        zone: Some(advert.zone),
        addrs,
        fingerprint,
        source: Source::Mdns,
        fullname: Some(s.fullname.clone()),
    })
}
