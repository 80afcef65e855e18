//! Runs the benchmark's quick mode against the binaries of this build, so
//! the benchmark code cannot rot unnoticed: every relay must produce every
//! figure. Test code: unwraps and panics are the failure reports.

use std::io::Write;
use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

/// Every relay, and the same build again as `--baseline`: all of them
/// take turns in the latency phase.
const RELAYS: [&str; 10] = [
    "direct",
    "socat_tcp",
    "ser2net_default",
    "ser2net_nochardelay",
    "socat_mtls",
    "socat_tcp_2hop",
    "serialmesh",
    "serialmesh_pty",
    "serialmesh_esphome",
    "serialmesh_baseline",
];

/// seriald and serialctl of the same build (target/<profile>/), unless
/// SERIALMESH_BIN_DIR points elsewhere.
fn bin_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("SERIALMESH_BIN_DIR") {
        return PathBuf::from(d);
    }
    let bench = PathBuf::from(env!("CARGO_BIN_EXE_serialmesh-bench"));
    bench
        .parent()
        .expect("test: bench binary has a directory")
        .to_path_buf()
}

fn installed(tool: &str) -> bool {
    let flag = if tool == "ser2net" { "-v" } else { "-V" };
    Command::new(tool).arg(flag).output().is_ok()
}

#[test]
fn quick_mode_measures_every_relay() {
    for tool in ["socat", "ser2net"] {
        if !installed(tool) {
            // Straight to stderr: the test harness swallows println! of
            // passing tests, and a skip must be seen.
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED quick_mode_measures_every_relay: {tool} is not installed \
                 (apt-get install socat ser2net)"
            );
            return;
        }
    }
    let bins = bin_dir();
    for b in ["seriald", "serialctl"] {
        assert!(
            bins.join(b).is_file(),
            "{b} not found in {}: build the binaries first with `cargo build --bins` \
             (same profile and target dir as `cargo test`), or set SERIALMESH_BIN_DIR",
            bins.display()
        );
    }
    let out = tempfile::tempdir().expect("test: temp dir");
    let json_path = out.path().join("bench.json");
    let run = Command::new(env!("CARGO_BIN_EXE_serialmesh-bench"))
        .arg("--quick")
        .arg("--json")
        .arg(&json_path)
        .arg("--bin-dir")
        .arg(&bins)
        .arg("--baseline")
        .arg(&bins)
        .output()
        .expect("test: run serialmesh-bench");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        run.status.success(),
        "serialmesh-bench --quick failed ({}):\n{stdout}\n{stderr}",
        run.status
    );
    assert!(
        stdout.contains("| serialmesh"),
        "no table printed:\n{stdout}"
    );
    // The healing row: the agent killed and restarted under a held
    // connection, measured (not judged: timings belong to the benchmark).
    assert!(
        stdout.contains("### Healing after an agent restart") && stdout.contains("| 1 s | "),
        "no healing row:\n{stdout}"
    );

    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&json_path).expect("test: read JSON"))
            .expect("test: parse JSON");
    let rows = report["relays"].as_array().expect("test: relays array");
    for key in RELAYS {
        let row = rows
            .iter()
            .find(|r| r["key"] == key)
            .unwrap_or_else(|| panic!("no row for {key} in {report:#}"));
        assert_eq!(row["errors"], Value::Array(vec![]), "{key} had errors");
        let positive = |v: &Value, what: &str| {
            let n = v
                .as_f64()
                .unwrap_or_else(|| panic!("{key}: {what} is not a number: {v}"));
            assert!(n > 0.0, "{key}: {what} is {n}");
        };
        for frame in ["1", "10", "64"] {
            let l = &row["latency"][frame];
            for p in ["p50_us", "p99_us", "max_us"] {
                positive(&l[p], &format!("{frame}-byte {p}"));
            }
        }
        positive(&row["throughput_mib_s"], "throughput");
        positive(&row["setup_ms"], "setup time");
        if key != "direct" {
            positive(&row["rss_idle_kib"], "idle RSS");
            positive(&row["rss_loaded_kib"], "loaded RSS");
            // CPU is counted in clock ticks; a quick run may round to 0.
            assert!(row["cpu_after_load_ms"].is_number(), "{key}: no CPU figure");
        }
        positive(&row["ratio_to_socat_tcp"]["p50_10b"], "10-byte p50 ratio");
    }
    for t in report["targets"].as_array().expect("test: targets") {
        assert!(
            t["value"].is_number() && t["limit"].is_number(),
            "target without numbers: {t}"
        );
    }
}

#[test]
fn baseline_without_binaries_is_refused_before_measuring() {
    let empty = tempfile::tempdir().expect("test: temp dir");
    let run = Command::new(env!("CARGO_BIN_EXE_serialmesh-bench"))
        .args(["--quick", "--only", "direct", "--bin-dir"])
        .arg(bin_dir())
        .arg("--baseline")
        .arg(empty.path())
        .output()
        .expect("test: run serialmesh-bench");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "stderr: {stderr}");
    let want = format!("--baseline: {}", empty.path().join("seriald").display());
    assert!(
        stderr.contains(&want) && stderr.contains("not found"),
        "expected {want:?} ... not found, got: {stderr}"
    );
    assert!(!stderr.contains("==>"), "measured anyway: {stderr}");
}
