//! Body of the `mdns_packet` cargo-fuzz target (`fuzz/`): the whole input
//! is one UDP payload heard on port 5353, which anyone on the link can
//! send. Kept here so a plain `cargo test` replays the committed corpus
//! through the same code.
//!
//! The packet goes through what the browse does with it
//! ([`wire::record_count`], [`wire::parse`]) and then through what the
//! mesh does with the records ([`Table::apply`]), heard from several
//! sources under small caps, so one packet of many PTR records reaches
//! both caps.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use serialmesh_pki::Fingerprint;
use serialmesh_proto::discovery::names_this_host;

use super::wire::{self, Data, Record, MAX_NAME, MAX_RECORDS, MAX_TXT};
use crate::mesh::adverts::{Caps, Key, Table, MAX_ADDRS};
use crate::mesh::Source;

/// The key this agent advertises: adverts naming it are its own.
pub const OWN_KEY: &str = "spki:abababababababababababababababababababababababababababababababab";
const CAPS: Caps = Caps {
    per_source: 3,
    total: 5,
};

/// Parses `data` as an mDNS packet and checks what the parser's callers
/// rely on: it never panics or loops; a packet yields at most
/// [`MAX_RECORDS`] records and no more than its header claims; names are
/// lower case, at most [`MAX_NAME`] bytes, and made of labels a packet
/// can carry; TXT records keep at most [`MAX_TXT`] entries; the records
/// written back as a packet parse to themselves. Then the records go into
/// the mesh's table from several sources: the caps per source and in
/// total hold, addresses are capped and never this host's, our own advert
/// is never kept, and a packet from one source changes nothing another
/// source announced.
///
/// # Panics
/// When one of those properties does not hold (that is the finding).
pub fn mdns_packet(data: &[u8]) {
    let claimed = wire::record_count(data);
    let Some(records) = wire::parse(data) else {
        return;
    };
    assert!(data[2] & 0x80 != 0, "a query parsed as a response");
    assert!(records.len() <= MAX_RECORDS, "{} records", records.len());
    assert!(
        records.len() <= claimed,
        "{} records from a packet claiming {claimed}",
        records.len()
    );
    for r in &records {
        check_record(r);
    }
    assert_eq!(wire::parse(data).as_ref(), Some(&records), "parse differs");
    if let Some(again) = encode(&records) {
        assert_eq!(
            wire::parse(&again).as_ref(),
            Some(&records),
            "records written back as {again:02x?} parse differently"
        );
    }
    apply(&records);
}

fn check_record(r: &Record) {
    check_name(&r.name);
    match &r.data {
        Data::Ptr(target) | Data::Srv { target, .. } => check_name(target),
        Data::Txt(entries) => {
            assert!(entries.len() <= MAX_TXT, "{} TXT entries", entries.len());
            for (k, _) in entries {
                assert_eq!(k, &k.to_ascii_lowercase(), "TXT key not lower case");
                assert!(!k.contains('='), "TXT key {k:?} holds '='");
            }
        }
        Data::A(_) => {}
    }
}

fn check_name(name: &str) {
    assert!(name.len() <= MAX_NAME, "{} byte name {name:?}", name.len());
    assert_eq!(name, name.to_ascii_lowercase(), "name not lower case");
    assert!(
        encode_name(name).is_some(),
        "name {name:?} is no sequence of 1 to 63 byte labels"
    );
}

/// `records` as an uncompressed response; `None` when a TXT entry grew
/// past what one can hold (invalid UTF-8 read as U+FFFD).
fn encode(records: &[Record]) -> Option<Vec<u8>> {
    let mut p = Vec::new();
    for v in [0u16, 0x8400, 0, records.len() as u16, 0, 0] {
        p.extend_from_slice(&v.to_be_bytes());
    }
    for r in records {
        let (kind, rdata) = match &r.data {
            Data::Ptr(target) => (wire::TYPE_PTR, encode_name(target)?),
            Data::Srv { port, target } => {
                let mut d = vec![0, 0, 0, 0];
                d.extend_from_slice(&port.to_be_bytes());
                d.extend_from_slice(&encode_name(target)?);
                (wire::TYPE_SRV, d)
            }
            Data::Txt(entries) => {
                let mut d = Vec::new();
                for (k, v) in entries {
                    let entry = format!("{k}={v}");
                    d.push(u8::try_from(entry.len()).ok()?);
                    d.extend_from_slice(entry.as_bytes());
                }
                (wire::TYPE_TXT, d)
            }
            Data::A(ip) => (wire::TYPE_A, ip.octets().to_vec()),
        };
        p.extend_from_slice(&encode_name(&r.name)?);
        p.extend_from_slice(&kind.to_be_bytes());
        let class: u16 = if r.flush { 0x8001 } else { 1 };
        p.extend_from_slice(&class.to_be_bytes());
        p.extend_from_slice(&r.ttl.to_be_bytes());
        p.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        p.extend_from_slice(&rdata);
    }
    Some(p)
}

/// `name` in wire form; `None` when it has an empty label or one longer
/// than 63 bytes, which no packet can carry.
fn encode_name(name: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(name.len() + 2);
    if !name.is_empty() {
        for label in name.split('.') {
            let len = u8::try_from(label.len())
                .ok()
                .filter(|l| (1..64).contains(l))?;
            out.push(len);
            out.extend_from_slice(label.as_bytes());
        }
    }
    out.push(0);
    Some(out)
}

fn apply(records: &[Record]) {
    let own: Fingerprint = OWN_KEY.parse().expect("OWN_KEY parses");
    let now = Instant::now();
    let mut table = Table::default();
    // The first source again at the end: heard twice, it adds nothing.
    for last in [1, 2, 3, 1] {
        let from = IpAddr::V4(Ipv4Addr::new(10, 0, 0, last));
        let others: Vec<_> = table
            .peers
            .iter()
            .filter(|(k, _)| !matches!(k, Key::Mdns { from: f, .. } if *f == from))
            .map(|(k, p)| (k.clone(), p.clone()))
            .collect();
        let applied = table.apply(from, records, now, CAPS, Some(own));
        for (k, p) in &others {
            assert_eq!(
                table.peers.get(k),
                Some(p),
                "a packet from {from} changed {k:?}"
            );
        }
        let mut per_source: HashMap<IpAddr, usize> = HashMap::new();
        for (k, p) in &table.peers {
            let Key::Mdns { from, instance } = k else {
                panic!("a packet made seed {k:?}");
            };
            *per_source.entry(*from).or_default() += 1;
            assert_eq!(
                p.source,
                Source::Mdns {
                    instance: instance.clone(),
                    from: *from
                }
            );
            assert_ne!(p.pin, Some(own), "our own advert kept as {k:?}");
            let heard = p.heard.as_ref().expect("an mDNS peer keeps what it heard");
            assert!(heard.ips.len() <= MAX_ADDRS, "{:?}", heard.ips);
            assert!(p.addrs.len() <= MAX_ADDRS, "{:?}", p.addrs);
            for a in &p.addrs {
                assert!(!names_this_host(a), "{k:?} points at this host: {a}");
            }
        }
        assert_eq!(table.len_mdns(), table.peers.len(), "mDNS count drifted");
        assert!(table.len_mdns() <= CAPS.total, "{} kept", table.len_mdns());
        for (source, n) in &per_source {
            assert!(*n <= CAPS.per_source, "{n} kept from {source}");
        }
        let mine = per_source.get(&from).copied().unwrap_or(0);
        assert!(
            applied.to_check <= mine,
            "{applied:?} with {mine} from {from}"
        );
    }
}
