//! One owner per device: who may replace whom, and what everyone is told.

use std::io::Read;
use std::net::TcpStream;
use std::time::Duration;

use serialmesh_tests::net::echo_ok;
use serialmesh_tests::util::eventually;
use serialmesh_tests::{AgentBuilder, ConnectBuilder, EchoDevice, Pki};

const T: Duration = Duration::from_secs(20);

/// True once the peer has closed `stream` (EOF or reset).
fn closed_by_peer(stream: &mut TcpStream) -> bool {
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut b = [0u8; 64];
    match stream.read(&mut b) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

#[test]
fn newer_local_connection_replaces_the_older_one() {
    let pki = Pki::new();
    let device = EchoDevice::start();
    let agent = AgentBuilder::new(&pki, "house")
        .device("zwave", device.path())
        .start();
    let client = ConnectBuilder::new("zwave@house", agent.addr, &pki.client("gw")).start();

    let mut first = client.connect();
    echo_ok(&mut first, b"first");
    let mut second = client.connect();
    echo_ok(&mut second, b"second");
    assert!(
        eventually(T, || closed_by_peer(&mut first)),
        "old local connection still open"
    );
    client
        .wait_for_output("a newer local connection replaces the previous one", T)
        .unwrap();
}

#[test]
fn same_client_identity_from_another_process_replaces_the_session() {
    let pki = Pki::new();
    let device = EchoDevice::start();
    let agent = AgentBuilder::new(&pki, "house")
        .device("zwave", device.path())
        .start();
    let gw = pki.client("gw");
    // A restarted pod: the old sidecar is still connected (half-open from
    // the agent's view), the new one must not wait for it.
    let old = ConnectBuilder::new("zwave@house", agent.addr, &gw).start();
    let mut old_app = old.connect();
    echo_ok(&mut old_app, b"old");

    let new = ConnectBuilder::new("zwave@house", agent.addr, &gw).start();
    let mut new_app = new.connect();
    echo_ok(&mut new_app, b"new");
    agent
        .wait_for_output("a newer session of client 'gw' took over zwave", T)
        .unwrap();
    old.wait_for_output("another session took the device", T)
        .unwrap();
    assert!(
        eventually(T, || closed_by_peer(&mut old_app)),
        "old application connection still open"
    );
}

#[test]
fn another_client_is_refused_as_busy_with_the_holder_named() {
    let pki = Pki::new();
    let device = EchoDevice::start();
    let agent = AgentBuilder::new(&pki, "house")
        .device("zwave", device.path())
        .start();
    let holder = ConnectBuilder::new("zwave@house", agent.addr, &pki.client("gw")).start();
    let mut app = holder.connect();
    echo_ok(&mut app, b"mine");

    let intruder = ConnectBuilder::new("zwave@house", agent.addr, &pki.client("laptop")).start();
    let _other = intruder.connect();
    let line = intruder.wait_for_output("busy", T).unwrap();
    assert!(
        line.contains("zwave@house is in use by client 'gw'"),
        "{line}"
    );
    agent.wait_for_output("refused to open device", T).unwrap();
    // The holder is undisturbed.
    echo_ok(&mut app, b"still mine");
}

#[test]
fn takeover_device_lets_another_client_kick_the_holder() {
    let pki = Pki::new();
    let device = EchoDevice::start();
    let path = device.path().display().to_string();
    let agent = AgentBuilder::new(&pki, "lab")
        .device_toml(&format!(
            "[[device]]\nname = \"console\"\npath = \"{path}\"\ntakeover = true\n"
        ))
        .start();
    let first = ConnectBuilder::new("console@lab", agent.addr, &pki.client("alice")).start();
    let mut a = first.connect();
    echo_ok(&mut a, b"alice");
    let second = ConnectBuilder::new("console@lab", agent.addr, &pki.client("bob")).start();
    let mut b = second.connect();
    echo_ok(&mut b, b"bob");
    agent
        .wait_for_output("client 'bob' took over console (takeover = true)", T)
        .unwrap();
}

#[test]
fn unknown_device_is_refused_with_the_candidates_listed() {
    let pki = Pki::new();
    let device = EchoDevice::start();
    let agent = AgentBuilder::new(&pki, "shed")
        .device("zwave", device.path())
        .start();
    let client = ConnectBuilder::new("nope@shed", agent.addr, &pki.client("gw")).start();
    let _app = client.connect();
    let line = client.wait_for_output("unknown device", T).unwrap();
    assert!(
        line.contains("agent 'shed' (zone 'shed') has no device 'nope@shed'; it has: zwave@shed"),
        "{line}"
    );
    agent.wait_for_output("refused to open device", T).unwrap();
    // The endpoint stays up: the device may be plugged in later.
    assert!(client.is_running());
}

#[test]
fn application_disconnect_frees_the_device_for_another_client() {
    let pki = Pki::new();
    let device = EchoDevice::start();
    let agent = AgentBuilder::new(&pki, "house")
        .device("zwave", device.path())
        .start();
    let first = ConnectBuilder::new("zwave@house", agent.addr, &pki.client("gw")).start();
    let mut app = first.connect();
    echo_ok(&mut app, b"hello");
    drop(app);
    agent
        .wait_for_output("client closed the session", T)
        .unwrap();
    let second = ConnectBuilder::new("zwave@house", agent.addr, &pki.client("laptop")).start();
    let mut other = second.connect();
    echo_ok(&mut other, b"my turn");
}
