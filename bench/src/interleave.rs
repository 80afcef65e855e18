//! Round-trip latency of every relay, measured in turns.
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
//! Each turn starts with one untimed round trip: after waiting for the
//! others, a relay's processes were asleep, and the figures are about a
//! session in steady state, as they were when relays ran alone.

use std::time::Duration;

use anyhow::Result;

use crate::conn::{Conn, Endpoint};
use crate::measure::{self, Latency, Plan};

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
            let (conn, error) = match e.connect() {
                Ok(c) => (Some(c), None),
                Err(e) => (None, Some(e)),
            };
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
