//! One relay's figures: idle usage after start, then (after the shared
//! latency turns) throughput, setup and CPU, alone on the machine apart
//! from the echo device and the measuring client.
//!
//! A failing measurement is recorded and the next one still runs, so one
//! broken relay or phase does not hide the others' figures.

use anyhow::{Context, Result};

use crate::measure::{self, Latency, Plan};
use crate::procstat::{self, Usage};
use crate::relays::{Kind, Running};

/// Everything measured for one relay.
#[derive(Clone, Debug)]
pub struct RelayResult {
    pub kind: Kind,
    pub latency: Vec<Latency>,
    /// Median of the transfers in `throughput_runs`.
    pub throughput_mib_s: Option<f64>,
    /// Every transfer's MiB/s, in order.
    pub throughput_runs: Vec<f64>,
    /// Relay CPU per MiB echoed during the transfers (each MiB crosses
    /// the relay twice: to the device and back).
    pub cpu_ms_per_mib: Option<f64>,
    pub setup_ms: Option<f64>,
    /// After start-up, before any connection.
    pub idle: Option<Usage>,
    /// Memory while the throughput session is still open (socat's
    /// per-connection child and every session buffer count).
    pub loaded_rss_kib: Option<u64>,
    /// After every measurement (CPU is cumulative since start).
    pub after: Option<Usage>,
    pub errors: Vec<String>,
}

impl RelayResult {
    pub fn failed(kind: Kind, error: String) -> Self {
        let mut r = Self::empty(kind);
        r.errors.push(error);
        r
    }

    fn empty(kind: Kind) -> Self {
        Self {
            kind,
            latency: Vec::new(),
            throughput_mib_s: None,
            throughput_runs: Vec::new(),
            cpu_ms_per_mib: None,
            setup_ms: None,
            idle: None,
            loaded_rss_kib: None,
            after: None,
            errors: Vec::new(),
        }
    }

    pub fn latency_of(&self, frame: usize) -> Option<&Latency> {
        self.latency.iter().find(|l| l.frame == frame)
    }

    pub fn record<T>(&mut self, phase: &str, r: Result<T>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.errors.push(format!("{phase}: {e:#}"));
                None
            }
        }
    }
}

/// Memory and CPU of a relay that has just started and settled.
pub fn idle(kind: Kind, relay: &Running) -> RelayResult {
    let mut res = RelayResult::empty(kind);
    let pids = relay.pids();
    if !pids.is_empty() {
        res.idle = res.record("idle usage", procstat::usage(&pids));
    }
    res
}

/// Everything after latency, which every relay measures together
/// (interleave.rs): throughput, memory under load, setup, CPU. These run
/// with the relay alone on the machine: a transfer takes all the CPU.
pub fn measure_alone(res: &mut RelayResult, relay: &mut Running, plan: &Plan) {
    let pids = relay.pids();
    let has_procs = !pids.is_empty();
    let settled = relay.settle();
    res.record("after latency", settled);

    let tp = throughput_and_memory(relay, plan, has_procs);
    if let Some(t) = res.record("throughput", tp) {
        res.throughput_mib_s = measure::median(&t.runs);
        res.throughput_runs = t.runs;
        res.loaded_rss_kib = t.rss_kib;
        res.cpu_ms_per_mib = t.cpu_ms_per_mib;
    }
    let settled = relay.settle();
    res.record("after throughput", settled);

    let endpoint = relay.endpoint.clone();
    let setup = measure::setup(&endpoint, plan.warmup_setups, plan.setups, || {
        relay.settle()
    });
    res.setup_ms = res.record("setup", setup);

    if has_procs {
        res.after = res.record("usage after load", procstat::usage(&pids));
    }
}

/// What the throughput phase found besides MiB/s.
struct Transfers {
    runs: Vec<f64>,
    rss_kib: Option<u64>,
    cpu_ms_per_mib: Option<f64>,
}

fn throughput_and_memory(relay: &mut Running, plan: &Plan, has_procs: bool) -> Result<Transfers> {
    let pids = relay.pids();
    let mut conn = relay.endpoint.connect()?;
    // After connecting: session setup (handshakes) is not throughput work.
    let before = if has_procs {
        Some(procstat::usage(&pids)?)
    } else {
        None
    };
    let mut runs = Vec::with_capacity(plan.throughput_runs);
    for i in 0..plan.throughput_runs {
        let mib_s = measure::throughput(&mut conn, plan.throughput_bytes)
            .with_context(|| format!("transfer {}", i + 1))?;
        runs.push(mib_s);
    }
    let (rss_kib, cpu_ms_per_mib) = match before {
        Some(before) => {
            let after = procstat::usage(&pids)?;
            let mib = (plan.throughput_bytes * plan.throughput_runs) as f64 / (1024.0 * 1024.0);
            (
                Some(after.rss_kib),
                Some((after.cpu_ms - before.cpu_ms) / mib),
            )
        }
        None => (None, None),
    };
    conn.close_gracefully();
    Ok(Transfers {
        runs,
        rss_kib,
        cpu_ms_per_mib,
    })
}
