//! Non-blocking reads and writes on a tty (a serial device, or a pty's
//! master), registered with the runtime only for what we wait on.
//!
//! A tty registered for readable and writable at once (tokio-serial does
//! that, edge-triggered) wakes its owner every time the far side drains
//! what was written: a 10-byte round trip through the agent cost three
//! wake-ups where one was needed (strace), the two extra ones exactly while
//! the device needed the CPU to answer. So the tty is registered for
//! readable only; writes go straight to the descriptor, and only when the
//! tty's buffer is full is a duplicate descriptor registered for writable,
//! until a write is taken whole again.
//!
//! A read shorter than the buffer drained the tty, and the line discipline
//! signals readable again when more arrives, so readiness is cleared then
//! instead of spending a read on EAGAIN (tokio does the same for sockets).

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};

pub struct TtyIo<T: AsRawFd> {
    read: AsyncFd<T>,
    /// Registered only while a write waits for room in the tty's buffer.
    write_wait: Option<AsyncFd<OwnedFd>>,
}

impl<T: AsRawFd> TtyIo<T> {
    /// `inner` must be in non-blocking mode, and its descriptor must stay
    /// open for as long as it lives (an owning type: a port, an `OwnedFd`).
    pub fn new(inner: T) -> io::Result<Self> {
        Ok(Self {
            read: register(inner, Interest::READABLE)?,
            write_wait: None,
        })
    }

    pub fn get_mut(&mut self) -> &mut T {
        self.read.get_mut()
    }

    /// Ends the registration, handing back what was registered.
    pub fn into_inner(self) -> T {
        self.read.into_inner()
    }

    fn fd(&self) -> RawFd {
        self.read.get_ref().as_raw_fd()
    }

    /// Reads what is there; `Ok(0)` at end of file, and when the tty has
    /// hung up with nothing left to read.
    pub fn poll_read_some(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        loop {
            let mut guard = ready!(self.read.poll_read_ready(cx))?;
            match read(self.fd(), buf) {
                Ok(n) => {
                    if n > 0 && n < buf.len() {
                        guard.clear_ready();
                    }
                    return Poll::Ready(Ok(n));
                }
                // The hang-up bit stays set, so waiting again would spin.
                Err(e) if would_block(&e) && guard.ready().is_read_closed() => {
                    return Poll::Ready(Ok(0))
                }
                Err(e) if would_block(&e) => guard.clear_ready(),
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }

    pub fn poll_write_some(
        &mut self,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let fd = self.fd();
        loop {
            let Some(wait) = &self.write_wait else {
                match write(fd, data) {
                    Err(e) if would_block(&e) => self.write_wait = Some(register_writable(fd)?),
                    done => return Poll::Ready(done),
                }
                continue;
            };
            let mut guard = ready!(wait.poll_write_ready(cx))?;
            match write(fd, data) {
                Ok(n) => {
                    drop(guard);
                    if n == data.len() {
                        // Caught up: stop hearing about every drain.
                        self.write_wait = None;
                    }
                    return Poll::Ready(Ok(n));
                }
                Err(e) if would_block(&e) && guard.ready().is_write_closed() => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::BrokenPipe,
                        "the tty hung up with output pending",
                    )))
                }
                Err(e) if would_block(&e) => guard.clear_ready(),
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

/// A duplicate descriptor shares the open file (and so its buffer and
/// readiness) but is a separate epoll registration, which can come and go
/// without touching the read side's.
fn register_writable(fd: RawFd) -> io::Result<AsyncFd<OwnedFd>> {
    // SAFETY: `fd` belongs to the TtyIo that calls this and stays open for
    // the duration of the call; the duplicate is owned independently.
    let dup = unsafe { BorrowedFd::borrow_raw(fd) }.try_clone_to_owned()?;
    register(dup, Interest::WRITABLE)
}

fn register<T: AsRawFd>(inner: T, interest: Interest) -> io::Result<AsyncFd<T>> {
    // SAFETY: the AsyncFd owns `inner` (an owning type, as `new` requires),
    // so the descriptor stays open and names the same file while registered.
    Ok(unsafe { AsyncFd::register_with_interest(inner, interest) }?)
}

fn would_block(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
}

fn read(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: read(2) into a buffer we hold exclusively, of its own length.
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

fn write(fd: RawFd, data: &[u8]) -> io::Result<usize> {
    // SAFETY: write(2) from a slice we borrow, of its own length.
    let n = unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

impl<T: AsRawFd + Unpin> AsyncRead for TtyIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let n = ready!(self.poll_read_some(cx, buf.initialize_unfilled()))?;
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl<T: AsRawFd + Unpin> AsyncWrite for TtyIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::into_inner(self).poll_write_some(cx, data)
    }

    /// Written bytes are in the tty's buffer already; waiting for them to
    /// leave the wire (tcdrain) would block the runtime's thread.
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
#[path = "tty_io_tests.rs"]
mod tests;
