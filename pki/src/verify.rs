//! The one check every peer certificate goes through, on both sides of a
//! connection, and that our own certificate goes through at load time.
//!
//! Nothing here reads the clock: a host that believes it is 1970, 2016 or
//! 2040 must reach the same verdict as one that knows the date.

use std::path::Path;
use std::time::Duration;

use rustls::CertificateError;
use rustls_pki_types::{CertificateDer, SignatureVerificationAlgorithm, TrustAnchor, UnixTime};
use webpki::{EndEntityCert, KeyUsage};
use x509_parser::certificate::X509Certificate;

use crate::identity::Claims;
use crate::inspect::rfc3339;
use crate::load::{load_ca, CA_HINT};
use crate::untrusted::untrusted;
use crate::{DenyList, Fingerprint, Identity, PkiError, Role};

/// The pinned CA, parsed once when a config is built.
#[derive(Debug)]
pub(crate) struct TrustRoot {
    anchor: TrustAnchor<'static>,
    subject: String,
    not_before: i64,
    not_after: i64,
}

impl TrustRoot {
    pub(crate) fn load(path: &Path) -> Result<Self, PkiError> {
        let der = load_ca(path, CA_HINT)?;
        let not_a_ca = |reason: String| PkiError::NotACa {
            path: path.to_path_buf(),
            reason,
        };
        let (_, x509) = x509_parser::parse_x509_certificate(&der)
            .map_err(|e| not_a_ca(format!("it is not a valid X.509 certificate ({e})")))?;
        let anchor = webpki::anchor_from_trusted_cert(&der)
            .map_err(|e| not_a_ca(format!("webpki cannot use it as a trust anchor ({e})")))?
            .to_owned();
        Ok(TrustRoot {
            anchor,
            subject: x509.subject().to_string(),
            not_before: x509.validity().not_before.timestamp(),
            not_after: x509.validity().not_after.timestamp(),
        })
    }
}

/// What a peer certificate must be, beyond "issued by the pinned CA".
pub(crate) struct Policy<'a> {
    pub role: Role,
    pub deny: Option<&'a DenyList>,
    pub pinned: Option<Fingerprint>,
}

/// Why a certificate was refused, in terms of the TLS alert it deserves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RefusalKind {
    Malformed,
    UnknownIssuer,
    Validity,
    WrongRole,
    Denied,
    NotPinned,
}

impl RefusalKind {
    pub(crate) fn certificate_error(self) -> CertificateError {
        match self {
            RefusalKind::Malformed => CertificateError::BadEncoding,
            RefusalKind::UnknownIssuer => CertificateError::UnknownIssuer,
            // Not "expired": the dates are not wrong for today, they are
            // impossible for this CA at any time.
            RefusalKind::Validity => CertificateError::UnknownIssuer,
            RefusalKind::WrongRole => CertificateError::InvalidPurpose,
            RefusalKind::Denied => CertificateError::Revoked,
            RefusalKind::NotPinned => CertificateError::ApplicationVerificationFailure,
        }
    }
}

#[derive(Debug)]
pub(crate) struct Refusal {
    /// The subject the certificate claims, escaped for logs (nobody has
    /// verified it).
    pub subject: String,
    /// The key's fingerprint; `None` when the certificate does not parse.
    pub fingerprint: Option<Fingerprint>,
    pub kind: RefusalKind,
    pub reason: String,
}

/// Intermediate CAs a peer may send with its certificate. `serialctl pki`
/// issues from the pinned CA directly; other CA tools (cert-manager with a
/// CA Issuer under a root, step-ca, Vault) put one or two between.
const MAX_INTERMEDIATES: usize = 4;

/// Checks, in order: the certificate chains to the pinned CA, directly or
/// through the `intermediates` the peer sent (signatures by webpki); it
/// holds `policy.role` by both its extended key usage and its role URI;
/// neither it nor an intermediate is on the deny-list; it is the pinned
/// certificate, if one is pinned.
pub(crate) fn check(
    root: &TrustRoot,
    leaf: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    policy: &Policy<'_>,
    sig_algs: &[&dyn SignatureVerificationAlgorithm],
) -> Result<Identity, Refusal> {
    let (_, x509) = x509_parser::parse_x509_certificate(leaf).map_err(|e| Refusal {
        subject: "(unparseable)".to_string(),
        fingerprint: None,
        kind: RefusalKind::Malformed,
        reason: format!("it is not a valid X.509 certificate ({e})"),
    })?;
    let fingerprint = Fingerprint::of_key(x509.public_key().raw);
    let refuse = |kind, reason: String| Refusal {
        subject: untrusted(&x509.subject().to_string()),
        fingerprint: Some(fingerprint),
        kind,
        // Reasons quote what the certificate claims (a role URI, a name).
        reason: untrusted(&reason),
    };
    let claims = Claims::read(&x509).map_err(|reason| refuse(RefusalKind::Malformed, reason))?;
    if intermediates.len() > MAX_INTERMEDIATES {
        return Err(refuse(
            RefusalKind::Malformed,
            format!(
                "it comes with {} intermediate certificates; at most {MAX_INTERMEDIATES} are accepted",
                intermediates.len()
            ),
        ));
    }
    let mut windows = Vec::with_capacity(intermediates.len());
    let mut intermediate_keys = Vec::with_capacity(intermediates.len());
    for der in intermediates {
        let (_, ca) = x509_parser::parse_x509_certificate(der).map_err(|e| {
            refuse(
                RefusalKind::Malformed,
                format!("an intermediate certificate in its chain is not valid X.509 ({e})"),
            )
        })?;
        windows.push((
            ca.validity().not_before.timestamp(),
            ca.validity().not_after.timestamp(),
        ));
        intermediate_keys.push(Fingerprint::of_key(ca.public_key().raw));
    }
    let time = verification_time(&x509, root, &windows)
        .map_err(|reason| refuse(RefusalKind::Validity, reason))?;

    // (1) The chain. The usage asked of webpki is the role the certificate
    // itself claims, so that a wrong role is reported as such below rather
    // than hiding whether the CA is right.
    // "If present", since webpki applies it to every certificate of the
    // path: an intermediate CA without an extended key usage (the usual
    // kind) may issue any; one with an EKU must allow the role. The leaf's
    // own EKU is required by the claims check (it must match the role URI).
    let usage = match claims.eku_role() {
        Some(claimed) => KeyUsage::required_if_present(claimed.eku_oid()),
        None => KeyUsage::required_if_present(policy.role.eku_oid()),
    };
    let end_entity = EndEntityCert::try_from(leaf).map_err(|e| {
        refuse(
            RefusalKind::Malformed,
            format!("webpki cannot parse it ({e})"),
        )
    })?;
    // The path ends at the pinned CA, whatever the intermediates say.
    end_entity
        .verify_for_usage(
            sig_algs,
            std::slice::from_ref(&root.anchor),
            intermediates,
            time,
            usage,
            None,
            None,
        )
        .map_err(|e| {
            let (kind, reason) = chain_refusal(&e, &x509, root, policy.role);
            refuse(kind, reason)
        })?;

    // (2) The role, by extended key usage and role URI together.
    let identity = claims.identity(fingerprint).map_err(|why| {
        refuse(
            RefusalKind::WrongRole,
            format!("not a usable serialmesh certificate: {why}"),
        )
    })?;
    if identity.role != policy.role {
        return Err(refuse(
            RefusalKind::WrongRole,
            format!(
                "it is {} certificate, and only {} certificates are accepted here",
                article(identity.role),
                policy.role
            ),
        ));
    }

    // (3) The deny-list, for the certificate and the intermediate CAs it
    // came with (revoking an intermediate's key retires all it issued).
    if let Some(deny) = policy.deny {
        if deny.contains(&fingerprint) {
            return Err(refuse(
                RefusalKind::Denied,
                "its fingerprint is on the deny-list".to_string(),
            ));
        }
        if let Some(ca) = intermediate_keys.iter().find(|k| deny.contains(k)) {
            return Err(refuse(
                RefusalKind::Denied,
                format!("an intermediate CA in its chain (fingerprint {ca}) is on the deny-list"),
            ));
        }
    }

    // (4) The pin.
    if let Some(pinned) = policy.pinned {
        if pinned != fingerprint {
            return Err(refuse(
                RefusalKind::NotPinned,
                format!(
                    "it is not the pinned {} certificate (pinned fingerprint {pinned})",
                    policy.role
                ),
            ));
        }
    }
    Ok(identity)
}

/// webpki insists on a time to check validity at. We hand it one inside
/// the validity of the leaf, the CA and every intermediate (`windows`), so
/// dates can never be the reason for a refusal, and the host clock is
/// never consulted.
fn verification_time(
    leaf: &X509Certificate<'_>,
    root: &TrustRoot,
    windows: &[(i64, i64)],
) -> Result<UnixTime, String> {
    let validity = leaf.validity();
    let from = windows
        .iter()
        .map(|w| w.0)
        .fold(
            validity.not_before.timestamp().max(root.not_before),
            i64::max,
        )
        .max(0);
    let until = windows
        .iter()
        .map(|w| w.1)
        .fold(validity.not_after.timestamp().min(root.not_after), i64::min);
    if from > until {
        return Err(format!(
            "its validity ({} to {}) does not overlap that of the pinned CA {}, so that CA cannot have issued it",
            rfc3339(validity.not_before.to_datetime()),
            rfc3339(validity.not_after.to_datetime()),
            root.subject
        ));
    }
    // `from` is clamped to >= 0 above, so the conversion cannot fail.
    let secs = u64::try_from(from).unwrap_or(0);
    Ok(UnixTime::since_unix_epoch(Duration::from_secs(secs)))
}

fn chain_refusal(
    e: &webpki::Error,
    leaf: &X509Certificate<'_>,
    root: &TrustRoot,
    role: Role,
) -> (RefusalKind, String) {
    #[allow(deprecated)]
    match e {
        webpki::Error::UnknownIssuer
        | webpki::Error::InvalidSignatureForPublicKey
        | webpki::Error::UnsupportedSignatureAlgorithm
        | webpki::Error::UnsupportedSignatureAlgorithmContext(_)
        | webpki::Error::SignatureAlgorithmMismatch => (
            RefusalKind::UnknownIssuer,
            format!(
                "not issued by the pinned CA (it names issuer {}; the pinned CA is {})",
                untrusted(&leaf.issuer().to_string()),
                root.subject
            ),
        ),
        webpki::Error::RequiredEkuNotFound | webpki::Error::RequiredEkuNotFoundContext(_) => (
            RefusalKind::WrongRole,
            format!(
                "its extended key usage lacks {}, which {} certificates carry",
                role.eku_name(),
                role
            ),
        ),
        webpki::Error::CaUsedAsEndEntity => (
            RefusalKind::WrongRole,
            "it is a CA certificate, not an agent or client certificate".to_string(),
        ),
        other => (
            RefusalKind::Malformed,
            format!("webpki refused it ({other})"),
        ),
    }
}

fn article(role: Role) -> &'static str {
    match role {
        Role::Agent => "an agent",
        Role::Client => "a client",
    }
}
