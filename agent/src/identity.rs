//! Who this agent is: the name and zone its certificate carries.
//!
//! Clients believe what the certificate says, not what an agent says about
//! itself (a compromised garage box holding a valid agent certificate must
//! not be able to answer as `shed`). So the certificate is the one source:
//! one config can serve every node of a DaemonSet, each node's certificate
//! saying who it is. A `name` or `zone` in the config is only a statement
//! that is checked against it, and a disagreement stops the agent at start
//! rather than leaving it to serve under a name clients will refuse.

use serialmesh_config::{AgentConfig, Stated};
use serialmesh_pki::{Fingerprint, Identity};

/// The agent's identity, from its verified certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentIdentity {
    pub name: String,
    /// The certificate's zone, or the name for a certificate without one.
    pub zone: String,
    pub fingerprint: Fingerprint,
}

/// The config states a name or zone its certificate does not carry.
#[derive(Debug, thiserror::Error)]
#[error(
    "{place}: {key} = \"{stated}\", but the agent certificate {cert} says {what}; remove `{key}` \
     from the config (the certificate says who the agent is), or issue this agent a certificate \
     with `serialctl pki issue --role agent --name {name} --zone {zone}`"
)]
pub struct IdentityMismatch {
    place: String,
    key: &'static str,
    stated: String,
    cert: String,
    what: String,
    name: String,
    zone: String,
}

impl AgentIdentity {
    /// The identity `cert` (already verified as an agent certificate of
    /// the CA) gives, checked against what `config` states.
    pub fn of(cert: &Identity, config: &AgentConfig) -> Result<Self, Box<IdentityMismatch>> {
        let identity = AgentIdentity {
            name: cert.name.clone(),
            zone: cert.zone.clone().unwrap_or_else(|| cert.name.clone()),
            fingerprint: cert.fingerprint,
        };
        // What to re-issue with: the stated values where the config has them.
        let name = config.name.as_ref().map_or(&identity.name, |s| &s.value);
        let zone = config.zone.as_ref().map_or(&identity.zone, |s| &s.value);
        let mismatch = |key, stated: &Stated, what: String| {
            Box::new(IdentityMismatch {
                place: stated.place.clone(),
                key,
                stated: stated.value.clone(),
                cert: config.tls.cert.display().to_string(),
                what,
                name: name.clone(),
                zone: zone.clone(),
            })
        };
        if let Some(stated) = config.name.as_ref().filter(|s| s.value != identity.name) {
            return Err(mismatch(
                "name",
                stated,
                format!("agent '{}'", identity.name),
            ));
        }
        if let Some(stated) = config.zone.as_ref().filter(|s| s.value != identity.zone) {
            let what = match &cert.zone {
                Some(z) => format!("zone '{z}'"),
                None => format!("no zone, which makes the zone its name '{}'", identity.name),
            };
            return Err(mismatch("zone", stated, what));
        }
        Ok(identity)
    }
}
