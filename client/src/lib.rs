//! `serialctl`: reaching serialmesh devices from anywhere on the network.
//!
//! The library is everything but the command line: `cli.rs` and `main.rs`
//! (the binary) turn arguments into the request types of [`cmd`], so any
//! module here can be used, and tested, without clap. Dependencies point
//! one way, from the commands down to the wire:
//!
//! ```text
//! cmd ──> endpoint ──> link ──> route ──> resolve ──> dial
//!            │          │        ▲
//!            └──────────┴──> telemetry
//! ```
//!
//! (`cmd` also reaches below `endpoint` where it sets things up; `error`
//! and `utc` are leaves every module may use.) No file imports one that
//! imports it back: `scripts/module-cycles.py client/src` checks.

pub mod cmd;
pub mod dial;
pub mod endpoint;
pub mod error;
pub mod link;
pub mod resolve;
pub mod route;
pub mod telemetry;
pub mod utc;

pub use error::{Error, Result};
