//! Picking up new rules and revocations without a restart.
//!
//! - `SIGHUP`, or a change of the config file, re-reads the config file;
//!   its `[[allow]]`, `revoked` and `revoked_file` take effect (other
//!   settings need a restart, and the log says so), and the revoked file
//!   is re-read. A distroless pod has no shell to send SIGHUP from, and a
//!   ConfigMap changes under a running pod, so the file is watched.
//! - The revoked file is re-read whenever it changes: inotify on its
//!   directory sees in-place writes, the atomic rename `serialctl pki
//!   revoke` does, and the kubelet's `..data` swap (`watch.rs`). No timer
//!   runs while nothing changes.
//!
//! After each reload every live session is checked again: a session of a
//! revoked certificate, or of a client the rules no longer let open its
//! device, ends with "not authorised". A config or file that does not
//! parse is logged and the lists in force stay: failing open would
//! un-revoke everyone. For the same reason a reloaded config without any
//! `[[allow]]` rule does not lift the rules in force (no rules means
//! "every client may open everything", and deleting the last rule is far
//! more often a slip than that wish): it keeps them and says how to open
//! everything on purpose (`allow_everyone = true`).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serialmesh_config::{load_revoked, AgentConfig, AuthzConfig, ConfigError, Grants};
use serialmesh_pki::Fingerprint;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use super::Authz;
use crate::registry::Registry;
use serialmesh_io::watch::FileWatch;

/// A burst of writes (truncate, write, close) settles into one reload.
const SETTLE: Duration = Duration::from_millis(100);

/// The agent's config file, and how to read it again (with what the
/// command line adds).
pub struct ConfigFile {
    pub path: PathBuf,
    pub read: Box<dyn Fn() -> Result<AgentConfig, ConfigError> + Send + Sync>,
}

/// `None` when the agent runs without a config file.
pub type ConfigSource = Option<ConfigFile>;

pub struct Reloader {
    authz: Arc<Authz>,
    registry: Arc<Registry>,
    source: ConfigSource,
    /// The config as started, without its authorisation part: to tell
    /// whether a reload changed anything that needs a restart.
    base: Option<AgentConfig>,
    settings: AuthzConfig,
    from_file: HashSet<Fingerprint>,
    hangup: Option<Signal>,
}

impl Reloader {
    /// Loads the revoked file (a missing or broken one is a configuration
    /// error at start), puts the lists in force and installs the SIGHUP
    /// handler, so a SIGHUP from now on reloads rather than kills.
    pub fn start(
        authz: Arc<Authz>,
        registry: Arc<Registry>,
        config: &AgentConfig,
        source: ConfigSource,
    ) -> Result<Reloader, ConfigError> {
        let from_file = match &config.authz.revoked_file {
            Some(path) => load_revoked(path)?.into_iter().collect(),
            None => HashSet::new(),
        };
        let hangup = match signal(SignalKind::hangup()) {
            Ok(s) => Some(s),
            Err(e) => {
                warn!(error = %e, "cannot handle SIGHUP; rules and revocations reload only from the revoked file");
                None
            }
        };
        let base = source.as_ref().map(|_| without_authz(config));
        let this = Reloader {
            authz,
            registry,
            source,
            base,
            settings: config.authz.clone(),
            from_file,
            hangup,
        };
        this.apply();
        this.log_state();
        Ok(this)
    }

    pub async fn run(mut self, shutdown: CancellationToken) {
        let mut watch = self.watch();
        let mut config_watch = self.config_watch();
        loop {
            let hangup = async {
                match &mut self.hangup {
                    Some(s) => s.recv().await,
                    None => std::future::pending().await,
                }
            };
            let changed = async {
                match &mut watch {
                    Some(w) => w.changed(SETTLE).await,
                    None => std::future::pending().await,
                }
            };
            let config_changed = async {
                match &mut config_watch {
                    Some(w) => w.changed(SETTLE).await,
                    None => std::future::pending().await,
                }
            };
            let why = tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = hangup => "SIGHUP",
                ok = config_changed => {
                    if !ok {
                        warn!("watching the config file failed; it now reloads on SIGHUP only");
                        config_watch = None;
                        continue;
                    }
                    "the config file changed"
                }
                ok = changed => {
                    if !ok {
                        warn!("watching the revoked file failed; revocations now reload on SIGHUP only");
                        watch = None;
                        continue;
                    }
                    if self.reload_file() {
                        self.apply();
                        self.log_state();
                    }
                    continue;
                }
            };
            info!("{why}: reloading authorisation rules and revocations");
            if self.reload_config() {
                // The file may have moved.
                watch = self.watch();
            }
            self.reload_file();
            self.apply();
            self.log_state();
        }
    }

    fn config_watch(&self) -> Option<FileWatch> {
        let path = &self.source.as_ref()?.path;
        match FileWatch::new(path) {
            Ok(w) => Some(w),
            Err(e) => {
                warn!(file = %path.display(), error = %e, "cannot watch the config file; changes to it apply on SIGHUP");
                None
            }
        }
    }

    fn watch(&self) -> Option<FileWatch> {
        let path = self.settings.revoked_file.as_ref()?;
        match FileWatch::new(path) {
            Ok(w) => Some(w),
            Err(e) => {
                warn!(file = %path.display(), error = %e, "cannot watch the revoked file; changes to it apply on SIGHUP");
                None
            }
        }
    }

    /// Re-reads the config; true if the revoked file setting changed.
    fn reload_config(&mut self) -> bool {
        let Some(source) = &self.source else {
            info!("no config file (--config) to reload; re-reading the revoked file only");
            return false;
        };
        match (source.read)() {
            Ok(config) => {
                if let Some(base) = &self.base {
                    // The obvious way to revoke an ESPHome client, and one
                    // that does nothing until a restart: say so by name.
                    for gone in removed_esphome_clients(base, &config) {
                        warn!(client = %gone, "ESPHome client removed from the config, but its key stays accepted until the agent restarts; to revoke it now, change or remove its key file, or list its key fingerprint in revoked");
                    }
                }
                if self.base.as_ref() != Some(&without_authz(&config)) {
                    warn!("the config changed beyond [[allow]], revoked and revoked_file; those other changes apply at the next restart");
                }
                let moved = config.authz.revoked_file != self.settings.revoked_file;
                if moved && config.authz.revoked_file.is_none() {
                    self.from_file.clear();
                }
                let mut authz = config.authz;
                if let (Grants::Unrestricted, Grants::Rules(rules)) =
                    (&authz.grants, &self.settings.grants)
                {
                    error!(
                        rules = rules.len(),
                        "the reloaded config has no [[allow]] rules; keeping the rules in force rather than open every device to every client of the CA (write allow_everyone = true to do that on purpose)"
                    );
                    authz.grants = self.settings.grants.clone();
                }
                self.settings = authz;
                moved
            }
            Err(e) => {
                error!("cannot reload the config, keeping the rules and revocations in force: {e}");
                false
            }
        }
    }

    /// Re-reads the revoked file; true if it was read.
    fn reload_file(&mut self) -> bool {
        let Some(path) = &self.settings.revoked_file else {
            return false;
        };
        match load_revoked(path) {
            Ok(list) => {
                self.from_file = list.into_iter().collect();
                true
            }
            Err(e) => {
                error!("cannot reload the revoked file, keeping the revocations in force: {e}");
                false
            }
        }
    }

    fn apply(&self) {
        let mut set: HashSet<Fingerprint> = self.settings.revoked.iter().copied().collect();
        set.extend(self.from_file.iter().copied());
        let deny = self.authz.deny_list();
        let mut added: Vec<&Fingerprint> = set.iter().filter(|f| !deny.contains(f)).collect();
        added.sort();
        for fp in added {
            info!(fingerprint = %fp, "certificate revoked; refusing it from now on");
        }
        deny.replace(set);
        self.authz.set_grants(self.settings.grants.clone());
        let ended = self
            .registry
            .stop_where(|device, client, fp| self.authz.revoked_or_forbidden(device, client, fp));
        if ended > 0 {
            info!(
                sessions = ended,
                "ended sessions that are no longer authorised"
            );
        }
    }

    fn log_state(&self) {
        let file = self
            .settings
            .revoked_file
            .as_deref()
            .map_or_else(|| "none".to_string(), |p: &Path| p.display().to_string());
        let rules = match &self.settings.grants {
            Grants::Rules(r) => r.len(),
            Grants::Unrestricted | Grants::Everyone => 0,
        };
        info!(
            rules,
            revoked = self.settings.revoked.len() + self.from_file.len(),
            revoked_file = %file,
            "authorisation in force"
        );
        match &self.settings.grants {
            Grants::Unrestricted => info!("no [[allow]] rules: every client certificate of the CA may list and open every device"),
            Grants::Everyone => info!("allow_everyone = true: every client certificate of the CA may list and open every device"),
            Grants::Rules(r) if r.is_empty() => warn!("allow_everyone = false and no [[allow]] rules: no client may list or open any device"),
            Grants::Rules(_) => {}
        }
    }
}

/// ESPHome clients in `old` that `new` no longer lists (by endpoint
/// device and client name).
fn removed_esphome_clients(old: &AgentConfig, new: &AgentConfig) -> Vec<String> {
    let listed = |c: &AgentConfig| -> Vec<(String, String)> {
        c.esphome
            .iter()
            .flat_map(|e| e.clients.iter().map(|k| (e.device.clone(), k.name.clone())))
            .collect()
    };
    let now = listed(new);
    listed(old)
        .into_iter()
        .filter(|c| !now.contains(c))
        .map(|(_, name)| name)
        .collect()
}

fn without_authz(config: &AgentConfig) -> AgentConfig {
    AgentConfig {
        authz: AuthzConfig::default(),
        ..config.clone()
    }
}
