//! The agent's ESPHome endpoint against an attacker on the LAN: without a
//! key, with a revoked key, and flooding handshakes. The client here is the
//! protocol's other side from the agent crate (what zwave-js does, step by
//! step), so a test can stop where zwave-js never would.

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serialmesh_esphome::client::BlockingClient;
use serialmesh_tests::esphome::{echo_through as echo, esphome_agent, EsphomeKey};
use serialmesh_tests::net::connect_from;
use serialmesh_tests::util::temp_dir;
use serialmesh_tests::{EchoDevice, Pki, RunningAgent};

const WAIT: Duration = Duration::from_secs(10);

fn agent(
    pki: &Pki,
    device: &EchoDevice,
    clients: &[&EsphomeKey],
    top: &str,
    extra: &str,
) -> (RunningAgent, SocketAddr) {
    esphome_agent(pki, "esp-lab", device, clients, top, extra)
}

#[test]
fn handshakes_held_open_from_one_address_do_not_lock_out_a_client_with_a_key() {
    let pki = Pki::new();
    let keys = temp_dir();
    let ui = EsphomeKey::new(keys.path(), "zwave-js-ui");
    let device = EchoDevice::start();
    let (agent, addr) = agent(
        &pki,
        &device,
        &[&ui],
        "",
        "[limits]\nmax_pending = 8\nhandshake_timeout = 30.0",
    );

    // An attacker without a key opens many handshakes and never finishes
    // them (client hello, then silence), more than max_pending.
    let attacker: IpAddr = [127, 0, 0, 2].into();
    let mut held: Vec<TcpStream> = Vec::new();
    for _ in 0..40 {
        let mut s = connect_from(attacker, addr).unwrap();
        s.write_all(&[1, 0, 0]).unwrap();
        held.push(s);
    }
    let started = Instant::now();
    let mut c = BlockingClient::connect(addr, &ui.key_bytes(), WAIT)
        .unwrap_or_else(|e| panic!("locked out: {e}\n{}", agent.output()));
    assert!(c.has_device(), "{}", agent.output());
    echo(&mut c, b"\x01\x03\x00\x15\xe9");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    agent
        .wait_for_output("too many pending ESPHome handshakes", WAIT)
        .unwrap();
}

#[test]
fn a_flood_of_wrong_keys_is_refused_alike_logged_sparingly_and_the_holder_carries_on() {
    let pki = Pki::new();
    let keys = temp_dir();
    let ui = EsphomeKey::new(keys.path(), "zwave-js-ui");
    let device = EchoDevice::start();
    let (agent, addr) = agent(&pki, &device, &[&ui], "", "");
    let mut holder = BlockingClient::connect(addr, &ui.key_bytes(), WAIT).unwrap();
    assert!(holder.has_device());

    let mut answers = std::collections::BTreeSet::new();
    for i in 0..200u8 {
        let mut key = [i; 32];
        key[0] ^= 0x5a;
        match BlockingClient::connect(addr, &key, WAIT) {
            Ok(_) => panic!("a wrong key got in"),
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
                answers.insert(e.to_string());
            }
        }
        if i % 50 == 0 {
            echo(&mut holder, &[i; 16]);
        }
    }
    // Every wrong key hears the same words: nothing tells keys apart.
    assert_eq!(
        answers.into_iter().collect::<Vec<_>>(),
        vec!["handshake refused: Handshake MAC failure".to_string()]
    );
    let log = agent.output();
    let lines = log.matches("ESPHome client refused: no valid key").count();
    assert!((1..=3).contains(&lines), "{lines} refusal lines:\n{log}");
    echo(&mut holder, b"still here");
}

#[test]
fn a_key_listed_in_the_revoked_file_ends_its_session_and_is_refused_after() {
    let pki = Pki::new();
    let keys = temp_dir();
    let ui = EsphomeKey::new(keys.path(), "zwave-js-ui");
    let revoked = keys.path().join("revoked.txt");
    std::fs::write(&revoked, "# nobody yet\n").unwrap();
    let device = EchoDevice::start();
    let (agent, addr) = agent(
        &pki,
        &device,
        &[&ui],
        &format!("revoked_file = {:?}", revoked),
        "",
    );
    let mut c = BlockingClient::connect(addr, &ui.key_bytes(), WAIT).unwrap();
    echo(&mut c, b"before");

    // The fingerprint an operator revokes is the one the agent logs.
    let log = agent.output();
    let fp = log
        .lines()
        .find(|l| l.contains("ESPHome client key in force") && l.contains("client=zwave-js-ui"))
        .and_then(|l| l.split("key=").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no key fingerprint logged:\n{log}"))
        .to_string();
    assert!(fp.starts_with("spki:"), "{fp}");
    std::fs::write(&revoked, format!("{fp}  # zwave-js-ui's ESPHome key\n")).unwrap();

    // The live session ends: the agent says goodbye and closes.
    let mut buf = [0u8; 16];
    let ended = c.read(&mut buf);
    assert!(matches!(ended, Ok(0) | Err(_)), "{ended:?}");
    agent.wait_for_output("has been revoked", WAIT).unwrap();
    let again = BlockingClient::connect(addr, &ui.key_bytes(), WAIT)
        .err()
        .unwrap();
    assert_eq!(
        again.to_string(),
        "handshake refused: Handshake MAC failure"
    );
    agent
        .wait_for_output("ESPHome client's key is revoked", WAIT)
        .unwrap();
}

#[test]
fn allow_rules_apply_to_esphome_clients_by_name() {
    let pki = Pki::new();
    let keys = temp_dir();
    let ui = EsphomeKey::new(keys.path(), "zwave-js-ui");
    let guest = EsphomeKey::new(keys.path(), "guest");
    let device = EchoDevice::start();
    let rules = "[[allow]]\nclients = [\"zwave-js-ui\"]\ndevices = [\"echo\"]";
    let (agent, addr) = agent(&pki, &device, &[&ui, &guest], "", rules);

    let g = BlockingClient::connect(addr, &guest.key_bytes(), WAIT).unwrap();
    assert!(!g.has_device(), "guest was given the device");
    let log = agent
        .wait_for_output("refused the device to the ESPHome client", WAIT)
        .unwrap();
    let line = log
        .lines()
        .find(|l| l.contains("refused the device"))
        .unwrap();
    assert!(line.contains("client=guest"), "{line}");
    assert!(line.contains("has no [[allow]] rule"), "{line}");
    let mut c = BlockingClient::connect(addr, &ui.key_bytes(), WAIT).unwrap();
    assert!(c.has_device());
    echo(&mut c, b"allowed");
}

/// A second, independent client of the protocol: Home Assistant's
/// aioesphomeapi (PyPI; scripts/install-test-deps.sh installs it). It sends
/// its client hello and first handshake message at once, where zwave-js
/// waits for the server hello in between.
#[test]
fn home_assistants_aioesphomeapi_connects_reads_device_info_and_exchanges_a_frame() {
    let python = serialmesh_tests::tools::require("python3", "apt-get install python3");
    let pki = Pki::new();
    let keys = temp_dir();
    let ha = EsphomeKey::new(keys.path(), "home-assistant");
    let device = EchoDevice::start();
    let (agent, addr) = agent(&pki, &device, &[&ha], "", "");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("py/esphome_client.py");
    let (code, out, err) = serialmesh_tests::ProcBuilder::new(python)
        .arg(script)
        .arg("127.0.0.1")
        .arg(addr.port().to_string())
        .arg(&ha.base64)
        .label("aioesphomeapi")
        .run_to_end(Duration::from_secs(60));
    assert!(
        !out.contains("No module named 'aioesphomeapi'") && !err.contains("No module named"),
        "aioesphomeapi is missing: pip install aioesphomeapi (scripts/install-test-deps.sh)\n{err}"
    );
    assert_eq!(code, 0, "{out}{err}\n{}", agent.output());
    assert!(
        out.contains("DEVICE INFO name=esp-lab-echo flags=1"),
        "{out}"
    );
    assert!(out.contains("ECHO OK"), "{out}");
    assert!(
        agent.output().contains("client=home-assistant"),
        "{}",
        agent.output()
    );
}

/// NNpsk0's first message can be replayed: a LAN attacker who recorded a
/// client's handshake gets an answer, but no session key, so it can say
/// nothing more. Such a connection is closed when no sealed message comes
/// within the handshake timeout, as a failed handshake, not the client's.
#[test]
fn a_replayed_handshake_is_answered_but_closed_within_the_handshake_timeout() {
    use serialmesh_esphome::{frame, noise};
    let pki = Pki::new();
    let keys = temp_dir();
    let ui = EsphomeKey::new(keys.path(), "zwave-js-ui");
    let device = EchoDevice::start();
    let (agent, addr) = agent(
        &pki,
        &device,
        &[&ui],
        "",
        "[limits]\nhandshake_timeout = 1.0",
    );
    // What the attacker recorded: the client hello and first message.
    let (first, _) = noise::initiate(&ui.key_bytes(), &[]).unwrap();
    let mut recorded = Vec::new();
    frame::put(&mut recorded, &[]);
    frame::put(&mut recorded, &first);

    let mut replays: Vec<TcpStream> = (0..5)
        .map(|_| {
            let mut s = TcpStream::connect(addr).unwrap();
            s.write_all(&recorded).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            s
        })
        .collect();
    let started = Instant::now();
    for s in &mut replays {
        let mut got = Vec::new();
        // Server hello and handshake answer, then the close.
        let r = s.read_to_end(&mut got);
        assert!(r.is_ok(), "not closed: {r:?}\n{}", agent.output());
        assert!(got.len() > 3 + 32, "no handshake answer: {got:?}");
    }
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    agent
        .wait_for_output("no message sealed with the session's keys", WAIT)
        .unwrap();
    assert!(
        !agent.output().contains("client=zwave-js-ui peer"),
        "a replay was taken for the client:\n{}",
        agent.output()
    );
    let mut c = BlockingClient::connect(addr, &ui.key_bytes(), WAIT).unwrap();
    echo(&mut c, b"after the replays");
}

/// Revocation by client name: a reload that no longer allows the client
/// ends its live session, as for a certificate name.
#[test]
fn withdrawing_the_clients_allow_rule_on_reload_ends_its_session() {
    let pki = Pki::new();
    let keys = temp_dir();
    let ui = EsphomeKey::new(keys.path(), "zwave-js-ui");
    let device = EchoDevice::start();
    let rules = "[[allow]]\nclients = [\"zwave-js-ui\"]\ndevices = [\"echo\"]";
    let (agent, addr) = agent(&pki, &device, &[&ui], "", rules);
    let mut c = BlockingClient::connect(addr, &ui.key_bytes(), WAIT).unwrap();
    echo(&mut c, b"allowed");

    let config = std::fs::read_to_string(agent.config_path()).unwrap();
    let withdrawn = config.replace(
        "clients = [\"zwave-js-ui\"]",
        "clients = [\"someone-else\"]",
    );
    assert_ne!(config, withdrawn);
    std::fs::write(agent.config_path(), withdrawn).unwrap();
    let mut buf = [0u8; 8];
    assert!(matches!(c.read(&mut buf), Ok(0) | Err(_)));
    agent
        .wait_for_output(
            "client 'zwave-js-ui' may no longer open device 'echo'",
            WAIT,
        )
        .unwrap_or_else(|e| panic!("{e}\n{}", agent.output()));
    let again = BlockingClient::connect(addr, &ui.key_bytes(), WAIT).unwrap();
    assert!(!again.has_device());
}
