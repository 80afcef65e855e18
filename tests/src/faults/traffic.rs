//! Continuous traffic both ways: an application on the client's local TCP
//! endpoint and a device on a pty behind the agent, each sending its own
//! [`Pattern`] and checking the other's, independently.
//!
//! Neither side ever blocks: the application's socket is non-blocking and
//! the device is a [`ScriptedDevice`] (its pump thread buffers). A side
//! that cannot write (TCP back-pressure, nobody reading the pty) simply
//! falls behind its pace; it never drops bytes itself, so every gap a
//! checker finds happened between the two.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::pattern::{Checker, Gap, Pattern};
use crate::pty::ScriptedDevice;

/// How fast each side sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pace {
    /// A serial line at this many baud (8N1: baud / 10 bytes per second).
    Baud(u32),
    /// As fast as the other end takes it.
    Max,
}

impl Pace {
    fn bytes_per_sec(self) -> Option<u64> {
        match self {
            Pace::Baud(b) => Some(u64::from(b) / 10),
            Pace::Max => None,
        }
    }
}

/// One side's sending history and its checker of the other side.
pub struct Side {
    pattern: Pattern,
    /// Offset written so far.
    pub sent: u64,
    /// `(offset reached, when)`, at most every few ms: when a byte left.
    log: Vec<(u64, Instant)>,
    pub checker: Checker,
    pub last_rx: Option<Instant>,
    pacer: Pacer,
}

impl Side {
    fn new(send: Pattern, check: Pattern) -> Side {
        Side {
            pattern: send,
            sent: 0,
            log: Vec::new(),
            checker: Checker::new(check),
            last_rx: None,
            pacer: Pacer::new(),
        }
    }

    fn wrote(&mut self, n: usize, now: Instant) {
        self.sent += n as u64;
        match self.log.last_mut() {
            Some(last) if now.duration_since(last.1) < Duration::from_millis(5) => {
                last.0 = self.sent
            }
            _ => self.log.push((self.sent, now)),
        }
    }

    /// When the byte at `offset` was written (the first log entry past it).
    pub fn sent_at(&self, offset: u64) -> Option<Instant> {
        let i = self.log.partition_point(|(o, _)| *o <= offset);
        self.log.get(i).map(|e| e.1)
    }

    /// Bytes written between two instants.
    pub fn sent_between(&self, from: Instant, to: Instant) -> u64 {
        let at = |t: Instant| {
            let i = self.log.partition_point(|(_, w)| *w <= t);
            if i == 0 {
                0
            } else {
                self.log[i - 1].0
            }
        };
        at(to).saturating_sub(at(from))
    }

    fn received(&mut self, data: &[u8], now: Instant) {
        self.checker.feed(data, now);
        self.last_rx = Some(now);
    }
}

/// Keeps a side at its pace without bursting after a stall: if it fell
/// more than a second behind, or the pace changed, it starts counting
/// afresh (after a flat-out burst it would otherwise wait until the clock
/// caught up with everything the burst sent).
struct Pacer {
    base: Instant,
    base_sent: u64,
    pace: Option<Pace>,
}

impl Pacer {
    fn new() -> Pacer {
        Pacer {
            base: Instant::now(),
            base_sent: 0,
            pace: None,
        }
    }

    fn due(&mut self, pace: Pace, sent: u64, now: Instant, max: usize) -> usize {
        if self.pace != Some(pace) {
            self.pace = Some(pace);
            self.base = now;
            self.base_sent = sent;
        }
        let Some(rate) = pace.bytes_per_sec() else {
            return max;
        };
        let target =
            self.base_sent + (now.duration_since(self.base).as_secs_f64() * rate as f64) as u64;
        let due = target.saturating_sub(sent);
        if due > rate {
            self.base = now;
            self.base_sent = sent;
            return 0;
        }
        (due as usize).min(max)
    }
}

/// Opens a new application connection to the client's endpoint.
pub type Connector = Box<dyn Fn() -> io::Result<TcpStream> + Send + Sync>;

struct Shared {
    stop: AtomicBool,
    pace: Mutex<Pace>,
    app: Mutex<Side>,
    dev: Mutex<Side>,
    device: Mutex<Option<ScriptedDevice>>,
    connector: Connector,
    app_connections: AtomicU64,
    /// Bytes the device had queued (not yet in the pty) when unplugged.
    unplug_lost: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The running traffic; stops its threads when dropped.
pub struct Traffic {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

const APP_TAG: u32 = 0xA;
const DEV_TAG: u32 = 0xD;

impl Traffic {
    /// Starts both sides: the device on `device`, the application through
    /// `connector` (called again whenever its connection ends).
    pub fn start(device: ScriptedDevice, connector: Connector, pace: Pace) -> Traffic {
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            pace: Mutex::new(pace),
            app: Mutex::new(Side::new(Pattern::new(APP_TAG), Pattern::new(DEV_TAG))),
            dev: Mutex::new(Side::new(Pattern::new(DEV_TAG), Pattern::new(APP_TAG))),
            device: Mutex::new(Some(device)),
            connector,
            app_connections: AtomicU64::new(0),
            unplug_lost: AtomicU64::new(0),
        });
        let (a, d) = (Arc::clone(&shared), Arc::clone(&shared));
        let threads = vec![
            thread::Builder::new()
                .name("fault-app".into())
                .spawn(move || app_loop(&a))
                .expect("spawn app thread"),
            thread::Builder::new()
                .name("fault-device".into())
                .spawn(move || device_loop(&d))
                .expect("spawn device thread"),
        ];
        Traffic { shared, threads }
    }

    pub fn set_pace(&self, pace: Pace) {
        *lock(&self.shared.pace) = pace;
    }

    /// The application side (sends app->device, checks device->app).
    pub fn app(&self) -> MutexGuard<'_, Side> {
        lock(&self.shared.app)
    }

    /// The device side (sends device->app, checks app->device).
    pub fn dev(&self) -> MutexGuard<'_, Side> {
        lock(&self.shared.dev)
    }

    /// Application connections made so far.
    pub fn app_connections(&self) -> u64 {
        self.shared.app_connections.load(Ordering::Relaxed)
    }

    /// Unplugs the device: its pty goes away (with whatever it still had
    /// queued, which is returned and remembered as device-side loss).
    pub fn unplug(&self) -> u64 {
        let device = lock(&self.shared.device).take();
        let Some(device) = device else { return 0 };
        let queued = device.pending() as u64;
        self.shared.unplug_lost.fetch_add(queued, Ordering::Relaxed);
        device.stop();
        queued
    }

    /// Plugs a (new) device in.
    pub fn plug(&self, device: ScriptedDevice) {
        *lock(&self.shared.device) = Some(device);
    }

    /// Bytes lost inside unplugged devices so far.
    pub fn unplug_lost(&self) -> u64 {
        self.shared.unplug_lost.load(Ordering::Relaxed)
    }

    /// `(app received, device received)` so far.
    pub fn received(&self) -> (u64, u64) {
        (self.app().checker.received, self.dev().checker.received)
    }

    /// Waits until at least `bytes` more have arrived in both directions
    /// after `since`; returns how long after `since` the later direction
    /// got them, or `None` after `timeout`.
    pub fn wait_flowing(&self, since: Instant, bytes: u64, timeout: Duration) -> Option<Duration> {
        let (a0, d0) = self.received();
        let mut done: [Option<Instant>; 2] = [None, None];
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            let (a, d) = self.received();
            let now = Instant::now();
            if done[0].is_none() && a >= a0 + bytes {
                done[0] = Some(now);
            }
            if done[1].is_none() && d >= d0 + bytes {
                done[1] = Some(now);
            }
            if let [Some(x), Some(y)] = done {
                return Some(x.max(y).saturating_duration_since(since));
            }
            thread::sleep(Duration::from_millis(2));
        }
        None
    }

    /// Every corruption, duplication or reordering seen, both directions.
    pub fn errors(&self) -> Vec<String> {
        let mut e: Vec<String> = self
            .app()
            .checker
            .errors
            .iter()
            .map(|e| format!("device->app: {e}"))
            .collect();
        e.extend(
            self.dev()
                .checker
                .errors
                .iter()
                .map(|e| format!("app->device: {e}")),
        );
        e
    }

    /// Gaps found so far: `(device->app, app->device)`.
    pub fn gaps(&self) -> (Vec<Gap>, Vec<Gap>) {
        (
            self.app().checker.gaps.clone(),
            self.dev().checker.gaps.clone(),
        )
    }

    /// Stops sending, waits until nothing more arrives for `quiet` (or
    /// 60 s: at full rate megabytes sit in socket buffers), then closes
    /// both checkers against what was sent.
    pub fn stop(mut self, quiet: Duration) -> Summary {
        self.set_pace(Pace::Baud(0));
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut last = self.received();
        let mut still = Instant::now();
        while Instant::now() < deadline && still.elapsed() < quiet {
            thread::sleep(Duration::from_millis(50));
            let now = self.received();
            if now != last {
                last = now;
                still = Instant::now();
            }
        }
        self.shared.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        let now = Instant::now();
        let mut app = self.app();
        let mut dev = self.dev();
        app.checker.finish(dev.sent, now);
        dev.checker.finish(app.sent, now);
        Summary {
            app_sent: app.sent,
            app_received: app.checker.received,
            dev_sent: dev.sent,
            dev_received: dev.checker.received,
            lost_to_app: app.checker.lost(),
            lost_to_dev: dev.checker.lost(),
        }
    }
}

/// Totals of a finished run.
#[derive(Clone, Copy, Debug)]
pub struct Summary {
    pub app_sent: u64,
    pub app_received: u64,
    pub dev_sent: u64,
    pub dev_received: u64,
    /// Bytes the device sent that never reached the application.
    pub lost_to_app: u64,
    /// Bytes the application sent that never reached the device.
    pub lost_to_dev: u64,
}

impl Drop for Traffic {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

const CHUNK: usize = 16 * 1024;

fn app_loop(sh: &Shared) {
    let mut conn: Option<TcpStream> = None;
    let mut buf = vec![0u8; 64 * 1024];
    while !sh.stop.load(Ordering::Relaxed) {
        let Some(stream) = conn.as_mut() else {
            match (sh.connector)() {
                Ok(s) => {
                    let _ = s.set_nonblocking(true);
                    let _ = s.set_nodelay(true);
                    sh.app_connections.fetch_add(1, Ordering::Relaxed);
                    conn = Some(s);
                }
                Err(_) => thread::sleep(Duration::from_millis(20)),
            }
            continue;
        };
        let mut moved = false;
        let mut broken = false;
        let pace = *lock(&sh.pace);
        {
            let mut side = lock(&sh.app);
            let now = Instant::now();
            let sent = side.sent;
            let n = side.pacer.due(pace, sent, now, CHUNK);
            if n > 0 {
                let bytes = side.pattern.bytes(sent, n);
                match stream.write(&bytes) {
                    Ok(0) => broken = true,
                    Ok(k) => {
                        side.wrote(k, now);
                        moved = true;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => broken = true,
                }
            }
        }
        loop {
            match stream.read(&mut buf) {
                Ok(0) => {
                    broken = true;
                    break;
                }
                Ok(k) => {
                    lock(&sh.app).received(&buf[..k], Instant::now());
                    moved = true;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => {
                    broken = true;
                    break;
                }
            }
        }
        if broken {
            // The endpoint went away (client killed): the application
            // reconnects, as a gateway would.
            conn = None;
        } else if !moved {
            thread::sleep(Duration::from_millis(1));
        }
    }
}

fn device_loop(sh: &Shared) {
    while !sh.stop.load(Ordering::Relaxed) {
        let mut moved = false;
        let pace = *lock(&sh.pace);
        // A paced device keeps little queued (a UART has a small FIFO); a
        // flat-out one enough to keep the pty full.
        let queue_limit = if pace == Pace::Max { 256 * 1024 } else { 1024 };
        {
            let device = lock(&sh.device);
            if let Some(device) = device.as_ref() {
                // Bounded, so checking a flat-out burst never keeps the
                // device from talking for long.
                let got = device.read_some(256 * 1024);
                if !got.is_empty() {
                    lock(&sh.dev).received(&got, Instant::now());
                    moved = true;
                }
                let queued = device.pending();
                if queued < queue_limit {
                    let mut side = lock(&sh.dev);
                    let now = Instant::now();
                    let sent = side.sent;
                    let n = side
                        .pacer
                        .due(pace, sent, now, (queue_limit - queued).min(CHUNK));
                    if n > 0 {
                        device.write(&side.pattern.bytes(sent, n));
                        side.wrote(n, now);
                        moved = true;
                    }
                }
            }
        }
        if !moved {
            thread::sleep(Duration::from_millis(1));
        }
    }
}
