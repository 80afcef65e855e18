//! The few parts of the DNS message format (RFC 1035, RFC 6762) a browse
//! for one service type needs: reading the records of a response, and
//! writing one question.
//!
//! Every packet comes from anyone on the link, so nothing read here is
//! trusted and nothing grows with what the packet says: names are at most
//! 255 bytes, of labels without dots, and follow at most [`MAX_JUMPS`] compression pointers, each
//! pointing backwards (no loops); TXT records keep at most [`MAX_TXT`]
//! entries; a packet yields at most [`MAX_RECORDS`] records.

use std::net::Ipv4Addr;

/// Compression pointers followed per name.
const MAX_JUMPS: usize = 16;
pub const MAX_NAME: usize = 255;
pub const MAX_RECORDS: usize = 64;
pub const MAX_TXT: usize = 16;

pub const TYPE_A: u16 = 1;
pub const TYPE_PTR: u16 = 12;
pub const TYPE_TXT: u16 = 16;
pub const TYPE_SRV: u16 = 33;

/// One resource record of a response. Names are lower case (ASCII, as DNS
/// names compare), without the trailing dot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub name: String,
    pub ttl: u32,
    /// The cache-flush bit (RFC 6762 10.2): this record replaces the
    /// others of its name and type.
    pub flush: bool,
    pub data: Data,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Data {
    Ptr(String),
    Srv { port: u16, target: String },
    Txt(Vec<(String, String)>),
    A(Ipv4Addr),
}

/// How many records a packet says it carries (answers, authorities,
/// additionals), whatever they are; 0 for a query or a runt.
pub fn record_count(p: &[u8]) -> usize {
    let word = |at: usize| {
        p.get(at..at + 2)
            .map_or(0, |w| usize::from(u16::from_be_bytes([w[0], w[1]])))
    };
    if p.len() < 12 || p[2] & 0x80 == 0 {
        return 0;
    }
    word(6) + word(8) + word(10)
}

/// The PTR, SRV, TXT and A records of an mDNS response (answers,
/// authorities and additionals alike); `None` for a query or a packet that
/// does not parse. Other record types are skipped.
pub fn parse(p: &[u8]) -> Option<Vec<Record>> {
    let word = |at: usize| Some(u16::from_be_bytes([*p.get(at)?, *p.get(at + 1)?]));
    let flags = word(2)?;
    if flags & 0x8000 == 0 {
        return None; // a query
    }
    let questions = word(4)?;
    let records = usize::from(word(6)?) + usize::from(word(8)?) + usize::from(word(10)?);
    let mut at = 12;
    for _ in 0..questions {
        at = name(p, at)?.1 + 4;
    }
    let mut out = Vec::new();
    for _ in 0..records {
        let (owner, end) = name(p, at)?;
        let kind = word(end)?;
        let class = word(end + 2)?;
        let ttl = u32::from_be_bytes(p.get(end + 4..end + 8)?.try_into().ok()?);
        let len = usize::from(word(end + 8)?);
        let start = end + 10;
        let rdata = p.get(start..start + len)?;
        at = start + len;
        let data = match kind {
            TYPE_PTR => Data::Ptr(name(p, start)?.0),
            TYPE_SRV => Data::Srv {
                port: word(start + 4)?,
                target: name(p, start + 6)?.0,
            },
            TYPE_TXT => Data::Txt(txt(rdata)),
            TYPE_A => Data::A(Ipv4Addr::from(<[u8; 4]>::try_from(rdata).ok()?)),
            _ => continue,
        };
        if out.len() == MAX_RECORDS {
            break;
        }
        out.push(Record {
            name: owner,
            ttl,
            flush: class & 0x8000 != 0,
            data,
        });
    }
    Some(out)
}

/// A name starting at `at`: the name (lower case, dot-separated) and where
/// the bytes after it start.
fn name(p: &[u8], mut at: usize) -> Option<(String, usize)> {
    let mut out = String::new();
    let mut end = None;
    let mut jumps = 0;
    loop {
        let len = usize::from(*p.get(at)?);
        match len & 0xC0 {
            0x00 if len == 0 => {
                return Some((out, end.unwrap_or(at + 1)));
            }
            0x00 => {
                let label = p.get(at + 1..at + 1 + len)?;
                if out.len() + len + 1 > MAX_NAME {
                    return None;
                }
                if !out.is_empty() {
                    out.push('.');
                }
                // Labels are bytes; anything not UTF-8 is not a name an
                // agent would use. Nor is a dot inside a label: it would
                // read as a boundary, so the name would not be the labels
                // it came from (agent names are letters, digits, '-', '_').
                let label = std::str::from_utf8(label).ok()?;
                if label.contains('.') {
                    return None;
                }
                // ASCII only, as DNS compares names (RFC 4343): full
                // Unicode lower-casing can make a label longer than the
                // packet's (U+023A, 2 bytes, becomes U+2C65, 3 bytes),
                // past the 255 bytes checked above.
                out.push_str(&label.to_ascii_lowercase());
                at += 1 + len;
            }
            0xC0 => {
                let target = (len & 0x3F) << 8 | usize::from(*p.get(at + 1)?);
                jumps += 1;
                if target >= at || jumps > MAX_JUMPS {
                    return None;
                }
                end.get_or_insert(at + 2);
                at = target;
            }
            _ => return None,
        }
    }
}

fn txt(mut data: &[u8]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    while let Some((&len, rest)) = data.split_first() {
        let Some(entry) = rest.get(..usize::from(len)) else {
            break;
        };
        data = &rest[usize::from(len)..];
        if out.len() == MAX_TXT {
            break;
        }
        let entry = String::from_utf8_lossy(entry);
        if let Some((k, v)) = entry.split_once('=') {
            // Keys are ASCII and compared without case (RFC 6763 6.4).
            out.push((k.to_ascii_lowercase(), v.to_string()));
        }
    }
    out
}

/// A query for the PTR records of `service` (e.g. `_serialmesh._tcp.local`),
/// asking for multicast answers, so every browser on the link hears them.
pub fn query(service: &str) -> Vec<u8> {
    let mut p = Vec::with_capacity(64);
    for v in [0u16, 0, 1, 0, 0, 0] {
        p.extend_from_slice(&v.to_be_bytes());
    }
    for label in service.trim_end_matches('.').split('.') {
        p.push(label.len() as u8);
        p.extend_from_slice(label.as_bytes());
    }
    p.push(0);
    p.extend_from_slice(&TYPE_PTR.to_be_bytes());
    p.extend_from_slice(&1u16.to_be_bytes());
    p
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
