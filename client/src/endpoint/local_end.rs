//! An endpoint's local side: as the command line or config asks for it
//! ([`Local`]), and as it will be served ([`LocalEnd`]): users looked up on
//! this host, a pty's directory checked and held open.
//!
//! The check comes before anything is bound: a sidecar that starts half
//! its endpoints leaves a gateway failing in ways that are hard to trace
//! back to the config. RFC 2217 exists only on TCP (a pty carries line
//! settings through its termios), so [`Wire`] lives inside the TCP
//! variants and cannot be asked of a pty.

use std::net::SocketAddr;
use std::path::PathBuf;

use serialmesh_config::{allow_users_unusable_on, EndpointTarget, LocalUser, LocalUsers};

use super::local_users::{resolve_uids, Owner};
use super::pty::link_dir::LinkDir;
use super::tcp::{Gate, Wire};
use crate::{Error, Result};

/// An endpoint's local side as asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Local {
    /// A TCP listener, open to `users`.
    Tcp {
        listen: SocketAddr,
        users: LocalUsers,
        wire: Wire,
    },
    /// A pty whose slave is symlinked at `link`, owned by `owner` (None:
    /// the user running the client).
    Pty {
        link: PathBuf,
        owner: Option<LocalUser>,
    },
}

impl Local {
    /// A config endpoint's `target` and `rfc2217` flag. The config loader
    /// refuses `rfc2217` on a pty already; so does this, rather than drop
    /// the flag.
    pub fn from_config(target: &EndpointTarget, rfc2217: bool) -> Result<Local> {
        let wire = if rfc2217 { Wire::Rfc2217 } else { Wire::Raw };
        Ok(match target.clone() {
            EndpointTarget::Tcp { listen, users } => Local::Tcp {
                listen,
                users,
                wire,
            },
            EndpointTarget::Pty { .. } if rfc2217 => {
                return Err(Error::usage(
                    "rfc2217 needs a tcp endpoint; a pty carries line settings through its termios",
                ))
            }
            EndpointTarget::Pty { link, owner } => Local::Pty { link, owner },
        })
    }
}

/// An endpoint's local side with its users looked up on this host and a
/// pty's directory checked and open.
#[derive(Debug)]
pub enum LocalEnd {
    Tcp {
        listen: SocketAddr,
        gate: Gate,
        wire: Wire,
    },
    Pty {
        dir: LinkDir,
        owner: Owner,
    },
}

/// How `connect` and the sidecar config name the settings, for messages.
pub struct Names {
    pub allow_users: &'static str,
    pub pty_owner: &'static str,
}

impl LocalEnd {
    /// `local` with its users looked up and a pty's directory checked (a
    /// usage error if a user is unknown, a TCP endpoint restricted to users
    /// is not on loopback, or others could write the pty's directory).
    pub fn resolve(local: &Local, names: &Names) -> Result<LocalEnd> {
        Ok(match local {
            Local::Tcp {
                listen,
                users,
                wire,
            } => LocalEnd::Tcp {
                listen: *listen,
                wire: *wire,
                gate: match users {
                    LocalUsers::Anyone => Gate::Anyone,
                    LocalUsers::Only(users) => {
                        if let Some(why) = allow_users_unusable_on(listen) {
                            return Err(Error::usage(format!("{} {why}", names.allow_users)));
                        }
                        Gate::Uids(resolve_uids(names.allow_users, users)?)
                    }
                },
            },
            Local::Pty { link, owner } => LocalEnd::Pty {
                owner: Owner::resolve(names.pty_owner, owner.as_ref())?,
                dir: LinkDir::open(link).map_err(Error::usage)?,
            },
        })
    }
}
