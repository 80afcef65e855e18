use super::*;
use crate::{parse_agent, AgentConfig};
use std::path::Path;

fn agent(text: &str) -> Result<AgentConfig, String> {
    parse_agent(text, Path::new("/etc/serialmesh/agent.toml")).map_err(|e| e.to_string())
}

#[test]
fn discovery_keys_default_to_the_real_host() {
    let c = agent("").unwrap();
    assert!(c.profile.is_empty());
    assert!(!c.share_unknown);
    assert!(c.discovery);
    assert_eq!(c.sysfs, Path::new("/sys"));
    assert_eq!(c.dev, Path::new("/dev"));
}

#[test]
fn discovery_keys_parse_and_relative_roots_follow_the_file() {
    let c = agent(
        "share_unknown = true\ndiscovery = false\nsysfs = \"fake/sys\"\ndev = \"/host/dev\"\n",
    )
    .unwrap();
    assert!(c.share_unknown);
    assert!(!c.discovery);
    assert_eq!(c.sysfs, Path::new("/etc/serialmesh/fake/sys"));
    assert_eq!(c.dev, Path::new("/host/dev"));
}

#[test]
fn full_profile_parses_every_key() {
    let c = agent(
        r#"
[[profile]]
vid = "10C4"
pid = "0xea60"
serial = "C0F007B8"
product = "zooz"
interface = 1
path = "/dev/serial/by-id/*Zooz*"
name = "house-zwave"
baud = 57600
data_bits = 7
parity = "even"
stop_bits = 2
flow_control = "software"
dtr = false
rts = true
takeover = true
"#,
    )
    .unwrap();
    let p = &c.profile[0];
    assert_eq!(p.id, "user-1");
    assert_eq!((p.vid, p.pid), (Some(0x10c4), Some(0xea60)));
    assert_eq!(p.serial.as_deref(), Some("C0F007B8"));
    assert_eq!(p.product.as_deref(), Some("zooz"));
    assert_eq!(p.interface, Some(1));
    assert_eq!(p.path.as_deref(), Some("/dev/serial/by-id/*Zooz*"));
    assert_eq!(p.name.as_deref(), Some("house-zwave"));
    assert_eq!(p.baud, Some(57600));
    assert_eq!(p.data_bits, Some(DataBits::Seven));
    assert_eq!(p.parity, Some(Parity::Even));
    assert_eq!(p.stop_bits, Some(StopBits::Two));
    assert_eq!(p.flow_control, Some(FlowControl::Software));
    assert_eq!(
        (p.dtr, p.rts, p.takeover),
        (Some(false), Some(true), Some(true))
    );
    assert!(p.needs_usb());
}

#[test]
fn profiles_are_numbered_in_file_order() {
    let c = agent("[[profile]]\nvid = \"0403\"\n[[profile]]\npath = \"/dev/ttyS0\"\n").unwrap();
    let ids: Vec<&str> = c.profile.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["user-1", "user-2"]);
    assert!(!c.profile[1].needs_usb());
}

#[test]
fn unknown_profile_key_names_place_and_nearest_key() {
    let e = agent("[[profile]]\nvid = \"0403\"\nprodcut = \"FT232\"\n").unwrap_err();
    assert!(
        e.starts_with("/etc/serialmesh/agent.toml:3:1: unknown field `prodcut`"),
        "{e}"
    );
    assert!(e.contains("hint: did you mean `product`?"), "{e}");
}

#[test]
fn bad_usb_id_names_place_and_form() {
    let e = agent("[[profile]]\nvid = \"Silabs\"\n").unwrap_err();
    assert_eq!(
        e,
        "/etc/serialmesh/agent.toml:2:7: vid 'Silabs' is not a USB id\n  hint: write 4 hex digits as lsusb shows them, e.g. vid = \"10c4\""
    );
    let e = agent("[[profile]]\nvid = \"10c4\"\npid = \"1ea60\"\n").unwrap_err();
    assert!(e.contains("3:7: pid '1ea60' is not a USB id"), "{e}");
}

#[test]
fn profile_without_match_keys_is_refused() {
    let e = agent("name = \"a\"\n[[profile]]\nname = \"zwave\"\nbaud = 9600\n").unwrap_err();
    assert!(
        e.starts_with(
            "/etc/serialmesh/agent.toml:2:1: [[profile]] number 1 has nothing to match on"
        ),
        "{e}"
    );
    assert!(e.contains("hint: add at least one of vid, pid"), "{e}");
}

#[test]
fn relative_profile_path_is_refused() {
    let e = agent("[[profile]]\npath = \"ttyUSB*\"\n").unwrap_err();
    assert!(
        e.contains("2:8: profile path 'ttyUSB*' is not absolute"),
        "{e}"
    );
}

#[test]
fn bad_profile_names_bauds_and_empty_strings_are_refused() {
    let e = agent("[[profile]]\nvid = \"0403\"\nname = \"my stick\"\n").unwrap_err();
    assert!(
        e.contains("3:8: profile name 'my stick' contains ' '"),
        "{e}"
    );
    let e = agent("[[profile]]\nvid = \"0403\"\nbaud = 0\n").unwrap_err();
    assert!(e.contains("3:8: baud 0 is out of range"), "{e}");
    let e = agent("[[profile]]\nproduct = \" \"\n").unwrap_err();
    assert!(e.contains("2:11: product is empty"), "{e}");
    let e = agent("[[profile]]\nvid = \"0403\"\ninterface = 300\n").unwrap_err();
    assert!(e.starts_with("/etc/serialmesh/agent.toml:3:13:"), "{e}");
}

#[test]
fn usb_ids_accept_what_lsusb_and_sysfs_print() {
    assert_eq!(parse_usb_id("10c4"), Some(0x10c4));
    assert_eq!(parse_usb_id("EA60"), Some(0xea60));
    assert_eq!(parse_usb_id("0x0658"), Some(0x0658));
    assert_eq!(parse_usb_id("1"), Some(1));
    assert_eq!(parse_usb_id(""), None);
    assert_eq!(parse_usb_id("0x"), None);
    assert_eq!(parse_usb_id("+1f"), None);
}
