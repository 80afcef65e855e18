use super::*;
use crate::{CloseReasonKind, DeviceInfo, DeviceState, PROTOCOL_VERSION};

fn roundtrip(frame: Frame) {
    let mut buf = frame.to_bytes().unwrap();
    let decoded = Frame::decode(&mut buf)
        .expect("decodes")
        .expect("whole frame");
    assert_eq!(decoded, frame);
    assert!(buf.is_empty(), "decoder left {} bytes", buf.len());
}

#[test]
fn every_frame_type_roundtrips() {
    roundtrip(Frame::Hello(Hello {
        version: PROTOCOL_VERSION,
        software: "test".into(),
        name: "shed".into(),
        zone: "garden".into(),
        features: vec![crate::FEATURE_LINE_CONTROL.into()],
        time: None,
    }));
    roundtrip(Frame::Open(Open {
        address: "zwave@shed".into(),
        settings: Some(LineSettings::default()),
        expect_serial: Some("C0F007B8".into()),
    }));
    roundtrip(Frame::Opened(Opened {
        device: "zwave".into(),
        agent: "shed".into(),
        zone: "shed".into(),
        settings: LineSettings::default(),
        serial: Some("C0F007B8".into()),
    }));
    roundtrip(Frame::Data(Bytes::from_static(&[
        0, 0x11, 0x13, 0x03, 0xff,
    ])));
    roundtrip(Frame::Data(Bytes::new()));
    roundtrip(Frame::SetLine(LineSettings::default()));
    roundtrip(Frame::Heartbeat);
    roundtrip(Frame::Close(CloseReason::busy("gw", "held by gw")));
    roundtrip(Frame::List);
    roundtrip(Frame::Inventory(Inventory {
        agent: "shed".into(),
        zone: "shed".into(),
        devices: vec![DeviceInfo {
            name: "zwave".into(),
            address: "zwave@shed".into(),
            path: "/dev/ttyUSB0".into(),
            profile: Some("zwave".into()),
            usb_id: Some("0658:0200".into()),
            serial: None,
            product: None,
            settings: LineSettings::default(),
            state: DeviceState::InUse {
                client: "gw".into(),
                since: 1,
            },
        }],
        peers: vec!["10.0.0.2:21317".into()],
        peer_keys: vec![crate::PeerKey {
            addr: "10.0.0.2:21317".into(),
            key: format!("spki:{}", "ab".repeat(32)),
        }],
        truncated: true,
    }));
    roundtrip(Frame::LineControl(LineControl::Break { on: true }));
    roundtrip(Frame::LineControl(LineControl::Purge {
        input: true,
        output: false,
    }));
    roundtrip(Frame::LineControl(LineControl::WatchModem));
    roundtrip(Frame::ModemState(ModemState { lines: None }));
    roundtrip(Frame::ModemState(ModemState {
        lines: Some(crate::ModemLines {
            cts: true,
            dsr: false,
            ri: false,
            cd: true,
        }),
    }));
}

#[test]
fn line_control_is_plain_json_and_a_hello_without_features_still_parses() {
    let body = Frame::LineControl(LineControl::Purge {
        input: true,
        output: true,
    })
    .to_bytes()
    .unwrap();
    assert_eq!(&body[..1], &[0x0A]);
    assert_eq!(&body[5..], br#"{"op":"purge","input":true,"output":true}"#);
    // A protocol-1 peer from before features existed.
    let old = br#"{"version":1,"software":"seriald 0.1.0","name":"shed","zone":"shed"}"#;
    let hello: Hello = serde_json::from_slice(old).unwrap();
    assert!(hello.features.is_empty());
    // And what we send without features is what such a peer expects.
    let ours = serde_json::to_string(&hello).unwrap();
    assert!(!ours.contains("features"), "{ours}");
}

#[test]
fn partial_frames_wait_for_more_bytes() {
    let whole = Frame::Data(Bytes::from_static(b"hello"))
        .to_bytes()
        .unwrap();
    for cut in 0..whole.len() {
        let mut buf = BytesMut::from(&whole[..cut]);
        assert_eq!(Frame::decode(&mut buf), Ok(None), "cut at {cut}");
        assert_eq!(buf.len(), cut, "nothing consumed at cut {cut}");
    }
}

#[test]
fn several_frames_in_one_buffer_decode_in_order() {
    let mut buf = BytesMut::new();
    Frame::Data(Bytes::from_static(b"a"))
        .encode(&mut buf)
        .unwrap();
    Frame::Heartbeat.encode(&mut buf).unwrap();
    Frame::Data(Bytes::from_static(b"b"))
        .encode(&mut buf)
        .unwrap();
    let mut seen = vec![];
    while let Some(f) = Frame::decode(&mut buf).unwrap() {
        seen.push(f);
    }
    assert_eq!(
        seen,
        vec![
            Frame::Data(Bytes::from_static(b"a")),
            Frame::Heartbeat,
            Frame::Data(Bytes::from_static(b"b")),
        ]
    );
}

#[test]
fn oversized_frame_is_refused_from_its_header_alone() {
    let mut buf = BytesMut::from(&[0x04, 0xff, 0xff, 0xff, 0xff][..]);
    let err = Frame::decode(&mut buf).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("frame of 4294967295 bytes exceeds the limit of {MAX_PAYLOAD} bytes")
    );
}

#[test]
fn unknown_frame_type_is_refused() {
    let mut buf = BytesMut::from(&[0x7f, 0, 0, 0, 0][..]);
    assert_eq!(
        Frame::decode(&mut buf).unwrap_err().to_string(),
        "unknown frame type 0x7f"
    );
}

#[test]
fn malformed_json_names_the_frame_kind() {
    let mut buf = BytesMut::from(&[0x02, 0, 0, 0, 3][..]);
    buf.extend_from_slice(b"{x}");
    let err = Frame::decode(&mut buf).unwrap_err().to_string();
    assert!(err.starts_with("malformed Open frame:"), "{err}");
}

#[test]
fn heartbeat_with_payload_is_malformed() {
    let mut buf = BytesMut::from(&[0x06, 0, 0, 0, 1, 9][..]);
    let err = Frame::decode(&mut buf).unwrap_err().to_string();
    assert_eq!(
        err,
        "malformed Heartbeat frame: expected no payload, got 1 bytes"
    );
}

#[test]
fn close_reason_displays_kind_and_message() {
    let r = CloseReason::new(CloseReasonKind::UnknownDevice, "no 'x' on shed");
    assert_eq!(r.to_string(), "unknown device: no 'x' on shed");
    assert!(!CloseReasonKind::NotAuthorised.is_retryable());
    assert!(!CloseReasonKind::Replaced.is_retryable());
    assert!(CloseReasonKind::Busy.is_retryable());
}

#[test]
fn data_header_matches_encoder() {
    let mut h = [0u8; HEADER_LEN];
    encode_data_header(&mut h, 300);
    let encoded = Frame::Data(Bytes::from(vec![7u8; 300])).to_bytes().unwrap();
    assert_eq!(&h[..], &encoded[..HEADER_LEN]);
}

#[test]
fn line_settings_reject_impossible_values() {
    let bad = r#"{"baud":9600,"data_bits":9,"parity":"none","stop_bits":1,"flow_control":"none"}"#;
    let err = serde_json::from_str::<LineSettings>(bad)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("data_bits must be 5, 6, 7 or 8, not 9"),
        "{err}"
    );
}

#[test]
fn the_encoder_refuses_a_frame_the_decoder_would_refuse() {
    let mut out = BytesMut::from(&b"kept"[..]);
    let big = Frame::Data(Bytes::from(vec![0u8; MAX_PAYLOAD + 1]));
    assert_eq!(
        big.encode(&mut out),
        Err(ProtocolError::Oversized {
            len: MAX_PAYLOAD + 1
        })
    );
    assert_eq!(&out[..], b"kept", "nothing written");
    let inventory = Frame::Inventory(Inventory {
        peers: vec!["x".repeat(MAX_PAYLOAD)],
        ..Inventory::default()
    });
    let err = inventory.to_bytes().unwrap_err().to_string();
    assert!(err.contains("exceeds the limit of 262144 bytes"), "{err}");
}

/// `n` peers at addresses of 20 bytes or so, with their keys.
fn with_peers(n: usize) -> Inventory {
    let peers: Vec<String> = (0..n)
        .map(|i| format!("10.{}.{}.{}:21317", i >> 16, (i >> 8) & 255, i & 255))
        .collect();
    Inventory {
        agent: "shed".into(),
        zone: "garden".into(),
        peer_keys: peers
            .iter()
            .map(|p| crate::PeerKey {
                addr: p.clone(),
                key: format!("spki:{}", "cd".repeat(32)),
            })
            .collect(),
        peers,
        ..Inventory::default()
    }
}

#[test]
fn an_inventory_too_big_for_one_frame_keeps_the_peers_that_fit_and_says_so() {
    let small = with_peers(10).fit();
    assert!(!small.truncated);
    assert_eq!(small.peers.len(), 10);
    assert!(!serde_json::to_string(&small).unwrap().contains("truncated"));

    let fitted = with_peers(20_000).fit();
    assert!(fitted.truncated);
    let kept = fitted.peers.len();
    assert!(kept > 100 && kept < 20_000, "{kept}");
    assert_eq!(fitted.peer_keys.len(), kept);
    let bytes = Frame::Inventory(fitted.clone()).to_bytes().unwrap();
    assert!(bytes.len() <= HEADER_LEN + MAX_PAYLOAD);
    // As full as it can be: one more peer would not fit.
    let mut more = fitted.clone();
    more.peers = with_peers(kept + 1).peers;
    more.peer_keys = with_peers(kept + 1).peer_keys;
    assert!(Frame::Inventory(more).to_bytes().is_err());
    let mut buf = bytes;
    assert_eq!(
        Frame::decode(&mut buf).unwrap(),
        Some(Frame::Inventory(fitted))
    );
}

#[test]
fn an_older_inventory_without_the_new_fields_still_reads() {
    let old = br#"{"agent":"shed","zone":"z","devices":[],"peers":["10.0.0.2:21317"]}"#;
    let inv: Inventory = serde_json::from_slice(old).unwrap();
    assert_eq!((inv.peer_keys.len(), inv.truncated), (0, false));
}

#[test]
fn the_serial_pin_fields_are_left_out_unless_set_and_older_peers_still_read() {
    // From before expect_serial and Opened.serial existed.
    let open: Open = serde_json::from_slice(br#"{"address":"zwave@shed"}"#).unwrap();
    assert_eq!(open.expect_serial, None);
    let opened: Opened = serde_json::from_slice(
        br#"{"device":"zwave","agent":"shed","zone":"shed","settings":{"baud":115200,"data_bits":8,"parity":"none","stop_bits":1,"flow_control":"none"}}"#,
    )
    .unwrap();
    assert_eq!(opened.serial, None);
    // Unset, they are not sent: an older peer sees what it always saw.
    let ours = serde_json::to_string(&open).unwrap();
    assert!(!ours.contains("expect_serial"), "{ours}");
    let ours = serde_json::to_string(&opened).unwrap();
    assert!(!ours.contains("serial"), "{ours}");
    // An older peer's structs have no deny_unknown_fields: it ignores them.
    let pinned = Open {
        expect_serial: Some("C0F007B8".into()),
        ..open
    };
    assert!(serde_json::to_string(&pinned)
        .unwrap()
        .contains(r#""expect_serial":"C0F007B8""#));
}

#[test]
fn wrong_device_is_a_retryable_close_reason() {
    let r = CloseReason::new(CloseReasonKind::WrongDevice, "zwave@shed is BBB, not AAA");
    assert!(r.kind.is_retryable());
    assert_eq!(r.to_string(), "wrong device: zwave@shed is BBB, not AAA");
    let json = serde_json::to_string(&r).unwrap();
    assert!(json.contains(r#""kind":"wrong_device""#), "{json}");
}
