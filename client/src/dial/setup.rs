//! What every dialer of this client is made from: its certificate, key and
//! CA (given as files or in a config's `[tls]` table), the name its
//! certificate carries, the config's seeds and the agents it revokes.
//!
//! All of it is read and checked when a command starts, so a broken
//! certificate or revoked file is a usage error (exit status 2) at once,
//! not a failure at the first dial hours later.

use std::path::PathBuf;
use std::sync::Arc;

use serialmesh_config::{ClientConfig, TlsConfig};
use serialmesh_pki::{Fingerprint, TlsFiles};
use tokio_util::sync::CancellationToken;

use super::revocation::Revocation;
use super::Dialer;
use crate::{Error, Result};

/// Where this client's TLS files are named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsSource {
    /// `--cert/--key/--ca`, refusing the agents listed in `revoked_file`.
    Files {
        tls: TlsConfig,
        revoked_file: Option<PathBuf>,
    },
    /// A client config's `[tls]` table, `seeds`, `revoked` and
    /// `revoked_file`.
    Config(PathBuf),
}

/// What a client's command line says about trust and where to look.
pub struct ClientSetup {
    pub tls: TlsConfig,
    /// From the config's `seeds`.
    pub seeds: Vec<String>,
    /// The config's `revoked` and `revoked_file`, or `--revoked-file`.
    pub revocation: Arc<Revocation>,
}

/// The `[tls]` table, seeds and revoked agents from `source` (`None`: the
/// command line named none). Problems are usage errors (exit status 2).
pub fn client_setup(source: Option<&TlsSource>) -> Result<ClientSetup> {
    match source {
        Some(TlsSource::Files { tls, revoked_file }) => Ok(ClientSetup {
            tls: tls.clone(),
            seeds: Vec::new(),
            revocation: Revocation::load(Vec::new(), revoked_file.clone())?,
        }),
        Some(TlsSource::Config(path)) => {
            let config = ClientConfig::load(path)?;
            let tls = config.tls.ok_or_else(|| {
                Error::usage(format!(
                    "{} has no [tls] table with cert, key and ca",
                    path.display()
                ))
            })?;
            Ok(ClientSetup {
                tls,
                seeds: config.seeds,
                revocation: Revocation::load(config.revoked, config.revoked_file)?,
            })
        }
        None => Err(Error::usage(
            "give this client's certificate with --cert FILE --key FILE --ca FILE, or --config FILE",
        )),
    }
}

/// The client's TLS files and the name its certificate carries; problems
/// are usage errors (exit status 2).
pub fn files_and_name(tls: &TlsConfig) -> Result<(TlsFiles, String)> {
    let files = TlsFiles {
        cert: tls.cert.clone(),
        key: tls.key.clone(),
        ca: tls.ca.clone(),
    };
    let certs = serialmesh_pki::load_certs(&files.cert)?;
    let first = certs
        .first()
        .ok_or_else(|| Error::usage(format!("{} holds no certificate", files.cert.display())))?;
    let identity = serialmesh_pki::identity_of(first)?;
    Ok((files, identity.name))
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
    Ok(Dialer::with_pin(&files, &name, pin, revocation)?)
}

/// Presents renewals of the client's own certificate to new connections
/// until `shutdown`: every dialer of the process shares the one
/// certificate of these files ([`serialmesh_pki::RenewableCert::shared`]),
/// so one reload reaches them all. A gateway's sidecar runs for months;
/// a restart would drop the gateway's connection.
pub fn follow_own_renewals(tls: &TlsConfig, shutdown: CancellationToken) -> Result<()> {
    let (files, _) = files_and_name(tls)?;
    let cert = serialmesh_pki::RenewableCert::shared(&files, serialmesh_pki::Role::Client)?;
    tokio::spawn(serialmesh_config::renewal::follow_renewals(
        cert,
        files,
        |_| {},
        shutdown.cancelled_owned(),
    ));
    Ok(())
}
