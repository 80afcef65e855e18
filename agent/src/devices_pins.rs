//! The `[[profile]]` pin `seriald devices` prints for each device: TOML the
//! user pastes into the agent config so the device keeps its bare name
//! (`zwave`) and no other device can ever get it.
//!
//! A pin names the device by its USB serial number (the only thing a stick
//! carries from port to port and host to host), and carries the line
//! settings in force, so it works wherever it is pasted: the first
//! `[[profile]]` that matches wins, and a pin pasted after a broader one
//! would otherwise be shadowed by it for the settings. Names are unique
//! among the pins printed together, and never a configured `[[device]]`'s.

use std::collections::BTreeSet;

use serde_json::Value;
use serialmesh_agent::usb::{Found, ShareAs, UNKNOWN_NAME};

/// What can be said about pinning one device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pin {
    /// A `[[profile]]` table (with a comment line above it).
    Profile(String),
    /// A user profile already pins it (its id).
    Already(String),
    /// It cannot be pinned, and why.
    Impossible(String),
}

/// One [`Pin`] per entry of `found`, in the same order. `reserved` are the
/// configured `[[device]]` names.
pub fn pins(found: &[Found], reserved: &[String]) -> Vec<Pin> {
    let mut used: BTreeSet<String> = reserved.iter().cloned().collect();
    for f in found {
        if let (Some(ShareAs::Pinned(_)), Some(name)) = (&f.share, &f.name) {
            used.insert(name.clone());
        }
    }
    found.iter().map(|f| pin(f, found, &mut used)).collect()
}

fn pin(f: &Found, all: &[Found], used: &mut BTreeSet<String>) -> Pin {
    if let (Some(ShareAs::Pinned(_)), Some(id)) = (&f.share, &f.profile) {
        return Pin::Already(id.clone());
    }
    let base = f
        .share
        .as_ref()
        .map_or(UNKNOWN_NAME, ShareAs::base)
        .to_owned();
    let mut keys: Vec<(&str, Value)> = Vec::new();
    match &f.usb {
        None => keys.push(("path", f.node.display().to_string().into())),
        Some(u) => {
            let serial = match u.serial.as_deref().map(str::trim) {
                Some(s) if !s.is_empty() => s,
                _ => {
                    return Pin::Impossible(format!(
                        "no USB serial number, so no [[profile]] can tell it from another {}; a [[device]] with its /dev/serial/by-path link keeps one name on USB port {}",
                        u.usb_id(),
                        u.port_path
                    ))
                }
            };
            if let Some(twin) = all.iter().find(|o| {
                o.tty != f.tty
                    && o.usb.as_ref().is_some_and(|v| {
                        v.usb_id() == u.usb_id()
                            && v.serial.as_deref().map(str::trim) == Some(serial)
                            && v.interface == u.interface
                            && v.port_number == u.port_number
                    })
            }) {
                return Pin::Impossible(format!(
                    "{} reports the same USB serial number {serial} (clones do), so a pin would match both; share each by its port with [[device]] path = \"/dev/serial/by-path/...\"",
                    twin.node.display()
                ));
            }
            keys.push(("vid", format!("{:04x}", u.vid).into()));
            keys.push(("pid", format!("{:04x}", u.pid).into()));
            keys.push(("serial", serial.into()));
            if let Some(n) = u.interface {
                keys.push(("interface", n.into()));
            }
        }
    }
    let name = free_name(&base, used);
    keys.push(("name", name.clone().into()));
    if let Ok(Value::Object(settings)) = serde_json::to_value(f.settings) {
        keys.extend(
            [
                "baud",
                "data_bits",
                "parity",
                "stop_bits",
                "flow_control",
                "dtr",
                "rts",
            ]
            .into_iter()
            .filter_map(|k| settings.get(k).map(|v| (k, v.clone()))),
        );
    }
    keys.push(("takeover", f.takeover.into()));
    let mut text = format!("# {}\n[[profile]]\n", about(f));
    for (k, v) in keys {
        // JSON's strings, numbers and booleans are valid TOML values (its
        // string escapes are a subset of TOML's basic strings).
        text.push_str(&format!("{k} = {v}\n"));
    }
    Pin::Profile(text)
}

/// `base`, else `base-2`, `base-3`, ... whichever no earlier pin or
/// configured device has.
fn free_name(base: &str, used: &mut BTreeSet<String>) -> String {
    let name = (1..)
        .map(|n| match n {
            1 => base.to_owned(),
            n => format!("{base}-{n}"),
        })
        .find(|c| !used.contains(c))
        .unwrap_or_else(|| base.to_owned());
    used.insert(name.clone());
    name
}

/// The comment line above a pin: node, product, name now. Product strings
/// come from the device, so control characters (a newline would start a
/// TOML line of the device's choosing) are replaced.
fn about(f: &Found) -> String {
    let product = f
        .usb
        .as_ref()
        .and_then(|u| u.product.as_deref())
        .map(|p| format!(" {p}"))
        .unwrap_or_default();
    let now = f
        .name
        .as_deref()
        .map_or_else(|| "not shared now".to_owned(), |n| format!("now {n}"));
    format!("{}{product}, {now}", f.node.display())
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use serialmesh_agent::usb::UsbInfo;
    use serialmesh_proto::LineSettings;

    use super::*;

    fn stick(tty: &str, serial: Option<&str>, product: &str) -> Found {
        Found {
            tty: tty.into(),
            node: PathBuf::from(format!("/dev/{tty}")),
            node_exists: true,
            by_id: None,
            usb: Some(UsbInfo {
                vid: 0x10c4,
                pid: 0xea60,
                serial: serial.map(str::to_owned),
                manufacturer: None,
                product: Some(product.into()),
                interface: Some(0),
                port_path: "1-1".into(),
                port_number: None,
            }),
            identity: format!("10c4:ea60:{}", serial.unwrap_or("-")),
            profile: Some("cp210x-zwave".into()),
            why_unmatched: None,
            share: Some(ShareAs::Kind("zwave".into())),
            name: None,
            refused: None,
            settings: LineSettings::default(),
            takeover: false,
        }
    }

    fn text(pin: &Pin) -> &str {
        match pin {
            Pin::Profile(t) => t,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_product_string_cannot_write_toml_of_its_own() {
        let evil = stick("ttyUSB0", Some("AAA"), "Stick\n[[device]]\nname = \"x\"");
        let pins = pins(&[evil], &[]);
        let t = text(&pins[0]);
        assert_eq!(t.lines().filter(|l| l.starts_with('[')).count(), 1, "{t}");
        assert!(
            t.starts_with("# /dev/ttyUSB0 Stick?[[device]]?name = \"x\", not shared now\n"),
            "{t}"
        );
        let config =
            serialmesh_config::parse_agent(t, std::path::Path::new("/etc/a.toml")).unwrap();
        assert_eq!((config.profile.len(), config.devices.len()), (1, 0));
    }

    #[test]
    fn serial_numbers_are_quoted_as_toml_strings() {
        let odd = stick("ttyUSB0", Some("A\"B\\C"), "Stick");
        let pins = pins(&[odd], &[]);
        assert!(
            text(&pins[0]).contains("serial = \"A\\\"B\\\\C\"\n"),
            "{:?}",
            pins[0]
        );
    }

    #[test]
    fn names_are_unique_among_pins_and_configured_devices() {
        let found = [
            stick("ttyUSB0", Some("AAA"), "Stick"),
            stick("ttyUSB1", Some("BBB"), "Stick"),
        ];
        let pins = pins(&found, &["zwave".to_string()]);
        assert!(text(&pins[0]).contains("name = \"zwave-2\"\n"));
        assert!(text(&pins[1]).contains("name = \"zwave-3\"\n"));
    }
}
