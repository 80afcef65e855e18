//! ESPHome sessions seen from the rest of serialmesh: `serialctl ls`
//! names the ESPHome client as the device's holder, the agent's metrics
//! count its bytes and its refusals, and a client that reconnects replaces
//! its own older session (as a restarted zwave-js does).

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

use serialmesh_esphome::client::BlockingClient;
use serialmesh_tests::esphome::{echo_through as echo, esphome_agent, EsphomeKey};
use serialmesh_tests::http::http_get;
use serialmesh_tests::mesh::tls_args;
use serialmesh_tests::net::free_port;
use serialmesh_tests::util::temp_dir;
use serialmesh_tests::{bins, EchoDevice, Pki, ProcBuilder, RunningAgent};

const WAIT: Duration = Duration::from_secs(10);

fn agent(
    pki: &Pki,
    device: &EchoDevice,
    clients: &[&EsphomeKey],
    top: &str,
) -> (RunningAgent, SocketAddr) {
    esphome_agent(pki, "esp-den", device, clients, top, "")
}

#[test]
fn serialctl_ls_names_the_esphome_client_as_the_holder() {
    let pki = Pki::new();
    let keys = temp_dir();
    let ui = EsphomeKey::new(keys.path(), "zwave-js-ui");
    let device = EchoDevice::start();
    let (agent, addr) = agent(&pki, &device, &[&ui], "");
    let mut c = BlockingClient::connect(addr, &ui.key_bytes(), WAIT).unwrap();
    echo(&mut c, b"held");

    let laptop = pki.client("laptop");
    let (code, out, err) = ProcBuilder::new(bins::serialctl())
        .args(["ls", "--json", "--seed"])
        .arg(agent.addr.to_string())
        .args(tls_args(&laptop))
        .label("serialctl-ls")
        .run_to_end(WAIT);
    assert_eq!(code, 0, "{out}{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    let device = doc["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "esp-den")
        .and_then(|a| a["devices"].as_array())
        .and_then(|d| d.iter().find(|d| d["name"] == "echo"))
        .unwrap_or_else(|| panic!("{out}"))
        .clone();
    assert_eq!(device["state"], "in_use", "{device}");
    assert_eq!(device["client"], "zwave-js-ui", "{device}");
}

#[test]
fn metrics_count_an_esphome_sessions_bytes_and_refusals_and_name_its_clients() {
    let pki = Pki::new();
    let keys = temp_dir();
    let ui = EsphomeKey::new(keys.path(), "zwave-js-ui");
    let ha = EsphomeKey::new(keys.path(), "home-assistant");
    let device = EchoDevice::start();
    let admin = free_port();
    let (_agent, addr) = agent(
        &pki,
        &device,
        &[&ui, &ha],
        &format!("admin = \"127.0.0.1:{admin}\""),
    );
    let mut c = BlockingClient::connect(addr, &ui.key_bytes(), WAIT).unwrap();
    echo(&mut c, &[0x5a; 100]);
    let busy = BlockingClient::connect(addr, &ha.key_bytes(), WAIT).unwrap();
    assert!(!busy.has_device());
    let wrong = BlockingClient::connect(addr, &[7; 32], WAIT);
    assert!(wrong.is_err());

    let (status, body) = http_get(admin, "/metrics");
    assert_eq!(status, 200, "{body}");
    let value = |needle: &str| -> f64 {
        body.lines()
            .find(|l| l.starts_with(needle))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {needle} in:\n{body}"))
    };
    assert_eq!(
        value("serialmesh_agent_bytes_total{device=\"echo\",direction=\"to_device\"}"),
        100.0
    );
    assert_eq!(
        value("serialmesh_agent_bytes_total{device=\"echo\",direction=\"to_client\"}"),
        100.0
    );
    assert_eq!(
        value("serialmesh_agent_refusals_total{reason=\"busy\"}"),
        1.0
    );
    assert_eq!(
        value("serialmesh_agent_refusals_total{reason=\"not authorised\"}"),
        1.0
    );
    assert_eq!(
        value("serialmesh_agent_sessions_active{device=\"echo\"}"),
        1.0
    );
    // Each client by its configured name; the wrong key is nobody's.
    assert_eq!(
        value("serialmesh_agent_esphome_sessions_total{client=\"zwave-js-ui\",device=\"echo\",outcome=\"granted\"}"),
        1.0
    );
    assert_eq!(
        value("serialmesh_agent_esphome_sessions_total{client=\"home-assistant\",device=\"echo\",outcome=\"refused\"}"),
        1.0
    );
    assert_eq!(
        body.matches("serialmesh_agent_esphome_sessions_total{")
            .count(),
        2,
        "{body}"
    );
}

#[test]
fn a_client_reconnecting_replaces_its_own_older_session() {
    let pki = Pki::new();
    let keys = temp_dir();
    let ui = EsphomeKey::new(keys.path(), "zwave-js-ui");
    let device = EchoDevice::start();
    let (agent, addr) = agent(&pki, &device, &[&ui], "");
    // The old connection stays open, as a half-open one after a crash.
    let mut old = BlockingClient::connect(addr, &ui.key_bytes(), WAIT).unwrap();
    echo(&mut old, b"old");
    let mut new = BlockingClient::connect(addr, &ui.key_bytes(), WAIT).unwrap();
    assert!(new.has_device(), "{}", agent.output());
    echo(&mut new, b"new");
    let mut buf = [0u8; 8];
    assert!(matches!(old.read(&mut buf), Ok(0) | Err(_)));
    agent
        .wait_for_output(
            "a newer session of client 'zwave-js-ui' took over echo",
            WAIT,
        )
        .unwrap();
}

/// A device that answers while it is still being written to (an echo
/// does, a stick acknowledges) must not stall the session: the agent
/// reads the device while a write waits for room.
#[test]
fn a_burst_larger_than_the_ttys_buffers_comes_back_whole_and_in_order() {
    let pki = Pki::new();
    let keys = temp_dir();
    let ui = EsphomeKey::new(keys.path(), "zwave-js-ui");
    let device = EchoDevice::start();
    let (agent, addr) = agent(&pki, &device, &[&ui], "");
    let mut reader = BlockingClient::connect(addr, &ui.key_bytes(), WAIT).unwrap();
    let mut writer = reader.try_clone().unwrap();
    let data = serialmesh_tests::random_bytes(256 * 1024, 17);
    let sent = data.clone();
    let started = std::time::Instant::now();
    let w = std::thread::spawn(move || {
        for chunk in sent.chunks(4096) {
            writer.write_all(chunk).unwrap();
        }
    });
    let mut back = vec![0u8; data.len()];
    reader
        .read_exact(&mut back)
        .unwrap_or_else(|e| panic!("{e} after {:?}\n{}", started.elapsed(), agent.output()));
    w.join().unwrap();
    serialmesh_tests::util::assert_same_bytes(&back, &data, "echo through the ESPHome endpoint");
}

#[test]
fn on_a_takeover_device_a_second_esphome_client_takes_the_stick_from_the_first() {
    let pki = Pki::new();
    let keys = temp_dir();
    let ui = EsphomeKey::new(keys.path(), "zwave-js-ui");
    let ha = EsphomeKey::new(keys.path(), "home-assistant");
    let device = EchoDevice::start();
    // `takeover = true` lands in the rig's [[device]] table for `echo`.
    let (agent, addr) = esphome_agent(&pki, "esp-den", &device, &[&ui, &ha], "", "takeover = true");
    let mut first = BlockingClient::connect(addr, &ui.key_bytes(), WAIT).unwrap();
    echo(&mut first, b"first");
    let mut second = BlockingClient::connect(addr, &ha.key_bytes(), WAIT).unwrap();
    assert!(second.has_device(), "{}", agent.output());
    echo(&mut second, b"second");
    let mut buf = [0u8; 8];
    assert!(matches!(first.read(&mut buf), Ok(0) | Err(_)));
    agent
        .wait_for_output(
            "client 'home-assistant' took over echo (takeover = true)",
            WAIT,
        )
        .unwrap();
}

#[test]
fn on_sigterm_the_agent_says_goodbye_to_esphome_clients_and_exits() {
    let pki = Pki::new();
    let keys = temp_dir();
    let ui = EsphomeKey::new(keys.path(), "zwave-js-ui");
    let device = EchoDevice::start();
    let (agent, addr) = agent(&pki, &device, &[&ui], "");
    let mut c = BlockingClient::connect(addr, &ui.key_bytes(), WAIT).unwrap();
    echo(&mut c, b"before");
    agent.terminate();
    // The DisconnectRequest reads as the end of the stream.
    let mut buf = [0u8; 8];
    assert_eq!(
        c.read(&mut buf)
            .unwrap_or_else(|e| panic!("{e}\n{}", agent.output())),
        0
    );
    let status = agent.wait_exit(WAIT).expect("agent did not exit");
    assert!(status.success(), "{status:?}\n{}", agent.output());
    assert!(
        agent.output().contains("reason=shutdown"),
        "{}",
        agent.output()
    );
}
