//! `seriald` configuration.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;
use serialmesh_proto::{DataBits, FlowControl, LineSettings, Parity, StopBits, DEFAULT_PORT};
use toml::Spanned;

use crate::authz::{RawAllow, RawAuthz};
use crate::esphome::{EsphomeConfig, RawEsphome};
use crate::limits::{LimitsConfig, RawLimits};
use crate::load::Ctx;
use crate::profile::{validate_profiles, RawProfile};
use crate::{check_host_port, check_name, AuthzConfig, ConfigError, TlsConfig, UserProfile};

/// Where certificates live when the config does not say.
pub const DEFAULT_CONFIG_DIR: &str = "/etc/serialmesh";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentConfig {
    /// `name`, if the config states one: the certificate says who the
    /// agent is, and a config that disagrees is an error at start.
    pub name: Option<Stated>,
    /// `zone`, if stated (checked like `name`).
    pub zone: Option<Stated>,
    pub listen: SocketAddr,
    pub tls: TlsConfig,
    pub devices: Vec<DeviceConfig>,
    /// `[[profile]]` tables, in file order (tried before built-in profiles).
    pub profile: Vec<UserProfile>,
    /// Share USB serial devices that no profile recognises, as `serial`.
    pub share_unknown: bool,
    /// Where sysfs is mounted (tests point it at a fake tree).
    pub sysfs: PathBuf,
    /// Where device nodes are (`/dev`; containers may mount the host's
    /// elsewhere).
    pub dev: PathBuf,
    /// USB discovery on or off; off shares only `[[device]]` entries.
    pub discovery: bool,
    /// Health and metrics HTTP address (`/healthz`, `/readyz`, `/metrics`).
    pub admin: Option<SocketAddr>,
    /// Other agents (`host:port`) to report to clients where mDNS does not
    /// reach (pod networks, other VLANs).
    pub seeds: Vec<String>,
    /// `[[allow]]` rules, `revoked` and `revoked_file`.
    pub authz: AuthzConfig,
    /// `[limits]`: what an unauthenticated or idle peer may cost.
    pub limits: LimitsConfig,
    /// `[[esphome]]` endpoints (ESPHome's native API, for zwave-js).
    pub esphome: Vec<EsphomeConfig>,
}

/// A value the config states, with where it says it (`file:line:column`),
/// for messages that point at the line to change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stated {
    pub value: String,
    pub place: String,
}

/// A device given by path in the config (beside discovered ones).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceConfig {
    pub name: String,
    pub path: PathBuf,
    pub settings: LineSettings,
    /// A session from another client identity replaces the holder instead of
    /// being refused as busy.
    pub takeover: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAgent {
    name: Option<Spanned<String>>,
    zone: Option<Spanned<String>>,
    listen: Option<Spanned<String>>,
    tls: Option<TlsConfig>,
    #[serde(default)]
    seeds: Vec<Spanned<String>>,
    #[serde(default)]
    device: Vec<RawDevice>,
    #[serde(default)]
    profile: Vec<Spanned<RawProfile>>,
    #[serde(default)]
    share_unknown: bool,
    sysfs: Option<PathBuf>,
    dev: Option<PathBuf>,
    discovery: Option<bool>,
    admin: Option<Spanned<String>>,
    #[serde(default)]
    allow: Vec<Spanned<RawAllow>>,
    allow_everyone: Option<Spanned<bool>>,
    #[serde(default)]
    revoked: Vec<Spanned<String>>,
    revoked_file: Option<PathBuf>,
    limits: Option<RawLimits>,
    #[serde(default)]
    esphome: Vec<Spanned<RawEsphome>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDevice {
    name: Spanned<String>,
    path: Spanned<PathBuf>,
    baud: Option<Spanned<u32>>,
    data_bits: Option<DataBits>,
    parity: Option<Parity>,
    stop_bits: Option<StopBits>,
    flow_control: Option<FlowControl>,
    dtr: Option<bool>,
    rts: Option<bool>,
    #[serde(default)]
    takeover: bool,
}

impl RawAgent {
    pub(crate) fn validate(self, ctx: &Ctx) -> Result<AgentConfig, ConfigError> {
        let name = match self.name {
            Some(n) => {
                check_name("agent name", n.get_ref()).map_err(|m| ctx.at(n.span(), m, None))?;
                Some(Stated {
                    place: ctx.place(n.span()),
                    value: n.into_inner(),
                })
            }
            None => None,
        };
        let zone = match self.zone {
            Some(z) => {
                check_name("zone", z.get_ref()).map_err(|m| ctx.at(z.span(), m, None))?;
                Some(Stated {
                    place: ctx.place(z.span()),
                    value: z.into_inner(),
                })
            }
            None => None,
        };
        let listen = match self.listen {
            Some(l) => parse_listen(l.get_ref()).map_err(|m| {
                ctx.at(
                    l.span(),
                    m,
                    Some(format!("write HOST:PORT, e.g. \"0.0.0.0:{DEFAULT_PORT}\"")),
                )
            })?,
            None => SocketAddr::from(([0, 0, 0, 0], DEFAULT_PORT)),
        };
        let tls = match self.tls {
            Some(t) => ctx.resolve_tls(t),
            None => TlsConfig {
                cert: PathBuf::from(format!("{DEFAULT_CONFIG_DIR}/agent.pem")),
                key: PathBuf::from(format!("{DEFAULT_CONFIG_DIR}/agent.key")),
                ca: PathBuf::from(format!("{DEFAULT_CONFIG_DIR}/ca.pem")),
            },
        };
        let mut devices: Vec<DeviceConfig> = Vec::new();
        for d in self.device {
            check_name("device name", d.name.get_ref())
                .map_err(|m| ctx.at(d.name.span(), m, None))?;
            if devices.iter().any(|o| &o.name == d.name.get_ref()) {
                return Err(ctx.at(
                    d.name.span(),
                    format!("device name '{}' is used twice", d.name.get_ref()),
                    Some("give each [[device]] its own name".into()),
                ));
            }
            if !d.path.get_ref().is_absolute() {
                return Err(ctx.at(
                    d.path.span(),
                    format!(
                        "device path '{}' is not absolute",
                        d.path.get_ref().display()
                    ),
                    Some(
                        "write the full path, e.g. \"/dev/ttyUSB0\" or a /dev/serial/by-id link"
                            .into(),
                    ),
                ));
            }
            let mut settings = LineSettings::default();
            if let Some(b) = d.baud {
                if *b.get_ref() == 0 || *b.get_ref() > 12_000_000 {
                    return Err(ctx.at(
                        b.span(),
                        format!("baud {} is out of range", b.get_ref()),
                        Some("use a rate between 1 and 12000000, e.g. 115200".into()),
                    ));
                }
                settings.baud = b.into_inner();
            }
            settings.data_bits = d.data_bits.unwrap_or(settings.data_bits);
            settings.parity = d.parity.unwrap_or(settings.parity);
            settings.stop_bits = d.stop_bits.unwrap_or(settings.stop_bits);
            settings.flow_control = d.flow_control.unwrap_or(settings.flow_control);
            settings.dtr = d.dtr;
            settings.rts = d.rts;
            devices.push(DeviceConfig {
                name: d.name.into_inner(),
                path: d.path.into_inner(),
                settings,
                takeover: d.takeover,
            });
        }
        let admin = match self.admin {
            Some(a) => Some(parse_listen(a.get_ref()).map_err(|m| {
                ctx.at(
                    a.span(),
                    m,
                    Some("write HOST:PORT, e.g. \"127.0.0.1:21318\"".into()),
                )
            })?),
            None => None,
        };
        let mut seeds = Vec::new();
        for s in self.seeds {
            check_host_port("seed", s.get_ref()).map_err(|m| ctx.at(s.span(), m, None))?;
            seeds.push(s.into_inner());
        }
        let authz = RawAuthz {
            allow: self.allow,
            allow_everyone: self.allow_everyone,
            revoked: self.revoked,
            revoked_file: self.revoked_file,
        }
        .validate(ctx)?;
        let limits = match self.limits {
            Some(l) => l.validate(ctx)?,
            None => LimitsConfig::default(),
        };
        let esphome = crate::esphome::validate(self.esphome, ctx)?;
        Ok(AgentConfig {
            esphome,
            authz,
            limits,
            seeds,
            admin,
            name,
            zone,
            listen,
            tls,
            devices,
            profile: validate_profiles(self.profile, ctx)?,
            share_unknown: self.share_unknown,
            sysfs: self
                .sysfs
                .map_or_else(|| PathBuf::from("/sys"), |p| ctx.resolve(p)),
            dev: self
                .dev
                .map_or_else(|| PathBuf::from("/dev"), |p| ctx.resolve(p)),
            discovery: self.discovery.unwrap_or(true),
        })
    }
}

pub(crate) fn parse_listen(s: &str) -> Result<SocketAddr, String> {
    s.parse()
        .map_err(|_| format!("'{s}' is not a socket address"))
}
