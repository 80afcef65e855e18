//! The agent's admin endpoint: health, readiness, and metrics that count
//! what happened (sessions, bytes, refusals, failed handshakes).

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use serialmesh_tests::http::http_get;
use serialmesh_tests::net::{free_port, read_exact_within};
use serialmesh_tests::{eventually, AgentBuilder, ConnectBuilder, EchoDevice, Pki};

const T: Duration = Duration::from_secs(20);

#[test]
fn agent_metrics_count_sessions_bytes_refusals_and_bad_handshakes() {
    let pki = Pki::new();
    let device = EchoDevice::start();
    let admin = free_port();
    let agent = AgentBuilder::new(&pki, "house")
        .top_level_toml(&format!("admin = \"127.0.0.1:{admin}\"\n"))
        .device("zwave", device.path())
        .start();
    assert!(eventually(T, || TcpStream::connect(("127.0.0.1", admin)).is_ok()));
    assert_eq!(http_get(admin, "/healthz"), (200, "ok\n".into()));
    assert_eq!(http_get(admin, "/readyz").0, 200);

    let gw = ConnectBuilder::new("zwave@house", agent.addr, &pki.client("gw")).start();
    let mut app = gw.connect();
    app.write_all(b"12345").unwrap();
    assert_eq!(read_exact_within(&mut app, 5, T), b"12345");
    let other = ConnectBuilder::new("zwave@house", agent.addr, &pki.client("laptop")).start();
    let _o = other.connect();
    other.wait_for_output("busy", T).unwrap();
    let mut junk = TcpStream::connect(agent.addr).unwrap();
    junk.write_all(b"\x16\x03\x01\x00\x05hello").unwrap();
    agent.wait_for_output("TLS handshake failed", T).unwrap();

    let (code, m) = http_get(admin, "/metrics");
    assert_eq!(code, 200);
    for line in [
        "serialmesh_agent_sessions_active{device=\"zwave\"} 1",
        "serialmesh_agent_sessions_total{device=\"zwave\"} 1",
        "serialmesh_agent_bytes_total{device=\"zwave\",direction=\"to_client\"} 5",
        "serialmesh_agent_bytes_total{device=\"zwave\",direction=\"to_device\"} 5",
        "serialmesh_agent_refusals_total{reason=\"busy\"}",
        "serialmesh_agent_handshake_failures_total 1",
        // One session set up (the busy one was refused before its setup).
        "serialmesh_agent_session_setup_seconds_count{device=\"zwave\"} 1",
        "serialmesh_agent_device_present{device=\"zwave\"} 1",
    ] {
        assert!(m.contains(line), "missing {line:?} in:\n{m}");
    }
}

#[test]
fn agent_with_a_bad_admin_address_says_so() {
    let pki = Pki::new();
    let agent = AgentBuilder::new(&pki, "house")
        .top_level_toml("admin = \"localhost\"\n")
        .spawn();
    let status = agent.wait_exit(T).expect("exits");
    assert_eq!(status.code(), Some(2));
    assert!(
        agent
            .output()
            .contains("'localhost' is not a socket address"),
        "{}",
        agent.output()
    );
}

/// The refusals counted so far for `reason`.
fn refusals(admin: u16, reason: &str) -> u64 {
    let (_, m) = http_get(admin, "/metrics");
    let prefix = format!("serialmesh_agent_refusals_total{{reason=\"{reason}\"}} ");
    m.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn a_missing_device_is_logged_once_a_minute_while_clients_retry_it() {
    let pki = Pki::new();
    let dir = serialmesh_tests::util::temp_dir();
    let link = dir.path().join("ttyUSB-zwave");
    let admin = free_port();
    let agent = AgentBuilder::new(&pki, "quiet")
        .top_level_toml(&format!("admin = \"127.0.0.1:{admin}\"\n"))
        .device("zwave", &link)
        .start();
    let client = ConnectBuilder::new("zwave@quiet", agent.addr, &pki.client("gw")).start();
    let mut app = client.connect();
    // The client retries with backoff; every attempt is counted, one is
    // logged.
    assert!(eventually(T, || refusals(admin, "device gone") >= 4));
    let logged = |log: &str| log.matches("device open failed").count();
    assert_eq!(logged(&agent.output()), 1, "{}", agent.output());

    // Plugged in: it works, and the next unplug is logged at once.
    let mut device = EchoDevice::start();
    device.link(&link).unwrap();
    client.wait_for_output("tunnel up", T).unwrap();
    app.write_all(b"up").unwrap();
    assert_eq!(read_exact_within(&mut app, 2, T), b"up");
    device.stop();
    assert!(eventually(T, || logged(&agent.output()) == 2));
}
