//! Keeps the registry in step with the USB serial devices present: an
//! initial scan, then a rescan each time the watcher says something changed
//! (inotify and kernel uevents; no polling, so an idle agent sleeps).

use std::sync::Arc;

use serialmesh_config::DeviceConfig;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::registry::{DeviceMeta, Registry};
use crate::usb::{scan, DiscoveryConfig, Found, Namer, Watcher};

pub struct Hotplug {
    cfg: DiscoveryConfig,
    namer: Namer,
    registry: Arc<Registry>,
}

impl Hotplug {
    /// `reserved`: names of configured devices, which discovery never uses.
    pub fn new(cfg: DiscoveryConfig, reserved: &[String], registry: Arc<Registry>) -> Self {
        let mut namer = Namer::new();
        for name in reserved {
            namer.reserve(name);
        }
        Self {
            cfg,
            namer,
            registry,
        }
    }

    /// One scan, applied to the registry.
    pub fn rescan(&mut self) {
        let found = scan(&self.cfg, &mut self.namer);
        debug!(found = found.len(), "scanned for serial devices");
        self.registry
            .sync_discovered(found.into_iter().filter_map(shared).collect());
    }

    /// Rescans on every change until shutdown.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let mut watcher = match Watcher::new(&self.cfg) {
            Ok(w) => w,
            Err(e) => {
                warn!(error = %e, sysfs = %self.cfg.sysfs.display(), "cannot watch for hot-plug; devices are scanned only at start");
                return;
            }
        };
        loop {
            tokio::select! {
                _ = watcher.changed() => self.rescan(),
                _ = shutdown.cancelled() => return,
            }
        }
    }
}

fn shared(f: Found) -> Option<(DeviceConfig, DeviceMeta)> {
    let name = f.name?;
    let meta = DeviceMeta {
        profile: f.profile,
        usb_id: f.usb.as_ref().map(|u| u.usb_id()),
        serial: f.usb.as_ref().and_then(|u| u.serial.clone()),
        product: f.usb.as_ref().and_then(|u| u.product.clone()),
    };
    let config = DeviceConfig {
        name,
        path: f.node,
        settings: f.settings,
        takeover: f.takeover,
    };
    Some((config, meta))
}
