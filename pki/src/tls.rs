//! The rustls configurations agents and clients run with.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rustls::crypto::CryptoProvider;
use rustls::version::TLS13;
use rustls::{ClientConfig, InconsistentKeys, ServerConfig, SupportedProtocolVersion};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::load::{load_certs, load_key, KEY_HINT};
use crate::renewable_cert::RenewableCert;
use crate::verifier::PeerVerifier;
use crate::verify::{check, Policy, RefusalKind, TrustRoot};
use crate::{DenyList, Fingerprint, Identity, PkiError, Role};

/// Where one host's certificate, key and pinned CA live.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca: PathBuf,
}

/// The ring provider, passed explicitly to every config so nothing depends
/// on which provider (if any) the process installed as its default.
pub fn crypto_provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
        .clone()
}

/// TLS 1.3 only: both ends are ours, so nothing needs 1.2, and 1.2 would
/// only add what 1.3 removed (a server key exchange signed by the
/// certificate without the transcript, renegotiation-era options, RSA key
/// exchange in other stacks) for an attacker to try.
pub(crate) const VERSIONS: &[&SupportedProtocolVersion] = &[&TLS13];

/// The agent's config: presents the agent certificate and requires a
/// client certificate from the pinned CA that is not on `deny`.
pub fn server_config(files: &TlsFiles, deny: DenyList) -> Result<ServerConfig, PkiError> {
    server_config_with(files, deny, VERSIONS).map(|(config, _)| config)
}

/// [`server_config`], and the handle that renews the certificate it
/// presents (see [`RenewableCert`]).
pub fn renewable_server_config(
    files: &TlsFiles,
    deny: DenyList,
) -> Result<(ServerConfig, Arc<RenewableCert>), PkiError> {
    server_config_with(files, deny, VERSIONS)
}

/// The client's config: presents the client certificate and requires an
/// agent certificate from the pinned CA, not on `deny`, and exactly
/// `pinned_agent` if given. The server name passed to rustls is ignored.
/// The certificate is the process's one for these files
/// ([`RenewableCert::shared`]), so a renewal reaches every config.
pub fn client_config(
    files: &TlsFiles,
    deny: DenyList,
    pinned_agent: Option<Fingerprint>,
) -> Result<ClientConfig, PkiError> {
    client_config_with(files, deny, pinned_agent, VERSIONS)
}

pub(crate) fn server_config_with(
    files: &TlsFiles,
    deny: DenyList,
    versions: &[&'static SupportedProtocolVersion],
) -> Result<(ServerConfig, Arc<RenewableCert>), PkiError> {
    let cert = RenewableCert::load(files, Role::Agent)?;
    let provider = crypto_provider();
    let verifier = PeerVerifier::new(
        cert.root.clone(),
        Role::Client,
        deny,
        None,
        provider.clone(),
    );
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .map_err(|e| tls_error(files, e))?
        .with_client_cert_verifier(Arc::new(verifier))
        .with_cert_resolver(cert.clone());
    // No resumption: every connection passes the verifier, so a deny-list
    // change applies to the very next connection.
    config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    config.send_tls13_tickets = 0;
    Ok((config, cert))
}

pub(crate) fn client_config_with(
    files: &TlsFiles,
    deny: DenyList,
    pinned_agent: Option<Fingerprint>,
    versions: &[&'static SupportedProtocolVersion],
) -> Result<ClientConfig, PkiError> {
    let own = RenewableCert::shared(files, Role::Client)?;
    let provider = crypto_provider();
    let verifier = PeerVerifier::new(
        own.root.clone(),
        Role::Agent,
        deny,
        pinned_agent,
        provider.clone(),
    );
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .map_err(|e| tls_error(files, e))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_client_cert_resolver(own);
    // Callers pass the same placeholder name for every agent, so a session
    // cached for one agent would be offered to the next; and a resumed
    // session would skip the pin and deny-list checks. Neither is wanted.
    config.resumption = rustls::client::Resumption::disabled();
    // The name means nothing here, so it is not sent either.
    config.enable_sni = false;
    Ok(config)
}

/// Our own certificate, key and CA, checked against each other before any
/// peer sees them: a misconfigured host should fail at start, not at the
/// first handshake with a confusing alert on the other side.
pub(crate) struct OwnCert {
    pub(crate) root: TrustRoot,
    pub(crate) chain: Vec<CertificateDer<'static>>,
    pub(crate) key: PrivateKeyDer<'static>,
    pub(crate) identity: Identity,
}

impl OwnCert {
    pub(crate) fn load(files: &TlsFiles, role: Role) -> Result<Self, PkiError> {
        let root = TrustRoot::load(&files.ca)?;
        let chain = load_certs(&files.cert)?;
        let key = load_key(&files.key)?;
        let identity = check_own(files, &root, &chain, role)?;
        Ok(OwnCert {
            root,
            chain,
            key,
            identity,
        })
    }
}

/// Whether the certificate at `cert` is a `role` certificate issued by the
/// CA at `ca`, checked as a peer would check it (dates aside), without the
/// key: `serialctl doctor` reports on the key separately.
pub fn check_certificate(cert: &Path, ca: &Path, role: Role) -> Result<Identity, PkiError> {
    let files = TlsFiles {
        cert: cert.to_path_buf(),
        key: PathBuf::new(),
        ca: ca.to_path_buf(),
    };
    let root = TrustRoot::load(ca)?;
    let chain = load_certs(cert)?;
    check_own(&files, &root, &chain, role)
}

fn check_own(
    files: &TlsFiles,
    root: &TrustRoot,
    chain: &[CertificateDer<'static>],
    role: Role,
) -> Result<Identity, PkiError> {
    let policy = Policy {
        role,
        deny: None,
        pinned: None,
    };
    let sig_algs = crypto_provider().signature_verification_algorithms.all;
    check(root, &chain[0], &chain[1..], &policy, sig_algs).map_err(|refusal| {
        let (side, flag) = match role {
            Role::Agent => ("an agent", "--role agent"),
            Role::Client => ("a client", "--role client"),
        };
        let hint = match refusal.kind {
            RefusalKind::UnknownIssuer | RefusalKind::Validity => format!(
                "set the CA to the one that issued it, or issue a new certificate from the CA of {} \
                 with `serialctl pki issue {flag}`",
                files.ca.display()
            ),
            _ => format!("issue a new certificate with `serialctl pki issue {flag}`"),
        };
        PkiError::OwnCertificate {
            side,
            path: files.cert.clone(),
            reason: refusal.reason,
            hint,
        }
    })
}

pub(crate) fn key_error(files: &TlsFiles, e: rustls::Error) -> PkiError {
    match e {
        rustls::Error::InconsistentKeys(InconsistentKeys::KeyMismatch) => PkiError::KeyMismatch {
            cert: files.cert.clone(),
            key: files.key.clone(),
            hint: "use the .key written together with that .pem by `serialctl pki issue`"
                .to_string(),
        },
        other => PkiError::Malformed {
            what: "private key",
            path: files.key.clone(),
            detail: other.to_string(),
            hint: KEY_HINT.to_string(),
        },
    }
}

fn tls_error(files: &TlsFiles, e: rustls::Error) -> PkiError {
    PkiError::Tls {
        path: files.cert.clone(),
        detail: e.to_string(),
    }
}
