//! The installation's CA: making one, and loading it to sign with.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls_pki_types::CertificateDer;
use time::OffsetDateTime;

use crate::load::{load_key_as, parse_ca, read};
use crate::write::{create_dir, create_private, create_public, occupied};
use crate::{crypto_provider, Fingerprint, PkiError};

pub(crate) const ORGANIZATION: &str = "serialmesh";

/// Creates a new CA in `dir`: `dir/ca.pem` (the certificate every agent and
/// client pins) and `dir/ca.key` (mode 0600; keep it off the hosts).
///
/// Refuses to touch an existing CA: replacing it would orphan every
/// certificate it has issued.
pub fn init_ca(dir: &Path) -> Result<(PathBuf, Fingerprint), PkiError> {
    let key_path = dir.join("ca.key");
    let cert_path = dir.join("ca.pem");
    if occupied(&key_path) {
        return Err(PkiError::AlreadyExists {
            what: "CA key",
            path: key_path,
            hint: format!(
                "it signs every certificate of this installation, so it is never overwritten; \
                 issue certificates from it with `serialctl pki issue --dir {}`, \
                 or give `serialctl pki init` another --dir for a new CA",
                dir.display()
            ),
        });
    }
    if occupied(&cert_path) {
        return Err(PkiError::AlreadyExists {
            what: "CA certificate",
            path: cert_path,
            hint: "a ca.pem without ca.key is usually a host's copy of an existing CA; \
                   give `serialctl pki init` an empty or new --dir"
                .to_string(),
        });
    }

    let key = generate_key("the CA key")?;
    let mut id = [0u8; 4];
    random_fill(&mut id, "the CA name")?;
    let mut params = CertificateParams::default();
    params.distinguished_name.push(
        DnType::CommonName,
        format!("serialmesh CA {}", hex::encode(id)),
    );
    params
        .distinguished_name
        .push(DnType::OrganizationName, ORGANIZATION);
    // pathlen 0: this CA signs hosts directly; an intermediate it signed
    // would be refused anyway, and the constraint says so to other tools.
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign];
    params.serial_number = Some(random_serial()?);
    (params.not_before, params.not_after) = validity()?;
    let cert = params
        .self_signed(&key)
        .map_err(|e| generate_error("the CA certificate", e))?;

    // Owner-only: the directory holds the key that can mint any identity.
    create_dir(dir, 0o700)?;
    let exists_hint = "another `serialctl pki init` is running on this directory";
    create_private(&key_path, key.serialize_pem().as_bytes(), exists_hint)?;
    if let Err(e) = create_public(
        "CA certificate",
        &cert_path,
        cert.pem().as_bytes(),
        exists_hint,
    ) {
        // A key without its certificate would block the next attempt.
        let _ = std::fs::remove_file(&key_path);
        return Err(e);
    }
    let fingerprint = Fingerprint::of_cert(cert.der())?;
    tracing::info!(ca = %cert_path.display(), %fingerprint, "created CA");
    Ok((cert_path, fingerprint))
}

/// A CA loaded from `pki init`'s directory, ready to sign.
pub(crate) struct SigningCa {
    pub cert_path: PathBuf,
    pub der: CertificateDer<'static>,
    /// The CA certificate exactly as on disk; copied to hosts byte for byte.
    pub pem: Vec<u8>,
    /// rcgen needs a `Certificate` for the issuer; this one is rebuilt from
    /// the parameters of the real one (same subject and key identifier), so
    /// what it signs chains to the certificate on disk.
    pub issuer: Certificate,
    pub key: KeyPair,
}

impl SigningCa {
    pub(crate) fn load(dir: &Path) -> Result<Self, PkiError> {
        let cert_path = dir.join("ca.pem");
        let key_path = dir.join("ca.key");
        let hint = format!(
            "is {} the directory given to `serialctl pki init --dir`?",
            dir.display()
        );
        let pem = read("CA certificate", &cert_path, &hint)?;
        let der = parse_ca(&cert_path, &pem, &hint)?;
        let key_der = load_key_as(&key_path, &hint)?;
        let malformed = |what, path: &Path, detail: String| PkiError::Malformed {
            what,
            path: path.to_path_buf(),
            detail,
            hint: hint.clone(),
        };
        let key = KeyPair::try_from(&key_der).map_err(|e| {
            malformed(
                "CA key",
                &key_path,
                format!("not a usable private key ({e})"),
            )
        })?;
        let (_, x509) = x509_parser::parse_x509_certificate(&der)
            .map_err(|e| malformed("CA certificate", &cert_path, e.to_string()))?;
        if key.public_key_der() != x509.public_key().raw {
            return Err(PkiError::KeyMismatch {
                cert: cert_path,
                key: key_path,
                hint: "ca.pem and ca.key must come from the same `serialctl pki init`".to_string(),
            });
        }
        // rcgen panics on an empty relative distinguished name; refuse such
        // a subject here, before it gets the chance.
        if x509.subject().iter().any(|rdn| rdn.iter().count() != 1) {
            return Err(malformed(
                "CA certificate",
                &cert_path,
                "its subject has a multi-valued or empty name component".to_string(),
            ));
        }
        let params = CertificateParams::from_ca_cert_der(&der)
            .map_err(|e| malformed("CA certificate", &cert_path, e.to_string()))?;
        let issuer = params
            .self_signed(&key)
            .map_err(|e| malformed("CA certificate", &cert_path, e.to_string()))?;
        Ok(SigningCa {
            cert_path,
            der,
            pem,
            issuer,
            key,
        })
    }
}

pub(crate) fn generate_key(what: &'static str) -> Result<KeyPair, PkiError> {
    KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(|e| generate_error(what, e))
}

/// A random 16-byte serial, kept positive and exactly 16 bytes long so
/// every tool prints it the same way.
pub(crate) fn random_serial() -> Result<rcgen::SerialNumber, PkiError> {
    let mut serial = [0u8; 16];
    random_fill(&mut serial, "a serial number")?;
    serial[0] = (serial[0] & 0x7f) | 0x40;
    Ok(rcgen::SerialNumber::from_slice(&serial))
}

/// Validity for every certificate: from 1970 to the end of 9999. Hosts
/// with dead RTC batteries boot in 1970 or 2016; what keeps strangers out
/// is the CA and the deny-list, never the date.
pub(crate) fn validity() -> Result<(OffsetDateTime, OffsetDateTime), PkiError> {
    let end =
        OffsetDateTime::from_unix_timestamp(253_402_300_799).map_err(|e| PkiError::Generate {
            what: "the validity period",
            detail: e.to_string(),
        })?;
    Ok((OffsetDateTime::UNIX_EPOCH, end))
}

fn random_fill(buf: &mut [u8], what: &'static str) -> Result<(), PkiError> {
    crypto_provider()
        .secure_random
        .fill(buf)
        .map_err(|_| PkiError::Generate {
            what,
            detail: "the system random number generator failed".to_string(),
        })
}

pub(crate) fn generate_error(what: &'static str, e: rcgen::Error) -> PkiError {
    PkiError::Generate {
        what,
        detail: e.to_string(),
    }
}
