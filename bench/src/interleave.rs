//! Round-trip latency and throughput of every relay, measured in turns.
//!
//! This machine is shared: a neighbour's burst of a second or two lands on
//! whichever relay happens to be measured then, and a p99 (the 20th worst
//! of 2000) is exactly what such a burst moves. Measured one after the
//! other, two relays' p99 differed by 1.6× from run to run with nothing
//! changed. So every relay holds a session open at once and they take
//! turns: a block of round trips each, in an order rotated every block,
//! until each has all its samples. A burst then hits every relay alike and
//! the ratios between them hold.
//!
//! Each latency turn starts with one untimed round trip: after waiting for
//! the others, a relay's processes were asleep, and the figures are about a
//! session in steady state, as they were when relays ran alone. Throughput
//! takes turns one transfer at a time, each with the machine to itself.

use std::time::Duration;

use anyhow::Result;

use crate::conn::{Conn, Endpoint};
use crate::measure::{self, Latency, Plan};
use crate::procstat;

/// Timed round trips per relay per turn: long enough that switching costs
/// little, short enough that a burst is shared by every relay.
pub const BLOCK: usize = 50;

/// One relay's session and what it has measured so far.
struct Turn {
    conn: Option<Conn>,
    seq: usize,
    done: Vec<Latency>,
    error: Option<anyhow::Error>,
}

impl Turn {
    fn trips(&mut self, frame: usize, count: usize, times: Option<&mut Vec<Duration>>) {
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        let mut times = times;
        for _ in 0..count {
            match measure::round_trip(conn, frame, self.seq) {
                Ok(dt) => {
                    if let Some(t) = times.as_deref_mut() {
                        t.push(dt);
                    }
                }
                Err(e) => {
                    self.error = Some(e.context(format!("{frame}-byte frames")));
                    self.conn = None;
                    return;
                }
            }
            self.seq += 1;
        }
    }
}

/// Latency through every endpoint for every frame size in `plan`, in the
/// order of `endpoints`; a relay that fails is dropped from the turns and the others
/// go on.
pub fn latencies(endpoints: &[Endpoint], plan: &Plan) -> Vec<Result<Vec<Latency>>> {
    let mut turns: Vec<Turn> = endpoints
        .iter()
        .map(|e| {
            let (conn, error) = connect(e);
            Turn {
                conn,
                seq: 0,
                done: Vec::new(),
                error,
            }
        })
        .collect();

    let blocks = plan.round_trips.div_ceil(BLOCK);
    for &frame in &plan.frame_sizes {
        for t in &mut turns {
            t.trips(frame, plan.warmup_round_trips, None);
        }
        let mut times: Vec<Vec<Duration>> = turns
            .iter()
            .map(|_| Vec::with_capacity(plan.round_trips))
            .collect();
        for b in 0..blocks {
            let count = BLOCK.min(plan.round_trips - b * BLOCK);
            for k in 0..turns.len() {
                let i = (b + k) % turns.len();
                turns[i].trips(frame, 1, None);
                turns[i].trips(frame, count, Some(&mut times[i]));
            }
        }
        for (t, samples) in turns.iter_mut().zip(times) {
            if t.conn.is_some() {
                t.done.push(Latency::from_samples(frame, samples));
            }
        }
    }

    turns
        .into_iter()
        .map(|t| {
            if let Some(c) = t.conn {
                c.close_gracefully();
            }
            match t.error {
                Some(e) => Err(e),
                None => Ok(t.done),
            }
        })
        .collect()
}

/// What the throughput turns found for one relay.
pub struct Transfers {
    /// Every transfer's MiB/s, in order.
    pub runs: Vec<f64>,
    /// Memory of the relay's processes with every relay's session open.
    pub rss_kib: Option<u64>,
    /// The relay's CPU during its own transfers, per MiB echoed.
    pub cpu_ms_per_mib: Option<f64>,
}

/// A relay's endpoint and the processes that carry it (none for the floor).
pub struct Relay {
    pub endpoint: Endpoint,
    pub pids: Vec<u32>,
}

/// Throughput of every relay: `plan.throughput_runs` rounds, one transfer
/// per relay per round, order rotated every round. A relay that fails
/// drops out; the others go on.
pub fn transfers(relays: &[Relay], plan: &Plan) -> Vec<Result<Transfers>> {
    struct State {
        conn: Option<Conn>,
        runs: Vec<f64>,
        cpu_ms: f64,
        error: Option<anyhow::Error>,
    }
    let mut states: Vec<State> = relays
        .iter()
        .map(|r| {
            let (conn, error) = connect(&r.endpoint);
            State {
                conn,
                runs: Vec::with_capacity(plan.throughput_runs),
                cpu_ms: 0.0,
                error,
            }
        })
        .collect();

    for round in 0..plan.throughput_runs {
        for k in 0..relays.len() {
            let i = (round + k) % relays.len();
            let (relay, st) = (&relays[i], &mut states[i]);
            let Some(conn) = st.conn.as_mut() else {
                continue;
            };
            // CPU is counted around each transfer, so what a relay's open
            // session costs while the others transfer is not charged to it.
            let result = (|| -> Result<(f64, f64)> {
                let before = cpu_ms(&relay.pids)?;
                let mib_s = measure::throughput(conn, plan.throughput_bytes)?;
                Ok((mib_s, cpu_ms(&relay.pids)? - before))
            })();
            match result {
                Ok((mib_s, cpu)) => {
                    st.runs.push(mib_s);
                    st.cpu_ms += cpu;
                }
                Err(e) => {
                    st.error = Some(e.context(format!("transfer {}", round + 1)));
                    st.conn = None;
                }
            }
        }
    }

    let mib = (plan.throughput_bytes * plan.throughput_runs) as f64 / (1024.0 * 1024.0);
    relays
        .iter()
        .zip(states)
        .map(|(relay, st)| {
            if let Some(e) = st.error {
                return Err(e);
            }
            let has_procs = !relay.pids.is_empty();
            let rss_kib = if has_procs {
                Some(procstat::usage(&relay.pids)?.rss_kib)
            } else {
                None
            };
            if let Some(c) = st.conn {
                c.close_gracefully();
            }
            Ok(Transfers {
                runs: st.runs,
                rss_kib,
                cpu_ms_per_mib: has_procs.then(|| st.cpu_ms / mib),
            })
        })
        .collect()
}

/// A session, or why there is none (that relay then sits out its turns).
fn connect(endpoint: &Endpoint) -> (Option<Conn>, Option<anyhow::Error>) {
    match endpoint.connect() {
        Ok(c) => (Some(c), None),
        Err(e) => (None, Some(e)),
    }
}

fn cpu_ms(pids: &[u32]) -> Result<f64> {
    if pids.is_empty() {
        return Ok(0.0);
    }
    Ok(procstat::usage(pids)?.cpu_ms)
}
