//! Walking `{sysfs}/class/tty` and reading USB attributes, without udev.
//!
//! The layout, as the kernel makes it:
//!
//! ```text
//! class/tty/ttyUSB0 -> ../../devices/.../usb1/1-1/1-1:1.0/ttyUSB0/tty/ttyUSB0
//!   device    -> .../1-1:1.0/ttyUSB0   (usb-serial port; subsystem bus/usb-serial)
//!   device/.. =  .../1-1:1.0           (interface: bInterfaceNumber)
//!   device/../.. = .../1-1             (USB device: idVendor, idProduct, serial, ...)
//! class/tty/ttyACM0 -> ../../devices/.../usb1/1-2/1-2:1.0/tty/ttyACM0
//!   device    -> .../1-2:1.0           (cdc_acm interface; subsystem bus/usb)
//!   device/.. =  .../1-2               (USB device)
//! ```
//!
//! Anything that does not look like that is skipped with a debug log: a
//! half-gone device mid-unplug must never take the agent down.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use tracing::debug;

use super::UsbInfo;

/// One tty the walk found, before profiles are applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tty {
    pub tty: String,
    /// Subsystem of its `device` (`usb-serial`, `usb`, `platform`, ...);
    /// `None` when it has no `device` link (virtual ttys).
    pub subsystem: Option<String>,
    pub usb: Option<UsbInfo>,
}

/// Kernel names of serial ports worth sharing: a known prefix and 1 to 3
/// digits (`ttyUSB0`, `ttyACM12`, `rfcomm0`), not consoles or ptys.
pub fn is_serial_name(name: &str) -> bool {
    const PREFIXES: [&str; 8] = [
        "ttyS", "ttyUSB", "ttyACM", "ttyAMA", "ttyHS", "rfcomm", "ttyO", "ttymxc",
    ];
    PREFIXES.iter().any(|p| {
        name.strip_prefix(p)
            .is_some_and(|d| (1..=3).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()))
    })
}

/// Every serial-looking tty under `{sysfs}/class/tty`, with USB
/// information where it is a USB device. Unreadable entries are skipped.
pub fn walk(sysfs: &Path) -> Vec<Tty> {
    let class = sysfs.join("class/tty");
    let entries = match fs::read_dir(&class) {
        Ok(e) => e,
        Err(e) => {
            debug!(dir = %class.display(), error = %e, "cannot list ttys");
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for entry in entries {
        let Ok(entry) = entry else { continue };
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if !is_serial_name(&name) {
            continue;
        }
        match read_tty(&class.join(&name), &name) {
            Ok(t) => out.push(t),
            Err(why) => debug!(tty = %name, "skipped: {why}"),
        }
    }
    out
}

fn read_tty(class_dir: &Path, name: &str) -> Result<Tty, String> {
    let device_link = class_dir.join("device");
    if fs::symlink_metadata(&device_link).is_err() {
        return Ok(Tty {
            tty: name.to_owned(),
            subsystem: None,
            usb: None,
        });
    }
    let device = fs::canonicalize(&device_link)
        .map_err(|e| format!("cannot follow {}: {e}", device_link.display()))?;
    let subsystem = link_name(&device.join("subsystem"))?;
    // usb-serial puts a port device between the interface and the tty;
    // cdc_acm hangs the tty straight off the interface.
    let interface_dir = match subsystem.as_str() {
        "usb-serial" => device.parent().map(Path::to_path_buf),
        "usb" => Some(device.clone()),
        _ => {
            return Ok(Tty {
                tty: name.to_owned(),
                subsystem: Some(subsystem),
                usb: None,
            })
        }
    }
    .ok_or_else(|| format!("{} has no parent", device.display()))?;
    // The USB device (idVendor, ...) is normally the interface's parent;
    // a driver that hangs the tty off the device itself must not make us
    // read the hub above it instead.
    let usb_dir = if interface_dir.join("idVendor").exists() {
        interface_dir.as_path()
    } else {
        interface_dir
            .parent()
            .ok_or_else(|| format!("{} has no parent", interface_dir.display()))?
    };
    let usb = read_usb(usb_dir, &interface_dir, &device, &subsystem)?;
    Ok(Tty {
        tty: name.to_owned(),
        subsystem: Some(subsystem),
        usb: Some(usb),
    })
}

fn read_usb(
    usb_dir: &Path,
    interface_dir: &Path,
    port_dir: &Path,
    subsystem: &str,
) -> Result<UsbInfo, String> {
    let id = |name: &str| -> Result<u16, String> {
        let text =
            attr(usb_dir, name)?.ok_or_else(|| format!("{} has no {name}", usb_dir.display()))?;
        u16::from_str_radix(&text, 16)
            .map_err(|_| format!("{}/{name} is '{text}', not a hex id", usb_dir.display()))
    };
    let vid = id("idVendor")?;
    let pid = id("idProduct")?;
    let interface = match attr(interface_dir, "bInterfaceNumber")? {
        Some(t) => Some(u8::from_str_radix(&t, 16).map_err(|_| {
            format!(
                "{}/bInterfaceNumber is '{t}', not a hex number",
                interface_dir.display()
            )
        })?),
        None => None,
    };
    // Several ports on one interface (multi-port usb-serial adapters) are
    // told apart by port_number; cdc_acm has one tty per interface.
    let port_number = if subsystem == "usb-serial" {
        attr(port_dir, "port_number")?.and_then(|t| t.parse::<u8>().ok())
    } else {
        None
    };
    let port_path = usb_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| format!("{} has no name", usb_dir.display()))?;
    Ok(UsbInfo {
        vid,
        pid,
        serial: attr(usb_dir, "serial")?,
        manufacturer: attr(usb_dir, "manufacturer")?,
        product: attr(usb_dir, "product")?,
        interface,
        port_path,
        port_number,
    })
}

/// Reads one attribute file, trimmed. `Ok(None)` when the file does not
/// exist (many devices have no serial); `Err` when it exists but can not be
/// read, so the caller skips the device for this scan rather than guess at
/// an identity or profile from partial information.
pub fn attr(dir: &Path, name: &str) -> Result<Option<String>, String> {
    let path = dir.join(name);
    match fs::symlink_metadata(&path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot stat {}: {e}", path.display())),
        Ok(_) => {}
    }
    let bytes = fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let text = String::from_utf8_lossy(&bytes).trim().to_owned();
    Ok((!text.is_empty()).then_some(text))
}

/// The last component of a symlink's target (`../../bus/usb-serial` ->
/// `usb-serial`).
fn link_name(link: &Path) -> Result<String, String> {
    let target = fs::read_link(link).map_err(|e| format!("cannot read {}: {e}", link.display()))?;
    target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| format!("{} points at '{}'", link.display(), target.display()))
}

/// `{dev}/serial/by-id` links by the tty they point at. udev makes them;
/// mdev and bare containers usually do not, so none is normal.
pub fn by_id_links(dev: &Path) -> Vec<(String, PathBuf)> {
    let dir = dev.join("serial/by-id");
    let Ok(entries) = fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut links = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(target) = fs::read_link(&path) else {
            continue;
        };
        if let Some(tty) = target.file_name().and_then(|n| n.to_str()) {
            links.push((tty.to_owned(), path));
        }
    }
    // Deterministic choice when two links name one tty.
    links.sort();
    links
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_names_are_known_prefixes_with_one_to_three_digits() {
        for ok in [
            "ttyS0",
            "ttyUSB0",
            "ttyACM12",
            "ttyAMA0",
            "ttyHS1",
            "rfcomm0",
            "ttyO2",
            "ttymxc3",
            "ttyUSB255",
        ] {
            assert!(is_serial_name(ok), "{ok}");
        }
        for no in [
            "tty0",
            "tty",
            "console",
            "ptmx",
            "ttyUSB",
            "ttyUSB1000",
            "ttyUSBx",
            "ttyS0a",
            "ttyprintk",
        ] {
            assert!(!is_serial_name(no), "{no}");
        }
    }
}
