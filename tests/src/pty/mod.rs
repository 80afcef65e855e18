//! Fake serial devices on pseudo-terminals.
//!
//! A test creates an [`EchoDevice`] or a [`ScriptedDevice`] and gives its
//! [`path`](EchoDevice::path) (the pty slave, e.g. `/dev/pts/7`, or a
//! symlink made with `link`) to `seriald` as a static device. The test keeps
//! the master side, through a background thread that never blocks, so a
//! relay pushing MiBs can not deadlock against the device.
//!
//! The terminal is put in raw mode (`cfmakeraw`) at creation, so 0x00,
//! 0x03 (Ctrl-C), 0x11/0x13 (XON/XOFF), 0xFF, CR and LF all pass untouched.
//!
//! How a pty differs from a real serial port, which tests must allow for:
//! - terminal settings live as long as the pty, shared by both sides and
//!   kept across opens (a relay that leaves it cooked corrupts the next
//!   user's binary protocol);
//! - bytes written while nobody has the slave open are kept and handed to
//!   the next opener (a real port drops them);
//! - `TIOCEXCL`, set by serialport-rs on open, survives a SIGKILLed agent
//!   (see [`EchoDevice::clear_exclusive`]); root is not affected.
//!
//! [`Tty`] is the other side as a test holds it: the slave opened directly,
//! or a pty endpoint made by `serialctl connect --pty`.

mod device;
mod echo;
mod links;
mod pair;
mod pump;
mod scripted;
mod tty;

#[cfg(test)]
mod tests;

pub use echo::EchoDevice;
pub use pair::open_raw;
pub use scripted::ScriptedDevice;
pub use serialmesh_io::tty::make_raw;
pub use tty::Tty;
