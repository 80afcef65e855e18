//! The one error type of this crate. Every message names the file or value
//! at fault and says what to do about it, because these messages end up in
//! front of whoever runs `seriald` or `serialctl`, not a developer.

use std::io;
use std::path::{Path, PathBuf};

/// Everything that can go wrong making, loading or checking certificates.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("cannot read {what} {}: {reason}; {hint}", path.display())]
    Read {
        what: &'static str,
        path: PathBuf,
        reason: String,
        hint: String,
        #[source]
        source: io::Error,
    },

    #[error("cannot write {what} {}: {reason}; {hint}", path.display())]
    Write {
        what: &'static str,
        path: PathBuf,
        reason: String,
        hint: String,
        #[source]
        source: io::Error,
    },

    #[error("{what} {} holds no certificate (expected a PEM block `-----BEGIN CERTIFICATE-----`); {hint}", path.display())]
    NoCertificate {
        what: &'static str,
        path: PathBuf,
        hint: String,
    },

    #[error("cannot parse {what} {}: {detail}; {hint}", path.display())]
    Malformed {
        what: &'static str,
        path: PathBuf,
        detail: String,
        hint: String,
    },

    #[error("private key {} is readable by group or others (mode {mode:04o}); run `chmod 600 {}`", path.display(), path.display())]
    KeyPermissions { path: PathBuf, mode: u32 },

    #[error("private key {} does not belong to certificate {}; {hint}", key.display(), cert.display())]
    KeyMismatch {
        cert: PathBuf,
        key: PathBuf,
        hint: String,
    },

    #[error("{what} {} already exists; {hint}", path.display())]
    AlreadyExists {
        what: &'static str,
        path: PathBuf,
        hint: String,
    },

    #[error("invalid {kind} {value:?}: must be 1 to 63 characters of A-Z, a-z, 0-9, '_' and '-'")]
    InvalidName { kind: &'static str, value: String },

    #[error("invalid name {value:?}: it is reserved, because OUT/{value}.pem would overwrite the copy of the CA certificate; choose another name")]
    ReservedName { value: String },

    #[error("invalid role {value:?}: valid roles are \"agent\" and \"client\"")]
    InvalidRole { value: String },

    #[error("invalid fingerprint {value:?}: {reason}; expected 'spki:' and the 64 hex digits of the SHA-256 of a public key (optionally as 32 ':'-separated pairs), as printed by `serialctl pki show FILE`")]
    InvalidFingerprint { value: String, reason: String },

    #[error("fingerprint {value:?} names a whole certificate (the form before key fingerprints): a certificate re-encoded or re-issued for the same key has another such fingerprint, so it cannot keep that key out or pin it; write the key fingerprint instead ('spki:...', printed by `serialctl pki show CERT.pem`; `serialctl pki revoke CERT.pem` adds it to a revoked file)")]
    CertificateFingerprint { value: String },

    #[error("not an X.509 certificate ({detail})")]
    NotACertificate { detail: String },

    #[error("CA certificate {} is not usable: {reason}; point to the ca.pem made by `serialctl pki init`", path.display())]
    NotACa { path: PathBuf, reason: String },

    #[error("certificate {} cannot be used by {side}: {reason}; {hint}", path.display())]
    OwnCertificate {
        side: &'static str,
        path: PathBuf,
        reason: String,
        hint: String,
    },

    #[error("certificate {subject} (fingerprint {fingerprint}) carries no usable serialmesh identity: {reason}; use a certificate made by `serialctl pki issue`")]
    NoIdentity {
        subject: String,
        fingerprint: String,
        reason: String,
    },

    #[error("cannot generate {what}: {detail}")]
    Generate { what: &'static str, detail: String },

    #[error("cannot build the TLS configuration from {}: {detail}", path.display())]
    Tls { path: PathBuf, detail: String },
}

impl PkiError {
    pub(crate) fn read(
        what: &'static str,
        path: &Path,
        source: io::Error,
        hint: impl Into<String>,
    ) -> Self {
        PkiError::Read {
            what,
            path: path.to_path_buf(),
            reason: io_reason(&source),
            hint: hint.into(),
            source,
        }
    }

    pub(crate) fn write(
        what: &'static str,
        path: &Path,
        source: io::Error,
        hint: impl Into<String>,
    ) -> Self {
        PkiError::Write {
            what,
            path: path.to_path_buf(),
            reason: io_reason(&source),
            hint: hint.into(),
            source,
        }
    }
}

/// The OS message without the trailing " (os error 2)": the number helps
/// nobody reading a config error.
fn io_reason(e: &io::Error) -> String {
    let text = e.to_string();
    match text.rfind(" (os error ") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}
