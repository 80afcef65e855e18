//! An agent's name and zone are the ones its certificate carries
//! (docs/threat-model.md, "A rogue agent").
//!
//! A compromised box holding any valid agent certificate must not be able
//! to answer as another agent: `seriald` refuses to start with a config
//! that disagrees with its certificate, and clients compare every Hello,
//! Inventory and Opened with the verified certificate. Since a rogue is not
//! bound to run our `seriald`, it is played by a raw TLS server
//! (`serialmesh_tests::rogue`) that presents a valid agent certificate and
//! says what the test wants.

use std::io::Write;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serialmesh_tests::net::echo_ok;
use serialmesh_tests::rogue::{Rogue, Says};
use serialmesh_tests::{
    bins, AgentBuilder, ConnectBuilder, EchoDevice, Pki, ProcBuilder, TlsPaths,
};

const T: Duration = Duration::from_secs(20);

#[test]
fn a_client_refuses_an_agent_whose_hello_names_another_agent_than_its_certificate() {
    let pki = Pki::new();
    let rogue = Rogue::start(&pki.agent("garage", "garage"), "shed");
    let client = ConnectBuilder::new("zwave@shed", rogue.addr, &pki.client("gw")).start();
    let _app = client.connect();
    let line = client
        .wait_for_output("but its certificate", T)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        line.contains(&format!(
            "refused agent {}: its hello says agent 'shed' in zone 'shed', but its certificate (fingerprint spki:",
            rogue.addr
        )),
        "{line}"
    );
    assert!(
        line.contains("says agent 'garage' in zone 'garage'"),
        "{line}"
    );
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !rogue.opened.load(Ordering::SeqCst),
        "the rogue was asked to open the device"
    );
}

#[test]
fn a_truthful_agent_of_another_name_at_a_fixed_address_does_not_get_the_session() {
    let pki = Pki::new();
    let device = EchoDevice::start();
    // The garage box answers at the address the gateway was given for the
    // shed (a reused DHCP lease, a spoofed name), and says who it is.
    let garage = AgentBuilder::new(&pki, "garage")
        .device("zwave", device.path())
        .start();
    let client = ConnectBuilder::new("zwave@shed", garage.addr, &pki.client("gw")).start();
    let mut app = client.connect();
    app.write_all(b"unlock the front door").unwrap();
    let line = client
        .wait_for_output("a fixed agent address must lead to", T)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        line.contains(&format!(
            "refused agent {} for zwave@shed: its certificate (fingerprint spki:",
            garage.addr
        )),
        "{line}"
    );
    assert!(
        line.contains("says agent 'garage' in zone 'garage', not 'shed'"),
        "{line}"
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(device.bytes_read(), 0, "the garage's device got the bytes");
    assert!(
        !garage.output().contains("session started"),
        "{}",
        garage.output()
    );
}

#[test]
fn an_agent_reporting_a_peer_on_loopback_cannot_make_the_client_knock_out_its_own_gateway() {
    let pki = Pki::new();
    let port = serialmesh_tests::net::free_port();
    // A garage box (valid certificate, truthful name) whose peer list
    // points at the client's own endpoint.
    let rogue = Rogue::reporting_peers(
        &pki.agent("garage", "garage"),
        "garage",
        &[format!("127.0.0.1:{port}"), format!("0.0.0.0:{port}")],
    );
    let client = ConnectBuilder::new("zwave@garage", rogue.addr, &pki.client("gw"))
        .agent(None)
        .seeds(&[rogue.addr])
        .port(port)
        .start();
    let mut app = client.connect();
    app.write_all(b"hello").unwrap();
    client.wait_for_output("tunnel up", T).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        !client.output().contains("replaces the previous one"),
        "the survey connected to the client's own endpoint:\n{}",
        client.output()
    );
}

#[test]
fn text_in_an_agents_inventory_reaches_the_terminal_escaped() {
    let pki = Pki::new();
    let says = Says {
        serial: Some("Z-Stick\u{1b}[2J\u{1b}[H\nforged line".into()),
        ..Says::default()
    };
    let rogue = Rogue::saying(&pki.agent("garage", "garage"), "garage", says);
    let gw = pki.client("gw");
    let (code, out, err) = ProcBuilder::new(bins::serialctl())
        .args(["ls", "--seed"])
        .arg(rogue.addr.to_string())
        .arg("--cert")
        .arg(&gw.cert)
        .arg("--key")
        .arg(&gw.key)
        .arg("--ca")
        .arg(&gw.ca)
        .label("serialctl-ls")
        .run_to_end(T);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        !out.contains('\u{1b}') && !err.contains('\u{1b}'),
        "{out:?}"
    );
    assert!(out.contains("Z-Stick\\u{1b}[2J"), "{out}");
    assert!(!out.lines().any(|l| l.starts_with("forged line")), "{out}");
}

#[test]
fn a_rogue_listed_first_in_the_seeds_is_refused_and_the_real_agent_serves() {
    let pki = Pki::new();
    let device = EchoDevice::start();
    let real = AgentBuilder::new(&pki, "shed")
        .zone("shed")
        .device("zwave", device.path())
        .start();
    let rogue = Rogue::start(&pki.agent("garage", "garage"), "shed");
    let client = ConnectBuilder::new("zwave@shed", real.addr, &pki.client("gw"))
        .seeds(&[rogue.addr, real.addr])
        .start();
    echo_ok(&mut client.connect(), b"the real shed");
    client.wait_for_output("but its certificate", T).unwrap();
    assert!(
        !rogue.opened.load(Ordering::SeqCst),
        "the rogue was asked to open the device"
    );
}

#[test]
fn two_agents_presenting_one_name_with_different_keys_are_an_ambiguity_that_lists_both() {
    let pki = Pki::new();
    let (d1, d2) = (EchoDevice::start(), EchoDevice::start());
    let first = AgentBuilder::new(&pki, "shed")
        .zone("shed")
        .device("zwave", d1.path())
        .start();
    // The same name issued again (a second box given the shed's name).
    let out = pki.dir().join("second-shed");
    let (code, stdout, stderr) = ProcBuilder::new(bins::serialctl())
        .args([
            "pki", "issue", "--role", "agent", "--name", "shed", "--zone", "shed", "--dir",
        ])
        .arg(pki.ca_dir())
        .arg("--out")
        .arg(&out)
        .label("serialctl-pki-issue")
        .run_to_end(T);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let second = AgentBuilder::new(&pki, "shed")
        .zone("shed")
        .tls(TlsPaths {
            cert: out.join("shed.pem"),
            key: out.join("shed.key"),
            ca: out.join("ca.pem"),
        })
        .device("zwave", d2.path())
        .start();
    let gw = pki.client("gw");
    let (code, out, err) = ProcBuilder::new(bins::serialctl())
        .args([
            "ls",
            "--seed",
            &first.addr.to_string(),
            "--seed",
            &second.addr.to_string(),
        ])
        .args([
            "--cert".as_ref(),
            gw.cert.as_os_str(),
            "--key".as_ref(),
            gw.key.as_os_str(),
        ])
        .arg("--ca")
        .arg(&gw.ca)
        .arg("--json")
        .label("serialctl-ls")
        .run_to_end(T);
    assert_eq!(code, 0, "{out}{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    let sheds: Vec<&serde_json::Value> = doc["agents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["name"] == "shed")
        .collect();
    assert_eq!(sheds.len(), 2, "both agents are listed: {out}");
    assert_ne!(sheds[0]["fingerprint"], sheds[1]["fingerprint"]);

    let client = ConnectBuilder::new("zwave@shed", first.addr, &gw)
        .seeds(&[first.addr, second.addr])
        .start();
    let _app = client.connect();
    let line = client
        .wait_for_output("agents present the name 'shed' with different keys", T)
        .unwrap();
    for agent in [&first, &second] {
        let fp = Pki::fingerprint(&agent.tls.cert);
        assert!(
            line.contains(&format!("shed in zone shed at {} (key {fp})", agent.addr)),
            "{line}"
        );
    }
}

#[test]
fn an_agent_whose_config_names_another_agent_than_its_certificate_stops_with_both_names() {
    let pki = Pki::new();
    let agent = AgentBuilder::new(&pki, "shed")
        .tls(pki.agent("garage", "garage"))
        .spawn();
    let status = agent.wait_exit(T).expect("the agent must stop");
    assert_eq!(status.code(), Some(2), "{}", agent.output());
    let err = agent.stderr();
    assert!(
        err.contains(&format!(
            "{}:1:8: name = \"shed\", but the agent certificate {} says agent 'garage'",
            agent.config_path().display(),
            agent.tls.cert.display()
        )),
        "{err}"
    );
    assert!(
        err.contains("serialctl pki issue --role agent --name shed --zone garage"),
        "{err}"
    );
}

#[test]
fn a_zone_that_a_certificate_without_zone_does_not_give_stops_the_agent_with_how_to_reissue() {
    let pki = Pki::new();
    let agent = AgentBuilder::new(&pki, "barn")
        .tls(pki.issue(serialmesh_tests::Role::Agent, "barn", None, None))
        .zone("farm")
        .spawn();
    let status = agent.wait_exit(T).expect("the agent must stop");
    assert_eq!(status.code(), Some(2), "{}", agent.output());
    let err = agent.stderr();
    assert!(
        err.contains("zone = \"farm\", but the agent certificate")
            && err.contains("says no zone, which makes the zone its name 'barn'"),
        "{err}"
    );
    assert!(err.contains("--name barn --zone farm"), "{err}");
}

#[test]
fn an_agent_without_name_or_zone_in_its_config_is_who_its_certificate_says() {
    let pki = Pki::new();
    let device = EchoDevice::start();
    let agent = AgentBuilder::new(&pki, "loft")
        .zone("attic")
        .identity_from_certificate()
        .device("zwave", device.path())
        .start();
    agent.wait_for_output("agent=loft zone=attic", T).unwrap();
    let client = ConnectBuilder::new("zwave@attic", agent.addr, &pki.client("gw")).start();
    echo_ok(&mut client.connect(), b"named by its certificate");
}
