use super::*;
use bytes::Bytes;
use serialmesh_proto::conn::{read_frame, write_frame};
use serialmesh_proto::CloseReasonKind;
use tokio::io::{duplex, AsyncReadExt, AsyncWriteExt};

fn no_control<D>(_: &mut D, f: Frame) -> Result<(), CloseReason> {
    Err(CloseReason::new(
        CloseReasonKind::Protocol,
        format!("unexpected {:?}", f.frame_type()),
    ))
}

#[tokio::test]
async fn bytes_flow_both_ways_unchanged() {
    let (mut net, mut peer) = duplex(64 * 1024);
    let (mut dev, mut app) = duplex(64 * 1024);
    let relay = tokio::spawn(async move {
        let mut r = Relay::new(BytesMut::new());
        let end = r
            .run(
                &mut net,
                &mut dev,
                std::future::pending(),
                Liveness::default(),
                no_control,
            )
            .await;
        (end, r.stats)
    });
    // Peer -> device.
    let payload: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
    let mut framed = BytesMut::new();
    for chunk in payload.chunks(1000) {
        Frame::Data(Bytes::copy_from_slice(chunk))
            .encode(&mut framed)
            .unwrap();
    }
    let writer = tokio::spawn(async move {
        peer.write_all(&framed).await.unwrap();
        peer
    });
    let mut got = vec![0u8; payload.len()];
    app.read_exact(&mut got).await.unwrap();
    assert_eq!(got, payload);
    let mut peer = writer.await.unwrap();

    // Device -> peer.
    app.write_all(b"\x00\x11\x13\x03\xff").await.unwrap();
    let mut buf = BytesMut::new();
    let f = read_frame(&mut peer, &mut buf).await.unwrap();
    assert_eq!(f, Frame::Data(Bytes::from_static(b"\x00\x11\x13\x03\xff")));

    write_frame(
        &mut peer,
        &Frame::Close(CloseReason::new(CloseReasonKind::Normal, "bye")),
    )
    .await
    .unwrap();
    let (end, stats) = relay.await.unwrap();
    assert!(matches!(end, RelayEnd::PeerClosed(r) if r.message == "bye"));
    assert_eq!(stats.to_device, 100_000);
    assert_eq!(stats.to_net, 5);
}

#[tokio::test(start_paused = true)]
async fn silent_peer_is_declared_dead_and_heartbeats_are_sent() {
    let (mut net, mut peer) = duplex(4096);
    let (mut dev, _app) = duplex(4096);
    let relay = tokio::spawn(async move {
        let mut r = Relay::new(BytesMut::new());
        r.run(
            &mut net,
            &mut dev,
            std::future::pending(),
            Liveness::default(),
            no_control,
        )
        .await
    });
    let mut buf = BytesMut::new();
    // The relay sends heartbeats while the peer says nothing.
    assert_eq!(
        read_frame(&mut peer, &mut buf).await.unwrap(),
        Frame::Heartbeat
    );
    let end = relay.await.unwrap();
    assert!(
        matches!(end, RelayEnd::PeerSilent(d) if d >= Duration::from_secs(4)),
        "{end:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_peer_that_talks_but_never_reads_is_ended_within_the_liveness_window() {
    let (mut net, mut peer) = duplex(1024);
    let (mut dev, mut app) = duplex(64 * 1024);
    let relay = tokio::spawn(async move {
        let mut r = Relay::new(BytesMut::new());
        r.run(
            &mut net,
            &mut dev,
            std::future::pending(),
            Liveness::default(),
            no_control,
        )
        .await
    });
    // The device talks; the peer sends heartbeats (so it is never silent)
    // and reads nothing.
    let device = tokio::spawn(async move {
        loop {
            if app.write_all(&[0x55; 512]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    let started = tokio::time::Instant::now();
    let peer_task = tokio::spawn(async move {
        loop {
            if write_frame(&mut peer, &Frame::Heartbeat).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });
    let end = tokio::time::timeout(Duration::from_secs(30), relay)
        .await
        .expect("a peer that never reads held the session for 30 s")
        .unwrap();
    assert!(
        matches!(end, RelayEnd::PeerNotReading(d) if d >= Duration::from_secs(4)),
        "{end:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );
    device.abort();
    peer_task.abort();
}

#[tokio::test]
async fn oversized_frame_ends_relay_with_protocol_error() {
    let (mut net, mut peer) = duplex(4096);
    let (mut dev, _app) = duplex(4096);
    let relay = tokio::spawn(async move {
        let mut r = Relay::new(BytesMut::new());
        r.run(
            &mut net,
            &mut dev,
            std::future::pending(),
            Liveness::default(),
            no_control,
        )
        .await
    });
    peer.write_all(&[0x04, 0x7f, 0xff, 0xff, 0xff])
        .await
        .unwrap();
    let end = relay.await.unwrap();
    assert!(
        matches!(end, RelayEnd::Protocol(ProtocolError::Oversized { .. })),
        "{end:?}"
    );
}

#[tokio::test]
async fn handshake_leftovers_are_relayed_first() {
    let (mut net, _peer) = duplex(4096);
    let (mut dev, mut app) = duplex(4096);
    let leftover = Frame::Data(Bytes::from_static(b"early"))
        .to_bytes()
        .unwrap();
    tokio::spawn(async move {
        let mut r = Relay::new(leftover);
        r.run(
            &mut net,
            &mut dev,
            std::future::pending(),
            Liveness::default(),
            no_control,
        )
        .await
    });
    let mut got = [0u8; 5];
    app.read_exact(&mut got).await.unwrap();
    assert_eq!(&got, b"early");
}

#[tokio::test]
async fn stop_signal_ends_relay_and_finish_sends_close() {
    let (mut net, mut peer) = duplex(4096);
    let (mut dev, _app) = duplex(4096);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let relay = tokio::spawn(async move {
        let mut r = Relay::new(BytesMut::new());
        let end = r
            .run(
                &mut net,
                &mut dev,
                async { rx.await.unwrap_or(()) },
                Liveness::default(),
                no_control,
            )
            .await;
        let reason = CloseReason::new(CloseReasonKind::Shutdown, "agent stopping");
        r.finish(&mut net, Some(&reason), Duration::from_secs(1))
            .await;
        end
    });
    tx.send(()).unwrap();
    assert!(matches!(relay.await.unwrap(), RelayEnd::Stopped));
    let mut buf = BytesMut::new();
    let f = read_frame(&mut peer, &mut buf).await.unwrap();
    assert!(matches!(f, Frame::Close(r) if r.kind == CloseReasonKind::Shutdown));
}

#[tokio::test(start_paused = true)]
async fn a_frame_write_to_a_peer_that_reads_nothing_gives_up_at_its_deadline() {
    let (mut net, _peer) = duplex(64);
    let frame = Frame::Data(Bytes::from(vec![0u8; 4096]));
    let e = serialmesh_proto::conn::write_frame_within(&mut net, &frame, Duration::from_secs(5))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
    assert_eq!(e.to_string(), "the peer took no Data frame within 5s");
}

#[tokio::test]
async fn bytes_moved_are_counted_in_the_meters_while_the_relay_runs() {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    let (mut net, mut peer) = duplex(64 * 1024);
    let (mut dev, mut app) = duplex(64 * 1024);
    let to_device = Arc::new(AtomicU64::new(0));
    let to_net = Arc::new(AtomicU64::new(0));
    let meters = Meters {
        to_device: to_device.clone(),
        to_net: to_net.clone(),
    };
    let relay = tokio::spawn(async move {
        let mut r = Relay::new(BytesMut::new()).with_meters(meters);
        r.run(
            &mut net,
            &mut dev,
            std::future::pending(),
            Liveness::default(),
            no_control,
        )
        .await
    });
    write_frame(&mut peer, &Frame::Data(Bytes::from_static(b"hello")))
        .await
        .unwrap();
    let mut got = [0u8; 5];
    app.read_exact(&mut got).await.unwrap();
    app.write_all(b"abc").await.unwrap();
    let f = read_frame(&mut peer, &mut BytesMut::new()).await.unwrap();
    assert_eq!(f, Frame::Data(Bytes::from_static(b"abc")));
    assert_eq!(to_device.load(Ordering::Relaxed), 5);
    assert_eq!(to_net.load(Ordering::Relaxed), 3);
    relay.abort();
}
