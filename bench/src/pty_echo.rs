//! A pseudo-terminal that echoes every byte, standing in for a serial device.
//!
//! The echo must never block: a relay writes several KiB before it reads
//! anything back, and an echo that blocks on its own write while the relay
//! blocks on its write deadlocks both (docs/facts.md, "Pseudo-terminals"). So the master side is
//! non-blocking, driven by `poll()`, and keeps reading into a buffer while
//! replies wait for the slave's input queue to drain.

use std::collections::VecDeque;
use std::ffi::CStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use anyhow::{Context, Result};

/// Stop reading from the relay once this much echo is waiting; far more
/// than any relay keeps in flight, so in practice reading never stops.
const MAX_PENDING: usize = 64 * 1024 * 1024;
/// One read from the master; larger than the kernel's pty buffers.
const READ_CHUNK: usize = 64 * 1024;

/// A running echo device; stops and closes its pty when dropped.
pub struct EchoDevice {
    path: PathBuf,
    echoed: Arc<AtomicU64>,
    /// Writing a byte here tells the echo thread to stop.
    stop_tx: File,
    thread: Option<JoinHandle<()>>,
    /// Held open so the master never sees a hang-up between relay sessions
    /// (a pty whose slave nobody holds makes `poll()` report POLLHUP
    /// forever, which would turn the echo loop into a busy loop).
    _slave: OwnedFd,
}

impl EchoDevice {
    /// Opens a new pty in raw mode and starts echoing.
    pub fn start() -> Result<Self> {
        let (master, slave) = open_pty()?;
        let path = slave_path(slave.as_raw_fd())?;
        make_raw(slave.as_raw_fd()).context("cannot put the pty slave in raw mode")?;
        set_nonblocking(master.as_raw_fd()).context("cannot make the pty master non-blocking")?;
        let (stop_rx, stop_tx) = pipe()?;
        let echoed = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&echoed);
        let thread = std::thread::Builder::new()
            .name("pty-echo".into())
            .spawn(move || {
                if let Err(e) = echo_loop(&master, &stop_rx, &counter) {
                    eprintln!("pty echo stopped: {e}");
                }
            })
            .context("cannot start the echo thread")?;
        Ok(Self {
            path,
            echoed,
            stop_tx,
            thread: Some(thread),
            _slave: slave,
        })
    }

    /// The slave's path (`/dev/pts/N`), which relays open as their device.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stops the echo and returns how many bytes it echoed in all (final:
    /// the echo thread has been joined).
    pub fn stop(self) -> u64 {
        let echoed = Arc::clone(&self.echoed);
        drop(self);
        echoed.load(Ordering::SeqCst)
    }
}

impl Drop for EchoDevice {
    fn drop(&mut self) {
        use std::io::Write;
        let _ = (&self.stop_tx).write_all(b"x");
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn echo_loop(master: &OwnedFd, stop: &File, echoed: &AtomicU64) -> io::Result<()> {
    let mfd = master.as_raw_fd();
    let mut pending: VecDeque<u8> = VecDeque::new();
    let mut chunk = vec![0u8; READ_CHUNK];
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
                fd: mfd,
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
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
        if n < 0 {
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
        if ready & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0
            && pending.len() < MAX_PENDING
        {
            match read_fd(mfd, &mut chunk) {
                Ok(0) => {}
                Ok(n) => pending.extend(&chunk[..n]),
                // EIO: no slave open at this instant; EAGAIN: spurious wake.
                Err(e) if is_transient(&e) => {}
                Err(e) => return Err(e),
            }
        }
        // Write right after reading, not on the next poll round: one
        // syscall less per echoed frame, which is the floor every relay's
        // latency is compared with.
        if !pending.is_empty() {
            let (head, _) = pending.as_slices();
            match write_fd(mfd, head) {
                Ok(n) => {
                    pending.drain(..n);
                    echoed.fetch_add(n as u64, Ordering::Relaxed);
                }
                Err(e) if is_transient(&e) => {}
                Err(e) => return Err(e),
            }
        }
    }
}

fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EAGAIN) | Some(libc::EINTR) | Some(libc::EIO)
    )
}

fn read_fd(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for `buf.len()` writable bytes.
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

fn write_fd(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for `buf.len()` readable bytes.
    let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

fn open_pty() -> Result<(OwnedFd, OwnedFd)> {
    let mut master: RawFd = -1;
    let mut slave: RawFd = -1;
    // SAFETY: out-pointers are valid; name, termios and winsize may be null.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error()).context("openpty failed");
    }
    // SAFETY: openpty succeeded, so both are fresh descriptors we own.
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    // Relay processes must not inherit the pty: a socat holding our master
    // would keep the device alive after we stop it.
    set_cloexec(master.as_raw_fd())?;
    set_cloexec(slave.as_raw_fd())?;
    Ok((master, slave))
}

fn slave_path(fd: RawFd) -> Result<PathBuf> {
    let mut buf = [0 as libc::c_char; 128];
    // SAFETY: `buf` is valid for its length; ttyname_r NUL-terminates on success.
    let rc = unsafe { libc::ttyname_r(fd, buf.as_mut_ptr(), buf.len()) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc)).context("cannot find the pty slave's path");
    }
    // SAFETY: ttyname_r succeeded, so `buf` holds a NUL-terminated string.
    let name = unsafe { CStr::from_ptr(buf.as_ptr()) };
    Ok(PathBuf::from(name.to_string_lossy().into_owned()))
}

/// cfmakeraw: no line editing, no echo by the line discipline, no CR/LF
/// translation, 8 bits, VMIN 1 / VTIME 0. Terminal settings are shared by
/// both sides and persist, so binary data passes untouched whoever opens it.
fn make_raw(fd: RawFd) -> io::Result<()> {
    // SAFETY: termios is plain old data; tcgetattr fills it.
    let mut t: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: `fd` is an open terminal and `t` a valid termios.
    if unsafe { libc::tcgetattr(fd, &mut t) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `t` is a valid termios.
    unsafe { libc::cfmakeraw(&mut t) };
    // SAFETY: as above.
    if unsafe { libc::tcsetattr(fd, libc::TCSANOW, &t) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl on a descriptor we own.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    // SAFETY: as above.
    if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn set_cloexec(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl on a descriptor we own.
    if unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A pipe whose ends are close-on-exec, as (read end, write end).
fn pipe() -> Result<(File, File)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: `fds` is valid for two descriptors.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error()).context("cannot make the echo stop pipe");
    }
    // SAFETY: pipe2 succeeded; we own both descriptors.
    Ok(unsafe { (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn echoes_bytes_written_to_the_slave() {
        let dev = EchoDevice::start().expect("test: start echo");
        let mut f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(dev.path())
            .expect("test: open slave");
        let data: Vec<u8> = (0..=255u8).collect();
        f.write_all(&data).expect("test: write");
        let mut back = vec![0u8; data.len()];
        f.read_exact(&mut back).expect("test: read");
        assert_eq!(back, data, "raw mode must pass every byte value unchanged");
        assert_eq!(dev.stop(), 256);
    }
}
