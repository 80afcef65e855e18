//! The fault report: one row per fault, printed and appended to
//! `target/fault-report.txt` (tests run in parallel; each appends its rows
//! in one write).

use std::io::Write;
use std::time::Duration;

use super::measure::Outcome;

/// Where the report goes: beside the binaries' profile directory.
pub fn path() -> std::path::PathBuf {
    let dir = crate::bins::bin_dir();
    dir.parent().unwrap_or(&dir).join("fault-report.txt")
}

/// The header line of the table.
pub const HEADER: &str = "fault                       reps  recovery p50/max    app->dev lost (counted/uncounted)  dev->app lost (counted/known/uncounted)";

/// One table row summarising repetitions of a fault.
pub fn row(fault: &str, outcomes: &[Outcome]) -> String {
    let mut rec: Vec<Duration> = outcomes.iter().map(|o| o.recovery).collect();
    rec.sort();
    let p50 = rec
        .get(rec.len().saturating_sub(1) / 2)
        .copied()
        .unwrap_or_default();
    let max = rec.last().copied().unwrap_or_default();
    let sum = |f: &dyn Fn(&Outcome) -> u64| outcomes.iter().map(f).sum::<u64>();
    format!(
        "{fault:<27} {:>4}  {:>7.0} ms/{:>6.0} ms  {:>8} ({}/{}){:>w$}{:>8} ({}/{}/{})",
        outcomes.len(),
        p50.as_secs_f64() * 1000.0,
        max.as_secs_f64() * 1000.0,
        sum(&|o| o.app_to_dev.actual),
        sum(&|o| o.app_to_dev.counted),
        sum(&|o| o.app_to_dev.uncounted()),
        "",
        sum(&|o| o.dev_to_app.actual),
        sum(&|o| o.dev_to_app.counted),
        sum(&|o| o.dev_to_app.known),
        sum(&|o| o.dev_to_app.uncounted()),
        w = 8,
    )
}

/// Prints `lines` under the header and appends them to the report file
/// (`scripts/faults.sh` prints the header once above the file).
pub fn emit(lines: &[String]) {
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    println!("{HEADER}\n{text}");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path());
    if let Ok(mut f) = file {
        let _ = f.write_all(text.as_bytes());
    }
}
