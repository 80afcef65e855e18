//! zwave-js itself on the agent's ESPHome endpoint (`[[esphome]]`), as a
//! user sets it up in zwave-js-ui or Home Assistant's Z-Wave JS:
//! `esphome://HOST:PORT?key=BASE64`, no `serialctl` anywhere. The stick is
//! zwave-js's mock controller on a pty (`serialmesh_tests::zwave`).

use std::time::{Duration, Instant};

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
    eprintln!(
        "zwave-js over esphome://: interview and 4 switch cycles in {:?}",
        started.elapsed()
    );
}
