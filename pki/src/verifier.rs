//! rustls verifiers for both sides, both wrapping [`crate::verify::check`].

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use crate::verify::{check, Policy, TrustRoot};
use crate::{DenyList, Fingerprint, Role};

/// Accepts peers of one role issued by the pinned CA. An agent holds one
/// expecting clients, a client one expecting agents.
#[derive(Debug)]
pub(crate) struct PeerVerifier {
    root: Arc<TrustRoot>,
    expect: Role,
    deny: DenyList,
    pinned: Option<Fingerprint>,
    provider: Arc<CryptoProvider>,
}

impl PeerVerifier {
    pub(crate) fn new(
        root: Arc<TrustRoot>,
        expect: Role,
        deny: DenyList,
        pinned: Option<Fingerprint>,
        provider: Arc<CryptoProvider>,
    ) -> Self {
        PeerVerifier {
            root,
            expect,
            deny,
            pinned,
            provider,
        }
    }

    // `now` from rustls is deliberately not taken: see verify.rs.
    fn verify(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
    ) -> Result<(), rustls::Error> {
        let policy = Policy {
            role: self.expect,
            deny: Some(&self.deny),
            pinned: self.pinned,
        };
        match check(
            &self.root,
            end_entity,
            intermediates,
            &policy,
            self.provider.signature_verification_algorithms.all,
        ) {
            Ok(identity) => {
                tracing::debug!(
                    role = %identity.role,
                    name = %identity.name,
                    fingerprint = %identity.fingerprint,
                    "accepted {} certificate",
                    self.expect
                );
                Ok(())
            }
            Err(refusal) => {
                let fingerprint = refusal
                    .fingerprint
                    .map_or_else(|| "(none)".to_string(), |f| f.to_string());
                let now = std::time::Instant::now();
                match crate::refusal_log::REFUSALS.admit(refusal.fingerprint, now) {
                    Some(unlogged) => tracing::warn!(
                        subject = %refusal.subject,
                        fingerprint = %fingerprint,
                        reason = %refusal.reason,
                        unlogged_refusals = unlogged,
                        "refused {} certificate {} (fingerprint {}): {}",
                        self.expect,
                        refusal.subject,
                        fingerprint,
                        refusal.reason
                    ),
                    None => tracing::debug!(
                        fingerprint = %fingerprint,
                        reason = %refusal.reason,
                        "refused {} certificate again (reported before)",
                        self.expect
                    ),
                }
                Err(rustls::Error::InvalidCertificate(
                    refusal.kind.certificate_error(),
                ))
            }
        }
    }

    fn tls12(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> SigResult {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn tls13(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> SigResult {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

type SigResult = Result<HandshakeSignatureValid, rustls::Error>;

/// Used by clients to check agents.
impl ServerCertVerifier for PeerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        // Agents are identified by CA, role and optional pin, not by the
        // name a client dialled: callers pass a fixed placeholder.
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.verify(end_entity, intermediates)
            .map(|()| ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> SigResult {
        self.tls12(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> SigResult {
        self.tls13(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.schemes()
    }
}

/// Used by agents to check clients.
impl ClientCertVerifier for PeerVerifier {
    fn client_auth_mandatory(&self) -> bool {
        true
    }

    // Empty: there is one CA, and naming it would only tell scanners
    // which installation they found.
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.verify(end_entity, intermediates)
            .map(|()| ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> SigResult {
        self.tls12(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> SigResult {
        self.tls13(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.schemes()
    }
}
