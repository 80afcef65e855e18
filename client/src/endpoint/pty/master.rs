//! The pty of a pty endpoint, as the application's side of a link.
//!
//! We hold only the master. The application's open and close of the slave
//! show up on the master as POLLHUP clearing and returning; each open
//! becomes a session, as a TCP connection does, so the device is free while
//! the gateway is stopped and no stale bytes wait in the pty for it.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use nix::errno::Errno;
use serialmesh_io::tty::{make_raw, set_nonblocking, set_termios2, termios2};
use serialmesh_io::watch::Inotify;
use serialmesh_io::TtyIo;
use serialmesh_proto::{LineSettings, Opened};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tracing::{debug, info};

use super::link_dir::LinkDir;
use super::termios::{apply_to_termios, differs, from_termios};
use crate::endpoint::local_users::Owner;
use crate::link::Local;

/// How often to look whether the application has opened the pty when
/// inotify cannot watch the slave: the master gives no event for an open.
const ATTACH_POLL: Duration = Duration::from_millis(50);
/// With inotify reporting opens of the slave, a look now and then anyway,
/// in case an open was missed (never seen; a safety net, not the way).
const ATTACH_RECHECK: Duration = Duration::from_secs(1);

pub struct PtyEndpoint {
    master: OwnedFd,
    /// See [`PtyEndpoint::register`].
    io: Option<TtyIo<OwnedFd>>,
    /// inotify on the slave for IN_OPEN: the application's open wakes us
    /// at once, and a pty nobody has open costs no wake-ups. None if
    /// inotify is unavailable.
    opens: Option<Inotify>,
    slave: PathBuf,
    /// Where the link to the slave lives.
    dir: LinkDir,
    /// The settings the agent has for the device, as far as we know.
    shown: Option<LineSettings>,
    /// What we last wrote into the pty's termios; anything else there was
    /// set by the application and is its wish for the device.
    written: Option<LineSettings>,
}

impl PtyEndpoint {
    /// Creates the pty in raw mode, its slave private to `owner` (see
    /// [`super::alloc`]), and points the link in `dir` at the slave
    /// (see [`LinkDir::install`]).
    /// Must be called within a tokio runtime (the slave's open watch).
    pub fn create(dir: LinkDir, owner: Owner) -> io::Result<Self> {
        let pty = super::alloc::open(owner)?;
        let slave = pty.path;
        make_raw(&pty.slave)?;
        set_nonblocking(pty.master.as_fd())?;
        dir.install(&slave)?;
        let written = termios2(pty.slave.as_fd())
            .ok()
            .map(|t| from_termios(&t, LineSettings::default().baud));
        drop(pty.slave);
        Ok(Self {
            written,
            master: pty.master,
            io: None,
            opens: watch_opens(&slave),
            slave,
            dir,
            shown: None,
        })
    }

    pub fn link(&self) -> &Path {
        self.dir.link()
    }

    /// Whether the application has the slave open now.
    pub fn attached(&self) -> bool {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        let mut fds = [PollFd::new(self.master.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::ZERO) {
            Ok(_) => !fds[0]
                .revents()
                .unwrap_or(PollFlags::empty())
                .contains(PollFlags::POLLHUP),
            Err(_) => false,
        }
    }

    /// Waits until the application opens the pty, then readies the pty for
    /// a session.
    pub async fn wait_attached(&mut self) -> io::Result<()> {
        self.io = None;
        let mut events = [0u8; 1024];
        // An open after the check below still leaves an event queued, so
        // the wait that follows returns at once; events of earlier opens
        // cost one more look each.
        while !self.attached() {
            match &self.opens {
                Some(opens) => {
                    let _ = tokio::time::timeout(ATTACH_RECHECK, opens.read(&mut events)).await;
                }
                None => tokio::time::sleep(ATTACH_POLL).await,
            }
        }
        self.register()
    }

    /// A registration of a duplicate of `master`, made anew for each
    /// application open: tokio keeps a "closed" readiness bit once it has
    /// seen POLLHUP, so a registration that saw the application leave
    /// cannot be reused for the next open.
    fn register(&mut self) -> io::Result<()> {
        let io = TtyIo::new(self.master.try_clone()?).map_err(|e| {
            io::Error::other(format!("cannot register the pty with the runtime: {e}"))
        })?;
        self.io = Some(io);
        Ok(())
    }

    fn io(&mut self) -> io::Result<&mut TtyIo<OwnedFd>> {
        self.io.as_mut().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotConnected,
                "the application has not opened the pty",
            )
        })
    }

    fn termios(&self) -> Option<libc::termios2> {
        termios2(self.master.as_fd()).ok()
    }
}

impl Local for PtyEndpoint {
    fn tunnel_up(&mut self, opened: &Opened, _line_control: bool) {
        self.shown = Some(opened.settings);
        // On Linux, termios calls on the master act on the slave's settings.
        let Some(mut t) = self.termios() else { return };
        let current = from_termios(&t, opened.settings.baud);
        let app_chose = self.written.is_some_and(|w| differs(&w, &current));
        if app_chose {
            // The application configured the port before the tunnel was up:
            // its settings win, and line_change sends them to the agent.
            return;
        }
        apply_to_termios(&mut t, &opened.settings);
        if let Err(e) = set_termios2(self.master.as_fd(), &t) {
            debug!(error = %e, "cannot show the device's line settings on the pty");
        }
        self.written = self
            .termios()
            .map(|t| from_termios(&t, opened.settings.baud));
    }

    fn line_change(&mut self) -> Option<LineSettings> {
        let shown = self.shown?;
        let now = from_termios(&self.termios()?, shown.baud);
        if differs(&now, &shown) {
            info!(from = %shown, to = %now, "application changed the line settings");
            self.shown = Some(now);
            self.written = Some(now);
            Some(now)
        } else {
            None
        }
    }
}

impl Drop for PtyEndpoint {
    /// Removes the symlink if it is still ours, so a gateway never opens a
    /// dangling or recycled pty.
    fn drop(&mut self) {
        self.dir.remove_if_pointing_at(&self.slave);
    }
}

fn watch_opens(slave: &Path) -> Option<Inotify> {
    let watch = Inotify::new().and_then(|i| i.watch(slave, libc::IN_OPEN).map(|_| i));
    match watch {
        Ok(i) => Some(i),
        Err(e) => {
            debug!(slave = %slave.display(), error = %e,
                "cannot watch the pty for opens; looking every {ATTACH_POLL:?}");
            None
        }
    }
}

impl AsyncRead for PtyEndpoint {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let mut reopened = false;
        loop {
            let io = self.io()?;
            let ended = match ready!(io.poll_read_some(cx, buf.initialize_unfilled())) {
                Ok(0) => true,
                Ok(n) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                // EIO: the application closed the slave.
                Err(e) if e.raw_os_error() == Some(Errno::EIO as i32) => true,
                Err(e) => return Poll::Ready(Err(e)),
            };
            // The application closed the pty and opened it again before
            // we looked (a gateway reopening its port after an error):
            // the session goes on, or the bytes it wrote since, read here,
            // would be answered into a session about to end. tokio keeps
            // the hang-up it saw, so the pty is registered afresh.
            if ended && !reopened && self.attached() {
                debug!("application reopened the pty; the session goes on");
                reopened = true;
                self.register()?;
                // A write waiting on the old registration lost its waker
                // with it: have the relay poll both directions again.
                cx.waker().wake_by_ref();
                continue;
            }
            // End of file: this session ends, the next open gets a new one.
            return Poll::Ready(Ok(()));
        }
    }
}

impl AsyncWrite for PtyEndpoint {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.io()?.poll_write_some(cx, data)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
