//! A TCP relay that adds a fixed delay each way, standing in for
//! `tc netem delay` (this kernel has no sch_netem; see docs/facts.md).
//!
//! It listens inside one host's namespace and forwards every connection to
//! `target`; each chunk read is written out `delay` later, in order, so the
//! stream is the same, only late (a long, fat pipe as far as TCP on either
//! side can tell).

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// A running relay; it lives as long as the test process (its threads
/// block in accept), which is fine for a namespace that is deleted after.
pub struct DelayRelay {
    pub addr: SocketAddr,
}

impl DelayRelay {
    /// Listens on `127.0.0.1:0` inside network namespace `ns`.
    pub fn start(ns: &str, target: SocketAddr, delay: Duration) -> DelayRelay {
        let path = Path::new("/run/netns").join(ns);
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let file = std::fs::File::open(&path).expect("open netns");
            // SAFETY: setns on a valid namespace fd changes only this
            // thread; threads it spawns inherit the namespace.
            assert_eq!(
                unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) },
                0
            );
            let listener = TcpListener::bind("127.0.0.1:0").expect("bind relay");
            tx.send(listener.local_addr().expect("relay address"))
                .expect("report address");
            for conn in listener.incoming().flatten() {
                thread::spawn(move || relay(conn, target, delay));
            }
        });
        DelayRelay {
            addr: rx.recv().expect("relay started"),
        }
    }
}

fn relay(a: TcpStream, target: SocketAddr, delay: Duration) {
    let Ok(b) = TcpStream::connect_timeout(&target, Duration::from_secs(3)) else {
        return;
    };
    let _ = (a.set_nodelay(true), b.set_nodelay(true));
    let (a2, b2) = match (a.try_clone(), b.try_clone()) {
        (Ok(a2), Ok(b2)) => (a2, b2),
        _ => return,
    };
    let t = thread::spawn(move || one_way(a, b2, delay));
    one_way(b, a2, delay);
    let _ = t.join();
}

/// Copies `from` to `to`, each chunk `delay` after it was read.
fn one_way(mut from: TcpStream, mut to: TcpStream, delay: Duration) {
    let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>();
    let writer = thread::spawn(move || {
        for (due, chunk) in rx {
            thread::sleep(due.saturating_duration_since(Instant::now()));
            if to.write_all(&chunk).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if tx
                    .send((Instant::now() + delay, buf[..n].to_vec()))
                    .is_err()
                {
                    break;
                }
            }
        }
    }
    drop(tx);
    let _ = writer.join();
    let _ = from.shutdown(Shutdown::Read);
}
