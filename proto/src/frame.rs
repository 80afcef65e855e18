//! Framing: `type: u8 | length: u32 big-endian | payload`.
//!
//! The decoder never allocates before it knows a whole, in-limit frame is in
//! the buffer, so a peer announcing a 4 GiB frame costs us five bytes. The
//! encoder refuses what the decoder would refuse ([`MAX_PAYLOAD`]): a frame
//! every peer would reject must fail at the sender, where the error can say
//! what was too big, not as a broken connection at every receiver.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use serde::{de::DeserializeOwned, Serialize};

use crate::{CloseReason, Hello, Inventory, LineControl, LineSettings, ModemState, Open, Opened};

pub const HEADER_LEN: usize = 5;
/// Largest payload accepted from a peer. Inventories of big agents are the
/// largest legitimate frames; data frames are far smaller.
pub const MAX_PAYLOAD: usize = 256 * 1024;
/// Largest data payload a sender produces: one TLS record's worth.
pub const MAX_DATA_CHUNK: usize = 16 * 1024 - HEADER_LEN;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum FrameType {
    Hello = 0x01,
    Open = 0x02,
    Opened = 0x03,
    Data = 0x04,
    SetLine = 0x05,
    Heartbeat = 0x06,
    Close = 0x07,
    List = 0x08,
    Inventory = 0x09,
    LineControl = 0x0A,
    ModemState = 0x0B,
}

impl FrameType {
    fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            0x01 => Self::Hello,
            0x02 => Self::Open,
            0x03 => Self::Opened,
            0x04 => Self::Data,
            0x05 => Self::SetLine,
            0x06 => Self::Heartbeat,
            0x07 => Self::Close,
            0x08 => Self::List,
            0x09 => Self::Inventory,
            0x0A => Self::LineControl,
            0x0B => Self::ModemState,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Hello(Hello),
    Open(Open),
    Opened(Opened),
    Data(Bytes),
    SetLine(LineSettings),
    Heartbeat,
    Close(CloseReason),
    List,
    Inventory(Inventory),
    /// Only to agents that list [`crate::FEATURE_LINE_CONTROL`].
    LineControl(LineControl),
    ModemState(ModemState),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProtocolError {
    #[error("frame of {len} bytes exceeds the limit of {MAX_PAYLOAD} bytes")]
    Oversized { len: usize },
    #[error("unknown frame type 0x{0:02x}")]
    UnknownType(u8),
    #[error("malformed {kind:?} frame: {detail}")]
    Malformed { kind: FrameType, detail: String },
}

impl Frame {
    pub fn frame_type(&self) -> FrameType {
        match self {
            Self::Hello(_) => FrameType::Hello,
            Self::Open(_) => FrameType::Open,
            Self::Opened(_) => FrameType::Opened,
            Self::Data(_) => FrameType::Data,
            Self::SetLine(_) => FrameType::SetLine,
            Self::Heartbeat => FrameType::Heartbeat,
            Self::Close(_) => FrameType::Close,
            Self::List => FrameType::List,
            Self::Inventory(_) => FrameType::Inventory,
            Self::LineControl(_) => FrameType::LineControl,
            Self::ModemState(_) => FrameType::ModemState,
        }
    }

    /// Looks at the header only: `Ok(None)` until a whole frame is buffered.
    pub fn peek(buf: &[u8]) -> Result<Option<(FrameType, usize)>, ProtocolError> {
        if buf.len() < HEADER_LEN {
            return Ok(None);
        }
        let kind = FrameType::from_u8(buf[0]).ok_or(ProtocolError::UnknownType(buf[0]))?;
        let len = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize;
        if len > MAX_PAYLOAD {
            return Err(ProtocolError::Oversized { len });
        }
        if buf.len() < HEADER_LEN + len {
            return Ok(None);
        }
        Ok(Some((kind, len)))
    }

    /// Takes one whole frame off the front of `buf`, if there is one.
    pub fn decode(buf: &mut BytesMut) -> Result<Option<Frame>, ProtocolError> {
        let Some((kind, len)) = Self::peek(buf)? else {
            return Ok(None);
        };
        buf.advance(HEADER_LEN);
        let payload = buf.split_to(len).freeze();
        Self::parse(kind, payload).map(Some)
    }

    fn parse(kind: FrameType, payload: Bytes) -> Result<Frame, ProtocolError> {
        Ok(match kind {
            FrameType::Data => Frame::Data(payload),
            FrameType::Heartbeat => {
                empty(kind, &payload)?;
                Frame::Heartbeat
            }
            FrameType::List => {
                empty(kind, &payload)?;
                Frame::List
            }
            FrameType::Hello => Frame::Hello(json(kind, &payload)?),
            FrameType::Open => Frame::Open(json(kind, &payload)?),
            FrameType::Opened => Frame::Opened(json(kind, &payload)?),
            FrameType::SetLine => Frame::SetLine(json(kind, &payload)?),
            FrameType::Close => Frame::Close(json(kind, &payload)?),
            FrameType::Inventory => Frame::Inventory(json(kind, &payload)?),
            FrameType::LineControl => Frame::LineControl(json(kind, &payload)?),
            FrameType::ModemState => Frame::ModemState(json(kind, &payload)?),
        })
    }

    /// Appends the encoded frame to `out`; a payload over [`MAX_PAYLOAD`]
    /// is an error and leaves `out` as it was.
    pub fn encode(&self, out: &mut BytesMut) -> Result<(), ProtocolError> {
        let kind = self.frame_type() as u8;
        match self {
            Frame::Data(data) => {
                if data.len() > MAX_PAYLOAD {
                    return Err(ProtocolError::Oversized { len: data.len() });
                }
                out.reserve(HEADER_LEN + data.len());
                out.put_u8(kind);
                out.put_u32(data.len() as u32);
                out.put_slice(data);
            }
            Frame::Heartbeat | Frame::List => {
                out.put_u8(kind);
                out.put_u32(0);
            }
            Frame::Hello(m) => put_json(out, kind, m)?,
            Frame::Open(m) => put_json(out, kind, m)?,
            Frame::Opened(m) => put_json(out, kind, m)?,
            Frame::SetLine(m) => put_json(out, kind, m)?,
            Frame::Close(m) => put_json(out, kind, m)?,
            Frame::Inventory(m) => put_json(out, kind, m)?,
            Frame::LineControl(m) => put_json(out, kind, m)?,
            Frame::ModemState(m) => put_json(out, kind, m)?,
        }
        Ok(())
    }

    pub fn to_bytes(&self) -> Result<BytesMut, ProtocolError> {
        let mut out = BytesMut::new();
        self.encode(&mut out)?;
        Ok(out)
    }
}

/// Writes a data header in place, for senders that read device bytes straight
/// into their output buffer behind a reserved header.
pub fn encode_data_header(header: &mut [u8], len: usize) {
    header[0] = FrameType::Data as u8;
    header[1..HEADER_LEN].copy_from_slice(&(len as u32).to_be_bytes());
}

fn empty(kind: FrameType, payload: &[u8]) -> Result<(), ProtocolError> {
    if payload.is_empty() {
        Ok(())
    } else {
        Err(ProtocolError::Malformed {
            kind,
            detail: format!("expected no payload, got {} bytes", payload.len()),
        })
    }
}

fn json<T: DeserializeOwned>(kind: FrameType, payload: &[u8]) -> Result<T, ProtocolError> {
    serde_json::from_slice(payload).map_err(|e| ProtocolError::Malformed {
        kind,
        detail: e.to_string(),
    })
}

fn put_json<T: Serialize>(out: &mut BytesMut, kind: u8, value: &T) -> Result<(), ProtocolError> {
    // Serialising our own plain structs cannot fail; an empty body would be
    // rejected by the peer, which is the right outcome if it ever did.
    let body = serde_json::to_vec(value).unwrap_or_default();
    if body.len() > MAX_PAYLOAD {
        return Err(ProtocolError::Oversized { len: body.len() });
    }
    out.reserve(HEADER_LEN + body.len());
    out.put_u8(kind);
    out.put_u32(body.len() as u32);
    out.put_slice(&body);
    Ok(())
}

#[cfg(test)]
#[path = "frame_tests.rs"]
mod tests;
