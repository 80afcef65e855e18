//! The serialmesh wire protocol, shared by the agent and the client.
//!
//! Everything that crosses the mutual-TLS connection is defined here and only
//! here, so the two sides cannot drift apart. See `docs/protocol.md` for the
//! prose version of the same contract.
//!
//! How the bytes are moved (the relay, tty I/O) is `serialmesh-io`, which
//! changes for speed without changing the protocol; this crate depends on
//! no crate of ours, so both sides and the fuzz targets can take it alone.

mod close;
pub mod conn;
mod control;
pub mod discovery;
mod frame;
#[doc(hidden)]
pub mod fuzzing;
mod line;
mod messages;

pub use close::{CloseReason, CloseReasonKind};
pub use control::{LineControl, ModemLines, ModemState, FEATURE_LINE_CONTROL};
pub use frame::{
    encode_data_header, Frame, FrameType, ProtocolError, HEADER_LEN, MAX_DATA_CHUNK, MAX_PAYLOAD,
};
pub use line::{DataBits, FlowControl, LineSettings, Parity, StopBits};
pub use messages::{DeviceInfo, DeviceState, Hello, Inventory, Open, Opened, PeerKey};

/// ALPN protocol id. A peer that does not offer it is refused during the TLS
/// handshake, before any frame is parsed.
pub const ALPN: &[u8] = b"serialmesh/1";

/// Protocol version carried in [`Hello`]; bumped on incompatible changes.
pub const PROTOCOL_VERSION: u16 = 1;

/// Default TCP port of an agent ("SE" in ASCII hex is 0x5345 = 21317).
pub const DEFAULT_PORT: u16 = 21317;
