//! Which side of a connection a certificate may stand on.

use std::fmt;
use std::str::FromStr;

use crate::PkiError;

/// The role a certificate is issued for. Agents serve devices, clients
/// reach them; a certificate is only ever accepted in its own role, so a
/// stolen client key cannot impersonate an agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    Agent,
    Client,
}

impl Role {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Client => "client",
        }
    }

    /// The TLS extended key usage that goes with the role: agents are TLS
    /// servers, clients are TLS clients.
    pub(crate) fn eku_name(self) -> &'static str {
        match self {
            Role::Agent => "serverAuth",
            Role::Client => "clientAuth",
        }
    }

    /// DER content of the EKU object identifier, as webpki wants it.
    pub(crate) fn eku_oid(self) -> &'static [u8] {
        match self {
            // 1.3.6.1.5.5.7.3.1
            Role::Agent => &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01],
            // 1.3.6.1.5.5.7.3.2
            Role::Client => &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x02],
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = PkiError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "agent" => Ok(Role::Agent),
            "client" => Ok(Role::Client),
            _ => Err(PkiError::InvalidRole {
                value: s.to_string(),
            }),
        }
    }
}
