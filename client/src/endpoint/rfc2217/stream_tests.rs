use std::time::Duration;

use serialmesh_proto::{ModemState, Opened};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::comport::{SET_BAUDRATE, SET_CONTROL};
use super::telnet::{subnegotiation, DO, IAC, WILL};
use super::*;

const T: Duration = Duration::from_secs(5);

/// The endpoint's stream and the application's socket.
async fn pair() -> (Rfc2217Stream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let app = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (ours, _) = listener.accept().await.unwrap();
    (Rfc2217Stream::new(ours), app)
}

fn opened() -> Opened {
    Opened {
        device: "rs232".into(),
        agent: "shed".into(),
        zone: "shed".into(),
        settings: LineSettings::default(),
        serial: None,
    }
}

async fn read_some(s: &mut Rfc2217Stream) -> Vec<u8> {
    let mut buf = [0u8; 256];
    let n = tokio::time::timeout(T, s.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    buf[..n].to_vec()
}

#[tokio::test]
async fn a_setting_reaches_the_agent_between_the_bytes_around_it() {
    let (mut s, mut app) = pair().await;
    s.tunnel_up(&opened(), true);
    assert_eq!(
        s.outbound_frame(),
        Some(Frame::LineControl(LineControl::WatchModem))
    );
    let mut wire = vec![IAC, WILL, COM_PORT, b'a', 0xff, 0xff];
    subnegotiation(COM_PORT, &[SET_BAUDRATE, 0, 0, 0x25, 0x80], &mut wire);
    subnegotiation(COM_PORT, &[SET_CONTROL, 5], &mut wire);
    wire.extend_from_slice(b"b");
    app.write_all(&wire).await.unwrap();

    // Bytes before the request, then the frames, then the bytes after.
    let mut before = Vec::new();
    while before.len() < 2 {
        before.extend(read_some(&mut s).await);
    }
    assert_eq!(before, [b'a', 0xff]);
    let mut buf = [0u8; 16];
    let early = tokio::time::timeout(Duration::from_millis(100), s.read(&mut buf)).await;
    assert!(early.is_err(), "read past a request whose frame waits");
    let Some(Frame::SetLine(line)) = s.outbound_frame() else {
        panic!("no SetLine")
    };
    assert_eq!(line.baud, 9600);
    assert!(
        tokio::time::timeout(Duration::from_millis(100), s.read(&mut buf))
            .await
            .is_err()
    );
    assert_eq!(
        s.outbound_frame(),
        Some(Frame::LineControl(LineControl::Break { on: true }))
    );
    assert_eq!(read_some(&mut s).await, b"b");
    assert_eq!(s.outbound_frame(), None);
}

#[tokio::test]
async fn the_application_gets_answers_notifications_and_escaped_bytes() {
    let (mut s, mut app) = pair().await;
    s.tunnel_up(&opened(), true);
    // The relay takes queued frames before it reads again.
    assert!(s.outbound_frame().is_some());
    app.write_all(&[IAC, DO, COM_PORT]).await.unwrap();
    let mut wire = Vec::new();
    subnegotiation(COM_PORT, &[SET_BAUDRATE, 0, 0, 0, 0], &mut wire);
    app.write_all(&wire).await.unwrap();
    // Nothing for the relay in that: the read stays pending, but the
    // answers go out while it waits.
    let mut buf = [0u8; 16];
    assert!(
        tokio::time::timeout(Duration::from_millis(200), s.read(&mut buf))
            .await
            .is_err()
    );
    s.inbound_frame(Frame::ModemState(ModemState { lines: None }))
        .unwrap();
    s.write_all(&[1, 0xff, 2]).await.unwrap();
    s.flush().await.unwrap();

    let mut want = Vec::new();
    Options::default().offer(&mut want);
    want.extend_from_slice(&[IAC, WILL, COM_PORT]);
    subnegotiation(COM_PORT, &[107, 0xB0], &mut want);
    subnegotiation(COM_PORT, &[101, 0, 1, 0xc2, 0x00], &mut want);
    want.extend_from_slice(&[1, 0xff, 0xff, 2]);
    let mut got = vec![0u8; want.len()];
    tokio::time::timeout(T, app.read_exact(&mut got))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, want);
    // The agent's report of no modem lines matched what was shown: no
    // second notification.
}

#[tokio::test]
async fn requests_while_the_tunnel_is_down_are_kept_for_when_it_is_up() {
    let (mut s, mut app) = pair().await;
    let mut wire = vec![IAC, WILL, COM_PORT];
    subnegotiation(COM_PORT, &[SET_BAUDRATE, 0, 0, 0x4b, 0x00], &mut wire);
    wire.push(b'x');
    app.write_all(&wire).await.unwrap();
    assert_eq!(read_some(&mut s).await, b"x");
    assert_eq!(s.outbound_frame(), None, "no tunnel, no frames");
    s.tunnel_up(&opened(), false);
    let Some(Frame::SetLine(line)) = s.outbound_frame() else {
        panic!("settings not sent when the tunnel came up")
    };
    assert_eq!(line.baud, 19200);
    // An older agent: no line control frames at all.
    assert_eq!(s.outbound_frame(), None);
    s.tunnel_down();
    assert_eq!(s.outbound_frame(), None);
}
