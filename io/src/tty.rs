//! Small calls on terminal descriptors that the agent, the client, the
//! echo pty, the test rig and the benchmark all make, in one place.
//!
//! termios2 (TCGETS2/TCSETS2) rather than the classic termios, because it
//! carries the rate as a number: applications set non-standard rates with
//! BOTHER, which the speed_t constants cannot express. A pty is opened
//! through `/dev/ptmx` with std's `OpenOptions` rather than `openpty(3)`,
//! because std sets `O_CLOEXEC` atomically and glibc's `openpty` does not:
//! a `seriald` or relay spawned by another thread in that window would
//! inherit the master and keep the "device" alive after it is stopped.

use std::ffi::CStr;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

/// Sets `O_NONBLOCK`, keeping the other status flags.
pub fn set_nonblocking(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: F_GETFL on a descriptor the caller keeps open for the call.
    let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: as above; F_SETFL takes an int of status flags.
    if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The terminal's settings, the rate as a number (TCGETS2).
pub fn termios2(fd: BorrowedFd<'_>) -> io::Result<libc::termios2> {
    // SAFETY: termios2 is plain old data; TCGETS2 fills it completely.
    let mut t: libc::termios2 = unsafe { std::mem::zeroed() };
    // SAFETY: a descriptor open for the call and a pointer to a termios2
    // that outlives it.
    if unsafe { libc::ioctl(fd.as_raw_fd(), libc::TCGETS2, &mut t) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(t)
}

/// Applies `t` at once (TCSETS2).
pub fn set_termios2(fd: BorrowedFd<'_>, t: &libc::termios2) -> io::Result<()> {
    // SAFETY: a descriptor open for the call and a pointer to an
    // initialised termios2.
    if unsafe { libc::ioctl(fd.as_raw_fd(), libc::TCSETS2, t) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Puts a terminal in raw mode (`cfmakeraw`): no echo, no line editing, no
/// CR/LF translation, no signals from 0x03, no XON/XOFF (0x11/0x13) flow
/// control, 8-bit clean; reads return as soon as one byte is there.
///
/// A pty has one set of terminal settings shared by both sides and kept
/// across opens, so setting it once on the slave covers the master too and
/// covers whoever opens the path later (until they change it).
pub fn make_raw(tty: impl AsFd) -> io::Result<()> {
    let fd = tty.as_fd().as_raw_fd();
    // SAFETY: termios is plain old data; tcgetattr fills it.
    let mut t: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: `fd` is open for the call and `t` a valid termios.
    if unsafe { libc::tcgetattr(fd, &mut t) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `t` is a valid termios.
    unsafe { libc::cfmakeraw(&mut t) };
    // SAFETY: as for tcgetattr.
    if unsafe { libc::tcsetattr(fd, libc::TCSANOW, &t) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A new pseudo-terminal: the master (non-blocking) and an open slave at
/// `path`, in raw mode, neither our controlling terminal, both
/// close-on-exec.
pub struct PtyPair {
    pub master: File,
    pub slave: File,
    pub path: PathBuf,
}

/// Opens a new pty pair in raw mode (see the module docs for why not
/// `openpty(3)`).
pub fn open_pty() -> io::Result<PtyPair> {
    let master = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY | libc::O_NONBLOCK)
        .open("/dev/ptmx")?;
    // SAFETY: unlockpt takes an open ptmx descriptor.
    if unsafe { libc::unlockpt(master.as_raw_fd()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let mut buf = [0 as libc::c_char; 128];
    // SAFETY: ptsname_r writes at most `buf.len()` bytes, NUL included.
    let rc = unsafe { libc::ptsname_r(master.as_raw_fd(), buf.as_mut_ptr(), buf.len()) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    // SAFETY: ptsname_r succeeded, so `buf` holds a NUL-terminated string.
    let name = unsafe { CStr::from_ptr(buf.as_ptr()) };
    let path = PathBuf::from(name.to_string_lossy().into_owned());
    let slave = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY)
        .open(&path)?;
    make_raw(&slave)?;
    Ok(PtyPair {
        master,
        slave,
        path,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_pty_is_raw_and_its_master_non_blocking() {
        let pair = open_pty().unwrap();
        let t = termios2(pair.slave.as_fd()).unwrap();
        assert_eq!(t.c_lflag & (libc::ICANON | libc::ECHO | libc::ISIG), 0);
        // SAFETY: F_GETFL on a descriptor we own.
        let flags = unsafe { libc::fcntl(pair.master.as_raw_fd(), libc::F_GETFL) };
        assert_ne!(flags & libc::O_NONBLOCK, 0);
        // SAFETY: as above.
        let fd_flags = unsafe { libc::fcntl(pair.master.as_raw_fd(), libc::F_GETFD) };
        assert_ne!(fd_flags & libc::FD_CLOEXEC, 0);
    }

    #[test]
    fn set_nonblocking_keeps_the_other_flags() {
        let pair = open_pty().unwrap();
        // SAFETY: F_GETFL on a descriptor we own.
        let before = unsafe { libc::fcntl(pair.slave.as_raw_fd(), libc::F_GETFL) };
        assert_eq!(before & libc::O_NONBLOCK, 0);
        set_nonblocking(pair.slave.as_fd()).unwrap();
        // SAFETY: as above.
        let after = unsafe { libc::fcntl(pair.slave.as_raw_fd(), libc::F_GETFL) };
        assert_eq!(after, before | libc::O_NONBLOCK);
    }

    #[test]
    fn a_rate_set_as_a_number_reads_back_as_that_number() {
        let pair = open_pty().unwrap();
        let mut t = termios2(pair.slave.as_fd()).unwrap();
        t.c_cflag = (t.c_cflag & !libc::CBAUD) | libc::BOTHER;
        t.c_ospeed = 250_000;
        t.c_ispeed = 250_000;
        set_termios2(pair.slave.as_fd(), &t).unwrap();
        assert_eq!(termios2(pair.master.as_fd()).unwrap().c_ospeed, 250_000);
    }
}
