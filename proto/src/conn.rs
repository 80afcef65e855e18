//! Reading and writing whole frames during the handshake phase (hello, open,
//! list), before a session switches to the relay.

use std::io;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::{Frame, ProtocolError};

#[derive(Debug, thiserror::Error)]
pub enum ConnError {
    #[error("connection closed by peer")]
    Closed,
    #[error("connection closed by peer in the middle of a frame")]
    Truncated,
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// Reads the next frame. Bytes after it stay in `buf` for whoever reads next
/// (the relay), so nothing the peer pipelined is lost.
///
/// Cancel-safe: bytes are only ever appended to `buf`.
pub async fn read_frame<R: AsyncRead + Unpin>(
    io: &mut R,
    buf: &mut BytesMut,
) -> Result<Frame, ConnError> {
    loop {
        if let Some(frame) = Frame::decode(buf)? {
            return Ok(frame);
        }
        buf.reserve(4096);
        if io.read_buf(buf).await? == 0 {
            return Err(if buf.is_empty() {
                ConnError::Closed
            } else {
                ConnError::Truncated
            });
        }
    }
}

/// Writes one frame; a frame over the limit is an `InvalidInput` error
/// and nothing is written.
pub async fn write_frame<W: AsyncWrite + Unpin>(io: &mut W, frame: &Frame) -> io::Result<()> {
    let bytes = frame
        .to_bytes()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    io.write_all(&bytes).await?;
    io.flush().await
}

/// [`write_frame`], given up after `within`: a peer that stops reading
/// must not hold the task (and what it holds: a connection slot, a device)
/// for as long as TCP keeps trying, which is many minutes.
pub async fn write_frame_within<W: AsyncWrite + Unpin>(
    io: &mut W,
    frame: &Frame,
    within: std::time::Duration,
) -> io::Result<()> {
    match tokio::time::timeout(within, write_frame(io, frame)).await {
        Ok(r) => r,
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "the peer took no {:?} frame within {within:?}",
                frame.frame_type()
            ),
        )),
    }
}
