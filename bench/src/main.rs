//! `serialmesh-bench`: how much serialmesh costs over talking to the serial
//! device directly, next to socat and ser2net, measured in one run on
//! loopback against a pty echo device.
//!
//! Run it with `./scripts/bench.sh` (builds release binaries first); see
//! bench/README.md for what each figure means. The machine is shared and
//! noisy, so compare rows of the same run (the ratio table), not figures
//! of different runs.

mod child;
mod compare;
mod conn;
mod heal;
mod interleave;
mod interrupt;
mod measure;
mod ports;
mod procstat;
mod relays;
mod report;
mod scale;
mod suite;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;

use measure::Plan;
use relays::{Bins, Kind, Pki};

#[derive(Parser)]
#[command(
    name = "serialmesh-bench",
    about = "Measure serialmesh against a direct pty, socat and ser2net on loopback"
)]
struct Args {
    /// Far fewer iterations: a smoke test that the benchmark still works,
    /// not a measurement.
    #[arg(long)]
    quick: bool,
    /// Also write the results as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Directory holding seriald and serialctl. Default: $SERIALMESH_BIN_DIR,
    /// else the directory of this executable (the same cargo build).
    #[arg(long, value_name = "DIR")]
    bin_dir: Option<PathBuf>,
    /// Measure only these relays (comma-separated): direct, socat_tcp,
    /// ser2net_default, ser2net_nochardelay, socat_mtls, socat_tcp_2hop,
    /// serialmesh, serialmesh_pty.
    #[arg(long, value_name = "RELAY", value_delimiter = ',')]
    only: Vec<String>,
    /// Also measure the seriald and serialctl in DIR (another build, e.g.
    /// of the commit before a change) as one more row, in the same run:
    /// on a shared machine, before/after figures from separate runs differ
    /// by more than most changes do.
    #[arg(long, value_name = "DIR")]
    baseline: Option<PathBuf>,
    /// Keep the temporary directory (relay configs, certificates and each
    /// relay's log) instead of removing it, and print where it is.
    #[arg(long)]
    keep_temp: bool,
    /// Instead of the relay comparison: one agent with --devices devices,
    /// all in use at once by one sidecar, and the idle agent's footprint.
    #[arg(long)]
    scale: bool,
    /// Devices (and sidecar endpoints) for --scale.
    #[arg(long, default_value_t = 32, value_name = "N")]
    devices: usize,
}

fn main() -> ExitCode {
    let args = Args::parse();
    interrupt::install();
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("serialmesh-bench: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// Runs every selected relay; Ok(false) if any measurement failed.
fn run(args: &Args) -> Result<bool> {
    let started = Instant::now();
    if args.scale {
        return run_scale(args);
    }
    let mut kinds = selected(&args.only)?;
    if args.baseline.is_some() {
        kinds.push(Kind::SerialmeshBaseline);
    }
    let plan = if args.quick {
        Plan::quick()
    } else {
        Plan::full()
    };
    let mode = if args.quick { "quick" } else { "full" };

    let tmp = tempfile::Builder::new()
        .prefix("serialmesh-bench.")
        .tempdir()
        .context("cannot create a temporary directory")?;
    let needs_mesh = kinds.iter().any(|k| {
        matches!(
            k,
            Kind::Serialmesh
                | Kind::SerialmeshPty
                | Kind::SocatMtls
                | Kind::SerialmeshBaseline
                | Kind::SerialmeshEsphome
        )
    });
    // Certificates come from our own serialctl, so both TLS rows need it.
    let (bins, pki) = if needs_mesh {
        let bins = Bins::in_dir(&bin_dir(args)?)?;
        let pki = Pki::create(&bins.serialctl, &tmp.path().join("pki"))?;
        (Some(bins), Some(pki))
    } else {
        (None, None)
    };
    let baseline = match &args.baseline {
        Some(dir) => Some(Bins::in_dir(dir).context("--baseline")?),
        None => None,
    };
    let tools = compare::Tools {
        bins: bins.as_ref(),
        baseline: baseline.as_ref(),
        pki: pki.as_ref(),
    };

    let rows = compare::measure_all(&kinds, tmp.path(), &tools, &plan);
    interrupt::check()?;

    print!("{}", report::markdown(&rows, &plan, mode));
    if let (true, Some(bins), Some(pki)) = (kinds.contains(&Kind::Serialmesh), &bins, &pki) {
        // Agent outages as a rolling update or a crash makes them; the
        // target holds for any length, so the full run includes a minute.
        let outages: Vec<Duration> = if args.quick { vec![1] } else { vec![2, 10, 60] }
            .into_iter()
            .map(Duration::from_secs)
            .collect();
        let work = tmp.path().join("heal");
        std::fs::create_dir_all(&work).context("cannot create the healing run's directory")?;
        let echo = serialmesh_io::EchoPty::start().context("echo device")?;
        let cx = relays::StartContext {
            device: echo.path(),
            work: &work,
            bins: Some(bins),
            baseline: None,
            pki: Some(pki),
        };
        eprintln!("==> healing after agent restarts ({outages:?})");
        match heal::measure(&cx, bins, &outages) {
            Ok(healed) => print!("{}", heal::markdown(&healed)),
            Err(e) => print!("\n### Healing after an agent restart\n\nfailed: {e:#}\n"),
        }
        interrupt::check()?;
    }
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report::json(&rows, &plan, mode))
            .context("cannot encode the results as JSON")?;
        std::fs::write(path, text + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if args.keep_temp {
        eprintln!("serialmesh-bench: kept {}", tmp.keep().display());
    }
    eprintln!(
        "serialmesh-bench: {mode} run took {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(rows.iter().all(|r| r.errors.is_empty()))
}

fn run_scale(args: &Args) -> Result<bool> {
    let started = Instant::now();
    if args.devices == 0 {
        bail!("--devices must be at least 1");
    }
    let tmp = tempfile::Builder::new()
        .prefix("serialmesh-bench.")
        .tempdir()
        .context("cannot create a temporary directory")?;
    let bins = Bins::in_dir(&bin_dir(args)?)?;
    let pki = Pki::create(&bins.serialctl, &tmp.path().join("pki"))?;
    let opts = scale::Options {
        devices: args.devices,
        rounds: if args.quick { 50 } else { 1000 },
    };
    print!("{}", scale::run(&bins, &pki, tmp.path(), &opts)?);
    if args.keep_temp {
        eprintln!("serialmesh-bench: kept {}", tmp.keep().display());
    }
    eprintln!(
        "serialmesh-bench: scale run took {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(true)
}

fn selected(only: &[String]) -> Result<Vec<Kind>> {
    if only.is_empty() {
        return Ok(Kind::ALL.to_vec());
    }
    only.iter()
        .map(|k| match Kind::from_key(k) {
            Some(kind) => Ok(kind),
            None => {
                let known: Vec<&str> = Kind::ALL.iter().map(|k| k.key()).collect();
                bail!("unknown relay {k:?}; known: {}", known.join(", "))
            }
        })
        .collect()
}

fn bin_dir(args: &Args) -> Result<PathBuf> {
    if let Some(d) = &args.bin_dir {
        return Ok(d.clone());
    }
    if let Some(d) = std::env::var_os("SERIALMESH_BIN_DIR") {
        return Ok(PathBuf::from(d));
    }
    let exe = std::env::current_exe().context("cannot find this executable's path")?;
    exe.parent()
        .map(Path::to_path_buf)
        .context("this executable has no parent directory; pass --bin-dir")
}
