//! What agents announce over mDNS, in one place for the agent that writes
//! it and the client that reads it (docs/protocol.md, "Discovery").
//!
//! The TXT record says who the agent is and how to check it is really that
//! agent (the fingerprint of its key); it never holds secrets or the device
//! inventory, which only travels over mutual TLS. None of it is believed
//! before a handshake: clients take name, zone and key from the verified
//! certificate, and use the TXT key only as a pin for that handshake.

use std::net::{IpAddr, Ipv6Addr};

use crate::PROTOCOL_VERSION;

/// DNS-SD service type agents register and clients browse.
pub const SERVICE_TYPE: &str = "_serialmesh._tcp.local.";

/// TXT keys.
pub mod txt {
    pub const NAME: &str = "name";
    pub const ZONE: &str = "zone";
    pub const PROTO: &str = "proto";
    pub const PORT: &str = "port";
    /// The agent's key fingerprint, `spki:` and 64 hex digits (the
    /// SHA-256 of its certificate's SubjectPublicKeyInfo).
    pub const KEY: &str = "key";
    /// SHA-256 of the agent certificate's whole DER, 64 hex digits: what
    /// clients before key fingerprints pin. Still written so that they
    /// find upgraded agents during a rolling update; never read.
    pub const LEGACY_FINGERPRINT: &str = "fp";
}

/// One agent's advertisement, as carried in its TXT record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advert {
    pub name: String,
    pub zone: String,
    pub proto: u16,
    pub port: u16,
    /// The key fingerprint (parsed by the pki crate); `None` from agents
    /// that predate key fingerprints.
    pub key: Option<String>,
    /// [`txt::LEGACY_FINGERPRINT`], written for older clients.
    pub legacy_fingerprint: Option<String>,
}

impl Advert {
    pub fn new(name: &str, zone: &str, port: u16, key: &str) -> Self {
        Advert {
            name: name.to_string(),
            zone: zone.to_string(),
            proto: PROTOCOL_VERSION,
            port,
            key: Some(key.to_string()),
            legacy_fingerprint: None,
        }
    }

    /// Also writes [`txt::LEGACY_FINGERPRINT`].
    pub fn with_legacy_fingerprint(mut self, hex: String) -> Self {
        self.legacy_fingerprint = Some(hex);
        self
    }

    /// The TXT key/value pairs, in a stable order.
    pub fn to_txt(&self) -> Vec<(&'static str, String)> {
        let mut out = vec![
            (txt::NAME, self.name.clone()),
            (txt::ZONE, self.zone.clone()),
            (txt::PROTO, self.proto.to_string()),
            (txt::PORT, self.port.to_string()),
        ];
        out.extend(self.key.clone().map(|k| (txt::KEY, k)));
        out.extend(
            self.legacy_fingerprint
                .clone()
                .map(|f| (txt::LEGACY_FINGERPRINT, f)),
        );
        out
    }

    /// Reads an advertisement back; `get` looks up one TXT key. Every key
    /// but the key fingerprint is required: an agent that leaves one out is
    /// not one of ours, or is broken, and dialling it could only fail later
    /// with a worse message. Agents before key fingerprints have no `key`
    /// (they are dialled unpinned, and still verified).
    pub fn from_txt<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Result<Advert, String> {
        let field = |key: &str| {
            get(key)
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| format!("TXT record has no '{key}'"))
        };
        let number = |key: &str| -> Result<u16, String> {
            let v = field(key)?;
            v.parse()
                .map_err(|_| format!("TXT '{key}={v}' is not a number from 0 to 65535"))
        };
        Ok(Advert {
            name: field(txt::NAME)?.to_string(),
            zone: field(txt::ZONE)?.to_string(),
            proto: number(txt::PROTO)?,
            port: number(txt::PORT)?,
            key: field(txt::KEY).ok().map(str::to_string),
            legacy_fingerprint: field(txt::LEGACY_FINGERPRINT).ok().map(str::to_string),
        })
    }
}

/// `host:port` strings for the addresses an agent was advertised with,
/// best first: routable IPv4, then routable IPv6, then link-local ones
/// (IPv6 with its interface scope, without which it cannot be dialled).
/// Ties keep address order, so the choice is stable between runs.
///
/// Loopback and unspecified addresses are dropped: an advert (anyone on
/// the LAN can send one) that says 127.0.0.1 points the reader at its own
/// host, where a client's own endpoint listens; connecting there replaced
/// the gateway's connection, over and over. An agent on the same host is
/// given as a seed or `--agent`.
pub fn rank_addrs(addrs: &[(IpAddr, u32)], port: u16) -> Vec<String> {
    let mut ranked: Vec<(u8, IpAddr, u32)> = addrs
        .iter()
        .filter(|(ip, _)| !is_this_host(*ip))
        .map(|&(ip, scope)| (rank(ip), ip, scope))
        .collect();
    ranked.sort();
    ranked.dedup();
    ranked
        .into_iter()
        .filter_map(|(_, ip, scope)| match ip {
            IpAddr::V4(v4) => Some(format!("{v4}:{port}")),
            IpAddr::V6(v6) if is_link_local_v6(&v6) => {
                (scope != 0).then(|| format!("[{v6}%{scope}]:{port}"))
            }
            IpAddr::V6(v6) => Some(format!("[{v6}]:{port}")),
        })
        .collect()
}

/// Loopback or unspecified: whoever reads the address would reach itself.
pub fn is_this_host(ip: IpAddr) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    ip.is_loopback() || ip.is_unspecified()
}

/// Whether `host:port` (as a peer list carries it) names the reader's own
/// host: a loopback or unspecified address, or `localhost`.
pub fn names_this_host(addr: &str) -> bool {
    match addr.parse::<std::net::SocketAddr>() {
        Ok(a) => is_this_host(a.ip()),
        Err(_) => addr
            .rsplit_once(':')
            .is_some_and(|(host, _)| host.eq_ignore_ascii_case("localhost")),
    }
}

fn rank(ip: IpAddr) -> u8 {
    match ip {
        IpAddr::V4(v4) if v4.is_loopback() => 4,
        IpAddr::V4(v4) if v4.is_link_local() => 2,
        IpAddr::V4(_) => 0,
        IpAddr::V6(v6) if v6.is_loopback() => 5,
        IpAddr::V6(v6) if is_link_local_v6(&v6) => 3,
        IpAddr::V6(_) => 1,
    }
}

fn is_link_local_v6(ip: &Ipv6Addr) -> bool {
    (ip.segments()[0] & 0xffc0) == 0xfe80
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn advert_round_trips_through_txt() {
        let a = Advert::new(
            "shed",
            "garden",
            21317,
            &format!("spki:{}", "ab".repeat(32)),
        )
        .with_legacy_fingerprint("cd".repeat(32));
        let map: HashMap<&str, String> = a.to_txt().into_iter().collect();
        let back = Advert::from_txt(|k| map.get(k).map(String::as_str)).unwrap();
        assert_eq!(back, a);
        assert_eq!(back.proto, PROTOCOL_VERSION);
    }

    #[test]
    fn advert_without_a_required_key_names_it() {
        let e = Advert::from_txt(|k| (k != txt::ZONE).then_some("1")).unwrap_err();
        assert_eq!(e, "TXT record has no 'zone'");
        // An agent from before key fingerprints: read, without a key.
        let old = Advert::from_txt(|k| (k != txt::KEY).then_some("1")).unwrap();
        assert_eq!(old.key, None);
        let e = Advert::from_txt(|k| Some(if k == txt::PORT { "99999" } else { "1" })).unwrap_err();
        assert!(e.contains("'port=99999' is not a number"), "{e}");
    }

    #[test]
    fn routable_ipv4_comes_first_and_link_local_ipv6_keeps_its_scope() {
        let addrs = [
            ("fe80::1".parse().unwrap(), 3),
            ("127.0.0.1".parse().unwrap(), 0),
            ("fd00::5".parse().unwrap(), 2),
            ("10.1.0.2".parse().unwrap(), 0),
            ("169.254.3.3".parse().unwrap(), 0),
            ("fe80::2".parse().unwrap(), 0),
        ];
        assert_eq!(
            rank_addrs(&addrs, 7),
            vec![
                "10.1.0.2:7",
                "[fd00::5]:7",
                "169.254.3.3:7",
                "[fe80::1%3]:7",
            ]
        );
    }

    #[test]
    fn addresses_of_the_readers_own_host_are_never_dialled() {
        let own = [
            ("127.0.0.1".parse().unwrap(), 0),
            ("::1".parse().unwrap(), 0),
            ("0.0.0.0".parse().unwrap(), 0),
            ("::ffff:127.0.0.5".parse().unwrap(), 0),
        ];
        assert!(rank_addrs(&own, 5000).is_empty());
        for peer in [
            "127.0.0.1:5000",
            "[::1]:5000",
            "0.0.0.0:21317",
            "LOCALHOST:21317",
        ] {
            assert!(names_this_host(peer), "{peer}");
        }
        for peer in ["10.0.0.2:21317", "shed.lan:21317", "[fd00::5]:21317"] {
            assert!(!names_this_host(peer), "{peer}");
        }
    }
}
