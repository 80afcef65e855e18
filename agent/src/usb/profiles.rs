//! Deciding what a discovered port is: a user profile, a built-in profile,
//! or unknown (and then why).

use std::path::Path;

use serialmesh_config::UserProfile;
use serialmesh_proto::{DataBits, LineSettings, Parity, StopBits};

use super::builtin::{known_ids, Builtin, BUILTINS};
use super::stable_name::ShareAs;
use super::UsbInfo;

/// Share name for devices no profile names: unknown USB devices shared
/// with `share_unknown`, and user profiles without `name`.
pub const UNKNOWN_NAME: &str = "serial";

/// Line settings for a device no profile describes: 9600 8N1, what a fresh
/// serial port and most RS-232 equipment start at.
pub fn unknown_settings() -> LineSettings {
    LineSettings {
        baud: 9_600,
        ..LineSettings::default()
    }
}

/// What a port is shared as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Id of the profile that matched (`user-N` or a built-in id).
    pub profile: Option<String>,
    /// Why no profile matched, for `seriald devices`.
    pub why_unmatched: Option<String>,
    /// What the share name comes from; `None` means not shared.
    pub share: Option<ShareAs>,
    pub settings: LineSettings,
    pub takeover: bool,
}

/// The port being judged.
pub struct Port<'a> {
    pub node: &'a Path,
    pub by_id: Option<&'a Path>,
    pub usb: Option<&'a UsbInfo>,
}

/// Judges `port`. A port without USB information (a UART on the board, a
/// Bluetooth rfcomm) is only shared when a user profile selects it by path;
/// otherwise `None`: the agent does not list it at all.
pub fn judge(port: &Port, user: &[UserProfile], share_unknown: bool) -> Option<Verdict> {
    let builtin = port.usb.and_then(builtin_for);
    if let Some(u) = user.iter().find(|u| user_matches(u, port)) {
        let base = builtin.map_or_else(unknown_settings, builtin_settings);
        let name = u
            .name
            .clone()
            .or_else(|| builtin.map(|b| b.name.to_string()))
            .unwrap_or_else(|| UNKNOWN_NAME.to_string());
        return Some(Verdict {
            profile: Some(u.id.clone()),
            why_unmatched: None,
            share: Some(if pins(u, port) {
                ShareAs::Pinned(name)
            } else {
                ShareAs::Kind(name)
            }),
            settings: apply_user(base, u),
            takeover: u.takeover.unwrap_or(false),
        });
    }
    let usb = port.usb?;
    Some(match builtin {
        Some(b) => Verdict {
            profile: Some(b.id.to_string()),
            why_unmatched: None,
            share: Some(ShareAs::Kind(b.name.to_string())),
            settings: builtin_settings(b),
            takeover: false,
        },
        None => Verdict {
            profile: None,
            why_unmatched: Some(why_unmatched(usb)),
            share: share_unknown.then(|| ShareAs::Kind(UNKNOWN_NAME.to_string())),
            settings: unknown_settings(),
            takeover: false,
        },
    })
}

/// Whether profile `u` (which matched `port`) names this one device, so
/// that no other can ever match it: by its USB serial number, or by the
/// exact path of a port that is not a USB adapter (a UART on the board
/// stays where it is; a `/dev/ttyUSB0` does not: the kernel numbers USB
/// adapters in the order they appear).
fn pins(u: &UserProfile, port: &Port) -> bool {
    let exact_path = u.path.as_deref().is_some_and(|p| !p.contains(['*', '?']));
    u.serial.is_some() || (exact_path && port.usb.is_none())
}

/// The first built-in entry that matches, in table order.
pub fn builtin_for(usb: &UsbInfo) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|b| {
        b.vid == usb.vid
            && b.pid == usb.pid
            && b.interface.is_none_or(|n| usb.interface == Some(n))
            && b.product
                .is_none_or(|p| contains_ci(usb.product.as_deref(), p))
    })
}

fn builtin_settings(b: &Builtin) -> LineSettings {
    LineSettings {
        baud: b.baud,
        data_bits: DataBits::Eight,
        parity: Parity::None,
        stop_bits: StopBits::One,
        flow_control: b.flow_control,
        dtr: b.dtr,
        rts: b.rts,
    }
}

fn apply_user(mut s: LineSettings, u: &UserProfile) -> LineSettings {
    s.baud = u.baud.unwrap_or(s.baud);
    s.data_bits = u.data_bits.unwrap_or(s.data_bits);
    s.parity = u.parity.unwrap_or(s.parity);
    s.stop_bits = u.stop_bits.unwrap_or(s.stop_bits);
    s.flow_control = u.flow_control.unwrap_or(s.flow_control);
    s.dtr = u.dtr.or(s.dtr);
    s.rts = u.rts.or(s.rts);
    s
}

fn user_matches(u: &UserProfile, port: &Port) -> bool {
    if let Some(glob) = &u.path {
        let hit = glob_match(glob, &port.node.to_string_lossy())
            || port
                .by_id
                .is_some_and(|p| glob_match(glob, &p.to_string_lossy()));
        if !hit {
            return false;
        }
    }
    if !u.needs_usb() {
        return true;
    }
    let Some(usb) = port.usb else {
        return false;
    };
    u.vid.is_none_or(|v| v == usb.vid)
        && u.pid.is_none_or(|p| p == usb.pid)
        && u.serial
            .as_ref()
            .is_none_or(|s| usb.serial.as_deref() == Some(s.as_str()))
        && u.product
            .as_ref()
            .is_none_or(|p| contains_ci(usb.product.as_deref(), p))
        && u.interface.is_none_or(|n| usb.interface == Some(n))
}

/// Says why no built-in profile fits, naming what would have.
fn why_unmatched(usb: &UsbInfo) -> String {
    let id = format!("{:04x}:{:04x}", usb.vid, usb.pid);
    let known: Vec<&Builtin> = known_ids(usb.vid, usb.pid).collect();
    if known.is_empty() {
        return format!("no profile for {id}");
    }
    if known.iter().any(|b| b.product.is_some()) {
        let names: Vec<&str> = known.iter().filter_map(|b| b.product).collect();
        let product = usb
            .product
            .as_deref()
            .map_or("no product string".to_string(), |p| {
                format!("product '{p}'")
            });
        return format!(
            "{id} is shared by several products; {product} contains none of: {}",
            names.join(", ")
        );
    }
    let interfaces: Vec<String> = known
        .iter()
        .filter_map(|b| b.interface.map(|n| n.to_string()))
        .collect();
    let this = usb
        .interface
        .map_or("unknown".to_string(), |n| n.to_string());
    format!(
        "{id} interface {this} has no profile (known interfaces: {})",
        interfaces.join(", ")
    )
}

fn contains_ci(haystack: Option<&str>, needle: &str) -> bool {
    haystack.is_some_and(|h| h.to_lowercase().contains(&needle.to_lowercase()))
}

/// Shell-style glob: `*` is any run of characters and `?` any one
/// character, neither crossing `/`; everything else is literal.
pub fn glob_match(glob: &str, text: &str) -> bool {
    let g: Vec<char> = glob.chars().collect();
    let t: Vec<char> = text.chars().collect();
    // Classic two-pointer match with one backtrack point for the last `*`.
    let (mut gi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if gi < g.len() && (g[gi] == t[ti] || (g[gi] == '?' && t[ti] != '/')) {
            gi += 1;
            ti += 1;
        } else if gi < g.len() && g[gi] == '*' {
            star = Some((gi, ti));
            gi += 1;
        } else if let Some((sg, st)) = star {
            if t[st] == '/' {
                return false;
            }
            gi = sg + 1;
            ti = st + 1;
            star = Some((sg, st + 1));
        } else {
            return false;
        }
    }
    g[gi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serialmesh_proto::FlowControl;

    #[test]
    fn globs_match_like_a_shell_within_one_directory() {
        assert!(glob_match(
            "/dev/serial/by-id/*Zooz*",
            "/dev/serial/by-id/usb-Zooz_800-if00"
        ));
        assert!(glob_match("/dev/ttyUSB?", "/dev/ttyUSB3"));
        assert!(glob_match("/dev/ttyS0", "/dev/ttyS0"));
        assert!(glob_match("/dev/*", "/dev/ttyS0"));
        assert!(!glob_match("/dev/ttyUSB?", "/dev/ttyUSB10"));
        assert!(!glob_match("/dev/*", "/dev/serial/by-id/x"));
        assert!(!glob_match("/dev/tty*", "/dev/pts/1"));
        assert!(!glob_match("/dev/ttyS0", "/dev/ttyS01"));
        assert!(glob_match("/dev/**", "/dev/x"));
    }

    #[test]
    fn every_builtin_line_setting_is_8n1() {
        assert!(BUILTINS.len() >= 13);
        for b in BUILTINS {
            let s = builtin_settings(b);
            assert_eq!(s.to_string().split(' ').nth(1), Some("8N1"), "{}", b.id);
            assert!(b.baud == 9_600 || b.baud == 57_600 || b.baud == 115_200);
        }
    }

    #[test]
    fn flow_control_follows_the_firmware() {
        let by_id = |id: &str| BUILTINS.iter().find(|b| b.id == id).map(|b| b.flow_control);
        assert_eq!(by_id("ha-skyconnect"), Some(FlowControl::Hardware));
        assert_eq!(by_id("nortek-husbzb-1-zigbee"), Some(FlowControl::Software));
        assert_eq!(by_id("sonoff-zbdongle-e"), Some(FlowControl::None));
    }
}
