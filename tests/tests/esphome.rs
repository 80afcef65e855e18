//! zwave-js itself on the agent's ESPHome endpoint (`[[esphome]]`), as a
//! user sets it up in zwave-js-ui or Home Assistant's Z-Wave JS:
//! `esphome://HOST:PORT?key=BASE64`, no `serialctl` anywhere. The stick is
//! zwave-js's mock controller on a pty (`serialmesh_tests::zwave`).

use std::time::{Duration, Instant};

use serialmesh_esphome::client::BlockingClient;
use serialmesh_tests::esphome::{esphome_toml, EsphomeKey};
use serialmesh_tests::net::{free_port, wait_listening};
use serialmesh_tests::util::temp_dir;
use serialmesh_tests::zwave::{driver, ZwaveStick};
use serialmesh_tests::{AgentBuilder, Pki, RunningAgent};

const INTERVIEW: Duration = Duration::from_secs(90);

fn cycles_ok(out: &str) -> usize {
    out.lines()
        .filter(|l| l.starts_with("CYCLE ") && l.contains(" OK "))
        .count()
}

/// An agent sharing `stick` as "zwave" with an ESPHome endpoint for these
/// clients; returns it and the endpoint's port.
fn agent_with_esphome(
    pki: &Pki,
    name: &str,
    stick: &ZwaveStick,
    clients: &[&EsphomeKey],
    extra: &str,
) -> (RunningAgent, u16) {
    let port = free_port();
    let agent = AgentBuilder::new(pki, name)
        .device("zwave", stick.path())
        .device_toml(&format!(
            "{extra}\n{}",
            esphome_toml("zwave", port, clients)
        ))
        .start();
    wait_listening(port, Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}\n{}", agent.output()));
    (agent, port)
}

#[test]
fn zwave_js_interviews_and_switches_a_node_through_the_agents_esphome_endpoint() {
    let pki = Pki::new();
    let keys = temp_dir();
    let ui = EsphomeKey::new(keys.path(), "zwave-js-ui");
    // zwave-js soft-resets the controller at start and the USB stick
    // re-enumerates: the session must carry on over it.
    let stick = ZwaveStick::start(true);
    let (agent, port) = agent_with_esphome(&pki, "esp-shed", &stick, &[&ui], "");

    let started = Instant::now();
    let zwave = driver(&ui.url(port), 4);
    zwave
        .wait_for_output("CYCLES DONE", INTERVIEW)
        .unwrap_or_else(|e| panic!("{e}\n{}\n{}", zwave.output(), agent.output()));
    let out = zwave.output();
    assert!(
        out.contains("DRIVER READY homeId=7e570001 ownNodeId=1 nodes=1,2,3"),
        "{out}"
    );
    assert_eq!(cycles_ok(&out), 4, "{out}");
    assert!(!out.contains("DRIVER ERROR"), "{out}");
    assert!(stick.replugs() >= 1, "no soft reset seen:\n{out}");
    assert!(
        !stick.emulator_output().contains("skipped stray byte"),
        "the controller saw corrupted bytes:\n{}",
        stick.emulator_output()
    );
    let log = agent.output();
    assert!(log.contains("client=zwave-js-ui"), "{log}");
    assert!(log.contains("device is back; session goes on"), "{log}");
    // The stick's home id, learnt from zwave-js's traffic, is in the
    // DeviceInfo the next client gets.
    let key = ui.key_bytes();
    let next = BlockingClient::connect(([127, 0, 0, 1], port).into(), &key, INTERVIEW)
        .unwrap_or_else(|e| panic!("{e}\n{}", agent.output()));
    assert_eq!(next.device_info.zwave_home_id, 0x7e57_0001);
    eprintln!(
        "zwave-js over esphome://: interview and 4 switch cycles in {:?}",
        started.elapsed()
    );
}

#[test]
fn a_wrong_key_is_refused_and_logged_and_zwave_js_reports_the_handshake_failure() {
    let pki = Pki::new();
    let keys = temp_dir();
    let ui = EsphomeKey::new(keys.path(), "zwave-js-ui");
    let stick = ZwaveStick::start(false);
    let (agent, port) = agent_with_esphome(&pki, "esp-door", &stick, &[&ui], "");
    let stranger = EsphomeKey::new(&keys.path().join(".."), "stranger-on-the-lan");

    let zwave = driver(&stranger.url(port), 1);
    agent
        .wait_for_output(
            "ESPHome client refused: no valid key",
            Duration::from_secs(30),
        )
        .unwrap_or_else(|e| panic!("{e}\n{}", zwave.output()));
    zwave
        .wait_for_output("Handshake MAC failure", Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("{e}\n{}\n{}", zwave.output(), agent.output()));
    let log = agent.output();
    // The refusal names no client: the stranger's key matched none.
    let line = log
        .lines()
        .find(|l| l.contains("no valid key"))
        .expect("refusal line");
    assert!(!line.contains("zwave-js-ui"), "{line}");
    assert!(!log.contains("session started"), "{log}");
    let _ = std::fs::remove_file(&stranger.path);
}

#[test]
fn a_second_client_is_told_the_stick_is_busy_while_the_first_holds_it() {
    let pki = Pki::new();
    let keys = temp_dir();
    let ui = EsphomeKey::new(keys.path(), "zwave-js-ui");
    let ha = EsphomeKey::new(keys.path(), "home-assistant");
    let stick = ZwaveStick::start(false);
    let (agent, port) = agent_with_esphome(&pki, "esp-barn", &stick, &[&ui, &ha], "");

    let first = driver(&ui.url(port), 60);
    first
        .wait_for_output("CYCLE 2 ", INTERVIEW)
        .unwrap_or_else(|e| panic!("{e}\n{}\n{}", first.output(), agent.output()));
    let second = driver(&ha.url(port), 1);
    // zwave-js has no field for "busy": feature flags 0 is the refusal it
    // reports, and the agent's log says why.
    second
        .wait_for_output(
            "does not support Z-Wave proxy functionality",
            Duration::from_secs(30),
        )
        .unwrap_or_else(|e| panic!("{e}\n{}\n{}", second.output(), agent.output()));
    let log = agent.output();
    let refusal = log
        .lines()
        .find(|l| l.contains("refused the device to the ESPHome client"))
        .unwrap_or_else(|| panic!("no refusal logged:\n{log}"));
    assert!(refusal.contains("client=home-assistant"), "{refusal}");
    assert!(
        refusal.contains("in use by client 'zwave-js-ui'"),
        "{refusal}"
    );
    // The holder is not disturbed.
    let seen = first
        .output()
        .lines()
        .filter(|l| l.starts_with("CYCLE "))
        .count();
    first
        .wait_for_output(&format!("CYCLE {} ", seen + 3), Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("{e}\n{}", first.output()));
    let out = first.output();
    assert!(!out.contains("DRIVER ERROR"), "{out}");
    assert!(!out.contains(" FAIL "), "{out}");
}

#[test]
fn replacing_a_clients_key_file_ends_its_live_session_and_refuses_the_old_key() {
    let pki = Pki::new();
    let keys = temp_dir();
    let ui = EsphomeKey::new(keys.path(), "zwave-js-ui");
    let stick = ZwaveStick::start(false);
    let (agent, port) = agent_with_esphome(&pki, "esp-loft", &stick, &[&ui], "");
    let old_url = ui.url(port);

    let zwave = driver(&old_url, 200);
    zwave
        .wait_for_output("CYCLE 2 ", INTERVIEW)
        .unwrap_or_else(|e| panic!("{e}\n{}\n{}", zwave.output(), agent.output()));
    let _new = ui.replaced();
    agent
        .wait_for_output(
            "was revoked (its key file changed)",
            Duration::from_secs(10),
        )
        .unwrap_or_else(|e| panic!("{e}\n{}", agent.output()));
    // zwave-js reconnects with the old key and is refused each time.
    agent
        .wait_for_output(
            "ESPHome client refused: no valid key",
            Duration::from_secs(30),
        )
        .unwrap_or_else(|e| panic!("{e}\n{}\n{}", agent.output(), zwave.output()));
    let log = agent.output();
    assert_eq!(log.matches("session started").count(), 1, "{log}");
}

#[test]
fn zwave_js_reconnects_by_itself_when_the_agent_is_killed_and_restarted() {
    let pki = Pki::new();
    let keys = temp_dir();
    let ui = EsphomeKey::new(keys.path(), "zwave-js-ui");
    let stick = ZwaveStick::start(false);
    let (mut agent, port) = agent_with_esphome(&pki, "esp-garage", &stick, &[&ui], "");

    let zwave = driver(&ui.url(port), 40);
    zwave
        .wait_for_output("CYCLE 3 ", INTERVIEW)
        .unwrap_or_else(|e| panic!("{e}\n{}\n{}", zwave.output(), agent.output()));
    // zwave-js gives up after 10 reopens 1 s apart: a restart must be
    // back well inside that.
    agent.kill();
    std::thread::sleep(Duration::from_secs(3));
    agent.restart();
    wait_listening(port, Duration::from_secs(10)).unwrap();
    zwave
        .wait_for_output("CYCLES DONE", Duration::from_secs(120))
        .unwrap_or_else(|e| panic!("{e}\n{}\n{}", zwave.output(), agent.output()));
    let out = zwave.output();
    assert!(!out.contains("DRIVER ERROR"), "the driver gave up:\n{out}");
    let tail: Vec<&str> = out.lines().filter(|l| l.starts_with("CYCLE ")).collect();
    assert_eq!(tail.len(), 40, "{out}");
    assert!(
        tail[tail.len() - 5..].iter().all(|l| l.contains(" OK ")),
        "switching did not recover after the restart:\n{out}"
    );
    assert!(
        agent.output().contains("session started"),
        "{}",
        agent.output()
    );
    let failed = tail.iter().filter(|l| !l.contains(" OK ")).count();
    eprintln!(
        "zwave-js switch cycles failed during a 3 s agent outage over esphome://: {failed} of 40"
    );
}
