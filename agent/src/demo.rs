//! A demo device for trying serialmesh without hardware: a pseudo-terminal
//! whose far end echoes every byte back, like a modem in loopback.
//!
//! The echo never blocks on writing while input waits (it keeps a buffer and
//! polls for both), because a blocking echo deadlocks against any relay as
//! soon as a few KiB are in flight.

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::PathBuf;

use tracing::{info, warn};

/// Creates the pty, starts the echo thread, returns the path to open.
pub fn start() -> io::Result<PathBuf> {
    let pty = nix::pty::openpty(None, None).map_err(io::Error::from)?;
    let path = nix::unistd::ttyname(pty.slave.as_fd()).map_err(io::Error::from)?;
    let mut raw = nix::sys::termios::tcgetattr(pty.slave.as_fd()).map_err(io::Error::from)?;
    nix::sys::termios::cfmakeraw(&mut raw);
    nix::sys::termios::tcsetattr(pty.slave.as_fd(), nix::sys::termios::SetArg::TCSANOW, &raw)
        .map_err(io::Error::from)?;
    set_nonblocking(&pty.master)?;
    // Keeping our slave fd open means the master never sees a hang-up
    // between clients, so the echo survives sessions coming and going.
    let slave = pty.slave;
    let master = pty.master;
    std::thread::Builder::new()
        .name("demo-echo".into())
        .spawn(move || {
            let _keep = slave;
            if let Err(e) = echo(master) {
                warn!(error = %e, "demo device stopped");
            }
        })?;
    info!(path = %path.display(), "demo echo device ready");
    Ok(path)
}

fn set_nonblocking(fd: &OwnedFd) -> io::Result<()> {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    let flags = fcntl(fd.as_raw_fd(), FcntlArg::F_GETFL).map_err(io::Error::from)?;
    fcntl(
        fd.as_raw_fd(),
        FcntlArg::F_SETFL(OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK),
    )
    .map_err(io::Error::from)?;
    Ok(())
}

fn echo(master: OwnedFd) -> io::Result<()> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let mut pending: Vec<u8> = Vec::with_capacity(64 * 1024);
    let mut buf = [0u8; 16 * 1024];
    loop {
        let mut flags = PollFlags::POLLIN;
        if !pending.is_empty() {
            flags |= PollFlags::POLLOUT;
        }
        let mut fds = [PollFd::new(master.as_fd(), flags)];
        poll(&mut fds, PollTimeout::NONE).map_err(io::Error::from)?;
        let revents = fds[0].revents().unwrap_or(PollFlags::empty());
        if revents.contains(PollFlags::POLLIN) && pending.len() < 1024 * 1024 {
            match nix::unistd::read(master.as_raw_fd(), &mut buf) {
                Ok(n) => pending.extend_from_slice(&buf[..n]),
                Err(nix::errno::Errno::EAGAIN) => {}
                Err(e) => return Err(e.into()),
            }
        }
        if !pending.is_empty() {
            match nix::unistd::write(master.as_fd(), &pending) {
                Ok(n) => {
                    pending.drain(..n);
                }
                Err(nix::errno::Errno::EAGAIN) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
}
