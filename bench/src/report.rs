//! The results as a markdown table (for people and issues) and as JSON
//! (for scripts and the smoke test), from the same numbers.

use std::fmt::Write as _;

use serde_json::{json, Map, Value};

use crate::measure::Plan;
use crate::relays::Kind;
use crate::suite::RelayResult;

/// Frame size the headline latency figures and targets use.
const HEADLINE_FRAME: usize = 10;

/// One of the goals for serialmesh, evaluated.
struct Target {
    what: &'static str,
    value: Option<f64>,
    limit: Option<f64>,
    unit: &'static str,
    /// true: value must not exceed limit; false: must reach it.
    at_most: bool,
}

impl Target {
    fn met(&self) -> Option<bool> {
        let (v, l) = (self.value?, self.limit?);
        Some(if self.at_most { v <= l } else { v >= l })
    }
}

fn find(rows: &[RelayResult], kind: Kind) -> Option<&RelayResult> {
    rows.iter().find(|r| r.kind == kind)
}

fn p50(r: &RelayResult, frame: usize) -> Option<f64> {
    r.latency_of(frame).map(|l| l.p50_us)
}

fn p99(r: &RelayResult, frame: usize) -> Option<f64> {
    r.latency_of(frame).map(|l| l.p99_us)
}

fn targets(rows: &[RelayResult]) -> Vec<Target> {
    let mesh = find(rows, Kind::Serialmesh);
    let esphome = find(rows, Kind::SerialmeshEsphome);
    let tcp = find(rows, Kind::SocatTcp);
    let tls = find(rows, Kind::SocatMtls);
    let f = HEADLINE_FRAME;
    vec![
        Target {
            what: "10 B p50 ≤ socat mTLS p50",
            value: mesh.and_then(|r| p50(r, f)),
            limit: tls.and_then(|r| p50(r, f)),
            unit: "µs",
            at_most: true,
        },
        Target {
            what: "10 B p99 ≤ 1.5 × socat TCP p99",
            value: mesh.and_then(|r| p99(r, f)),
            limit: tcp.and_then(|r| p99(r, f)).map(|v| v * 1.5),
            unit: "µs",
            at_most: true,
        },
        Target {
            what: "throughput ≥ socat TCP",
            value: mesh.and_then(|r| r.throughput_mib_s),
            limit: tcp.and_then(|r| r.throughput_mib_s),
            unit: "MiB/s",
            at_most: false,
        },
        Target {
            what: "ESPHome 10 B p50 ≤ socat mTLS p50",
            value: esphome.and_then(|r| p50(r, f)),
            limit: tls.and_then(|r| p50(r, f)),
            unit: "µs",
            at_most: true,
        },
        Target {
            what: "ESPHome 10 B p99 ≤ 1.5 × socat TCP p99",
            value: esphome.and_then(|r| p99(r, f)),
            limit: tcp.and_then(|r| p99(r, f)).map(|v| v * 1.5),
            unit: "µs",
            at_most: true,
        },
        Target {
            what: "setup ≤ 10 ms",
            value: mesh.and_then(|r| r.setup_ms),
            limit: Some(10.0),
            unit: "ms",
            at_most: true,
        },
    ]
}

fn ratio(v: Option<f64>, base: Option<f64>) -> Option<f64> {
    match (v, base) {
        (Some(v), Some(b)) if b > 0.0 => Some(v / b),
        _ => None,
    }
}

fn num(v: Option<f64>, decimals: usize) -> String {
    v.map_or_else(|| "–".to_string(), |v| format!("{v:.decimals$}"))
}

/// Reads one metric of a row.
type Getter = Box<dyn Fn(&RelayResult) -> Option<f64>>;

/// The metrics compared in the ratio table: column label, JSON key, getter.
fn ratio_metrics(frames: &[usize]) -> Vec<(String, String, Getter)> {
    let mut m: Vec<(String, String, Getter)> = Vec::new();
    for &f in frames {
        m.push((
            format!("{f} B p50"),
            format!("p50_{f}b"),
            Box::new(move |r| p50(r, f)),
        ));
        if f == HEADLINE_FRAME {
            m.push((
                format!("{f} B p99"),
                format!("p99_{f}b"),
                Box::new(move |r| p99(r, f)),
            ));
        }
    }
    m.push((
        "MiB/s".into(),
        "throughput".into(),
        Box::new(|r| r.throughput_mib_s),
    ));
    m.push(("setup".into(), "setup".into(), Box::new(|r| r.setup_ms)));
    m
}

pub fn markdown(rows: &[RelayResult], plan: &Plan, mode: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "## serialmesh benchmark ({mode}): loopback, pty echo device, {} CPUs\n",
        cpus()
    );
    let _ = writeln!(
        s,
        "{} round trips per frame size after {} warm-up; throughput is the median of {} \
         transfers of {} KiB through the echo; setup is the median of {} fresh connections.\n",
        plan.round_trips,
        plan.warmup_round_trips,
        plan.throughput_runs,
        plan.throughput_bytes / 1024,
        plan.setups
    );

    let _ = writeln!(s, "### Round trip (µs): p50 / p99 / max\n");
    let mut head = "| relay |".to_string();
    let mut rule = "| --- |".to_string();
    for f in &plan.frame_sizes {
        let _ = write!(head, " {f} B |");
        rule.push_str(" ---: |");
    }
    let _ = writeln!(s, "{head}\n{rule}");
    for r in rows {
        let _ = write!(s, "| {} |", r.kind.label());
        for &f in &plan.frame_sizes {
            match r.latency_of(f) {
                Some(l) => {
                    let _ = write!(s, " {:.0} / {:.0} / {:.0} |", l.p50_us, l.p99_us, l.max_us);
                }
                None => s.push_str(" – |"),
            }
        }
        s.push('\n');
    }

    let _ = writeln!(s, "\n### Throughput, setup, memory, CPU\n");
    let _ = writeln!(
        s,
        "| relay | MiB/s each way | setup ms | RSS idle KiB | RSS loaded KiB | CPU idle ms | CPU after load ms | CPU ms per MiB echoed |"
    );
    let _ = writeln!(
        s,
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    for r in rows {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            r.kind.label(),
            num(r.throughput_mib_s, 1),
            num(r.setup_ms, 2),
            num(r.idle.map(|u| u.rss_kib as f64), 0),
            num(r.loaded_rss_kib.map(|v| v as f64), 0),
            num(r.idle.map(|u| u.cpu_ms), 0),
            num(r.after.map(|u| u.cpu_ms), 0),
            num(r.cpu_ms_per_mib, 1),
        );
    }

    let metrics = ratio_metrics(&plan.frame_sizes);
    let tcp = find(rows, Kind::SocatTcp);
    let direct = find(rows, Kind::Direct);
    let _ = writeln!(
        s,
        "\n### Ratios: × socat TCP / × direct (latency and setup: lower is better; MiB/s: higher is better)\n"
    );
    let mut head = "| relay |".to_string();
    let mut rule = "| --- |".to_string();
    for (name, _, _) in &metrics {
        let _ = write!(head, " {name} |");
        rule.push_str(" ---: |");
    }
    let _ = writeln!(s, "{head}\n{rule}");
    for r in rows {
        let _ = write!(s, "| {} |", r.kind.label());
        for (_, _, get) in &metrics {
            let a = ratio(get(r), tcp.and_then(get));
            let b = ratio(get(r), direct.and_then(get));
            let _ = write!(s, " {} / {} |", num(a, 2), num(b, 2));
        }
        s.push('\n');
    }

    let _ = writeln!(s, "\n### Targets for serialmesh\n");
    let _ = writeln!(s, "| target | serialmesh | limit | met |");
    let _ = writeln!(s, "| --- | ---: | ---: | --- |");
    for t in targets(rows) {
        let met = match t.met() {
            Some(true) => format!("yes ({}× the limit)", num(ratio(t.value, t.limit), 2)),
            Some(false) => format!("**NO** ({}× the limit)", num(ratio(t.value, t.limit), 2)),
            None => "n/a".to_string(),
        };
        let _ = writeln!(
            s,
            "| {} | {} {} | {} {} | {met} |",
            t.what,
            num(t.value, 2),
            t.unit,
            num(t.limit, 2),
            t.unit
        );
    }

    if rows.iter().any(|r| !r.errors.is_empty()) {
        let _ = writeln!(s, "\n### Errors\n");
        for r in rows {
            for e in &r.errors {
                let _ = writeln!(s, "- {}: {}", r.kind.label(), e.replace('\n', "\n  "));
            }
        }
    }
    s
}

pub fn json(rows: &[RelayResult], plan: &Plan, mode: &str) -> Value {
    let metrics = ratio_metrics(&plan.frame_sizes);
    let tcp = find(rows, Kind::SocatTcp);
    let direct = find(rows, Kind::Direct);
    let relays: Vec<Value> = rows
        .iter()
        .map(|r| {
            let mut latency = Map::new();
            for l in &r.latency {
                latency.insert(
                    l.frame.to_string(),
                    json!({"samples": l.samples, "p50_us": l.p50_us, "p99_us": l.p99_us, "max_us": l.max_us}),
                );
            }
            let mut vs_tcp = Map::new();
            let mut vs_direct = Map::new();
            for (_, key, get) in &metrics {
                vs_tcp.insert(key.clone(), json!(ratio(get(r), tcp.and_then(get))));
                vs_direct.insert(key.clone(), json!(ratio(get(r), direct.and_then(get))));
            }
            json!({
                "key": r.kind.key(),
                "label": r.kind.label(),
                "latency": latency,
                "throughput_mib_s": r.throughput_mib_s,
                "throughput_runs_mib_s": r.throughput_runs,
                "setup_ms": r.setup_ms,
                "rss_idle_kib": r.idle.map(|u| u.rss_kib),
                "rss_loaded_kib": r.loaded_rss_kib,
                "rss_after_kib": r.after.map(|u| u.rss_kib),
                "cpu_idle_ms": r.idle.map(|u| u.cpu_ms),
                "cpu_after_load_ms": r.after.map(|u| u.cpu_ms),
                "cpu_ms_per_mib": r.cpu_ms_per_mib,
                "processes_idle": r.idle.map(|u| u.processes),
                "ratio_to_socat_tcp": vs_tcp,
                "ratio_to_direct": vs_direct,
                "errors": r.errors,
            })
        })
        .collect();
    let targets: Vec<Value> = targets(rows)
        .iter()
        .map(|t| json!({"target": t.what, "value": t.value, "limit": t.limit, "unit": t.unit, "met": t.met()}))
        .collect();
    json!({
        "mode": mode,
        "cpus": cpus(),
        "plan": {
            "frame_sizes": plan.frame_sizes,
            "warmup_round_trips": plan.warmup_round_trips,
            "round_trips": plan.round_trips,
            "throughput_bytes": plan.throughput_bytes,
            "throughput_runs": plan.throughput_runs,
            "setups": plan.setups,
        },
        "relays": relays,
        "targets": targets,
    })
}

fn cpus() -> usize {
    std::thread::available_parallelism().map_or(0, |n| n.get())
}
