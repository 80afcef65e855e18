//! `serialctl connect`: one endpoint in the foreground.

use std::sync::Arc;

use anyhow::Result;
use serialmesh_config::{
    check_host_port, Address, EndpointTarget, LocalUser, LocalUsers, TlsConfig,
};
use serialmesh_pki::Fingerprint;
use tokio_util::sync::CancellationToken;

use crate::cli::ConnectArgs;
use crate::dial::Dialer;
use crate::dial_pinned::{client_setup, files_and_name, Dialers};
use crate::revocation::Revocation;
use crate::serve::{serve, LocalEnd, Names, Spec};
use crate::UsageError;

pub async fn run(args: ConnectArgs, shutdown: CancellationToken) -> Result<()> {
    let address: Address = args.address.parse().map_err(UsageError)?;
    if args.rfc2217 && args.tcp.is_none() {
        return Err(UsageError(
            "--rfc2217 needs a TCP endpoint: give --tcp HOST:PORT (a pty carries line settings through its termios)".into(),
        )
        .into());
    }
    if !args.allow_user.is_empty() && args.tcp.is_none() {
        return Err(UsageError(
            "--allow-user needs a TCP endpoint: give --tcp 127.0.0.1:PORT (a pty is guarded by its owner and mode 0600; see --pty-owner)".into(),
        )
        .into());
    }
    if args.pty_owner.is_some() && args.pty.is_none() {
        return Err(UsageError(
            "--pty-owner needs a pty endpoint: give --pty PATH (for a TCP endpoint, --allow-user USER limits who may connect)".into(),
        )
        .into());
    }
    let target = match (args.tcp, args.pty) {
        (Some(listen), None) => EndpointTarget::Tcp {
            listen,
            users: local_users("--allow-user", &args.allow_user)?,
        },
        (None, Some(link)) => EndpointTarget::Pty {
            link,
            owner: match &args.pty_owner {
                Some(o) => Some(
                    o.parse()
                        .map_err(|m| UsageError(format!("--pty-owner: {m}")))?,
                ),
                None => None,
            },
        },
        _ => {
            return Err(UsageError(
                "give one local endpoint: --tcp HOST:PORT (e.g. --tcp 127.0.0.1:5000) or --pty PATH (e.g. --pty /dev/ttyZWAVE)"
                    .into(),
            )
            .into())
        }
    };
    let names = Names {
        allow_users: "--allow-user",
        pty_owner: "--pty-owner",
    };
    let local = LocalEnd::resolve(&target, &names)?;
    let pin = parse_pin(args.agent_fingerprint.as_deref())?;
    let setup = client_setup(&args.tls)?;
    setup.revocation.watch();
    crate::dial_pinned::follow_own_renewals(&setup.tls, shutdown.clone())?;
    let dialer = Arc::new(dialer_for(&setup.tls, pin, &setup.revocation)?);
    let (agent, resolver) = match args.agent {
        Some(agent) => {
            check_host_port("--agent", &agent).map_err(UsageError)?;
            (agent, None)
        }
        None => {
            let dialers = Arc::new(Dialers::new(&setup.tls, setup.revocation.clone())?);
            let resolver = Arc::new(crate::resolve::Resolver::new(dialers, setup.seeds, true));
            crate::resolve::report_at_start(&resolver, &address);
            (
                "(resolved through mDNS and seeds)".to_string(),
                Some(resolver),
            )
        }
    };
    let spec = Spec {
        pin,
        dialer: None,
        address,
        local,
        agent,
        resolver,
        rfc2217: args.rfc2217,
    };
    serve(dialer, vec![spec], args.admin, shutdown).await
}

/// `--allow-user` values: nobody named means anyone may connect.
fn local_users(what: &str, users: &[String]) -> Result<LocalUsers, UsageError> {
    if users.is_empty() {
        return Ok(LocalUsers::Anyone);
    }
    let users = users
        .iter()
        .map(|u| {
            u.parse::<LocalUser>()
                .map_err(|m| UsageError(format!("{what}: {m}")))
        })
        .collect::<Result<_, _>>()?;
    Ok(LocalUsers::Only(users))
}

/// `--agent-fingerprint HEX`, checked (a bad one is a usage error).
pub fn parse_pin(hex: Option<&str>) -> Result<Option<Fingerprint>> {
    match hex {
        Some(h) => {
            Ok(Some(h.parse().map_err(|e| {
                UsageError(format!("--agent-fingerprint: {e}"))
            })?))
        }
        None => Ok(None),
    }
}

/// Builds the TLS side from a `[tls]` table; with `pin`, only the agent
/// certificate of that fingerprint is accepted, and never one `revocation`
/// holds.
pub fn dialer_for(
    tls: &TlsConfig,
    pin: Option<Fingerprint>,
    revocation: &Arc<Revocation>,
) -> Result<Dialer> {
    let (files, name) = files_and_name(tls)?;
    Ok(Dialer::with_pin(&files, &name, pin, revocation).map_err(|e| UsageError(e.to_string()))?)
}
