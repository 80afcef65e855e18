//! Nothing lost: the reliability contract (docs/design.md "Sessions and
//! reliability") under faults, with the real binaries in network
//! namespaces and sequence-numbered traffic both ways (see
//! `serialmesh_tests::faults` for what is asserted and why).
//!
//! The default run repeats each fault a few times and keeps to about a
//! minute; `SERIALMESH_SOAK=1` (scripts/faults.sh) repeats them more and
//! adds the 60 s cut. Every test appends its rows to
//! `target/fault-report.txt`. Needs root, iproute2, nftables, faketime.

use std::io::Write;
use std::net::SocketAddr;
use std::thread::sleep;
use std::time::{Duration, Instant};

use serialmesh_tests::faults::delay::DelayRelay;
use serialmesh_tests::faults::report::{emit, row};
use serialmesh_tests::faults::rig::metric;
use serialmesh_tests::faults::{
    long_mode, run_fault, start, start_traffic, Injected, Options, Outcome, Pace, Rig, Traffic,
    AGENT, CLIENT,
};
use serialmesh_tests::mesh::PORT;
use serialmesh_tests::ScriptedDevice;

const SERIAL: Pace = Pace::Baud(115_200);
/// The contract: traffic flows again within this of the link's return.
const RECOVERY: Duration = Duration::from_secs(3);

fn reps(fast: usize, long: usize) -> usize {
    if long_mode() {
        long
    } else {
        fast
    }
}

fn nothing_restarted(back: Instant) -> Injected {
    Injected {
        back,
        agent_restarted: false,
        client_restarted: false,
        known_dev_to_app: 0,
    }
}

fn assert_recovered(fault: &str, outcomes: &[Outcome]) {
    for o in outcomes {
        assert!(
            o.recovery <= RECOVERY,
            "{fault}: traffic flowed {:?} after the link came back (contract: {RECOVERY:?})",
            o.recovery
        );
    }
}

fn client_counter(rig: &Rig, name: &str, labels: &[&str]) -> u64 {
    metric(&rig.client_metrics().expect("client metrics"), name, labels)
}

/// Stops the traffic and checks that the whole run lost exactly what the
/// faults (`outcomes`) lost: nothing before, between or after them.
fn finish(fault: &str, traffic: Traffic, outcomes: &[&Outcome], rows: &mut Vec<String>) {
    let errors = traffic.errors();
    assert!(errors.is_empty(), "{fault}: {errors:?}");
    let s = traffic.stop(Duration::from_secs(2));
    rows.push(format!(
        "  ({fault} run: app sent {} B, device sent {} B; lost app->device {}, device->app {})",
        s.app_sent, s.dev_sent, s.lost_to_dev, s.lost_to_app
    ));
    let to_dev: u64 = outcomes.iter().map(|o| o.app_to_dev.actual).sum();
    let to_app: u64 = outcomes.iter().map(|o| o.dev_to_app.actual).sum();
    assert_eq!(
        (s.lost_to_dev, s.lost_to_app),
        (to_dev, to_app),
        "{fault}: bytes lost outside the faults (app->device, device->app)"
    );
}

#[test]
fn integrity_at_serial_pace_and_flat_out() {
    let (rig, traffic) = start(Options::default(), SERIAL);
    sleep(Duration::from_secs(4));
    traffic.set_pace(Pace::Max);
    let t = Instant::now();
    let (a0, d0) = traffic.received();
    sleep(Duration::from_secs(3));
    let (a1, d1) = traffic.received();
    let secs = t.elapsed().as_secs_f64();
    traffic.set_pace(SERIAL);
    sleep(Duration::from_secs(1));
    let errors = traffic.errors();
    let sum = traffic.stop(Duration::from_secs(3));
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(
        (sum.lost_to_app, sum.lost_to_dev),
        (0, 0),
        "bytes lost without a fault"
    );

    // The client's counters agree with what the application did, byte for byte.
    let c = rig.client_metrics().expect("client metrics");
    let app_total = |dir: &str| {
        metric(
            &c,
            "serialmesh_endpoint_bytes_total",
            &[&format!("direction=\"{dir}\"")],
        )
    };
    assert_eq!(
        app_total("to_device"),
        sum.app_sent,
        "client bytes_total{{to_device}} is not what the application wrote"
    );
    assert_eq!(
        app_total("to_app"),
        sum.app_received,
        "client bytes_total{{to_app}} is not what the application received"
    );
    assert_eq!(
        metric(&c, "serialmesh_endpoint_bytes_lost_total", &[]),
        0,
        "client counted losses without a fault"
    );
    let a = rig.agent_metrics().expect("agent metrics");
    assert_eq!(metric(&a, "serialmesh_agent_bytes_lost_total", &[]), 0);
    emit(&[format!(
        "{:<27} {:>4}  115200 pace both ways, then max rate: {:.0} KiB/s device->app, \
             {:.0} KiB/s app->device; 0 lost, 0 counted",
        "none (integrity)",
        1,
        (a1 - a0) as f64 / secs / 1024.0,
        (d1 - d0) as f64 / secs / 1024.0
    )]);
}

#[test]
fn agent_and_client_killed_and_restarted() {
    let (mut rig, traffic) = start(Options::default(), SERIAL);
    let mut rows = Vec::new();
    let mut agent = Vec::new();
    for _ in 0..reps(2, 5) {
        agent.push(run_fault(
            "agent SIGKILL",
            &mut rig,
            &traffic,
            Duration::from_millis(500),
            |rig, _| {
                rig.kill_agent();
                sleep(Duration::from_millis(500));
                rig.start_agent();
                Injected {
                    agent_restarted: true,
                    ..nothing_restarted(Instant::now())
                }
            },
        ));
    }
    rows.push(row("agent SIGKILL + restart", &agent));
    let before = traffic.app_connections();
    let mut client = Vec::new();
    for _ in 0..reps(2, 5) {
        client.push(run_fault(
            "client SIGKILL",
            &mut rig,
            &traffic,
            Duration::from_millis(500),
            |rig, _| {
                rig.kill_client();
                sleep(Duration::from_millis(500));
                rig.start_client();
                Injected {
                    client_restarted: true,
                    ..nothing_restarted(Instant::now())
                }
            },
        ));
    }
    assert!(
        traffic.app_connections() > before,
        "the application never had to reconnect after the client was killed"
    );
    rows.push(row("client SIGKILL + restart", &client));
    let all: Vec<&Outcome> = agent.iter().chain(&client).collect();
    finish("kills", traffic, &all, &mut rows);
    emit(&rows);
    assert_recovered("agent SIGKILL", &agent);
    assert_recovered("client SIGKILL", &client);
}

/// A silent cut (every packet dropped) of the agent's host.
fn cut(rig: &mut Rig, traffic: &Traffic, secs: u64) -> Outcome {
    let name = format!("link cut {secs} s");
    // A cut longer than the heartbeat timeout is noticed after it.
    let detect = Duration::from_secs(secs.min(5) + 1);
    run_fault(&name, rig, traffic, detect, |rig, _| {
        rig.cut(AGENT);
        sleep(Duration::from_secs(secs));
        rig.heal(AGENT);
        nothing_restarted(Instant::now())
    })
}

#[test]
fn link_cuts() {
    let (mut rig, traffic) = start(Options::default(), SERIAL);
    let mut rows = Vec::new();
    let short: Vec<Outcome> = (0..reps(2, 5))
        .map(|_| cut(&mut rig, &traffic, 1))
        .collect();
    for o in &short {
        assert_eq!(
            (o.app_to_dev.actual, o.dev_to_app.actual),
            (0, 0),
            "a 1 s cut is shorter than the heartbeat timeout: TCP must carry it through"
        );
    }
    rows.push(row("link cut 1 s", &short));
    let long: Vec<Outcome> = (0..reps(1, 3))
        .map(|_| cut(&mut rig, &traffic, 10))
        .collect();
    rows.push(row("link cut 10 s", &long));
    let mut longest = Vec::new();
    if long_mode() {
        longest.push(cut(&mut rig, &traffic, 60));
        rows.push(row("link cut 60 s", &longest));
    }
    let all: Vec<&Outcome> = short.iter().chain(&long).chain(&longest).collect();
    finish("cuts", traffic, &all, &mut rows);
    emit(&rows);
    assert_recovered("link cut 1 s", &short);
    assert_recovered("link cut 10 s", &long);
    assert_recovered("link cut 60 s", &longest);
}

#[test]
fn lossy_and_slow_links_lose_nothing() {
    let mut rows = Vec::new();
    let (mut rig, traffic) = start(Options::default(), SERIAL);
    let reconnects = |rig: &Rig| client_counter(rig, "serialmesh_endpoint_reconnects_total", &[]);
    let r0 = reconnects(&rig);
    let hold = Duration::from_secs(reps(8, 60) as u64);
    let lossy = run_fault(
        "5% packet loss",
        &mut rig,
        &traffic,
        Duration::ZERO,
        |rig, traffic| {
            rig.lossy(AGENT, 5);
            let flowing = traffic.wait_flowing(Instant::now(), 1024, hold);
            assert!(flowing.is_some(), "no traffic through 5% packet loss");
            sleep(hold.saturating_sub(flowing.unwrap_or_default()));
            rig.heal(AGENT);
            nothing_restarted(Instant::now())
        },
    );
    assert_eq!((lossy.app_to_dev.actual, lossy.dev_to_app.actual), (0, 0));
    assert_eq!(reconnects(&rig), r0, "the tunnel dropped under 5% loss");
    rows.push(row("5% packet loss (nft)", std::slice::from_ref(&lossy)));
    finish("loss", traffic, &[&lossy], &mut rows);
    drop(rig);

    // 100 ms each way through a relay in the client's namespace.
    let mut device = ScriptedDevice::start();
    let mut rig = {
        // The relay needs the LAN, which the rig makes: start once to learn
        // the namespace, then point the client at the relay.
        let mut rig = Rig::start(&mut device, Options::default());
        let target = SocketAddr::from((rig.lan.ip(AGENT), PORT));
        let relay = DelayRelay::start(&rig.lan.host(CLIENT).ns, target, Duration::from_millis(100));
        rig.kill_client();
        rig.set_agent(relay.addr);
        rig.start_client();
        rig
    };
    let traffic = start_traffic(&rig, device, SERIAL);
    let slow = run_fault(
        "100 ms delay",
        &mut rig,
        &traffic,
        Duration::ZERO,
        |_, traffic| {
            let t = Instant::now();
            let flowing = traffic.wait_flowing(t, 1024, Duration::from_secs(10));
            assert!(flowing.is_some(), "no traffic through a 100 ms delay");
            sleep(Duration::from_secs(reps(5, 60) as u64));
            nothing_restarted(Instant::now())
        },
    );
    assert_eq!((slow.app_to_dev.actual, slow.dev_to_app.actual), (0, 0));
    assert_eq!(reconnects(&rig), 0, "the tunnel dropped with 100 ms delay");
    rows.push(row("100 ms delay (relay)", std::slice::from_ref(&slow)));
    rows.push("  (tc netem: blocked, this kernel has no sch_netem; loss by nft numgen, delay by a userspace relay)".into());
    finish("delay", traffic, &[&slow], &mut rows);
    emit(&rows);
}

#[test]
fn device_unplugged_and_replugged_mid_stream() {
    let (mut rig, traffic) = start(Options::default(), SERIAL);
    let mut outcomes = Vec::new();
    for _ in 0..reps(2, 5) {
        let link = rig.device_link();
        outcomes.push(run_fault(
            "device unplug",
            &mut rig,
            &traffic,
            Duration::from_millis(500),
            |_, traffic| {
                let known = traffic.unplug();
                sleep(Duration::from_secs(2));
                let mut device = ScriptedDevice::start();
                device.link(&link).expect("relink device");
                traffic.plug(device);
                Injected {
                    known_dev_to_app: known,
                    ..nothing_restarted(Instant::now())
                }
            },
        ));
    }
    let mut rows = vec![row("device unplug 2 s + replug", &outcomes)];
    let all: Vec<&Outcome> = outcomes.iter().collect();
    finish("unplug", traffic, &all, &mut rows);
    emit(&rows);
    assert_recovered("device unplug", &outcomes);
}

#[test]
fn wall_clock_jumps_on_either_host_change_nothing() {
    let opts = Options {
        faketime: true,
        ..Options::default()
    };
    let (mut rig, traffic) = start(opts, SERIAL);
    let mut rows = Vec::new();
    for (host, offset, label) in [
        (AGENT, "+3650d", "agent clock +10 years"),
        (AGENT, "-3650d", "agent clock -10 years"),
        (CLIENT, "+3650d", "client clock +10 years"),
        (CLIENT, "-7300d", "client clock -20 years"),
    ] {
        let o = run_fault(label, &mut rig, &traffic, Duration::ZERO, |rig, _| {
            rig.set_clock(host, offset);
            sleep(Duration::from_secs(2));
            nothing_restarted(Instant::now())
        });
        assert_eq!(
            (o.app_to_dev.actual, o.dev_to_app.actual),
            (0, 0),
            "{label}"
        );
        rows.push(row(label, &[o]));
    }
    // The jump reached the agent: a refused connection is logged in 2016.
    rig.set_clock(AGENT, "-3650d");
    let mark = rig.agent.mark();
    let target = SocketAddr::from((rig.lan.ip(AGENT), PORT));
    let probe = rig.lan.connect_tcp(CLIENT, target, Duration::from_secs(5));
    (&probe).write_all(b"not tls\r\n\r\n").ok();
    drop(probe);
    let line = rig
        .agent
        .wait_for_output_after(mark, "handshake", Duration::from_secs(10))
        .unwrap();
    assert!(line.contains("2016-"), "agent clock not moved: {line}");
    assert_eq!(
        client_counter(&rig, "serialmesh_endpoint_reconnects_total", &[]),
        0,
        "a clock jump broke the tunnel"
    );
    // Each jump lost nothing (asserted above), so neither may the run.
    finish("clock", traffic, &[], &mut rows);
    emit(&rows);
}

#[test]
fn agent_with_a_read_only_config_directory_starts_and_serves() {
    let opts = Options {
        read_only_config: true,
        ..Options::default()
    };
    let (mut rig, traffic) = start(opts, SERIAL);
    let dir = rig.config_dir().to_path_buf();
    let mountinfo =
        std::fs::read_to_string(format!("/proc/{}/mountinfo", rig.agent.pid())).unwrap();
    let mount = mountinfo
        .lines()
        .find(|l| l.split(' ').nth(4) == Some(dir.to_str().unwrap()))
        .unwrap_or_else(|| {
            panic!(
                "{} is not a mount point for the agent:\n{mountinfo}",
                dir.display()
            )
        });
    assert!(
        mount
            .split(' ')
            .nth(5)
            .unwrap_or("")
            .split(',')
            .any(|o| o == "ro"),
        "not read-only: {mount}"
    );
    let restart = run_fault(
        "agent restart, read-only config",
        &mut rig,
        &traffic,
        Duration::from_millis(500),
        |rig, _| {
            rig.kill_agent();
            rig.start_agent();
            Injected {
                agent_restarted: true,
                ..nothing_restarted(Instant::now())
            }
        },
    );
    let mut rows = vec![row(
        "read-only config, restart",
        std::slice::from_ref(&restart),
    )];
    finish("read-only", traffic, &[&restart], &mut rows);
    emit(&rows);
    assert_recovered("read-only config", &[restart]);
}
