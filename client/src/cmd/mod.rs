//! The commands of `serialctl`, one module each, each taking a request
//! type of its own rather than clap's structs: the binary's `cli.rs` turns
//! arguments into these, so the commands (and everything under them) can be
//! used and tested without a command line.
//!
//! What more than one command needs lives below `cmd` (in `dial`,
//! `endpoint`, `resolve`) or here, never in another command.

pub mod connect;
pub mod doctor;
pub mod ls;
pub mod pki;
pub mod sidecar;

use serialmesh_pki::Fingerprint;

use crate::{Error, Result};

/// `--agent-fingerprint HEX`, checked (a bad one is a usage error).
fn parse_pin(hex: Option<&str>) -> Result<Option<Fingerprint>> {
    hex.map(|h| h.parse().map_err(|e| Error::usage(PinError { source: e })))
        .transpose()
}

#[derive(Debug, thiserror::Error)]
#[error("--agent-fingerprint: {source}")]
struct PinError {
    source: serialmesh_pki::PkiError,
}
