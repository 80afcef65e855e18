//! Authorisation (docs/design.md "Trust"): `[[allow]]` rules in the agent
//! config decide which client certificate names may see (list) and open
//! which devices; what a client may not see is not in its inventory, and a
//! refused open says "not authorised" to the client while the agent logs
//! who tried what. Without rules every client of the CA opens everything.

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use serde_json::Value;
use serialmesh_tests::net::echo_ok;
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
    let (zwave, zigbee, rs232) = (
        EchoDevice::start(),
        EchoDevice::start(),
        EchoDevice::start(),
    );
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
    s.wait_for_output("has no [[allow]] rule for it", T)
        .unwrap();
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

/// Sends SIGHUP after `edit` rewrote the agent's config, and waits until
/// the reload is in force.
fn reload_with(agent: &RunningAgent, edit: impl FnOnce(String) -> String) {
    let text = std::fs::read_to_string(agent.config_path()).unwrap();
    std::fs::write(agent.config_path(), edit(text)).unwrap();
    let mark = agent.mark();
    agent.signal(nix::sys::signal::Signal::SIGHUP);
    agent
        .wait_for_output_after(mark, "authorisation in force", T)
        .unwrap();
}

#[test]
fn a_reload_that_drops_the_last_rule_keeps_the_rules_until_allow_everyone_says_so() {
    let pki = Pki::new();
    let device = EchoDevice::start();
    let agent = AgentBuilder::new(&pki, "az-last")
        .device("zwave", device.path())
        .device_toml("[[allow]]\nclients = [\"gw\"]\ndevices = [\"*\"]\n")
        .start();
    let gw = connect("zwave@az-last", agent.addr, &pki.client("gw"));
    let mut app = gw.connect();
    echo_ok(&mut app, b"before");
    let stranger = pki.client("stranger");

    // The rule deleted (a slip, most often): the rules stay in force.
    let mark = agent.mark();
    reload_with(&agent, |t| {
        t.replace("[[allow]]", "")
            .replace("clients = [\"gw\"]\ndevices = [\"*\"]", "")
    });
    agent
        .wait_for_output_after(
            mark,
            "the reloaded config has no [[allow]] rules; keeping the rules in force rather than open every device to every client of the CA (write allow_everyone = true to do that on purpose)",
            T,
        )
        .unwrap();
    assert_eq!(listed(&agent, &stranger), Vec::<String>::new());
    echo_ok(&mut app, b"gw keeps its session");

    // Said on purpose: every client of the CA opens everything.
    let mark = agent.mark();
    reload_with(&agent, |t| format!("allow_everyone = true\n{t}"));
    agent
        .wait_for_output_after(
            mark,
            "allow_everyone = true: every client certificate of the CA may list and open every device",
            T,
        )
        .unwrap();
    drop((app, gw));
    let s = connect("zwave@az-last", agent.addr, &stranger);
    let mut app2 = s.connect();
    echo_ok(&mut app2, b"now open to all");
}

#[test]
fn a_zone_in_a_rule_never_matches_an_agent_of_that_name_in_another_zone() {
    let pki = Pki::new();
    let device = EchoDevice::start();
    // The agent called "garage" stands in the house; the rule means the
    // zone "garage".
    let agent = AgentBuilder::new(&pki, "garage")
        .zone("house")
        .device("zwave", device.path())
        .device_toml("[[allow]]\nclients = [\"gw\"]\ndevices = [\"*@garage\"]\n[[allow]]\nclients = [\"pi-admin\"]\ndevices = [\"zwave@agent:garage\"]\n[[allow]]\nclients = [\"viewer\"]\nagents = [\"gar*\"]\naccess = \"list\"\n")
        .start();
    agent
        .wait_for_output("an [[allow]] place names this agent, not its zone", T)
        .unwrap();
    assert!(
        agent.output().contains("write 'agent:garage'"),
        "{}",
        agent.output()
    );

    let gw = connect("zwave@garage", agent.addr, &pki.client("gw"));
    let mut app = gw.connect();
    assert!(
        closed_within(&mut app, T),
        "a zone rule opened another zone's agent"
    );
    gw.wait_for_output("has no [[allow]] rule for it", T)
        .unwrap();

    let admin = connect("zwave@house", agent.addr, &pki.client("pi-admin"));
    let mut app2 = admin.connect();
    echo_ok(&mut app2, b"named by agent");
    assert_eq!(listed(&agent, &pki.client("viewer")), ["zwave"]);
}

/// Starts an agent whose config has `top` among the top-level keys and
/// `tables` after the others, and expects it to exit 2 with
/// `FILE:LINE:COLUMN: message` pointing at `needle`, and `hint`.
fn config_error(pki: &Pki, top: &str, tables: &str, needle: &str, message: &str, hint: &str) {
    let agent = AgentBuilder::new(pki, "az-bad")
        .tls(agent_tls(pki))
        .top_level_toml(top)
        .device_toml(tables)
        .spawn();
    let status = agent.wait_exit(T).expect("seriald kept running");
    assert_eq!(status.code(), Some(2), "{}", agent.output());
    let text = std::fs::read_to_string(agent.config_path()).unwrap();
    let (line, column) = text
        .lines()
        .enumerate()
        .find_map(|(i, l)| l.find(needle).map(|c| (i + 1, c + 1)))
        .unwrap_or_else(|| panic!("{needle:?} not in {text}"));
    let want = format!(
        "seriald: {}:{line}:{column}: {message}",
        agent.config_path().display()
    );
    let err = agent.stderr();
    assert!(err.contains(&want), "want {want:?}\ngot:\n{err}");
    assert!(
        err.contains(&format!("\n  hint: {hint}")),
        "want hint {hint:?}\ngot:\n{err}"
    );
}

/// One agent certificate per CA for the config error cases (`pki issue`
/// refuses to overwrite).
fn agent_tls(pki: &Pki) -> TlsPaths {
    let cert = pki.dir().join("agent-az-bad/az-bad.pem");
    if cert.exists() {
        TlsPaths {
            key: cert.with_extension("key"),
            ca: pki.dir().join("agent-az-bad/ca.pem"),
            cert,
        }
    } else {
        pki.agent("az-bad", "az-bad")
    }
}

#[test]
fn every_authorisation_config_error_names_the_place_and_the_fix() {
    let pki = Pki::new();
    config_error(
        &pki,
        "",
        "[[allow]]\ndevices = [\"zwave\"]",
        "[[allow]]",
        "[[allow]] names no clients",
        "add clients = [\"NAME\", ...] with client certificate names; \"*\" means every client",
    );
    config_error(
        &pki,
        "",
        "[[allow]]\nclients = [\"gw\"]",
        "[[allow]]",
        "[[allow]] names no devices, zones or agents",
        "add devices = [\"zwave\", \"zigbee@garage\"], zones = [\"shed\"] or agents = [\"shed-pi\"]",
    );
    config_error(
        &pki,
        "",
        "[[allow]]\nclients = [\"gw/1\"]\ndevices = [\"*\"]",
        "\"gw/1\"",
        "[[allow]] client pattern 'gw/1' contains '/'; use letters, digits, '-', '_' and the wildcards * and ?",
        "write a client certificate name, e.g. \"zwave-js-ui\" or \"gw-*\"",
    );
    config_error(
        &pki,
        "",
        "[[allow]]\nclients = [\"gw\"]\ndevices = [\"zwave@sh ed\"]",
        "\"zwave@sh ed\"",
        "[[allow]] device pattern 'zwave@sh ed' (zone part) contains ' '",
        "write NAME, NAME@ZONE or NAME@agent:AGENT, e.g. \"zwave\", \"zigbee@garage\" or \"*@agent:shed-pi\"",
    );
    config_error(
        &pki,
        "",
        "[[allow]]\nclients = [\"gw\"]\ndevices = [\"zwave@host:shed\"]",
        "\"zwave@host:shed\"",
        "[[allow]] device pattern 'zwave@host:shed' names a place of kind 'host'; a place is ZONE, zone:ZONE or agent:AGENT",
        "write NAME, NAME@ZONE or NAME@agent:AGENT",
    );
    config_error(
        &pki,
        "",
        "[[allow]]\nclients = [\"gw\"]\nagents = [\"pi 4\"]",
        "\"pi 4\"",
        "[[allow]] agent pattern 'pi 4' contains ' '",
        "write an agent name, e.g. \"shed-pi\" or \"pi-*\"",
    );
    config_error(
        &pki,
        "allow_everyone = true",
        "[[allow]]\nclients = [\"gw\"]\ndevices = [\"*\"]",
        "true",
        "allow_everyone = true contradicts the [[allow]] rules of this file",
        "remove allow_everyone to let only the [[allow]] rules grant",
    );
    config_error(
        &pki,
        "",
        "[[allow]]\nclients = [\"gw\"]\nzones = [\"sh.ed\"]",
        "\"sh.ed\"",
        "[[allow]] zone pattern 'sh.ed' contains '.'",
        "write a zone name, e.g. \"shed\" or \"lab-*\"; * and ? are wildcards; agents = [..] names agents",
    );
    config_error(
        &pki,
        "",
        "[[allow]]\nclient = [\"gw\"]\ndevices = [\"*\"]",
        "client =",
        "unknown field `client`, expected one of `clients`, `devices`, `zones`, `agents`, `access`",
        "did you mean `clients`?",
    );
    config_error(
        &pki,
        "revoked = [\"abc\"]",
        "",
        "\"abc\"",
        "revoked: invalid fingerprint \"abc\": it has 3 hex digits, not 64",
        "`serialctl pki show CERT.pem` prints a certificate's fingerprint",
    );

    // access takes one of two values; the message lists them.
    let agent = AgentBuilder::new(&pki, "az-bad")
        .tls(agent_tls(&pki))
        .device_toml("[[allow]]\nclients = [\"gw\"]\ndevices = [\"*\"]\naccess = \"admin\"")
        .spawn();
    assert_eq!(agent.wait_exit(T).and_then(|s| s.code()), Some(2));
    assert!(
        agent
            .stderr()
            .contains("unknown variant `admin`, expected `list` or `open`"),
        "{}",
        agent.output()
    );

    // The revoked file: missing, then broken.
    let dir = serialmesh_tests::util::temp_dir();
    let file = dir.path().join("revoked.txt");
    let agent = AgentBuilder::new(&pki, "az-bad")
        .tls(agent_tls(&pki))
        .top_level_toml(&format!("revoked_file = {file:?}"))
        .spawn();
    assert_eq!(agent.wait_exit(T).and_then(|s| s.code()), Some(2));
    let want = format!(
        "seriald: cannot read revoked file {}: No such file or directory (os error 2); create it (an empty file revokes nothing) or fix `revoked_file` in the agent config",
        file.display()
    );
    assert!(agent.stderr().contains(&want), "{}", agent.output());
    std::fs::write(&file, format!("spki:{}\n  nothex # x\n", "ab".repeat(32))).unwrap();
    let agent = AgentBuilder::new(&pki, "az-bad")
        .tls(agent_tls(&pki))
        .top_level_toml(&format!("revoked_file = {file:?}"))
        .spawn();
    assert_eq!(agent.wait_exit(T).and_then(|s| s.code()), Some(2));
    let want = format!(
        "seriald: {}:2:3: invalid fingerprint \"nothex\": it has 6 hex digits, not 64",
        file.display()
    );
    assert!(agent.stderr().contains(&want), "{}", agent.output());
    assert!(agent
        .stderr()
        .contains("hint: one fingerprint a line, '#' starts a comment"));
}

#[test]
fn client_side_pin_and_revoke_usage_errors_say_what_is_wrong() {
    let pki = Pki::new();
    let gw = pki.client("gw");
    let run = |args: &[&str]| {
        ProcBuilder::new(bins::serialctl())
            .args(args)
            .label("serialctl")
            .run_to_end(T)
    };
    let cert = gw.cert.to_str().unwrap();
    let key = gw.key.to_str().unwrap();
    let ca = gw.ca.to_str().unwrap();
    let tls = ["--cert", cert, "--key", key, "--ca", ca];
    let (code, _, err) = run(&[
        &[
            "connect",
            "zwave@x",
            "--agent",
            "127.0.0.1:1",
            "--tcp",
            "127.0.0.1:0",
            "--agent-fingerprint",
            "abc",
        ][..],
        &tls,
    ]
    .concat());
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("serialctl: --agent-fingerprint: invalid fingerprint \"abc\": it has 3 hex digits, not 64"), "{err}");
    let (code, _, err) = run(&[
        &["ls", "--seed", "127.0.0.1:1", "--agent-fingerprint", "xyz"][..],
        &tls,
    ]
    .concat());
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("serialctl: --agent-fingerprint: invalid fingerprint \"xyz\""),
        "{err}"
    );

    let dir = serialmesh_tests::util::temp_dir();
    let config = dir.path().join("client.toml");
    std::fs::write(
        &config,
        format!("[tls]\ncert = {cert:?}\nkey = {key:?}\nca = {ca:?}\n[[endpoint]]\ndevice = \"zwave\"\ntcp = \"127.0.0.1:0\"\nagent_fingerprint = \"12:34\"\n"),
    )
    .unwrap();
    let (code, _, err) = run(&["sidecar", "--config", config.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    let want = format!("serialctl: {}:8:21: agent_fingerprint: invalid fingerprint \"12:34\": with ':' separators it must be 32 pairs of hex digits", config.display());
    assert!(err.contains(&want), "{err}");
    assert!(
        err.contains("hint: `serialctl pki show AGENT.pem` prints it"),
        "{err}"
    );

    // pki revoke: a bad fingerprint, a broken file, neither target.
    let (code, _, err) = run(&[
        "pki",
        "revoke",
        "--file",
        dir.path().join("r.txt").to_str().unwrap(),
        "--fingerprint",
        "nothex",
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains("serialctl: invalid fingerprint \"nothex\""),
        "{err}"
    );
    let broken = dir.path().join("broken.txt");
    std::fs::write(&broken, "garbage\n").unwrap();
    let (code, _, err) = run(&["pki", "revoke", "--file", broken.to_str().unwrap(), cert]);
    assert_eq!(code, 2);
    assert!(
        err.contains(&format!(
            "serialctl: {}:1:1: invalid fingerprint \"garbage\"",
            broken.display()
        )),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(&broken).unwrap(),
        "garbage\n",
        "a broken file was changed"
    );
    let (code, _, err) = run(&["pki", "revoke", "--dir", dir.path().to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("<CERT.pem|--fingerprint <HEX>>"), "{err}");
}
