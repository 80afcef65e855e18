//! A minimal HTTP GET for the admin endpoints (`/healthz`, `/readyz`,
//! `/metrics`): enough to check status codes and bodies without a client
//! library; a probe with a deadline, as the kubelet makes one; and a siege
//! of idle and dribbling connections that try to keep probes out.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// `GET path` on 127.0.0.1:`port`; returns the status code and the body.
///
/// # Panics
/// If nothing listens there or the answer takes over 20 s.
pub fn http_get(port: u16, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("admin listens");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    parse(&text)
}

fn parse(text: &str) -> (u16, String) {
    let code = text.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (code, body)
}

/// What one probe saw, and how long the whole exchange took.
#[derive(Debug)]
pub struct Probe {
    pub outcome: Result<(u16, String), String>,
    pub took: Duration,
}

/// `GET path` on 127.0.0.1:`port` as a liveness probe makes it: connect,
/// ask, and give up at `deadline` (the kubelet's `timeoutSeconds`). Never
/// panics: a connection closed without an answer is an `Err` that says so.
pub fn probe(port: u16, path: &str, deadline: Duration) -> Probe {
    let t0 = Instant::now();
    let outcome = (|| {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut s = TcpStream::connect_timeout(&addr, deadline)
            .map_err(|e| format!("cannot connect: {e}"))?;
        let left = || {
            deadline
                .saturating_sub(t0.elapsed())
                .max(Duration::from_millis(1))
        };
        s.set_write_timeout(Some(left()))
            .map_err(|e| e.to_string())?;
        write!(s, "GET {path} HTTP/1.1\r\nHost: probe\r\n\r\n")
            .map_err(|e| format!("cannot send the request: {e}"))?;
        s.set_read_timeout(Some(left()))
            .map_err(|e| e.to_string())?;
        let mut raw = Vec::new();
        match s.read_to_end(&mut raw) {
            Ok(_) if raw.is_empty() => Err("connection closed without a response".to_string()),
            Ok(_) => Ok(parse(&String::from_utf8_lossy(&raw))),
            Err(e) => Err(format!("no response within {deadline:?}: {e}")),
        }
    })();
    Probe {
        outcome,
        took: t0.elapsed(),
    }
}

/// Connections held against an admin endpoint: `idle` that connect and say
/// nothing, and one that dribbles an endless request head, a byte every
/// [`DRIBBLE_EVERY`]. Whichever the server closes is opened again, so the
/// siege holds its numbers for as long as it lives. Stopped when dropped.
pub struct AdminSiege {
    stop: Arc<AtomicBool>,
    reopened: Arc<AtomicUsize>,
    worker: Option<JoinHandle<()>>,
}

pub const DRIBBLE_EVERY: Duration = Duration::from_millis(100);
const DRIBBLE_HEAD: &[u8] = b"GET /metrics HTTP/1.1\r\nX-Dribble: ";

impl AdminSiege {
    /// Opens all the connections before returning, so that they are ahead
    /// of any later probe in the server's accept queue.
    ///
    /// # Panics
    /// If the connections cannot be opened.
    pub fn start(port: u16, idle: usize) -> AdminSiege {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let open = move || -> io::Result<TcpStream> {
            let s = TcpStream::connect(addr)?;
            s.set_nonblocking(true)?;
            Ok(s)
        };
        let mut idlers: Vec<TcpStream> = (0..idle)
            .map(|_| open().expect("siege connection"))
            .collect();
        let mut dribbler = Dribbler::new(open().expect("dribbler connection"));
        let stop = Arc::new(AtomicBool::new(false));
        let reopened = Arc::new(AtomicUsize::new(0));
        let worker = {
            let (stop, reopened) = (stop.clone(), reopened.clone());
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    thread::sleep(DRIBBLE_EVERY);
                    for conn in &mut idlers {
                        if closed(conn) {
                            if let Ok(fresh) = open() {
                                *conn = fresh;
                                reopened.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                    if !dribbler.dribble() {
                        if let Ok(fresh) = open() {
                            dribbler = Dribbler::new(fresh);
                            reopened.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
        };
        AdminSiege {
            stop,
            reopened,
            worker: Some(worker),
        }
    }

    /// How many times the server closed one of the siege's connections.
    pub fn reopened(&self) -> usize {
        self.reopened.load(Ordering::Relaxed)
    }
}

impl Drop for AdminSiege {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}

struct Dribbler {
    conn: TcpStream,
    sent: usize,
}

impl Dribbler {
    fn new(conn: TcpStream) -> Self {
        Dribbler { conn, sent: 0 }
    }

    /// Sends the next byte; false once the server has closed.
    fn dribble(&mut self) -> bool {
        if closed(&mut self.conn) {
            return false;
        }
        let byte = DRIBBLE_HEAD.get(self.sent).copied().unwrap_or(b'a');
        self.sent += 1;
        self.conn.write(&[byte]).is_ok()
    }
}

/// Whether the server closed (or answered, which it does only to close) a
/// non-blocking connection.
fn closed(conn: &mut TcpStream) -> bool {
    let mut buf = [0u8; 256];
    !matches!(conn.read(&mut buf), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
}

/// Probes each of `paths` in turn, a round every `every`, for `duration`
/// (long enough to span the server's own timeouts, so that a siege is seen
/// both before and after the server closes its first connections).
pub fn probe_rounds(
    port: u16,
    paths: &[&'static str],
    duration: Duration,
    every: Duration,
    deadline: Duration,
) -> Vec<(&'static str, Probe)> {
    let t0 = Instant::now();
    let mut seen = Vec::new();
    while t0.elapsed() < duration {
        let round = Instant::now();
        for path in paths {
            seen.push((*path, probe(port, path, deadline)));
        }
        thread::sleep(every.saturating_sub(round.elapsed()));
    }
    seen
}
