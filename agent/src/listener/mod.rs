//! The mTLS listener: accept, admit, handshake, then Hello and a request.
//!
//! The agent's port is open to the network, and the TLS handshake is the
//! one thing an unauthenticated peer can make it do, at a cost to the agent
//! (a key exchange, a signature) far above the peer's. So connections are
//! admitted under caps before any TLS work (`admission.rs`), floods are
//! logged a line per interval (`crate::throttle`), and only a connection
//! whose client certificate checked out reaches `Server::handle`
//! (`handler.rs`), which hands an `Open` to [`crate::port::serve`].
//!
//! - `server.rs`: [`Server`], [`bind`]: the accept loop and the handshake.
//! - `handler.rs`: `Server::handle`: Hello, then `Open` or `List`.
//! - `admission.rs`: who gets a connection slot and a pending place.
//! - `limits.rs`: [`Limits`], from the config's `[limits]`.

pub mod admission;
mod handler;
mod limits;
mod server;

pub use limits::Limits;
pub use server::{bind, ClientConn, Server};
