//! A host's own certificate, replaceable while it runs.
//!
//! cert-manager (or any CA tool on a timer) renews a certificate by writing
//! new files, and Kubernetes delivers them by swapping the Secret's `..data`
//! link. New handshakes must present the new certificate without a
//! restart: a restart drops every session (or, for a sidecar, the gateway's
//! connection), the very thing the product exists to avoid. rustls asks a
//! resolver for the certificate at each handshake, so TLS configs hold this
//! one, whose certificate can be replaced. A replacement is checked exactly
//! as at start (chain to the pinned CA, role, key matching certificate) and
//! must name the same host (and zone); otherwise it is refused and the
//! certificate in force stays. Sessions already open keep the certificate
//! they began with.
//!
//! A client builds several TLS configs from one set of files (one per
//! pinned agent key); [`RenewableCert::shared`] gives them all the same
//! certificate, so one reload reaches every one.
//!
//! The pinned CA is not reloaded: a new CA is a new installation, and the
//! verifiers are built on it once.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use rustls::client::ResolvesClientCert;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::SignatureScheme;

use crate::load::{load_certs, load_key};
use crate::tls::{crypto_provider, key_error, OwnCert};
use crate::verify::TrustRoot;
use crate::{Identity, PkiError, Role, TlsFiles};

pub struct RenewableCert {
    role: Role,
    files: TlsFiles,
    /// The pinned CA the files were checked against.
    pub(crate) root: Arc<TrustRoot>,
    current: RwLock<Current>,
}

struct Current {
    key: Arc<CertifiedKey>,
    identity: Identity,
}

/// What re-reading the files found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Renewal {
    /// The same certificate: nothing to do.
    Unchanged,
    /// Another certificate for the same key (a renewal that kept the key).
    SameKey(Identity),
    /// Another certificate with another key (cert-manager's default
    /// rotation): whoever advertises or pins the key must follow.
    NewKey(Identity),
}

impl RenewableCert {
    /// Loads and checks the files of a `role` certificate.
    pub fn load(files: &TlsFiles, role: Role) -> Result<Arc<RenewableCert>, PkiError> {
        let own = OwnCert::load(files, role)?;
        let key = certified(files, own.chain, own.key)?;
        Ok(Arc::new(RenewableCert {
            role,
            files: files.clone(),
            root: Arc::new(own.root),
            current: RwLock::new(Current {
                key,
                identity: own.identity,
            }),
        }))
    }

    /// The one certificate of this process for `files` and `role`: every
    /// TLS config built from the same files presents it, so a reload
    /// reaches them all. Loaded on first use.
    pub fn shared(files: &TlsFiles, role: Role) -> Result<Arc<RenewableCert>, PkiError> {
        type Shared = Mutex<HashMap<(TlsFiles, Role), Arc<RenewableCert>>>;
        static SHARED: OnceLock<Shared> = OnceLock::new();
        let shared = SHARED.get_or_init(Default::default);
        let key = (files.clone(), role);
        if let Some(cert) = shared.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
            return Ok(cert.clone());
        }
        let cert = RenewableCert::load(files, role)?;
        let mut map = shared.lock().unwrap_or_else(|p| p.into_inner());
        Ok(map.entry(key).or_insert(cert).clone())
    }

    /// Who the certificate in force says this host is.
    pub fn identity(&self) -> Identity {
        self.read().identity.clone()
    }

    /// The certificate in force (the leaf of its chain).
    pub fn end_entity(&self) -> rustls_pki_types::CertificateDer<'static> {
        self.read().key.cert[0].clone()
    }

    /// Re-reads the certificate and key; puts them in force for new
    /// handshakes if they pass the checks of a start and name the same
    /// agent and zone. An error leaves the certificate in force.
    pub fn reload(&self) -> Result<Renewal, PkiError> {
        let chain = load_certs(&self.files.cert)?;
        if chain.first() == self.read().key.cert.first() {
            return Ok(Renewal::Unchanged);
        }
        let own = OwnCert::load(&self.files, self.role)?;
        let old = self.identity();
        let new = own.identity.clone();
        if (&new.name, &new.zone) != (&old.name, &old.zone) {
            return Err(PkiError::OwnCertificate {
                side: match self.role {
                    Role::Agent => "this running agent",
                    Role::Client => "this running client",
                },
                path: self.files.cert.clone(),
                reason: match self.role {
                    Role::Agent => format!(
                        "it names agent '{}' in zone '{}', and this agent runs as '{}' in zone '{}'",
                        new.name,
                        zone(&new),
                        old.name,
                        zone(&old)
                    ),
                    Role::Client => format!(
                        "it names client '{}', and this client runs as '{}'",
                        new.name, old.name
                    ),
                },
                hint: "a name (and zone) changes only with a restart; \
                       issue the renewal for the same name and zone"
                    .into(),
            });
        }
        let key = certified(&self.files, own.chain, load_key(&self.files.key)?)?;
        let renewal = if new.fingerprint == old.fingerprint {
            Renewal::SameKey(new.clone())
        } else {
            Renewal::NewKey(new.clone())
        };
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Current { key, identity: new };
        Ok(renewal)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Current> {
        self.current.read().unwrap_or_else(|p| p.into_inner())
    }
}

fn zone(id: &Identity) -> &str {
    id.zone.as_deref().unwrap_or(&id.name)
}

fn certified(
    files: &TlsFiles,
    chain: Vec<rustls_pki_types::CertificateDer<'static>>,
    key: rustls_pki_types::PrivateKeyDer<'static>,
) -> Result<Arc<CertifiedKey>, PkiError> {
    CertifiedKey::from_der(chain, key, &crypto_provider())
        .map(Arc::new)
        .map_err(|e| key_error(files, e))
}

impl ResolvesServerCert for RenewableCert {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.read().key.clone())
    }
}

impl ResolvesClientCert for RenewableCert {
    fn resolve(&self, _: &[&[u8]], _: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        Some(self.read().key.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

impl fmt::Debug for RenewableCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RenewableCert")
            .field("cert", &self.files.cert)
            .field("identity", &self.read().identity)
            .finish()
    }
}
