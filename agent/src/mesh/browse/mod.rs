//! The agent's browse for other agents: a UDP socket of its own on the mDNS
//! port, beside the mdns-sd daemon that advertises the agent.
//!
//! mDNS is unauthenticated: anyone on the link can announce as many
//! `_serialmesh._tcp` agents as they like. mdns-sd's browse keeps every
//! record of a browsed type it hears (its cache has no bound) and does not
//! say which host sent a record, so the mesh could neither bound its memory
//! nor cap what one sender adds. Here the socket hands each response, with
//! its source address, to the mesh through a bounded queue (a full queue
//! drops the packet, as the kernel does when the socket buffer is full);
//! the mesh decides what to keep, under caps per source and in total
//! (`crate::mesh::adverts`). Only IPv4 is browsed: agents advertise their
//! IPv4 addresses wherever they have one.
//!
//! Browsing is asking: a query for the service type goes out at start,
//! 1 s and 3 s later (RFC 6762 5.2), then every [`QUERY_EVERY`], and every
//! agent answers on multicast, which also refreshes what the mesh knows.

pub mod fuzzing;
pub mod wire;

use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use serialmesh_proto::discovery::SERVICE_TYPE;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::mesh::mdns::Scope;

const GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 251);
const PORT: u16 = 5353;
/// How often the browse asks again once started; an agent not heard for
/// two of these (and no goodbye) is forgotten (see `mesh::adverts`).
pub const QUERY_EVERY: Duration = Duration::from_secs(60);
/// Largest mDNS packet read (RFC 6762 17: up to 9000 bytes).
const MAX_PACKET: usize = 9000;
/// Records heard between two looks at the advertiser's cache: a quiet
/// link takes hours to hear this many, a flood a fraction of a second.
pub const HEARD_MANY: usize = 1024;

/// A response heard on the link.
#[derive(Debug, Clone)]
pub struct Packet {
    pub source: IpAddr,
    pub records: Vec<wire::Record>,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot browse mDNS for other agents: {0}")]
pub struct BrowseError(#[source] std::io::Error);

/// A socket joined to the mDNS group on the interfaces of a scope.
pub struct Browser {
    socket: UdpSocket,
    interfaces: Vec<Ipv4Addr>,
}

impl Browser {
    /// `None` for [`Scope::Off`] or when no interface of the scope has an
    /// IPv4 address. Needs a tokio runtime.
    pub fn start(scope: Scope) -> Result<Option<Browser>, BrowseError> {
        let interfaces: Vec<Ipv4Addr> = match scope {
            Scope::Off => return Ok(None),
            Scope::Only(IpAddr::V4(ip)) => vec![ip],
            Scope::Only(IpAddr::V6(_)) => Vec::new(),
            Scope::All => if_addrs::get_if_addrs()
                .map_err(BrowseError)?
                .into_iter()
                .filter_map(|i| match i.ip() {
                    IpAddr::V4(v4) if !v4.is_loopback() => Some(v4),
                    _ => None,
                })
                .collect(),
        };
        let socket =
            Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).map_err(BrowseError)?;
        // mdns-sd holds the same port for the advertisement; both sockets
        // get a copy of every multicast packet.
        socket.set_reuse_address(true).map_err(BrowseError)?;
        socket.set_reuse_port(true).map_err(BrowseError)?;
        socket.set_multicast_ttl_v4(255).map_err(BrowseError)?;
        socket
            .bind(&SocketAddr::from(([0, 0, 0, 0], PORT)).into())
            .map_err(BrowseError)?;
        socket.set_nonblocking(true).map_err(BrowseError)?;
        let joined: Vec<Ipv4Addr> = interfaces
            .into_iter()
            .filter(|ip| match socket.join_multicast_v4(&GROUP, ip) {
                Ok(()) => true,
                Err(e) => {
                    warn!(interface = %ip, error = %e, "cannot join mDNS on this interface; not browsing there");
                    false
                }
            })
            .collect();
        if joined.is_empty() {
            warn!("no IPv4 interface to browse mDNS on; peers come from seeds only");
            return Ok(None);
        }
        let socket = UdpSocket::from_std(socket.into()).map_err(BrowseError)?;
        Ok(Some(Browser {
            socket,
            interfaces: joined,
        }))
    }

    /// Asks and listens until `shutdown`, handing responses to `to`;
    /// `heard_many` is notified every [`HEARD_MANY`] records heard, of any
    /// kind (see `Advertiser::bound_cache`: this socket hears what the
    /// advertiser's daemon hears).
    ///
    /// After the first three queries it asks again every [`QUERY_EVERY`]
    /// only while `known` says the mesh has agents from mDNS to refresh:
    /// an agent alone on its link has no timer (new agents announce
    /// themselves).
    pub async fn run(
        self,
        to: mpsc::Sender<Packet>,
        heard_many: std::sync::Arc<tokio::sync::Notify>,
        mut known: tokio::sync::watch::Receiver<bool>,
        shutdown: CancellationToken,
    ) {
        let mut heard = 0usize;
        let query = wire::query(SERVICE_TYPE);
        let mut buf = vec![0u8; MAX_PACKET];
        let mut next_query = tokio::time::Instant::now();
        let mut asked = 0u32;
        let mut dropped = 0u64;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                changed = known.changed() => if changed.is_err() {
                    return; // the mesh is gone
                },
                _ = tokio::time::sleep_until(next_query), if asked < 3 || *known.borrow() => {
                    self.ask(&query).await;
                    asked += 1;
                    next_query += match asked {
                        1 => Duration::from_secs(1),
                        2 => Duration::from_secs(2),
                        _ => QUERY_EVERY,
                    };
                }
                r = self.socket.recv_from(&mut buf) => match r {
                    // Responses come from the mDNS port (RFC 6762 11).
                    Ok((n, from)) if from.port() == PORT => {
                        heard += wire::record_count(&buf[..n]);
                        if heard >= HEARD_MANY {
                            heard = 0;
                            heard_many.notify_one();
                        }
                        let Some(records) = wire::parse(&buf[..n]).filter(|r| !r.is_empty()) else {
                            continue;
                        };
                        let packet = Packet { source: from.ip(), records };
                        if to.try_send(packet).is_err() {
                            dropped += 1;
                            if dropped.is_power_of_two() {
                                debug!(dropped, "mDNS responses arrive faster than the mesh reads them; dropping");
                            }
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        warn!(error = %e, "mDNS receive failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
            }
        }
    }

    async fn ask(&self, query: &[u8]) {
        let group = SocketAddrV4::new(GROUP, PORT);
        for ip in &self.interfaces {
            let socket = socket2::SockRef::from(&self.socket);
            if let Err(e) = socket.set_multicast_if_v4(ip) {
                debug!(interface = %ip, error = %e, "cannot send the mDNS query here");
                continue;
            }
            if let Err(e) = self.socket.send_to(query, group).await {
                debug!(interface = %ip, error = %e, "cannot send the mDNS query");
            }
        }
    }
}
