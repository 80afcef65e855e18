//! A pty whose slave only its owner can open.
//!
//! devpts gives a new slave the mode of its mount (`mode=620,gid=5` on most
//! hosts and in Docker: group tty may write to it, i.e. into the device),
//! and openpty(3) unlocks the slave at once. So the pty is made by hand: the
//! slave stays locked (every open of it fails) until its owner and mode
//! 0600 are set, and only then is it unlocked; nobody can hold an open
//! from a moment when others were allowed in.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::PathBuf;

use nix::fcntl::OFlag;
use nix::sys::stat::{fchmodat, FchmodatFlags, Mode};
use nix::unistd::fchownat;

use crate::endpoint::local_users::Owner;

/// The pty's two ends and the slave's path.
pub struct PrivatePty {
    pub master: OwnedFd,
    pub slave: OwnedFd,
    pub path: PathBuf,
}

/// The mode of the slave: read and write for its owner only.
pub const SLAVE_MODE: u32 = 0o600;

pub fn open(owner: Owner) -> io::Result<PrivatePty> {
    let ptm = nix::pty::posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
        .map_err(|e| with_context("cannot open /dev/ptmx", e.into()))?;
    let path = PathBuf::from(
        nix::pty::ptsname_r(&ptm).map_err(|e| with_context("cannot name the pty", e.into()))?,
    );
    // While locked the slave cannot be opened, so setting its mode and
    // owner through its path (in /dev/pts, which only root can change)
    // comes before anybody else could have it.
    fchmodat(
        None,
        &path,
        Mode::from_bits_truncate(SLAVE_MODE),
        FchmodatFlags::FollowSymlink,
    )
    .map_err(|e| with_context(&format!("cannot make {} private", path.display()), e.into()))?;
    fchownat(
        None,
        &path,
        Some(owner.uid),
        Some(owner.gid),
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .map_err(|e| {
        with_context(
            &format!("cannot give {} to uid {}", path.display(), owner.uid),
            e.into(),
        )
    })?;
    nix::pty::unlockpt(&ptm).map_err(|e| with_context("cannot unlock the pty", e.into()))?;
    let slave = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY)
        .open(&path)
        .map_err(|e| with_context(&format!("cannot open {}", path.display()), e))?;
    let meta = slave.metadata()?;
    if meta.mode() & 0o7777 != SLAVE_MODE || meta.uid() != owner.uid.as_raw() {
        return Err(io::Error::other(format!(
            "{} is mode {:04o} owned by uid {} after making it private",
            path.display(),
            meta.mode() & 0o7777,
            meta.uid()
        )));
    }
    // PtyMaster gives its descriptor only as a raw fd; a duplicate keeps
    // this free of unsafe code (the original closes when `ptm` drops).
    let master = ptm.as_fd().try_clone_to_owned()?;
    Ok(PrivatePty {
        master,
        slave: slave.into(),
        path,
    })
}

fn with_context(what: &str, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{what}: {e}"))
}
