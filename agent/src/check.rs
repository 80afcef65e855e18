//! `seriald --check`: everything the agent would refuse at start, found
//! without starting it (for a config baked into a ConfigMap or an image,
//! and for `ExecStartPre=`). The listen and admin sockets are not bound:
//! the agent they belong to may be running.

use serialmesh_config::AgentConfig;
use serialmesh_pki::{DenyList, Role, TlsFiles};

use crate::failure::CheckError;
use crate::identity::AgentIdentity;

/// What the config amounts to, one line per fact, or why it cannot run.
pub fn check(config: &AgentConfig) -> Result<Vec<String>, CheckError> {
    let files = TlsFiles {
        cert: config.tls.cert.clone(),
        key: config.tls.key.clone(),
        ca: config.tls.ca.clone(),
    };
    // Building the server config is what start-up does: it reads the CA,
    // the certificate and the key, checks the key's mode, that the key
    // matches, and that the certificate is an agent certificate of that CA.
    serialmesh_pki::server_config(&files, DenyList::default())?;
    let cert = serialmesh_pki::check_certificate(&config.tls.cert, &config.tls.ca, Role::Agent)?;
    // Who the certificate says this agent is, checked against the config's
    // `name` and `zone` (see `crate::identity`).
    let me = AgentIdentity::of(&cert, config)?;
    let mut lines = vec![
        format!(
            "agent {} in zone {} (from its certificate; fingerprint {})",
            me.name, me.zone, me.fingerprint
        ),
        format!("listen {}", config.listen),
        format!(
            "tls: cert {}, key {}, ca {}: usable",
            files.cert.display(),
            files.key.display(),
            files.ca.display()
        ),
        format!(
            "discovery {}",
            if config.discovery {
                format!(
                    "on ({} user profiles, share_unknown {})",
                    config.profile.len(),
                    config.share_unknown
                )
            } else {
                "off".into()
            }
        ),
    ];
    if let Some(admin) = config.admin {
        lines.push(format!("admin http://{admin}"));
    }
    if !config.seeds.is_empty() {
        lines.push(format!("seeds {}", config.seeds.join(", ")));
    }
    for d in &config.devices {
        // A missing node is no error: a USB device may be plugged in later.
        let present = if d.path.exists() {
            ""
        } else {
            " (not present now)"
        };
        lines.push(format!("device {} = {}{present}", d.name, d.path.display()));
    }
    Ok(lines)
}
