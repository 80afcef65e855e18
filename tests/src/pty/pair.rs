//! Opening terminals raw, and clearing a killed agent's exclusive flag.
//! (A new raw pty pair is `serialmesh_io::tty::open_pty`.)

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use serialmesh_io::tty::make_raw;

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
