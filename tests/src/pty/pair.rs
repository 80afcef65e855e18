//! Making a raw pseudo-terminal pair and opening terminals raw.

use std::ffi::CStr;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};

/// A new pseudo-terminal: the master (the fake device's side, non-blocking)
/// and an open slave (the host's side) at `path`, both raw.
pub(crate) struct Pair {
    pub master: File,
    pub slave: File,
    pub path: PathBuf,
}

/// Opens a new pty pair in raw mode.
///
/// Opened through `/dev/ptmx` with std's `OpenOptions` rather than
/// `openpty(3)` because std sets `O_CLOEXEC` atomically: glibc's `openpty`
/// does not, and a `seriald` spawned by a parallel test in that window would
/// inherit our master and keep the "device" alive after the test stops it.
pub(crate) fn open_pair() -> io::Result<Pair> {
    let master = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY | libc::O_NONBLOCK)
        .open("/dev/ptmx")?;
    // SAFETY: plain calls on a valid open ptmx descriptor; ptsname_r writes at
    // most `buf.len()` bytes including the terminating NUL.
    let path = unsafe {
        if libc::unlockpt(master.as_raw_fd()) != 0 {
            return Err(io::Error::last_os_error());
        }
        let mut buf = [0 as libc::c_char; 128];
        let rc = libc::ptsname_r(master.as_raw_fd(), buf.as_mut_ptr(), buf.len());
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        PathBuf::from(CStr::from_ptr(buf.as_ptr()).to_string_lossy().into_owned())
    };
    let slave = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY)
        .open(&path)?;
    make_raw(&slave)?;
    Ok(Pair {
        master,
        slave,
        path,
    })
}

/// Puts a terminal in raw mode (`cfmakeraw`): no echo, no line editing, no
/// CR/LF translation, no signals from 0x03, no XON/XOFF (0x11/0x13) flow
/// control, 8-bit clean; reads return as soon as one byte is there.
///
/// A pty has one set of terminal settings shared by both sides and kept
/// across opens, so setting it once on the slave covers the master too and
/// covers whoever opens the path later (until they change it).
pub fn make_raw(tty: impl AsFd) -> io::Result<()> {
    let mut t = tcgetattr(tty.as_fd())?;
    cfmakeraw(&mut t);
    tcsetattr(tty.as_fd(), SetArg::TCSANOW, &t)?;
    Ok(())
}

/// Opens a terminal device (a pty slave, a symlink to one, a serial port)
/// for reading and writing, without making it our controlling terminal,
/// non-blocking, and puts it in raw mode.
pub fn open_raw(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY | libc::O_NONBLOCK)
        .open(path)?;
    make_raw(&file)?;
    Ok(file)
}

/// Clears the terminal's exclusive flag (`TIOCNXCL`) through `slave`.
///
/// serialport-rs (under tokio-serial) opens ports with `TIOCEXCL` and only
/// clears it when the port is dropped gracefully. A `seriald` killed with
/// SIGKILL leaves the flag set on the pty, and a restarted `seriald` that is
/// not root then gets EBUSY opening it. Root ignores the flag.
pub(crate) fn clear_exclusive(slave: &File) -> io::Result<()> {
    // SAFETY: TIOCNXCL takes no argument; the descriptor is a valid tty.
    let rc = unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCNXCL) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
