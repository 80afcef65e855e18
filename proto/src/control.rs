//! Line control beside the line settings: break, purge and modem lines
//! (frames 0x0A and 0x0B, protocol feature [`FEATURE_LINE_CONTROL`]).
//!
//! These came after protocol 1 shipped. An agent that lacks them would close
//! the session on an unknown frame type, so a client sends them only to an
//! agent whose Hello lists the feature; the agent sends 0x0B only in answer
//! to a client that asked with 0x0A, so old clients never see it.

use serde::{Deserialize, Serialize};

/// Listed in an agent's `Hello.features` when it understands
/// [`LineControl`] and answers with [`ModemState`].
pub const FEATURE_LINE_CONTROL: &str = "line_control";

/// Client -> agent: act on the device's line now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum LineControl {
    /// Hold the transmit line in the break condition (`on`), or release it.
    Break { on: bool },
    /// Discard what the device's driver holds: `input` is what the device
    /// sent and nobody has read yet, `output` what was written but not yet
    /// sent on the wire.
    Purge { input: bool, output: bool },
    /// Report the modem input lines now and whenever they change, until
    /// the session ends.
    WatchModem,
}

/// Agent -> client: the modem input lines of the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModemState {
    /// `None`: the device has no modem lines (a pseudo-terminal, some
    /// adapters); the agent then sends this once and no changes.
    pub lines: Option<ModemLines>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ModemLines {
    pub cts: bool,
    pub dsr: bool,
    pub ri: bool,
    pub cd: bool,
}
