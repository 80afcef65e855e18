//! The agent's own certificate, replaceable while it runs.
//!
//! cert-manager (or any CA tool on a timer) renews a certificate by writing
//! new files, and Kubernetes delivers them by swapping the Secret's `..data`
//! link. New handshakes must present the new certificate without a
//! restart: a restart drops every session, the very thing the product
//! exists to avoid. rustls asks a resolver for the certificate at each
//! handshake, so the agent's config holds this one, whose certificate can
//! be replaced. A replacement is checked exactly as at start (chain to the
//! pinned CA, agent role, key matching certificate) and must name the same
//! agent and zone; otherwise it is refused and the certificate in force
//! stays. Sessions already open keep the certificate they began with.
//!
//! The pinned CA is not reloaded: a new CA is a new installation, and the
//! verifier of client certificates is built on it once.

use std::fmt;
use std::sync::{Arc, RwLock};

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::load::{load_certs, load_key};
use crate::tls::{crypto_provider, key_error, OwnCert};
use crate::verify::TrustRoot;
use crate::{Identity, PkiError, Role, TlsFiles};

pub struct ServerCert {
    files: TlsFiles,
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

impl ServerCert {
    /// Loads and checks the agent's files; also the pinned CA they chain to.
    pub(crate) fn load(files: &TlsFiles) -> Result<(Arc<ServerCert>, TrustRoot), PkiError> {
        let own = OwnCert::load(files, Role::Agent)?;
        let key = certified(files, own.chain, own.key)?;
        let cert = ServerCert {
            files: files.clone(),
            current: RwLock::new(Current {
                key,
                identity: own.identity,
            }),
        };
        Ok((Arc::new(cert), own.root))
    }

    /// Who the certificate in force says this agent is.
    pub fn identity(&self) -> Identity {
        self.read().identity.clone()
    }

    /// Re-reads the certificate and key; puts them in force for new
    /// handshakes if they pass the checks of a start and name the same
    /// agent and zone. An error leaves the certificate in force.
    pub fn reload(&self) -> Result<Renewal, PkiError> {
        let chain = load_certs(&self.files.cert)?;
        if chain.first() == self.read().key.cert.first() {
            return Ok(Renewal::Unchanged);
        }
        let own = OwnCert::load(&self.files, Role::Agent)?;
        let old = self.identity();
        let new = own.identity.clone();
        if (&new.name, &new.zone) != (&old.name, &old.zone) {
            return Err(PkiError::OwnCertificate {
                side: "this running agent",
                path: self.files.cert.clone(),
                reason: format!(
                    "it names agent '{}' in zone '{}', and this agent runs as '{}' in zone '{}'",
                    new.name,
                    zone(&new),
                    old.name,
                    zone(&old)
                ),
                hint: "an agent's name and zone change only with a restart; \
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

impl ResolvesServerCert for ServerCert {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.read().key.clone())
    }
}

impl fmt::Debug for ServerCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerCert")
            .field("cert", &self.files.cert)
            .field("identity", &self.read().identity)
            .finish()
    }
}
