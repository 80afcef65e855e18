//! `serialctl connect`: one endpoint in the foreground.

use std::sync::Arc;

use anyhow::Result;
use serialmesh_config::{check_host_port, Address, EndpointTarget, TlsConfig};
use serialmesh_pki::Fingerprint;
use tokio_util::sync::CancellationToken;

use crate::cli::ConnectArgs;
use crate::dial::Dialer;
use crate::dial_pinned::{client_setup, files_and_name, Dialers};
use crate::revocation::Revocation;
use crate::serve::{serve, Spec};
use crate::UsageError;

pub async fn run(args: ConnectArgs, shutdown: CancellationToken) -> Result<()> {
    let address: Address = args.address.parse().map_err(UsageError)?;
    if args.rfc2217 && args.tcp.is_none() {
        return Err(UsageError(
            "--rfc2217 needs a TCP endpoint: give --tcp HOST:PORT (a pty carries line settings through its termios)".into(),
        )
        .into());
    }
    let local = match (args.tcp, args.pty) {
        (Some(tcp), None) => EndpointTarget::Tcp(tcp),
        (None, Some(pty)) => EndpointTarget::Pty(pty),
        _ => {
            return Err(UsageError(
                "give one local endpoint: --tcp HOST:PORT (e.g. --tcp 127.0.0.1:5000) or --pty PATH (e.g. --pty /dev/ttyZWAVE)"
                    .into(),
            )
            .into())
        }
    };
    let pin = parse_pin(args.agent_fingerprint.as_deref())?;
    let setup = client_setup(&args.tls)?;
    setup.revocation.watch();
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
