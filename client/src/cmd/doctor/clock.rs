//! Clock findings. serialmesh ignores certificate dates, so a wrong clock
//! never breaks it; but it breaks log correlation, other TLS software and
//! schedules on the same host, and doctor is where someone would notice.

use std::time::{SystemTime, UNIX_EPOCH};

use super::Report;

/// 2024-01-01T00:00:00Z: no serialmesh release is older, so a clock before
/// it is certainly wrong (a dead RTC battery boots into the past).
const EARLIEST: u64 = 1_704_067_200;
/// 2100-01-01T00:00:00Z: later than that is certainly wrong too.
const LATEST: u64 = 4_102_444_800;
/// Clocks this far apart are worth a mention.
const SKEW_WARN: u64 = 120;

const NOT_SERIALMESH: &str = "serialmesh does not check certificate dates, so it works anyway; \
                              set the time (NTP, or a new RTC battery) for everything else";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

pub fn local(report: &mut Report) {
    let t = now();
    let shown = crate::utc::utc(t);
    if !(EARLIEST..LATEST).contains(&t) {
        report.warn(
            "clock",
            format!("this host's clock says {shown}, which cannot be right"),
            NOT_SERIALMESH,
        );
    } else {
        report.ok("clock", format!("this host's clock says {shown}"));
    }
}

/// Compares the agent's clock (from its hello) with ours.
pub fn compare(report: &mut Report, agent: &str, agent_time: u64) {
    let ours = now();
    let skew = ours.abs_diff(agent_time);
    let topic = format!("clock of agent {agent}");
    if skew > SKEW_WARN {
        report.warn(
            &topic,
            format!(
                "{} while ours says {}: {skew} s apart",
                crate::utc::utc(agent_time),
                crate::utc::utc(ours)
            ),
            NOT_SERIALMESH,
        );
    } else {
        report.ok(
            &topic,
            format!("within {SKEW_WARN} s of ours ({skew} s apart)"),
        );
    }
}
