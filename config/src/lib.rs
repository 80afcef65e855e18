//! Typed configuration for `seriald` and `serialctl`.
//!
//! Files are TOML. Every key is optional where docs/design.md ("Agent
//! config") says so; unknown keys are errors (a typo silently ignored is a
//! door lock silently unshared).
//! Errors carry `file:line:column` and a hint.

mod agent;
mod authz;
mod client;
mod error;
mod esphome;
#[doc(hidden)]
pub mod fuzzing;
mod hints;
mod limits;
mod load;
mod local_users;
mod names;
mod profile;
#[cfg(feature = "renewal")]
pub mod renewal;
mod revoked;

pub use agent::{AgentConfig, DeviceConfig, Stated, DEFAULT_CONFIG_DIR};
pub use authz::{Access, AllowRule, AuthzConfig, DevicePattern, Grants, Place};
pub use client::{ClientConfig, EndpointConfig, EndpointTarget};
pub use error::ConfigError;
pub use esphome::{
    parse_esphome_key, read_esphome_key, EsphomeClient, EsphomeConfig, ESPHOME_PORT,
};
pub use limits::LimitsConfig;
pub use load::{parse_agent, parse_client};
pub use local_users::{allow_users_unusable_on, LocalUser, LocalUsers};
pub use names::{check_host_port, check_name, Address};
pub use profile::UserProfile;
pub use revoked::{load_revoked, parse_revoked};

use serde::Deserialize;
use std::path::PathBuf;

/// The `[tls]` table shared by agent and client configs.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca: PathBuf,
}
