//! Authorisation on the agent: which client certificate names may see and
//! open which devices (`[[allow]]` rules), and which certificates are
//! revoked. Both can change while the agent runs (see [`reload`]), so they
//! live behind shared handles that every connection consults.

pub mod reload;
mod rules;
#[cfg(test)]
mod tests;

use std::sync::{Arc, RwLock};

use serialmesh_config::{Access, Grants};
use serialmesh_pki::{DenyList, Fingerprint, Identity};
use serialmesh_proto::{CloseReason, CloseReasonKind};
use tracing::warn;

use crate::registry::Gate;

/// The agent's current rules and deny-list.
pub struct Authz {
    agent: String,
    zone: String,
    grants: RwLock<Arc<Grants>>,
    /// Shared with the TLS verifier: a revoked certificate fails the
    /// handshake of every later connection.
    deny: DenyList,
}

impl Authz {
    pub fn new(agent: &str, zone: &str, grants: Grants, deny: DenyList) -> Self {
        Authz {
            agent: agent.to_string(),
            zone: zone.to_string(),
            grants: RwLock::new(Arc::new(grants)),
            deny,
        }
    }

    pub fn deny_list(&self) -> &DenyList {
        &self.deny
    }

    pub fn grants(&self) -> Arc<Grants> {
        self.grants
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn set_grants(&self, grants: Grants) {
        for place in rules::zone_places_naming_this_agent(&grants, &self.agent, &self.zone) {
            warn!(
                place = %place, agent = %self.agent, zone = %self.zone,
                "an [[allow]] place names this agent, not its zone: a place is a zone, so it grants nothing here; write 'agent:{place}' (in devices) or agents = [\"{place}\"] to name the agent"
            );
        }
        *self.grants.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(grants);
    }

    /// What `client` (with certificate `fingerprint`) may do with `device`
    /// of this agent: `None` is nothing at all.
    pub fn access(
        &self,
        client: &str,
        fingerprint: Option<&Fingerprint>,
        device: &str,
    ) -> Option<Access> {
        if fingerprint.is_some_and(|f| self.deny.contains(f)) {
            return None;
        }
        rules::access(&self.grants(), client, device, &self.agent, &self.zone)
    }

    /// Why a session of `client` on `device` may not go on, if it may not.
    pub fn revoked_or_forbidden(
        &self,
        device: &str,
        client: &str,
        fingerprint: Option<&Fingerprint>,
    ) -> Option<CloseReason> {
        if let Some(fp) = fingerprint.filter(|f| self.deny.contains(f)) {
            return Some(revoked(client, fp));
        }
        match self.access(client, fingerprint, device) {
            Some(Access::Open) => None,
            access => Some(forbidden(client, device, &self.agent, access, true)),
        }
    }

    /// The gate the registry consults for one connection's client.
    pub fn gate<'a>(&'a self, client: &'a Identity) -> ClientGate<'a> {
        ClientGate {
            authz: self,
            client,
        }
    }
}

fn revoked(client: &str, fp: &Fingerprint) -> CloseReason {
    CloseReason::new(
        CloseReasonKind::NotAuthorised,
        format!("the certificate of client '{client}' (fingerprint {fp}) has been revoked"),
    )
}

fn forbidden(
    client: &str,
    device: &str,
    agent: &str,
    access: Option<Access>,
    now: bool,
) -> CloseReason {
    let may = match access {
        Some(Access::List) => "may only list it",
        _ => "has no [[allow]] rule for it",
    };
    let when = if now { "no longer " } else { "not " };
    CloseReason::new(
        CloseReasonKind::NotAuthorised,
        format!("client '{client}' may {when}open device '{device}' of agent '{agent}': it {may}"),
    )
}

/// One connection's client, as the registry sees it.
pub struct ClientGate<'a> {
    authz: &'a Authz,
    client: &'a Identity,
}

impl Gate for ClientGate<'_> {
    fn client(&self) -> &str {
        &self.client.name
    }

    fn fingerprint(&self) -> Option<Fingerprint> {
        Some(self.client.fingerprint)
    }

    fn visible(&self, device: &str) -> bool {
        self.authz
            .access(&self.client.name, Some(&self.client.fingerprint), device)
            .is_some()
    }

    fn may_open(&self, device: &str) -> Result<(), CloseReason> {
        let (name, fp) = (&self.client.name, &self.client.fingerprint);
        if self.authz.deny.contains(fp) {
            // Revoked between its handshake and its request.
            warn!(client = %name, fingerprint = %fp, %device, "refused to open: certificate revoked");
            return Err(revoked(name, fp));
        }
        match self.authz.access(name, Some(fp), device) {
            Some(Access::Open) => Ok(()),
            access => {
                warn!(client = %name, fingerprint = %fp, %device, access = %access.map_or("none".to_string(), |a| a.to_string()), "refused to open: not authorised");
                Err(forbidden(name, device, &self.authz.agent, access, false))
            }
        }
    }
}
