//! The agent's devices and who holds each: one owner per device.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serialmesh_config::{Address, DeviceConfig};
use serialmesh_pki::Fingerprint;
use serialmesh_proto::{CloseReason, CloseReasonKind, DeviceInfo, DeviceState};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use serialmesh_throttle::{KeyedThrottle, Unlogged, WhenFull, MAX_KEYS};

mod gate;
mod pin;
mod stop;
pub use gate::{Gate, OpenToAll};
pub use stop::SessionStop;

/// What discovery knows about a device, for inventories and `ls`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceMeta {
    pub profile: Option<String>,
    pub usb_id: Option<String>,
    pub serial: Option<String>,
    pub product: Option<String>,
}

struct Holder {
    client: String,
    /// Of the holder's certificate, so a revocation can end the session.
    fingerprint: Option<Fingerprint>,
    session: u64,
    since: SystemTime,
    stop: SessionStop,
}

struct Slot {
    config: DeviceConfig,
    meta: DeviceMeta,
    /// Found by discovery (as opposed to configured by path): it may vanish.
    discovered: bool,
    /// Discovered devices that vanished keep their slot, so clients get
    /// "device gone" (and retry) rather than "unknown device".
    present: bool,
    holder: Option<Holder>,
    /// Held by the session that has the port open. A replacing session waits
    /// on it, so the old session has closed the port before the new opens it.
    port_lock: Arc<tokio::sync::Mutex<()>>,
    /// When an open first found the device's path missing; cleared by the
    /// next open that succeeds.
    missing_since: Option<Instant>,
    /// Some open succeeded since the agent started: a missing path then
    /// means the device vanished, not that the path is wrong.
    opened_before: bool,
}

/// A granted claim on a device; release it with [`Registry::release`].
pub struct Claim {
    pub device: DeviceConfig,
    pub session: u64,
    pub stop: SessionStop,
    pub port_lock: Arc<tokio::sync::Mutex<()>>,
}

/// How often a device's refusals are logged while they repeat.
const REFUSAL_LOG_EVERY: Duration = Duration::from_secs(60);

pub struct Registry {
    pub agent: String,
    pub zone: String,
    shutdown: CancellationToken,
    slots: Mutex<BTreeMap<String, Slot>>,
    next_session: Mutex<u64>,
    /// Refusals and failed opens, logged per device at most once a minute:
    /// clients retry a missing or busy device every couple of seconds.
    pub refusal_log: KeyedThrottle<String>,
    /// Bumped whenever discovery has looked again, so an open waiting for a
    /// device to come back wakes up.
    changes: watch::Sender<u64>,
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
                        meta: DeviceMeta::default(),
                        discovered: false,
                        present: true,
                        holder: None,
                        port_lock: Arc::default(),
                        missing_since: None,
                        opened_before: false,
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
            // Device names come from what clients ask for: past the bound,
            // new names share one line.
            refusal_log: KeyedThrottle::new(
                REFUSAL_LOG_EVERY,
                MAX_KEYS,
                WhenFull::Share("*".to_string()),
                Unlogged::PerKey,
            ),
            changes: watch::Sender::new(0),
        }
    }

    /// Wakes when discovery next applies a scan (subscribe before looking
    /// at the registry, so a change in between is not missed).
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Cancelled when the agent shuts down.
    pub fn shutdown(&self) -> &CancellationToken {
        &self.shutdown
    }

    /// Where `device` is now (discovery follows a renumbered tty).
    pub fn path_of(&self, device: &str) -> Option<PathBuf> {
        lock(&self.slots).get(device).map(|s| s.config.path.clone())
    }

    /// Notes that an open found `device`'s path missing. Returns for how
    /// long it has been missing if it opened before (it vanished), None if
    /// it never opened (a wrong path, a device not plugged in since start).
    pub fn missing(&self, device: &str) -> Option<Duration> {
        let mut slots = lock(&self.slots);
        let slot = slots.get_mut(device).filter(|s| s.opened_before)?;
        Some(
            slot.missing_since
                .get_or_insert_with(Instant::now)
                .elapsed(),
        )
    }

    /// Notes that `device` opened.
    pub fn found(&self, device: &str) {
        if let Some(slot) = lock(&self.slots).get_mut(device) {
            slot.missing_since = None;
            slot.opened_before = true;
        }
    }

    /// Resolves `address` and makes `client` its holder, replacing a session
    /// of the same client (a restarted pod must not wait for its half-open
    /// predecessor) or, with `takeover`, of anyone.
    pub fn claim(&self, address: &str, client: &str) -> Result<Claim, CloseReason> {
        self.claim_gated(address, &OpenToAll(client))
    }

    /// [`Registry::claim`] for the client `gate` speaks for: only devices
    /// it may see are named in "unknown device" answers, and it must be
    /// allowed to open the device before anyone is replaced. The gate is
    /// asked under the registry lock, so a revocation sweep
    /// ([`Registry::stop_where`]) either sees this claim or this claim
    /// sees the revocation.
    pub fn claim_gated(&self, address: &str, gate: &dyn Gate) -> Result<Claim, CloseReason> {
        let client = gate.client();
        let session = {
            let mut n = lock(&self.next_session);
            *n += 1;
            *n
        };
        let mut slots = lock(&self.slots);
        let name = self.resolve(&slots, address, gate)?;
        gate.may_open(&name)?;
        let slot = slots
            .get_mut(&name)
            .ok_or_else(|| CloseReason::new(CloseReasonKind::UnknownDevice, address))?;
        if !slot.present {
            return Err(CloseReason::new(
                CloseReasonKind::DeviceGone,
                format!(
                    "{name}@{} is unplugged; waiting for it to come back",
                    self.zone
                ),
            ));
        }
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
            fingerprint: gate.fingerprint(),
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

    /// Brings the discovered devices up to date: new ones appear, known ones
    /// follow their new path (a renumbered ttyUSB), vanished ones are marked
    /// gone and their sessions end with "device gone".
    pub fn sync_discovered(&self, found: Vec<(DeviceConfig, DeviceMeta)>) {
        let mut slots = lock(&self.slots);
        let names: Vec<String> = found.iter().map(|(c, _)| c.name.clone()).collect();
        for (config, meta) in found {
            match slots.get_mut(&config.name) {
                Some(slot) if !slot.discovered => {
                    warn!(device = %config.name, "a discovered device has the name of a configured one; ignored");
                }
                Some(slot) => {
                    if !slot.present || slot.config.path != config.path {
                        info!(device = %config.name, path = %config.path.display(), "device is back");
                    }
                    slot.present = true;
                    slot.config = config;
                    slot.meta = meta;
                }
                None => {
                    info!(device = %config.name, path = %config.path.display(), profile = ?meta.profile, "sharing new device");
                    slots.insert(
                        config.name.clone(),
                        Slot {
                            config,
                            meta,
                            discovered: true,
                            present: true,
                            holder: None,
                            port_lock: Arc::default(),
                            missing_since: None,
                            opened_before: false,
                        },
                    );
                }
            }
        }
        for (name, slot) in slots.iter_mut() {
            if slot.discovered && slot.present && !names.contains(name) {
                slot.present = false;
                info!(device = %name, path = %slot.config.path.display(), "device vanished");
                if let Some(h) = &slot.holder {
                    h.stop.stop(CloseReason::new(
                        CloseReasonKind::DeviceGone,
                        format!("{name} ({}) was unplugged", slot.config.path.display()),
                    ));
                }
            }
        }
        drop(slots);
        self.changes.send_modify(|n| *n += 1);
    }

    /// Ends every session for which `why(device, client, fingerprint)`
    /// gives a reason (a revoked certificate, a rule that no longer allows
    /// it); returns how many.
    pub fn stop_where(
        &self,
        why: impl Fn(&str, &str, Option<&Fingerprint>) -> Option<CloseReason>,
    ) -> usize {
        let slots = lock(&self.slots);
        let mut stopped = 0;
        for (name, slot) in slots.iter() {
            let Some(h) = &slot.holder else { continue };
            if let Some(reason) = why(name, &h.client, h.fingerprint.as_ref()) {
                warn!(device = %name, client = %h.client, %reason, "ending session");
                h.stop.stop(reason);
                stopped += 1;
            }
        }
        stopped
    }

    fn resolve(
        &self,
        slots: &BTreeMap<String, Slot>,
        address: &str,
        gate: &dyn Gate,
    ) -> Result<String, CloseReason> {
        let addr: Address = address
            .parse()
            .map_err(|e: String| CloseReason::new(CloseReasonKind::UnknownDevice, e))?;
        let here = match &addr.place {
            None => true,
            Some(p) => *p == self.zone || *p == self.agent,
        };
        if here && slots.contains_key(&addr.device) {
            return Ok(addr.device);
        }
        // Only what this client may see is listed, so a refusal never
        // reveals devices it has no rights on.
        let names: Vec<&String> = slots.keys().filter(|n| gate.visible(n)).collect();
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
        self.inventory_for(&OpenToAll(""))
    }

    /// The devices `gate` may see.
    pub fn inventory_for(&self, gate: &dyn Gate) -> Vec<DeviceInfo> {
        lock(&self.slots)
            .values()
            .filter(|s| gate.visible(&s.config.name))
            .map(|s| DeviceInfo {
                name: s.config.name.clone(),
                address: format!("{}@{}", s.config.name, self.zone),
                path: s.config.path.display().to_string(),
                profile: s.meta.profile.clone(),
                usb_id: s.meta.usb_id.clone(),
                serial: s.meta.serial.clone(),
                product: s.meta.product.clone(),
                settings: s.config.settings,
                state: match &s.holder {
                    _ if !s.present => DeviceState::Gone,
                    // A configured path has no discovery behind it: a
                    // by-id link removed with its adapter is the sign.
                    _ if !s.discovered && !s.config.path.exists() => DeviceState::Gone,
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
mod tests;
