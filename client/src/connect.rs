//! `serialctl connect`: one endpoint in the foreground.

use std::sync::Arc;

use anyhow::{anyhow, Result};
use serialmesh_config::{check_host_port, Address, ClientConfig, EndpointTarget, TlsConfig};
use serialmesh_pki::{DenyList, Fingerprint, TlsFiles};
use tokio_util::sync::CancellationToken;

use crate::cli::{ConnectArgs, TlsArgs};
use crate::dial::Dialer;
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
    let dialer = Arc::new(dialer(&args.tls, pin)?);
    let (agent, resolver) = match args.agent {
        Some(agent) => {
            check_host_port("--agent", &agent).map_err(UsageError)?;
            (agent, None)
        }
        None => {
            let (tls, seeds) = crate::dial_pinned::tls_and_seeds(&args.tls)?;
            let dialers = Arc::new(crate::dial_pinned::Dialers::new(&tls)?);
            let resolver = Arc::new(crate::resolve::Resolver::new(dialers, seeds, true));
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

/// Builds the TLS side from --cert/--key/--ca or a config's [tls] table.
/// Problems here are configuration problems (exit status 2).
pub fn dialer(args: &TlsArgs, pin: Option<Fingerprint>) -> Result<Dialer> {
    let tls: TlsConfig = match (&args.cert, &args.key, &args.ca, &args.config) {
        (Some(cert), Some(key), Some(ca), None) => TlsConfig {
            cert: cert.clone(),
            key: key.clone(),
            ca: ca.clone(),
        },
        (None, None, None, Some(path)) => ClientConfig::load(path)
            .map_err(|e| UsageError(e.to_string()))?
            .tls
            .ok_or_else(|| UsageError(format!("{} has no [tls] table with cert, key and ca", path.display())))?,
        _ => {
            return Err(UsageError(
                "give this client's certificate with --cert FILE --key FILE --ca FILE, or --config FILE".into(),
            )
            .into())
        }
    };
    dialer_for(&tls, pin)
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
/// certificate of that fingerprint is accepted.
pub fn dialer_for(tls: &TlsConfig, pin: Option<Fingerprint>) -> Result<Dialer> {
    let files = TlsFiles {
        cert: tls.cert.clone(),
        key: tls.key.clone(),
        ca: tls.ca.clone(),
    };
    let config = serialmesh_pki::client_config(&files, DenyList::default(), pin)
        .map_err(|e| UsageError(e.to_string()))?;
    let certs = serialmesh_pki::load_certs(&files.cert).map_err(|e| UsageError(e.to_string()))?;
    let first = certs
        .first()
        .ok_or_else(|| anyhow!("{} holds no certificate", files.cert.display()))?;
    let identity = serialmesh_pki::identity_of(first).map_err(|e| UsageError(e.to_string()))?;
    Ok(Dialer::new(config, identity.name))
}
