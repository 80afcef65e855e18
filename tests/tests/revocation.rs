//! Revocation without clocks (docs/design.md "Trust"): fingerprints in the
//! agent config (`revoked`) or in a revoked file (`revoked_file`, written
//! by `serialctl pki revoke`) are refused at the TLS handshake; the agent
//! picks up changes on SIGHUP and when the file changes, and ends the live
//! sessions of newly revoked certificates with "not authorised". Clients
//! may pin the exact agent certificate they accept.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use nix::sys::signal::Signal;
use serialmesh_tests::net::echo_ok;
use serialmesh_tests::{bins, AgentBuilder, ConnectBuilder, EchoDevice, Pki, ProcBuilder};

const T: Duration = Duration::from_secs(20);

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

#[test]
fn revoked_in_the_config_then_sighup_drops_the_session_and_refuses_the_reconnect() {
    let pki = Pki::new();
    let device = EchoDevice::start();
    let agent = AgentBuilder::new(&pki, "rv-hup")
        .device("zwave", device.path())
        .start();
    let gw = pki.client("gw");
    let client = ConnectBuilder::new("zwave@rv-hup", agent.addr, &gw).start();
    let mut app = client.connect();
    echo_ok(&mut app, b"before");

    let fp = Pki::fingerprint(&gw.cert);
    let text = std::fs::read_to_string(agent.config_path()).unwrap();
    std::fs::write(agent.config_path(), format!("revoked = [\"{fp}\"]\n{text}")).unwrap();
    agent.signal(Signal::SIGHUP);
    agent
        .wait_for_output(
            &format!("certificate revoked; refusing it from now on fingerprint={fp}"),
            T,
        )
        .unwrap();
    assert!(closed_within(&mut app, T), "revoked session still open");
    client.wait_for_output("has been revoked", T).unwrap();
    client.wait_for_output("not authorised", T).unwrap();

    // The application comes back: the handshake itself is refused now.
    let mark = agent.mark();
    let mut again = client.connect();
    agent
        .wait_for_output_after(mark, "its fingerprint is on the deny-list", T)
        .unwrap();
    client
        .wait_for_output("the agent revoked this client's certificate", T)
        .unwrap();
    again
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut b = [0u8; 8];
    again.write_all(b"x").unwrap();
    assert!(
        !matches!(again.read(&mut b), Ok(n) if n > 0),
        "bytes reached a revoked client"
    );
    assert!(agent.is_running());
}

#[test]
fn pki_revoke_writes_the_file_and_the_agent_acts_on_it_without_a_signal() {
    let pki = Pki::new();
    let (zwave, zigbee) = (EchoDevice::start(), EchoDevice::start());
    std::fs::write(pki.revoked_file(), "# nobody yet\n").unwrap();
    let agent = AgentBuilder::new(&pki, "rv-file")
        .top_level_toml(&format!("revoked_file = {:?}", pki.revoked_file()))
        .device("zwave", zwave.path())
        .device("zigbee", zigbee.path())
        .start();
    let (gw, other) = (pki.client("gw"), pki.client("other"));
    let client = ConnectBuilder::new("zwave@rv-file", agent.addr, &gw).start();
    let bystander = ConnectBuilder::new("zigbee@rv-file", agent.addr, &other).start();
    let mut app = client.connect();
    let mut app2 = bystander.connect();
    echo_ok(&mut app, b"one");
    echo_ok(&mut app2, b"two");

    let out = pki.revoke(&gw.cert);
    let fp = Pki::fingerprint(&gw.cert);
    assert!(
        out.contains(&format!(
            "revoked certificate of client 'gw' (fingerprint {fp})"
        )),
        "{out}"
    );
    let file = std::fs::read_to_string(pki.revoked_file()).unwrap();
    assert!(file.contains(&format!("{fp}  # client 'gw'")), "{file}");
    assert!(closed_within(&mut app, T), "revoked session still open");
    agent.wait_for_output("ending session", T).unwrap();
    client.wait_for_output("has been revoked", T).unwrap();
    // Revoking again changes nothing and says so.
    assert!(pki.revoke(&gw.cert).contains("is already in"));

    let mut again = client.connect();
    agent
        .wait_for_output("its fingerprint is on the deny-list", T)
        .unwrap();
    again
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut b = [0u8; 8];
    again.write_all(b"x").unwrap();
    assert!(!matches!(again.read(&mut b), Ok(n) if n > 0));
    // The other client was not disturbed.
    echo_ok(&mut app2, b"still here");

    // A broken file is reported, and the revocations in force stay.
    std::fs::write(pki.revoked_file(), "not a fingerprint\n").unwrap();
    agent
        .wait_for_output(
            "cannot reload the revoked file, keeping the revocations in force",
            T,
        )
        .unwrap();
    assert!(agent.output().contains(&format!(
        "{}:1:1: invalid fingerprint",
        pki.revoked_file().display()
    )));
    let mark = agent.mark();
    let _third = client.connect();
    // Refusals of one certificate are logged in full once; later ones show
    // as throttled handshake failures (at most one line per 10 s).
    agent
        .wait_for_output_after(mark, "invalid peer certificate: Revoked", T)
        .unwrap();
}

#[test]
fn a_pinned_agent_fingerprint_that_does_not_match_is_refused_with_a_clear_line() {
    let pki = Pki::new();
    let device = EchoDevice::start();
    let agent = AgentBuilder::new(&pki, "rv-pin")
        .device("zwave", device.path())
        .start();
    let other_agent = pki.agent("rv-other", "rv-other");
    let right = Pki::fingerprint(&agent.tls.cert);
    let wrong = Pki::fingerprint(&other_agent.cert);
    let gw = pki.client("gw");

    let good = ConnectBuilder::new("zwave@rv-pin", agent.addr, &gw)
        .arg("--agent-fingerprint")
        .arg(&right)
        .start();
    let mut app = good.connect();
    echo_ok(&mut app, b"pinned");
    drop(app);
    drop(good);

    let bad = ConnectBuilder::new("zwave@rv-pin", agent.addr, &gw)
        .arg("--agent-fingerprint")
        .arg(&wrong)
        .start();
    let mut app = bad.connect();
    bad.wait_for_output(
        &format!("it is not the pinned agent certificate (pinned fingerprint {wrong})"),
        T,
    )
    .unwrap();
    app.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    app.write_all(b"x").unwrap();
    let mut b = [0u8; 8];
    assert!(
        !matches!(app.read(&mut b), Ok(n) if n > 0),
        "bytes from an unpinned agent"
    );

    // The same pin in a sidecar config.
    let dir = serialmesh_tests::util::temp_dir();
    let config = dir.path().join("client.toml");
    let port = serialmesh_tests::net::free_port();
    std::fs::write(
        &config,
        format!(
            "[tls]\ncert = {:?}\nkey = {:?}\nca = {:?}\n[[endpoint]]\ndevice = \"zwave@rv-pin\"\nagent = \"{}\"\ntcp = \"127.0.0.1:{port}\"\nagent_fingerprint = \"{wrong}\"\n",
            gw.cert, gw.key, gw.ca, agent.addr
        ),
    )
    .unwrap();
    let sidecar = ProcBuilder::new(bins::serialctl())
        .args(["sidecar", "--config"])
        .arg(&config)
        .label("serialctl-sidecar")
        .spawn();
    sidecar.wait_listening(port, T).unwrap();
    let _app =
        serialmesh_tests::net::connect_retry(std::net::SocketAddr::from(([127, 0, 0, 1], port)), T);
    sidecar
        .wait_for_output("it is not the pinned agent certificate", T)
        .unwrap();

    // ls with a pin lists the agent as unreachable, saying why.
    let (code, out, err) = ProcBuilder::new(bins::serialctl())
        .args(["ls", "--seed"])
        .arg(agent.addr.to_string())
        .args(["--agent-fingerprint", &wrong, "--cert"])
        .arg(&gw.cert)
        .arg("--key")
        .arg(&gw.key)
        .arg("--ca")
        .arg(&gw.ca)
        .label("serialctl-ls")
        .run_to_end(T);
    assert!(!out.contains("rv-pin  "), "{out}");
    assert!(
        err.contains(&format!("at {} (seed) did not answer", agent.addr)),
        "{code} {err}"
    );
    assert!(
        err.contains("it is not the pinned agent certificate"),
        "{err}"
    );
}
