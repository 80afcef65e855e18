//! `serialctl connect`: one endpoint in the foreground.
//!
//! The flags are checked here, in the order a user reads the messages:
//! the address, then what the endpoint is, then who may use it, then trust.
//! Each message names the flag to change, because `connect` is what
//! someone types while setting a gateway up.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use serialmesh_config::{check_host_port, Address, EndpointTarget, LocalUser, LocalUsers};
use tokio_util::sync::CancellationToken;

use crate::dial::pinned::Dialers;
use crate::dial::setup::{client_setup, dialer_for, follow_own_renewals, TlsSource};
use crate::endpoint::{serve, LocalEnd, Names, Spec, Wire};
use crate::resolve::{report_at_start, Resolver};
use crate::route::Route;
use crate::{Error, Result};

/// What `serialctl connect ADDRESS ...` was given, as given: [`run`]
/// checks it.
pub struct Request {
    /// `NAME@ZONE`, `NAME@AGENT` or `NAME`.
    pub address: String,
    pub tcp: Option<SocketAddr>,
    /// The TCP endpoint speaks RFC 2217.
    pub rfc2217: bool,
    /// `--allow-user`: names or uids.
    pub allow_user: Vec<String>,
    pub pty: Option<PathBuf>,
    pub pty_owner: Option<String>,
    /// `--agent HOST:PORT`; without it the address is resolved.
    pub agent: Option<String>,
    pub admin: Option<SocketAddr>,
    pub agent_fingerprint: Option<String>,
    /// `None`: the command line named no certificate.
    pub tls: Option<TlsSource>,
}

/// How the flags of local users are named, for messages.
const FLAG_NAMES: Names = Names {
    allow_users: "--allow-user",
    pty_owner: "--pty-owner",
    rfc2217: "--rfc2217",
};

pub async fn run(args: Request, shutdown: CancellationToken) -> Result<()> {
    let address: Address = args.address.parse().map_err(Error::usage)?;
    if args.rfc2217 && args.tcp.is_none() {
        return Err(Error::usage(
            "--rfc2217 needs a TCP endpoint: give --tcp HOST:PORT (a pty carries line settings through its termios)",
        ));
    }
    if !args.allow_user.is_empty() && args.tcp.is_none() {
        return Err(Error::usage(
            "--allow-user needs a TCP endpoint: give --tcp 127.0.0.1:PORT (a pty is guarded by its owner and mode 0600; see --pty-owner)",
        ));
    }
    if args.pty_owner.is_some() && args.pty.is_none() {
        return Err(Error::usage(
            "--pty-owner needs a pty endpoint: give --pty PATH (for a TCP endpoint, --allow-user USER limits who may connect)",
        ));
    }
    let target = match (args.tcp, args.pty) {
        (Some(listen), None) => EndpointTarget::Tcp {
            listen,
            users: local_users("--allow-user", &args.allow_user)?,
        },
        (None, Some(link)) => EndpointTarget::Pty {
            link,
            owner: args
                .pty_owner
                .as_deref()
                .map(|o| {
                    o.parse()
                        .map_err(|m| Error::usage(format!("--pty-owner: {m}")))
                })
                .transpose()?,
        },
        _ => {
            return Err(Error::usage(
                "give one local endpoint: --tcp HOST:PORT (e.g. --tcp 127.0.0.1:5000) or --pty PATH (e.g. --pty /dev/ttyZWAVE)",
            ))
        }
    };
    let wire = if args.rfc2217 {
        Wire::Rfc2217
    } else {
        Wire::Raw
    };
    let local = LocalEnd::resolve(&target, wire, &FLAG_NAMES)?;
    let pin = super::parse_pin(args.agent_fingerprint.as_deref())?;
    let setup = client_setup(args.tls.as_ref())?;
    setup.revocation.watch();
    follow_own_renewals(&setup.tls, shutdown.clone())?;
    let route = match args.agent {
        Some(agent) => {
            let dialer = Arc::new(dialer_for(&setup.tls, pin, &setup.revocation)?);
            check_host_port("--agent", &agent).map_err(Error::usage)?;
            Route::Fixed { agent, dialer }
        }
        None => {
            let dialers = Arc::new(Dialers::new(&setup.tls, setup.revocation.clone())?);
            let resolver = Arc::new(Resolver::new(dialers, setup.seeds, true));
            report_at_start(&resolver, &address);
            Route::Resolved { resolver, pin }
        }
    };
    let spec = Spec {
        address,
        local,
        route: Arc::new(route),
    };
    serve(vec![spec], args.admin, shutdown).await
}

/// `--allow-user` values: nobody named means anyone may connect.
fn local_users(what: &str, users: &[String]) -> Result<LocalUsers> {
    if users.is_empty() {
        return Ok(LocalUsers::Anyone);
    }
    let users = users
        .iter()
        .map(|u| {
            u.parse::<LocalUser>()
                .map_err(|m| Error::usage(format!("{what}: {m}")))
        })
        .collect::<Result<_>>()?;
    Ok(LocalUsers::Only(users))
}
