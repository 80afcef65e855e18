//! Asking every agent we can find for its inventory, and following the
//! peers each one reports until no new agent turns up (seeds-only meshes,
//! where one reachable agent reveals the rest).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use serialmesh_proto::Inventory;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::debug;

use super::{AgentInfo, Browse, Source};
use crate::dial_pinned::Dialers;

/// What one round of asking found.
#[derive(Debug, Clone, Default)]
pub struct Survey {
    /// Agents that answered, one per key (two agents presenting one name
    /// are both here), sorted by zone and name.
    pub agents: Vec<Reached>,
    /// Agents we learned of that did not answer (in time).
    pub unreachable: Vec<Unreached>,
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
    pub error: String,
}

/// Asks seeds, agents found on mDNS (until `mdns_until`) and every peer
/// they report, all at once; gives up on those that have not answered by
/// `deadline`.
pub(super) async fn run(
    dialers: &Arc<Dialers>,
    seeds: &[String],
    browse: Option<&Arc<Browse>>,
    mdns_until: Instant,
    deadline: Instant,
) -> Survey {
    let start = Instant::now();
    let mut walk = Walk {
        dialers: dialers.clone(),
        queued: HashSet::new(),
        tasks: JoinSet::new(),
        pending: Vec::new(),
        out: Survey::default(),
    };
    for seed in seeds {
        walk.enqueue(AgentInfo::at(seed, Source::Seed, None));
    }
    let mut changes = browse.map(|b| b.changes.subscribe());
    loop {
        if let Some(b) = browse {
            for agent in b.snapshot() {
                walk.enqueue(agent);
            }
        }
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

type Answer = Result<(String, Inventory, serialmesh_pki::Fingerprint), String>;

struct Walk {
    dialers: Arc<Dialers>,
    /// Every address asked (or being asked), so no agent is asked twice.
    queued: HashSet<String>,
    tasks: JoinSet<(usize, Answer)>,
    /// Candidates by task index; `None` once answered.
    pending: Vec<Option<AgentInfo>>,
    out: Survey,
}

impl Walk {
    fn enqueue(&mut self, agent: AgentInfo) {
        if agent.addrs.iter().any(|a| self.queued.contains(a)) {
            return;
        }
        self.queued.extend(agent.addrs.iter().cloned());
        let i = self.pending.len();
        let dialers = self.dialers.clone();
        let (addrs, pin) = (agent.addrs.clone(), agent.fingerprint);
        self.pending.push(Some(agent));
        self.tasks
            .spawn(async move { (i, ask(&dialers, &addrs, pin).await) });
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
                for peer in &inventory.peers {
                    self.enqueue(AgentInfo::at(
                        peer,
                        Source::Peer { via: name.clone() },
                        None,
                    ));
                }
                self.out.agents.push(Reached {
                    addr,
                    source: agent.source,
                    fingerprint,
                    inventory,
                });
            }
            Err(error) => {
                if let (Some(b), Some(fullname)) = (browse, &agent.fullname) {
                    b.verify(fullname);
                }
                self.out.unreachable.push(Unreached {
                    addrs: agent.addrs,
                    name: agent.name,
                    source: agent.source,
                    error,
                });
            }
        }
    }

    fn give_up(&mut self, waited: Duration) {
        self.tasks.abort_all();
        for agent in self.pending.drain(..).flatten() {
            self.out.unreachable.push(Unreached {
                addrs: agent.addrs,
                name: agent.name,
                source: agent.source,
                error: format!("no answer within {waited:.1?}"),
            });
        }
    }
}

/// Lists the agent at the first of `addrs` that answers.
async fn ask(
    dialers: &Dialers,
    addrs: &[String],
    pin: Option<serialmesh_pki::Fingerprint>,
) -> Answer {
    let dialer = dialers.get(pin).map_err(|e| e.to_string())?;
    let mut last = String::from("no address to try");
    for addr in addrs {
        match dialer.list(addr).await {
            Ok((inventory, peer)) => return Ok((addr.clone(), inventory, peer.fingerprint)),
            Err(e) => last = e.to_string(),
        }
    }
    Err(last)
}
