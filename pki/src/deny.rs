//! The deny-list: certificates refused even though the CA issued them.

use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, RwLock};

use crate::Fingerprint;

/// Fingerprints to refuse, shared between the TLS verifier and whoever
/// reloads the list (a config reload replaces the set in place, so
/// connections made after the reload see it without rebuilding TLS
/// configs).
#[derive(Clone, Default)]
pub struct DenyList(Arc<RwLock<HashSet<Fingerprint>>>);

impl DenyList {
    pub fn new(fingerprints: impl IntoIterator<Item = Fingerprint>) -> Self {
        DenyList(Arc::new(RwLock::new(fingerprints.into_iter().collect())))
    }

    pub fn contains(&self, fingerprint: &Fingerprint) -> bool {
        // A poisoned lock only means a writer panicked mid-replace; the set
        // itself is still a whole set, and refusing to check would fail open.
        let set = self
            .0
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        set.contains(fingerprint)
    }

    pub fn replace(&self, fingerprints: HashSet<Fingerprint>) {
        let mut set = self
            .0
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *set = fingerprints;
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn len(&self) -> usize {
        self.0
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .len()
    }
}

impl fmt::Debug for DenyList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DenyList({} fingerprints)", self.len())
    }
}
