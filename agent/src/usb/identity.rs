//! Identities: what makes "the same device" across unplug, replug,
//! renumbering and agent restarts.
//!
//! A USB device is `vid:pid:serial` (lower-case hex ids), so a stick keeps
//! its identity in any port and under any ttyUSB number. Devices with more
//! than one serial port add the interface (`:if1`, the HUSBZB-1's Zigbee
//! radio) and the port number within it (`:p1`); interface 0 and port 0 add
//! nothing, so a single-port stick is plain `vid:pid:serial`. A device
//! without a serial number falls back to the USB port path it is plugged
//! into (`vid:pid@1-1.4`): it stays itself while it stays in that port.
//! A non-USB port is its tty name (`tty:ttyS0`).

use std::collections::HashMap;

use super::UsbInfo;

pub fn identity(tty: &str, usb: Option<&UsbInfo>) -> String {
    let Some(u) = usb else {
        return format!("tty:{tty}");
    };
    let mut id = match &u.serial {
        Some(serial) => format!("{:04x}:{:04x}:{serial}", u.vid, u.pid),
        None => format!("{:04x}:{:04x}@{}", u.vid, u.pid, u.port_path),
    };
    if let Some(n) = u.interface.filter(|n| *n != 0) {
        id.push_str(&format!(":if{n}"));
    }
    if let Some(n) = u.port_number.filter(|n| *n != 0) {
        id.push_str(&format!(":p{n}"));
    }
    id
}

/// Makes identities unique within one scan. Cheap adapters often share a
/// serial number ("0001" on CP2102 clones); of several devices with one
/// identity, the one in the lowest USB port path keeps it and the others get
/// `@port` appended. Such devices can not be told apart anyway, so this
/// only keeps them from colliding.
///
/// Where that is not enough (several ports of one adapter without a
/// readable `port_number`, or a serial number that happens to end in
/// another device's `@port`), the later ones by tty name get `:tty` too:
/// two devices with one identity would be shared under one name.
///
/// `items` are `(identity, port path, tty)`; identities are rewritten in
/// place.
pub fn disambiguate(items: &mut [(String, String, String)]) {
    suffix_duplicates(items, |(_, port, _)| format!("@{port}"));
    // Each pass leaves one member of every group alone and gives the others
    // their (unique) tty; a pass per item is more than can be needed.
    for _ in 0..items.len() {
        if !suffix_duplicates(items, |(_, _, tty)| format!(":{tty}")) {
            break;
        }
    }
}

/// Appends `suffix` to every member of a group of equal identities but the
/// first by (port, tty). Returns whether there was any such group.
fn suffix_duplicates(
    items: &mut [(String, String, String)],
    suffix: impl Fn(&(String, String, String)) -> String,
) -> bool {
    let mut groups: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, (id, _, _)) in items.iter().enumerate() {
        groups.entry(id.clone()).or_default().push(i);
    }
    let mut any = false;
    for (_, mut members) in groups.into_iter().filter(|(_, m)| m.len() > 1) {
        any = true;
        members.sort_by(|a, b| (&items[*a].1, &items[*a].2).cmp(&(&items[*b].1, &items[*b].2)));
        for i in members.into_iter().skip(1) {
            let s = suffix(&items[i]);
            items[i].0.push_str(&s);
        }
    }
    any
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

    #[test]
    fn usb_identity_is_vid_pid_serial() {
        assert_eq!(
            identity("ttyUSB0", Some(&usb(Some("C0F007B8"), Some(0)))),
            "10c4:8a2a:C0F007B8"
        );
        assert_eq!(
            identity("ttyUSB1", Some(&usb(Some("C0F007B8"), Some(1)))),
            "10c4:8a2a:C0F007B8:if1"
        );
    }

    #[test]
    fn no_serial_falls_back_to_the_port_path() {
        assert_eq!(
            identity("ttyUSB0", Some(&usb(None, None))),
            "10c4:8a2a@1-1.4"
        );
    }

    #[test]
    fn non_usb_identity_is_the_tty() {
        assert_eq!(identity("ttyS0", None), "tty:ttyS0");
    }

    #[test]
    fn clones_with_one_serial_get_their_port_appended_but_the_first() {
        let mut items = vec![
            item("10c4:ea60:0001", "1-2", "ttyUSB0"),
            item("10c4:ea60:0001", "1-1", "ttyUSB1"),
            item("0403:6001:A1", "1-3", "ttyUSB2"),
        ];
        disambiguate(&mut items);
        assert_eq!(items[0].0, "10c4:ea60:0001@1-2");
        assert_eq!(items[1].0, "10c4:ea60:0001");
        assert_eq!(items[2].0, "0403:6001:A1");
    }

    fn item(id: &str, port: &str, tty: &str) -> (String, String, String) {
        (id.into(), port.into(), tty.into())
    }

    /// Caught by the discovery fuzz target's checks: three ports of one
    /// adapter without port_number had two of them end up as `...@1-1`,
    /// and so shared under one name.
    #[test]
    fn clones_in_one_port_get_their_tty_too() {
        let mut items = vec![
            item("10c4:ea60:S1", "1-1", "ttyUSB2"),
            item("10c4:ea60:S1", "1-1", "ttyUSB0"),
            item("10c4:ea60:S1", "1-1", "ttyUSB1"),
            // A serial number that ends like another device's suffix.
            item("10c4:ea60:S1@1-1", "1-9", "ttyUSB9"),
        ];
        disambiguate(&mut items);
        let ids: Vec<&str> = items.iter().map(|i| i.0.as_str()).collect();
        assert_eq!(
            ids,
            [
                "10c4:ea60:S1@1-1:ttyUSB2",
                "10c4:ea60:S1",
                "10c4:ea60:S1@1-1",
                "10c4:ea60:S1@1-1:ttyUSB9"
            ]
        );
    }
}
