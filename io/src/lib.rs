//! The I/O under both binaries: the relay that moves a device's bytes to
//! and from data frames, non-blocking tty reads and writes, reading a
//! connection ahead of TLS, watching a file for replacement, the calls on
//! terminal descriptors everyone makes, and an echo pty (the demo device,
//! the test rig's and the benchmark's).
//!
//! Apart from the wire protocol (`serialmesh-proto`, which says what the
//! bytes mean) because none of this crosses the wire: it is how one side
//! moves bytes, and it changes for speed without changing the protocol.
//! It depends on no crate of ours but the protocol; what it counts goes
//! through [`ByteMeter`], which the metrics crate implements.

mod echo_pty;
mod meter;
mod read_ahead;
mod relay;
pub mod tty;
mod tty_io;
pub mod watch;

pub use echo_pty::EchoPty;
pub use meter::{ByteMeter, Meters};
pub use read_ahead::ReadAhead;
pub use relay::{Control, Liveness, Relay, RelayEnd, RelayStats};
pub use tty_io::TtyIo;
