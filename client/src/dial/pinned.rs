//! Dialers that pin one agent certificate, for agents found on mDNS: the
//! advertisement names the certificate fingerprint to expect, so a host
//! that answers on that address with another agent's certificate (even one
//! from our CA) is refused.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serialmesh_config::TlsConfig;
use serialmesh_pki::{Fingerprint, PkiError, TlsFiles};

use super::revocation::Revocation;
use super::setup::files_and_name;
use super::Dialer;
use crate::{Error, Result};

impl Dialer {
    /// A dialer that accepts only the agent certificate `pin` (any agent
    /// certificate of the CA when `None`).
    pub fn with_pin(
        files: &TlsFiles,
        client_name: &str,
        pin: Option<Fingerprint>,
        revocation: &Arc<Revocation>,
    ) -> Result<Dialer, PkiError> {
        let config = serialmesh_pki::client_config(files, revocation.deny_list(), pin)?;
        Ok(Dialer::new(
            config,
            client_name.to_string(),
            revocation.clone(),
        ))
    }
}

/// One dialer per pinned fingerprint, made on first use and kept: building
/// one reads the certificate, key and CA files. Pins come from mDNS, which
/// anyone on the LAN can answer, so at most [`MAX_PINNED`] are kept; past
/// that the pinned ones are dropped and rebuilt when asked for again.
pub struct Dialers {
    files: TlsFiles,
    client_name: String,
    revocation: Arc<Revocation>,
    cache: Mutex<HashMap<Option<Fingerprint>, Arc<Dialer>>>,
    /// Overrides every pin asked for (`ls --agent-fingerprint`).
    required: Option<Fingerprint>,
}

/// Pinned dialers kept at once (a home has a handful of agents).
pub const MAX_PINNED: usize = 64;

impl Dialers {
    /// Loads and checks the client's TLS files once, so a broken
    /// certificate is reported at start (exit status 2), not at first use.
    pub fn new(tls: &TlsConfig, revocation: Arc<Revocation>) -> Result<Dialers> {
        let (files, client_name) = files_and_name(tls)?;
        let unpinned =
            Dialer::with_pin(&files, &client_name, None, &revocation).map_err(Error::usage)?;
        let cache = HashMap::from([(None, Arc::new(unpinned))]);
        Ok(Dialers {
            files,
            client_name,
            revocation,
            cache: Mutex::new(cache),
            required: None,
        })
    }

    /// Accept only the agent certificate `pin` (if given), whatever an
    /// advertisement says.
    pub fn require(mut self, pin: Option<Fingerprint>) -> Self {
        self.required = pin;
        self
    }

    /// This client's name, from its certificate.
    pub fn client_name(&self) -> &str {
        &self.client_name
    }

    /// The agent certificates every dialer of this set refuses.
    pub fn revocation(&self) -> &Arc<Revocation> {
        &self.revocation
    }

    /// The dialer for `pin`.
    pub fn get(&self, pin: Option<Fingerprint>) -> Result<Arc<Dialer>, PkiError> {
        let pin = self.required.or(pin);
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(d) = cache.get(&pin) {
            return Ok(d.clone());
        }
        let d = Arc::new(Dialer::with_pin(
            &self.files,
            &self.client_name,
            pin,
            &self.revocation,
        )?);
        if cache.len() > MAX_PINNED {
            cache.retain(|pin, _| pin.is_none());
        }
        cache.insert(pin, d.clone());
        Ok(d)
    }

    #[cfg(test)]
    fn cached(&self) -> usize {
        self.cache.lock().unwrap().len()
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use serialmesh_pki::Role;

    #[test]
    fn pins_from_adverts_cannot_grow_the_cache_without_bound() {
        let dir = tempfile::tempdir().unwrap();
        serialmesh_pki::init_ca(&dir.path().join("ca")).unwrap();
        let out = dir.path().join("gw");
        let issued =
            serialmesh_pki::issue(&dir.path().join("ca"), Role::Client, "gw", None, &out).unwrap();
        let tls = TlsConfig {
            cert: issued.cert,
            key: issued.key,
            ca: issued.ca,
        };
        let dialers = Dialers::new(&tls, Revocation::none()).unwrap();
        for i in 0..(3 * MAX_PINNED as u32) {
            let mut key = [0u8; 32];
            key[..4].copy_from_slice(&i.to_be_bytes());
            dialers.get(Some(Fingerprint(key))).unwrap();
        }
        assert!(dialers.cached() <= MAX_PINNED + 2, "{}", dialers.cached());
        // The unpinned dialer is never dropped.
        assert!(dialers.cache.lock().unwrap().contains_key(&None));
    }
}
