//! The agent's devices and who holds each: one owner per device.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use serialmesh_config::{Address, DeviceConfig};
use serialmesh_proto::{CloseReason, CloseReasonKind, DeviceInfo, DeviceState};
use tokio_util::sync::CancellationToken;

/// Ends one session, remembering why so the session can tell its client.
#[derive(Clone)]
pub struct SessionStop {
    token: CancellationToken,
    reason: Arc<Mutex<Option<CloseReason>>>,
}

impl SessionStop {
    fn new(parent: &CancellationToken) -> Self {
        Self {
            token: parent.child_token(),
            reason: Arc::default(),
        }
    }

    pub fn stop(&self, reason: CloseReason) {
        lock(&self.reason).get_or_insert(reason);
        self.token.cancel();
    }

    pub fn token(&self) -> &CancellationToken {
        &self.token
    }

    /// The reason given to `stop`; a parent cancellation means shutdown.
    pub fn reason(&self) -> CloseReason {
        lock(&self.reason).clone().unwrap_or_else(|| {
            CloseReason::new(CloseReasonKind::Shutdown, "agent is shutting down")
        })
    }
}

struct Holder {
    client: String,
    session: u64,
    since: SystemTime,
    stop: SessionStop,
}

struct Slot {
    config: DeviceConfig,
    holder: Option<Holder>,
    /// Held by the session that has the port open. A replacing session waits
    /// on it, so the old session has closed the port before the new opens it.
    port_lock: Arc<tokio::sync::Mutex<()>>,
}

/// A granted claim on a device; release it with [`Registry::release`].
pub struct Claim {
    pub device: DeviceConfig,
    pub session: u64,
    pub stop: SessionStop,
    pub port_lock: Arc<tokio::sync::Mutex<()>>,
}

pub struct Registry {
    pub agent: String,
    pub zone: String,
    shutdown: CancellationToken,
    slots: Mutex<BTreeMap<String, Slot>>,
    next_session: Mutex<u64>,
}

impl Registry {
    pub fn new(
        agent: &str,
        zone: &str,
        devices: Vec<DeviceConfig>,
        shutdown: CancellationToken,
    ) -> Self {
        let slots = devices
            .into_iter()
            .map(|d| {
                (
                    d.name.clone(),
                    Slot {
                        config: d,
                        holder: None,
                        port_lock: Arc::default(),
                    },
                )
            })
            .collect();
        Self {
            agent: agent.to_string(),
            zone: zone.to_string(),
            shutdown,
            slots: Mutex::new(slots),
            next_session: Mutex::new(1),
        }
    }

    /// Resolves `address` and makes `client` its holder, replacing a session
    /// of the same client (a restarted pod must not wait for its half-open
    /// predecessor) or, with `takeover`, of anyone.
    pub fn claim(&self, address: &str, client: &str) -> Result<Claim, CloseReason> {
        let name = self.resolve(address)?;
        let session = {
            let mut n = lock(&self.next_session);
            *n += 1;
            *n
        };
        let mut slots = lock(&self.slots);
        let slot = slots
            .get_mut(&name)
            .ok_or_else(|| CloseReason::new(CloseReasonKind::UnknownDevice, address))?;
        if let Some(old) = &slot.holder {
            if old.client == client {
                old.stop.stop(CloseReason::new(
                    CloseReasonKind::Replaced,
                    format!("a newer session of client '{client}' took over {name}"),
                ));
            } else if slot.config.takeover {
                old.stop.stop(CloseReason::new(
                    CloseReasonKind::Replaced,
                    format!("client '{client}' took over {name} (takeover = true)"),
                ));
            } else {
                return Err(CloseReason::busy(
                    &old.client,
                    format!(
                        "{name}@{} is in use by client '{}' since {}s ago",
                        self.zone,
                        old.client,
                        old.since.elapsed().map(|d| d.as_secs()).unwrap_or(0)
                    ),
                ));
            }
        }
        let stop = SessionStop::new(&self.shutdown);
        slot.holder = Some(Holder {
            client: client.to_string(),
            session,
            since: SystemTime::now(),
            stop: stop.clone(),
        });
        Ok(Claim {
            device: slot.config.clone(),
            session,
            stop,
            port_lock: slot.port_lock.clone(),
        })
    }

    /// Ends `session`'s hold on `device`, unless a newer session already
    /// replaced it.
    pub fn release(&self, device: &str, session: u64) {
        if let Some(slot) = lock(&self.slots).get_mut(device) {
            if slot.holder.as_ref().is_some_and(|h| h.session == session) {
                slot.holder = None;
            }
        }
    }

    fn resolve(&self, address: &str) -> Result<String, CloseReason> {
        let addr: Address = address
            .parse()
            .map_err(|e: String| CloseReason::new(CloseReasonKind::UnknownDevice, e))?;
        let names: Vec<String> = lock(&self.slots).keys().cloned().collect();
        let here = match &addr.place {
            None => true,
            Some(p) => *p == self.zone || *p == self.agent,
        };
        if here && names.contains(&addr.device) {
            return Ok(addr.device);
        }
        let listing = if names.is_empty() {
            "it shares no devices".to_string()
        } else {
            format!(
                "it has: {}",
                names
                    .iter()
                    .map(|n| format!("{n}@{}", self.zone))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        Err(CloseReason::new(
            CloseReasonKind::UnknownDevice,
            format!(
                "agent '{}' (zone '{}') has no device '{address}'; {listing}",
                self.agent, self.zone
            ),
        ))
    }

    pub fn inventory(&self) -> Vec<DeviceInfo> {
        lock(&self.slots)
            .values()
            .map(|s| DeviceInfo {
                name: s.config.name.clone(),
                address: format!("{}@{}", s.config.name, self.zone),
                path: s.config.path.display().to_string(),
                profile: None,
                usb_id: None,
                serial: None,
                product: None,
                settings: s.config.settings,
                state: match &s.holder {
                    Some(h) => DeviceState::InUse {
                        client: h.client.clone(),
                        since: h
                            .since
                            .duration_since(UNIX_EPOCH)
                            .map(|d| d.as_secs())
                            .unwrap_or(0),
                    },
                    None => DeviceState::Free,
                },
            })
            .collect()
    }
}

/// A poisoned lock only means another session panicked mid-update; the maps
/// stay structurally valid, so keep serving rather than take everyone down.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
#[path = "registry_tests.rs"]
mod tests;
