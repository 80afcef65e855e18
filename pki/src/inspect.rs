//! `serialctl pki show FILE`: what a certificate says about itself.

use std::fmt;
use std::path::Path;

use time::OffsetDateTime;

use crate::identity::Claims;
use crate::load::{load_certs_as, CERT_HINT};
use crate::{Fingerprint, PkiError, Role};

/// A certificate's contents, as far as serialmesh cares. Nothing here is
/// verified: it is what the certificate claims.
#[derive(Clone, Debug)]
pub struct CertInfo {
    pub subject: String,
    pub issuer: String,
    pub role: Option<Role>,
    pub name: Option<String>,
    pub zone: Option<String>,
    pub fingerprint: Fingerprint,
    pub serial: String,
    pub not_before: String,
    pub not_after: String,
    pub is_ca: bool,
}

/// Reads the first certificate in a PEM file.
pub fn inspect(path: &Path) -> Result<CertInfo, PkiError> {
    let certs = load_certs_as("certificate", path, CERT_HINT)?;
    let der = &certs[0];
    let malformed = |detail: String| PkiError::Malformed {
        what: "certificate",
        path: path.to_path_buf(),
        detail,
        hint: CERT_HINT.to_string(),
    };
    let (_, x509) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| malformed(format!("not a valid X.509 certificate ({e})")))?;
    let claims = Claims::read(&x509).map_err(malformed)?;
    let is_ca = matches!(x509.basic_constraints(), Ok(Some(bc)) if bc.value.ca);
    Ok(CertInfo {
        subject: x509.subject().to_string(),
        issuer: x509.issuer().to_string(),
        role: claims.uri_role(),
        name: single(&claims.names),
        zone: single(&claims.zones),
        fingerprint: Fingerprint::of_key(x509.public_key().raw),
        serial: x509.raw_serial_as_string(),
        not_before: rfc3339(x509.validity().not_before.to_datetime()),
        not_after: rfc3339(x509.validity().not_after.to_datetime()),
        is_ca,
    })
}

fn single(values: &[String]) -> Option<String> {
    match values {
        [one] => Some(one.clone()),
        _ => None,
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` in UTC, without needing time's formatting feature.
pub(crate) fn rfc3339(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

impl fmt::Display for CertInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let none = "(none)";
        let role = self.role.map(|r| r.to_string());
        let validity = format!(
            "{} to {} (not checked by serialmesh)",
            self.not_before, self.not_after
        );
        let lines = [
            ("subject", self.subject.as_str()),
            ("issuer", self.issuer.as_str()),
            ("role", role.as_deref().unwrap_or(none)),
            ("name", self.name.as_deref().unwrap_or(none)),
            ("zone", self.zone.as_deref().unwrap_or(none)),
            ("fingerprint", &self.fingerprint.to_string()),
            ("serial", self.serial.as_str()),
            ("validity", validity.as_str()),
            ("CA", if self.is_ca { "yes" } else { "no" }),
        ];
        let width = lines.iter().map(|(key, _)| key.len()).max().unwrap_or(0) + 1;
        for (key, value) in lines {
            writeln!(f, "{:<width$} {value}", format!("{key}:"))?;
        }
        Ok(())
    }
}
