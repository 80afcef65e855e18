//! One relay's figures: idle usage after start, then (after the shared
//! latency turns) throughput, setup and CPU, alone on the machine apart
//! from the echo device and the measuring client.
//!
//! A failing measurement is recorded and the next one still runs, so one
//! broken relay or phase does not hide the others' figures.

use anyhow::Result;

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

    pub fn empty(kind: Kind) -> Self {
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
pub fn idle(res: &mut RelayResult, relay: &Running) {
    let pids = relay.pids();
    if !pids.is_empty() {
        res.idle = res.record("idle usage", procstat::usage(&pids));
    }
}

/// Everything after latency and throughput, which every relay measures
/// in turns (interleave.rs): session setup and CPU, with the relay alone.
pub fn measure_alone(res: &mut RelayResult, relay: &mut Running, plan: &Plan) {
    let pids = relay.pids();
    let settled = relay.settle();
    res.record("after throughput", settled);

    let endpoint = relay.endpoint.clone();
    let setup = measure::setup(&endpoint, plan.warmup_setups, plan.setups, || {
        relay.settle()
    });
    res.setup_ms = res.record("setup", setup);

    if !pids.is_empty() {
        res.after = res.record("usage after load", procstat::usage(&pids));
    }
}
