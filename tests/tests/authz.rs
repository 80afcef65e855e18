//! Authorisation (DESIGN.md "Trust"): `[[allow]]` rules in the agent
//! config decide which client certificate names may see (list) and open
//! which devices; what a client may not see is not in its inventory, and a
//! refused open says "not authorised" to the client while the agent logs
//! who tried what. Without rules every client of the CA opens everything.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use serde_json::Value;
use serialmesh_tests::net::read_exact_within;
use serialmesh_tests::{
    bins, AgentBuilder, ConnectBuilder, EchoDevice, Pki, ProcBuilder, RunningAgent, TlsPaths,
};

const T: Duration = Duration::from_secs(20);

const RULES: &str = r#"
[[allow]]
clients = ["gw-*"]
devices = ["zwave"]
[[allow]]
clients = ["gw-*"]
devices = ["zigbee@az-shed"]
access = "list"
[[allow]]
clients = ["viewer"]
zones = ["az-*"]
access = "list"
"#;

fn echo_ok(stream: &mut TcpStream, probe: &[u8]) {
    stream.write_all(probe).unwrap();
    assert_eq!(read_exact_within(stream, probe.len(), T), probe);
}

/// True once the endpoint closed the application's connection (EOF or
/// reset) within `t`.
fn closed_within(stream: &mut TcpStream, t: Duration) -> bool {
    stream.set_read_timeout(Some(t)).unwrap();
    let mut b = [0u8; 16];
    match stream.read(&mut b) {
        Ok(n) => n == 0,
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

/// The devices `serialctl ls --json --seed AGENT` shows `client` on the
/// agent called `name` (other agents on mDNS are ignored).
fn listed(agent: &RunningAgent, client: &TlsPaths) -> Vec<String> {
    let (code, out, err) = ProcBuilder::new(bins::serialctl())
        .args(["ls", "--json", "--seed"])
        .arg(agent.addr.to_string())
        .arg("--cert")
        .arg(&client.cert)
        .arg("--key")
        .arg(&client.key)
        .arg("--ca")
        .arg(&client.ca)
        .label("serialctl-ls")
        .run_to_end(T);
    assert_eq!(code, 0, "ls: {out}{err}");
    let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let agents = doc["agents"].as_array().unwrap();
    let me = agents
        .iter()
        .find(|a| a["name"] == agent.name())
        .unwrap_or_else(|| panic!("agent {} not in ls output: {out}", agent.name()));
    let mut names: Vec<String> = me["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

/// The agent's log line for a refused open, which must name the client
/// and the device.
fn assert_refusal_logged(agent: &RunningAgent, client: &str, device: &str) {
    let line_ok = |out: &str| {
        out.lines().any(|l| {
            l.contains("refused to open: not authorised")
                && l.contains(&format!("client={client}"))
                && l.contains(&format!("device={device}"))
        })
    };
    assert!(
        serialmesh_tests::eventually(T, || line_ok(&agent.output())),
        "{}",
        agent.failure(&format!("no refusal line naming {client} and {device}"))
    );
}

fn connect(address: &str, agent: SocketAddr, tls: &TlsPaths) -> serialmesh_tests::RunningConnect {
    ConnectBuilder::new(address, agent, tls).start()
}

#[test]
fn rules_decide_who_opens_and_who_lists_and_refusals_name_client_and_device() {
    let pki = Pki::new();
    let (zwave, zigbee, rs232) = (EchoDevice::start(), EchoDevice::start(), EchoDevice::start());
    let agent = AgentBuilder::new(&pki, "az-shed")
        .device("zwave", zwave.path())
        .device("zigbee", zigbee.path())
        .device("rs232", rs232.path())
        .device_toml(RULES)
        .start();
    agent
        .wait_for_output("authorisation in force rules=3", T)
        .unwrap();
    let gw = pki.client("gw-1");

    // Allowed: open works.
    let client = connect("zwave@az-shed", agent.addr, &gw);
    let mut app = client.connect();
    echo_ok(&mut app, b"allowed");

    // List-only: refused with "not authorised", and the agent says who.
    let refused = connect("zigbee@az-shed", agent.addr, &gw);
    let mut app2 = refused.connect();
    assert!(closed_within(&mut app2, T), "refused connection left open");
    refused.wait_for_output("not authorised", T).unwrap();
    refused.wait_for_output("may only list it", T).unwrap();
    assert_refusal_logged(&agent, "gw-1", "zigbee");

    // Inventory: what the client may open or list, nothing else.
    assert_eq!(listed(&agent, &gw), ["zigbee", "zwave"]);
    let viewer = pki.client("viewer");
    assert_eq!(listed(&agent, &viewer), ["rs232", "zigbee", "zwave"]);
    let stranger = pki.client("stranger");
    assert_eq!(listed(&agent, &stranger), Vec::<String>::new());

    // A list-only client cannot open; a stranger neither, and an unknown
    // address lists only what the client may see.
    let v = connect("rs232@az-shed", agent.addr, &viewer);
    let mut app3 = v.connect();
    assert!(closed_within(&mut app3, T));
    v.wait_for_output("not authorised", T).unwrap();
    assert_refusal_logged(&agent, "viewer", "rs232");
    let s = connect("zwave@az-shed", agent.addr, &stranger);
    let mut app4 = s.connect();
    assert!(closed_within(&mut app4, T));
    s.wait_for_output("has no [[allow]] rule for it", T).unwrap();
    assert_refusal_logged(&agent, "stranger", "zwave");
    let u = connect("nosuch@az-shed", agent.addr, &gw);
    let _app5 = u.connect();
    u.wait_for_output("it has: zigbee@az-shed, zwave@az-shed", T)
        .unwrap();
    assert!(!u.output().contains("rs232"), "{}", u.output());

    // The allowed session was never disturbed.
    echo_ok(&mut app, b"still there");
}

#[test]
fn without_rules_every_client_opens_everything_and_the_agent_says_so() {
    let pki = Pki::new();
    let device = EchoDevice::start();
    let agent = AgentBuilder::new(&pki, "az-open")
        .device("zwave", device.path())
        .start();
    agent
        .wait_for_output(
            "no [[allow]] rules: every client certificate of the CA may list and open every device",
            T,
        )
        .unwrap();
    let client = connect("zwave@az-open", agent.addr, &pki.client("anyone"));
    let mut app = client.connect();
    echo_ok(&mut app, b"open to all");
    assert_eq!(listed(&agent, &pki.client("other")), ["zwave"]);
}

#[test]
fn sighup_reloads_rules_and_ends_sessions_they_no_longer_allow() {
    let pki = Pki::new();
    let device = EchoDevice::start();
    let agent = AgentBuilder::new(&pki, "az-hup")
        .device("zwave", device.path())
        .device_toml("[[allow]]\nclients = [\"gw\"]\ndevices = [\"*\"]\n")
        .start();
    let client = connect("zwave@az-hup", agent.addr, &pki.client("gw"));
    let mut app = client.connect();
    echo_ok(&mut app, b"before");

    let text = std::fs::read_to_string(agent.config_path()).unwrap();
    let text = text.replace("clients = [\"gw\"]", "clients = [\"other\"]");
    std::fs::write(agent.config_path(), text).unwrap();
    let mark = agent.mark();
    agent.signal(nix::sys::signal::Signal::SIGHUP);
    agent
        .wait_for_output_after(mark, "SIGHUP: reloading authorisation rules", T)
        .unwrap();
    assert!(closed_within(&mut app, T), "session outlived the rule");
    client.wait_for_output("may no longer open", T).unwrap();
    assert!(agent.is_running());
}
