//! Knowing when one file changes, without polling: inotify on its
//! directory (a file replaced by rename is a new inode, so watching the
//! file itself would go deaf after the first `serialctl pki revoke`).

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::time::Duration;

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

pub struct FileWatch {
    fd: AsyncFd<OwnedFd>,
    name: Vec<u8>,
}

impl FileWatch {
    /// Watches `path`'s directory for events about `path`'s name. Must be
    /// called within a tokio runtime.
    pub fn new(path: &Path) -> io::Result<FileWatch> {
        let name = path
            .file_name()
            .ok_or_else(|| io::Error::other("the path names no file"))?
            .as_encoded_bytes()
            .to_vec();
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        // SAFETY: inotify_init1 returns a new descriptor that we then own.
        let fd = unsafe {
            let raw = libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC);
            if raw < 0 {
                return Err(io::Error::last_os_error());
            }
            OwnedFd::from_raw_fd(raw)
        };
        let c = CString::new(dir.as_os_str().as_encoded_bytes())
            .map_err(|_| io::Error::other("the directory name holds a NUL byte"))?;
        let mask = libc::IN_CLOSE_WRITE
            | libc::IN_MOVED_TO
            | libc::IN_MOVED_FROM
            | libc::IN_CREATE
            | libc::IN_DELETE
            | libc::IN_ONLYDIR;
        // SAFETY: `c` is a valid C string and the descriptor is ours.
        if unsafe { libc::inotify_add_watch(fd.as_raw_fd(), c.as_ptr(), mask) } < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: an OwnedFd is a valid open descriptor that stays open,
        // and keeps returning itself from as_raw_fd, until the AsyncFd
        // drops it.
        let fd = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }?;
        Ok(FileWatch { fd, name })
    }

    /// Resolves once the file changed and no further event came for
    /// `settle`; false if the watch failed.
    pub async fn changed(&mut self, settle: Duration) -> bool {
        loop {
            match self.next().await {
                Ok(true) => break,
                Ok(false) => {}
                Err(_) => return false,
            }
        }
        loop {
            match tokio::time::timeout(settle, self.next()).await {
                Err(_elapsed) => return true,
                Ok(Err(_)) => return false,
                Ok(Ok(_)) => {}
            }
        }
    }

    /// One read of events: whether any was about our file.
    async fn next(&self) -> io::Result<bool> {
        let mut buf = [0u8; 4096];
        loop {
            let mut guard = self.fd.readable().await?;
            let read = guard.try_io(|fd| {
                // SAFETY: reads at most buf.len() bytes into buf.
                let n = unsafe {
                    libc::read(fd.get_ref().as_raw_fd(), buf.as_mut_ptr().cast(), buf.len())
                };
                if n < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(n as usize)
                }
            });
            match read {
                Ok(Ok(n)) => return Ok(self.about_us(&buf[..n])),
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => {}
            }
        }
    }

    /// Parses `struct inotify_event` records (wd, mask, cookie, len, then
    /// `len` bytes of NUL-padded name).
    fn about_us(&self, mut buf: &[u8]) -> bool {
        let word = |b: &[u8], at: usize| -> Option<u32> {
            b.get(at..at + 4)
                .and_then(|s| s.try_into().ok())
                .map(u32::from_ne_bytes)
        };
        let mut hit = false;
        while let (Some(mask), Some(len)) = (word(buf, 4), word(buf, 12)) {
            let end = 16 + len as usize;
            let raw = buf.get(16..end).unwrap_or(&[]);
            let name = raw.split(|b| *b == 0).next().unwrap_or(&[]);
            hit |= name == self.name.as_slice() || mask & libc::IN_Q_OVERFLOW != 0;
            buf = buf.get(end..).unwrap_or(&[]);
        }
        hit
    }
}
