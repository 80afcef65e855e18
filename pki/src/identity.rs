//! Who a certificate says it is: role, name and zone, carried as
//! `urn:serialmesh:*` URIs in the subject alternative names.

use rustls_pki_types::CertificateDer;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;

use crate::untrusted::untrusted;
use crate::{Fingerprint, PkiError, Role};

pub(crate) const ROLE_URI: &str = "urn:serialmesh:role:";
pub(crate) const NAME_URI: &str = "urn:serialmesh:name:";
pub(crate) const ZONE_URI: &str = "urn:serialmesh:zone:";

/// The identity of a verified peer (or of our own certificate).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub role: Role,
    pub name: String,
    pub zone: Option<String>,
    pub fingerprint: Fingerprint,
}

/// Reads role, name and zone from a certificate, insisting that its role
/// URI and its extended key usage agree.
///
/// This does not check who issued the certificate: use it on certificates
/// the TLS verifier has already accepted, or on our own.
pub fn identity_of(cert: &CertificateDer<'_>) -> Result<Identity, PkiError> {
    let (_, x509) =
        x509_parser::parse_x509_certificate(cert).map_err(|e| PkiError::NoIdentity {
            subject: "(unparseable)".into(),
            fingerprint: "(none)".into(),
            reason: format!("not a valid X.509 certificate ({e})"),
        })?;
    let fingerprint = Fingerprint::of_key(x509.public_key().raw);
    let no_identity = |reason: String| PkiError::NoIdentity {
        subject: untrusted(&x509.subject().to_string()),
        fingerprint: fingerprint.to_string(),
        reason: untrusted(&reason),
    };
    let claims = Claims::read(&x509).map_err(no_identity)?;
    claims.identity(fingerprint).map_err(no_identity)
}

/// Names and zones become file names, log fields and config keys, so they
/// are kept to a set of characters that is safe in all of them.
pub(crate) fn validate_label(kind: &'static str, value: &str) -> Result<(), PkiError> {
    let ok = (1..=63).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(PkiError::InvalidName {
            kind,
            value: value.to_string(),
        })
    }
}

/// What a certificate claims, before anyone has decided whether to believe it.
#[derive(Debug, Default)]
pub(crate) struct Claims {
    pub roles: Vec<String>,
    pub names: Vec<String>,
    pub zones: Vec<String>,
    pub eku_server: bool,
    pub eku_client: bool,
}

impl Claims {
    pub(crate) fn read(x509: &X509Certificate<'_>) -> Result<Self, String> {
        let mut claims = Claims::default();
        let eku = x509
            .extended_key_usage()
            .map_err(|e| format!("its extended key usage extension is malformed ({e})"))?;
        if let Some(eku) = eku {
            claims.eku_server = eku.value.server_auth;
            claims.eku_client = eku.value.client_auth;
        }
        let san = x509
            .subject_alternative_name()
            .map_err(|e| format!("its subject alternative name extension is malformed ({e})"))?;
        for name in san.iter().flat_map(|san| san.value.general_names.iter()) {
            let GeneralName::URI(uri) = name else {
                continue;
            };
            if let Some(role) = uri.strip_prefix(ROLE_URI) {
                claims.roles.push(role.to_string());
            } else if let Some(n) = uri.strip_prefix(NAME_URI) {
                claims.names.push(n.to_string());
            } else if let Some(zone) = uri.strip_prefix(ZONE_URI) {
                claims.zones.push(zone.to_string());
            }
        }
        Ok(claims)
    }

    /// The role the extended key usage grants, if it grants exactly one.
    pub(crate) fn eku_role(&self) -> Option<Role> {
        match (self.eku_server, self.eku_client) {
            (true, false) => Some(Role::Agent),
            (false, true) => Some(Role::Client),
            _ => None,
        }
    }

    /// The role the URI claims, if there is exactly one valid role URI.
    pub(crate) fn uri_role(&self) -> Option<Role> {
        match self.roles.as_slice() {
            [one] => one.parse().ok(),
            _ => None,
        }
    }

    /// The identity, if the claims are complete and consistent; otherwise
    /// why not.
    pub(crate) fn identity(&self, fingerprint: Fingerprint) -> Result<Identity, String> {
        let role = match self.roles.as_slice() {
            [] => return Err(format!("it has no {ROLE_URI}<role> URI")),
            [one] => one.parse::<Role>().map_err(|_| {
                format!("its role URI {ROLE_URI}{one} names no known role (agent, client)")
            })?,
            _ => {
                return Err(format!(
                    "it has {} role URIs; exactly one is allowed",
                    self.roles.len()
                ))
            }
        };
        match self.eku_role() {
            Some(eku) if eku == role => {}
            Some(eku) => {
                return Err(format!(
                "its role URI says {role} but its extended key usage is {}, which is for {eku}s",
                eku.eku_name()
            ))
            }
            None if self.eku_server && self.eku_client => {
                return Err(
                    "its extended key usage allows both serverAuth and clientAuth; \
                            a serialmesh certificate holds exactly one role"
                        .to_string(),
                )
            }
            None => {
                return Err(format!(
                    "its role URI says {role} but its extended key usage lacks {}",
                    role.eku_name()
                ))
            }
        }
        let name = match self.names.as_slice() {
            [one] => one.clone(),
            [] => return Err(format!("it has no {NAME_URI}<name> URI")),
            _ => {
                return Err(format!(
                    "it has {} name URIs; exactly one is allowed",
                    self.names.len()
                ))
            }
        };
        validate_label("name", &name).map_err(|e| format!("its {e}"))?;
        let zone = match self.zones.as_slice() {
            [] => None,
            [one] => Some(one.clone()),
            _ => {
                return Err(format!(
                    "it has {} zone URIs; at most one is allowed",
                    self.zones.len()
                ))
            }
        };
        if let Some(zone) = &zone {
            validate_label("zone", zone).map_err(|e| format!("its {e}"))?;
        }
        Ok(Identity {
            role,
            name,
            zone,
            fingerprint,
        })
    }
}
