//! One-shot mDNS queries (RFC 6762 section 5.1), for a quick first answer.
//!
//! A long-lived browse alone misses answers: a responder multicasts a
//! record at most once per second (section 6), so a question asked within a
//! second of someone else's (another `serialctl ls`, an agent's own browse)
//! gets no multicast answer, and the browser only asks again a second
//! later. A query sent from a port other than 5353 is a "legacy" one-shot
//! query: responders answer it at once, by unicast to that port, with the
//! SRV, TXT and address records alongside (section 6.7), and no rate limit
//! applies. The resolver sends one when it starts, beside its browse.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket as StdUdpSocket};
use std::time::Duration;

use serialmesh_proto::discovery::{rank_addrs, Advert, SERVICE_TYPE};
use tokio::net::UdpSocket;
use tokio::task::JoinSet;
use tracing::debug;

use super::agent::{AgentInfo, Source};

const MDNS_GROUP: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(224, 0, 0, 251)), 5353);
const TYPE_A: u16 = 1;
const TYPE_PTR: u16 = 12;
const TYPE_TXT: u16 = 16;
const TYPE_AAAA: u16 = 28;
const TYPE_SRV: u16 = 33;

/// Asks every multicast-capable IPv4 interface once and hands each agent
/// to `found` as its answer arrives, until `window` has passed.
pub async fn query(window: Duration, found: impl Fn(AgentInfo)) {
    let packet = question();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut listeners = JoinSet::new();
    for ip in ipv4_interfaces() {
        // Bound to the interface's address, a multicast send leaves through
        // that interface (Linux picks the device owning the source).
        let socket = StdUdpSocket::bind((ip, 0))
            .and_then(|s| s.set_multicast_ttl_v4(255).map(|()| s))
            .and_then(|s| s.set_nonblocking(true).map(|()| s))
            .and_then(UdpSocket::from_std);
        let socket = match socket {
            Ok(s) => s,
            Err(e) => {
                debug!(%ip, error = %e, "no one-shot mDNS query on this interface");
                continue;
            }
        };
        if let Err(e) = socket.send_to(&packet, MDNS_GROUP).await {
            debug!(%ip, error = %e, "one-shot mDNS query not sent");
            continue;
        }
        let tx = tx.clone();
        listeners.spawn(async move {
            let mut buf = vec![0u8; 9000];
            let deadline = tokio::time::Instant::now() + window;
            while let Ok(Ok((n, from))) =
                tokio::time::timeout_at(deadline, socket.recv_from(&mut buf)).await
            {
                let agents = parse(&buf[..n]);
                debug!(%from, agents = agents.len(), "one-shot mDNS answer");
                for agent in agents {
                    let _ = tx.send(agent);
                }
            }
        });
    }
    drop(tx);
    // Handed over as they arrive (within milliseconds of asking); ends
    // when every interface's listener has had its window.
    while let Some(agent) = rx.recv().await {
        found(agent);
    }
}

/// A standard query for the PTR records of our service type, id 0.
fn question() -> Vec<u8> {
    let mut p = vec![0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in SERVICE_TYPE.trim_end_matches('.').split('.') {
        p.push(label.len() as u8);
        p.extend_from_slice(label.as_bytes());
    }
    p.extend_from_slice(&[0, 0, TYPE_PTR as u8, 0, 1]);
    p
}

/// The agents described by one response: PTR to an instance, with its SRV
/// (port, host), TXT (the advertisement) and the host's addresses. Anything
/// malformed or incomplete is left out (the browse may still find it).
pub(super) fn parse(packet: &[u8]) -> Vec<AgentInfo> {
    let mut r = Records::default();
    if read(packet, &mut r).is_none() {
        return Vec::new();
    }
    let service = SERVICE_TYPE.to_ascii_lowercase();
    r.ptr
        .iter()
        .filter(|(owner, _)| owner.to_ascii_lowercase() == service)
        .filter_map(|(_, instance)| {
            let (port, host) = r.srv.get(instance)?;
            let txt = r.txt.get(instance)?;
            let advert = Advert::from_txt(|k| txt.get(k).map(String::as_str)).ok()?;
            // No key: an agent from before key fingerprints, dialled
            // unpinned (and verified as any agent). A key that does not
            // parse: a broken or foreign advert.
            let fingerprint = match &advert.key {
                Some(key) => Some(key.parse().ok()?),
                None => None,
            };
            let addrs: Vec<(IpAddr, u32)> = r
                .addrs
                .get(&host.to_ascii_lowercase())?
                .iter()
                .map(|ip| (*ip, 0))
                .collect();
            let addrs = rank_addrs(&addrs, *port);
            (!addrs.is_empty()).then(|| AgentInfo {
                name: Some(advert.name),
                zone: Some(advert.zone),
                addrs,
                fingerprint,
                source: Source::Mdns,
                fullname: Some(instance.clone()),
            })
        })
        .collect()
}

#[derive(Default)]
struct Records {
    ptr: Vec<(String, String)>,
    srv: HashMap<String, (u16, String)>,
    txt: HashMap<String, HashMap<String, String>>,
    /// By lowercase host name.
    addrs: HashMap<String, Vec<IpAddr>>,
}

fn read(p: &[u8], r: &mut Records) -> Option<()> {
    let count = |i: usize| Some(u16::from_be_bytes([*p.get(i)?, *p.get(i + 1)?]) as usize);
    let (questions, records) = (count(4)?, count(6)? + count(8)? + count(10)?);
    let mut pos = 12;
    for _ in 0..questions {
        pos = name(p, pos)?.1 + 4;
    }
    for _ in 0..records {
        let (owner, at) = name(p, pos)?;
        let head = p.get(at..at + 10)?;
        let kind = u16::from_be_bytes([head[0], head[1]]);
        let len = u16::from_be_bytes([head[8], head[9]]) as usize;
        let start = at + 10;
        let data = p.get(start..start + len)?;
        match kind {
            TYPE_PTR => r.ptr.push((owner, name(p, start)?.0)),
            TYPE_SRV if len > 6 => {
                let port = u16::from_be_bytes([data[4], data[5]]);
                r.srv.insert(owner, (port, name(p, start + 6)?.0));
            }
            TYPE_TXT => {
                r.txt.insert(owner, txt(data));
            }
            TYPE_A if len == 4 => {
                let ip = Ipv4Addr::new(data[0], data[1], data[2], data[3]);
                r.addrs
                    .entry(owner.to_ascii_lowercase())
                    .or_default()
                    .push(ip.into());
            }
            TYPE_AAAA if len == 16 => {
                let bytes: [u8; 16] = data.try_into().ok()?;
                let ip = Ipv6Addr::from(bytes);
                r.addrs
                    .entry(owner.to_ascii_lowercase())
                    .or_default()
                    .push(ip.into());
            }
            _ => {}
        }
        pos = start + len;
    }
    Some(())
}

/// A domain name at `pos` (following compression pointers) and the
/// position after it, in the record that holds it.
fn name(p: &[u8], mut pos: usize) -> Option<(String, usize)> {
    let mut labels: Vec<String> = Vec::new();
    let mut end = None;
    for _ in 0..64 {
        let len = *p.get(pos)? as usize;
        match len {
            0 => {
                let next = end.unwrap_or(pos + 1);
                return Some((labels.join(".") + ".", next));
            }
            l if l & 0xc0 == 0xc0 => {
                let target = ((l & 0x3f) << 8) | *p.get(pos + 1)? as usize;
                end.get_or_insert(pos + 2);
                pos = target;
            }
            l if l < 64 => {
                let label = p.get(pos + 1..pos + 1 + l)?;
                labels.push(String::from_utf8_lossy(label).into_owned());
                pos += 1 + l;
            }
            _ => return None,
        }
    }
    None // a pointer loop
}

fn txt(data: &[u8]) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut pos = 0;
    while let Some(&len) = data.get(pos) {
        let Some(entry) = data.get(pos + 1..pos + 1 + len as usize) else {
            break;
        };
        let entry = String::from_utf8_lossy(entry);
        let (k, v) = entry.split_once('=').unwrap_or((&entry, ""));
        out.entry(k.to_ascii_lowercase())
            .or_insert_with(|| v.to_string());
        pos += 1 + len as usize;
    }
    out
}

/// IPv4 addresses of the interfaces that are up and do multicast.
fn ipv4_interfaces() -> Vec<Ipv4Addr> {
    let mut out = Vec::new();
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs gives us a list that we only read, and free once.
    unsafe {
        if libc::getifaddrs(&mut head) != 0 {
            return out;
        }
        let mut cur = head;
        while let Some(ifa) = cur.as_ref() {
            let flags = ifa.ifa_flags;
            let wanted = (libc::IFF_UP | libc::IFF_MULTICAST) as u32;
            if flags & wanted == wanted
                && !ifa.ifa_addr.is_null()
                && i32::from((*ifa.ifa_addr).sa_family) == libc::AF_INET
            {
                let sin = &*(ifa.ifa_addr as *const libc::sockaddr_in);
                out.push(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)));
            }
            cur = ifa.ifa_next;
        }
        libc::freeifaddrs(head);
    }
    out
}

#[cfg(test)]
#[path = "oneshot_tests.rs"]
mod tests;
