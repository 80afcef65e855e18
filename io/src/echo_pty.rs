//! A pseudo-terminal whose far end echoes every byte back, like a modem in
//! loopback: the agent's `--demo` device, the test rig's `EchoDevice` and
//! the benchmark's device.
//!
//! The echo must never block: a relay writes several KiB before it reads
//! anything back, and an echo that blocks on its own write while the relay
//! blocks on its write deadlocks both. So the master is non-blocking,
//! driven by `poll()`, and keeps reading into a buffer while replies wait
//! for the slave's input queue to drain. It writes right after reading,
//! not on the next poll round: one system call less per echoed frame, the
//! floor the benchmark compares every relay's latency with.
//!
//! The slave descriptor we opened stays open for the echo's lifetime, so
//! the master never sees a hang-up between the sessions of whoever opens
//! the path (with no slave open, Linux reports POLLHUP/EIO on the master
//! continuously).

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::tty::open_pty;

/// Stop reading once this much echo waits for the host; far more than any
/// relay keeps in flight, so in practice reading never stops.
const MAX_PENDING: usize = 64 * 1024 * 1024;
/// One read from the master; larger than the kernel's pty buffers, so a
/// read shorter than this drained it.
const CHUNK: usize = 64 * 1024;
/// Read at most this much per wake-up before writing, so a host that never
/// stops writing still gets its echo.
const READ_BURST: usize = 1024 * 1024;

#[derive(Default)]
struct Counters {
    read: AtomicU64,
    written: AtomicU64,
}

/// A running echo; dropping it (or [`EchoPty::stop`]) stops the echo and
/// closes the master, so whoever has the slave open then reads EIO, as
/// from an unplugged USB adapter.
pub struct EchoPty {
    path: PathBuf,
    slave: Option<File>,
    counters: Arc<Counters>,
    /// Dropping this tells the echo thread to stop.
    stop_tx: Option<File>,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl EchoPty {
    /// Opens a new pty in raw mode and starts echoing on a thread.
    pub fn start() -> io::Result<EchoPty> {
        let pair = open_pty()?;
        let (stop_rx, stop_tx) = pipe()?;
        let counters = Arc::new(Counters::default());
        let shared = Arc::clone(&counters);
        let master = pair.master;
        let thread = std::thread::Builder::new()
            .name("pty-echo".into())
            .spawn(move || echo(&master, &stop_rx, &shared))?;
        Ok(EchoPty {
            path: pair.path,
            slave: Some(pair.slave),
            counters,
            stop_tx: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// The slave's path (`/dev/pts/N`), which relays open as their device.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Our own descriptor of the slave, until stopped (for ioctls on the
    /// terminal, such as clearing `TIOCEXCL`).
    pub fn slave(&self) -> Option<&File> {
        self.slave.as_ref()
    }

    /// Bytes read from the host so far.
    pub fn bytes_read(&self) -> u64 {
        self.counters.read.load(Ordering::Relaxed)
    }

    /// Bytes echoed back so far (the host may not have read them yet).
    pub fn bytes_written(&self) -> u64 {
        self.counters.written.load(Ordering::Relaxed)
    }

    /// Stops the echo, closes the master and our slave descriptor, and
    /// says how the echo ended: `Ok` when it ran until now. Idempotent.
    pub fn stop(&mut self) -> io::Result<()> {
        drop(self.stop_tx.take());
        let ended = self.join();
        drop(self.slave.take());
        ended
    }

    /// Waits for the echo to end by itself, which it does only on an error
    /// (the echo of a process's lifetime, whose owner reports that error).
    pub fn wait(mut self) -> io::Result<()> {
        self.join()
    }

    fn join(&mut self) -> io::Result<()> {
        match self.thread.take().map(JoinHandle::join) {
            None => Ok(()),
            Some(Ok(ended)) => ended,
            Some(Err(_)) => Err(io::Error::other("the echo thread panicked")),
        }
    }
}

impl Drop for EchoPty {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

fn echo(mut master: &File, stop: &File, counters: &Counters) -> io::Result<()> {
    let mut pending: VecDeque<u8> = VecDeque::new();
    let mut chunk = vec![0u8; CHUNK];
    loop {
        let mut want = 0;
        if pending.len() < MAX_PENDING {
            want |= libc::POLLIN;
        }
        if !pending.is_empty() {
            want |= libc::POLLOUT;
        }
        let mut fds = [
            libc::pollfd {
                fd: master.as_raw_fd(),
                events: want,
                revents: 0,
            },
            libc::pollfd {
                fd: stop.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: `fds` is a valid array of two pollfd for the whole call.
        if unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) } < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if fds[1].revents != 0 {
            return Ok(());
        }
        let ready = fds[0].revents;
        let mut moved = false;
        let mut burst = 0;
        while ready & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0
            && pending.len() < MAX_PENDING
            && burst < READ_BURST
        {
            match master.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => {
                    pending.extend(&chunk[..n]);
                    counters.read.fetch_add(n as u64, Ordering::Relaxed);
                    burst += n;
                    moved = true;
                    if n < CHUNK {
                        break; // drained
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if is_transient(&e) => break,
                Err(e) => return Err(e),
            }
        }
        while !pending.is_empty() && (moved || ready & libc::POLLOUT != 0) {
            let (head, _) = pending.as_slices();
            match master.write(head) {
                Ok(0) => break,
                Ok(n) => {
                    pending.drain(..n);
                    counters.written.fetch_add(n as u64, Ordering::Relaxed);
                    moved = true;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if is_transient(&e) => break,
                Err(e) => return Err(e),
            }
        }
        if !moved && ready & (libc::POLLHUP | libc::POLLERR) != 0 {
            // No slave open (someone closed ours by hand): poll reports HUP
            // at once, every time. Sleep instead of spinning until someone
            // opens it again.
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// EAGAIN: the master's buffer is empty or full; EIO: no slave open at
/// this instant.
fn is_transient(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock || e.raw_os_error() == Some(libc::EIO)
}

/// A pipe whose ends are close-on-exec, as (read end, write end).
fn pipe() -> io::Result<(File, File)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` is valid for two descriptors.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 succeeded; we own both descriptors.
    Ok(unsafe { (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn open(path: &Path) -> File {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .unwrap()
    }

    #[test]
    fn echoes_every_byte_value_and_counts_them() {
        let mut echo = EchoPty::start().unwrap();
        let mut f = open(echo.path());
        let data: Vec<u8> = (0..=255u8).collect();
        f.write_all(&data).unwrap();
        let mut back = vec![0u8; data.len()];
        f.read_exact(&mut back).unwrap();
        assert_eq!(back, data, "raw mode must pass every byte value unchanged");
        echo.stop().unwrap();
        assert_eq!((echo.bytes_read(), echo.bytes_written()), (256, 256));
    }

    #[test]
    fn stopping_closes_the_master_so_the_slave_reads_fail() {
        let mut echo = EchoPty::start().unwrap();
        let mut f = open(echo.path());
        echo.stop().unwrap();
        let mut buf = [0u8; 1];
        match f.read(&mut buf) {
            Ok(0) => {}
            Err(e) if e.raw_os_error() == Some(libc::EIO) => {}
            other => panic!("expected end of file or EIO, got {other:?}"),
        }
    }
}
