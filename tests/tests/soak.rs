//! Soak: traffic at serial pace both ways for N minutes (default 30,
//! `SERIALMESH_SOAK_MINUTES`), a fault every minute, and the resident
//! memory, open descriptors and threads of both binaries sampled each
//! minute. Leak check: the last quarter's mean stays within 25% (memory;
//! plus 2 MiB) or 2 (descriptors, threads) of the second quarter's.
//!
//! The faults here leave both processes running (cuts, loss, unplug,
//! bursts) so their samples form one series; kills are covered by
//! `faults.rs`. Run it with `scripts/soak.sh`.

use std::thread::sleep;
use std::time::{Duration, Instant};

use serialmesh_tests::faults::report::{emit, row};
use serialmesh_tests::faults::resources::{flat, sample, Usage};
use serialmesh_tests::faults::rig::metric;
use serialmesh_tests::faults::{
    run_fault, start, Injected, Options, Outcome, Pace, Rig, Traffic, AGENT,
};
use serialmesh_tests::ScriptedDevice;

const SERIAL: Pace = Pace::Baud(115_200);

fn minutes() -> u64 {
    std::env::var("SERIALMESH_SOAK_MINUTES")
        .ok()
        .and_then(|m| m.parse().ok())
        .unwrap_or(30)
}

fn back(at: Instant, known: u64) -> Injected {
    Injected {
        back: at,
        agent_restarted: false,
        client_restarted: false,
        known_dev_to_app: known,
    }
}

/// Fault number `n` of the rotation; returns its name and outcome.
fn fault(n: u64, rig: &mut Rig, traffic: &Traffic) -> (&'static str, Outcome) {
    match n % 5 {
        0 => (
            "link cut 1 s",
            run_fault(
                "soak cut 1 s",
                rig,
                traffic,
                Duration::from_secs(2),
                |rig, _| {
                    rig.cut(AGENT);
                    sleep(Duration::from_secs(1));
                    rig.heal(AGENT);
                    back(Instant::now(), 0)
                },
            ),
        ),
        1 => (
            "link cut 10 s",
            run_fault(
                "soak cut 10 s",
                rig,
                traffic,
                Duration::from_secs(6),
                |rig, _| {
                    rig.cut(AGENT);
                    sleep(Duration::from_secs(10));
                    rig.heal(AGENT);
                    back(Instant::now(), 0)
                },
            ),
        ),
        2 => (
            "5% loss 20 s",
            run_fault("soak loss", rig, traffic, Duration::ZERO, |rig, _| {
                rig.lossy(AGENT, 5);
                sleep(Duration::from_secs(20));
                rig.heal(AGENT);
                back(Instant::now(), 0)
            }),
        ),
        3 => {
            let link = rig.device_link();
            (
                "device replug",
                run_fault(
                    "soak unplug",
                    rig,
                    traffic,
                    Duration::from_millis(500),
                    |_, traffic| {
                        let known = traffic.unplug();
                        sleep(Duration::from_secs(2));
                        let mut device = ScriptedDevice::start();
                        device.link(&link).expect("relink device");
                        traffic.plug(device);
                        back(Instant::now(), known)
                    },
                ),
            )
        }
        _ => (
            "flat-out 10 s",
            run_fault("soak burst", rig, traffic, Duration::ZERO, |_, traffic| {
                traffic.set_pace(Pace::Max);
                sleep(Duration::from_secs(10));
                traffic.set_pace(SERIAL);
                back(Instant::now(), 0)
            }),
        ),
    }
}

/// What to read from a sample, the allowed growth ratio and slack.
type Check = (&'static str, fn(&Usage) -> u64, f64, f64);

fn fmt(u: &Usage) -> String {
    format!("{:>6} KiB {:>3} fds {:>3} thr", u.rss_kib, u.fds, u.threads)
}

#[test]
#[ignore = "long: scripts/soak.sh (SERIALMESH_SOAK_MINUTES, default 30)"]
fn soak_with_periodic_faults_leaks_nothing() {
    let total = minutes();
    let (mut rig, traffic) = start(Options::default(), SERIAL);
    let start = Instant::now();
    let mut agent = Vec::new();
    let mut client = Vec::new();
    let mut lines = vec![format!(
        "soak: {total} min, samples each minute (agent | client)"
    )];
    let mut outcomes: Vec<(&str, Outcome)> = Vec::new();
    for minute in 0..=total {
        let due = start + Duration::from_secs(60 * minute);
        sleep(due.saturating_duration_since(Instant::now()));
        let a = sample(rig.agent.pid()).expect("agent is running");
        let c = sample(rig.client.pid()).expect("client is running");
        let (to_app, to_dev) = traffic.received();
        let line = format!(
            "min {minute:>3}: agent {} | client {} | received app {to_app} B, device {to_dev} B",
            fmt(&a),
            fmt(&c)
        );
        eprintln!("{line}");
        lines.push(line);
        agent.push(a);
        client.push(c);
        if minute < total {
            outcomes.push(fault(minute, &mut rig, &traffic));
        }
    }
    let reconnects = metric(
        &rig.client_metrics().unwrap_or_default(),
        "serialmesh_endpoint_reconnects_total",
        &[],
    );
    let errors = traffic.errors();
    let sum = traffic.stop(Duration::from_secs(3));
    lines.push(format!(
        "traffic: app sent {} B, device sent {} B; lost app->device {}, device->app {}; {reconnects} reconnects",
        sum.app_sent, sum.dev_sent, sum.lost_to_dev, sum.lost_to_app
    ));
    for name in [
        "link cut 1 s",
        "link cut 10 s",
        "5% loss 20 s",
        "device replug",
        "flat-out 10 s",
    ] {
        let these: Vec<Outcome> = outcomes
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, o)| o.clone())
            .collect();
        if !these.is_empty() {
            lines.push(row(&format!("soak: {name}"), &these));
        }
    }
    let mut leaks = Vec::new();
    for (who, series) in [("agent", &agent), ("client", &client)] {
        let checks: [Check; 3] = [
            ("rss KiB", |u| u.rss_kib, 1.25, 2048.0),
            ("fds", |u| u.fds, 1.0, 2.0),
            ("threads", |u| u.threads, 1.0, 2.0),
        ];
        for (what, f, ratio, slack) in checks {
            let (ok, q2, q4) = flat(series, f, ratio, slack);
            lines.push(format!(
                "{who} {what}: 2nd quarter mean {q2:.0}, last quarter mean {q4:.0} ({})",
                if ok { "flat" } else { "GROWING" }
            ));
            if !ok {
                leaks.push(format!("{who} {what}: {q2:.0} -> {q4:.0}"));
            }
        }
    }
    emit(&lines);
    let _ = std::fs::write(
        serialmesh_tests::faults::report::path().with_file_name("soak-report.txt"),
        lines.join("\n") + "\n",
    );
    assert!(errors.is_empty(), "{errors:?}");
    assert!(leaks.is_empty(), "resources grew over the soak: {leaks:?}");
    for (name, o) in &outcomes {
        assert!(
            o.recovery <= Duration::from_secs(3),
            "soak {name}: recovered after {:?}",
            o.recovery
        );
    }
}
