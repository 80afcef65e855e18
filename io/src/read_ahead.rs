//! Reading a connection in large gulps under the TLS layer.
//!
//! rustls asks for at most 4 KiB at a time when its buffer is empty, so a
//! 16 KiB record took four reads and a 4 KiB one two (strace of a bulk
//! transfer: most of the client's reads returned exactly 4096 bytes). Under
//! TLS, a connection reads up to [`GULP`] bytes per system call and serves
//! rustls from memory. Small frames cost nothing extra: one read either way.
//!
//! The buffer exists only once [`ReadAhead::enable`] is called after the
//! handshake, so the connections of a flood, which never get that far,
//! cost no more memory than before.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Bytes read per system call at most: two full TLS records.
pub const GULP: usize = 32 * 1024;

pub struct ReadAhead<S> {
    inner: S,
    buf: Option<Box<[u8]>>,
    start: usize,
    end: usize,
}

impl<S> ReadAhead<S> {
    /// Passes reads straight through until [`ReadAhead::enable`].
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            buf: None,
            start: 0,
            end: 0,
        }
    }

    pub fn enable(&mut self) {
        if self.buf.is_none() {
            self.buf = Some(vec![0; GULP].into_boxed_slice());
        }
    }

    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for ReadAhead<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let Some(buf) = this.buf.as_deref_mut() else {
            return Pin::new(&mut this.inner).poll_read(cx, out);
        };
        if this.start == this.end {
            let mut fill = ReadBuf::new(buf);
            ready!(Pin::new(&mut this.inner).poll_read(cx, &mut fill))?;
            let n = fill.filled().len();
            if n == 0 {
                return Poll::Ready(Ok(())); // end of file
            }
            (this.start, this.end) = (0, n);
        }
        let n = out.remaining().min(this.end - this.start);
        out.put_slice(&buf[this.start..this.start + n]);
        this.start += n;
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for ReadAhead<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, data)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
#[path = "read_ahead_tests.rs"]
mod tests;
