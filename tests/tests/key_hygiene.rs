//! Key hygiene (docs/design.md "Trust"): private keys are created 0600, a key
//! readable by group or others is refused by both binaries with the
//! `chmod 600` fix, and no agent or client ever needs the CA key.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use serialmesh_tests::net::read_exact_within;
use serialmesh_tests::{bins, AgentBuilder, ConnectBuilder, EchoDevice, Pki, ProcBuilder};

const T: Duration = Duration::from_secs(20);

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn keys_are_created_0600() {
    let pki = Pki::new();
    assert_eq!(mode(&pki.ca_dir().join("ca.key")), 0o600);
    let agent = pki.agent("kh-a", "kh-a");
    let client = pki.client("kh-c");
    assert_eq!(mode(&agent.key), 0o600);
    assert_eq!(mode(&client.key), 0o600);
    // Certificates are public.
    assert_eq!(mode(&client.cert), 0o644);
}

#[test]
fn a_group_readable_key_is_refused_by_both_binaries_with_the_chmod_fix() {
    let pki = Pki::new();
    let agent_tls = pki.agent("kh-g", "kh-g");
    let client = pki.client("kh-gw");
    for key in [&agent_tls.key, &client.key] {
        std::fs::set_permissions(key, std::fs::Permissions::from_mode(0o640)).unwrap();
    }
    let want = |key: &Path| {
        let k = key.display();
        format!("private key {k} is readable by group or others (mode 0640); run `chmod 600 {k}`")
    };

    let agent = AgentBuilder::new(&pki, "kh-g")
        .tls(agent_tls.clone())
        .spawn();
    let status = agent.wait_exit(T).expect("seriald kept running");
    assert_eq!(status.code(), Some(2), "{}", agent.output());
    assert!(
        agent
            .stderr()
            .contains(&format!("seriald: {}", want(&agent_tls.key))),
        "{}",
        agent.output()
    );

    let connect =
        ConnectBuilder::new("zwave@kh-g", "127.0.0.1:1".parse().unwrap(), &client).spawn();
    let status = connect
        .wait_exit(T)
        .expect("serialctl connect kept running");
    assert_eq!(status.code(), Some(2));
    assert!(
        connect
            .stderr()
            .contains(&format!("serialctl: {}", want(&client.key))),
        "{}",
        connect.output()
    );

    let (code, _out, err) = ProcBuilder::new(bins::serialctl())
        .args(["ls", "--seed", "127.0.0.1:1", "--cert"])
        .arg(&client.cert)
        .arg("--key")
        .arg(&client.key)
        .arg("--ca")
        .arg(&client.ca)
        .label("serialctl-ls")
        .run_to_end(T);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains(&want(&client.key)), "{err}");
}

#[test]
fn agents_and_clients_work_on_hosts_without_the_ca_key() {
    let pki = Pki::new();
    let device = EchoDevice::start();
    let agent_tls = pki.agent("kh-nokey", "kh-nokey");
    let client = pki.client("kh-gw");
    // What `pki issue` hands out holds no CA key...
    for dir in [
        agent_tls.cert.parent().unwrap(),
        client.cert.parent().unwrap(),
    ] {
        assert!(
            !dir.join("ca.key").exists(),
            "{} holds ca.key",
            dir.display()
        );
    }
    // ...and with the CA key gone entirely, both sides still work.
    std::fs::remove_file(pki.ca_dir().join("ca.key")).unwrap();
    let agent = AgentBuilder::new(&pki, "kh-nokey")
        .tls(agent_tls)
        .device("zwave", device.path())
        .start();
    let c = ConnectBuilder::new("zwave@kh-nokey", agent.addr, &client).start();
    let mut app = c.connect();
    app.write_all(b"no ca key").unwrap();
    assert_eq!(read_exact_within(&mut app, 9, T), b"no ca key");
}
