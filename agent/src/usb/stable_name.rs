//! The name a discovered device wants, from the device and the config
//! alone.
//!
//! A gateway is set up for one stick and finds it by name after every
//! agent restart, so a name must never pass to another device, whatever
//! else is plugged in, unplugged or enumerated first. A name handed out
//! among the devices present (the first `zwave`, the next `zwave-2`) fails
//! that: boot with the first stick unplugged and the second takes its name.
//! And the agent keeps no state (it runs from read-only roots, in pods that
//! start afresh), so it cannot remember who came first. Hence the name is a
//! function of the device itself and the config:
//!
//! - pinned: a `[[profile]]` that names the device (its USB `serial`, or
//!   the exact `path` of a port that is not a USB adapter, fixed to the
//!   board) gives the bare name, `zwave`;
//! - otherwise the profile's name and what identifies the device:
//!   `zwave-c0f007b8` (its USB serial number), `zwave-port-1-1_4` (no
//!   serial number: the USB port it is in), `rs232-ttys0` (not USB).
//!
//! Two devices that want one name (clones reporting one serial number, a
//! pin that matches two ports) get neither: see [`super::Namer`].

use super::UsbInfo;

/// Longest name `check_name` accepts.
pub const MAX_NAME: usize = 63;

/// How a matched profile shares a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShareAs {
    /// The profile names this very device: its name, bare.
    Pinned(String),
    /// The profile names a kind of device: its name, plus the device's own
    /// mark ([`device_mark`]).
    Kind(String),
}

impl ShareAs {
    /// The profile's name (`zwave`), before any mark.
    pub fn base(&self) -> &str {
        match self {
            Self::Pinned(b) | Self::Kind(b) => b,
        }
    }
}

/// The name a port shared as `share` wants.
pub fn wanted(share: &ShareAs, tty: &str, usb: Option<&UsbInfo>) -> String {
    match share {
        ShareAs::Pinned(base) => cut(base),
        ShareAs::Kind(base) => cut(&format!("{base}-{}", device_mark(tty, usb))),
    }
}

/// What tells this port from every other of its kind, as a name part:
/// the USB serial number (`c0f007b8`), else the USB port (`port-1-1_4`),
/// else the tty (`ttys0`); with the interface (`-if1`) and port within it
/// (`-p1`) where they are not 0, as in the device's identity. Built from
/// the device only, never from what else is present: clones that report
/// one serial number get one mark, and so are caught wanting one name.
pub fn device_mark(tty: &str, usb: Option<&UsbInfo>) -> String {
    let Some(u) = usb else {
        return sanitize(tty);
    };
    let mut mark = match &u.serial {
        Some(serial) if !serial.trim().is_empty() => sanitize(serial.trim()),
        _ => format!("port-{}", sanitize(&u.port_path)),
    };
    if let Some(n) = u.interface.filter(|n| *n != 0) {
        mark.push_str(&format!("-if{n}"));
    }
    if let Some(n) = u.port_number.filter(|n| *n != 0) {
        mark.push_str(&format!("-p{n}"));
    }
    mark
}

/// Lower case ASCII letters and digits, `-` and `_`; anything else
/// becomes `_`. Two serial numbers that differ only there want one name,
/// which the namer refuses to both, loudly.
fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            'a'..='z' | '0'..='9' | '-' | '_' => c,
            'A'..='Z' => c.to_ascii_lowercase(),
            _ => '_',
        })
        .collect()
}

/// Cut to the longest valid name. Cutting may make two names one; the
/// namer then refuses both rather than let either pass to the other.
fn cut(name: &str) -> String {
    name.chars().take(MAX_NAME).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usb(serial: Option<&str>, interface: Option<u8>) -> UsbInfo {
        UsbInfo {
            vid: 0x10c4,
            pid: 0x8a2a,
            serial: serial.map(str::to_owned),
            manufacturer: None,
            product: None,
            interface,
            port_path: "1-1.4".into(),
            port_number: Some(0),
        }
    }

    fn kind(base: &str) -> ShareAs {
        ShareAs::Kind(base.into())
    }

    #[test]
    fn a_pinned_device_wants_the_bare_name() {
        let u = usb(Some("C0F007B8"), Some(0));
        assert_eq!(
            wanted(&ShareAs::Pinned("zwave".into()), "ttyUSB0", Some(&u)),
            "zwave"
        );
    }

    #[test]
    fn an_unpinned_device_wants_its_serial_number_in_its_name() {
        let u = usb(Some("C0F007B8"), Some(0));
        assert_eq!(
            wanted(&kind("zwave"), "ttyUSB0", Some(&u)),
            "zwave-c0f007b8"
        );
        let radio = usb(Some("C0F007B8"), Some(1));
        assert_eq!(
            wanted(&kind("zigbee"), "ttyUSB1", Some(&radio)),
            "zigbee-c0f007b8-if1"
        );
    }

    #[test]
    fn the_wanted_name_does_not_depend_on_the_tty_number() {
        let u = usb(Some("C0F007B8"), Some(0));
        assert_eq!(
            wanted(&kind("zwave"), "ttyUSB0", Some(&u)),
            wanted(&kind("zwave"), "ttyUSB7", Some(&u))
        );
    }

    #[test]
    fn without_a_serial_number_the_usb_port_marks_the_device() {
        let u = usb(None, Some(0));
        assert_eq!(
            wanted(&kind("zwave"), "ttyUSB0", Some(&u)),
            "zwave-port-1-1_4"
        );
        let blank = usb(Some("  "), Some(0));
        assert_eq!(
            wanted(&kind("zwave"), "ttyUSB0", Some(&blank)),
            "zwave-port-1-1_4"
        );
    }

    #[test]
    fn a_port_that_is_not_usb_is_marked_by_its_tty() {
        assert_eq!(wanted(&kind("rs232"), "ttyS0", None), "rs232-ttys0");
    }

    #[test]
    fn serial_numbers_are_made_into_valid_names() {
        let u = usb(Some("Ab.1/ü x"), Some(0));
        let name = wanted(&kind("serial"), "ttyUSB0", Some(&u));
        assert_eq!(name, "serial-ab_1___x");
        assert!(serialmesh_config::check_name("device name", &name).is_ok());
        let long = usb(Some(&"9".repeat(100)), Some(0));
        let name = wanted(&kind("zwave"), "ttyUSB0", Some(&long));
        assert_eq!(name.len(), MAX_NAME);
        assert!(serialmesh_config::check_name("device name", &name).is_ok());
    }

    #[test]
    fn clones_reporting_one_serial_number_want_one_name() {
        let mut a = usb(Some("0001"), Some(0));
        let mut b = a.clone();
        a.port_path = "1-1".into();
        b.port_path = "1-2".into();
        assert_eq!(
            wanted(&kind("zwave"), "ttyUSB0", Some(&a)),
            wanted(&kind("zwave"), "ttyUSB1", Some(&b))
        );
    }
}
