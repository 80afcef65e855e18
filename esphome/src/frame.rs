//! ESPHome's Noise frame layer: every frame is an indicator byte 0x01, a
//! 16-bit big-endian length and that many bytes (a handshake message, or
//! one encrypted message). Inside an encrypted frame a message is its
//! 16-bit id, its 16-bit length and its protobuf body. The length field
//! caps a frame at 64 KiB, so frames are read into one buffer and taken
//! out whole; a frame that is not 0x01 is refused at once (ESPHome's
//! plaintext framing starts with 0x00: such a client gets a clear close).

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};

pub const INDICATOR: u8 = 0x01;
/// What ESPHome accepts in a handshake frame (a client hello, a handshake
/// message): a peer that has not proven it holds a key may not make the
/// agent buffer more.
pub const MAX_HANDSHAKE_FRAME: usize = 128;
pub const MAX_FRAME: usize = u16::MAX as usize;

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("not an encrypted ESPHome frame (first byte {0:#04x}, expected 0x01); is the client set up with a key?")]
    BadIndicator(u8),
    #[error("frame of {0} bytes is over the {1}-byte limit of this phase")]
    TooLong(usize, usize),
    #[error("message header says {declared} bytes but the frame holds {held}")]
    BadLength { declared: usize, held: usize },
    #[error("connection closed")]
    Closed,
    #[error("read failed: {0}")]
    Io(#[source] std::io::Error),
}

/// Takes one whole frame's payload out of `buf`, if one is there.
pub fn take(buf: &mut BytesMut, limit: usize) -> Result<Option<Bytes>, FrameError> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    if first != INDICATOR {
        return Err(FrameError::BadIndicator(first));
    }
    if buf.len() < 3 {
        return Ok(None);
    }
    let len = u16::from_be_bytes([buf[1], buf[2]]) as usize;
    if len > limit {
        return Err(FrameError::TooLong(len, limit));
    }
    if buf.len() < 3 + len {
        return Ok(None);
    }
    buf.advance(3);
    Ok(Some(buf.split_to(len).freeze()))
}

/// Reads until a whole frame is in `buf` and takes it. Cancel-safe: what
/// was read stays in `buf`.
pub async fn read<R: AsyncRead + Unpin>(
    io: &mut R,
    buf: &mut BytesMut,
    limit: usize,
) -> Result<Bytes, FrameError> {
    loop {
        if let Some(f) = take(buf, limit)? {
            return Ok(f);
        }
        buf.reserve(4096);
        match io.read_buf(buf).await {
            Ok(0) => return Err(FrameError::Closed),
            Ok(_) => {}
            Err(e) => return Err(FrameError::Io(e)),
        }
    }
}

/// Appends `payload` as one frame.
pub fn put(out: &mut Vec<u8>, payload: &[u8]) {
    debug_assert!(payload.len() <= MAX_FRAME);
    out.push(INDICATOR);
    out.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    out.extend_from_slice(payload);
}

/// A message as it is encrypted: id, length, body.
pub fn message(id: u16, body: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(4 + body.len());
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&(body.len() as u16).to_be_bytes());
    m.extend_from_slice(body);
    m
}

/// The id and body of a decrypted message.
pub fn split_message(plain: &[u8]) -> Result<(u16, &[u8]), FrameError> {
    if plain.len() < 4 {
        return Err(FrameError::BadLength {
            declared: 4,
            held: plain.len(),
        });
    }
    let id = u16::from_be_bytes([plain[0], plain[1]]);
    let len = u16::from_be_bytes([plain[2], plain[3]]) as usize;
    let body = &plain[4..];
    if len > body.len() {
        return Err(FrameError::BadLength {
            declared: len,
            held: body.len(),
        });
    }
    Ok((id, &body[..len]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_is_indicator_big_endian_length_and_payload() {
        let mut out = Vec::new();
        put(&mut out, &[0xaa; 300]);
        assert_eq!(&out[..3], &[0x01, 0x01, 0x2c]);
        assert_eq!(out.len(), 303);
        let mut empty = Vec::new();
        put(&mut empty, &[]);
        // zwave-js's client hello: an empty frame.
        assert_eq!(empty, vec![0x01, 0, 0]);
    }

    #[test]
    fn frames_are_taken_whole_and_in_order_however_they_arrive() {
        let mut wire = Vec::new();
        put(&mut wire, b"");
        put(&mut wire, b"first");
        put(&mut wire, b"second");
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for b in wire {
            buf.extend_from_slice(&[b]);
            while let Some(f) = take(&mut buf, MAX_FRAME).unwrap() {
                got.push(f);
            }
        }
        assert_eq!(got, vec![&b""[..], b"first", b"second"]);
        assert!(buf.is_empty());
    }

    #[test]
    fn a_plaintext_client_is_refused_at_its_first_byte() {
        let mut buf = BytesMut::from(&[0x00, 0x05, 0x01][..]);
        let e = take(&mut buf, MAX_FRAME).unwrap_err();
        assert!(matches!(e, FrameError::BadIndicator(0)), "{e}");
        assert!(e.to_string().contains("set up with a key"), "{e}");
    }

    #[test]
    fn a_handshake_frame_over_the_limit_is_refused_before_it_is_buffered() {
        let mut buf = BytesMut::from(&[0x01, 0xff, 0xff][..]);
        assert!(matches!(
            take(&mut buf, MAX_HANDSHAKE_FRAME),
            Err(FrameError::TooLong(65535, 128))
        ));
    }

    #[test]
    fn a_message_is_id_length_body() {
        let m = message(128, &[1, 2, 3]);
        assert_eq!(m, vec![0, 128, 0, 3, 1, 2, 3]);
        assert_eq!(split_message(&m).unwrap(), (128, &[1u8, 2, 3][..]));
        assert!(matches!(
            split_message(&[0, 1, 0, 9, 1]),
            Err(FrameError::BadLength {
                declared: 9,
                held: 1
            })
        ));
    }
}
