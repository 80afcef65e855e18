//! Knowing when to scan again, without polling.
//!
//! Three sources, each covering a case the others miss:
//! - inotify on `{sysfs}/class/tty`: fake trees in tests (real sysfs sends
//!   no inotify events);
//! - inotify on `{dev}` and `{dev}/serial/by-id`: devtmpfs does send them,
//!   and mdev and udev create nodes and links there;
//! - kernel uevents over netlink, on a real sysfs.
//!
//! An idle agent sleeps in the kernel: no timers run until an event
//! arrives, then one debounce timer gathers the burst a plug-in makes.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serialmesh_io::watch;
use tracing::{debug, warn};

use super::sysfs::is_serial_name;
use super::uevent::{is_real_sysfs, Uevents};
use super::DiscoveryConfig;

/// A plug-in is a burst (usb device, interfaces, tty, node, by-id link);
/// scanning once after it settles beats scanning mid-way, and 150 ms keeps
/// "shared within about a second" with room to spare.
const DEBOUNCE: Duration = Duration::from_millis(150);

/// Resolves [`Watcher::changed`] when serial devices may have come or gone.
pub struct Watcher {
    inotify: Option<Inotify>,
    uevents: Option<Uevents>,
    by_id: PathBuf,
    /// An event was seen but `changed` was cancelled before reporting it.
    pending: bool,
}

impl Watcher {
    /// Starts watching. Must be called within a tokio runtime. Fails only
    /// if no source at all can be set up (then hot-plug is off, and the
    /// caller should say so); a missing source is logged at debug.
    pub fn new(cfg: &DiscoveryConfig) -> io::Result<Watcher> {
        let mut inotify = match Inotify::new() {
            Ok(i) => Some(i),
            Err(e) => {
                debug!(error = %e, "inotify unavailable");
                None
            }
        };
        if let Some(i) = &mut inotify {
            let class = cfg.sysfs.join("class/tty");
            i.watch(&class, Kind::Tty);
            i.watch(&cfg.dev, Kind::Dev);
        }
        let uevents = if is_real_sysfs(&cfg.sysfs) {
            match Uevents::open() {
                Ok(u) => Some(u),
                Err(e) => {
                    debug!(error = %e, "kernel uevents unavailable; relying on inotify on the dev dir");
                    None
                }
            }
        } else {
            None
        };
        if inotify.as_ref().is_none_or(|i| i.watches.is_empty()) && uevents.is_none() {
            return Err(io::Error::other(format!(
                "cannot watch {} or {} for devices coming and going",
                cfg.sysfs.join("class/tty").display(),
                cfg.dev.display()
            )));
        }
        let mut w = Watcher {
            inotify,
            uevents,
            by_id: cfg.dev.join("serial/by-id"),
            pending: false,
        };
        w.watch_by_id();
        Ok(w)
    }

    /// Resolves when something under `{sysfs}/class/tty` or the dev dir
    /// may have changed, once the burst has settled. Cancel-safe: an event
    /// seen by a cancelled call is reported by the next one.
    pub async fn changed(&mut self) {
        while !self.pending {
            self.pending = self.next_event().await;
        }
        let settle = tokio::time::sleep(DEBOUNCE);
        tokio::pin!(settle);
        loop {
            tokio::select! {
                _ = &mut settle => break,
                _ = self.next_event() => {}
            }
        }
        self.pending = false;
        // udev makes serial/by-id when the first such device appears.
        self.watch_by_id();
    }

    fn watch_by_id(&mut self) {
        if let Some(i) = &mut self.inotify {
            if !i.watches.values().any(|k| *k == Kind::ById) && self.by_id.is_dir() {
                i.watch(&self.by_id, Kind::ById);
            }
        }
    }

    /// Waits for one relevant event. A source that fails is dropped, and
    /// counts as a change so nothing is missed.
    async fn next_event(&mut self) -> bool {
        let outcome = {
            let ino = async {
                match &self.inotify {
                    Some(i) => i.next().await,
                    None => std::future::pending().await,
                }
            };
            let ue = async {
                match &self.uevents {
                    Some(u) => u.next().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                r = ino => Source::Inotify(r),
                r = ue => Source::Uevents(r),
            }
        };
        match outcome {
            Source::Inotify(Err(e)) => {
                warn!(error = %e, "inotify failed; hot-plug now relies on kernel uevents");
                self.inotify = None;
            }
            Source::Uevents(Err(e)) => {
                warn!(error = %e, "uevent socket failed; hot-plug now relies on inotify");
                self.uevents = None;
            }
            Source::Inotify(Ok(())) | Source::Uevents(Ok(())) => {}
        }
        true
    }
}

enum Source {
    Inotify(io::Result<()>),
    Uevents(io::Result<()>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Tty,
    Dev,
    ById,
}

/// inotify on the tty and dev directories, each watch tagged with what
/// it covers.
struct Inotify {
    inner: watch::Inotify,
    watches: HashMap<i32, Kind>,
}

impl Inotify {
    fn new() -> io::Result<Self> {
        Ok(Self {
            inner: watch::Inotify::new()?,
            watches: HashMap::new(),
        })
    }

    fn watch(&mut self, dir: &Path, kind: Kind) {
        let mask = libc::IN_CREATE
            | libc::IN_DELETE
            | libc::IN_MOVED_FROM
            | libc::IN_MOVED_TO
            | libc::IN_ONLYDIR;
        match self.inner.watch(dir, mask) {
            Ok(wd) => {
                self.watches.insert(wd, kind);
            }
            Err(e) => debug!(dir = %dir.display(), error = %e, "cannot watch"),
        }
    }

    async fn next(&self) -> io::Result<()> {
        let mut buf = vec![0u8; 4096];
        loop {
            let n = self.inner.read(&mut buf).await?;
            if self.relevant(&buf[..n]) {
                return Ok(());
            }
        }
    }

    /// Whether any event is about a serial device (or events were lost).
    fn relevant(&self, buf: &[u8]) -> bool {
        let mut any = false;
        for e in watch::events(buf) {
            let name = String::from_utf8_lossy(e.name);
            if e.mask & libc::IN_Q_OVERFLOW != 0 {
                any = true;
            }
            match self.watches.get(&e.wd) {
                Some(Kind::Tty) => any |= is_serial_name(&name),
                Some(Kind::Dev) => any |= is_serial_name(&name) || name == "serial",
                Some(Kind::ById) => any = true,
                None => {}
            }
        }
        any
    }
}
