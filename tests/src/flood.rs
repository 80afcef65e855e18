//! Floods of unfinished TLS handshakes against an agent, from a chosen
//! source address (any of 127.0.0.0/8 reaches an agent on 127.0.0.1, so a
//! test can flood "from another host" without a network namespace).

use std::collections::VecDeque;
use std::io::Write;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::net::connect_from;

/// The start of a TLS ClientHello record: enough for the agent to treat
/// the connection as a handshake in progress, never enough to finish it.
pub const CLIENT_HELLO_PREFIX: &[u8] = &[
    0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
];

/// Connections a flooding thread keeps open before closing its oldest:
/// enough that the agent, not the flooder, decides when they end.
const HELD_PER_THREAD: usize = 128;

/// `threads` threads opening connections from `source` as fast as they
/// can, each sending `opening` and then nothing: [`CLIENT_HELLO_PREFIX`]
/// costs the agent a parse, a whole ClientHello (one recorded and replayed)
/// costs it a key exchange and a signature per connection. Stopped (its
/// connections closed) when dropped.
pub struct HandshakeFlood {
    stop: Arc<AtomicBool>,
    opened: Arc<AtomicUsize>,
    workers: Vec<JoinHandle<()>>,
}

impl HandshakeFlood {
    pub fn start(
        source: IpAddr,
        target: SocketAddr,
        threads: usize,
        opening: &[u8],
    ) -> HandshakeFlood {
        let opening: Arc<[u8]> = opening.into();
        let stop = Arc::new(AtomicBool::new(false));
        let opened = Arc::new(AtomicUsize::new(0));
        let workers = (0..threads)
            .map(|_| {
                let (stop, opened, opening) = (stop.clone(), opened.clone(), opening.clone());
                thread::spawn(move || {
                    let mut held: VecDeque<TcpStream> = VecDeque::new();
                    while !stop.load(Ordering::Relaxed) {
                        let Ok(mut s) = connect_from(source, target) else {
                            // Out of ports or descriptors for a moment: do
                            // not spin on a core the agent needs.
                            thread::sleep(Duration::from_millis(1));
                            continue;
                        };
                        if s.write_all(&opening).is_ok() {
                            opened.fetch_add(1, Ordering::Relaxed);
                        }
                        held.push_back(s);
                        if held.len() > HELD_PER_THREAD {
                            held.pop_front();
                        }
                    }
                })
            })
            .collect();
        HandshakeFlood {
            stop,
            opened,
            workers,
        }
    }

    /// Connections opened so far that carried their bytes.
    pub fn opened(&self) -> usize {
        self.opened.load(Ordering::Relaxed)
    }
}

impl Drop for HandshakeFlood {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}
