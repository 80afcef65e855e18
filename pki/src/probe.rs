//! What an agent uses to check that another agent is one: the server half
//! of a TLS 1.3 handshake, verified exactly as a client verifies agents
//! (the pinned CA, the agent role, the deny-list, and the key a peer's mDNS
//! advert claims), without a certificate of our own to present.
//!
//! Agents hold agent certificates only (server role), and roles stay
//! strict, so an agent cannot complete a handshake with another agent. It
//! does not need to: in TLS 1.3 the server proves its key (Certificate,
//! CertificateVerify, Finished) before the client says anything about
//! itself, so the prober has its answer at that point and hangs up (see
//! `agent/src/mesh/probe.rs`).

use std::path::Path;
use std::sync::Arc;

use rustls::ClientConfig;

use crate::tls::{crypto_provider, VERSIONS};
use crate::verifier::PeerVerifier;
use crate::verify::TrustRoot;
use crate::{DenyList, Fingerprint, PkiError, Role};

/// Client configurations for probing agents, one per pin.
pub struct AgentProbe {
    root: Arc<TrustRoot>,
    deny: DenyList,
}

impl AgentProbe {
    /// Loads the CA at `ca`; `deny` is shared with the agent's own
    /// verifier, so a revoked agent key stops being reported at once.
    pub fn load(ca: &Path, deny: DenyList) -> Result<Self, PkiError> {
        Ok(AgentProbe {
            root: Arc::new(TrustRoot::load(ca)?),
            deny,
        })
    }

    /// A configuration that accepts only an agent certificate of the CA,
    /// not denied, with key `pinned` if given; it has no client
    /// certificate, no resumption and sends no server name.
    pub fn config(&self, pinned: Option<Fingerprint>) -> Arc<ClientConfig> {
        let provider = crypto_provider();
        let verifier = PeerVerifier::new(
            self.root.clone(),
            Role::Agent,
            self.deny.clone(),
            pinned,
            provider.clone(),
        );
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(VERSIONS)
            .expect("the ring provider supports TLS 1.3")
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        config.resumption = rustls::client::Resumption::disabled();
        config.enable_sni = false;
        Arc::new(config)
    }
}
