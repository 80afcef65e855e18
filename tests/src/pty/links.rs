//! Symlinks to a fake device's pty, as udev makes for a real adapter
//! (`/dev/serial/by-id/...`), removed when the device goes away.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The links made to one pty.
pub(crate) struct Links {
    target: PathBuf,
    made: Vec<PathBuf>,
}

impl Links {
    pub fn to(target: &Path) -> Links {
        Links {
            target: target.to_path_buf(),
            made: Vec::new(),
        }
    }

    /// Creates (or atomically replaces) a symlink at `link` pointing to the
    /// pty, removed again by [`Links::remove`] if it still points here.
    pub fn add(&mut self, link: &Path) -> io::Result<()> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let tmp = link.with_extension(format!("tmp-{}-{n}", std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(&self.target, &tmp)?;
        // rename over an existing link is atomic: an agent watching the path
        // never sees it missing during a "re-plug".
        std::fs::rename(&tmp, link)?;
        self.made.push(link.to_path_buf());
        Ok(())
    }

    /// Removes the links that still point to the pty. Idempotent.
    pub fn remove(&mut self) {
        for link in self.made.drain(..) {
            if std::fs::read_link(&link).ok().as_deref() == Some(self.target.as_path()) {
                let _ = std::fs::remove_file(&link);
            }
        }
    }
}
