//! zwave-js, the driver inside zwave-js-ui, through the tunnel: it
//! interviews an emulated controller and its nodes on a pty shared by
//! `seriald`, switches a node and reads it back, and keeps its driver when
//! the agent is killed and restarted underneath it (zwave-js destroys its
//! driver after ten failed reconnects to a dropped `tcp://` port, so the
//! client endpoint must never drop it). See `serialmesh_tests::zwave`.

use std::time::{Duration, Instant};

use serialmesh_tests::mesh::tls_args;
use serialmesh_tests::net::free_port;
use serialmesh_tests::zwave::{driver, ZwaveStick};
use serialmesh_tests::{bins, AgentBuilder, ConnectBuilder, Pki, ProcBuilder};

const INTERVIEW: Duration = Duration::from_secs(90);

fn cycles_ok(out: &str) -> usize {
    out.lines()
        .filter(|l| l.starts_with("CYCLE ") && l.contains(" OK "))
        .count()
}

#[test]
fn zwave_js_interviews_the_emulated_controller_and_switches_a_node_through_the_tunnel() {
    let pki = Pki::new();
    // zwave-js soft-resets 700/800-series controllers at every start, and
    // such a USB stick then re-enumerates: the agent loses the device for
    // a second and the tunnel must bring it back under zwave-js.
    let stick = ZwaveStick::start(true);
    let agent = AgentBuilder::new(&pki, "zw-shed")
        .device("zwave", stick.path())
        .start();
    let port = free_port();
    let client = ConnectBuilder::new("zwave@zw-shed", agent.addr, &pki.client("zwave-js-ui"))
        .port(port)
        .start();

    let started = Instant::now();
    let zwave = driver(&format!("tcp://127.0.0.1:{port}"), 4);
    zwave
        .wait_for_output("ALL NODES READY", INTERVIEW)
        .unwrap_or_else(|e| panic!("{e}\n{}\n{}", zwave.output(), client.output()));
    let interview = started.elapsed();
    zwave
        .wait_for_output("CYCLES DONE", Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("{e}\n{}", zwave.output()));
    let out = zwave.output();
    assert!(
        out.contains("DRIVER READY homeId=7e570001 ownNodeId=1 nodes=1,2,3"),
        "{out}"
    );
    assert_eq!(cycles_ok(&out), 4, "{out}");
    assert!(!out.contains("DRIVER ERROR"), "{out}");
    assert!(
        !stick.emulator_output().contains("skipped stray byte"),
        "the controller saw corrupted bytes:\n{}",
        stick.emulator_output()
    );
    assert!(stick.replugs() >= 1, "no soft reset seen:\n{out}");
    eprintln!(
        "zwave-js interview through the tunnel took {interview:?} (stick re-enumerated {} time(s))",
        stick.replugs()
    );
}

#[test]
fn zwave_js_keeps_its_driver_while_the_agent_is_killed_and_restarted() {
    let pki = Pki::new();
    let stick = ZwaveStick::start(false);
    let mut agent = AgentBuilder::new(&pki, "zw-garage")
        .device("zwave", stick.path())
        .start();
    let port = free_port();
    let client = ConnectBuilder::new("zwave@zw-garage", agent.addr, &pki.client("zwave-js-ui"))
        .port(port)
        .start();

    let zwave = driver(&format!("tcp://127.0.0.1:{port}"), 40);
    zwave
        .wait_for_output("CYCLE 3 ", INTERVIEW)
        .unwrap_or_else(|e| panic!("{e}\n{}\n{}", zwave.output(), client.output()));
    // Down for longer than zwave-js waits for an ACK (1.6 s), as a slow
    // host takes to reboot its agent. The pty stays, as a stick stays
    // plugged in (the tests run as root, which the exclusive-open flag
    // the killed agent leaves behind does not stop).
    agent.kill();
    std::thread::sleep(Duration::from_secs(3));
    agent.restart();
    zwave
        .wait_for_output("CYCLES DONE", Duration::from_secs(120))
        .unwrap_or_else(|e| panic!("{e}\n{}\n{}", zwave.output(), client.output()));
    let out = zwave.output();
    assert!(!out.contains("DRIVER ERROR"), "the driver gave up:\n{out}");
    // Commands in flight during the outage may fail (zwave-js reports
    // them to the application); the last ones, long after it, must work.
    let tail: Vec<&str> = out.lines().filter(|l| l.starts_with("CYCLE ")).collect();
    assert_eq!(tail.len(), 40, "{out}");
    assert!(
        tail[tail.len() - 5..].iter().all(|l| l.contains(" OK ")),
        "switching did not recover after the restart:\n{out}"
    );
    client
        .wait_for_output("tunnel restored", Duration::from_secs(5))
        .unwrap();
    let failed = tail.iter().filter(|l| !l.contains(" OK ")).count();
    eprintln!("zwave-js switch cycles failed during a 3 s agent outage: {failed} of 40");
}

#[test]
fn zwave_js_opens_a_pty_endpoint_as_its_serial_port() {
    let pki = Pki::new();
    let stick = ZwaveStick::start(true);
    let agent = AgentBuilder::new(&pki, "zw-office")
        .device("zwave", stick.path())
        .start();
    let gw = pki.client("zwave-js-ui");
    let dir = serialmesh_tests::util::temp_dir();
    let pty = dir.path().join("ttyZWAVE");
    let client = ProcBuilder::new(bins::serialctl())
        .args(["connect", "zwave@zw-office", "--agent"])
        .arg(agent.addr.to_string())
        .arg("--pty")
        .arg(&pty)
        .args(tls_args(&gw))
        .label("serialctl-connect-pty")
        .spawn();
    assert!(
        serialmesh_tests::eventually(Duration::from_secs(20), || pty.exists()),
        "no pty at {}: {}",
        pty.display(),
        client.output()
    );

    // zwave-js opens it through node-serialport, which sets 115200 8N1 raw
    // with termios, as on a USB stick.
    let zwave = driver(pty.to_str().unwrap(), 4);
    zwave
        .wait_for_output("CYCLES DONE", INTERVIEW)
        .unwrap_or_else(|e| panic!("{e}\n{}\n{}", zwave.output(), client.output()));
    let out = zwave.output();
    assert!(out.contains("nodes=1,2,3"), "{out}");
    assert_eq!(cycles_ok(&out), 4, "{out}");
    assert!(!out.contains("DRIVER ERROR"), "{out}");
}
