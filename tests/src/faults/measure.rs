//! One fault, measured: recovery time, bytes lost each way (as the
//! checkers found them) against bytes the binaries counted as lost, and
//! whether every loss lies in the fault's window.
//!
//! What can be asserted, and why:
//! - Never reordered, duplicated or corrupted: the checkers fail on any.
//! - Loss only around a fault: every missing byte was written between
//!   `window_before` before the fault and one second after recovery.
//! - Counted loss never exceeds real loss: a binary never claims to have
//!   dropped bytes that arrived.
//! - Uncounted loss is only what was in flight: bytes the sender wrote
//!   before the breakage could be seen (inside `detect` after the fault
//!   started) may die in kernel socket buffers, TLS records or a killed
//!   process, where no counter can see them. Everything written after the
//!   breakage was noticed is dropped by a surviving binary and counted.
//!   A killed process takes its own counters with it; its share is not
//!   compared.

use std::time::{Duration, Instant};

use super::pattern::Gap;
use super::rig::{metric, Rig};
use super::traffic::{Side, Traffic};

/// Loss in one direction during one fault.
#[derive(Clone, Copy, Debug, Default)]
pub struct Loss {
    /// Bytes the checker found missing.
    pub actual: u64,
    /// Bytes the surviving binaries counted as lost (or dropped).
    pub counted: u64,
    /// Bytes the test itself knows it destroyed (an unplugged device's
    /// queue).
    pub known: u64,
}

impl Loss {
    pub fn uncounted(&self) -> u64 {
        self.actual.saturating_sub(self.counted + self.known)
    }
}

/// The result of one fault.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub recovery: Duration,
    pub app_to_dev: Loss,
    pub dev_to_app: Loss,
}

/// What the fault does to the rig; returns when "the link is back" (the
/// instant recovery is measured from) and which processes it restarted.
pub struct Injected {
    pub back: Instant,
    pub agent_restarted: bool,
    pub client_restarted: bool,
    /// Bytes the device side lost by being unplugged (test-known).
    pub known_dev_to_app: u64,
}

/// Counters read before and after.
struct Counters {
    client_to_dev: u64,
    client_to_app: u64,
    agent_to_dev: u64,
    agent_to_client: u64,
}

fn counters(rig: &Rig) -> Counters {
    let c = rig.client_metrics().unwrap_or_default();
    let a = rig.agent_metrics().unwrap_or_default();
    let lost = "serialmesh_endpoint_bytes_lost_total";
    let alost = "serialmesh_agent_bytes_lost_total";
    Counters {
        client_to_dev: metric(&c, lost, &["direction=\"to_device\""]),
        client_to_app: metric(&c, lost, &["direction=\"to_app\""]),
        agent_to_dev: metric(&a, alost, &["direction=\"to_device\""]),
        agent_to_client: metric(&a, alost, &["direction=\"to_client\""]),
    }
}

/// Runs `inject` under traffic and checks everything the module docs list.
/// `detect`: how long after the fault starts the binaries may take to
/// notice (heartbeat timeout for a silent cut, ~0 for a killed process).
///
/// # Panics
/// On any violation, naming the fault.
pub fn run_fault(
    name: &str,
    rig: &mut Rig,
    traffic: &Traffic,
    detect: Duration,
    inject: impl FnOnce(&mut Rig, &Traffic) -> Injected,
) -> Outcome {
    assert!(
        traffic
            .wait_flowing(Instant::now(), 256, Duration::from_secs(20))
            .is_some(),
        "{name}: traffic not flowing before the fault"
    );
    let before = counters(rig);
    let (g_app, g_dev) = {
        let (a, d) = traffic.gaps();
        (a.len(), d.len())
    };
    let start = Instant::now();
    let inj = inject(rig, traffic);
    let recovery = traffic
        .wait_flowing(inj.back, 64, Duration::from_secs(30))
        .unwrap_or_else(|| {
            panic!(
                "{name}: no traffic within 30 s of recovery\n{}\n{}",
                rig.client.failure("client"),
                rig.agent.failure("agent")
            )
        });
    let recovered = inj.back + recovery;
    // Gaps are found when the next intact frame arrives: let a few through.
    std::thread::sleep(Duration::from_millis(500));
    let after = counters(rig);
    let delta = |b: u64, a: u64, restarted: bool| if restarted { a } else { a.saturating_sub(b) };
    let client_to_dev = delta(
        before.client_to_dev,
        after.client_to_dev,
        inj.client_restarted,
    );
    let client_to_app = delta(
        before.client_to_app,
        after.client_to_app,
        inj.client_restarted,
    );
    let agent_to_dev = delta(before.agent_to_dev, after.agent_to_dev, inj.agent_restarted);
    let agent_to_client = delta(
        before.agent_to_client,
        after.agent_to_client,
        inj.agent_restarted,
    );

    let errors = traffic.errors();
    assert!(errors.is_empty(), "{name}: {errors:?}");
    let (gaps_app, gaps_dev) = traffic.gaps();
    let window = (
        start - Duration::from_millis(1500),
        recovered + Duration::from_secs(1),
    );
    let app_to_dev = Loss {
        actual: check_window(
            name,
            "app->device",
            &gaps_dev[g_dev..],
            &traffic.app(),
            window,
        ),
        counted: client_to_dev + agent_to_dev,
        known: 0,
    };
    let dev_to_app = Loss {
        actual: check_window(
            name,
            "device->app",
            &gaps_app[g_app..],
            &traffic.dev(),
            window,
        ),
        counted: client_to_app + agent_to_client,
        known: inj.known_dev_to_app,
    };
    // In flight: what was written from shortly before the fault until it
    // could be noticed.
    let flight = |s: &Side| s.sent_between(start - Duration::from_millis(200), start + detect);
    let in_flight_app = flight(&traffic.app());
    let in_flight_dev = flight(&traffic.dev());
    for (dir, loss, in_flight) in [
        ("app->device", app_to_dev, in_flight_app),
        ("device->app", dev_to_app, in_flight_dev),
    ] {
        assert!(
            loss.counted + loss.known <= loss.actual,
            "{name} {dir}: counted {} (+{} known) but only {} lost",
            loss.counted,
            loss.known,
            loss.actual
        );
        assert!(
            loss.uncounted() <= in_flight + 4096,
            "{name} {dir}: {} bytes lost without being counted, more than the {} in flight \
             (actual {}, counted {}, known {})",
            loss.uncounted(),
            in_flight,
            loss.actual,
            loss.counted,
            loss.known
        );
    }
    Outcome {
        recovery,
        app_to_dev,
        dev_to_app,
    }
}

/// Every gap's bytes were written inside `window`; returns their sum.
fn check_window(
    name: &str,
    dir: &str,
    gaps: &[Gap],
    sender: &Side,
    window: (Instant, Instant),
) -> u64 {
    for g in gaps {
        let first = sender.sent_at(g.from);
        let last = sender.sent_at(g.from + g.len - 1);
        let inside = |t: Option<Instant>| t.is_some_and(|t| t >= window.0 && t <= window.1);
        assert!(
            inside(first) && inside(last),
            "{name} {dir}: {} bytes from offset {} lost outside the fault's window \
             (written {:?} .. {:?} after the window opened)",
            g.len,
            g.from,
            first.map(|t| t.saturating_duration_since(window.0)),
            last.map(|t| t.saturating_duration_since(window.0)),
        );
    }
    gaps.iter().map(|g| g.len).sum()
}
