//! The application's endpoint survives what happens behind it: agent crashes
//! and restarts, agent shutdowns, devices going away.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serialmesh_tests::net::{echo_ok, read_exact_within};
use serialmesh_tests::{
    AgentBuilder, ConnectBuilder, EchoDevice, Pki, RunningAgent, RunningConnect,
};

const T: Duration = Duration::from_secs(20);
/// zwave-js retries a dropped port for about 10 s, then gives up for good.
const GATEWAY_PATIENCE: Duration = Duration::from_secs(10);

/// Writes a numbered probe every 20 ms until one comes back: how long
/// after the call bytes flow again, to within a probe. Probes written while
/// the tunnel is down are dropped by design, so any one coming back will do.
fn echo_resumes_after(app: &mut TcpStream, within: Duration) -> Duration {
    let start = Instant::now();
    app.set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let mut seen = Vec::new();
    for i in 0u32.. {
        assert!(start.elapsed() < within, "no echo within {within:?}");
        let probe = format!("<{i}>");
        app.write_all(probe.as_bytes())
            .expect("application connection must stay open");
        let mut buf = [0u8; 256];
        match app.read(&mut buf) {
            Ok(0) => panic!("the endpoint closed the application connection"),
            Ok(n) => seen.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
        if seen.windows(probe.len()).any(|w| w == probe.as_bytes()) {
            app.set_read_timeout(None).unwrap();
            return start.elapsed();
        }
    }
    unreachable!()
}

/// An agent `house` with an echo device `zwave`, and a client whose
/// application holds a connection that has carried bytes. `seeds`: the
/// client finds the agent through them instead of a fixed address.
struct Held {
    agent: RunningAgent,
    client: RunningConnect,
    app: TcpStream,
    _device: EchoDevice,
    _pki: Pki,
}

fn held(seeds: bool) -> Held {
    let pki = Pki::new();
    let device = EchoDevice::start();
    let agent = AgentBuilder::new(&pki, "house")
        .device("zwave", device.path())
        .start();
    let mut client = ConnectBuilder::new("zwave@house", agent.addr, &pki.client("gw"));
    if seeds {
        client = client.agent(None).seeds(&[agent.addr]);
    }
    let client = client.start();
    let mut app = client.connect();
    echo_ok(&mut app, b"before");
    Held {
        agent,
        client,
        app,
        _device: device,
        _pki: pki,
    }
}

#[test]
fn agent_killed_and_restarted_while_the_application_holds_its_connection() {
    let mut h = held(false);
    let (agent, client, app) = (&mut h.agent, &h.client, &mut h.app);

    agent.restart(); // SIGKILL, then the same config and port
    let took = echo_resumes_after(app, GATEWAY_PATIENCE);
    eprintln!("echo flowing again {took:?} after the agent was back");
    client.wait_for_output("tunnel restored", T).unwrap();
    // A fresh application connection works too.
    let mut fresh = client.connect();
    fresh.write_all(b"fresh").unwrap();
    assert_eq!(read_exact_within(&mut fresh, 5, T), b"fresh");
}

#[test]
fn after_an_agent_outage_of_any_length_bytes_flow_within_300_ms_of_it_listening() {
    let mut h = held(false);
    let (agent, app) = (&mut h.agent, &mut h.app);

    // Long enough for the old exponential backoff to reach its 2 s cap;
    // SERIALMESH_OUTAGES=2,10,60 (seconds) measures others.
    let outages: Vec<Duration> = std::env::var("SERIALMESH_OUTAGES")
        .unwrap_or_else(|_| "2,6".into())
        .split(',')
        .map(|s| {
            Duration::from_secs(
                s.trim()
                    .parse()
                    .expect("SERIALMESH_OUTAGES: seconds, comma-separated"),
            )
        })
        .collect();
    for outage in outages {
        agent.guard.kill();
        std::thread::sleep(outage);
        agent.restart(); // returns once it listens
        let took = echo_resumes_after(app, GATEWAY_PATIENCE);
        eprintln!("after a {outage:?} outage, bytes flow {took:?} after the agent listens");
        assert!(
            took < Duration::from_millis(300),
            "after a {outage:?} outage, bytes flowed only {took:?} after the agent listened"
        );
    }
}

#[test]
fn a_device_found_through_seeds_flows_again_within_300_ms_of_its_agent_listening() {
    let mut h = held(true);
    let (agent, app) = (&mut h.agent, &mut h.app);
    // Long enough for a backoff to reach its 2 s cap.
    agent.guard.kill();
    std::thread::sleep(Duration::from_secs(6));
    agent.restart();
    let took = echo_resumes_after(app, GATEWAY_PATIENCE);
    eprintln!("resolved through a seed: bytes flow {took:?} after the agent listens");
    assert!(took < Duration::from_millis(300), "{took:?}");
}

#[test]
fn endpoint_keeps_listening_while_the_agent_is_down() {
    let pki = Pki::new();
    let device = EchoDevice::start();
    let mut agent = AgentBuilder::new(&pki, "house")
        .device("zwave", device.path())
        .start();
    let client = ConnectBuilder::new("zwave@house", agent.addr, &pki.client("gw")).start();
    agent.kill();
    // The gateway (re)connects while nothing is behind the endpoint.
    let mut app = client.connect();
    client
        .wait_for_output("cannot open device; retrying", T)
        .unwrap();
    agent.restart();
    echo_resumes_after(&mut app, GATEWAY_PATIENCE);
}

#[test]
fn agent_shutdown_tells_the_client_and_the_client_recovers() {
    let pki = Pki::new();
    let device = EchoDevice::start();
    let mut agent = AgentBuilder::new(&pki, "house")
        .device("zwave", device.path())
        .start();
    let client = ConnectBuilder::new("zwave@house", agent.addr, &pki.client("gw")).start();
    let mut app = client.connect();
    app.write_all(b"x").unwrap();
    assert_eq!(read_exact_within(&mut app, 1, T), b"x");

    agent.terminate();
    let status = agent
        .wait_exit(Duration::from_secs(5))
        .expect("seriald exits within 5 s of SIGTERM");
    assert_eq!(status.code(), Some(0), "{}", agent.output());
    // Every line of a session carries its span, also after awaits that
    // moved the task to another worker thread.
    let log = agent.output();
    for line in ["ending session", "session ended"] {
        assert!(
            log.contains(&format!("session{{device=zwave session=2}}: {line}")),
            "{log}"
        );
    }
    client
        .wait_for_output(
            "agent ended the session: shutdown: agent is shutting down",
            T,
        )
        .unwrap();
    agent.restart();
    echo_resumes_after(&mut app, GATEWAY_PATIENCE);
}

#[test]
fn vanished_device_ends_the_session_with_a_reason() {
    let pki = Pki::new();
    let mut device = EchoDevice::start();
    // Shared by a stable link, as /dev/serial/by-id gives a real stick:
    // the link goes with the device. (The pty's own /dev/pts/N may be
    // handed to another test's pty within the agent's re-plug window, and
    // would then "come back".)
    let by_id = serialmesh_tests::util::temp_dir();
    let path = by_id.path().join("usb-Zooz_800_Z-Wave_Stick-if00");
    device.link(&path).unwrap();
    let agent = AgentBuilder::new(&pki, "house")
        .device("zwave", &path)
        .start();
    let client = ConnectBuilder::new("zwave@house", agent.addr, &pki.client("gw")).start();
    let mut app = client.connect();
    app.write_all(b"x").unwrap();
    assert_eq!(read_exact_within(&mut app, 1, T), b"x");

    device.stop();
    let line = agent.wait_for_output("ending session", T).unwrap();
    assert!(line.contains("device gone"), "{line}");
    client
        .wait_for_output("agent ended the session: device gone", T)
        .unwrap();
    // The client keeps trying (the device may come back) and says why.
    let line = client
        .wait_for_output("cannot open device; retrying", T)
        .unwrap();
    assert!(
        line.contains("device gone") && line.contains(&path.display().to_string()),
        "{line}"
    );
    assert!(client.is_running());
}
