//! The keys an endpoint accepts, and revocation by key file: when a
//! client's key file changes, is emptied or removed, its old key stops
//! being accepted at once and every live session made with it ends. The
//! file is watched (inotify, as the revoked file is), so nothing polls.

use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serialmesh_config::{read_esphome_key, EsphomeClient};
use serialmesh_io::watch::FileWatch;
use serialmesh_proto::{CloseReason, CloseReasonKind};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use crate::registry::Registry;
use serialmesh_esphome::noise::ClientKey;
use serialmesh_pki::Fingerprint;

/// A client key's fingerprint, as `revoked` lists it and logs show it
/// (the protocol crate gives the digest; the fingerprint type is the
/// agent's, shared with certificate keys).
pub trait KeyFingerprint {
    fn fingerprint(&self) -> Fingerprint;
}

impl KeyFingerprint for ClientKey {
    fn fingerprint(&self) -> Fingerprint {
        Fingerprint(self.digest())
    }
}

/// A burst of writes (truncate, write, close) settles into one re-read.
const SETTLE: Duration = Duration::from_millis(100);

/// The clients of one endpoint and their keys as in force now.
#[derive(Clone, Default)]
pub struct Keys {
    current: Arc<RwLock<Arc<Vec<ClientKey>>>>,
}

impl Keys {
    pub fn new(clients: &[EsphomeClient]) -> Keys {
        let keys = clients
            .iter()
            .map(|c| ClientKey {
                name: c.name.clone(),
                key: c.key,
            })
            .collect();
        Keys {
            current: Arc::new(RwLock::new(Arc::new(keys))),
        }
    }

    /// Whether `key` is still in force for its client: a connection made
    /// with a key that has since changed or gone gets no device.
    pub fn in_force(&self, key: &ClientKey) -> bool {
        self.current()
            .iter()
            .any(|k| k.name == key.name && k.key == key.key)
    }

    pub fn current(&self) -> Arc<Vec<ClientKey>> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Puts `key` in force for `name` (None: no key at all); returns the
    /// key it replaces.
    fn set(&self, name: &str, key: Option<[u8; 32]>) -> Option<ClientKey> {
        let mut guard = self.current.write().unwrap_or_else(|p| p.into_inner());
        let mut keys: Vec<ClientKey> = guard.as_ref().clone();
        let old = keys
            .iter()
            .position(|k| k.name == name)
            .map(|i| keys.remove(i));
        if let Some(key) = key {
            keys.push(ClientKey {
                name: name.to_string(),
                key,
            });
        }
        *guard = Arc::new(keys);
        old
    }

    /// Follows each client's key file until `shutdown`.
    pub fn watch(
        &self,
        clients: &[EsphomeClient],
        registry: &Arc<Registry>,
        tracker: &TaskTracker,
        shutdown: &CancellationToken,
    ) {
        for c in clients {
            let mut watch = match FileWatch::new(&c.key_file) {
                Ok(w) => w,
                Err(e) => {
                    warn!(client = %c.name, key_file = %c.key_file.display(), error = %e, "cannot watch the key file; a change takes effect only at restart");
                    continue;
                }
            };
            let (keys, registry, shutdown) = (self.clone(), registry.clone(), shutdown.clone());
            let (name, path) = (c.name.clone(), c.key_file.clone());
            tracker.spawn(async move {
                loop {
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        ok = watch.changed(SETTLE) => {
                            if !ok {
                                warn!(client = %name, "watching the key file failed; a change takes effect only at restart");
                                return;
                            }
                            keys.reread(&name, &path, &registry);
                        }
                    }
                }
            });
        }
    }

    fn reread(&self, name: &str, path: &Path, registry: &Registry) {
        let new = match read_esphome_key(path) {
            Ok(k) if k != [0; 32] => Some(k),
            Ok(_) => {
                warn!(client = %name, "key file now holds the all-zero key; the client's key is no longer accepted");
                None
            }
            Err(e) => {
                warn!(client = %name, error = %e, "the client's key is no longer accepted");
                None
            }
        };
        let unchanged = self
            .current()
            .iter()
            .any(|k| k.name == name && Some(k.key) == new);
        if unchanged {
            return;
        }
        let old = self.set(name, new);
        if new.is_some() {
            info!(client = %name, "key file changed; the new key is in force");
        }
        if let Some(old) = old {
            let fp = old.fingerprint();
            let ended = registry.stop_where(|_, _, holder| {
                (holder == Some(&fp)).then(|| {
                    CloseReason::new(
                        CloseReasonKind::NotAuthorised,
                        format!(
                            "the key of ESPHome client '{name}' was revoked (its key file changed)"
                        ),
                    )
                })
            });
            if ended > 0 {
                info!(client = %name, ended, "ended the sessions of the old key");
            }
        }
    }
}
