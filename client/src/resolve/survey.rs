//! Asking every agent we can find for its inventory, and following the
//! peers each one reports until no new agent turns up (seeds-only meshes,
//! where one reachable agent reveals the rest).
//!
//! mDNS adverts are unauthenticated and cost an attacker one packet each,
//! and every candidate costs a TLS connection: so at most [`AT_ONCE`] are
//! asked at a time and at most [`MAX_CANDIDATES`] per survey, in order of
//! trust: seeds (configured), then agents that answered an earlier survey
//! and peers an answering agent verified (each dialled pinned to the key it
//! proved), then mDNS adverts. A flood of fake adverts can then delay or crowd out what
//! only mDNS knows, never what seeds and verified peers reveal.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use serialmesh_pki::PkiError;
use serialmesh_proto::discovery::names_this_host;
use serialmesh_proto::Inventory;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::debug;

pub use super::agent::MAX_CANDIDATES;
use super::agent::{AgentInfo, Source};
use super::browse::Browse;
use crate::dial::pinned::Dialers;
use crate::dial::DialError;

/// Agents asked at once.
pub const AT_ONCE: usize = 8;

/// What one round of asking found.
#[derive(Debug, Clone, Default)]
pub struct Survey {
    /// Agents that answered, one per key (two agents presenting one name
    /// are both here), sorted by zone and name.
    pub agents: Vec<Reached>,
    /// Agents we learned of that did not answer (in time).
    pub unreachable: Vec<Unreached>,
    /// Candidates not followed, over [`MAX_CANDIDATES`].
    pub not_followed: usize,
    pub took: Duration,
}

#[derive(Debug, Clone)]
pub struct Reached {
    /// The `host:port` that answered.
    pub addr: String,
    pub source: Source,
    /// The key of the certificate the TLS handshake verified (and that
    /// the agent's name and zone were checked against).
    pub fingerprint: serialmesh_pki::Fingerprint,
    pub inventory: Inventory,
}

#[derive(Debug, Clone)]
pub struct Unreached {
    pub addrs: Vec<String>,
    /// Known for agents found on mDNS.
    pub name: Option<String>,
    pub source: Source,
    pub error: Unanswerable,
    /// Every address refused the connection: the host is up and nothing
    /// listens, which is what an agent restarting looks like.
    pub nothing_listens: bool,
}

/// Why an agent gave no inventory.
pub struct Unanswered {
    error: Unanswerable,
    nothing_listens: bool,
}

/// Why an agent gave no inventory, kept for `ls` and for the candidates a
/// failed lookup lists (a survey is cloned, so causes are shared).
#[derive(Debug, Clone, thiserror::Error)]
pub enum Unanswerable {
    /// The last of its addresses failed so.
    #[error(transparent)]
    Dial(Arc<DialError>),
    /// No dialer pinned to its advertised key could be made.
    #[error(transparent)]
    Pin(Arc<PkiError>),
    #[error("no address to try")]
    NoAddress,
    #[error("no answer within {0:.1?}")]
    NoAnswer(Duration),
}

/// Asks seeds, agents found on mDNS (until `mdns_until`) and every peer
/// they report, all at once; gives up on those that have not answered by
/// `deadline`.
pub(super) async fn run(
    dialers: &Arc<Dialers>,
    seeds: &[String],
    known: &[AgentInfo],
    browse: Option<&Arc<Browse>>,
    mdns_until: Instant,
    deadline: Instant,
) -> Survey {
    let start = Instant::now();
    let mut walk = Walk {
        dialers: dialers.clone(),
        queued: HashSet::new(),
        waiting: Default::default(),
        tasks: JoinSet::new(),
        pending: Vec::new(),
        out: Survey::default(),
    };
    for seed in seeds {
        walk.enqueue(AgentInfo::at(seed, Source::Seed, None));
    }
    // Agents that proved themselves in an earlier survey of this resolver
    // (dialled pinned to the key they proved): as trusted as peers.
    for agent in known {
        walk.enqueue_at(agent.clone(), 1);
    }
    let mut changes = browse.map(|b| b.changes.subscribe());
    loop {
        if let Some(b) = browse {
            for agent in b.snapshot() {
                walk.enqueue(agent);
            }
        }
        walk.start_waiting();
        let listening = Instant::now() < mdns_until;
        if walk.tasks.is_empty() && !listening {
            break;
        }
        let change = async {
            let changed = match changes.as_mut() {
                Some(rx) => rx.changed().await.is_ok(),
                None => false,
            };
            if !changed {
                // Without mDNS (or once it stopped) only the timers count.
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            Some(done) = walk.tasks.join_next(), if !walk.tasks.is_empty() => {
                if let Ok((i, result)) = done {
                    walk.finish(i, result, browse);
                }
            }
            _ = change, if listening => {}
            _ = tokio::time::sleep_until(mdns_until), if listening => {}
            _ = tokio::time::sleep_until(deadline) => {
                walk.give_up(deadline.saturating_duration_since(start));
                break;
            }
        }
    }
    let mut out = walk.out;
    let names: HashSet<String> = out
        .agents
        .iter()
        .map(|r| r.inventory.agent.clone())
        .collect();
    // Reached by another address: not unreachable after all.
    out.unreachable
        .retain(|u| u.name.as_ref().is_none_or(|n| !names.contains(n)));
    out.agents.sort_by(|a, b| {
        (&a.inventory.zone, &a.inventory.agent).cmp(&(&b.inventory.zone, &b.inventory.agent))
    });
    out.took = start.elapsed();
    debug!(agents = out.agents.len(), unreachable = out.unreachable.len(), took = ?out.took, "survey done");
    out
}

type Answer = Result<(String, Inventory, serialmesh_pki::Fingerprint), Unanswered>;

struct Walk {
    dialers: Arc<Dialers>,
    /// Every address asked (or being asked), so no agent is asked twice.
    queued: HashSet<String>,
    /// Candidates not asked yet, by trust: seeds, verified peers, mDNS.
    waiting: [VecDeque<AgentInfo>; 3],
    tasks: JoinSet<(usize, Answer)>,
    /// Candidates by task index; `None` once answered.
    pending: Vec<Option<AgentInfo>>,
    out: Survey,
}

impl Walk {
    fn enqueue(&mut self, agent: AgentInfo) {
        let rank = rank(&agent.source);
        self.enqueue_at(agent, rank);
    }

    fn enqueue_at(&mut self, agent: AgentInfo, rank: usize) {
        if agent.addrs.iter().any(|a| self.queued.contains(a)) {
            // Known already; if it still waits behind less trusted
            // candidates (an mDNS advert, now vouched for by an agent),
            // it moves up.
            for lower in self.waiting.iter_mut().skip(rank + 1) {
                let shares = |w: &AgentInfo| w.addrs.iter().any(|a| agent.addrs.contains(a));
                if let Some(at) = lower.iter().position(shares) {
                    lower.remove(at);
                    self.queued.extend(agent.addrs.iter().cloned());
                    self.waiting[rank].push_back(agent);
                    self.start_waiting();
                    return;
                }
            }
            return;
        }
        if self.pending.len() + self.waiting.iter().map(VecDeque::len).sum::<usize>()
            >= MAX_CANDIDATES
        {
            if self.out.not_followed == 0 {
                tracing::warn!(limit = MAX_CANDIDATES, "more agents than one survey follows (a flood of mDNS adverts?); asking seeds and verified peers first");
            }
            self.out.not_followed += 1;
            return;
        }
        self.queued.extend(agent.addrs.iter().cloned());
        self.waiting[rank].push_back(agent);
        self.start_waiting();
    }

    /// Starts asking the most trusted waiting candidates, up to [`AT_ONCE`].
    fn start_waiting(&mut self) {
        while self.tasks.len() < AT_ONCE {
            let Some(agent) = self.waiting.iter_mut().find_map(VecDeque::pop_front) else {
                return;
            };
            let i = self.pending.len();
            let dialers = self.dialers.clone();
            let (addrs, pin) = (agent.addrs.clone(), agent.fingerprint);
            self.pending.push(Some(agent));
            self.tasks
                .spawn(async move { (i, ask(&dialers, &addrs, pin).await) });
        }
    }

    fn finish(&mut self, i: usize, answer: Answer, browse: Option<&Arc<Browse>>) {
        let Some(agent) = self.pending.get_mut(i).and_then(Option::take) else {
            return;
        };
        match answer {
            Ok((addr, inventory, fingerprint)) => {
                let name = inventory.agent.clone();
                // Agents are told apart by key, never by the name they
                // present: two keys under one name are two agents, which
                // resolution reports as ambiguous rather than keeping
                // whichever answered first.
                if self.out.agents.iter().any(|r| r.fingerprint == fingerprint) {
                    return; // the same agent, found by another address
                }
                if inventory.truncated {
                    debug!(agent = %name, "inventory truncated to fit one frame");
                }
                for peer in &inventory.peers {
                    if names_this_host(peer) {
                        // The agent's loopback is not ours: dialling it
                        // would reach this host (our own endpoint, say).
                        debug!(agent = %name, %peer, "peer on the agent's own host ignored");
                        continue;
                    }
                    // Pinned to the key the agent verified; peers of agents
                    // from before key fingerprints come without one.
                    let key = inventory
                        .peer_keys
                        .iter()
                        .find(|k| &k.addr == peer)
                        .and_then(|k| k.key.parse().ok());
                    self.enqueue(AgentInfo::at(peer, Source::Peer { via: name.clone() }, key));
                }
                self.out.agents.push(Reached {
                    addr,
                    source: agent.source,
                    fingerprint,
                    inventory,
                });
            }
            Err(Unanswered {
                error,
                nothing_listens,
            }) => {
                if let (Some(b), Some(fullname)) = (browse, &agent.fullname) {
                    b.verify(fullname);
                }
                self.out.unreachable.push(Unreached {
                    addrs: agent.addrs,
                    name: agent.name,
                    source: agent.source,
                    error,
                    nothing_listens,
                });
            }
        }
    }

    fn give_up(&mut self, waited: Duration) {
        self.tasks.abort_all();
        let never_asked = self.waiting.iter_mut().flat_map(|w| w.drain(..));
        for agent in self.pending.drain(..).flatten().chain(never_asked) {
            self.out.unreachable.push(Unreached {
                addrs: agent.addrs,
                name: agent.name,
                source: agent.source,
                error: Unanswerable::NoAnswer(waited),
                nothing_listens: false,
            });
        }
    }
}

/// Trust, most first: seeds (configured), peers an agent verified, mDNS.
fn rank(source: &Source) -> usize {
    match source {
        Source::Seed => 0,
        Source::Peer { .. } => 1,
        Source::Mdns => 2,
    }
}

/// Lists the agent at the first of `addrs` that answers.
async fn ask(
    dialers: &Dialers,
    addrs: &[String],
    pin: Option<serialmesh_pki::Fingerprint>,
) -> Answer {
    let dialer = dialers.get(pin).map_err(|e| Unanswered {
        error: Unanswerable::Pin(Arc::new(e)),
        nothing_listens: false,
    })?;
    let mut last = Unanswered {
        error: Unanswerable::NoAddress,
        nothing_listens: false,
    };
    let mut nothing_listens = !addrs.is_empty();
    for addr in addrs {
        match dialer.list(addr).await {
            Ok((inventory, peer)) => return Ok((addr.clone(), inventory, peer.fingerprint)),
            Err(e) => {
                nothing_listens &= e.nobody_listening();
                last.error = Unanswerable::Dial(Arc::new(e));
            }
        }
    }
    last.nothing_listens = nothing_listens;
    Err(last)
}
