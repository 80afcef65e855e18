//! Local users an endpoint is for: `allow_users` on a TCP endpoint and
//! `pty_owner` on a pty endpoint.
//!
//! Names are kept as written and looked up on the host when the client
//! starts (the config may be checked on another machine, and a container
//! may have no passwd entry for a numeric uid): this crate only parses.

use std::fmt;
use std::net::SocketAddr;

/// A local user: a name from the host's user database, or a numeric uid
/// (written as digits, e.g. "1000").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalUser {
    Name(String),
    Uid(u32),
}

impl std::str::FromStr for LocalUser {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if s.is_empty() {
            return Err("an empty user name".into());
        }
        if s.bytes().all(|b| b.is_ascii_digit()) {
            return s
                .parse()
                .map(LocalUser::Uid)
                .map_err(|_| format!("uid {s} is out of range"));
        }
        if s.chars().any(|c| c.is_whitespace() || c == ':' || c == '/') {
            return Err(format!("'{s}' is not a user name"));
        }
        Ok(LocalUser::Name(s.to_string()))
    }
}

impl fmt::Display for LocalUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LocalUser::Name(n) => f.write_str(n),
            LocalUser::Uid(u) => write!(f, "uid {u}"),
        }
    }
}

/// Who may connect to a local TCP endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalUsers {
    /// Anyone who can reach the address (the default).
    Anyone,
    /// Only connections whose socket belongs to one of these users; never
    /// empty.
    Only(Vec<LocalUser>),
}

/// Why `allow_users` cannot guard `listen` (to follow the setting's name),
/// or None if it can: the kernel
/// knows the owner of the connecting socket only for connections made on
/// this host, which only a loopback address guarantees.
pub fn allow_users_unusable_on(listen: &SocketAddr) -> Option<String> {
    (!listen.ip().is_loopback()).then(|| {
        format!(
            "needs a loopback listen address, not {listen}: of a connection from another host \
             nobody can tell which user made it"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_are_a_uid_and_anything_else_a_name() {
        assert_eq!("1000".parse(), Ok(LocalUser::Uid(1000)));
        assert_eq!("zwave".parse(), Ok(LocalUser::Name("zwave".into())));
        assert!("".parse::<LocalUser>().is_err());
        assert!("a b".parse::<LocalUser>().is_err());
        assert!("99999999999".parse::<LocalUser>().is_err());
    }

    #[test]
    fn endpoints_name_their_users() {
        let c = crate::parse_client(
            "[[endpoint]]\ndevice = \"zwave@shed\"\ntcp = \"127.0.0.1:5000\"\nallow_users = [\"zwave\", \"1000\"]\n\
             [[endpoint]]\ndevice = \"zigbee@shed\"\npty = \"/run/serialmesh/ttyZIGBEE\"\npty_owner = \"zigbee\"\n\
             [[endpoint]]\ndevice = \"rs232@shed\"\ntcp = \"127.0.0.1:5001\"\n",
            std::path::Path::new("c.toml"),
        )
        .unwrap();
        let only = LocalUsers::Only(vec![LocalUser::Name("zwave".into()), LocalUser::Uid(1000)]);
        assert_eq!(
            c.endpoints[0].target,
            crate::EndpointTarget::Tcp {
                listen: "127.0.0.1:5000".parse().unwrap(),
                users: only
            }
        );
        assert_eq!(
            c.endpoints[1].target,
            crate::EndpointTarget::Pty {
                link: "/run/serialmesh/ttyZIGBEE".into(),
                owner: Some(LocalUser::Name("zigbee".into()))
            }
        );
        assert!(matches!(
            c.endpoints[2].target,
            crate::EndpointTarget::Tcp {
                users: LocalUsers::Anyone,
                ..
            }
        ));
    }

    #[test]
    fn only_loopback_addresses_can_be_restricted() {
        assert_eq!(
            allow_users_unusable_on(&"127.0.0.1:1".parse().unwrap()),
            None
        );
        assert_eq!(allow_users_unusable_on(&"[::1]:1".parse().unwrap()), None);
        let e = allow_users_unusable_on(&"0.0.0.0:5000".parse().unwrap()).unwrap();
        assert!(e.contains("not 0.0.0.0:5000"), "{e}");
    }
}
