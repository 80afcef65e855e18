//! Trust for serialmesh: one private CA per installation, certificates that
//! carry a role (agent or client) and a name, and rustls configurations
//! that accept exactly the peers the CA vouches for in the expected role,
//! minus a deny-list, regardless of what the host clock says.

mod ca;
mod deny;
mod error;
mod fingerprint;
mod identity;
mod inspect;
mod issue;
mod load;
mod probe;
mod refusal_log;
mod renewable_cert;
mod role;
mod tls;
mod untrusted;
mod verifier;
mod verify;
mod write;

#[cfg(test)]
mod tests;

pub use ca::init_ca;
pub use deny::DenyList;
pub use error::PkiError;
pub use fingerprint::{legacy_certificate_hash, Fingerprint};
pub use identity::{identity_of, Identity};
pub use inspect::{inspect, CertInfo};
pub use issue::{issue, Issued};
pub use load::{load_certs, load_key};
pub use probe::AgentProbe;
pub use renewable_cert::{RenewableCert, Renewal};
pub use role::Role;
pub use tls::{
    check_certificate, client_config, crypto_provider, renewable_server_config, server_config,
    TlsFiles,
};
pub use untrusted::untrusted;
