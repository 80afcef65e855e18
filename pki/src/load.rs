//! Reading certificates and keys from PEM files.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::PkiError;

pub(crate) const CERT_HINT: &str =
    "create it with `serialctl pki issue --dir CA_DIR --role agent|client --name NAME --out DIR`";
pub(crate) const KEY_HINT: &str = "it is written next to its certificate by `serialctl pki issue`";
pub(crate) const CA_HINT: &str =
    "copy ca.pem from the CA directory made by `serialctl pki init --dir DIR`";

/// All certificates in a PEM file, in file order.
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, PkiError> {
    load_certs_as("certificate", path, CERT_HINT)
}

/// The private key in a PEM file, refusing files that others could read.
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, PkiError> {
    load_key_as(path, KEY_HINT)
}

/// [`load_key`] with the advice to give when the file is missing or bad.
pub(crate) fn load_key_as(path: &Path, hint: &str) -> Result<PrivateKeyDer<'static>, PkiError> {
    let mut file = File::open(path).map_err(|e| PkiError::read("private key", path, e, hint))?;
    // Checked on the open handle, so the mode belongs to the file we read
    // even if the path is swapped underneath us.
    let meta = file
        .metadata()
        .map_err(|e| PkiError::read("private key", path, e, hint))?;
    let mode = meta.permissions().mode() & 0o7777;
    if !key_mode_acceptable(mode, meta.uid(), effective_uid()) {
        return Err(PkiError::KeyPermissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    let mut pem_bytes = Vec::new();
    file.read_to_end(&mut pem_bytes)
        .map_err(|e| PkiError::read("private key", path, e, hint))?;
    PrivateKeyDer::from_pem_slice(&pem_bytes).map_err(|e| PkiError::Malformed {
        what: "private key",
        path: path.to_path_buf(),
        detail: match e {
            pem::Error::NoItemsFound => {
                "it holds no PEM private key (expected `-----BEGIN PRIVATE KEY-----`)".to_string()
            }
            other => format!("invalid PEM ({other})"),
        },
        hint: hint.to_string(),
    })
}

/// Whether a private key with `mode`, owned by `owner`, may be used by a
/// process running as `uid`: only its owner may read it, with one
/// exception. A root-owned key that a group may read (never others) is an
/// administrator's deliberate grant to a non-root service, the way
/// Debian's ssl-cert group and PostgreSQL's rule for root-owned keys work,
/// and the only way Kubernetes hands a Secret to a non-root container
/// (`fsGroup` makes Secret files `root:GROUP 0440`). A root process gains
/// nothing from the grant, so for it the strict rule stays.
pub(crate) fn key_mode_acceptable(mode: u32, owner: u32, uid: u32) -> bool {
    let private = mode & 0o077 == 0;
    let granted = owner == 0 && uid != 0 && mode & 0o037 == 0;
    private || granted
}

fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// The single CA certificate that everything is pinned to.
pub(crate) fn load_ca(path: &Path, hint: &str) -> Result<CertificateDer<'static>, PkiError> {
    let pem_bytes = read("CA certificate", path, hint)?;
    parse_ca(path, &pem_bytes, hint)
}

/// [`load_ca`] on bytes already read from `path`.
pub(crate) fn parse_ca(
    path: &Path,
    pem_bytes: &[u8],
    hint: &str,
) -> Result<CertificateDer<'static>, PkiError> {
    let mut certs = parse_certs("CA certificate", path, pem_bytes, hint)?;
    if certs.len() != 1 {
        return Err(PkiError::NotACa {
            path: path.to_path_buf(),
            reason: format!(
                "it holds {} certificates, and serialmesh pins exactly one CA",
                certs.len()
            ),
        });
    }
    let ca = certs.remove(0);
    let (_, x509) = x509_parser::parse_x509_certificate(&ca).map_err(|e| PkiError::NotACa {
        path: path.to_path_buf(),
        reason: format!("it is not a valid X.509 certificate ({e})"),
    })?;
    let is_ca = matches!(x509.basic_constraints(), Ok(Some(bc)) if bc.value.ca);
    if !is_ca {
        return Err(PkiError::NotACa {
            path: path.to_path_buf(),
            reason: format!(
                "{} is not a CA certificate (no basicConstraints CA:TRUE); \
                 did you give a host's certificate where the CA belongs?",
                x509.subject()
            ),
        });
    }
    Ok(ca)
}

pub(crate) fn load_certs_as(
    what: &'static str,
    path: &Path,
    hint: &str,
) -> Result<Vec<CertificateDer<'static>>, PkiError> {
    let pem_bytes = read(what, path, hint)?;
    parse_certs(what, path, &pem_bytes, hint)
}

pub(crate) fn read(what: &'static str, path: &Path, hint: &str) -> Result<Vec<u8>, PkiError> {
    std::fs::read(path).map_err(|e| PkiError::read(what, path, e, hint))
}

fn parse_certs(
    what: &'static str,
    path: &Path,
    pem_bytes: &[u8],
    hint: &str,
) -> Result<Vec<CertificateDer<'static>>, PkiError> {
    let certs = CertificateDer::pem_slice_iter(pem_bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| PkiError::Malformed {
            what,
            path: path.to_path_buf(),
            detail: format!("invalid PEM ({e})"),
            hint: hint.to_string(),
        })?;
    if certs.is_empty() {
        return Err(PkiError::NoCertificate {
            what,
            path: path.to_path_buf(),
            hint: hint.to_string(),
        });
    }
    Ok(certs)
}
