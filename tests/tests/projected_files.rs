//! Files from ConfigMaps and Secrets change under a running pod: the
//! kubelet swaps a `..data` symlink and never touches the file the agent
//! opened (`serialmesh_tests::kubelet`). A revoked file or `[[allow]]`
//! rules updated that way take effect within a second, on the agent and on
//! the client, with no SIGHUP (a distroless pod has no shell to send one).

use std::time::{Duration, Instant};

use serialmesh_tests::kubelet::ProjectedDir;
use serialmesh_tests::net::{closed_within, echo_ok};
use serialmesh_tests::util::temp_dir;
use serialmesh_tests::{AgentBuilder, ConnectBuilder, EchoDevice, Pki};

const T: Duration = Duration::from_secs(20);
/// What "within a second" allows: the settle time of the watch (0.1 s) and
/// the reload, on a busy 2-core machine.
const PROMPTLY: Duration = Duration::from_secs(1);

#[test]
fn a_revoked_file_the_kubelet_swaps_in_ends_the_clients_session_at_the_agent() {
    let pki = Pki::new();
    let device = EchoDevice::start();
    let dir = temp_dir();
    let mut secret = ProjectedDir::new(dir.path(), &[("revoked.txt", b"# nobody yet\n")]);
    let agent = AgentBuilder::new(&pki, "shed")
        .device("zwave", device.path())
        .top_level_toml(&format!("revoked_file = {:?}", secret.path("revoked.txt")))
        .start();
    let gw = pki.client("gw");
    let client = ConnectBuilder::new("zwave@shed", agent.addr, &gw).start();
    let mut app = client.connect();
    echo_ok(&mut app, b"before");

    let fp = Pki::fingerprint(&gw.cert);
    let mark = agent.mark();
    let swapped = Instant::now();
    secret.update(&[("revoked.txt", format!("{fp}  # client 'gw'\n").as_bytes())]);
    agent
        .wait_for_output_after(
            mark,
            &format!("certificate revoked; refusing it from now on fingerprint={fp}"),
            T,
        )
        .unwrap();
    let took = swapped.elapsed();
    assert!(took < PROMPTLY, "the revocation took {took:?}");
    assert!(closed_within(&mut app, T), "the revoked session went on");
}

#[test]
fn allow_rules_in_a_configmap_the_kubelet_swaps_take_effect_without_sighup() {
    let pki = Pki::new();
    let device = EchoDevice::start();
    let dir = temp_dir();
    // The agent's config is written through the projected symlink; the
    // update below carries the same config with other rules.
    let mut configmap = ProjectedDir::new(dir.path(), &[("seriald.toml", b"")]);
    let rules = |who: &str| format!("[[allow]]\nclients = [\"{who}\"]\ndevices = [\"*\"]\n");
    let agent = AgentBuilder::new(&pki, "shed")
        .config_file(&configmap.path("seriald.toml"))
        .device("zwave", device.path())
        .device_toml(&rules("gw"))
        .start();
    let client = ConnectBuilder::new("zwave@shed", agent.addr, &pki.client("gw")).start();
    let mut app = client.connect();
    echo_ok(&mut app, b"before");

    let text = std::fs::read_to_string(agent.config_path()).unwrap();
    let mark = agent.mark();
    let swapped = Instant::now();
    configmap.update(&[(
        "seriald.toml",
        text.replace(&rules("gw"), &rules("other")).as_bytes(),
    )]);
    agent
        .wait_for_output_after(
            mark,
            "the config file changed: reloading authorisation rules and revocations",
            T,
        )
        .unwrap();
    agent
        .wait_for_output_after(mark, "ended sessions that are no longer authorised", T)
        .unwrap();
    let took = swapped.elapsed();
    assert!(took < PROMPTLY, "the new rules took {took:?}");
    assert!(closed_within(&mut app, T), "the session outlived its rule");
    client.wait_for_output("may no longer open", T).unwrap();
}

#[test]
fn a_revoked_file_the_kubelet_swaps_in_ends_the_session_at_the_client() {
    let pki = Pki::new();
    let device = EchoDevice::start();
    let agent = AgentBuilder::new(&pki, "shed")
        .device("zwave", device.path())
        .start();
    let dir = temp_dir();
    let mut secret = ProjectedDir::new(dir.path(), &[("revoked.txt", b"# nobody yet\n")]);
    let client = ConnectBuilder::new("zwave@shed", agent.addr, &pki.client("gw"))
        .arg("--revoked-file")
        .arg(secret.path("revoked.txt"))
        .start();
    let mut app = client.connect();
    echo_ok(&mut app, b"before");

    let fp = Pki::fingerprint(&agent.tls.cert);
    let mark = client.mark();
    let swapped = Instant::now();
    secret.update(&[("revoked.txt", format!("{fp}  # agent 'shed'\n").as_bytes())]);
    client
        .wait_for_output_after(
            mark,
            "the agent's certificate was revoked; session ended",
            T,
        )
        .unwrap();
    let took = swapped.elapsed();
    assert!(took < PROMPTLY, "the revocation took {took:?}");
}
