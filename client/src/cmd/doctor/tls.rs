//! Certificate, CA and key findings.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::sync::Arc;

use serialmesh_config::TlsConfig;
use serialmesh_pki::{PkiError, Role};

use super::Report;
use crate::dial::pinned::Dialers;
use crate::dial::revocation::Revocation;

/// Checks the certificate (role, chain to the CA, fingerprint; validity as
/// information), the key (mode, match) and returns dialers when all of it
/// would work.
pub fn check(report: &mut Report, tls: &TlsConfig, revocation: Arc<Revocation>) -> Option<Dialers> {
    let cert_topic = format!("certificate {}", tls.cert.display());
    let mut usable = true;
    match serialmesh_pki::inspect(&tls.cert) {
        Ok(info) => {
            let role = info.role;
            report.info(
                &cert_topic,
                format!(
                    "valid {} to {} (dates are not checked by serialmesh; information only)",
                    info.not_before, info.not_after
                ),
            );
            match role {
                Some(Role::Client) => {}
                Some(Role::Agent) => {
                    usable = false;
                    report.fail(
                        &cert_topic,
                        format!(
                            "it is an agent certificate ({}), and agents refuse it from a client",
                            info.name.as_deref().unwrap_or("?")
                        ),
                        "issue a client certificate: `serialctl pki issue --dir CA_DIR --role client --name NAME --out DIR`",
                    );
                }
                None => {
                    usable = false;
                    report.fail(
                        &cert_topic,
                        "it carries no serialmesh role",
                        "issue one with `serialctl pki issue --role client`",
                    );
                }
            }
            // The chain is checked for the role the certificate claims, so
            // a wrong role and a wrong CA are told apart.
            let claimed = role.unwrap_or(Role::Client);
            match serialmesh_pki::check_certificate(&tls.cert, &tls.ca, claimed) {
                Ok(id) if claimed == Role::Client => report.ok(
                    &cert_topic,
                    format!(
                        "client '{}', chains to the CA {}, fingerprint {}",
                        id.name,
                        tls.ca.display(),
                        id.fingerprint
                    ),
                ),
                Ok(_) => {}
                Err(e) => {
                    usable = false;
                    let fix = match e {
                        PkiError::NotACa { .. } | PkiError::Read { .. } => {
                            "point `ca` at the ca.pem made by `serialctl pki init` (the same one the agents use)"
                        }
                        _ => "use the CA that issued this certificate (the agents' CA), or issue a new certificate from it",
                    };
                    report.fail(&cert_topic, e, fix);
                }
            }
        }
        Err(e) => {
            usable = false;
            report.fail(
                &cert_topic,
                e,
                "give the .pem written by `serialctl pki issue --role client`",
            );
        }
    }
    usable &= key(report, tls);
    if !usable {
        return None;
    }
    match Dialers::new(tls, revocation) {
        Ok(d) => Some(d),
        Err(e) => {
            report.fail(
                &format!("key {}", tls.key.display()),
                e,
                "use the .key written together with the .pem by `serialctl pki issue`",
            );
            None
        }
    }
}

/// The key's mode and owner, and that it parses.
fn key(report: &mut Report, tls: &TlsConfig) -> bool {
    let topic = format!("key {}", tls.key.display());
    match serialmesh_pki::load_key(&tls.key) {
        Ok(_) => {
            let how = std::fs::metadata(&tls.key)
                .map(|m| {
                    format!(
                        "mode {:04o}, owner uid {}",
                        m.permissions().mode() & 0o7777,
                        m.uid()
                    )
                })
                .unwrap_or_default();
            report.ok(
                &topic,
                format!("readable by this user only as required ({how})"),
            );
            true
        }
        Err(e @ PkiError::KeyPermissions { .. }) => {
            let fix = format!("chmod 600 {}", tls.key.display());
            report.fail(&topic, e, &fix);
            false
        }
        Err(e) => {
            report.fail(
                &topic,
                e,
                "give the .key written next to the .pem by `serialctl pki issue`",
            );
            false
        }
    }
}
