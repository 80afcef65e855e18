//! Agents the resolver knows how to reach, and how it came to know them
//! (mDNS, a seed, another agent's peers): kept apart from the browse and
//! the survey that both make and read them.

use serialmesh_pki::Fingerprint;

/// The most agents one survey follows, and one browse keeps: adverts are
/// free to send, so anyone on the LAN could otherwise make every lookup
/// ask thousands of addresses.
pub const MAX_CANDIDATES: usize = 256;

/// How an agent became known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Mdns,
    Seed,
    /// Reported in the peers of the agent named `via`.
    Peer {
        via: String,
    },
}

impl Source {
    pub fn as_str(&self) -> &'static str {
        match self {
            Source::Mdns => "mdns",
            Source::Seed => "seed",
            Source::Peer { .. } => "peer",
        }
    }
}

/// An agent we know how to reach, before asking it anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentInfo {
    /// From the mDNS advertisement; unknown for seeds and peers until asked.
    pub name: Option<String>,
    pub zone: Option<String>,
    /// `host:port`, best first.
    pub addrs: Vec<String>,
    /// The certificate fingerprint it was advertised with.
    pub fingerprint: Option<Fingerprint>,
    pub source: Source,
    /// The mDNS instance name, to flush it when the agent stops answering.
    pub(super) fullname: Option<String>,
}

impl AgentInfo {
    pub(super) fn at(addr: &str, source: Source, fingerprint: Option<Fingerprint>) -> Self {
        AgentInfo {
            name: None,
            zone: None,
            addrs: vec![addr.to_string()],
            fingerprint,
            source,
            fullname: None,
        }
    }
}
