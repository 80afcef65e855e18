//! One client on one shared device, from claim to close.
//!
//! A serial device has one reader: two clients reading it would each get
//! half of every frame. So a device is claimed in the registry before it
//! is opened, one client at a time, and a newcomer of the same client
//! name replaces the old session (a gateway that restarted) instead of
//! being refused. Everything that owns the port is [`Lease`]; the
//! serialmesh session on top of it is [`serve`].
//!
//! To serve a shared device to a client by another protocol: take a
//! [`Lease`] with [`Lease::open`] (claim, wait out a re-plug or the session
//! it replaces, open at the line settings), relay on [`Lease::tty`] until
//! [`Lease::stop`] fires or the client leaves, then [`Lease::close`]. A
//! session that must outlive a re-enumerating device calls
//! [`Lease::reopen`] instead of ending.
//!
//! - `lease.rs`: [`Lease`], owning the claim, the port lock and the tty.
//! - `session.rs`: [`serve`], the protocol session: `Opened`, relay, Close.
//! - `hold.rs`: waiting out a re-plug, for the claim and for the open.
//! - `serial.rs`: opening a tty at line settings, applying them, closing.
//! - `line_control.rs`: control frames during a session (SetLine, break,
//!   purge, modem lines).

pub mod hold;
mod lease;
pub mod line_control;
pub mod serial;
mod session;

pub use lease::Lease;
pub use session::{serve, WRITE_WAIT};
