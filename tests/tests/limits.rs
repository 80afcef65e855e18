//! The agent's `[limits]`, each driven against a real `seriald`: a
//! handshake that never finishes, a connection that never asks for
//! anything, one client name holding too many connections, and the
//! connection cap. Each is refused with a message that says which limit,
//! and the agent keeps serving.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use rustls::{ClientConnection, StreamOwned};
use rustls_pki_types::ServerName;
use serialmesh_pki::{DenyList, TlsFiles};
use serialmesh_proto::{CloseReasonKind, Frame, Hello, ALPN, PROTOCOL_VERSION};
use serialmesh_tests::net::read_exact_within;
use serialmesh_tests::pki::TlsPaths;
use serialmesh_tests::{AgentBuilder, ConnectBuilder, EchoDevice, Pki};

const T: Duration = Duration::from_secs(20);

type Tls = StreamOwned<ClientConnection, TcpStream>;

/// A TLS connection with a valid client certificate, handshake done.
fn tls_client(agent: SocketAddr, tls: &TlsPaths) -> Tls {
    let files = TlsFiles {
        cert: tls.cert.clone(),
        key: tls.key.clone(),
        ca: tls.ca.clone(),
    };
    let mut config =
        serialmesh_pki::client_config(&files, DenyList::default(), None).expect("client config");
    config.alpn_protocols = vec![ALPN.to_vec()];
    let conn = ClientConnection::new(
        Arc::new(config),
        ServerName::try_from("serialmesh").unwrap(),
    )
    .unwrap();
    let tcp = TcpStream::connect(agent).expect("connect to agent");
    tcp.set_read_timeout(Some(T)).unwrap();
    let mut s = StreamOwned::new(conn, tcp);
    while s.conn.is_handshaking() {
        s.conn.complete_io(&mut s.sock).expect("TLS handshake");
    }
    s
}

/// The next frame from the agent, or None once it closed the connection.
fn next_frame(s: &mut Tls) -> Option<Frame> {
    let mut buf = BytesMut::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(f) = Frame::decode(&mut buf).expect("agent sends valid frames") {
            return Some(f);
        }
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

fn hello(s: &mut Tls) -> Option<Frame> {
    let h = Frame::Hello(Hello {
        version: PROTOCOL_VERSION,
        software: "limits test".into(),
        name: "raw".into(),
        zone: String::new(),
        features: Vec::new(),
        time: None,
    });
    s.write_all(&h.to_bytes().unwrap()).unwrap();
    next_frame(s)
}

/// Whether the agent closed `tcp` (EOF or reset) within `within`.
fn closed_within(tcp: &mut TcpStream, within: Duration) -> bool {
    tcp.set_read_timeout(Some(within)).unwrap();
    let mut b = [0u8; 64];
    loop {
        match tcp.read(&mut b) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) => return e.kind() == std::io::ErrorKind::ConnectionReset,
        }
    }
}

fn echo_ok(pki: &Pki, agent: SocketAddr, name: &str) {
    let client = ConnectBuilder::new("zwave@house", agent, &pki.client(name)).start();
    let mut app = client.connect();
    app.write_all(b"still").unwrap();
    assert_eq!(read_exact_within(&mut app, 5, T), b"still");
}

#[test]
fn a_handshake_that_never_finishes_is_closed_at_handshake_timeout() {
    let pki = Pki::new();
    let device = EchoDevice::start();
    let agent = AgentBuilder::new(&pki, "house")
        .top_level_toml("[limits]\nhandshake_timeout = 0.5")
        .device("zwave", device.path())
        .start();
    let started = Instant::now();
    let mut silent = TcpStream::connect(agent.addr).unwrap();
    silent.write_all(&[0x16, 0x03, 0x01]).unwrap();
    assert!(
        closed_within(&mut silent, Duration::from_secs(5)),
        "still open"
    );
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(400) && took < Duration::from_secs(3),
        "closed after {took:?}"
    );
    let line = agent.wait_for_output("TLS handshake timed out", T).unwrap();
    assert!(line.contains("timeout=500ms"), "{line}");
    echo_ok(&pki, agent.addr, "gw");
}

#[test]
fn a_client_that_never_sends_its_request_is_closed_at_request_timeout() {
    let pki = Pki::new();
    let device = EchoDevice::start();
    let agent = AgentBuilder::new(&pki, "house")
        .top_level_toml("[limits]\nrequest_timeout = 0.5")
        .device("zwave", device.path())
        .start();
    let started = Instant::now();
    let mut idle = tls_client(agent.addr, &pki.client("idle"));
    assert!(
        next_frame(&mut idle).is_none(),
        "agent sent something unasked"
    );
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "closed after {took:?}");
    agent
        .wait_for_output(
            "connection ended before a request error=no request within 500ms",
            T,
        )
        .unwrap();
    echo_ok(&pki, agent.addr, "gw");
}

#[test]
fn one_client_name_over_its_connection_cap_is_refused_with_the_limit_named() {
    let pki = Pki::new();
    let device = EchoDevice::start();
    let agent = AgentBuilder::new(&pki, "house")
        .top_level_toml("[limits]\nmax_connections_per_client = 2")
        .device("zwave", device.path())
        .start();
    let greedy = pki.client("greedy");
    let mut held: Vec<Tls> = (0..2).map(|_| tls_client(agent.addr, &greedy)).collect();
    for h in &mut held {
        assert!(matches!(hello(h), Some(Frame::Hello(_))));
    }
    let mut third = tls_client(agent.addr, &greedy);
    match hello(&mut third) {
        Some(Frame::Close(r)) => {
            assert_eq!(r.kind, CloseReasonKind::Busy, "{r:?}");
            assert_eq!(
                r.message,
                "client 'greedy' already has 2 connections to this agent (max_connections_per_client)"
            );
        }
        other => panic!("expected a busy close, got {other:?}"),
    }
    agent
        .wait_for_output(
            "client has too many connections (max_connections_per_client)",
            T,
        )
        .unwrap();
    // serialctl under that name says why it can not get in.
    let over = ConnectBuilder::new("zwave@house", agent.addr, &greedy).start();
    let app = over.connect();
    let line = over
        .wait_for_output("already has 2 connections to this agent", T)
        .unwrap();
    assert!(line.contains("max_connections_per_client"), "{line}");
    drop((app, over));
    // Another name is not affected, and a freed connection is reusable.
    echo_ok(&pki, agent.addr, "gw");
    drop(held.pop());
    let ok = serialmesh_tests::eventually(T, || {
        let mut again = tls_client(agent.addr, &greedy);
        matches!(hello(&mut again), Some(Frame::Hello(_)))
    });
    assert!(ok, "the freed connection slot was not given back");
}

#[test]
fn connections_beyond_max_connections_are_closed_at_once() {
    let pki = Pki::new();
    let device = EchoDevice::start();
    // Both places for one address: with fewer, the second idle connection
    // would push the first out (max_pending_per_source) and free its slot.
    let agent = AgentBuilder::new(&pki, "house")
        .top_level_toml(
            "[limits]\nmax_connections = 2\nmax_pending_per_source = 2\nhandshake_timeout = 30",
        )
        .device("zwave", device.path())
        .start();
    let _a = TcpStream::connect(agent.addr).unwrap();
    let _b = TcpStream::connect(agent.addr).unwrap();
    // The agent may not have accepted both yet: the third is closed once
    // it has.
    let refused = serialmesh_tests::eventually(T, || {
        let mut c = TcpStream::connect(agent.addr).unwrap();
        closed_within(&mut c, Duration::from_secs(1))
    });
    assert!(refused, "a third connection was kept open");
    let logged = agent
        .wait_for_output(
            "too many connections (max_connections); closing new ones",
            T,
        )
        .unwrap();
    assert!(logged.contains("limit=2"), "{logged}");
    drop((_a, _b));
    // Once the holders leave, a real client gets in.
    echo_ok(&pki, agent.addr, "gw");
}
