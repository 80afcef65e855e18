//! `seriald devices [--sysfs DIR] [--json]` (docs/design.md "Command line"): the
//! real binary against fake sysfs trees. It lists what discovery finds,
//! the profile each device matched or why none did, and the name it would
//! be shared under.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use serialmesh_tests::sysfs::{FakeSysfs, UsbDevice};
use serialmesh_tests::util::temp_dir;
use serialmesh_tests::{bins, run_to_end, TempDir};

const T: Duration = Duration::from_secs(30);

/// Node targets only need to exist for a listing.
const NODE: &str = "/dev/null";

/// A HUSBZB-1 (two radios), a Zooz 700 stick and an unknown CH340 cable.
fn host() -> FakeSysfs {
    let mut fs = FakeSysfs::new();
    let husbzb = UsbDevice::new(0x10c4, 0x8a2a)
        .manufacturer("Silicon Labs")
        .product("HubZ Smart Home Controller")
        .serial("C0F007B8")
        .port("1-1.4");
    fs.add(&husbzb.clone().tty("ttyUSB0").interface(0), Path::new(NODE));
    fs.add(&husbzb.tty("ttyUSB1").interface(1), Path::new(NODE));
    let zooz = UsbDevice::new(0x10c4, 0xea60)
        .manufacturer("Silicon Labs")
        .product("Zooz ZST10 700 Z-Wave Stick")
        .serial("b2d4b15fc360ec11")
        .tty("ttyUSB2")
        .port("1-2");
    fs.add(&zooz, Path::new(NODE));
    let cable = UsbDevice::new(0x1a86, 0x7523)
        .product("USB Serial")
        .tty("ttyUSB3")
        .port("1-3");
    fs.add(&cable, Path::new(NODE));
    fs
}

/// A config whose `dev` is the fake tree's, plus `extra`.
fn config(fs: &FakeSysfs, extra: &str) -> (TempDir, PathBuf) {
    let dir = temp_dir();
    let path = dir.path().join("seriald.toml");
    let text = format!("dev = \"{}\"\n{extra}", fs.dev().display());
    fs::write(&path, text).unwrap();
    (dir, path)
}

fn devices(args: &[&str]) -> (i32, String, String) {
    let mut all = vec!["devices"];
    all.extend_from_slice(args);
    run_to_end(bins::seriald(), all, T)
}

fn line_of<'a>(stdout: &'a str, node: &Path) -> &'a str {
    let node = node.display().to_string();
    stdout
        .lines()
        .find(|l| l.starts_with(&node))
        .unwrap_or_else(|| panic!("no line for {node} in:\n{stdout}"))
}

#[test]
fn table_shows_profiles_names_and_why_not() {
    let fs = host();
    let (_dir, cfg) = config(&fs, "");
    let sysfs = fs.sysfs().display().to_string();
    let (code, out, err) = devices(&["--sysfs", &sysfs, "--config", cfg.to_str().unwrap()]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    let header = out.lines().next().unwrap_or_default();
    for column in [
        "NODE",
        "BY-ID",
        "USB ID",
        "SERIAL",
        "PRODUCT",
        "IF",
        "NAME",
        "PROFILE / WHY NONE",
    ] {
        assert!(header.contains(column), "{column} missing from {header}");
    }
    let zwave = line_of(&out, &fs.node("ttyUSB0"));
    for cell in [
        "usb-Silicon_Labs_HubZ_Smart_Home_Controller_C0F007B8-if00-port0",
        "10c4:8a2a",
        "C0F007B8",
        "nortek-husbzb-1-zwave",
    ] {
        assert!(zwave.contains(cell), "{cell} missing from {zwave}");
    }
    assert!(zwave.contains(" zwave-c0f007b8 "), "{zwave}");
    let zigbee = line_of(&out, &fs.node("ttyUSB1"));
    assert!(zigbee.contains("nortek-husbzb-1-zigbee"), "{zigbee}");
    assert!(zigbee.contains(" zigbee-c0f007b8-if1 "), "{zigbee}");
    let zooz = line_of(&out, &fs.node("ttyUSB2"));
    assert!(
        zooz.contains(" zwave-b2d4b15fc360ec11 ") && zooz.ends_with(" cp210x-zwave"),
        "{zooz}"
    );
    let cable = line_of(&out, &fs.node("ttyUSB3"));
    assert!(cable.contains(" - (not shared) "), "{cable}");
    assert!(
        cable.ends_with(" none: no profile for 1a86:7523"),
        "{cable}"
    );
}

#[test]
fn json_lists_every_documented_field() {
    let fs = host();
    let (_dir, cfg) = config(&fs, "");
    let sysfs = fs.sysfs().display().to_string();
    let (code, out, err) = devices(&[
        "--sysfs",
        &sysfs,
        "--json",
        "--config",
        cfg.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "stderr:\n{err}");
    let list: Vec<Value> = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}:\n{out}"));
    assert_eq!(list.len(), 4, "{out}");
    let zigbee = &list[1];
    assert_eq!(zigbee["tty"], "ttyUSB1");
    assert_eq!(zigbee["node"], fs.node("ttyUSB1").display().to_string());
    assert_eq!(zigbee["node_exists"], true);
    assert_eq!(zigbee["usb_id"], "10c4:8a2a");
    assert_eq!(
        (&zigbee["vid"], &zigbee["pid"]),
        (&Value::from("10c4"), &Value::from("8a2a"))
    );
    assert_eq!(zigbee["serial"], "C0F007B8");
    assert_eq!(zigbee["manufacturer"], "Silicon Labs");
    assert_eq!(zigbee["product"], "HubZ Smart Home Controller");
    assert_eq!(zigbee["interface"], 1);
    assert_eq!(zigbee["port_path"], "1-1.4");
    assert_eq!(zigbee["identity"], "10c4:8a2a:C0F007B8:if1");
    assert_eq!(zigbee["profile"], "nortek-husbzb-1-zigbee");
    assert_eq!(zigbee["why_unmatched"], Value::Null);
    assert_eq!(zigbee["name"], "zigbee-c0f007b8-if1");
    assert_eq!(zigbee["refused"], Value::Null);
    let pin = zigbee["pin"].as_str().unwrap_or_default();
    assert!(
        pin.contains("[[profile]]\nvid = \"10c4\"\npid = \"8a2a\"\nserial = \"C0F007B8\"\ninterface = 1\nname = \"zigbee\"\n"),
        "{pin}"
    );
    assert_eq!(zigbee["why_no_pin"], Value::Null);
    assert_eq!(zigbee["line"], "57600 8N1 xon/xoff");
    assert_eq!(zigbee["settings"]["baud"], 57600);
    assert_eq!(zigbee["settings"]["flow_control"], "software");
    assert_eq!(zigbee["takeover"], false);
    let by_id = zigbee["by_id"].as_str().unwrap_or_default();
    assert!(
        by_id.ends_with(
            "/serial/by-id/usb-Silicon_Labs_HubZ_Smart_Home_Controller_C0F007B8-if01-port0"
        ),
        "{by_id}"
    );
    let cable = &list[3];
    assert_eq!(cable["name"], Value::Null);
    assert_eq!(cable["profile"], Value::Null);
    assert_eq!(cable["why_unmatched"], "no profile for 1a86:7523");
    assert_eq!(cable["serial"], Value::Null);
    assert_eq!(cable["identity"], "1a86:7523@1-3");
    assert_eq!(cable["pin"], Value::Null);
    assert_eq!(
        cable["why_no_pin"],
        "no USB serial number, so no [[profile]] can tell it from another 1a86:7523; a [[device]] with its /dev/serial/by-path link keeps one name on USB port 1-3"
    );
}

#[test]
fn config_profiles_share_unknown_and_static_names_apply() {
    let fs = host();
    let (_dir, cfg) = config(
        &fs,
        "share_unknown = true\n\
         [[device]]\nname = \"zwave\"\npath = \"/dev/ttyS9\"\n\
         [[profile]]\nvid = \"10c4\"\nproduct = \"zooz\"\nname = \"upstairs\"\nbaud = 57600\ntakeover = true\n",
    );
    let sysfs = fs.sysfs().display().to_string();
    let (code, out, err) = devices(&[
        "--json",
        "--config",
        cfg.to_str().unwrap(),
        "--sysfs",
        &sysfs,
    ]);
    assert_eq!(code, 0, "stderr:\n{err}");
    let list: Vec<Value> = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}:\n{out}"));
    let names: Vec<&str> = list
        .iter()
        .map(|d| d["name"].as_str().unwrap_or("-"))
        .collect();
    // A profile matching by product names a kind of stick, not one: its
    // name gets the serial number too. [[device]] zwave is static, but no
    // discovered device wants that bare name.
    assert_eq!(
        names,
        [
            "zwave-c0f007b8",
            "zigbee-c0f007b8-if1",
            "upstairs-b2d4b15fc360ec11",
            "serial-port-1-3"
        ]
    );
    assert_eq!(list[2]["profile"], "user-1");
    assert_eq!(list[2]["line"], "57600 8N1");
    assert_eq!(list[2]["takeover"], true);
}

#[test]
fn sysfs_from_the_config_is_used_without_the_flag() {
    let fs = host();
    let (_dir, cfg) = config(&fs, &format!("sysfs = \"{}\"\n", fs.sysfs().display()));
    let (code, out, err) = devices(&["--config", cfg.to_str().unwrap()]);
    assert_eq!(code, 0, "stderr:\n{err}");
    let table = out.lines().take_while(|l| !l.is_empty()).count();
    assert_eq!(table, 5, "{out}");
}

#[test]
fn pins_carry_the_settings_in_force_and_pasted_first_give_bare_names() {
    let fs = host();
    let statics = "share_unknown = true\n[[device]]\nname = \"zwave\"\npath = \"/dev/ttyS9\"\n";
    let upstairs =
        "[[profile]]\nvid = \"10c4\"\nproduct = \"zooz\"\nname = \"upstairs\"\nbaud = 57600\ntakeover = true\n";
    let (_dir, cfg) = config(&fs, &format!("{statics}{upstairs}"));
    let sysfs = fs.sysfs().display().to_string();
    let cfg_arg = cfg.to_str().unwrap();
    let (code, pins, err) = devices(&["--pins", "--sysfs", &sysfs, "--config", cfg_arg]);
    assert_eq!(code, 0, "stderr:\n{err}");
    assert!(pins.contains("[[profile]]\nvid = \"10c4\"\npid = \"ea60\"\nserial = \"b2d4b15fc360ec11\"\ninterface = 0\nname = \"upstairs\"\nbaud = 57600\ndata_bits = 8\nparity = \"none\"\nstop_bits = 1\nflow_control = \"none\"\ntakeover = true\n"), "{pins}");
    assert!(
        pins.contains(&format!(
            "# {}: cannot be pinned: no USB serial number",
            fs.node("ttyUSB3").display()
        )),
        "{pins}"
    );
    // Pasted before the other profiles, as the header says.
    let (_dir2, pinned) = config(&fs, &format!("{statics}{pins}{upstairs}"));
    let (code, out, err) = devices(&[
        "--json",
        "--sysfs",
        &sysfs,
        "--config",
        pinned.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "stderr:\n{err}");
    let list: Vec<Value> = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}:\n{out}"));
    let names: Vec<&str> = list
        .iter()
        .map(|d| d["name"].as_str().unwrap_or("-"))
        .collect();
    // zwave is the static [[device]]'s, so the pin says zwave-2.
    assert_eq!(names, ["zwave-2", "zigbee", "upstairs", "serial-port-1-3"]);
    assert_eq!(list[2]["line"], "57600 8N1");
    assert_eq!(list[2]["why_no_pin"], "already pinned by user-3");
}

#[test]
fn empty_tree_says_so() {
    let fs = FakeSysfs::new();
    let sysfs = fs.sysfs().display().to_string();
    let (code, out, _) = devices(&["--sysfs", &sysfs]);
    assert_eq!(code, 0);
    assert_eq!(
        out.trim(),
        format!("no serial devices found in {sysfs}/class/tty")
    );
    let (code, out, _) = devices(&["--sysfs", &sysfs, "--json"]);
    assert_eq!((code, out.trim()), (0, "[]"));
}

#[test]
fn missing_sysfs_dir_is_a_usage_error_that_says_so() {
    let dir = temp_dir();
    let gone = dir.path().join("no-such-sys").display().to_string();
    let (code, out, err) = devices(&["--sysfs", &gone]);
    assert_eq!(code, 2, "stdout:\n{out}\nstderr:\n{err}");
    assert!(
        err.contains(&format!(
            "sysfs directory {gone} does not exist; pass --sysfs DIR"
        )),
        "{err}"
    );
    let not_sysfs = dir.path().display().to_string();
    let (code, _, err) = devices(&["--sysfs", &not_sysfs]);
    assert_eq!(code, 2);
    assert!(
        err.contains("is not a sysfs tree (it has no class/tty)"),
        "{err}"
    );
}

#[test]
fn bad_profile_in_the_config_is_a_usage_error_with_its_place() {
    let fs = FakeSysfs::new();
    let (_dir, cfg) = config(&fs, "[[profile]]\nvid = \"zwave\"\n");
    let sysfs = fs.sysfs().display().to_string();
    let (code, _, err) = devices(&["--sysfs", &sysfs, "--config", cfg.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(
        err.contains("seriald.toml:3:7: vid 'zwave' is not a USB id"),
        "{err}"
    );
}
