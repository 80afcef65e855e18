//! Why `seriald` stops without success, and the exit status that says so.
//!
//! Service managers, `ExecStartPre=` and scripts act on the status alone:
//! 2 means the command line or the configuration (or a file it names) is
//! wrong, and starting again will fail the same way until a human fixes
//! it; 1 means a failure at run time (the listen port taken, no pty to
//! make) that may pass. Every way out of `seriald` is a variant of
//! [`Failure`], and [`Failure::exit_status`] is the one place the status
//! is chosen.

use std::io;
use std::net::SocketAddr;

use serialmesh_config::ConfigError;
use serialmesh_observe::error_chain;
use serialmesh_pki::PkiError;

use crate::identity::IdentityMismatch;

/// Everything `seriald` can fail with; its `Display` is the whole message
/// printed after `seriald: `.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// `seriald man --dir DIR` could not write there.
    #[error("{0}; give an existing directory with --dir")]
    ManDir(#[source] io::Error),
    /// The config file does not load.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// `--demo` beside a configured device of the same name.
    #[error("--demo adds a device named 'demo', but the config already has one; rename it")]
    DemoNameTaken,
    /// `seriald --check` found what start-up would refuse.
    #[error(transparent)]
    Check(#[from] CheckError),
    /// `seriald devices` cannot list (a directory that is not sysfs); the
    /// command words its own message (`devices_cmd.rs`).
    #[error("{0}")]
    Devices(String),
    /// `--demo`'s pseudo-terminal could not be made.
    #[error("cannot create the demo device: {0}")]
    Demo(#[source] io::Error),
    #[error("cannot start the async runtime: {0}")]
    Runtime(#[source] io::Error),
    /// Start-up failed; the message follows the chain of causes.
    #[error("{}", error_chain(.0))]
    Start(#[from] StartError),
}

/// What `seriald --check` finds wrong.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The TLS files: unreadable, a key readable by others, not an agent
    /// certificate of that CA, ...
    #[error(transparent)]
    Tls(#[from] PkiError),
    /// The config states a name or zone the certificate does not carry.
    #[error(transparent)]
    Identity(#[from] Box<IdentityMismatch>),
}

/// Why the agent did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The TLS files (as for [`CheckError::Tls`]).
    #[error(transparent)]
    Tls(#[from] PkiError),
    #[error(transparent)]
    Identity(#[from] Box<IdentityMismatch>),
    /// The revoked file named by the config does not load.
    #[error(transparent)]
    Revoked(#[from] ConfigError),
    #[error("cannot listen on {addr}: {source}; is another seriald running? change `listen` in the config")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
    #[error("listener has no local address")]
    LocalAddr(#[source] io::Error),
    /// The admin endpoint's address cannot be bound.
    #[error(transparent)]
    Admin(io::Error),
    #[error("cannot listen on {addr} for the ESPHome endpoint of device '{device}': {source}; change its `listen`")]
    EsphomeListen {
        device: String,
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
}

impl Failure {
    /// 2 for bad usage or configuration, 1 for a failure at run time.
    pub fn exit_status(&self) -> u8 {
        const USAGE: u8 = 2;
        const RUNTIME: u8 = 1;
        match self {
            Failure::ManDir(_)
            | Failure::Config(_)
            | Failure::DemoNameTaken
            | Failure::Check(_)
            | Failure::Devices(_) => USAGE,
            Failure::Demo(_) | Failure::Runtime(_) => RUNTIME,
            Failure::Start(e) => match e {
                StartError::Tls(_) | StartError::Identity(_) | StartError::Revoked(_) => USAGE,
                StartError::Listen { .. }
                | StartError::LocalAddr(_)
                | StartError::Admin(_)
                | StartError::EsphomeListen { .. } => RUNTIME,
            },
        }
    }
}

#[cfg(test)]
#[path = "failure_tests.rs"]
mod tests;
