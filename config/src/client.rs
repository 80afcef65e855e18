//! `serialctl` client configuration (sidecar endpoints, seeds, TLS).

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;
use serialmesh_pki::Fingerprint;
use toml::Spanned;

use crate::agent::parse_listen;
use crate::load::Ctx;
use crate::local_users::{allow_users_unusable_on, LocalUser, LocalUsers};
use crate::{check_host_port, Address, ConfigError, TlsConfig};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    pub tls: Option<TlsConfig>,
    /// Health and metrics HTTP address (`/healthz`, `/readyz`, `/metrics`).
    pub admin: Option<SocketAddr>,
    pub seeds: Vec<String>,
    pub endpoints: Vec<EndpointConfig>,
    /// Agent certificates refused at the handshake (`revoked = [..]`).
    pub revoked: Vec<Fingerprint>,
    /// A file of revoked fingerprints, re-read when it changes.
    pub revoked_file: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointConfig {
    pub device: Address,
    pub target: EndpointTarget,
    /// `host:port` of the agent; without it the address is resolved.
    pub agent: Option<String>,
    /// Accept only the agent certificate with this SHA-256 fingerprint.
    pub agent_fingerprint: Option<Fingerprint>,
    /// A TCP endpoint that speaks RFC 2217 (telnet COM-PORT-OPTION)
    /// instead of raw bytes.
    pub rfc2217: bool,
    /// The USB serial number the device must have (`expect_serial`):
    /// another device under that name is refused, and retried like an
    /// absent one.
    pub expect_serial: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndpointTarget {
    /// A TCP listener, open to `users` (`allow_users`).
    Tcp {
        listen: SocketAddr,
        users: LocalUsers,
    },
    /// A pty whose slave is symlinked at `link`, owned by `owner`
    /// (`pty_owner`; None: the user running the client), mode 0600.
    Pty {
        link: PathBuf,
        owner: Option<LocalUser>,
    },
}

impl EndpointTarget {
    /// Whether two endpoints would take the same local address.
    pub fn same_place(&self, other: &EndpointTarget) -> bool {
        match (self, other) {
            (Self::Tcp { listen: a, .. }, Self::Tcp { listen: b, .. }) => a == b,
            (Self::Pty { link: a, .. }, Self::Pty { link: b, .. }) => a == b,
            _ => false,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawClient {
    tls: Option<TlsConfig>,
    admin: Option<Spanned<String>>,
    #[serde(default)]
    seeds: Vec<Spanned<String>>,
    #[serde(default)]
    endpoint: Vec<RawEndpoint>,
    #[serde(default)]
    revoked: Vec<Spanned<String>>,
    revoked_file: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEndpoint {
    device: Spanned<String>,
    tcp: Option<Spanned<String>>,
    pty: Option<PathBuf>,
    agent: Option<Spanned<String>>,
    agent_fingerprint: Option<Spanned<String>>,
    rfc2217: Option<Spanned<bool>>,
    allow_users: Option<Spanned<Vec<Spanned<String>>>>,
    pty_owner: Option<Spanned<String>>,
    expect_serial: Option<Spanned<String>>,
}

impl RawClient {
    pub(crate) fn validate(self, ctx: &Ctx) -> Result<ClientConfig, ConfigError> {
        let mut seeds = Vec::new();
        for s in self.seeds {
            check_host_port("seed", s.get_ref()).map_err(|m| ctx.at(s.span(), m, None))?;
            seeds.push(s.into_inner());
        }
        let mut endpoints: Vec<EndpointConfig> = Vec::new();
        for e in self.endpoint {
            let device: Address = e
                .device
                .get_ref()
                .parse()
                .map_err(|m| ctx.at(e.device.span(), m, None))?;
            let target = match (e.tcp, e.pty) {
                (Some(t), None) => {
                    let listen = parse_listen(t.get_ref()).map_err(|m| {
                        ctx.at(
                            t.span(),
                            m,
                            Some("write HOST:PORT, e.g. \"127.0.0.1:5000\"".into()),
                        )
                    })?;
                    let users = allow_users(ctx, &device, &listen, e.allow_users)?;
                    EndpointTarget::Tcp { listen, users }
                }
                (None, Some(p)) => {
                    if let Some(a) = e.allow_users {
                        return Err(ctx.at(
                            a.span(),
                            format!("endpoint for '{device}': allow_users is for tcp endpoints; a pty is guarded by its owner and mode 0600"),
                            Some("remove allow_users; pty_owner = \"USER\" gives the pty to the gateway's user".into()),
                        ));
                    }
                    let owner = match e.pty_owner {
                        Some(o) => Some(o.get_ref().parse::<LocalUser>().map_err(|m| {
                            ctx.at(o.span(), format!("pty_owner: {m}"), Some("write a user name or a numeric uid, e.g. pty_owner = \"zwave\"".into()))
                        })?),
                        None => None,
                    };
                    EndpointTarget::Pty {
                        link: ctx.resolve(p),
                        owner,
                    }
                }
                _ => {
                    return Err(ctx.at(
                        e.device.span(),
                        format!("endpoint for '{device}' needs exactly one of tcp or pty"),
                        Some("add tcp = \"127.0.0.1:5000\" or pty = \"/dev/ttyZWAVE\"".into()),
                    ))
                }
            };
            let rfc2217 = match e.rfc2217 {
                Some(r) if *r.get_ref() && matches!(target, EndpointTarget::Pty { .. }) => {
                    return Err(ctx.at(
                        r.span(),
                        format!("endpoint for '{device}': rfc2217 needs a tcp endpoint; a pty carries line settings through its termios"),
                        Some("remove rfc2217, or use tcp = \"127.0.0.1:5000\"".into()),
                    ))
                }
                Some(r) => r.into_inner(),
                None => false,
            };
            if endpoints.iter().any(|o| o.target.same_place(&target)) {
                return Err(ctx.at(
                    e.device.span(),
                    format!("endpoint for '{device}' reuses the local address of another endpoint"),
                    None,
                ));
            }
            let agent = match e.agent {
                Some(a) => {
                    check_host_port("agent", a.get_ref()).map_err(|m| ctx.at(a.span(), m, None))?;
                    Some(a.into_inner())
                }
                None => None,
            };
            let agent_fingerprint = match e.agent_fingerprint {
                Some(f) => Some(f.get_ref().parse::<Fingerprint>().map_err(|err| {
                    ctx.at(
                        f.span(),
                        format!("agent_fingerprint: {err}"),
                        Some("`serialctl pki show AGENT.pem` prints it; `serialctl ls --json` shows each agent's".into()),
                    )
                })?),
                None => None,
            };
            let expect_serial = match e.expect_serial {
                Some(s) if s.get_ref().trim().is_empty() => {
                    return Err(ctx.at(
                        s.span(),
                        format!("endpoint for '{device}': expect_serial is empty"),
                        Some("give the USB serial number the device must have, as `serialctl ls` or `seriald devices` shows it; or remove expect_serial".into()),
                    ))
                }
                Some(s) => Some(s.get_ref().trim().to_owned()),
                None => None,
            };
            endpoints.push(EndpointConfig {
                device,
                target,
                agent,
                agent_fingerprint,
                rfc2217,
                expect_serial,
            });
        }
        let admin = match self.admin {
            Some(a) => Some(parse_listen(a.get_ref()).map_err(|m| {
                ctx.at(
                    a.span(),
                    m,
                    Some("write HOST:PORT, e.g. \"127.0.0.1:9101\"".into()),
                )
            })?),
            None => None,
        };
        Ok(ClientConfig {
            admin,
            tls: self.tls.map(|t| ctx.resolve_tls(t)),
            seeds,
            endpoints,
            revoked: crate::revoked::parse_list(ctx, self.revoked)?,
            revoked_file: self.revoked_file.map(|p| ctx.resolve(p)),
        })
    }
}

/// `allow_users` of a TCP endpoint on `listen`: checked for a loopback
/// address and a non-empty list of well-formed users.
fn allow_users(
    ctx: &Ctx,
    device: &Address,
    listen: &SocketAddr,
    raw: Option<Spanned<Vec<Spanned<String>>>>,
) -> Result<LocalUsers, ConfigError> {
    let Some(raw) = raw else {
        return Ok(LocalUsers::Anyone);
    };
    if let Some(why) = allow_users_unusable_on(listen) {
        return Err(ctx.at(
            raw.span(),
            format!("endpoint for '{device}': allow_users {why}"),
            Some("listen on 127.0.0.1 (or [::1]) with the gateway on this host, or remove allow_users".into()),
        ));
    }
    let span = raw.span();
    let mut users = Vec::new();
    for u in raw.into_inner() {
        users.push(u.get_ref().parse::<LocalUser>().map_err(|m| {
            ctx.at(
                u.span(),
                format!("allow_users: {m}"),
                Some(
                    "write user names or numeric uids, e.g. allow_users = [\"zwave\", \"1000\"]"
                        .into(),
                ),
            )
        })?);
    }
    if users.is_empty() {
        return Err(ctx.at(
            span,
            format!("endpoint for '{device}': allow_users is empty, so nobody could connect"),
            Some(
                "name the gateway's user, e.g. allow_users = [\"zwave\"], or remove allow_users"
                    .into(),
            ),
        ));
    }
    Ok(LocalUsers::Only(users))
}
