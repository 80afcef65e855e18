//! The thread behind a fake device: moves bytes between the pty master and
//! in-memory buffers without ever blocking.
//!
//! Why a poll loop with buffers: a device that blocks writing its reply
//! while the host is still writing deadlocks against any relay as soon as a
//! few KiB are in flight (both sides' pty buffers fill, both wait). Here the
//! master is non-blocking, input is always read while it comes, and replies
//! wait in an unbounded queue until the host has room for them.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

/// State shared between the pump thread and the device handle.
#[derive(Default)]
pub(crate) struct Shared {
    /// Bytes waiting to go to the host (device -> host).
    pub outbox: Mutex<VecDeque<u8>>,
    /// Bytes the host wrote, not yet taken by the test.
    pub inbox: Mutex<VecDeque<u8>>,
    /// Signalled whenever `inbox` grows or `outbox` drains.
    pub changed: Condvar,
    /// Bytes read from the master (written by the host).
    pub read: AtomicU64,
    /// Bytes written to the master (for the host to read).
    pub written: AtomicU64,
}

impl Shared {
    pub fn lock<'a, T>(m: &'a Mutex<T>) -> MutexGuard<'a, T> {
        // A panicking test thread must not turn every later call into a
        // second, confusing panic.
        m.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Largest chunk moved per system call.
const CHUNK: usize = 64 * 1024;
/// Read at most this much per wakeup before giving the write side a turn,
/// so a host that never stops writing still gets its echo.
const READ_BURST: usize = 1024 * 1024;

/// Runs the pump until `wake` reports end of file (its write end dropped).
/// `wake` is also how the device handle says "the outbox has new bytes".
pub(crate) fn run(master: File, wake: File, shared: &Shared) {
    let mut buf = vec![0u8; CHUNK];
    loop {
        let want_write = !Shared::lock(&shared.outbox).is_empty();
        let mut events = PollFlags::POLLIN;
        if want_write {
            events |= PollFlags::POLLOUT;
        }
        let mut fds = [
            PollFd::new(master.as_fd(), events),
            PollFd::new(wake.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => panic!("poll on pty master failed: {e}"),
        }
        let master_ev = fds[0].revents().unwrap_or(PollFlags::empty());
        let wake_ev = fds[1].revents().unwrap_or(PollFlags::empty());
        if !wake_ev.is_empty() && !drain_wake(&wake) {
            return; // stop requested
        }
        let mut moved = false;
        if master_ev.contains(PollFlags::POLLIN) {
            moved |= read_burst(&master, &mut buf, shared);
        }
        if master_ev.contains(PollFlags::POLLOUT) {
            moved |= write_pending(&master, shared);
        }
        if !moved && master_ev.intersects(PollFlags::POLLHUP | PollFlags::POLLERR) {
            // No slave descriptor open (we normally hold one, so this is a
            // pty whose slave was closed): poll reports HUP at once, every
            // time. Sleep instead of spinning until someone opens it again.
            thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Empties the wake pipe; returns false when its write end was dropped.
fn drain_wake(mut wake: &File) -> bool {
    let mut sink = [0u8; 64];
    loop {
        match wake.read(&mut sink) {
            Ok(0) => return false,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return true, // WouldBlock: drained
        }
    }
}

/// Reads what the host wrote; returns whether anything was read.
fn read_burst(mut master: &File, buf: &mut [u8], shared: &Shared) -> bool {
    let mut total = 0;
    while total < READ_BURST {
        match master.read(buf) {
            Ok(0) => break,
            Ok(n) => {
                total += n;
                shared.read.fetch_add(n as u64, Ordering::Relaxed);
                Shared::lock(&shared.inbox).extend(&buf[..n]);
                shared.changed.notify_all();
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // WouldBlock: all read. EIO: no slave open (see the HUP case).
            Err(_) => break,
        }
    }
    total > 0
}

/// Writes queued bytes while the host has room; returns whether any went.
fn write_pending(mut master: &File, shared: &Shared) -> bool {
    let mut total = 0;
    loop {
        let mut outbox = Shared::lock(&shared.outbox);
        if outbox.is_empty() {
            break;
        }
        let (front, _) = outbox.as_slices();
        let len = front.len().min(CHUNK);
        match master.write(&front[..len]) {
            Ok(0) => break,
            Ok(n) => {
                outbox.drain(..n);
                total += n;
                shared.written.fetch_add(n as u64, Ordering::Relaxed);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break, // WouldBlock: the host's buffer is full
        }
    }
    if total > 0 {
        shared.changed.notify_all();
    }
    total > 0
}
