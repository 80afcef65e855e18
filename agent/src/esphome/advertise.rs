//! Opt-in (`advertise = true`) mDNS advertisement of an ESPHome endpoint
//! as zwave-js's discovery looks for Z-Wave sticks: `_zwave._tcp.local.`,
//! TXT `protocol=esphome` (zwave-js reads only that key, and offers
//! `esphome://HOST:PORT` for such a service, `tcp://` otherwise). It runs on
//! a daemon of its own so the agent's `_serialmesh._tcp` advertisement is
//! untouched, on the interfaces the endpoint listens on (none for
//! loopback). The TXT names no client and no key.

use std::net::SocketAddr;

use mdns_sd::ServiceInfo;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::mesh::mdns::{self, Scope};

pub const SERVICE_TYPE: &str = "_zwave._tcp.local.";

/// Advertises the endpoint of `device` on `listen` until `shutdown`, then
/// says goodbye.
pub async fn run(agent: String, device: String, listen: SocketAddr, shutdown: CancellationToken) {
    let watch = shutdown.child_token();
    let daemon = match mdns::daemon(Scope::of(&listen), watch.clone()) {
        Ok(Some(d)) => d,
        Ok(None) => {
            info!(%device, "ESPHome endpoint listens on loopback; not advertised on mDNS");
            return;
        }
        Err(e) => {
            warn!(%device, error = %e, "cannot advertise the ESPHome endpoint");
            return;
        }
    };
    let instance = format!("{agent}-{device}");
    let host = format!("{agent}-{device}-zwave.local.");
    let txt = [("protocol", "esphome")];
    let info = match ServiceInfo::new(SERVICE_TYPE, &instance, &host, (), listen.port(), &txt[..]) {
        Ok(i) => i.enable_addr_auto(),
        Err(e) => {
            warn!(%device, error = %e, "cannot advertise the ESPHome endpoint");
            return;
        }
    };
    let fullname = info.get_fullname().to_string();
    if let Err(e) = daemon.register(info) {
        warn!(%device, error = %e, "cannot advertise the ESPHome endpoint");
        mdns::stop(&daemon).await;
        return;
    }
    info!(%fullname, "ESPHome endpoint advertised on mDNS (_zwave._tcp, protocol=esphome)");
    shutdown.cancelled().await;
    if let Ok(status) = daemon.unregister(&fullname) {
        let _ =
            tokio::time::timeout(std::time::Duration::from_millis(500), status.recv_async()).await;
        // mdns-sd repeats the goodbye 120 ms later.
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    }
    watch.cancel();
    mdns::stop(&daemon).await;
}
