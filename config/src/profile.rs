//! `[[profile]]` tables: how the agent recognises a discovered device and
//! what it shares it as. User profiles are tried before the built-in ones
//! (in the agent's discovery module), so they override them.

use serde::Deserialize;
use serialmesh_proto::{DataBits, FlowControl, Parity, StopBits};
use toml::Spanned;

use crate::load::Ctx;
use crate::{check_name, ConfigError};

/// A validated `[[profile]]`.
///
/// Every match key that is set must match (they combine with AND); at least
/// one is required. Every set key that is set overrides what a built-in
/// profile (or the defaults) would use for the device.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserProfile {
    /// `user-N`, N counting `[[profile]]` tables from 1 in file order; shown
    /// by `seriald devices` as the matched profile.
    pub id: String,
    // Match keys.
    pub vid: Option<u16>,
    pub pid: Option<u16>,
    /// Exact USB serial number.
    pub serial: Option<String>,
    /// Case-insensitive substring of the USB product string.
    pub product: Option<String>,
    /// USB interface number (`bInterfaceNumber`).
    pub interface: Option<u8>,
    /// Glob (`*`, `?`) matched against the `/dev` node and its
    /// `/dev/serial/by-id` link; the only key that can select a non-USB port.
    pub path: Option<String>,
    // Set keys.
    pub name: Option<String>,
    pub baud: Option<u32>,
    pub data_bits: Option<DataBits>,
    pub parity: Option<Parity>,
    pub stop_bits: Option<StopBits>,
    pub flow_control: Option<FlowControl>,
    pub dtr: Option<bool>,
    pub rts: Option<bool>,
    pub takeover: Option<bool>,
}

impl UserProfile {
    /// Whether any key needs a USB device (all but `path`).
    pub fn needs_usb(&self) -> bool {
        self.vid.is_some()
            || self.pid.is_some()
            || self.serial.is_some()
            || self.product.is_some()
            || self.interface.is_some()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawProfile {
    vid: Option<Spanned<String>>,
    pid: Option<Spanned<String>>,
    serial: Option<Spanned<String>>,
    product: Option<Spanned<String>>,
    interface: Option<u8>,
    path: Option<Spanned<String>>,
    name: Option<Spanned<String>>,
    baud: Option<Spanned<u32>>,
    data_bits: Option<DataBits>,
    parity: Option<Parity>,
    stop_bits: Option<StopBits>,
    flow_control: Option<FlowControl>,
    dtr: Option<bool>,
    rts: Option<bool>,
    takeover: Option<bool>,
}

/// Validates the `[[profile]]` tables in file order. `table` spans point at
/// each whole table, for errors that belong to no single key.
pub(crate) fn validate_profiles(
    raw: Vec<Spanned<RawProfile>>,
    ctx: &Ctx,
) -> Result<Vec<UserProfile>, ConfigError> {
    raw.into_iter()
        .enumerate()
        .map(|(i, p)| {
            let span = p.span();
            validate_one(p.into_inner(), i + 1, span, ctx)
        })
        .collect()
}

fn validate_one(
    p: RawProfile,
    number: usize,
    table: std::ops::Range<usize>,
    ctx: &Ctx,
) -> Result<UserProfile, ConfigError> {
    let usb_id = |v: Option<Spanned<String>>, what: &str| -> Result<Option<u16>, ConfigError> {
        v.map(|s| {
            parse_usb_id(s.get_ref()).ok_or_else(|| {
                ctx.at(
                    s.span(),
                    format!("{what} '{}' is not a USB id", s.get_ref()),
                    Some(format!(
                        "write 4 hex digits as lsusb shows them, e.g. {what} = \"10c4\""
                    )),
                )
            })
        })
        .transpose()
    };
    let non_empty =
        |v: Option<Spanned<String>>, what: &str| -> Result<Option<String>, ConfigError> {
            match v {
                Some(s) if s.get_ref().trim().is_empty() => Err(ctx.at(
                    s.span(),
                    format!("{what} is empty"),
                    Some(format!("leave out {what} to match any")),
                )),
                other => Ok(other.map(Spanned::into_inner)),
            }
        };
    let vid = usb_id(p.vid, "vid")?;
    let pid = usb_id(p.pid, "pid")?;
    let serial = non_empty(p.serial, "serial")?;
    let product = non_empty(p.product, "product")?;
    if let Some(path) = &p.path {
        if !path.get_ref().starts_with('/') {
            return Err(ctx.at(
                path.span(),
                format!("profile path '{}' is not absolute", path.get_ref()),
                Some("write a full path or glob, e.g. \"/dev/serial/by-id/*Zooz*\"".into()),
            ));
        }
    }
    let path = p.path.map(Spanned::into_inner);
    if let Some(n) = &p.name {
        check_name("profile name", n.get_ref()).map_err(|m| ctx.at(n.span(), m, None))?;
    }
    if let Some(b) = &p.baud {
        if *b.get_ref() == 0 || *b.get_ref() > 12_000_000 {
            return Err(ctx.at(
                b.span(),
                format!("baud {} is out of range", b.get_ref()),
                Some("use a rate between 1 and 12000000, e.g. 115200".into()),
            ));
        }
    }
    let profile = UserProfile {
        id: format!("user-{number}"),
        vid,
        pid,
        serial,
        product,
        interface: p.interface,
        path,
        name: p.name.map(Spanned::into_inner),
        baud: p.baud.map(Spanned::into_inner),
        data_bits: p.data_bits,
        parity: p.parity,
        stop_bits: p.stop_bits,
        flow_control: p.flow_control,
        dtr: p.dtr,
        rts: p.rts,
        takeover: p.takeover,
    };
    // A profile without match keys would claim every port on the host.
    if !profile.needs_usb() && profile.path.is_none() {
        return Err(ctx.at(
            table,
            format!("[[profile]] number {number} has nothing to match on"),
            Some(
                "add at least one of vid, pid, serial, product, interface or path, e.g. vid = \"0658\""
                    .into(),
            ),
        ));
    }
    Ok(profile)
}

/// `"10c4"`, `"10C4"` or `"0x10c4"`: what lsusb and sysfs show.
fn parse_usb_id(s: &str) -> Option<u16> {
    let hex = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s);
    if hex.is_empty() || hex.len() > 4 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    u16::from_str_radix(hex, 16).ok()
}

#[cfg(test)]
#[path = "profile_tests.rs"]
mod tests;
