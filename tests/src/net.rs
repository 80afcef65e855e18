//! Ports and TCP connections for tests that run many at once.

use std::collections::hash_map::RandomState;
use std::collections::BTreeSet;
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Read};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use crate::util::hex_preview;

/// Ports this test process has handed out; never handed out twice, so two
/// parallel tests in one executable can not be given the same port.
static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

/// A TCP port on 127.0.0.1 that was free a moment ago, for a process under
/// test to listen on.
///
/// There is an unavoidable race: the port is free when checked, but the
/// process binds it later, and something else may take it in between. Two
/// mitigations make that unlikely enough for CI:
/// - ports come from below the kernel's ephemeral range
///   (`/proc/sys/net/ipv4/ip_local_port_range`), so they are never picked
///   for the outgoing connections tests make by the thousand, and are
///   chosen at random there, so parallel test executables rarely collide;
/// - a process-wide set guarantees one test process never hands out the
///   same port twice (a released port is not reused by a later test whose
///   peer may still hold connections to it).
///
/// [`crate::AgentBuilder::start`] also retries on a fresh port when the
/// agent reports the address in use.
///
/// # Panics
/// If no free port is found, which means the machine is out of ports.
pub fn free_port() -> u16 {
    let (lo, hi) = pick_range();
    let mut handed = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    for _ in 0..1000 {
        let port = lo + (random_u64() % u64::from(hi - lo)) as u16;
        if handed.contains(&port) {
            continue;
        }
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            handed.insert(port);
            return port;
        }
    }
    // Unusual port layout: fall back to letting the kernel choose.
    for _ in 0..1000 {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or_else(|e| panic!("cannot bind 127.0.0.1:0: {e}"));
        if handed.insert(port) {
            return port;
        }
    }
    panic!("no free TCP port found on 127.0.0.1")
}

/// `127.0.0.1:` + [`free_port`].
pub fn free_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], free_port()))
}

/// The range to draw ports from: 10000 up to the start of the ephemeral
/// range when that leaves enough room, else the whole unprivileged range.
fn pick_range() -> (u16, u16) {
    let ephemeral_lo = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    if ephemeral_lo >= 12000 {
        (10000, ephemeral_lo)
    } else {
        (1024, u16::MAX)
    }
}

fn random_u64() -> u64 {
    // RandomState is seeded randomly per process and per instance: enough
    // randomness without a dependency.
    RandomState::new().build_hasher().finish()
}

/// Connects to `addr` from `source` (any port), e.g. from 127.0.0.2 to an
/// agent on 127.0.0.1: Linux routes all of 127.0.0.0/8 over loopback, so a
/// test can play a second host without a network namespace.
pub fn connect_from(source: IpAddr, addr: SocketAddr) -> io::Result<TcpStream> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    socket.bind(&SocketAddr::new(source, 0).into())?;
    socket.connect(&addr.into())?;
    Ok(socket.into())
}

/// Waits until something accepts TCP connections at `addr`.
///
/// Each attempt is a real connection that is closed at once; prefer
/// [`wait_listening`] for servers that would log or count such a probe.
pub fn wait_for_port(addr: SocketAddr, timeout: Duration) -> Result<(), String> {
    try_connect_retry(addr, timeout).map(drop)
}

/// Connects to `addr`, retrying until `timeout` (the server may still be
/// starting), with `TCP_NODELAY` set so small frames go out at once.
///
/// # Panics
/// If no connection is made within `timeout`.
pub fn connect_retry(addr: SocketAddr, timeout: Duration) -> TcpStream {
    try_connect_retry(addr, timeout).unwrap_or_else(|e| panic!("{e}"))
}

/// [`connect_retry`] returning the last error instead of panicking.
pub fn try_connect_retry(addr: SocketAddr, timeout: Duration) -> Result<TcpStream, String> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let attempt = left.clamp(Duration::from_millis(1), Duration::from_millis(500));
        match TcpStream::connect_timeout(&addr, attempt) {
            Ok(stream) => {
                stream
                    .set_nodelay(true)
                    .map_err(|e| format!("cannot set TCP_NODELAY on {addr}: {e}"))?;
                return Ok(stream);
            }
            Err(e) if Instant::now() >= deadline => {
                return Err(format!("no connection to {addr} within {timeout:?}: {e}"));
            }
            Err(_) => thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// Whether a socket is listening on TCP `port` (any address) in this
/// network namespace, read from `/proc/net/tcp` and `/proc/net/tcp6`.
///
/// Unlike a probe connection this has no side effects: a TLS server does
/// not log a failed handshake and a client endpoint does not dial its agent.
/// A listening socket accepts connections (the kernel completes them into
/// the backlog), so this is the same readiness as "the port accepts".
/// Returns `None` when `/proc/net` can not be read.
pub fn is_listening(port: u16) -> Option<bool> {
    listen_inodes(port).map(|inodes| !inodes.is_empty())
}

/// Whether process `pid` itself holds a socket listening on `port`.
///
/// This is readiness without the free-port race: if something else took
/// the port first, the process under test fails to bind, and the listener
/// seen is not its own. `None` when `/proc` can not be read.
pub fn is_listening_by(pid: u32, port: u16) -> Option<bool> {
    let inodes = listen_inodes(port)?;
    if inodes.is_empty() {
        return Some(false);
    }
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?;
    let owned = fds.flatten().any(|fd| {
        std::fs::read_link(fd.path()).is_ok_and(|target| {
            let target = target.to_string_lossy();
            inodes.iter().any(|i| target == format!("socket:[{i}]"))
        })
    });
    Some(owned)
}

/// Inodes of sockets in LISTEN state on `port`.
fn listen_inodes(port: u16) -> Option<Vec<u64>> {
    let mut readable = false;
    let mut inodes = Vec::new();
    let wanted = format!(":{port:04X}");
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        readable = true;
        // "sl local rem st tx:rx tr:when retrnsmt uid timeout inode ...";
        // state 0A is LISTEN.
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            if cols.len() > 9 && cols[1].ends_with(&wanted) && cols[3] == "0A" {
                if let Ok(inode) = cols[9].parse() {
                    inodes.push(inode);
                }
            }
        }
    }
    readable.then_some(inodes)
}

/// Waits until [`is_listening`] says `port` is listening; falls back to
/// [`wait_for_port`] on 127.0.0.1 where `/proc/net` is unreadable.
pub fn wait_listening(port: u16, timeout: Duration) -> Result<(), String> {
    if is_listening(port).is_none() {
        return wait_for_port(SocketAddr::from(([127, 0, 0, 1], port)), timeout);
    }
    if crate::util::eventually(timeout, || is_listening(port) == Some(true)) {
        Ok(())
    } else {
        Err(format!(
            "nothing listens on TCP port {port} after {timeout:?}"
        ))
    }
}

/// Writes `probe` to an endpoint whose device echoes, and expects it back
/// within 20 s.
///
/// # Panics
/// If it does not come back whole.
pub fn echo_ok(stream: &mut TcpStream, probe: &[u8]) {
    use std::io::Write;
    stream.write_all(probe).expect("write to endpoint");
    assert_eq!(
        read_exact_within(stream, probe.len(), Duration::from_secs(20)),
        probe
    );
}

/// Reads exactly `n` bytes from `stream` within `timeout`.
///
/// # Panics
/// On timeout, end of stream or error, with what did arrive, so a failing
/// test shows how far the bytes got.
pub fn read_exact_within(stream: &mut TcpStream, n: usize, timeout: Duration) -> Vec<u8> {
    let peer = stream.peer_addr().ok();
    let fail = |why: String, got: &[u8]| -> ! {
        panic!(
            "read {} of {n} bytes from {peer:?} before {why}; got: {}",
            got.len(),
            hex_preview(got, 64)
        )
    };
    let deadline = Instant::now() + timeout;
    let mut got = vec![0u8; n];
    let mut filled = 0;
    while filled < n {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            fail(format!("the {timeout:?} timeout"), &got[..filled]);
        }
        if let Err(e) = stream.set_read_timeout(Some(left)) {
            fail(format!("set_read_timeout failed: {e}"), &got[..filled]);
        }
        match stream.read(&mut got[filled..]) {
            Ok(0) => fail("end of stream".into(), &got[..filled]),
            Ok(k) => filled += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(e) => fail(format!("error {e}"), &got[..filled]),
        }
    }
    got
}

/// True once the peer closed `stream` (EOF or reset) within `t`; false if
/// it stayed open (nothing, or only data, arrived).
pub fn closed_within(stream: &mut TcpStream, t: Duration) -> bool {
    use std::io::Read;
    stream.set_read_timeout(Some(t)).unwrap();
    let mut b = [0u8; 256];
    loop {
        match stream.read(&mut b) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) => {
                return !matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn free_ports_are_distinct_and_bindable() {
        let ports: Vec<u16> = (0..50).map(|_| free_port()).collect();
        let unique: BTreeSet<u16> = ports.iter().copied().collect();
        assert_eq!(unique.len(), ports.len());
        for p in ports.iter().take(10) {
            TcpListener::bind(("127.0.0.1", *p)).expect("handed-out port is bindable");
        }
    }

    #[test]
    fn wait_for_port_sees_a_late_listener() {
        let addr = free_addr();
        let server = thread::spawn(move || {
            thread::sleep(Duration::from_millis(200));
            let l = TcpListener::bind(addr).unwrap();
            let (mut s, _) = l.accept().unwrap();
            s.write_all(b"hi").unwrap();
        });
        let mut stream = connect_retry(addr, Duration::from_secs(10));
        assert_eq!(
            read_exact_within(&mut stream, 2, Duration::from_secs(5)),
            b"hi"
        );
        assert!(stream.nodelay().unwrap());
        server.join().unwrap();
    }

    #[test]
    fn wait_for_port_times_out_on_closed_port() {
        let start = Instant::now();
        let err = wait_for_port(free_addr(), Duration::from_millis(200)).unwrap_err();
        assert!(err.contains("no connection"), "{err}");
        assert!(start.elapsed() < Duration::from_secs(3));
    }

    #[test]
    fn is_listening_tracks_a_listener() {
        let port = free_port();
        assert_eq!(is_listening(port), Some(false));
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        wait_listening(port, Duration::from_secs(5)).unwrap();
        assert_eq!(is_listening_by(std::process::id(), port), Some(true));
        assert_ne!(is_listening_by(1, port), Some(true));
        drop(listener);
        assert!(crate::util::eventually(Duration::from_secs(5), || {
            is_listening(port) == Some(false)
        }));
    }

    #[test]
    #[should_panic(expected = "end of stream")]
    fn read_exact_within_reports_early_close() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let t = thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            s.write_all(&[1, 2]).unwrap();
        });
        let mut s = connect_retry(addr, Duration::from_secs(5));
        t.join().unwrap();
        read_exact_within(&mut s, 3, Duration::from_secs(5));
    }
}
