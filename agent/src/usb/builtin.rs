//! The built-in profiles: common Z-Wave, Zigbee and RS-232 adapters.
//!
//! Entries are tried in order and the first match wins, so entries that need
//! a product string or an interface come before a generic entry for the
//! same vid:pid. Each entry names where its ids and line settings were
//! checked, because a wrong id here silently shares (or hides) someone's
//! door lock radio.

use serialmesh_proto::FlowControl;

/// One built-in profile.
#[derive(Debug, Clone, Copy)]
pub struct Builtin {
    /// Shown by `seriald devices` and logged on match.
    pub id: &'static str,
    pub vid: u16,
    pub pid: u16,
    /// Case-insensitive substring of the USB product string, for vid:pids
    /// shared by several products (a bridge chip's default ids).
    pub product: Option<&'static str>,
    /// USB interface number, for devices with several radios.
    pub interface: Option<u8>,
    /// Base of the share name (`zwave` becomes `zwave-2` for a second one).
    pub name: &'static str,
    pub baud: u32,
    pub flow_control: FlowControl,
    /// DTR/RTS at open; `None` leaves the driver's default.
    pub dtr: Option<bool>,
    pub rts: Option<bool>,
    /// What it is, for humans.
    pub what: &'static str,
}

const fn entry(
    id: &'static str,
    (vid, pid): (u16, u16),
    name: &'static str,
    baud: u32,
    what: &'static str,
) -> Builtin {
    Builtin {
        id,
        vid,
        pid,
        product: None,
        interface: None,
        name,
        baud,
        flow_control: FlowControl::None,
        dtr: None,
        rts: None,
        what,
    }
}

const fn product(b: Builtin, product: &'static str) -> Builtin {
    Builtin {
        product: Some(product),
        ..b
    }
}

const fn interface(b: Builtin, n: u8) -> Builtin {
    Builtin {
        interface: Some(n),
        ..b
    }
}

const fn flow(b: Builtin, flow_control: FlowControl) -> Builtin {
    Builtin { flow_control, ..b }
}

const fn lines(b: Builtin, dtr: bool, rts: bool) -> Builtin {
    Builtin {
        dtr: Some(dtr),
        rts: Some(rts),
        ..b
    }
}

/// Silicon Labs CP210x default ids: used by Z-Wave 700 sticks, Zigbee
/// coordinators and plain USB-UART cables alike, so only the product string
/// tells them apart (zigbee-herdsman lists 10c4:ea60 as "conflict prone").
const CP210X: (u16, u16) = (0x10c4, 0xea60);

pub const BUILTINS: &[Builtin] = &[
    // 0658:0200 "Sigma Designs, Inc. Aeotec Z-Stick Gen5 (ZW090) - UZB" in
    // usb.ids (github.com/usbids/usbids); Home Assistant's zwave_js manifest
    // matches it with no product filter ("Aeotec Z-Stick Gen5+", "Z-WaveMe
    // UZB", home-assistant/core PR 54986). cdc_acm, so /dev/ttyACM*. The
    // Z-Wave serial API runs at 115200 8N1.
    entry(
        "aeotec-z-stick-gen5",
        (0x0658, 0x0200),
        "zwave",
        115_200,
        "Aeotec Z-Stick Gen5/Gen5+ and other Sigma Designs UZB Z-Wave sticks",
    ),
    // 10c4:8a2a: Home Assistant's generated usb.py sends "*z-wave*" to
    // zwave_js and "*zigbee*" to zha for this id; by-id names in the wild
    // show if00 = Z-Wave, if01 = Zigbee (product "HubZ Smart Home
    // Controller"). The Zigbee side is an EM3581 NCP at 57600 baud with
    // XON/XOFF flow control (walthowd/husbzb-firmware ncp.py).
    interface(
        entry(
            "nortek-husbzb-1-zwave",
            (0x10c4, 0x8a2a),
            "zwave",
            115_200,
            "Nortek HUSBZB-1, Z-Wave interface",
        ),
        0,
    ),
    flow(
        interface(
            entry(
                "nortek-husbzb-1-zigbee",
                (0x10c4, 0x8a2a),
                "zigbee",
                57_600,
                "Nortek HUSBZB-1, Zigbee (EZSP) interface",
            ),
            1,
        ),
        FlowControl::Software,
    ),
    // 10c4:ea60 with product "SkyConnect v1.0" / "Home Assistant Connect
    // ZBT-1": home-assistant/core homeassistant/generated/usb.py. EZSP at
    // 115200 with hardware flow control: the SkyConnect config flow hands
    // ZHA {"baudrate": 115200, "flow_control": "hardware"}, and
    // zigbee2mqtt's EmberZNet page says rtscts: true for it.
    flow(
        product(
            entry(
                "ha-skyconnect",
                CP210X,
                "zigbee",
                115_200,
                "Home Assistant SkyConnect (EFR32MG21, EZSP)",
            ),
            "SkyConnect",
        ),
        FlowControl::Hardware,
    ),
    flow(
        product(
            entry(
                "ha-connect-zbt-1",
                CP210X,
                "zigbee",
                115_200,
                "Home Assistant Connect ZBT-1 (EFR32MG21, EZSP)",
            ),
            "ZBT-1",
        ),
        FlowControl::Hardware,
    ),
    // ZBDongle-E also ships on a CP2102N with product "Sonoff Zigbee 3.0 USB
    // Dongle Plus V2" (zigbee-herdsman src/adapter/adapterDiscovery.ts,
    // "Sonoff ZBDongle-E V2 (CP variant)"); must come before the ZBDongle-P
    // entry, whose product string is a prefix of it.
    product(
        entry(
            "sonoff-zbdongle-e-cp2102n",
            CP210X,
            "zigbee",
            115_200,
            "Sonoff ZBDongle-E, CP2102N variant (EFR32MG21, EZSP)",
        ),
        "Dongle Plus V2",
    ),
    // ZBDongle-P: 10c4:ea60, product "Sonoff Zigbee 3.0 USB Dongle Plus"
    // (zigbee-herdsman adapterDiscovery.ts, zstack; Home Assistant usb.py
    // "*sonoff*plus*"). Z-Stack ZNP at 115200 without flow control. DTR and
    // RTS low at open: the CC2652P's bootloader listens on those lines, and
    // zigbee-herdsman's znp.ts skipBootloader() ends with dtr=false,
    // rts=false; a gateway behind a tcp:// port can not toggle them itself.
    lines(
        product(
            entry(
                "sonoff-zbdongle-p",
                CP210X,
                "zigbee",
                115_200,
                "Sonoff ZBDongle-P (CC2652P, Z-Stack)",
            ),
            "Dongle Plus",
        ),
        false,
        false,
    ),
    // 700-series Z-Wave sticks on a CP2102N: "10c4:ea60 is shared by all of
    // the currently known 700 series USB sticks" (home-assistant/core PR
    // 54986 review); by-id names show product "Zooz ZST10 700 Z-Wave Stick".
    // Matching "Z-Wave" in the product keeps plain CP210x cables out.
    product(
        entry(
            "cp210x-zwave",
            CP210X,
            "zwave",
            115_200,
            "Zooz ZST10 700 and other Z-Wave sticks on a Silicon Labs CP210x",
        ),
        "Z-Wave",
    ),
    // 1a86:55d4 (WCH CH9102) is shared too: zigbee-herdsman's
    // adapterDiscovery.ts lists "Sonoff ZBDongle-E V2 (CH variant)", product
    // "SONOFF Zigbee 3.0 USB Dongle Plus V2", as an EZSP adapter;
    // zigbee2mqtt's EmberZNet page gives it no hardware flow control.
    product(
        entry(
            "sonoff-zbdongle-e",
            (0x1a86, 0x55d4),
            "zigbee",
            115_200,
            "Sonoff ZBDongle-E (EFR32MG21, EZSP)",
        ),
        "Dongle Plus",
    ),
    // The Zooz ZST39 800 LR stick uses the same CH9102 id, as cdc_acm with
    // product "800 Z-Wave Stick" (by-id usb-Zooz_800_Z-Wave_Stick_*-if00 and
    // a udev rule "Zooz 800 Z-Wave Stick (1a86:55d4)" in public configs).
    product(
        entry(
            "zooz-800-zwave",
            (0x1a86, 0x55d4),
            "zwave",
            115_200,
            "Zooz 800 series Z-Wave stick (ZST39)",
        ),
        "Z-Wave",
    ),
    // 1cf1:0030: zigbee-herdsman adapterDiscovery.ts (deconz, "Conbee II",
    // manufacturer "dresden elektronik ingenieurtechnik GmbH") and Home
    // Assistant usb.py ("*conbee*"). deCONZ serial protocol at 115200.
    entry(
        "conbee-ii",
        (0x1cf1, 0x0030),
        "zigbee",
        115_200,
        "dresden elektronik ConBee II (deCONZ)",
    ),
    // 0403:6001 "FT232 Serial (UART) IC" in usb.ids. A plain adapter: 9600
    // 8N1, the usual default of RS-232 equipment.
    entry(
        "ftdi-ft232",
        (0x0403, 0x6001),
        "rs232",
        9_600,
        "FTDI FT232 USB to RS-232 adapter",
    ),
    // 067b:2303 "PL2303 Serial Port" in usb.ids.
    entry(
        "prolific-pl2303",
        (0x067b, 0x2303),
        "rs232",
        9_600,
        "Prolific PL2303 USB to RS-232 adapter",
    ),
];

/// Whether any built-in entry is for this vid:pid (to explain a miss).
pub fn known_ids(vid: u16, pid: u16) -> impl Iterator<Item = &'static Builtin> {
    BUILTINS
        .iter()
        .filter(move |b| b.vid == vid && b.pid == pid)
}
