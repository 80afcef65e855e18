//! Agent certificates this client refuses although the CA issued them: a
//! lost or compromised agent host, revoked with `serialctl pki revoke`.
//!
//! The list is the config's `revoked` plus its `revoked_file` (or
//! `--revoked-file`). The TLS verifier consults it at every handshake, so
//! a change applies to the next dial; a long-running client also watches
//! the file and ends live sessions with an agent that became revoked. A
//! file that no longer parses is logged and the list in force stays:
//! failing open would un-revoke everyone.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serialmesh_config::{load_revoked, ConfigError};
use serialmesh_io::watch::FileWatch;
use serialmesh_pki::{DenyList, Fingerprint};
use tokio::sync::watch;
use tracing::{info, warn};

/// Quiet time after the last change event before the file is read, so a
/// writer's several writes are read once, whole.
const SETTLE: Duration = Duration::from_millis(100);

pub struct Revocation {
    list: DenyList,
    fixed: Vec<Fingerprint>,
    file: Option<PathBuf>,
    /// Bumped after every reload that changed the list.
    generation: watch::Sender<u64>,
}

impl Revocation {
    /// Nothing revoked.
    pub fn none() -> Arc<Revocation> {
        Self::build(Vec::new(), None, HashSet::new())
    }

    /// Reads `file` now: a missing or broken file is a configuration error.
    pub fn load(
        fixed: Vec<Fingerprint>,
        file: Option<PathBuf>,
    ) -> Result<Arc<Revocation>, ConfigError> {
        let mut set: HashSet<Fingerprint> = fixed.iter().copied().collect();
        if let Some(path) = &file {
            set.extend(load_revoked(path)?);
        }
        Ok(Self::build(fixed, file, set))
    }

    fn build(
        fixed: Vec<Fingerprint>,
        file: Option<PathBuf>,
        set: HashSet<Fingerprint>,
    ) -> Arc<Revocation> {
        Arc::new(Revocation {
            list: DenyList::new(set),
            fixed,
            file,
            generation: watch::channel(0).0,
        })
    }

    /// The list the TLS verifier checks.
    pub fn deny_list(&self) -> DenyList {
        self.list.clone()
    }

    pub fn is_revoked(&self, fingerprint: &Fingerprint) -> bool {
        self.list.contains(fingerprint)
    }

    /// Resolves once `fingerprint` is revoked; never if it is not.
    pub async fn revoked(&self, fingerprint: Fingerprint) {
        let mut changes = self.generation.subscribe();
        loop {
            if self.is_revoked(&fingerprint) {
                return;
            }
            if changes.changed().await.is_err() {
                return std::future::pending().await;
            }
        }
    }

    /// Follows the revoked file until the process ends. Must be called
    /// within a tokio runtime; does nothing without a file.
    pub fn watch(self: &Arc<Self>) {
        let Some(path) = self.file.clone() else {
            return;
        };
        let mut watch = match FileWatch::new(&path) {
            Ok(w) => w,
            Err(e) => {
                warn!(file = %path.display(), error = %e, "cannot watch the revoked file; changes to it apply at the next start");
                return;
            }
        };
        let this = self.clone();
        tokio::spawn(async move {
            while watch.changed(SETTLE).await {
                this.reload();
            }
            warn!(file = %path.display(), "watching the revoked file failed; changes to it apply at the next start");
        });
    }

    /// Re-reads the file; keeps the list in force if it cannot.
    fn reload(&self) {
        let Some(path) = &self.file else { return };
        let from_file = match load_revoked(path) {
            Ok(list) => list,
            Err(e) => {
                warn!(error = %e, "revoked file unreadable; the revocations in force stay");
                return;
            }
        };
        let set: HashSet<Fingerprint> = self.fixed.iter().copied().chain(from_file).collect();
        info!(file = %path.display(), revoked = set.len(), "revoked agent certificates reloaded");
        self.list.replace(set);
        self.generation.send_modify(|g| *g += 1);
    }
}
