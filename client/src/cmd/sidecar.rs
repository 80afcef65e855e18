//! `serialctl sidecar --config FILE`: every endpoint of a client config, for
//! running beside a gateway in the same pod.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use serialmesh_config::{
    ClientConfig, EndpointConfig, EndpointTarget, LocalUser, LocalUsers, TlsConfig,
};
use tokio_util::sync::CancellationToken;

use crate::dial::pinned::Dialers;
use crate::dial::revocation::Revocation;
use crate::dial::setup::{dialer_for, follow_own_renewals};
use crate::dial::Dialer;
use crate::endpoint::{serve, Local, LocalEnd, Names, Spec};
use crate::resolve::{report_at_start, Resolver};
use crate::route::Route;
use crate::{Error, Result};

/// How the config names the settings of local users, for messages.
const CONFIG_NAMES: Names = Names {
    allow_users: "allow_users",
    pty_owner: "pty_owner",
};

pub async fn run(
    path: &Path,
    admin: Option<SocketAddr>,
    shutdown: CancellationToken,
) -> Result<()> {
    let (config, tls, dialer) = load(path)?;
    let tls = &tls;
    let revocation = dialer.revocation.clone();
    revocation.watch();
    follow_own_renewals(tls, shutdown.clone())?;
    let dialer = Arc::new(dialer);
    // One resolver (one mDNS browse) for every endpoint without an agent.
    let mut resolver: Option<Arc<Resolver>> = None;
    let mut specs = Vec::new();
    for mut e in config.endpoints {
        let route = match e.agent.take() {
            Some(agent) => Route::Fixed {
                agent,
                // Pinned endpoints get a dialer of their own.
                dialer: match e.agent_fingerprint {
                    Some(pin) => Arc::new(dialer_for(tls, Some(pin), &revocation)?),
                    None => dialer.clone(),
                },
            },
            None => {
                let r = match &resolver {
                    Some(r) => r.clone(),
                    None => {
                        let dialers = Arc::new(Dialers::new(tls, revocation.clone())?);
                        let r = Arc::new(Resolver::new(dialers, config.seeds.clone(), true));
                        resolver = Some(r.clone());
                        r
                    }
                };
                report_at_start(&r, &e.device);
                Route::Resolved {
                    resolver: r,
                    pin: e.agent_fingerprint,
                }
            }
        };
        let local = local_end(&e)?;
        specs.push(Spec {
            address: e.device,
            local,
            route: Arc::new(route),
            expect_serial: e.expect_serial,
        });
    }
    serve(specs, admin.or(config.admin), shutdown).await
}

/// An endpoint's local side, checked as [`run`] would use it.
fn local_end(e: &EndpointConfig) -> Result<LocalEnd> {
    Local::from_config(&e.target, e.rfc2217)
        .and_then(|local| LocalEnd::resolve(&local, &CONFIG_NAMES))
        .map_err(|source| {
            Error::usage(InEndpoint {
                device: e.device.to_string(),
                source,
            })
        })
}

/// A problem with one `[[endpoint]]` of the config.
#[derive(Debug, thiserror::Error)]
#[error("endpoint for '{device}': {source}")]
struct InEndpoint {
    device: String,
    source: Error,
}

/// The config with its `[tls]` table loaded into a dialer: everything the
/// sidecar refuses at start (exit status 2).
fn load(path: &Path) -> Result<(ClientConfig, TlsConfig, Dialer)> {
    let config = ClientConfig::load(path)?;
    let tls = config.tls.clone().ok_or_else(|| {
        Error::usage(format!(
            "{}: no [tls] table; add cert, key and ca of this client",
            path.display()
        ))
    })?;
    if config.endpoints.is_empty() {
        return Err(Error::usage(format!(
            "{}: no [[endpoint]] tables; add one with device = \"zwave@shed\" and tcp = \"127.0.0.1:5000\"",
            path.display()
        )));
    }
    let revocation = Revocation::load(config.revoked.clone(), config.revoked_file.clone())?;
    let dialer = dialer_for(&tls, None, &revocation)?;
    Ok((config, tls, dialer))
}

/// `serialctl sidecar --config FILE --check`: what [`run`] would refuse,
/// found without binding anything (for a config in a ConfigMap or image).
pub fn check(path: &Path) -> Result<()> {
    let (config, _, dialer) = load(path)?;
    let mut out = vec![format!("{}: OK", path.display())];
    out.push(format!(
        "  client {} (certificate, key and CA usable)",
        dialer.client_name
    ));
    if let Some(admin) = config.admin {
        out.push(format!("  admin http://{admin}"));
    }
    if !config.seeds.is_empty() {
        out.push(format!("  seeds {}", config.seeds.join(", ")));
    }
    let revoked = dialer.revocation.deny_list().len();
    match &config.revoked_file {
        Some(file) => out.push(format!(
            "  {revoked} revoked agent certificate(s), following {}",
            file.display()
        )),
        None if revoked > 0 => out.push(format!("  {revoked} revoked agent certificate(s)")),
        None => {}
    }
    for e in &config.endpoints {
        // What run would refuse at start: unknown users, an unsafe pty
        // directory (nothing is created or bound).
        local_end(e)?;
        let local = match &e.target {
            EndpointTarget::Tcp { listen, users } => match users {
                LocalUsers::Anyone => format!("tcp://{listen}"),
                LocalUsers::Only(u) => format!("tcp://{listen} for {}", list(u)),
            },
            EndpointTarget::Pty { link, owner } => match owner {
                Some(o) => format!("pty {} owned by {o}", link.display()),
                None => format!("pty {}", link.display()),
            },
        };
        let agent = e
            .agent
            .as_deref()
            .unwrap_or("resolved through mDNS and seeds");
        out.push(format!(
            "  endpoint {} on {local} (agent: {agent})",
            e.device
        ));
    }
    println!("{}", out.join("\n"));
    Ok(())
}

fn list(users: &[LocalUser]) -> String {
    let names: Vec<String> = users.iter().map(ToString::to_string).collect();
    names.join(", ")
}
