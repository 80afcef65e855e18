//! Knowing when one file changes, without polling: inotify on its
//! directory (a file replaced by rename is a new inode, so watching the
//! file itself would go deaf after the first `serialctl pki revoke`).
//!
//! Kubernetes never touches the file a pod opens: a ConfigMap or Secret
//! volume holds `NAME -> ..data/NAME` symlinks, and the kubelet replaces
//! the content by writing a new timestamped directory and renaming a
//! `..data_tmp` symlink over `..data`. The only event in the file's
//! directory names `..data`, so a watch on a symlink also listens for the
//! first component of its (relative) target. An editor's save by rename
//! is an event on the file's own name.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// An inotify descriptor on the tokio reactor: the part both the revoked
/// file watch and the agent's device discovery need.
pub struct Inotify {
    fd: AsyncFd<OwnedFd>,
}

/// One inotify event: watch descriptor, mask, and the name it is about
/// (empty for events on the watched directory itself).
pub struct Event<'a> {
    pub wd: i32,
    pub mask: u32,
    pub name: &'a [u8],
}

impl Inotify {
    /// Must be called within a tokio runtime.
    pub fn new() -> io::Result<Inotify> {
        // SAFETY: inotify_init1 returns a new descriptor that we then own.
        let fd = unsafe {
            let raw = libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC);
            if raw < 0 {
                return Err(io::Error::last_os_error());
            }
            OwnedFd::from_raw_fd(raw)
        };
        // SAFETY: an OwnedFd is a valid open descriptor that stays open,
        // and keeps returning itself from as_raw_fd, until the AsyncFd
        // drops it.
        let fd = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }?;
        Ok(Inotify { fd })
    }

    /// Watches `dir` (a directory, or one file such as a tty) for `mask`;
    /// returns the watch descriptor.
    pub fn watch(&self, dir: &Path, mask: u32) -> io::Result<i32> {
        let c = CString::new(dir.as_os_str().as_encoded_bytes())
            .map_err(|_| io::Error::other("the directory name holds a NUL byte"))?;
        // SAFETY: `c` is a valid C string and the descriptor is ours.
        let wd =
            unsafe { libc::inotify_add_watch(self.fd.get_ref().as_raw_fd(), c.as_ptr(), mask) };
        if wd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(wd)
    }

    /// Waits for the next batch of events and reads it into `buf`; returns
    /// its length (parse it with [`events`]).
    pub async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
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
                Ok(result) => return result,
                Err(_would_block) => {}
            }
        }
    }
}

/// Parses `struct inotify_event` records: wd, mask, cookie, len (4 bytes
/// each, native endian), then `len` bytes of NUL-padded name.
pub fn events(mut buf: &[u8]) -> impl Iterator<Item = Event<'_>> {
    let word = |b: &[u8], at: usize| -> Option<u32> {
        b.get(at..at + 4)
            .and_then(|s| s.try_into().ok())
            .map(u32::from_ne_bytes)
    };
    std::iter::from_fn(move || {
        let (wd, mask, len) = (word(buf, 0)?, word(buf, 4)?, word(buf, 12)?);
        let end = 16 + len as usize;
        let raw = buf.get(16..end).unwrap_or(&[]);
        let name = raw.split(|b| *b == 0).next().unwrap_or(&[]);
        buf = buf.get(end..).unwrap_or(&[]);
        Some(Event {
            wd: wd as i32,
            mask,
            name,
        })
    })
}

pub struct FileWatch {
    inotify: Inotify,
    path: PathBuf,
    /// The file's name.
    name: Vec<u8>,
}

impl FileWatch {
    /// Watches `path`'s directory for events about `path`'s name (and the
    /// directory entry a symlink at `path` leads through). Must be called
    /// within a tokio runtime.
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
        let inotify = Inotify::new()?;
        let mask = libc::IN_CLOSE_WRITE
            | libc::IN_MOVED_TO
            | libc::IN_MOVED_FROM
            | libc::IN_CREATE
            | libc::IN_DELETE
            | libc::IN_ONLYDIR;
        inotify.watch(dir, mask)?;
        Ok(FileWatch {
            inotify,
            path: path.to_path_buf(),
            name,
        })
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
        let n = self.inotify.read(&mut buf).await?;
        // Looked up at each event: the file may have become a symlink.
        let through = link_entry(&self.path);
        let ours = events(&buf[..n]).any(|e| {
            e.name == self.name.as_slice()
                || through.as_deref() == Some(e.name)
                || e.mask & libc::IN_Q_OVERFLOW != 0
        });
        Ok(ours)
    }
}

/// The entry of `path`'s own directory that a symlink at `path` goes
/// through (`..data` for the kubelet's `NAME -> ..data/NAME`), if it is a
/// relative symlink into a subdirectory.
fn link_entry(path: &Path) -> Option<Vec<u8>> {
    let target = std::fs::read_link(path).ok()?;
    if target.is_absolute() {
        return None;
    }
    let mut parts = target.components();
    match (parts.next()?, parts.next()) {
        (std::path::Component::Normal(first), Some(_)) => Some(first.as_encoded_bytes().to_vec()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::link_entry;
    use std::os::unix::fs::symlink;

    #[test]
    fn a_kubelet_projected_file_is_followed_through_its_data_link() {
        let dir = tempfile::tempdir().unwrap();
        symlink("..data/revoked.txt", dir.path().join("revoked.txt")).unwrap();
        assert_eq!(
            link_entry(&dir.path().join("revoked.txt")),
            Some(b"..data".to_vec())
        );
        symlink("other.txt", dir.path().join("plain-link")).unwrap();
        assert_eq!(link_entry(&dir.path().join("plain-link")), None);
        std::fs::write(dir.path().join("file"), "").unwrap();
        assert_eq!(link_entry(&dir.path().join("file")), None);
    }
}
