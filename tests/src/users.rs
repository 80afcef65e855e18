//! Other local users, for tests of what one user can do to another's
//! endpoints. The tests run as root; the others are made with setpriv(1)
//! (util-linux), or for a socket, a thread's filesystem uid.
//!
//! Most hosts mount devpts with `mode=620,gid=5` (a new pty's slave is
//! writable by group tty), but this machine mounts it `mode=600`: a
//! process started with [`own_devpts`] gets a devpts of the common kind in
//! a mount namespace of its own, so a test of pty modes means the same
//! everywhere.

use std::ffi::OsStr;
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};

use crate::proc::ProcBuilder;

/// The unprivileged user that plays the other user (`nobody`).
pub const NOBODY: u32 = 65534;
/// A second unprivileged uid (no passwd entry needed), e.g. a gateway's.
pub const GATEWAY: u32 = 65533;
/// The tty group, which a devpts `gid=5` mount gives every new pty.
pub const TTY_GID: u32 = 5;

/// Who to run a command as: `uid` (and gid `uid`), with `groups` as its
/// supplementary groups, optionally inside another process's mount
/// namespace (to see its private devpts).
#[derive(Clone, Debug)]
pub struct AsUser {
    uid: u32,
    groups: Vec<u32>,
    mount_ns_of: Option<u32>,
}

impl AsUser {
    /// As `uid`, in no supplementary group.
    pub fn new(uid: u32) -> AsUser {
        AsUser {
            uid,
            groups: Vec::new(),
            mount_ns_of: None,
        }
    }

    /// Also in these supplementary groups (e.g. [`TTY_GID`]).
    pub fn groups(mut self, groups: &[u32]) -> AsUser {
        self.groups = groups.to_vec();
        self
    }

    /// In the mount namespace of process `pid`.
    pub fn in_mounts_of(mut self, pid: u32) -> AsUser {
        self.mount_ns_of = Some(pid);
        self
    }

    /// `program` run as this user.
    pub fn command(&self, program: impl AsRef<OsStr>) -> ProcBuilder {
        let mut b = match self.mount_ns_of {
            // nsenter runs as root and execs setpriv inside the namespace.
            Some(pid) => ProcBuilder::new("nsenter")
                .arg(format!("--mount=/proc/{pid}/ns/mnt"))
                .arg("--")
                .arg("setpriv"),
            None => ProcBuilder::new("setpriv"),
        };
        b = b
            .args(["--reuid", &self.uid.to_string()])
            .args(["--regid", &self.uid.to_string()]);
        b = if self.groups.is_empty() {
            b.arg("--clear-groups")
        } else {
            let groups: Vec<String> = self.groups.iter().map(u32::to_string).collect();
            b.args(["--groups", &groups.join(",")])
        };
        b.arg("--").arg(program).label(format!("uid-{}", self.uid))
    }

    /// Opens `path` for writing as this user (what group tty may do to a
    /// devpts slave of mode 0620): Ok, or the shell's error message.
    pub fn open_for_writing(&self, path: &Path) -> Result<(), String> {
        let (code, _, stderr) = self
            .command("sh")
            .args(["-c", "exec 3>>\"$0\"", &path.to_string_lossy()])
            .run_to_end(std::time::Duration::from_secs(30));
        if code == 0 {
            Ok(())
        } else {
            Err(stderr)
        }
    }
}

/// A loopback TCP connection whose socket belongs to `uid`, made from this
/// (root) test process: the kernel gives a new socket the creating
/// thread's filesystem uid, which is set only in a thread made for it.
pub fn connect_as(uid: u32, addr: SocketAddr) -> io::Result<TcpStream> {
    std::thread::spawn(move || {
        // setfsuid changes only the calling thread (the raw syscall; glibc
        // does not broadcast it), and this thread ends right after.
        // SAFETY: no memory is involved; the return value is the old fsuid.
        unsafe { libc::setfsuid(uid) };
        let stream = TcpStream::connect(addr);
        // SAFETY: as above.
        unsafe { libc::setfsuid(0) };
        stream
    })
    .join()
    .unwrap_or_else(|_| Err(io::Error::other("the connecting thread panicked")))
}

/// `program` started in a mount namespace of its own with a devpts of the
/// common kind (`mode=620,gid=5`: group tty may write to a new pty), so
/// what it makes of its ptys shows as on most hosts. Its ptys live in
/// that namespace: open them as [`in_mounts_of`] says.
pub fn own_devpts(program: impl AsRef<Path>) -> ProcBuilder {
    ProcBuilder::new("unshare")
        .args(["--mount", "--propagation", "private", "--", "sh", "-c"])
        .arg(
            "mount -t devpts -o newinstance,mode=620,gid=5,ptmxmode=666 devpts /dev/pts \
             && exec \"$0\" \"$@\"",
        )
        .arg(program.as_ref())
}

/// `path` (e.g. `/dev/pts/3`, as the link of a process in its own mount
/// namespace says) as this process reaches it through `/proc/PID/root`.
pub fn in_mounts_of(pid: u32, path: &Path) -> PathBuf {
    let inside = path.strip_prefix("/").unwrap_or(path);
    PathBuf::from(format!("/proc/{pid}/root")).join(inside)
}
