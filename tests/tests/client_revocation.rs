//! Clients refuse revoked agents (docs/threat-model.md, "A compromised
//! agent"): a lost agent host's certificate, revoked with `serialctl pki
//! revoke`, is refused at the handshake by clients that load the revoked
//! file (`--revoked-file`, or `revoked` / `revoked_file` in a client
//! config), and a live session with it ends as soon as the file changes.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use serialmesh_tests::mesh::tls_args;
use serialmesh_tests::net::{connect_retry, echo_ok, free_port};
use serialmesh_tests::{bins, util, AgentBuilder, ConnectBuilder, EchoDevice, Pki, ProcBuilder};

const T: Duration = Duration::from_secs(20);

/// Nothing comes back for what the application writes.
fn no_echo(stream: &mut TcpStream) {
    stream
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let _ = stream.write_all(b"x");
    let mut b = [0u8; 8];
    assert!(
        !matches!(stream.read(&mut b), Ok(n) if n > 0),
        "bytes came back from a revoked agent"
    );
}

fn sidecar_config(
    dir: &Path,
    tls: &serialmesh_tests::TlsPaths,
    extra: &str,
    tail: &str,
) -> std::path::PathBuf {
    let config = dir.join("client.toml");
    std::fs::write(
        &config,
        format!(
            "{extra}\n[tls]\ncert = {:?}\nkey = {:?}\nca = {:?}\n{tail}",
            tls.cert, tls.key, tls.ca
        ),
    )
    .unwrap();
    config
}

#[test]
fn revoking_an_agent_ends_the_live_session_and_later_handshakes_fail() {
    let pki = Pki::new();
    let device = EchoDevice::start();
    std::fs::write(pki.revoked_file(), "# nobody yet\n").unwrap();
    let agent = AgentBuilder::new(&pki, "crv-live")
        .device("zwave", device.path())
        .start();
    let gw = pki.client("gw");
    let client = ConnectBuilder::new("zwave@crv-live", agent.addr, &gw)
        .arg("--revoked-file")
        .arg(pki.revoked_file())
        .start();
    let mut app = client.connect();
    echo_ok(&mut app, b"before");

    let out = pki.revoke(&agent.tls.cert);
    assert!(out.contains("agent 'crv-live'"), "{out}");
    client
        .wait_for_output("the agent's certificate was revoked; session ended", T)
        .unwrap();
    client
        .wait_for_output("its fingerprint is on the deny-list", T)
        .unwrap();
    client
        .wait_for_output("the agent's certificate is revoked by this client", T)
        .unwrap();
    // The agent was told why, and its device is free again.
    agent
        .wait_for_output("this client revoked the agent's certificate", T)
        .unwrap();
    // The application's connection is held (the gateway does not see a
    // drop), but nothing reaches the revoked agent any more.
    no_echo(&mut app);
    assert!(client.is_running() && agent.is_running());
}

#[test]
fn a_sidecar_config_revoked_list_refuses_the_agent_and_check_reports_it() {
    let pki = Pki::new();
    let device = EchoDevice::start();
    let agent = AgentBuilder::new(&pki, "crv-cfg")
        .device("zwave", device.path())
        .start();
    let gw = pki.client("gw");
    let fp = Pki::fingerprint(&agent.tls.cert);
    let dir = util::temp_dir();
    let port = free_port();
    let config = sidecar_config(
        dir.path(),
        &gw,
        &format!("revoked = [\"{fp}\"]"),
        &format!(
            "[[endpoint]]\ndevice = \"zwave@crv-cfg\"\nagent = \"{}\"\ntcp = \"127.0.0.1:{port}\"\n",
            agent.addr
        ),
    );
    let (code, out, err) = ProcBuilder::new(bins::serialctl())
        .args(["sidecar", "--check", "--config"])
        .arg(&config)
        .label("serialctl-sidecar-check")
        .run_to_end(T);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("1 revoked agent certificate(s)"), "{out}");

    let sidecar = ProcBuilder::new(bins::serialctl())
        .args(["sidecar", "--config"])
        .arg(&config)
        .label("serialctl-sidecar")
        .spawn();
    sidecar.wait_listening(port, T).unwrap();
    let mut app = connect_retry(SocketAddr::from(([127, 0, 0, 1], port)), T);
    sidecar
        .wait_for_output("its fingerprint is on the deny-list", T)
        .unwrap();
    no_echo(&mut app);
}

#[test]
fn bad_revocation_settings_of_a_client_are_usage_errors_that_say_where() {
    let pki = Pki::new();
    let gw = pki.client("gw");
    let dir = util::temp_dir();
    let endpoint =
        "[[endpoint]]\ndevice = \"zwave@x\"\nagent = \"127.0.0.1:1\"\ntcp = \"127.0.0.1:5000\"\n";
    let check = |config: &Path| {
        ProcBuilder::new(bins::serialctl())
            .args(["sidecar", "--check", "--config"])
            .arg(config)
            .label("serialctl-sidecar-check")
            .run_to_end(T)
    };

    let config = sidecar_config(dir.path(), &gw, "revoked = [\"nothex\"]", endpoint);
    let (code, _, err) = check(&config);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(&format!(
            "{}:1:12: revoked: invalid fingerprint",
            config.display()
        )),
        "{err}"
    );
    assert!(err.contains("serialctl pki show"), "{err}");

    let config = sidecar_config(dir.path(), &gw, "revoked_file = \"gone.txt\"", endpoint);
    let (code, _, err) = check(&config);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(&format!(
            "cannot read revoked file {}",
            dir.path().join("gone.txt").display()
        )),
        "{err}"
    );

    let broken = dir.path().join("broken.txt");
    std::fs::write(&broken, "# ok\nzz\n").unwrap();
    let (code, _, err) = ProcBuilder::new(bins::serialctl())
        .args(["connect", "zwave@x", "--agent", "127.0.0.1:1", "--tcp"])
        .arg(format!("127.0.0.1:{}", free_port()))
        .args(tls_args(&gw))
        .arg("--revoked-file")
        .arg(&broken)
        .label("serialctl-connect")
        .run_to_end(T);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(&format!("{}:2:1: invalid fingerprint", broken.display())),
        "{err}"
    );
}
