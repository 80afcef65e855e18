//! `[[esphome]]`: an ESPHome native API endpoint for one device, the
//! transport zwave-js reaches as `esphome://HOST:6053?key=BASE64`. Its
//! clients are `[[esphome.client]]` entries, each with its own key file in
//! ESPHome's API encryption key format (base64 of 32 random bytes), so one
//! client's key can be revoked alone. There is no unencrypted mode: the
//! key is the only thing that tells a client from anyone on the LAN.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use base64::Engine;
use serde::Deserialize;
use toml::Spanned;

use crate::agent::parse_listen;
use crate::load::Ctx;
use crate::{check_name, ConfigError};

/// ESPHome's API port.
pub const ESPHOME_PORT: u16 = 6053;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EsphomeConfig {
    /// The shared device it serves (a `[[device]]` or a discovered one).
    pub device: String,
    pub listen: SocketAddr,
    /// Advertise `_zwave._tcp` with TXT `protocol=esphome` over mDNS.
    pub advertise: bool,
    pub clients: Vec<EsphomeClient>,
}

#[derive(Clone, PartialEq, Eq)]
pub struct EsphomeClient {
    /// As it appears in logs, metrics, `ls` and `[[allow]]`.
    pub name: String,
    pub key_file: PathBuf,
    /// The key as the file held it when the config was read.
    pub key: [u8; 32],
}

impl std::fmt::Debug for EsphomeClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("EsphomeClient")
            .field("name", &self.name)
            .field("key_file", &self.key_file)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEsphome {
    device: Spanned<String>,
    listen: Option<Spanned<String>>,
    #[serde(default)]
    advertise: bool,
    #[serde(default)]
    client: Vec<RawEsphomeClient>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEsphomeClient {
    name: Spanned<String>,
    key_file: Spanned<PathBuf>,
}

const KEY_HINT: &str =
    "a key file holds base64 of 32 random bytes, ESPHome's API key format: head -c32 /dev/urandom | base64 > FILE";

/// Reads an ESPHome API key: base64 (standard alphabet, padded) of exactly
/// 32 bytes, surrounding whitespace ignored.
pub fn parse_esphome_key(text: &str) -> Result<[u8; 32], String> {
    let t = text.trim();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(t)
        .map_err(|e| format!("is not base64 ({e})"))?;
    <[u8; 32]>::try_from(bytes.as_slice())
        .map_err(|_| format!("holds {} bytes, not 32", bytes.len()))
}

/// Reads and parses `path`; the message says what is wrong with it. A key
/// file readable by group or others is refused, as private keys are: the
/// key is the client's whole credential.
pub fn read_esphome_key(path: &Path) -> Result<[u8; 32], String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map_err(|e| format!("cannot read key file {}: {e}", path.display()))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(format!(
            "key file {} is readable by group or others (mode {:04o}); run `chmod 600 {}`",
            path.display(),
            mode & 0o777,
            path.display()
        ));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read key file {}: {e}", path.display()))?;
    parse_esphome_key(&text).map_err(|e| format!("key file {} {e}", path.display()))
}

pub(crate) fn validate(
    raw: Vec<Spanned<RawEsphome>>,
    ctx: &Ctx,
) -> Result<Vec<EsphomeConfig>, ConfigError> {
    let mut out: Vec<EsphomeConfig> = Vec::new();
    for e in raw {
        let span = e.span();
        let e = e.into_inner();
        check_name("device name", e.device.get_ref())
            .map_err(|m| ctx.at(e.device.span(), m, None))?;
        let listen = match &e.listen {
            Some(l) => parse_listen(l.get_ref()).map_err(|m| {
                ctx.at(
                    l.span(),
                    m,
                    Some(format!(
                        "write HOST:PORT, e.g. \"0.0.0.0:{ESPHOME_PORT}\" (ESPHome's port)"
                    )),
                )
            })?,
            None => SocketAddr::from(([0, 0, 0, 0], ESPHOME_PORT)),
        };
        if let Some(other) = out.iter().find(|o| o.listen == listen) {
            let at = e.listen.as_ref().map_or(span.clone(), |l| l.span());
            return Err(ctx.at(
                at,
                format!(
                    "listen {listen} is already the endpoint of device '{}'",
                    other.device
                ),
                Some("give each [[esphome]] its own port".into()),
            ));
        }
        if e.client.is_empty() {
            return Err(ctx.at(
                span,
                format!(
                    "[[esphome]] for device '{}' has no [[esphome.client]]: nobody could connect",
                    e.device.get_ref()
                ),
                Some(
                    "add [[esphome.client]] with name = \"zwave-js-ui\" and key_file = \"zwave-js-ui.key\""
                        .into(),
                ),
            ));
        }
        let mut clients: Vec<EsphomeClient> = Vec::new();
        for c in e.client {
            check_name("client name", c.name.get_ref())
                .map_err(|m| ctx.at(c.name.span(), m, None))?;
            if clients.iter().any(|o| &o.name == c.name.get_ref()) {
                return Err(ctx.at(
                    c.name.span(),
                    format!("client name '{}' is used twice", c.name.get_ref()),
                    Some("give each [[esphome.client]] its own name and key".into()),
                ));
            }
            let key_file = ctx.resolve(c.key_file.get_ref().clone());
            let key = read_esphome_key(&key_file)
                .map_err(|m| ctx.at(c.key_file.span(), m, Some(KEY_HINT.into())))?;
            if key == [0; 32] {
                // ESPHome's "no key yet" placeholder: never a credential.
                return Err(ctx.at(
                    c.key_file.span(),
                    format!("key file {} holds the all-zero key", key_file.display()),
                    Some(KEY_HINT.into()),
                ));
            }
            if let Some(o) = clients.iter().find(|o| o.key == key) {
                return Err(ctx.at(
                    c.key_file.span(),
                    format!(
                        "key file {} holds the same key as client '{}'",
                        key_file.display(),
                        o.name
                    ),
                    Some(format!(
                        "each client needs its own key, or they cannot be told apart; {KEY_HINT}"
                    )),
                ));
            }
            clients.push(EsphomeClient {
                name: c.name.into_inner(),
                key_file,
                key,
            });
        }
        out.push(EsphomeConfig {
            device: e.device.into_inner(),
            listen,
            advertise: e.advertise,
            clients,
        });
    }
    Ok(out)
}

#[cfg(test)]
#[path = "esphome_tests.rs"]
mod tests;
