//! Fake `_serialmesh._tcp` adverts on a LAN's real multicast link: what
//! anyone on the link can send, since mDNS carries no authentication.
//!
//! Each advert is one unsolicited mDNS response (PTR, SRV, TXT, A, as a
//! real agent's announcement), written by hand here so the test controls
//! every field: the instance name, the source address it comes from and
//! the address it claims (see [`claimed`]): some are unused ones on the
//! LAN's own subnet, where a connection is not refused but waits (ARP gets
//! no answer), the costliest kind of dead peer for a prober.

use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::time::{Duration, Instant};

use crate::netns::Lan;

const MDNS: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(224, 0, 0, 251), 5353);

/// Sockets on `sources` addresses of one host, ready to send adverts.
pub struct Flooder {
    sockets: Vec<UdpSocket>,
    /// The LAN's own address, for [`claimed`].
    lan_ip: Ipv4Addr,
}

impl Flooder {
    /// `sources` distinct source addresses (`.200` up on the LAN's
    /// subnet), added to host `host` as secondary addresses.
    ///
    /// # Panics
    /// If an address or a socket cannot be made.
    pub fn new(lan: &Lan, host: usize, sources: u8) -> Flooder {
        let sockets = (0..sources)
            .map(|s| {
                let ip = lan.add_address(host, 200 + s);
                // Bound to the source address and mDNS's port: receivers
                // take responses only from port 5353 (RFC 6762 section 11).
                lan.run_in(host, move || {
                    UdpSocket::bind(SocketAddrV4::new(ip, 5353)).expect("bind the flood socket")
                })
            })
            .collect();
        Flooder {
            sockets,
            lan_ip: lan.ip(0),
        }
    }

    /// Sends adverts `range` (spread over the sources) at `rate` per
    /// second, so the receivers' socket buffers are not what limits how
    /// many arrive; returns how many went out.
    ///
    /// # Panics
    /// If a send fails.
    pub fn send(&self, range: std::ops::Range<usize>, rate: u32) -> usize {
        let start = Instant::now();
        for (n, i) in range.clone().enumerate() {
            // "0..." sorts before any real agent name a browser might list.
            let packet = advert(&format!("0fake{i}"), claimed(self.lan_ip, i));
            self.sockets[i % self.sockets.len()]
                .send_to(&packet, MDNS)
                .expect("send an advert");
            // Paced against the clock, not by sleeping per packet.
            let due = start + Duration::from_secs_f64((n + 1) as f64 / f64::from(rate));
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
        range.len()
    }

    /// Sends `packets` responses of 8 address records each, for names no
    /// service points to (no PTR), at `rate` packets per second: records
    /// an mDNS cache may keep although nobody asked for them.
    ///
    /// # Panics
    /// If a send fails.
    pub fn send_addresses(&self, packets: usize, rate: u32) -> usize {
        let start = Instant::now();
        for i in 0..packets {
            let mut p = Vec::with_capacity(600);
            for v in [0u16, 0x8400, 0, 8, 0, 0] {
                p.extend_from_slice(&v.to_be_bytes());
            }
            for k in 0..8 {
                let ip = claimed(self.lan_ip, i * 8 + k + 1).octets();
                record(
                    &mut p,
                    &format!("h{i}x{k}-nobody-asked.local"),
                    1,
                    4500,
                    &ip,
                );
            }
            self.sockets[i % self.sockets.len()]
                .send_to(&p, MDNS)
                .expect("send address records");
            let due = start + Duration::from_secs_f64((i + 1) as f64 / f64::from(rate));
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
        packets * 8
    }
}

/// The address advert `i` claims: every tenth one an unused address of
/// the LAN (a connection waits for ARP, which never answers), the others
/// each its own address in 172.16.0.0/12, which no host of the LAN has a
/// route to, so that an agent reporting them all would report as many
/// distinct `host:port` as there are adverts.
pub fn claimed(lan_ip: Ipv4Addr, i: usize) -> Ipv4Addr {
    if i.is_multiple_of(10) {
        let [a, b, c, _] = lan_ip.octets();
        Ipv4Addr::new(a, b, c, 100 + (i / 10 % 100) as u8)
    } else {
        Ipv4Addr::new(172, 16 + (i >> 16) as u8, (i >> 8) as u8, i as u8)
    }
}

/// Whether `text` (ls output) names an address some advert claims.
pub fn names_a_claimed_address(lan: &Lan, text: &str) -> bool {
    let [a, b, c, _] = lan.ip(0).octets();
    text.contains(&format!("\"{a}.{b}.{c}.1")) || text.contains("\"172.")
}

/// One unsolicited response announcing agent `name` at `claimed:21317`,
/// with a well-formed TXT record (a random-looking key of its own).
pub fn advert(name: &str, claimed: Ipv4Addr) -> Vec<u8> {
    let instance = format!("{name}._serialmesh._tcp.local");
    let host = format!("{name}-seriald.local");
    let mut p = Vec::with_capacity(400);
    // Header: id 0, flags response + authoritative, 0 questions, 4 answers.
    for v in [0u16, 0x8400, 0, 4, 0, 0] {
        p.extend_from_slice(&v.to_be_bytes());
    }
    record(
        &mut p,
        "_serialmesh._tcp.local",
        12,
        4500,
        &dns_name(&instance),
    );
    let mut srv = vec![0, 0, 0, 0];
    srv.extend_from_slice(&21317u16.to_be_bytes());
    srv.extend_from_slice(&dns_name(&host));
    record(&mut p, &instance, 33, 120, &srv);
    let key = format!("spki:{:064x}", fnv(name));
    let mut txt = Vec::new();
    for kv in [
        format!("name={name}"),
        "zone=flood".to_string(),
        "proto=1".to_string(),
        "port=21317".to_string(),
        format!("key={key}"),
    ] {
        txt.push(kv.len() as u8);
        txt.extend_from_slice(kv.as_bytes());
    }
    record(&mut p, &instance, 16, 4500, &txt);
    record(&mut p, &host, 1, 120, &claimed.octets());
    p
}

fn record(p: &mut Vec<u8>, name: &str, kind: u16, ttl: u32, data: &[u8]) {
    p.extend_from_slice(&dns_name(name));
    p.extend_from_slice(&kind.to_be_bytes());
    p.extend_from_slice(&1u16.to_be_bytes()); // class IN
    p.extend_from_slice(&ttl.to_be_bytes());
    p.extend_from_slice(&(data.len() as u16).to_be_bytes());
    p.extend_from_slice(data);
}

fn dns_name(name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for label in name.split('.') {
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    out
}

/// A stable 64-hex-digit value per name (FNV-1a, repeated): a well-formed
/// key fingerprint that no certificate has.
fn fnv(name: &str) -> u128 {
    let mut h: u128 = 0x6c62272e07bb014262b821756295c58d;
    for b in name.bytes() {
        h ^= u128::from(b);
        h = h.wrapping_mul(0x0000000001000000000000000000013B);
    }
    h
}
