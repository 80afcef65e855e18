//! The comparison run: every relay started on its own echo pty, round
//! trips and throughput measured with the relays taking turns
//! (interleave.rs), then setup and CPU relay by relay, each stopped and its
//! device checked.

use std::path::Path;
use std::time::Instant;

use crate::interleave;
use crate::interrupt;
use crate::measure::{self, Plan};
use crate::relays::{self, Bins, Kind, Pki, Running, StartContext};
use crate::suite::{self, RelayResult};
use serialmesh_io::EchoPty;

/// What relays need besides their device: serialmesh's binaries (this
/// build's and a baseline's) and the certificates of both TLS rows.
pub struct Tools<'a> {
    pub bins: Option<&'a Bins>,
    pub baseline: Option<&'a Bins>,
    pub pki: Option<&'a Pki>,
}

/// A relay that started, with its own echo device and figures so far.
struct Started {
    row: RelayResult,
    relay: Running,
    echo: EchoPty,
}

/// Starts every relay, measures their latency in shared turns, then the
/// rest relay by relay; one row per kind, in order.
pub fn measure_all(kinds: &[Kind], tmp: &Path, tools: &Tools, plan: &Plan) -> Vec<RelayResult> {
    let mut slots: Vec<Result<Started, RelayResult>> = Vec::new();
    for &kind in kinds {
        if interrupt::requested() {
            break;
        }
        eprintln!("==> starting {}", kind.label());
        slots.push(start_one(kind, tmp, tools).map_err(|e| RelayResult::failed(kind, e)));
    }
    std::thread::sleep(plan.idle_wait);
    for s in slots.iter_mut().flatten() {
        suite::idle(&mut s.row, &s.relay);
    }

    let t0 = Instant::now();
    eprintln!("==> round trips, every relay in turn");
    let mut up: Vec<&mut Started> = slots.iter_mut().flatten().collect();
    let endpoints: Vec<_> = up.iter().map(|s| s.relay.endpoint.clone()).collect();
    let latencies = interleave::latencies(&endpoints, plan);
    for (s, l) in up.iter_mut().zip(latencies) {
        if let Some(l) = s.row.record("latency", l) {
            s.row.latency = l;
        }
    }
    eprintln!("    {:.1} s", t0.elapsed().as_secs_f64());

    let t0 = Instant::now();
    eprintln!("==> throughput, every relay in turn");
    let mut up: Vec<&mut Started> = slots.iter_mut().flatten().collect();
    // Socat's per-connection child of the latency session must be gone
    // before the next connection, or it reads some of that one's bytes.
    for s in up.iter_mut() {
        let settled = s.relay.settle();
        s.row.record("after latency", settled);
    }
    let relays: Vec<interleave::Relay> = up
        .iter()
        .map(|s| interleave::Relay {
            endpoint: s.relay.endpoint.clone(),
            pids: s.relay.pids(),
        })
        .collect();
    let transfers = interleave::transfers(&relays, plan);
    for (s, t) in up.iter_mut().zip(transfers) {
        if let Some(t) = s.row.record("throughput", t) {
            s.row.throughput_mib_s = measure::median(&t.runs);
            s.row.throughput_runs = t.runs;
            s.row.loaded_rss_kib = t.rss_kib;
            s.row.cpu_ms_per_mib = t.cpu_ms_per_mib;
        }
    }
    eprintln!("    {:.1} s", t0.elapsed().as_secs_f64());

    slots
        .into_iter()
        .map(|slot| match slot {
            Err(row) => row,
            Ok(s) => finish_one(s, plan),
        })
        .collect()
}

/// Starts `kind` on a fresh echo pty.
fn start_one(kind: Kind, tmp: &Path, tools: &Tools) -> Result<Started, String> {
    if let Some(tool) = kind.tool() {
        if !on_path(tool) {
            return Err(format!("{tool} is not installed (apt-get install {tool})"));
        }
    }
    let work = tmp.join(kind.key());
    std::fs::create_dir_all(&work).map_err(|e| format!("cannot create {}: {e}", work.display()))?;
    // A pty of its own: terminal settings and queued bytes persist on a
    // pty, so a relay never inherits another's state.
    let echo = EchoPty::start().map_err(|e| format!("echo device: {e:#}"))?;
    let cx = StartContext {
        device: echo.path(),
        work: &work,
        bins: tools.bins,
        baseline: tools.baseline,
        pki: tools.pki,
    };
    let relay = relays::start(kind, &cx).map_err(|e| format!("start: {e:#}"))?;
    Ok(Started {
        row: RelayResult::empty(kind),
        relay,
        echo,
    })
}

/// Measures the rest of `s` alone, stops it and checks its device echoed
/// everything the client got back.
fn finish_one(s: Started, plan: &Plan) -> RelayResult {
    let Started {
        mut row,
        mut relay,
        mut echo,
    } = s;
    if interrupt::requested() {
        return row;
    }
    eprintln!("==> {}", row.kind.label());
    let t0 = Instant::now();
    suite::measure_alone(&mut row, &mut relay, plan);
    eprintln!("    {:.1} s", t0.elapsed().as_secs_f64());
    // Relay first: it holds the pty open.
    drop(relay);
    if let Err(e) = echo.stop() {
        eprintln!("pty echo stopped: {e}");
    }
    let (echoed, expected) = (echo.bytes_written(), plan.bytes_through_device());
    if row.errors.is_empty() && echoed < expected {
        row.errors.push(format!(
            "the device echoed {echoed} bytes but the client got {expected} back: \
             something other than the device answered"
        ));
    }
    row
}

fn on_path(tool: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| {
            std::fs::metadata(dir.join(tool))
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    })
}
