//! Where a pty endpoint's symlink may live, and putting it there without a
//! race.
//!
//! The gateway opens whatever the link points at. Another user who can
//! write the link's directory can plant a link to a pty of their own
//! before we start (in a sticky directory such as /tmp we may not even
//! remove it), or swap ours afterwards, and then read and write the
//! gateway's traffic. No check at open time helps once others can write
//! the directory, so such a directory is refused: the link's directory must
//! belong to root or to us and be writable by nobody else, and every
//! directory above it must be one that others cannot rename it out of.
//!
//! The directory is checked once, opened, and from then on used only
//! through its descriptor; the link is made under a temporary name and
//! renamed over the final one, so a gateway sees the old link or the new,
//! never none, and nothing anybody else did in between can be followed.

use std::ffi::OsString;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use std::os::unix::fs::OpenOptionsExt;

use nix::fcntl::AtFlags;
use nix::sys::stat::{fstatat, SFlag};
use nix::unistd::{getegid, geteuid, Group, User};
use tracing::warn;

/// Why a directory could let another user plant or swap the link.
#[derive(Debug)]
pub enum Problem {
    WritableByAll { mode: u32 },
    WritableByGroup { gid: u32, mode: u32 },
    OwnedBy { uid: u32 },
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Problem::WritableByAll { mode } => {
                write!(f, "is writable by every user (mode {mode:04o})")
            }
            Problem::WritableByGroup { gid, mode } => {
                let name = Group::from_gid(gid.into()).ok().flatten().map(|g| g.name);
                let name = name.unwrap_or_else(|| gid.to_string());
                write!(
                    f,
                    "is writable by group {name} (gid {gid}, mode {mode:04o})"
                )
            }
            Problem::OwnedBy { uid } => {
                let name = User::from_uid(uid.into()).ok().flatten().map(|u| u.name);
                let name = name.unwrap_or_else(|| uid.to_string());
                write!(f, "belongs to user {name} (uid {uid})")
            }
        }
    }
}

/// A pty link path that cannot be used (a usage error: exit 2).
#[derive(Debug, thiserror::Error)]
pub enum LinkDirError {
    #[error(
        "pty link {link}: {dir} {problem}: another user could plant a link there or swap ours, \
         and the gateway would open their pty; put the link in a directory that only root or \
         the user running serialctl can write, e.g. /run/serialmesh/{name} (systemd: \
         RuntimeDirectory=serialmesh) or a directory of your own"
    )]
    Unsafe {
        link: PathBuf,
        dir: PathBuf,
        name: String,
        problem: Problem,
    },
    #[error(
        "pty link {link}: cannot use its directory {dir} ({source}); it must exist, belong to \
         root or the user running serialctl and be writable by nobody else (e.g. /run/serialmesh)"
    )]
    Unusable {
        link: PathBuf,
        dir: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// The checked directory of a pty link, open.
#[derive(Debug)]
pub struct LinkDir {
    dir: OwnedFd,
    name: OsString,
    link: PathBuf,
}

impl LinkDir {
    /// Checks the directory of `link` and every directory above it, and
    /// opens it.
    pub fn open(link: &Path) -> Result<LinkDir, LinkDirError> {
        let name = match link.file_name() {
            Some(n) if !link.as_os_str().as_encoded_bytes().ends_with(b"/") => n.to_owned(),
            _ => {
                return Err(LinkDirError::Unusable {
                    link: link.into(),
                    dir: link.into(),
                    source: io::Error::new(io::ErrorKind::InvalidInput, "the path names no file"),
                })
            }
        };
        let parent = match link.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let unusable = |dir: &Path, source: io::Error| LinkDirError::Unusable {
            link: link.into(),
            dir: dir.into(),
            source,
        };
        let dir = std::fs::canonicalize(parent).map_err(|e| unusable(parent, e))?;
        let mut checked = PathBuf::new();
        let mut last = None;
        let components: Vec<Component> = dir.components().collect();
        for (i, c) in components.iter().enumerate() {
            checked.push(c);
            let meta = std::fs::symlink_metadata(&checked).map_err(|e| unusable(&checked, e))?;
            let own_dir = i + 1 == components.len();
            if let Some(problem) = problem_of(&meta, own_dir) {
                return Err(LinkDirError::Unsafe {
                    link: link.into(),
                    dir: checked,
                    name: name.to_string_lossy().into_owned(),
                    problem,
                });
            }
            last = Some((meta.dev(), meta.ino()));
        }
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW)
            .open(&dir)
            .map_err(|e| unusable(&dir, e))?;
        // The directories above cannot change under us (nobody else can
        // write them), but make sure the one opened is the one checked.
        let st = file.metadata().map_err(|e| unusable(&dir, e))?;
        if last != Some((st.dev(), st.ino())) {
            return Err(unusable(
                &dir,
                io::Error::other("it changed while being checked"),
            ));
        }
        Ok(LinkDir {
            dir: file.into(),
            name,
            link: link.into(),
        })
    }

    pub fn link(&self) -> &Path {
        &self.link
    }

    /// The same directory, for the endpoint to keep.
    pub fn try_clone(&self) -> io::Result<LinkDir> {
        Ok(LinkDir {
            dir: self.dir.try_clone()?,
            name: self.name.clone(),
            link: self.link.clone(),
        })
    }

    /// Points the link at `target`: made under a temporary name, then
    /// renamed over the link. A symlink already there (left by a crashed
    /// run, or made by root) is replaced and named in the log; anything
    /// else is refused.
    pub fn install(&self, target: &Path) -> io::Result<()> {
        match fstatat(
            Some(self.raw()),
            self.name.as_os_str(),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        ) {
            Ok(st) if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFLNK => {
                let old = nix::fcntl::readlinkat(Some(self.raw()), self.name.as_os_str())
                    .unwrap_or_default();
                warn!(link = %self.link.display(), old = %Path::new(&old).display(),
                    "replacing a symlink already at the pty path");
            }
            Ok(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!(
                        "{} exists and is not a symlink; refusing to replace it",
                        self.link.display()
                    ),
                ))
            }
            Err(nix::errno::Errno::ENOENT) => {}
            Err(e) => return Err(e.into()),
        }
        let mut tmp = OsString::from(".");
        tmp.push(&self.name);
        tmp.push(format!(".{}.tmp", std::process::id()));
        let _ = nix::unistd::unlinkat(
            Some(self.raw()),
            tmp.as_os_str(),
            nix::unistd::UnlinkatFlags::NoRemoveDir,
        );
        let made =
            nix::unistd::symlinkat(target, Some(self.raw()), tmp.as_os_str()).and_then(|()| {
                nix::fcntl::renameat(
                    Some(self.raw()),
                    tmp.as_os_str(),
                    Some(self.raw()),
                    self.name.as_os_str(),
                )
            });
        made.map_err(|e| {
            let _ = nix::unistd::unlinkat(
                Some(self.raw()),
                tmp.as_os_str(),
                nix::unistd::UnlinkatFlags::NoRemoveDir,
            );
            io::Error::new(
                io::Error::from(e).kind(),
                format!("cannot create symlink {}: {e}", self.link.display()),
            )
        })
    }

    /// Removes the link if it still points at `target`, so a gateway never
    /// opens a dangling or recycled pty.
    pub fn remove_if_pointing_at(&self, target: &Path) {
        let ours = nix::fcntl::readlinkat(Some(self.raw()), self.name.as_os_str())
            .is_ok_and(|t| Path::new(&t) == target);
        if ours {
            let _ = nix::unistd::unlinkat(
                Some(self.raw()),
                self.name.as_os_str(),
                nix::unistd::UnlinkatFlags::NoRemoveDir,
            );
        }
    }

    fn raw(&self) -> std::os::fd::RawFd {
        std::os::fd::AsRawFd::as_raw_fd(&self.dir)
    }
}

/// What lets another user change entries of a directory with `meta`:
/// `own_dir` is the link's own directory, where even a sticky directory is
/// refused (others may create the link's name there first); above it, a
/// sticky directory keeps others from renaming ours.
fn problem_of(meta: &std::fs::Metadata, own_dir: bool) -> Option<Problem> {
    let (mode, uid, gid) = (meta.mode() & 0o7777, meta.uid(), meta.gid());
    let sticky_ok = !own_dir && mode & 0o1000 != 0;
    if uid != 0 && uid != geteuid().as_raw() {
        return Some(Problem::OwnedBy { uid });
    }
    if mode & 0o002 != 0 && !sticky_ok {
        return Some(Problem::WritableByAll { mode });
    }
    // Our own (user-private) group may write; any other group is others.
    if mode & 0o020 != 0 && gid != getegid().as_raw() && !sticky_ok {
        return Some(Problem::WritableByGroup { gid, mode });
    }
    None
}
