//! Local users named in a config or on the command line, looked up on this
//! host when the client starts: who owns a pty endpoint, who may connect
//! to a TCP endpoint.

use nix::unistd::{getegid, geteuid, Gid, Uid, User};
use serialmesh_config::LocalUser;

use crate::{Error, Result};

/// Who the pty slave belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    pub uid: Uid,
    pub gid: Gid,
}

impl Owner {
    /// The user running the client.
    pub fn me() -> Owner {
        Owner {
            uid: geteuid(),
            gid: getegid(),
        }
    }

    /// `user` (a name, or a uid with or without a passwd entry), with its
    /// primary group. Only root may hand a pty to someone else, so that is
    /// refused at start rather than failing at the chown.
    /// `what` names the setting in messages (`pty_owner`, `--pty-owner`).
    pub fn resolve(what: &str, user: Option<&LocalUser>) -> Result<Owner> {
        let Some(user) = user else {
            return Ok(Owner::me());
        };
        let (uid, gid) = match lookup(what, user)? {
            (uid, Some(entry)) => (uid, entry.gid),
            // A uid without a passwd entry (common in containers): the
            // mode is 0600, so the group gives nothing; keep ours.
            (uid, None) => (uid, getegid()),
        };
        if !geteuid().is_root() && uid != geteuid() {
            return Err(Error::usage(format!(
                "{what} {user}: only root can give a pty to another user; run serialctl as \
                 that user, or remove {what} (the pty then belongs to the user running serialctl)"
            )));
        }
        Ok(Owner { uid, gid })
    }
}

/// The uids of `users`, each looked up on this host.
pub fn resolve_uids(what: &str, users: &[LocalUser]) -> Result<Vec<u32>> {
    users
        .iter()
        .map(|u| lookup(what, u).map(|(uid, _)| uid.as_raw()))
        .collect()
}

/// `user`'s uid and passwd entry; a numeric uid needs no entry.
fn lookup(what: &str, user: &LocalUser) -> Result<(Uid, Option<User>)> {
    match user {
        LocalUser::Uid(uid) => {
            let uid = Uid::from_raw(*uid);
            Ok((uid, User::from_uid(uid).ok().flatten()))
        }
        LocalUser::Name(name) => match User::from_name(name) {
            Ok(Some(entry)) => Ok((entry.uid, Some(entry))),
            Ok(None) => Err(Error::usage(format!(
                "{what}: no user named '{name}' on this host; give an existing user name or a numeric uid"
            ))),
            Err(source) => Err(Error::usage(LookupFailed {
                what: what.to_string(),
                name: name.clone(),
                source,
            })),
        },
    }
}

/// The user database could not be asked (not: the user does not exist).
#[derive(Debug, thiserror::Error)]
#[error("{what}: cannot look up user '{name}': {source}")]
struct LookupFailed {
    what: String,
    name: String,
    source: nix::errno::Errno,
}
