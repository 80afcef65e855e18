//! Malformed, truncated, oversized and out-of-order frames from a client that
//! holds a valid certificate: the agent logs why, drops that connection, and
//! keeps serving everyone else.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

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

fn raw_client(agent: SocketAddr, tls: &TlsPaths, alpn: bool) -> Tls {
    let files = TlsFiles {
        cert: tls.cert.clone(),
        key: tls.key.clone(),
        ca: tls.ca.clone(),
    };
    let mut config =
        serialmesh_pki::client_config(&files, DenyList::default(), None).expect("client config");
    if alpn {
        config.alpn_protocols = vec![ALPN.to_vec()];
    }
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

fn hello(s: &mut Tls) {
    let h = Frame::Hello(Hello {
        version: PROTOCOL_VERSION,
        software: "raw test client".into(),
        name: "raw".into(),
        zone: String::new(),
        features: Vec::new(),
        time: None,
    });
    s.write_all(&h.to_bytes().unwrap()).unwrap();
    assert!(matches!(next_frame(s), Some(Frame::Hello(_))));
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

fn expect_protocol_close(s: &mut Tls, why: &str) {
    match next_frame(s) {
        Some(Frame::Close(r)) => {
            assert_eq!(r.kind, CloseReasonKind::Protocol, "{r:?}");
            assert!(
                r.message.contains(why),
                "close message {:?} lacks {why:?}",
                r.message
            );
        }
        other => panic!("expected a protocol close, got {other:?}"),
    }
    assert!(
        next_frame(s).is_none(),
        "connection still open after the close"
    );
}

struct Setup {
    _device: EchoDevice,
    pki: Pki,
    agent: serialmesh_tests::agent::RunningAgent,
    app: TcpStream,
    _client: serialmesh_tests::client::RunningConnect,
}

/// An agent with a legitimate session in progress, to prove it survives.
fn setup() -> Setup {
    let pki = Pki::new();
    let device = EchoDevice::start();
    let agent = AgentBuilder::new(&pki, "house")
        .device("zwave", device.path())
        .start();
    let client = ConnectBuilder::new("zwave@house", agent.addr, &pki.client("gw")).start();
    let mut app = client.connect();
    app.write_all(b"before").unwrap();
    assert_eq!(read_exact_within(&mut app, 6, T), b"before");
    Setup {
        _device: device,
        pki,
        agent,
        app,
        _client: client,
    }
}

fn legit_session_still_works(s: &mut Setup) {
    s.app.write_all(b"after").unwrap();
    assert_eq!(read_exact_within(&mut s.app, 5, T), b"after");
}

#[test]
fn oversized_frame_is_refused_from_its_header() {
    let mut s = setup();
    let mut raw = raw_client(s.agent.addr, &s.pki.client("raw"), true);
    raw.write_all(&[0x01, 0xff, 0xff, 0xff, 0xff]).unwrap();
    expect_protocol_close(&mut raw, "frame of 4294967295 bytes exceeds the limit");
    s.agent.wait_for_output("protocol violation", T).unwrap();
    legit_session_still_works(&mut s);
}

#[test]
fn unknown_frame_type_is_refused() {
    let mut s = setup();
    let mut raw = raw_client(s.agent.addr, &s.pki.client("raw"), true);
    hello(&mut raw);
    raw.write_all(&[0x7f, 0, 0, 0, 0]).unwrap();
    expect_protocol_close(&mut raw, "unknown frame type 0x7f");
    legit_session_still_works(&mut s);
}

#[test]
fn malformed_hello_is_refused() {
    let mut s = setup();
    let mut raw = raw_client(s.agent.addr, &s.pki.client("raw"), true);
    raw.write_all(&[0x01, 0, 0, 0, 4, b'{', b'x', b'y', b'}'])
        .unwrap();
    expect_protocol_close(&mut raw, "malformed Hello frame");
    s.agent.wait_for_output("malformed Hello frame", T).unwrap();
    legit_session_still_works(&mut s);
}

#[test]
fn data_before_hello_is_refused() {
    let mut s = setup();
    let mut raw = raw_client(s.agent.addr, &s.pki.client("raw"), true);
    raw.write_all(
        &Frame::Data(bytes::Bytes::from_static(b"sneaky"))
            .to_bytes()
            .unwrap(),
    )
    .unwrap();
    expect_protocol_close(&mut raw, "expected Hello first, got Data");
    legit_session_still_works(&mut s);
}

#[test]
fn wrong_protocol_version_is_refused() {
    let mut s = setup();
    let mut raw = raw_client(s.agent.addr, &s.pki.client("raw"), true);
    let h = Frame::Hello(Hello {
        version: 9,
        software: "future".into(),
        name: "raw".into(),
        zone: String::new(),
        features: Vec::new(),
        time: None,
    });
    raw.write_all(&h.to_bytes().unwrap()).unwrap();
    expect_protocol_close(
        &mut raw,
        "protocol version 9 is not supported; this agent speaks 1",
    );
    legit_session_still_works(&mut s);
}

#[test]
fn truncated_frame_then_close_is_logged_and_dropped() {
    let mut s = setup();
    let mut raw = raw_client(s.agent.addr, &s.pki.client("raw"), true);
    hello(&mut raw);
    raw.write_all(&[0x02, 0, 0, 0, 100, b'{', b'"']).unwrap();
    raw.conn.send_close_notify();
    raw.conn.complete_io(&mut raw.sock).ok();
    drop(raw);
    s.agent
        .wait_for_output("connection closed by peer in the middle of a frame", T)
        .unwrap();
    legit_session_still_works(&mut s);
}

#[test]
fn client_without_alpn_is_dropped() {
    let mut s = setup();
    let mut raw = raw_client(s.agent.addr, &s.pki.client("raw"), false);
    let _ = raw.write_all(&[0x06, 0, 0, 0, 0]);
    assert!(next_frame(&mut raw).is_none());
    s.agent
        .wait_for_output("did not negotiate ALPN serialmesh/1", T)
        .unwrap();
    legit_session_still_works(&mut s);
}

#[test]
fn plain_tcp_garbage_fails_the_handshake_only() {
    let mut s = setup();
    let mut junk = TcpStream::connect(s.agent.addr).unwrap();
    junk.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    s.agent.wait_for_output("TLS handshake failed", T).unwrap();
    legit_session_still_works(&mut s);
}

#[test]
fn malformed_frame_inside_a_session_ends_only_that_session() {
    let pki = Pki::new();
    let held = EchoDevice::start();
    let spare = EchoDevice::start();
    let agent = AgentBuilder::new(&pki, "house")
        .device("zwave", held.path())
        .device("spare", spare.path())
        .start();
    let client = ConnectBuilder::new("zwave@house", agent.addr, &pki.client("gw")).start();
    let mut app = client.connect();
    app.write_all(b"before").unwrap();
    assert_eq!(read_exact_within(&mut app, 6, T), b"before");

    let mut raw = raw_client(agent.addr, &pki.client("raw"), true);
    hello(&mut raw);
    let open = Frame::Open(serialmesh_proto::Open {
        address: "spare@house".into(),
        settings: None,
        expect_serial: None,
    });
    raw.write_all(&open.to_bytes().unwrap()).unwrap();
    assert!(matches!(next_frame(&mut raw), Some(Frame::Opened(o)) if o.device == "spare"));
    raw.write_all(&[0x05, 0, 0, 0, 2, b'{', b'}']).unwrap();
    expect_protocol_close(&mut raw, "malformed SetLine frame");
    agent
        .wait_for_output("client broke the protocol; closing its session", T)
        .unwrap();
    // The other session is untouched and the spare device is free again.
    app.write_all(b"after").unwrap();
    assert_eq!(read_exact_within(&mut app, 5, T), b"after");
    let other = ConnectBuilder::new("spare@house", agent.addr, &pki.client("laptop")).start();
    let mut o = other.connect();
    o.write_all(b"free").unwrap();
    assert_eq!(read_exact_within(&mut o, 4, T), b"free");
}
