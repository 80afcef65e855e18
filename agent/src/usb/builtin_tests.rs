//! The built-in profile table against realistic devices: every entry is
//! reached, and vid:pids shared by several products are told apart.

use std::collections::BTreeSet;

use serialmesh_proto::FlowControl;
use serialmesh_tests::sysfs::{FakeSysfs, UsbDevice};

use super::fake::{at, plug, scan_once};
use super::BUILTINS;

/// One realistic device per built-in profile: (expected profile, device).
fn every_builtin() -> Vec<(&'static str, UsbDevice)> {
    let cp = |tty: &str, port: &str, manuf: &str, product: &str, serial: &str| {
        UsbDevice::new(0x10c4, 0xea60)
            .tty(tty)
            .port(port)
            .manufacturer(manuf)
            .product(product)
            .serial(serial)
    };
    let husbzb = UsbDevice::new(0x10c4, 0x8a2a)
        .manufacturer("Silicon Labs")
        .product("HubZ Smart Home Controller")
        .serial("C0F007B8")
        .port("1-2");
    vec![
        (
            "aeotec-z-stick-gen5",
            UsbDevice::new(0x0658, 0x0200).acm().port("1-1"),
        ),
        (
            "nortek-husbzb-1-zwave",
            husbzb.clone().tty("ttyUSB0").interface(0),
        ),
        ("nortek-husbzb-1-zigbee", husbzb.tty("ttyUSB1").interface(1)),
        (
            "ha-skyconnect",
            cp(
                "ttyUSB2",
                "1-3",
                "Nabu Casa",
                "SkyConnect v1.0",
                "3abe54797c91ed118fc3cad13b20a111",
            ),
        ),
        (
            "ha-connect-zbt-1",
            cp(
                "ttyUSB3",
                "1-4",
                "Nabu Casa",
                "Home Assistant Connect ZBT-1",
                "9e2adbd75b8beb119fe564a0f320645d",
            ),
        ),
        (
            "sonoff-zbdongle-e-cp2102n",
            cp(
                "ttyUSB4",
                "1-5",
                "Itead",
                "Sonoff Zigbee 3.0 USB Dongle Plus V2",
                "a6ee897e4d1fef11aa004ad0639e525b",
            ),
        ),
        (
            "sonoff-zbdongle-p",
            cp(
                "ttyUSB5",
                "1-6",
                "ITead",
                "Sonoff Zigbee 3.0 USB Dongle Plus",
                "b8b49abd27a6ed11a280eba32981d111",
            ),
        ),
        (
            "cp210x-zwave",
            cp(
                "ttyUSB6",
                "1-7",
                "Silicon Labs",
                "Zooz ZST10 700 Z-Wave Stick",
                "b2d4b15fc360ec11abd83f7625bfaa52",
            ),
        ),
        (
            "sonoff-zbdongle-e",
            UsbDevice::new(0x1a86, 0x55d4)
                .acm()
                .tty("ttyACM1")
                .port("2-1")
                .manufacturer("ITEAD")
                .product("SONOFF Zigbee 3.0 USB Dongle Plus V2")
                .serial("20240122184111"),
        ),
        (
            "zooz-800-zwave",
            UsbDevice::new(0x1a86, 0x55d4)
                .acm()
                .tty("ttyACM2")
                .port("2-2")
                .manufacturer("Zooz")
                .product("800 Z-Wave Stick")
                .serial("533D004242"),
        ),
        (
            "conbee-ii",
            UsbDevice::new(0x1cf1, 0x0030)
                .acm()
                .tty("ttyACM3")
                .port("2-3")
                .manufacturer("dresden elektronik ingenieurtechnik GmbH")
                .product("ConBee II")
                .serial("DE2132111"),
        ),
        (
            "ftdi-ft232",
            UsbDevice::new(0x0403, 0x6001)
                .tty("ttyUSB7")
                .port("2-4")
                .manufacturer("FTDI")
                .product("FT232R USB UART")
                .serial("A10KZ3XB"),
        ),
        (
            "prolific-pl2303",
            UsbDevice::new(0x067b, 0x2303)
                .tty("ttyUSB8")
                .port("2-5")
                .manufacturer("Prolific Technology Inc.")
                .product("USB-Serial Controller"),
        ),
    ]
}

#[test]
fn every_builtin_profile_is_recognised() {
    let mut fs = FakeSysfs::new();
    let devices = every_builtin();
    for (_, d) in &devices {
        plug(&mut fs, d.clone());
    }
    let found = scan_once(&fs);
    assert_eq!(found.len(), devices.len());
    for (profile, d) in &devices {
        let f = at(&found, &d.tty);
        assert_eq!(f.profile.as_deref(), Some(*profile), "{}: {f:#?}", d.tty);
        assert!(f.name.is_some(), "{} not shared", d.tty);
    }
    let matched: BTreeSet<&str> = found.iter().filter_map(|f| f.profile.as_deref()).collect();
    let table: BTreeSet<&str> = BUILTINS.iter().map(|b| b.id).collect();
    assert_eq!(
        matched, table,
        "every built-in profile needs a fixture here"
    );
    let names: BTreeSet<&str> = found.iter().filter_map(|f| f.name.as_deref()).collect();
    assert_eq!(names.len(), found.len(), "names must be unique: {names:?}");
    for n in &names {
        let base = n.split('-').next().unwrap_or_default();
        assert!(
            ["zwave", "zigbee", "rs232"].contains(&base),
            "{n} in {names:?}"
        );
    }
    let sky = at(&found, "ttyUSB2");
    assert_eq!(sky.settings.to_string(), "115200 8N1 rts/cts");
    assert_eq!(at(&found, "ttyUSB7").settings.to_string(), "9600 8N1");
    let p = at(&found, "ttyUSB5").settings;
    assert_eq!((p.dtr, p.rts), (Some(false), Some(false)));
}

#[test]
fn cp210x_default_ids_are_told_apart_by_product_string() {
    let mut fs = FakeSysfs::new();
    let cp = |tty: &str, port: &str, product: &str| {
        UsbDevice::new(0x10c4, 0xea60)
            .tty(tty)
            .port(port)
            .product(product)
            .serial(port)
    };
    plug(&mut fs, cp("ttyUSB0", "1-1", "SkyConnect v1.0"));
    plug(
        &mut fs,
        cp("ttyUSB1", "1-2", "Sonoff Zigbee 3.0 USB Dongle Plus"),
    );
    plug(&mut fs, cp("ttyUSB2", "1-3", "Zooz ZST10 700 Z-Wave Stick"));
    plug(
        &mut fs,
        cp("ttyUSB3", "1-4", "CP2102N USB to UART Bridge Controller"),
    );
    let found = scan_once(&fs);
    let what = |tty| {
        let f = at(&found, tty);
        (f.profile.clone(), f.name.clone(), f.settings.flow_control)
    };
    assert_eq!(
        what("ttyUSB0"),
        (
            Some("ha-skyconnect".into()),
            Some("zigbee-1-1".into()),
            FlowControl::Hardware
        )
    );
    assert_eq!(
        what("ttyUSB1"),
        (
            Some("sonoff-zbdongle-p".into()),
            Some("zigbee-1-2".into()),
            FlowControl::None
        )
    );
    assert_eq!(
        what("ttyUSB2"),
        (
            Some("cp210x-zwave".into()),
            Some("zwave-1-3".into()),
            FlowControl::None
        )
    );
    let generic = at(&found, "ttyUSB3");
    assert_eq!(
        (generic.profile.as_ref(), generic.name.as_ref()),
        (None, None)
    );
    let why = generic.why_unmatched.as_deref().unwrap_or_default();
    assert!(
        why.starts_with("10c4:ea60 is shared by several products; product 'CP2102N USB to UART Bridge Controller' contains none of: SkyConnect, ZBT-1"),
        "{why}"
    );
}

#[test]
fn husbzb_1_shares_both_radios_under_their_own_names() {
    let mut fs = FakeSysfs::new();
    let stick = UsbDevice::new(0x10c4, 0x8a2a)
        .product("HubZ Smart Home Controller")
        .serial("C0F007B8");
    plug(&mut fs, stick.clone().tty("ttyUSB0").interface(0));
    plug(&mut fs, stick.tty("ttyUSB1").interface(1));
    let found = scan_once(&fs);
    let (zwave, zigbee) = (at(&found, "ttyUSB0"), at(&found, "ttyUSB1"));
    assert_eq!(zwave.name.as_deref(), Some("zwave-c0f007b8"));
    assert_eq!(zwave.identity, "10c4:8a2a:C0F007B8");
    assert_eq!(zwave.settings.to_string(), "115200 8N1");
    assert_eq!(zigbee.name.as_deref(), Some("zigbee-c0f007b8-if1"));
    assert_eq!(zigbee.identity, "10c4:8a2a:C0F007B8:if1");
    assert_eq!(zigbee.settings.to_string(), "57600 8N1 xon/xoff");
    assert_eq!(zigbee.usb.as_ref().and_then(|u| u.interface), Some(1));
}

#[test]
fn a_third_husbzb_interface_is_explained() {
    let mut fs = FakeSysfs::new();
    plug(
        &mut fs,
        UsbDevice::new(0x10c4, 0x8a2a).interface(2).serial("X"),
    );
    let f = &scan_once(&fs)[0];
    assert_eq!(
        f.why_unmatched.as_deref(),
        Some("10c4:8a2a interface 2 has no profile (known interfaces: 0, 1)")
    );
}
