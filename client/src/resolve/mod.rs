//! Finding devices by address (`zwave@shed`) without knowing which host
//! has them: agents are found on mDNS and through seeds, asked for their
//! inventories over mutual TLS (agents found on mDNS with their advertised
//! certificate pinned), and the peers they report are asked in turn.
//!
//! A [`Resolver`] keeps one mDNS browse running for its whole life, so only
//! the first lookup waits for answers ([`MDNS_WINDOW`]); later ones (every
//! reconnect) use what is known and ask the agents again, which is how a
//! stick moved to another host is followed.

mod agent;
mod browse;
mod oneshot;
mod pick;
mod survey;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serialmesh_config::Address;
use serialmesh_pki::Fingerprint;
use serialmesh_proto::{CloseReason, CloseReasonKind};
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::dial::pinned::Dialers;
use crate::dial::{DialError, Session};

pub use agent::{AgentInfo, Source};
use browse::Browse;
pub use browse::MDNS_WINDOW;
pub use pick::{pick, ResolveError, Resolved};
pub use survey::{Reached, Survey, Unanswerable, Unreached};

/// How long a lookup for `connect` waits for agents' inventories.
pub const RESOLVE_DEADLINE: Duration = Duration::from_secs(3);

/// Finds agents and the devices they have.
pub struct Resolver {
    dialers: Arc<Dialers>,
    seeds: Vec<String>,
    browse: Option<Arc<Browse>>,
    /// The agent the last lookup chose, to log when a device moves.
    last: Mutex<BTreeMap<String, String>>,
    /// Agents that answered earlier surveys, newest last (at most
    /// [`MAX_KNOWN`]): asked before mDNS adverts, so a flood of fake
    /// adverts cannot hide an agent this resolver has already reached.
    known: Mutex<std::collections::VecDeque<AgentInfo>>,
}

/// Agents remembered from earlier surveys.
const MAX_KNOWN: usize = 64;

impl Resolver {
    /// A resolver over `seeds` and, with `mdns`, a browse for agents that
    /// starts now (it needs a tokio runtime). Without a working mDNS the
    /// resolver still works with seeds alone.
    pub fn new(dialers: Arc<Dialers>, seeds: Vec<String>, mdns: bool) -> Resolver {
        let browse = if mdns {
            match Browse::start() {
                Ok(b) => Some(b),
                Err(e) => {
                    warn!(error = %e, "mDNS unavailable; using seeds only");
                    None
                }
            }
        } else {
            None
        };
        Resolver {
            dialers,
            seeds,
            browse,
            last: Mutex::default(),
            known: Mutex::default(),
        }
    }

    pub fn dialers(&self) -> &Arc<Dialers> {
        &self.dialers
    }

    /// The agents known from mDNS and seeds, waiting until the browse has
    /// run for `wait` (without asking any agent anything).
    pub async fn agents(&self, wait: Duration) -> Vec<AgentInfo> {
        let mut out: Vec<AgentInfo> = self
            .seeds
            .iter()
            .map(|s| AgentInfo::at(s, Source::Seed, None))
            .collect();
        if let Some(b) = &self.browse {
            tokio::time::sleep_until(b.started + wait).await;
            out.extend(b.snapshot());
        }
        out
    }

    /// Asks every agent that can be found (see [`survey::run`]); waits for
    /// mDNS answers only while the browse is younger than `window`.
    pub async fn survey(&self, window: Duration, deadline: Duration) -> Survey {
        let now = Instant::now();
        let mdns_until = self.browse.as_ref().map_or(now, |b| b.started + window);
        let known: Vec<AgentInfo> = self.lock_known().iter().cloned().collect();
        let survey = survey::run(
            &self.dialers,
            &self.seeds,
            &known,
            self.browse.as_ref(),
            mdns_until,
            now + deadline,
        )
        .await;
        let mut known = self.lock_known();
        // One that did not answer is no longer vouched for: found again, if
        // at all, the way any agent is.
        known.retain(|k| !survey.unreachable.iter().any(|u| u.addrs == k.addrs));
        for r in &survey.agents {
            known.retain(|k| k.fingerprint != Some(r.fingerprint));
            if known.len() == MAX_KNOWN {
                known.pop_front();
            }
            let mut agent = AgentInfo::at(&r.addr, r.source.clone(), Some(r.fingerprint));
            agent.name = Some(r.inventory.agent.clone());
            agent.zone = Some(r.inventory.zone.clone());
            known.push_back(agent);
        }
        survey
    }

    fn lock_known(&self) -> std::sync::MutexGuard<'_, std::collections::VecDeque<AgentInfo>> {
        self.known.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Resolves when the set of agents on mDNS changes (never without mDNS).
    pub async fn changed(&self) {
        match &self.browse {
            Some(b) => {
                let mut rx = b.changes.subscribe();
                let _ = rx.changed().await;
            }
            None => std::future::pending().await,
        }
    }

    /// The one agent that has `address` now.
    pub async fn resolve(
        &self,
        address: &Address,
        pin: Option<Fingerprint>,
    ) -> Result<Resolved, ResolveError> {
        let survey = self.survey(MDNS_WINDOW, RESOLVE_DEADLINE).await;
        let resolved = pick(&survey, address, pin)?;
        let key = address.to_string();
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        match last.insert(key, resolved.name.clone()) {
            Some(before) if before != resolved.name => info!(
                device = %address, from = %before, to = %resolved.name, addr = %resolved.agent,
                "device moved to another agent"
            ),
            Some(_) => debug!(device = %address, agent = %resolved.name, "resolved"),
            None => info!(
                device = %address, agent = %resolved.name, zone = %resolved.zone, addr = %resolved.agent,
                key = %resolved.key, "resolved"
            ),
        }
        Ok(resolved)
    }

    /// Resolves `address` and opens it on that agent, pinned to the key
    /// the resolution verified. Resolution failures come back as a
    /// refusal with `unknown_device`, which a link retries with backoff
    /// (the device may be plugged in, or a second holder unplugged).
    ///
    /// `pin` (the user's `agent_fingerprint`): only the agent with that
    /// key is considered, for resolution and for the session.
    pub async fn open(
        &self,
        address: &str,
        pin: Option<Fingerprint>,
        expect_serial: Option<&str>,
    ) -> Result<Session, DialError> {
        let refused = |message: String| DialError::Refused {
            agent: format!("(resolving {address})"),
            reason: CloseReason::new(CloseReasonKind::UnknownDevice, message),
        };
        let parsed: Address = address.parse().map_err(refused)?;
        let resolved = self.resolve(&parsed, pin).await.map_err(|e| match e {
            // Said as what it is, so the link asks again at the pace of an
            // agent restarting rather than backing off.
            ResolveError::NoAgents {
                restarting: true, ..
            } => DialError::Connect {
                agent: format!("(resolving {address})"),
                error: std::io::Error::new(std::io::ErrorKind::ConnectionRefused, e.to_string()),
            },
            e => refused(e.to_string()),
        })?;
        let dialer = self
            .dialers
            .get(Some(resolved.key))
            .map_err(|e| DialError::Tls {
                agent: resolved.agent.clone(),
                error: e.into(),
            })?;
        dialer.open(&resolved.agent, address, expect_serial).await
    }
}

/// The agents that answer an mDNS browse within `window` (for `serialctl
/// doctor`); an error when mDNS cannot run here at all.
pub async fn browse_once(window: Duration) -> Result<Vec<AgentInfo>, mdns_sd::Error> {
    let browse = Browse::start()?;
    tokio::time::sleep_until(browse.started + window).await;
    let agents = browse.snapshot();
    browse.stop();
    Ok(agents)
}

/// Logs where `address` is now, or why it cannot be found (with the
/// candidates), without holding up the caller: an endpoint serves either
/// way, and resolves again for every connection.
pub fn report_at_start(resolver: &Arc<Resolver>, address: &Address) {
    let (resolver, address) = (resolver.clone(), address.clone());
    tokio::spawn(async move {
        if let Err(e) = resolver.resolve(&address, None).await {
            warn!(device = %address, "{e}; the endpoint serves anyway and looks again when the application connects");
        }
    });
}

impl Drop for Resolver {
    fn drop(&mut self) {
        if let Some(b) = &self.browse {
            // Ends the browse task too: its channel closes.
            b.stop();
        }
    }
}
