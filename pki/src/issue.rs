//! Issuing agent and client certificates from the CA.

use std::path::{Path, PathBuf};

use rcgen::{CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyUsagePurpose, SanType};

use crate::ca::{generate_error, generate_key, random_serial, validity, SigningCa, ORGANIZATION};
use crate::identity::{validate_label, NAME_URI, ROLE_URI, ZONE_URI};
use crate::load::load_certs_as;
use crate::write::{create_dir, create_private, create_public, occupied, replace_public};
use crate::{Fingerprint, PkiError, Role};

/// What [`issue`] wrote.
#[derive(Clone, Debug)]
pub struct Issued {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca: PathBuf,
    pub fingerprint: Fingerprint,
}

/// Issues a certificate for `role` named `name` (in `zone`, if given) from
/// the CA in `ca_dir`, writing `out/NAME.pem`, `out/NAME.key` (mode 0600)
/// and `out/ca.pem`: everything one host needs.
///
/// Refuses to replace an existing `NAME.key`: that key may be in use, and
/// re-issuing should be a deliberate act.
pub fn issue(
    ca_dir: &Path,
    role: Role,
    name: &str,
    zone: Option<&str>,
    out: &Path,
) -> Result<Issued, PkiError> {
    validate_label("name", name)?;
    if name == "ca" {
        return Err(PkiError::ReservedName {
            value: name.to_string(),
        });
    }
    if let Some(zone) = zone {
        validate_label("zone", zone)?;
    }
    let ca = SigningCa::load(ca_dir)?;

    let cert_path = out.join(format!("{name}.pem"));
    let key_path = out.join(format!("{name}.key"));
    let ca_copy = out.join("ca.pem");
    let exists_hint = format!(
        "delete it (and {}) to issue '{name}' again, or choose another --name",
        cert_path.display()
    );
    if occupied(&key_path) {
        return Err(PkiError::AlreadyExists {
            what: "private key",
            path: key_path,
            hint: exists_hint,
        });
    }
    let copy_needed = ca_copy_needed(&ca_copy, &ca)?;

    let key = generate_key("the private key")?;
    let cert = leaf_params(role, name, zone)?
        .signed_by(&key, &ca.issuer, &ca.key)
        .map_err(|e| generate_error("the certificate", e))?;

    create_dir(out, 0o755)?;
    create_private(&key_path, key.serialize_pem().as_bytes(), &exists_hint)?;
    let written = replace_public("certificate", &cert_path, cert.pem().as_bytes()).and_then(|()| {
        if copy_needed {
            create_public(
                "CA certificate",
                &ca_copy,
                &ca.pem,
                "another `serialctl pki issue` wrote it meanwhile; run again",
            )
        } else {
            Ok(())
        }
    });
    if let Err(e) = written {
        // Without its certificate the key is useless, and it would make the
        // retry fail with "already exists".
        let _ = std::fs::remove_file(&key_path);
        return Err(e);
    }
    let fingerprint = Fingerprint::of_cert(cert.der())?;
    tracing::info!(%role, name, zone, cert = %cert_path.display(), %fingerprint, "issued certificate");
    Ok(Issued {
        cert: cert_path,
        key: key_path,
        ca: ca_copy,
        fingerprint,
    })
}

pub(crate) fn leaf_params(
    role: Role,
    name: &str,
    zone: Option<&str>,
) -> Result<CertificateParams, PkiError> {
    let mut params = CertificateParams::default();
    params.distinguished_name.push(DnType::CommonName, name);
    params
        .distinguished_name
        .push(DnType::OrganizationName, ORGANIZATION);
    params
        .distinguished_name
        .push(DnType::OrganizationalUnitName, role.as_str());

    let mut uris = vec![format!("{ROLE_URI}{role}"), format!("{NAME_URI}{name}")];
    if let Some(zone) = zone {
        uris.push(format!("{ZONE_URI}{zone}"));
    }
    let ia5 = |s: String| {
        s.try_into()
            .map_err(|e| generate_error("a subject alternative name", e))
    };
    let mut sans = uris
        .into_iter()
        .map(|uri| ia5(uri).map(SanType::URI))
        .collect::<Result<Vec<_>, _>>()?;
    // For tools that only look at DNS names; serialmesh itself ignores it.
    sans.push(SanType::DnsName(ia5(name.to_string())?));
    params.subject_alt_names = sans;

    params.extended_key_usages = vec![match role {
        Role::Agent => ExtendedKeyUsagePurpose::ServerAuth,
        Role::Client => ExtendedKeyUsagePurpose::ClientAuth,
    }];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.is_ca = IsCa::ExplicitNoCa;
    params.use_authority_key_identifier_extension = true;
    params.serial_number = Some(random_serial()?);
    (params.not_before, params.not_after) = validity()?;
    Ok(params)
}

/// Whether `out/ca.pem` still has to be written. An existing copy of the
/// same CA is left alone (it may be the CA's own ca.pem when `out` is the
/// CA directory); a different CA there is refused, because replacing it
/// would cut off the certificates already in `out`.
fn ca_copy_needed(ca_copy: &Path, ca: &SigningCa) -> Result<bool, PkiError> {
    if !occupied(ca_copy) {
        return Ok(true);
    }
    let hint = "move it away or choose another --out";
    let existing = load_certs_as("CA certificate", ca_copy, hint)?;
    if existing.as_slice() == std::slice::from_ref(&ca.der) {
        Ok(false)
    } else {
        Err(PkiError::AlreadyExists {
            what: "CA certificate",
            path: ca_copy.to_path_buf(),
            hint: format!(
                "it is not the CA in {} and the certificates next to it may need it; {hint}",
                ca.cert_path.display()
            ),
        })
    }
}
