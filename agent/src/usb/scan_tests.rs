//! `scan` against fake sysfs trees: identities, unknown devices, user
//! profiles, non-USB ports and entries to skip.

use std::path::Path;

use serialmesh_config::UserProfile;
use serialmesh_proto::Parity;
use serialmesh_tests::sysfs::{FakeSysfs, UsbDevice};

use super::fake::{at, cfg, plug, scan_once, NODE};
use super::*;

#[test]
fn device_without_serial_is_identified_by_its_usb_port() {
    let mut fs = FakeSysfs::new();
    plug(&mut fs, UsbDevice::new(0x0658, 0x0200).acm().port("1-1.4"));
    let f = &scan_once(&fs)[0];
    assert_eq!(f.identity, "0658:0200@1-1.4");
    assert_eq!(f.usb.as_ref().map(|u| u.port_path.as_str()), Some("1-1.4"));
    assert_eq!(f.usb.as_ref().and_then(|u| u.serial.clone()), None);
}

#[test]
fn unknown_device_is_listed_but_not_shared() {
    let mut fs = FakeSysfs::new();
    plug(
        &mut fs,
        UsbDevice::new(0x1a86, 0x7523).product("USB Serial"),
    );
    let f = &scan_once(&fs)[0];
    assert_eq!((f.profile.as_ref(), f.name.as_ref()), (None, None));
    assert_eq!(f.why_unmatched.as_deref(), Some("no profile for 1a86:7523"));
}

#[test]
fn unknown_device_is_shared_as_serial_with_share_unknown() {
    let mut fs = FakeSysfs::new();
    plug(
        &mut fs,
        UsbDevice::new(0x1a86, 0x7523).product("USB Serial"),
    );
    let cfg = DiscoveryConfig {
        share_unknown: true,
        ..cfg(&fs)
    };
    let f = &scan(&cfg, &mut Namer::new())[0];
    // No serial number: its USB port tells it apart.
    assert_eq!(f.name.as_deref(), Some("serial-port-1-1"));
    assert_eq!(f.settings.to_string(), "9600 8N1");
    assert!(f.why_unmatched.is_some());
}

fn user(id: &str) -> UserProfile {
    UserProfile {
        id: id.into(),
        ..UserProfile::default()
    }
}

#[test]
fn user_profile_overrides_the_builtin_one() {
    let mut fs = FakeSysfs::new();
    plug(&mut fs, UsbDevice::new(0x0658, 0x0200).acm().serial("AEO1"));
    plug(
        &mut fs,
        UsbDevice::new(0x0658, 0x0200)
            .acm()
            .tty("ttyACM1")
            .port("1-2")
            .serial("AEO2"),
    );
    let cfg = DiscoveryConfig {
        profiles: vec![UserProfile {
            vid: Some(0x0658),
            serial: Some("AEO2".into()),
            name: Some("upstairs".into()),
            parity: Some(Parity::Even),
            dtr: Some(false),
            takeover: Some(true),
            ..user("user-1")
        }],
        ..cfg(&fs)
    };
    let found = scan(&cfg, &mut Namer::new());
    let (plain, custom) = (at(&found, "ttyACM0"), at(&found, "ttyACM1"));
    assert_eq!(plain.profile.as_deref(), Some("aeotec-z-stick-gen5"));
    assert_eq!(plain.name.as_deref(), Some("zwave-aeo1"));
    assert!(!plain.takeover);
    assert_eq!(custom.profile.as_deref(), Some("user-1"));
    assert_eq!(custom.name.as_deref(), Some("upstairs"));
    // Unset keys keep the built-in's values (115200), set ones win.
    assert_eq!(custom.settings.to_string(), "115200 8E1");
    assert_eq!(custom.settings.dtr, Some(false));
    assert!(custom.takeover);
}

#[test]
fn user_profile_matches_by_id_glob_and_names_unknown_devices() {
    let mut fs = FakeSysfs::new();
    plug(
        &mut fs,
        UsbDevice::new(0x1a86, 0x7523)
            .manufacturer("QinHeng")
            .product("USB Serial")
            .port("1-1"),
    );
    plug(
        &mut fs,
        UsbDevice::new(0x1a86, 0x7523)
            .tty("ttyUSB1")
            .port("1-2")
            .manufacturer("Other"),
    );
    let cfg = DiscoveryConfig {
        profiles: vec![UserProfile {
            path: Some(format!("{}/serial/by-id/*QinHeng*", fs.dev().display())),
            baud: Some(19_200),
            ..user("user-1")
        }],
        ..cfg(&fs)
    };
    let found = scan(&cfg, &mut Namer::new());
    let hit = at(&found, "ttyUSB0");
    assert_eq!(hit.profile.as_deref(), Some("user-1"));
    // A by-id glob names a kind of device, not one: not pinned.
    assert_eq!(hit.name.as_deref(), Some("serial-port-1-1"));
    assert_eq!(hit.settings.to_string(), "19200 8N1");
    let by_id = hit
        .by_id
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    assert!(
        by_id.ends_with("serial/by-id/usb-QinHeng_USB_Serial-if00-port0"),
        "{by_id}"
    );
    assert_eq!(at(&found, "ttyUSB1").name, None);
}

#[test]
fn board_uart_is_shared_only_when_a_profile_selects_it_by_path() {
    let mut fs = FakeSysfs::new();
    fs.add_platform_tty("ttyS0", Path::new(NODE));
    fs.add_platform_tty("ttyS1", Path::new(NODE));
    assert!(scan_once(&fs).is_empty());
    let cfg = DiscoveryConfig {
        profiles: vec![UserProfile {
            path: Some(format!("{}/ttyS1", fs.dev().display())),
            name: Some("generator".into()),
            baud: Some(9_600),
            ..user("user-1")
        }],
        ..cfg(&fs)
    };
    let found = scan(&cfg, &mut Namer::new());
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].name.as_deref(), Some("generator"));
    assert_eq!(found[0].identity, "tty:ttyS1");
    assert!(found[0].usb.is_none());
}

#[test]
fn ttys_without_a_device_link_and_other_names_are_skipped() {
    let mut fs = FakeSysfs::new();
    for tty in ["ttyS4", "tty0", "console", "ptmx", "ttyUSB1000"] {
        fs.add_virtual_tty(tty);
    }
    assert!(scan_once(&fs).is_empty());
}
