//! Red-team findings against the ESPHome endpoint (`agent/src/esphome/`):
//! each test is one attack, named for the behaviour the endpoint must show.
//! Written as a red-team pass; six of them failed on the endpoint as first
//! written and pass since their fixes (replays, a key changed mid-setup,
//! log floods, refusal timing). The two still `#[ignore]`d say why. The
//! client is built from the protocol crate's own pieces (`frame`, `noise`)
//! so a test can stop where zwave-js never would.

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use serialmesh_esphome::client::BlockingClient;
use serialmesh_esphome::frame::{self, MAX_FRAME, MAX_HANDSHAKE_FRAME};
use serialmesh_esphome::messages::id;
use serialmesh_esphome::noise::{self, Transport};
use serialmesh_tests::esphome::{echo_through as echo, esphome_agent, esphome_toml, EsphomeKey};
use serialmesh_tests::net::{closed_within, connect_from, free_port, wait_listening};
use serialmesh_tests::util::temp_dir;
use serialmesh_tests::{AgentBuilder, EchoDevice, Pki, RunningAgent};

const WAIT: Duration = Duration::from_secs(10);

fn agent(
    pki: &Pki,
    device: &EchoDevice,
    clients: &[&EsphomeKey],
    top: &str,
    extra: &str,
) -> (RunningAgent, SocketAddr) {
    esphome_agent(pki, "esp-red", device, clients, top, extra)
}

/// A client that stops wherever the test says: handshake done, nothing
/// else sent yet.
struct Raw {
    s: TcpStream,
    buf: BytesMut,
    t: Transport,
}

fn read_frame(s: &mut TcpStream, buf: &mut BytesMut, limit: usize) -> std::io::Result<Vec<u8>> {
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(f) = frame::take(buf, limit)
            .map_err(|e| std::io::Error::new(ErrorKind::InvalidData, e.to_string()))?
        {
            return Ok(f.to_vec());
        }
        let n = s.read(&mut chunk)?;
        if n == 0 {
            return Err(ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

impl Raw {
    fn handshake(addr: SocketAddr, key: &[u8; 32]) -> Raw {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(WAIT)).unwrap();
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        frame::put(&mut out, &[]);
        let (first, hs) = noise::initiate(key, &[]).unwrap();
        frame::put(&mut out, &first);
        s.write_all(&out).unwrap();
        let _hello = read_frame(&mut s, &mut buf, MAX_HANDSHAKE_FRAME).unwrap();
        let answer = read_frame(&mut s, &mut buf, MAX_HANDSHAKE_FRAME).unwrap();
        let t = noise::finish(hs, &answer).unwrap();
        Raw { s, buf, t }
    }

    fn send(&mut self, msg_id: u16, body: &[u8]) -> std::io::Result<()> {
        let mut out = Vec::new();
        self.t.seal(msg_id, body, &mut out).unwrap();
        self.s.write_all(&out)
    }

    fn wait_for(&mut self, want: u16) -> std::io::Result<Vec<u8>> {
        loop {
            let payload = read_frame(&mut self.s, &mut self.buf, MAX_FRAME)?;
            let plain = self.t.open(&payload).unwrap();
            let (got, body) = frame::split_message(&plain).unwrap();
            if got == want {
                return Ok(body.to_vec());
            }
        }
    }
}

/// `zwave_proxy_feature_flags` (field 23, varint) of a DeviceInfoResponse.
fn feature_flags(mut body: &[u8]) -> u64 {
    fn varint(b: &mut &[u8]) -> u64 {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = b[0];
            *b = &b[1..];
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                break;
            }
        }
        v
    }
    let mut flags = 0;
    while !body.is_empty() {
        let tag = varint(&mut body);
        match tag & 7 {
            0 => {
                let v = varint(&mut body);
                if tag >> 3 == 23 {
                    flags = v;
                }
            }
            2 => {
                let n = varint(&mut body) as usize;
                body = &body[n..];
            }
            w => panic!("wire type {w} in DeviceInfoResponse"),
        }
    }
    flags
}

/// HOLE (medium, denial of service by a LAN attacker without a key).
/// NNpsk0's first message has no replay protection, and the endpoint counts
/// a replayed handshake against the client's `max_connections_per_client`
/// (endpoint.rs, `admission.client` right after the handshake) for the
/// whole `request_timeout`. A sniffer who recorded one handshake of
/// zwave-js-ui replays it 32 times (the default cap) every 10 s and
/// zwave-js-ui is closed after each of its handshakes: after its 10
/// reconnects zwave-js destroys its driver. Fix: count a connection against
/// its client only once a transport message from it has decrypted (proof
/// it holds the ephemeral key), with `handshake_timeout` for that first
/// message; and/or refuse a first message whose ephemeral key was seen in
/// the last few minutes.
#[test]
fn replays_of_a_recorded_handshake_do_not_lock_out_the_client_who_made_it() {
    let pki = Pki::new();
    let keys = temp_dir();
    let ui = EsphomeKey::new(keys.path(), "zwave-js-ui");
    let device = EchoDevice::start();
    // Default [limits]: max_connections_per_client = 32, request_timeout = 10 s.
    let (agent, addr) = agent(&pki, &device, &[&ui], "", "");
    let (first, _) = noise::initiate(&ui.key_bytes(), &[]).unwrap();
    let mut recorded = Vec::new();
    frame::put(&mut recorded, &[]);
    frame::put(&mut recorded, &first);

    let attacker: IpAddr = [127, 0, 0, 2].into();
    let replays: Vec<TcpStream> = (0..32)
        .map(|_| {
            let mut s = connect_from(attacker, addr).unwrap();
            s.write_all(&recorded).unwrap();
            s.set_read_timeout(Some(WAIT)).unwrap();
            let mut buf = BytesMut::new();
            read_frame(&mut s, &mut buf, MAX_HANDSHAKE_FRAME).unwrap();
            let answer = read_frame(&mut s, &mut buf, MAX_HANDSHAKE_FRAME).unwrap();
            assert_eq!(answer[0], 0, "the replay was answered as the client");
            s
        })
        .collect();

    let got = BlockingClient::connect(addr, &ui.key_bytes(), WAIT);
    let log = agent.guard.output();
    let mut c = got.unwrap_or_else(|e| {
        panic!(
            "the key holder is locked out by {} replays: {e}\n{}",
            replays.len(),
            log.lines()
                .filter(|l| l.contains("max_connections_per_client"))
                .collect::<Vec<_>>()
                .join("\n")
        )
    });
    assert!(c.has_device());
    echo(&mut c, b"not locked out");
}

/// HOLE (medium, revocation bypass by the holder of the revoked key).
/// Replacing a key file ends only the sessions that hold the device
/// (keys.rs:129 `stop_where` on the holder's fingerprint). A session whose
/// handshake was made with the old key but has not asked for DeviceInfo yet
/// is not ended, and DeviceInfo then claims the device through a gate that
/// knows nothing of key files (only the deny list): the revoked key gets
/// the stick and keeps it indefinitely. A key holder who keeps one such
/// connection open (reopened every < request_timeout) defeats key-file
/// revocation every time. Fix: per-key cancellation of every live
/// connection in keys.rs:reread (not only holders), and a check that the
/// key is still in force at the claim (conn.rs, before `Held::claim`).
#[test]
fn a_connection_made_before_its_key_file_changed_cannot_get_the_device_after() {
    let pki = Pki::new();
    let keys = temp_dir();
    let ui = EsphomeKey::new(keys.path(), "zwave-js-ui");
    let device = EchoDevice::start();
    let (agent, addr) = agent(&pki, &device, &[&ui], "", "");
    let old = ui.key_bytes();
    let mut raw = Raw::handshake(addr, &old);
    raw.send(id::HELLO_REQUEST, &[]).unwrap();
    raw.wait_for(id::HELLO_RESPONSE).unwrap();

    let _ui = ui.replaced();
    agent
        .guard
        .wait_for_output("key file changed; the new key is in force", WAIT)
        .unwrap();
    // The old key is refused to a new connection...
    let again = BlockingClient::connect(addr, &old, WAIT).err().unwrap();
    assert_eq!(again.kind(), ErrorKind::PermissionDenied, "{again}");

    // ...but the connection made with it before asks for the device now.
    let asked = raw
        .send(id::DEVICE_INFO_REQUEST, &[])
        .and_then(|()| raw.wait_for(id::DEVICE_INFO_RESPONSE));
    match asked {
        Err(_) => {} // closed: what revocation should do
        Ok(body) => {
            let flags = feature_flags(&body);
            assert_eq!(
                flags,
                0,
                "the revoked key was given the device\n{}",
                agent.guard.output()
            );
        }
    }
}

/// HOLE (low, log flooding by the holder of a revoked key): the warning
/// "ESPHome client's key is revoked" (endpoint.rs:201) is written for every
/// handshake with a revoked key, outside the 10 s refusal throttle that
/// wrong keys get, so one host can write thousands of warn lines a second.
/// Fix: log it through `self.refusals` (or a throttle of its own).
#[test]
fn a_revoked_key_hammering_the_endpoint_is_logged_sparingly() {
    let pki = Pki::new();
    let keys = temp_dir();
    let ui = EsphomeKey::new(keys.path(), "zwave-js-ui");
    let revoked = keys.path().join("revoked.txt");
    std::fs::write(&revoked, "# nobody yet\n").unwrap();
    let device = EchoDevice::start();
    let (agent, addr) = agent(
        &pki,
        &device,
        &[&ui],
        &format!("revoked_file = {:?}", revoked),
        "",
    );
    let fp = agent
        .guard
        .output()
        .lines()
        .find(|l| l.contains("ESPHome client key in force"))
        .and_then(|l| l.split("key=").nth(1))
        .and_then(|r| r.split_whitespace().next())
        .map(str::to_string)
        .unwrap();
    std::fs::write(&revoked, format!("{fp}\n")).unwrap();
    agent.guard.wait_for_output("revoked", WAIT).unwrap();
    // Wait until the agent refuses the key (the reload is asynchronous).
    let deadline = Instant::now() + WAIT;
    while BlockingClient::connect(addr, &ui.key_bytes(), WAIT).is_ok() {
        assert!(Instant::now() < deadline, "revocation never took effect");
        std::thread::sleep(Duration::from_millis(100));
    }
    let started = Instant::now();
    for _ in 0..200 {
        let e = BlockingClient::connect(addr, &ui.key_bytes(), WAIT)
            .err()
            .unwrap();
        assert_eq!(e.to_string(), "handshake refused: Handshake MAC failure");
    }
    let elapsed = started.elapsed();
    let log = agent.guard.output();
    let lines = log.matches("ESPHome client's key is revoked").count();
    assert!(
        lines <= 4,
        "{lines} warn lines for 201 handshakes in {elapsed:?} with a revoked key"
    );
}

/// HELD: malformed input before the handshake completes is closed at once
/// (well before `handshake_timeout`), never answered as a client, and the
/// key holder's session carries on.
#[test]
fn malformed_handshake_input_is_closed_at_once_and_the_holder_carries_on() {
    let pki = Pki::new();
    let keys = temp_dir();
    let ui = EsphomeKey::new(keys.path(), "zwave-js-ui");
    let device = EchoDevice::start();
    let (agent, addr) = agent(
        &pki,
        &device,
        &[&ui],
        "",
        "[limits]\nhandshake_timeout = 30.0",
    );
    let mut holder = BlockingClient::connect(addr, &ui.key_bytes(), WAIT).unwrap();
    let hello = [1u8, 0, 0];
    let framed = |payload: &[u8]| {
        let mut f = hello.to_vec();
        frame::put(&mut f, payload);
        f
    };
    let (valid_first, _) = noise::initiate(&ui.key_bytes(), &[]).unwrap();
    let mut truncated = valid_first.clone();
    truncated.truncate(40);
    let mut padded = valid_first.clone();
    padded.extend_from_slice(&[0u8; 60]);
    let mut flipped = valid_first.clone();
    flipped[10] ^= 1;
    let mut status1 = valid_first.clone();
    status1[0] = 1;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "plaintext indicator 0x00",
            vec![0x00, 0x05, 0x01, 0, 0, 0, 0],
        ),
        ("indicator 0xff", vec![0xff; 8]),
        ("hello length 0xffff", vec![1, 0xff, 0xff]),
        ("hello length 129", vec![1, 0, 129]),
        (
            "first message length 0xffff",
            [&hello[..], &[1, 0xff, 0xff]].concat(),
        ),
        ("empty first message", framed(&[])),
        ("one-byte first message", framed(&[0])),
        ("first message cut to 40 bytes", framed(&truncated)),
        ("first message with 60 bytes appended", framed(&padded)),
        ("first message with a flipped bit", framed(&flipped)),
        ("first message with status 1", framed(&status1)),
        ("a transport-sized frame instead", framed(&[0x42; 100])),
    ];
    for (what, bytes) in cases {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(&bytes).unwrap();
        let started = Instant::now();
        assert!(
            closed_within(&mut s, Duration::from_secs(3)),
            "{what}: still open after 3 s"
        );
        eprintln!("{what}: closed after {:?}", started.elapsed());
    }
    echo(&mut holder, b"carries on");
    assert!(!agent.guard.output().contains("panicked"));
}

/// HELD: a key holder that writes and never reads loses its session after
/// `WRITE_WAIT` (5 s), the agent's memory stays bounded by the socket
/// buffers, and the device is free again for the next client.
#[test]
fn a_client_that_never_reads_loses_the_device_within_seconds_and_memory_stays_flat() {
    let pki = Pki::new();
    let keys = temp_dir();
    let ui = EsphomeKey::new(keys.path(), "zwave-js-ui");
    let device = EchoDevice::start();
    let (agent, addr) = agent(&pki, &device, &[&ui], "", "");
    let rss = || {
        std::fs::read_to_string(format!("/proc/{}/status", agent.guard.pid()))
            .unwrap()
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|k| k.parse::<u64>().ok())
            .unwrap()
    };
    let before = rss();
    let mut c = BlockingClient::connect(addr, &ui.key_bytes(), WAIT).unwrap();
    assert!(c.has_device());
    let started = Instant::now();
    let writer = std::thread::spawn(move || {
        let chunk = [0x55u8; 4096];
        let mut sent = 0usize;
        // 32 MiB echoed back at a reader that never reads.
        while sent < 32 << 20 {
            match c.write(&chunk) {
                Ok(n) => sent += n,
                Err(_) => break,
            }
        }
        (sent, c)
    });
    agent
        .guard
        .wait_for_output("ESPHome client disconnected", Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("{e}"));
    let ended_after = started.elapsed();
    let peak = rss();
    let (sent, _c) = writer.join().unwrap();
    eprintln!(
        "never-reader: sent {sent} bytes, session ended after {ended_after:?}, agent RSS {before} kB -> {peak} kB"
    );
    assert!(peak < before + 32 * 1024, "RSS {before} kB -> {peak} kB");
    // (No echo check here: the rig's echo device still holds megabytes
    // echoed for the old session and delivers them to the next one.)
    let next = BlockingClient::connect(addr, &ui.key_bytes(), WAIT).unwrap();
    assert!(next.has_device(), "{}", agent.guard.output());
}

/// HELD: client B (its own valid key) cannot take a device client A holds
/// (no takeover), and is named as itself in the refusal.
#[test]
fn a_second_key_holder_cannot_take_the_device_from_the_first_without_takeover() {
    let pki = Pki::new();
    let keys = temp_dir();
    let a = EsphomeKey::new(keys.path(), "alice");
    let b = EsphomeKey::new(keys.path(), "bob");
    let device = EchoDevice::start();
    let (agent, addr) = agent(&pki, &device, &[&a, &b], "", "");
    let mut ca = BlockingClient::connect(addr, &a.key_bytes(), WAIT).unwrap();
    assert!(ca.has_device());
    for _ in 0..5 {
        let cb = BlockingClient::connect(addr, &b.key_bytes(), WAIT).unwrap();
        assert!(!cb.has_device());
    }
    echo(&mut ca, b"alice still");
    let log = agent.guard.output();
    let line = log
        .lines()
        .find(|l| l.contains("refused the device to the ESPHome client"))
        .unwrap();
    assert!(line.contains("client=bob"), "{line}");
    assert!(line.contains("alice"), "{line}");
}

/// HOLE (low, log flooding and misattribution by a LAN attacker without a
/// key; same root cause as the replay lock-out): a replayed handshake
/// followed by any garbage frame is logged as "ESPHome client connected"
/// and "ESPHome client broke the protocol" under `client=zwave-js-ui`, and
/// counted in `protocol_violations`, once per replay with no throttle
/// (conn.rs:101). Logs and metrics then blame a client that did nothing.
/// Fix: as for the replay lock-out (a connection is the client's only once
/// a transport message decrypts; a first frame that does not decrypt is a
/// handshake failure, throttled like a wrong key).
#[test]
fn replayed_handshakes_with_garbage_after_them_are_not_logged_as_the_clients_doing() {
    let pki = Pki::new();
    let keys = temp_dir();
    let ui = EsphomeKey::new(keys.path(), "zwave-js-ui");
    let device = EchoDevice::start();
    let (agent, addr) = agent(&pki, &device, &[&ui], "", "");
    let (first, _) = noise::initiate(&ui.key_bytes(), &[]).unwrap();
    let mut recorded = Vec::new();
    frame::put(&mut recorded, &[]);
    frame::put(&mut recorded, &first);
    frame::put(&mut recorded, &[0x42; 64]);
    let started = Instant::now();
    for _ in 0..100 {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(&recorded).unwrap();
        assert!(closed_within(&mut s, WAIT));
    }
    let elapsed = started.elapsed();
    std::thread::sleep(Duration::from_millis(200));
    let log = agent.guard.output();
    let blamed = log
        .lines()
        .filter(|l| l.contains("broke the protocol") && l.contains("client=zwave-js-ui"))
        .count();
    assert!(
        blamed <= 4,
        "{blamed} protocol violations blamed on zwave-js-ui by 100 replays in {elapsed:?}"
    );
}

/// HELD: nothing a client sends reaches the tty before it holds the device:
/// Z-Wave frames before DeviceInfo, and frames from a client refused the
/// device (held by another), are dropped.
#[test]
fn frames_from_a_client_without_the_device_never_reach_the_tty() {
    let pki = Pki::new();
    let keys = temp_dir();
    let a = EsphomeKey::new(keys.path(), "alice");
    let b = EsphomeKey::new(keys.path(), "bob");
    let device = EchoDevice::start();
    let (_agent, addr) = agent(&pki, &device, &[&a, &b], "", "");
    // ZWaveProxyFrame { data: "EARLY" }
    let early = [&[0x0a, 5][..], b"EARLY"].concat();
    let mut raw = Raw::handshake(addr, &a.key_bytes());
    for _ in 0..10 {
        raw.send(id::ZWAVE_PROXY_FRAME, &early).unwrap();
    }
    raw.send(id::HELLO_REQUEST, &[]).unwrap();
    raw.wait_for(id::HELLO_RESPONSE).unwrap();
    assert_eq!(
        device.bytes_read(),
        0,
        "bytes reached the tty before DeviceInfo"
    );
    raw.send(id::DEVICE_INFO_REQUEST, &[]).unwrap();
    assert_eq!(
        feature_flags(&raw.wait_for(id::DEVICE_INFO_RESPONSE).unwrap()),
        1
    );

    let mut refused = Raw::handshake(addr, &b.key_bytes());
    refused.send(id::DEVICE_INFO_REQUEST, &[]).unwrap();
    assert_eq!(
        feature_flags(&refused.wait_for(id::DEVICE_INFO_RESPONSE).unwrap()),
        0
    );
    for _ in 0..10 {
        let _ = refused.send(id::ZWAVE_PROXY_FRAME, &early);
    }
    assert!(closed_within(&mut refused.s, WAIT));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        device.bytes_read(),
        0,
        "a refused client's bytes reached the tty"
    );
}

/// HELD: with RUST_LOG=trace, neither the pre-shared key (base64, hex or as
/// a byte list) appears anywhere in the agent's output over a whole
/// session, a wrong-key refusal and a key-file change.
#[test]
fn no_key_material_reaches_the_log_even_at_trace_level() {
    let pki = Pki::new();
    let keys = temp_dir();
    let ui = EsphomeKey::new(keys.path(), "zwave-js-ui");
    let device = EchoDevice::start();
    let port = free_port();
    let agent = AgentBuilder::new(&pki, "esp-red")
        .env("RUST_LOG", "trace")
        .device("echo", device.path())
        .device_toml(&esphome_toml("echo", port, &[&ui]))
        .start();
    wait_listening(port, WAIT).unwrap();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let old = ui.key_bytes();
    let old_b64 = ui.base64.clone();
    let mut c = BlockingClient::connect(addr, &old, WAIT).unwrap();
    echo(&mut c, b"trace me");
    let _ = BlockingClient::connect(addr, &[7u8; 32], WAIT);
    let ui = ui.replaced();
    agent
        .guard
        .wait_for_output("key file changed", WAIT)
        .unwrap();
    let log = agent.guard.output();
    assert!(log.len() > 1000, "trace logging is on: {} bytes", log.len());
    for key in [old, ui.key_bytes()] {
        let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
        let list = format!("{}, {}, {}, {}", key[0], key[1], key[2], key[3]);
        assert!(!log.to_lowercase().contains(&hex[..16]), "key hex in log");
        assert!(!log.contains(&list), "key bytes in log: {list}");
    }
    assert!(!log.contains(&old_b64[..16]), "key base64 in log");
    assert!(!log.contains(&ui.base64[..16]), "new key base64 in log");
}

/// HELD: a key holder that breaks the transport (undecryptable frame, a
/// replayed frame, a protobuf field longer than its message, a protobuf
/// field length of 4 GiB) is closed at once and the device is free again.
#[test]
fn a_key_holder_sending_malformed_messages_is_closed_and_frees_the_device() {
    let pki = Pki::new();
    let keys = temp_dir();
    let ui = EsphomeKey::new(keys.path(), "zwave-js-ui");
    let device = EchoDevice::start();
    let (agent, addr) = agent(&pki, &device, &[&ui], "", "");
    type Attack = fn(&mut Raw);
    let cases: Vec<(&str, Attack)> = vec![
        ("undecryptable frame", |r| {
            let mut f = Vec::new();
            frame::put(&mut f, &[0x42; 200]);
            r.s.write_all(&f).unwrap();
        }),
        ("replayed transport frame", |r| {
            let mut f = Vec::new();
            r.t.seal(id::PING_REQUEST, &[], &mut f).unwrap();
            r.s.write_all(&f).unwrap();
            r.s.write_all(&f).unwrap();
        }),
        ("protobuf field claiming more than its message", |r| {
            // HelloRequest whose client_info says 1000 bytes and holds 1.
            let mut g = Vec::new();
            r.t.seal(id::HELLO_REQUEST, &[0x0a, 0xe8, 0x07, b'x'], &mut g)
                .unwrap();
            r.s.write_all(&g).unwrap();
        }),
        ("protobuf length of 4 GiB", |r| {
            let mut g = Vec::new();
            r.t.seal(
                id::HELLO_REQUEST,
                &[0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, b'x'],
                &mut g,
            )
            .unwrap();
            r.s.write_all(&g).unwrap();
        }),
    ];
    for (what, attack) in cases {
        let mut r = Raw::handshake(addr, &ui.key_bytes());
        r.send(id::DEVICE_INFO_REQUEST, &[]).unwrap();
        assert_eq!(
            feature_flags(&r.wait_for(id::DEVICE_INFO_RESPONSE).unwrap()),
            1,
            "{what}"
        );
        let started = Instant::now();
        attack(&mut r);
        assert!(closed_within(&mut r.s, WAIT), "{what}: not closed");
        eprintln!("{what}: closed after {:?}", started.elapsed());
    }
    let mut c = BlockingClient::connect(addr, &ui.key_bytes(), WAIT).unwrap();
    assert!(c.has_device());
    echo(&mut c, b"free");
    let log = agent.guard.output();
    assert!(log.matches("broke the protocol").count() >= 4, "{log}");
}

/// HELD: deleting a client's key file ends its live session and refuses
/// its key from then on.
#[test]
fn deleting_a_clients_key_file_ends_its_session_and_refuses_its_key() {
    let pki = Pki::new();
    let keys = temp_dir();
    let ui = EsphomeKey::new(keys.path(), "zwave-js-ui");
    let device = EchoDevice::start();
    let (agent, addr) = agent(&pki, &device, &[&ui], "", "");
    let mut c = BlockingClient::connect(addr, &ui.key_bytes(), WAIT).unwrap();
    echo(&mut c, b"before");
    let started = Instant::now();
    std::fs::remove_file(&ui.path).unwrap();
    let mut buf = [0u8; 16];
    let ended = c.read(&mut buf);
    assert!(matches!(ended, Ok(0) | Err(_)), "{ended:?}");
    eprintln!("session ended {:?} after the delete", started.elapsed());
    let again = BlockingClient::connect(addr, &ui.key_bytes(), WAIT)
        .err()
        .unwrap_or_else(|| panic!("key still accepted\n{}", agent.guard.output()));
    assert_eq!(
        again.to_string(),
        "handshake refused: Handshake MAC failure"
    );
}

/// HOLE (low, timing side channel): `noise::accept` returns at the first
/// key that verifies (noise.rs:109), and the deny-list check comes after,
/// so a revoked key is refused after i+1 key trials and a wrong key after
/// all N. The words are the same ("Handshake MAC failure") but the time is
/// not: with 16 clients (debug build) a wrong key's refusal takes a median
/// 2.7 ms, the revoked first key's 0.27 ms. A revoked key's holder learns
/// its key is still listed (revoked by fingerprint, not by key file) and
/// where; anyone learns how many keys are configured. Fix: try every key
/// every time (no early return) in noise.rs:103-113.
#[test]
fn a_revoked_key_and_a_wrong_key_are_refused_in_about_the_same_time() {
    let pki = Pki::new();
    let keys = temp_dir();
    let clients: Vec<EsphomeKey> = (0..16)
        .map(|i| EsphomeKey::new(keys.path(), &format!("c{i}")))
        .collect();
    let refs: Vec<&EsphomeKey> = clients.iter().collect();
    let revoked = keys.path().join("revoked.txt");
    std::fs::write(&revoked, "# none\n").unwrap();
    let device = EchoDevice::start();
    let (agent, addr) = agent(
        &pki,
        &device,
        &refs,
        &format!("revoked_file = {:?}", revoked),
        "",
    );
    let fp = agent
        .guard
        .output()
        .lines()
        .find(|l| l.contains("ESPHome client key in force") && l.contains("client=c0 "))
        .and_then(|l| l.split("key=").nth(1))
        .and_then(|r| r.split_whitespace().next())
        .map(str::to_string)
        .unwrap();
    std::fs::write(&revoked, format!("{fp}\n")).unwrap();
    let first = clients[0].key_bytes();
    let deadline = Instant::now() + WAIT;
    while BlockingClient::connect(addr, &first, WAIT).is_ok() {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(100));
    }
    let refuse = |key: &[u8; 32]| {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(WAIT)).unwrap();
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        frame::put(&mut out, &[]);
        let (m1, _) = noise::initiate(key, &[]).unwrap();
        frame::put(&mut out, &m1);
        s.write_all(&out).unwrap();
        read_frame(&mut s, &mut buf, MAX_HANDSHAKE_FRAME).unwrap();
        let started = Instant::now();
        let answer = read_frame(&mut s, &mut buf, MAX_HANDSHAKE_FRAME).unwrap();
        let t = started.elapsed();
        assert_eq!(answer[0], 1);
        t
    };
    let (mut wrong, mut rev) = (Vec::new(), Vec::new());
    for i in 0..300u32 {
        let mut k = [0u8; 32];
        k[..4].copy_from_slice(&i.to_be_bytes());
        k[31] = 1;
        wrong.push(refuse(&k));
        rev.push(refuse(&first));
    }
    wrong.sort();
    rev.sort();
    let (w, r) = (wrong[150], rev[150]);
    eprintln!("median refusal: wrong key {w:?}, revoked key {r:?} (16 keys configured)");
    let diff = w.abs_diff(r);
    assert!(diff < Duration::from_millis(1), "wrong {w:?} revoked {r:?}");
}

const FLOOD_THREADS: u8 = 2;

/// HOLE (medium under load, denial of service by a keyless LAN attacker
/// with many addresses): half-open handshakes from 500 addresses (two
/// threads, each holding its newest 200, ~2000 connections/s) while the key
/// holder connects 20 times as zwave-js does. Each attacker address holds
/// one or two pending handshakes, so "evict the oldest of the busiest
/// address" (admission.rs `busiest`, ties broken by age) picks the key
/// holder as soon as its handshake is older than the last max_pending (64)
/// attacker connections. Alone: 20/20 got in (median 3-7 ms). With the
/// other tests of this file running (CPU contention, as on a small host):
/// 12/20, 18/20, 19/20 (resets after 15-300 ms). Fix (shared with the mTLS
/// listener): a much larger default `max_pending` (config/src/limits.rs:39;
/// a pending ESPHome handshake costs a task and a 4 KiB buffer), and/or
/// random rather than oldest eviction among equally busy sources.
#[test]
#[ignore = "fails under CPU load: many-address half-open flood evicts the key holder (admission.rs busiest)"]
fn half_open_handshakes_from_many_addresses_do_not_lock_out_a_key_holder() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;
    let pki = Pki::new();
    let keys = temp_dir();
    let ui = EsphomeKey::new(keys.path(), "zwave-js-ui");
    let device = EchoDevice::start();
    let (agent, addr) = agent(&pki, &device, &[&ui], "", "");
    let stop = Arc::new(AtomicBool::new(false));
    let opened = Arc::new(AtomicUsize::new(0));
    let flooders: Vec<_> = (0..FLOOD_THREADS)
        .map(|t| {
            let (stop, opened) = (stop.clone(), opened.clone());
            std::thread::spawn(move || {
                let mut held = std::collections::VecDeque::new();
                let mut i = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    let src: IpAddr = [127, 1 + t, 0, 1 + (i % 250) as u8].into();
                    i += 1;
                    if let Ok(mut s) = connect_from(src, addr) {
                        let _ = s.write_all(&[1, 0, 0]);
                        held.push_back(s);
                        opened.fetch_add(1, Ordering::Relaxed);
                    }
                    if held.len() > 200 {
                        held.pop_front();
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(1));
    let (mut ok, mut times, mut errors) = (0, Vec::new(), Vec::new());
    for _ in 0..20 {
        let started = Instant::now();
        match BlockingClient::connect(addr, &ui.key_bytes(), Duration::from_secs(5)) {
            Ok(c) if c.has_device() => {
                ok += 1;
                times.push(started.elapsed());
            }
            Ok(_) => errors.push("no device".to_string()),
            Err(e) => errors.push(format!("{e} after {:?}", started.elapsed())),
        }
    }
    stop.store(true, Ordering::Relaxed);
    for f in flooders {
        f.join().unwrap();
    }
    times.sort();
    let log = agent.guard.output();
    eprintln!(
        "flood: {} attacker connections; key holder got in {ok}/20, median {:?}, max {:?}; {} eviction warnings, {} max_connections warnings; failures: {errors:?}",
        opened.load(Ordering::Relaxed),
        times.get(times.len() / 2),
        times.last(),
        log.matches("too many pending ESPHome handshakes").count(),
        log.matches("too many ESPHome connections").count()
    );
    assert!(ok >= 18, "key holder got in {ok}/20 times: {errors:?}");
}

/// HOLE (low, log flooding by a LAN attacker without a key): every
/// connection that fails the handshake other than by a clean close or a
/// wrong key (a reset, a bad first byte, a frame over 128 bytes, a
/// handshake timeout) writes one INFO line "ESPHome handshake failed"
/// (endpoint.rs:155-162), with no throttle; the mTLS listener logs the same
/// failures through `admission.log_handshake` (at most one per 10 s). Fix:
/// log them through `admission.log_handshake` as server.rs does.
#[test]
fn keyless_connections_that_break_the_handshake_are_logged_sparingly() {
    let pki = Pki::new();
    let keys = temp_dir();
    let ui = EsphomeKey::new(keys.path(), "zwave-js-ui");
    let device = EchoDevice::start();
    let (agent, addr) = agent(&pki, &device, &[&ui], "", "");
    let started = Instant::now();
    for i in 0..300 {
        let mut s = TcpStream::connect(addr).unwrap();
        // Half plaintext clients, half frames over the handshake limit.
        let bytes: &[u8] = if i % 2 == 0 {
            &[0x00, 0, 0]
        } else {
            &[1, 0xff, 0xff]
        };
        s.write_all(bytes).unwrap();
        assert!(closed_within(&mut s, WAIT));
    }
    let elapsed = started.elapsed();
    std::thread::sleep(Duration::from_millis(200));
    let lines = agent
        .guard
        .output()
        .matches("ESPHome handshake failed")
        .count();
    assert!(
        lines <= 4,
        "{lines} log lines for 300 keyless connections in {elapsed:?}"
    );
}

/// HOLE (low-medium, operator trap; documented as "changing [[esphome]]
/// needs a restart"): removing a client's `[[esphome.client]]` from the
/// config while the agent runs neither ends its live session nor refuses
/// its key; the only sign is the generic warning that the change applies
/// at the next restart. An operator revoking a client this way (the obvious
/// way) revokes nothing until a restart. Fix: reload the client list of
/// each endpoint with the rules (keys.rs already swaps keys at run time),
/// ending the removed client's sessions as a key-file change does; or at
/// least name the removed client in the warning (authz/reload.rs:187).
#[test]
#[ignore = "not done: removing a client from the config takes effect at the next restart; the reload now warns naming the client and how to revoke it now (docs/esphome.md)"]
fn removing_a_client_from_the_config_ends_its_session_and_refuses_its_key() {
    let pki = Pki::new();
    let keys = temp_dir();
    let ui = EsphomeKey::new(keys.path(), "zwave-js-ui");
    let other = EsphomeKey::new(keys.path(), "other");
    let device = EchoDevice::start();
    let (agent, addr) = agent(&pki, &device, &[&other, &ui], "", "");
    let mut c = BlockingClient::connect(addr, &ui.key_bytes(), WAIT).unwrap();
    echo(&mut c, b"before");
    let path = agent.config_path().to_path_buf();
    let config = std::fs::read_to_string(&path).unwrap();
    let block = format!(
        "[[esphome.client]]\nname = \"zwave-js-ui\"\nkey_file = {:?}\n",
        ui.path.to_string_lossy()
    );
    assert!(config.contains(&block), "{config}");
    std::fs::write(&path, config.replace(&block, "")).unwrap();
    agent.guard.wait_for_output("config changed", WAIT).unwrap();
    let mut buf = [0u8; 8];
    let live = c.write_all(b"after").and_then(|()| c.read(&mut buf));
    let again = BlockingClient::connect(addr, &ui.key_bytes(), WAIT);
    assert!(
        !matches!(live, Ok(n) if n > 0) && again.is_err(),
        "removed from the config, yet its session lives on ({live:?}) and its key reconnects (ok: {})",
        again.is_ok()
    );
}

/// HELD: when a client reconnects while its old session is still writing
/// (replacement), no byte of the old session reaches the device after a
/// byte of the new one: the new session's echo never shows an old byte
/// after its first new byte. (Old bytes echoed before may still arrive at
/// the start of the new session: the device answered them after the open.)
#[test]
fn a_replacing_session_never_sees_the_old_sessions_bytes_after_its_own() {
    let pki = Pki::new();
    let keys = temp_dir();
    let ui = EsphomeKey::new(keys.path(), "zwave-js-ui");
    let device = EchoDevice::start();
    let (_agent, addr) = agent(&pki, &device, &[&ui], "", "");
    for round in 0..5 {
        let mut old = BlockingClient::connect(addr, &ui.key_bytes(), WAIT).unwrap();
        assert!(old.has_device());
        for _ in 0..16 {
            old.write_all(&[b'A'; 1024]).unwrap();
        }
        let mut new = BlockingClient::connect(addr, &ui.key_bytes(), WAIT).unwrap();
        assert!(new.has_device(), "round {round}");
        new.write_all(&[b'B'; 256]).unwrap();
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        while seen.iter().filter(|&&b| b == b'B').count() < 256 {
            let n = new.read(&mut buf).unwrap();
            assert!(n > 0, "round {round}: new session ended");
            seen.extend_from_slice(&buf[..n]);
        }
        let first_b = seen.iter().position(|&b| b == b'B').unwrap();
        let stale = first_b;
        assert!(
            seen[first_b..].iter().all(|&b| b == b'B'),
            "round {round}: an old byte after a new one"
        );
        eprintln!("round {round}: {stale} old bytes echoed at the start of the new session");
        drop(old);
        new.close();
    }
}
