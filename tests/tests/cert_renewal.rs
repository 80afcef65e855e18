//! A renewed certificate is presented to new connections without a
//! restart, by the agent and by the client (cert-manager renews into a
//! Secret, which the kubelet swaps in through `..data`); sessions already
//! open go on, and a renewal that names another agent is refused with the
//! certificate in force kept.

use std::time::Duration;

use serialmesh_tests::kubelet::ProjectedDir;
use serialmesh_tests::net::echo_ok;
use serialmesh_tests::util::temp_dir;
use serialmesh_tests::{AgentBuilder, ConnectBuilder, EchoDevice, Pki, TlsPaths};

const T: Duration = Duration::from_secs(20);

/// The files of a fresh agent certificate for `name` in `zone`, as a
/// Secret holds them (a renewal is a new issue; the old out directory is
/// removed first, since `pki issue` never replaces a key).
fn secret_files(pki: &Pki, name: &str, zone: &str) -> Vec<(&'static str, Vec<u8>)> {
    let dir = pki.dir().join(format!("agent-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    files_of(&pki.agent(name, zone))
}

/// A fresh client certificate for `name`, as a Secret holds it.
fn client_secret_files(pki: &Pki, name: &str) -> Vec<(&'static str, Vec<u8>)> {
    let _ = std::fs::remove_dir_all(pki.dir().join(format!("client-{name}")));
    files_of(&pki.client(name))
}

fn files_of(tls: &TlsPaths) -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("tls.crt", std::fs::read(&tls.cert).unwrap()),
        ("tls.key", std::fs::read(&tls.key).unwrap()),
        ("ca.crt", std::fs::read(&tls.ca).unwrap()),
    ]
}

fn as_slices<'a>(files: &'a [(&'static str, Vec<u8>)]) -> Vec<(&'a str, &'a [u8])> {
    files.iter().map(|(n, c)| (*n, c.as_slice())).collect()
}

/// An agent whose TLS files are a projected Secret, with a live session.
struct Rig {
    pki: Pki,
    secret: ProjectedDir,
    agent: serialmesh_tests::RunningAgent,
    _devices: (EchoDevice, EchoDevice),
    _dir: serialmesh_tests::util::TempDir,
}

fn rig() -> Rig {
    let pki = Pki::new();
    let dir = temp_dir();
    let first = secret_files(&pki, "shed", "garden");
    // A Secret volume with defaultMode 0400, as the manifests mount it.
    let secret = ProjectedDir::with_mode(dir.path(), &as_slices(&first), 0o400);
    let (zwave, zigbee) = (EchoDevice::start(), EchoDevice::start());
    let agent = AgentBuilder::new(&pki, "shed")
        .zone("garden")
        .tls(TlsPaths {
            cert: secret.path("tls.crt"),
            key: secret.path("tls.key"),
            ca: secret.path("ca.crt"),
        })
        .device("zwave", zwave.path())
        .device("zigbee", zigbee.path())
        .start();
    Rig {
        pki,
        secret,
        agent,
        _devices: (zwave, zigbee),
        _dir: dir,
    }
}

#[test]
fn a_certificate_renewed_with_a_new_key_is_presented_to_new_connections_without_a_restart() {
    let mut rig = rig();
    let pid = rig.agent.pid();
    let old_key = Pki::fingerprint(&rig.secret.path("tls.crt"));
    let held = ConnectBuilder::new("zwave@shed", rig.agent.addr, &rig.pki.client("gw")).start();
    let mut app = held.connect();
    echo_ok(&mut app, b"before the renewal");

    let renewed = secret_files(&rig.pki, "shed", "garden");
    let mark = rig.agent.mark();
    rig.secret.update(&as_slices(&renewed));
    let new_key = Pki::fingerprint(&rig.secret.path("tls.crt"));
    assert_ne!(old_key, new_key);
    rig.agent
        .wait_for_output_after(
            mark,
            &format!(
                "certificate renewed with a new key; new connections get it fingerprint={new_key}"
            ),
            T,
        )
        .unwrap();

    // A client that accepts only the new key is served, by the same
    // process, and the session from before goes on.
    let pinned = ConnectBuilder::new("zigbee@shed", rig.agent.addr, &rig.pki.client("laptop"))
        .arg("--agent-fingerprint")
        .arg(&new_key)
        .start();
    echo_ok(&mut pinned.connect(), b"after the renewal");
    assert_eq!(rig.agent.pid(), pid, "the agent restarted");
    echo_ok(&mut app, b"the old session goes on");
}

#[test]
fn a_renewal_naming_another_agent_is_refused_and_the_certificate_in_force_stays() {
    let mut rig = rig();
    let before = Pki::fingerprint(&rig.secret.path("tls.crt"));
    let other = secret_files(&rig.pki, "garage", "garage");
    let mark = rig.agent.mark();
    rig.secret.update(&as_slices(&other));
    let line = rig
        .agent
        .wait_for_output_after(mark, "cannot use the renewed certificate", T)
        .unwrap();
    assert!(
        line.contains("keeping the one in force")
            && line.contains("it names agent 'garage' in zone 'garage', and this agent runs as 'shed' in zone 'garden'"),
        "{line}"
    );
    let client = ConnectBuilder::new("zwave@shed", rig.agent.addr, &rig.pki.client("gw"))
        .arg("--agent-fingerprint")
        .arg(&before)
        .start();
    echo_ok(&mut client.connect(), b"still the shed");
}

#[test]
fn a_client_certificate_renewed_with_a_new_key_is_presented_when_the_tunnel_reconnects() {
    let pki = Pki::new();
    let device = EchoDevice::start();
    let revoked = pki.dir().join("revoked.txt");
    std::fs::write(&revoked, "# nobody yet\n").unwrap();
    let mut agent = AgentBuilder::new(&pki, "shed")
        .top_level_toml(&format!("revoked_file = {revoked:?}"))
        .device("zwave", device.path())
        .start();
    let dir = temp_dir();
    let mut secret = ProjectedDir::with_mode(
        dir.path(),
        &as_slices(&client_secret_files(&pki, "gw")),
        0o400,
    );
    let tls = TlsPaths {
        cert: secret.path("tls.crt"),
        key: secret.path("tls.key"),
        ca: secret.path("ca.crt"),
    };
    let client = ConnectBuilder::new("zwave@shed", agent.addr, &tls).start();
    let mut app = client.connect();
    echo_ok(&mut app, b"before the renewal");
    let old_key = Pki::fingerprint(&secret.path("tls.crt"));

    let mark = client.mark();
    secret.update(&as_slices(&client_secret_files(&pki, "gw")));
    client
        .wait_for_output_after(mark, "certificate renewed with a new key", T)
        .unwrap();
    // The old key is retired and the agent restarts (a rolling update): the
    // client comes back, behind the application's connection, presenting
    // the renewal; the old key would be refused at every handshake.
    std::fs::write(&revoked, format!("{old_key}\n")).unwrap();
    agent.restart();
    client.wait_for_output("tunnel restored", T).unwrap();
    echo_ok(&mut app, b"after the renewal");
}
