//! Announcing this agent on mDNS (`_serialmesh._tcp.local.`); the browse
//! for the others is the agent's own (`browse/` beside this file), bounded.
//!
//! The TXT record carries name, zone, protocol version, port and the
//! fingerprint of the agent certificate (see `serialmesh_proto::discovery`),
//! never secrets or the device inventory: anyone on the link can read it,
//! while the inventory is only handed out over mutual TLS.
//!
//! mDNS runs on the interfaces the agent listens on: all of them for an
//! unspecified listen address, only the one holding a specific address, and
//! none for a loopback address (nobody else could connect anyway, and it
//! keeps agents in tests and on laptops quiet on the real network).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use mdns_sd::{DaemonEvent, IfKind, Receiver, ServiceDaemon, ServiceInfo};
use serialmesh_pki::Fingerprint;
use serialmesh_proto::discovery::{Advert, SERVICE_TYPE};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

/// How long `shutdown` waits for the daemon to confirm each step. The
/// daemon answers at once; this only bounds a wedged daemon thread.
const CONFIRM_TIMEOUT: Duration = Duration::from_millis(500);
/// mdns-sd repeats a goodbye once, 120 ms after the first, for peers that
/// missed it; the daemon must live until that has gone out.
const GOODBYE_REPEAT: Duration = Duration::from_millis(150);

#[derive(Debug, thiserror::Error)]
pub enum MdnsError {
    #[error("cannot start mDNS: {0}")]
    Daemon(#[source] mdns_sd::Error),
    #[error("cannot advertise agent '{name}' on mDNS: {source}")]
    Register {
        name: String,
        #[source]
        source: mdns_sd::Error,
    },
}

/// Where mDNS runs, from the address the agent listens on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Listening on 0.0.0.0 or [::]: every interface.
    All,
    /// Listening on one address: only the interface holding it.
    Only(IpAddr),
    /// Listening on loopback: no mDNS at all.
    Off,
}

impl Scope {
    pub fn of(listen: &SocketAddr) -> Scope {
        let ip = listen.ip();
        if ip.is_unspecified() {
            Scope::All
        } else if ip.is_loopback() {
            Scope::Off
        } else {
            Scope::Only(ip)
        }
    }
}

/// Starts an mDNS daemon on the interfaces of `scope`; `None` for
/// [`Scope::Off`].
pub fn daemon(scope: Scope, watch: CancellationToken) -> Result<Option<ServiceDaemon>, MdnsError> {
    if scope == Scope::Off {
        return Ok(None);
    }
    let daemon = ServiceDaemon::new().map_err(MdnsError::Daemon)?;
    if let Scope::Only(ip) = scope {
        daemon
            .disable_interface(IfKind::All)
            .and_then(|()| daemon.enable_interface(IfKind::Addr(ip)))
            .map_err(MdnsError::Daemon)?;
    }
    crate::mesh::addr_watch::follow(daemon.clone(), watch);
    Ok(Some(daemon))
}

/// This agent's registration, on a daemon of its own;
/// [`Advertiser::shutdown`] says goodbye.
pub struct Advertiser {
    daemon: ServiceDaemon,
    fullname: String,
    spec: Spec,
    /// Ends the daemon's address watch (`crate::mesh::addr_watch`).
    watch: CancellationToken,
    /// When [`Advertiser::bound_cache`] last restarted the daemon.
    restarted: Option<std::time::Instant>,
    done: bool,
}

/// Records mdns-sd may cache before [`Advertiser::bound_cache`] empties it:
/// a link with a few dozen hosts announcing a few services each holds a
/// few hundred.
pub const MAX_CACHED: i64 = 4096;
/// The daemon is restarted at most this often; between restarts the cache
/// holds at most what arrives in this time (the daemon's own pace bounds
/// how fast that is).
const RESTART_GAP: Duration = Duration::from_millis(250);

/// The agent certificate, as the advertisement names it.
#[derive(Debug, Clone)]
pub struct Certificate {
    pub key: Fingerprint,
    /// [`serialmesh_pki::legacy_certificate_hash`] of it.
    pub legacy: String,
}

impl Certificate {
    /// What the advertisement says of the certificate `der`.
    pub fn of(der: &rustls::pki_types::CertificateDer<'_>) -> Option<Certificate> {
        Some(Certificate {
            key: Fingerprint::of_cert(der).ok()?,
            legacy: serialmesh_pki::legacy_certificate_hash(der),
        })
    }
}

/// What is advertised.
struct Spec {
    scope: Scope,
    name: String,
    zone: String,
    port: u16,
    fingerprint: Fingerprint,
    /// For clients before key fingerprints (see `txt::LEGACY_FINGERPRINT`).
    legacy_fingerprint: Option<String>,
}

impl Advertiser {
    /// Starts a daemon on the interfaces of `scope` and registers the agent
    /// there, with the addresses of those interfaces; the daemon checks
    /// them when the kernel reports a change and announces new ones. Needs a tokio runtime
    /// (a task logs what the daemon does). `None` for [`Scope::Off`].
    pub fn start(
        scope: Scope,
        name: &str,
        zone: &str,
        port: u16,
        cert: &Certificate,
    ) -> Result<Option<Advertiser>, MdnsError> {
        let fingerprint = cert.key;
        let spec = Spec {
            scope,
            name: name.to_string(),
            zone: zone.to_string(),
            port,
            fingerprint,
            legacy_fingerprint: Some(cert.legacy.clone()),
        };
        let watch = CancellationToken::new();
        let Some((daemon, fullname)) = register(&spec, watch.clone())? else {
            return Ok(None);
        };
        info!(%fullname, %zone, port, %fingerprint, "advertising on mDNS");
        Ok(Some(Advertiser {
            daemon,
            fullname,
            spec,
            watch,
            restarted: None,
            done: false,
        }))
    }

    /// Keeps mdns-sd's cache bounded. The daemon must hear every packet to
    /// answer queries, and it caches the records of any response that
    /// carries no PTR record ("for us", by its heuristic), without limit and
    /// for as long as their TTL says: a flood of such responses would grow
    /// the agent without bound (measured: +165 MiB for 480,000 address
    /// records in 6 s). When its cache holds more than [`MAX_CACHED`]
    /// records, the daemon is stopped (no goodbye: browsers keep our
    /// records) and a new one registers the agent again, which empties it.
    /// The mesh calls this whenever the browse has heard many records.
    pub async fn bound_cache(&mut self) {
        if self.restarted.is_some_and(|t| t.elapsed() < RESTART_GAP) {
            return;
        }
        let Ok(metrics) = self.daemon.get_metrics() else {
            return;
        };
        let Ok(Ok(metrics)) = tokio::time::timeout(CONFIRM_TIMEOUT, metrics.recv_async()).await
        else {
            return;
        };
        let cached: i64 = metrics
            .iter()
            .filter(|(k, _)| k.starts_with("cached-"))
            .map(|(_, v)| *v)
            .sum();
        if cached <= MAX_CACHED {
            return;
        }
        self.restarted = Some(std::time::Instant::now());
        warn!(cached, limit = MAX_CACHED, "mDNS cache over its bound (a flood of records on the link?); restarting the advertisement to empty it");
        self.register_again().await;
    }

    /// Advertises `cert`'s key from now on (the certificate was renewed
    /// with another key): readers pin the key they see advertised.
    pub async fn renew(&mut self, cert: &Certificate) {
        self.spec.fingerprint = cert.key;
        self.spec.legacy_fingerprint = Some(cert.legacy.clone());
        info!(fingerprint = %cert.key, "advertising the renewed certificate's key");
        self.register_again().await;
    }

    /// A new daemon registering the agent as `spec` says.
    async fn register_again(&mut self) {
        // Stopped before the new one probes the name, which the old one
        // would otherwise defend as a conflict.
        stop(&self.daemon).await;
        self.watch.cancel();
        self.watch = CancellationToken::new();
        match register(&self.spec, self.watch.clone()) {
            Ok(Some((daemon, fullname))) => {
                self.daemon = daemon;
                self.fullname = fullname;
            }
            Ok(None) => {}
            Err(e) => {
                warn!(error = %e, "cannot advertise again; clients must use seeds to find this agent")
            }
        }
    }

    /// Sends the goodbye (so browsers drop this agent at once instead of
    /// when their cache expires) and stops the daemon.
    pub async fn shutdown(mut self) {
        self.done = true;
        match self.daemon.unregister(&self.fullname) {
            Ok(status) => {
                if tokio::time::timeout(CONFIRM_TIMEOUT, status.recv_async())
                    .await
                    .is_err()
                {
                    warn!("mDNS daemon did not confirm the goodbye");
                }
                tokio::time::sleep(GOODBYE_REPEAT).await;
            }
            Err(e) => warn!(error = %e, "cannot send the mDNS goodbye"),
        }
        stop(&self.daemon).await;
        debug!(fullname = %self.fullname, "mDNS advertisement withdrawn");
    }
}

impl Drop for Advertiser {
    /// Without `shutdown` (an error path): the daemon still handles the
    /// unregister before it exits, so at least the first goodbye goes out.
    fn drop(&mut self) {
        self.watch.cancel();
        if !self.done {
            let _ = self.daemon.unregister(&self.fullname);
            let _ = self.daemon.shutdown();
        }
    }
}

/// A daemon for `spec.scope` with the agent registered on it.
fn register(
    spec: &Spec,
    watch: CancellationToken,
) -> Result<Option<(ServiceDaemon, String)>, MdnsError> {
    let Some(daemon) = daemon(spec.scope, watch)? else {
        return Ok(None);
    };
    let mut advert = Advert::new(
        &spec.name,
        &spec.zone,
        spec.port,
        &spec.fingerprint.to_string(),
    );
    if let Some(legacy) = &spec.legacy_fingerprint {
        advert = advert.with_legacy_fingerprint(legacy.clone());
    }
    let fail = |source| MdnsError::Register {
        name: spec.name.clone(),
        source,
    };
    // Our own host label, not the machine's: the machine's name may be
    // announced by avahi with other addresses, and agents that share a
    // host name (containers, namespaces) must not merge addresses.
    let host = format!("{}-seriald.local.", spec.name);
    let info = ServiceInfo::new(
        SERVICE_TYPE,
        &spec.name,
        &host,
        (),
        spec.port,
        &advert.to_txt()[..],
    )
    .map_err(fail)?
    .enable_addr_auto();
    let fullname = info.get_fullname().to_string();
    let events = daemon.monitor().map_err(fail)?;
    daemon.register(info).map_err(fail)?;
    tokio::spawn(report(events, fullname.clone()));
    Ok(Some((daemon, fullname)))
}

/// Logs what the daemon does with the advertisement: when it has been
/// announced (after probing the name), renames after a conflict, address
/// changes (announced by the daemon), errors. Ends when the daemon stops.
async fn report(events: Receiver<DaemonEvent>, fullname: String) {
    let mut announced = std::collections::BTreeSet::new();
    while let Ok(event) = events.recv_async().await {
        match event {
            DaemonEvent::Announce(name, intf)
                if name == fullname && announced.insert(intf.clone()) =>
            {
                info!(%fullname, interface = %intf, "announced on mDNS");
            }
            DaemonEvent::NameChange(c) => {
                warn!(original = %c.original, new = %c.new_name, "mDNS name conflict: another host uses this name; renamed (give each agent its own name)")
            }
            DaemonEvent::Error(e) => warn!(error = %e, "mDNS"),
            DaemonEvent::IpAdd(ip) => info!(%ip, "address added; announcing it on mDNS"),
            DaemonEvent::IpDel(ip) => info!(%ip, "address removed; no longer announced"),
            _ => {}
        }
    }
}

/// Stops a daemon and waits (bounded) for its thread to confirm.
pub async fn stop(daemon: &ServiceDaemon) {
    if let Ok(status) = daemon.shutdown() {
        let _ = tokio::time::timeout(CONFIRM_TIMEOUT, status.recv_async()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_follows_the_listen_address() {
        let at = |s: &str| Scope::of(&s.parse().unwrap());
        assert_eq!(at("0.0.0.0:21317"), Scope::All);
        assert_eq!(at("[::]:21317"), Scope::All);
        assert_eq!(at("127.0.0.1:21317"), Scope::Off);
        assert_eq!(at("[::1]:21317"), Scope::Off);
        assert_eq!(
            at("10.1.0.2:21317"),
            Scope::Only("10.1.0.2".parse().unwrap())
        );
    }

    #[test]
    fn loopback_agents_start_no_daemon() {
        assert!(daemon(Scope::Off, CancellationToken::new())
            .unwrap()
            .is_none());
    }
}
