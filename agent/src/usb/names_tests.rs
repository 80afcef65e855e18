//! `scan` over time: stable names, replug, renumbering, and trees that are
//! half gone or odd.

use std::path::Path;

use serialmesh_tests::sysfs::{FakeSysfs, UsbDevice};

use super::fake::{cfg, NODE};
use super::*;

fn zooz(serial: &str) -> UsbDevice {
    UsbDevice::new(0x10c4, 0xea60)
        .product("Zooz ZST10 700 Z-Wave Stick")
        .serial(serial)
}

fn names(found: &[Found]) -> Vec<(String, Option<String>)> {
    found
        .iter()
        .map(|f| (f.tty.clone(), f.name.clone()))
        .collect()
}

fn pair(tty: &str, name: &str) -> (String, Option<String>) {
    (tty.to_string(), Some(name.to_string()))
}

fn pinned(serial: &str, name: &str) -> serialmesh_config::UserProfile {
    let text = format!("[[profile]]\nserial = \"{serial}\"\nname = \"{name}\"\n");
    let agent = serialmesh_config::parse_agent(&text, Path::new("/etc/a.toml")).unwrap();
    agent.profile[0].clone()
}

fn two_sticks() -> FakeSysfs {
    let mut fs = FakeSysfs::new();
    fs.add(&zooz("AAA").tty("ttyUSB0").port("1-1"), Path::new(NODE));
    fs.add(&zooz("BBB").tty("ttyUSB1").port("1-2"), Path::new(NODE));
    fs
}

#[test]
fn renumbered_device_keeps_its_name_and_identity() {
    let mut fs = FakeSysfs::new();
    fs.add(&zooz("AAA"), Path::new(NODE));
    let mut namer = Namer::new();
    let before = scan(&cfg(&fs), &mut namer);
    fs.renumber("ttyUSB0", "ttyUSB1");
    let after = scan(&cfg(&fs), &mut namer);
    assert_eq!(names(&after), [pair("ttyUSB1", "zwave-aaa")]);
    assert_eq!(after[0].identity, before[0].identity);
    assert_eq!(after[0].node, fs.dev().join("ttyUSB1"));
}

#[test]
fn an_unpinned_stick_is_named_by_its_profile_and_serial_number() {
    let found = scan(&cfg(&two_sticks()), &mut Namer::new());
    assert_eq!(
        names(&found),
        [pair("ttyUSB0", "zwave-aaa"), pair("ttyUSB1", "zwave-bbb")]
    );
    assert_eq!(found[0].share, Some(ShareAs::Kind("zwave".into())));
}

#[test]
fn replugged_device_gets_its_old_name_back_and_the_other_never_takes_it() {
    let mut fs = two_sticks();
    let mut namer = Namer::new();
    scan(&cfg(&fs), &mut namer);
    let aaa = fs.remove("ttyUSB0");
    assert_eq!(
        names(&scan(&cfg(&fs), &mut namer)),
        [pair("ttyUSB1", "zwave-bbb")]
    );
    // AAA comes back elsewhere, under another number.
    fs.add(&aaa.tty("ttyUSB2").port("1-3"), Path::new(NODE));
    assert_eq!(
        names(&scan(&cfg(&fs), &mut namer)),
        [pair("ttyUSB1", "zwave-bbb"), pair("ttyUSB2", "zwave-aaa")]
    );
}

/// The issue this rule exists for: A was `zwave`, B `zwave-2`; after a
/// boot with A unplugged, B was `zwave` and A's gateway opened B's network.
#[test]
fn a_restart_with_one_stick_missing_gives_the_other_none_of_its_names() {
    let both = names(&scan(&cfg(&two_sticks()), &mut Namer::new()));
    let mut only_b = two_sticks();
    only_b.remove("ttyUSB0");
    let after = names(&scan(&cfg(&only_b), &mut Namer::new()));
    assert_eq!(after, [pair("ttyUSB1", "zwave-bbb")]);
    assert_eq!(both[1], after[0]);
}

#[test]
fn names_do_not_depend_on_the_order_the_sticks_were_numbered_in() {
    // Two hosts' worth of the same two sticks, enumerated in opposite order.
    let mut one = FakeSysfs::new();
    one.add(&zooz("AAA").tty("ttyUSB0").port("1-1"), Path::new(NODE));
    one.add(&zooz("BBB").tty("ttyUSB1").port("1-2"), Path::new(NODE));
    let mut two = FakeSysfs::new();
    two.add(&zooz("BBB").tty("ttyUSB0").port("1-1"), Path::new(NODE));
    two.add(&zooz("AAA").tty("ttyUSB1").port("1-2"), Path::new(NODE));
    let by_identity = |fs: &FakeSysfs| {
        let mut v: Vec<(String, Option<String>)> = scan(&cfg(fs), &mut Namer::new())
            .into_iter()
            .map(|f| (f.identity, f.name))
            .collect();
        v.sort();
        v
    };
    assert_eq!(by_identity(&one), by_identity(&two));
    assert_eq!(
        by_identity(&one)[0],
        ("10c4:ea60:AAA".to_string(), Some("zwave-aaa".to_string()))
    );
}

#[test]
fn a_stick_pinned_by_serial_number_gets_the_bare_name_and_only_it() {
    let mut fs = two_sticks();
    let cfg = DiscoveryConfig {
        profiles: vec![pinned("AAA", "zwave")],
        ..cfg(&fs)
    };
    let found = scan(&cfg, &mut Namer::new());
    assert_eq!(
        names(&found),
        [pair("ttyUSB0", "zwave"), pair("ttyUSB1", "zwave-bbb")]
    );
    assert_eq!(found[0].share, Some(ShareAs::Pinned("zwave".into())));
    // Restart without the pinned stick: the bare name stays free.
    fs.remove("ttyUSB0");
    assert_eq!(
        names(&scan(&cfg, &mut Namer::new())),
        [pair("ttyUSB1", "zwave-bbb")]
    );
}

#[test]
fn a_stick_without_a_serial_number_is_named_by_its_usb_port() {
    let mut fs = FakeSysfs::new();
    fs.add(
        &UsbDevice::new(0x10c4, 0xea60)
            .product("Zooz ZST10 700 Z-Wave Stick")
            .port("1-1.4"),
        Path::new(NODE),
    );
    assert_eq!(
        names(&scan(&cfg(&fs), &mut Namer::new())),
        [pair("ttyUSB0", "zwave-port-1-1_4")]
    );
}

#[test]
fn a_configured_device_name_is_refused_to_the_stick_pinned_to_it() {
    let mut fs = FakeSysfs::new();
    fs.add(&zooz("AAA"), Path::new(NODE));
    let mut namer = Namer::new();
    namer.reserve("zwave");
    let cfg = DiscoveryConfig {
        profiles: vec![pinned("AAA", "zwave")],
        ..cfg(&fs)
    };
    let found = scan(&cfg, &mut namer);
    assert_eq!(found[0].name, None);
    assert_eq!(
        found[0].refused,
        Some(Refused::Configured {
            name: "zwave".into()
        })
    );
}

#[test]
fn clones_sharing_a_serial_number_are_both_refused_the_name_they_want() {
    let mut fs = FakeSysfs::new();
    fs.add(&zooz("0001").tty("ttyUSB0").port("1-2"), Path::new(NODE));
    fs.add(&zooz("0001").tty("ttyUSB1").port("1-1"), Path::new(NODE));
    let mut namer = Namer::new();
    let found = scan(&cfg(&fs), &mut namer);
    assert_eq!(found[0].identity, "10c4:ea60:0001@1-2");
    assert_eq!(found[1].identity, "10c4:ea60:0001");
    assert_eq!(found[0].name, None);
    assert_eq!(found[1].name, None);
    let refused = Refused::Contested {
        name: "zwave-0001".into(),
        identities: vec!["10c4:ea60:0001".into(), "10c4:ea60:0001@1-2".into()],
    };
    assert_eq!(found[0].refused.as_ref(), Some(&refused));
    // One unplugged: the other still does not get it, in this process.
    fs.remove("ttyUSB1");
    assert_eq!(scan(&cfg(&fs), &mut namer)[0].name, None);
}

#[test]
fn a_pin_matching_two_clones_shares_neither() {
    let mut fs = FakeSysfs::new();
    fs.add(&zooz("0001").tty("ttyUSB0").port("1-2"), Path::new(NODE));
    fs.add(&zooz("0001").tty("ttyUSB1").port("1-1"), Path::new(NODE));
    let cfg = DiscoveryConfig {
        profiles: vec![pinned("0001", "zwave")],
        ..cfg(&fs)
    };
    let found = scan(&cfg, &mut Namer::new());
    assert_eq!(
        names(&found),
        [("ttyUSB0".into(), None), ("ttyUSB1".into(), None)]
    );
    assert!(matches!(
        &found[0].refused,
        Some(Refused::Contested { name, .. }) if name == "zwave"
    ));
}

#[test]
fn results_are_sorted_by_tty_number() {
    let mut fs = FakeSysfs::new();
    for (i, tty) in ["ttyUSB10", "ttyUSB2", "ttyACM0"].iter().enumerate() {
        let port = format!("1-{}", i + 1);
        fs.add(
            &zooz(&format!("S{i}")).tty(tty).port(&port),
            Path::new(NODE),
        );
    }
    let ttys: Vec<String> = scan(&cfg(&fs), &mut Namer::new())
        .into_iter()
        .map(|f| f.tty)
        .collect();
    assert_eq!(ttys, ["ttyACM0", "ttyUSB2", "ttyUSB10"]);
}

#[test]
fn unreadable_attribute_skips_only_that_device() {
    let mut fs = FakeSysfs::new();
    fs.add(&zooz("AAA").tty("ttyUSB0").port("1-1"), Path::new(NODE));
    fs.add(&zooz("BBB").tty("ttyUSB1").port("1-2"), Path::new(NODE));
    fs.add(&zooz("CCC").tty("ttyUSB2").port("1-3"), Path::new(NODE));
    fs.add(&zooz("DDD").tty("ttyUSB3").port("1-4"), Path::new(NODE));
    // A directory where a file should be; a dangling link; garbage ids.
    fs.make_unreadable("ttyUSB0", "product");
    fs.make_dangling("ttyUSB1", "serial");
    fs.set_attr("ttyUSB2", "idVendor", "not-hex");
    let found = scan(&cfg(&fs), &mut Namer::new());
    assert_eq!(names(&found), [pair("ttyUSB3", "zwave-ddd")]);
}

#[test]
fn unreadable_interface_number_skips_the_device() {
    let mut fs = FakeSysfs::new();
    fs.add(&zooz("AAA"), Path::new(NODE));
    fs.make_unreadable("ttyUSB0", "bInterfaceNumber");
    assert!(scan(&cfg(&fs), &mut Namer::new()).is_empty());
}

#[test]
fn device_whose_node_is_missing_is_listed_but_not_shared_until_it_appears() {
    let mut fs = FakeSysfs::new();
    fs.add(&zooz("AAA"), &fs.dev().join("not-there-yet"));
    let mut namer = Namer::new();
    let found = scan(&cfg(&fs), &mut namer);
    assert!(!found[0].node_exists);
    assert_eq!(found[0].name, None);
    assert_eq!(found[0].profile.as_deref(), Some("cp210x-zwave"));
    std::fs::write(fs.dev().join("not-there-yet"), b"").unwrap();
    let found = scan(&cfg(&fs), &mut namer);
    assert_eq!(names(&found), [pair("ttyUSB0", "zwave-aaa")]);
}

#[test]
fn missing_sysfs_finds_nothing_and_says_it_is_not_sysfs() {
    let cfg = DiscoveryConfig {
        sysfs: "/nonexistent/sys".into(),
        ..DiscoveryConfig::default()
    };
    assert!(scan(&cfg, &mut Namer::new()).is_empty());
    assert!(!looks_like_sysfs(&cfg.sysfs));
    assert!(looks_like_sysfs(&FakeSysfs::new().sysfs()));
}

#[test]
fn discovery_config_comes_from_the_agent_config() {
    let text =
        "share_unknown = true\nsysfs = \"/x/sys\"\ndev = \"/x/dev\"\n[[profile]]\nvid = \"0403\"\n";
    let agent = serialmesh_config::parse_agent(text, Path::new("/etc/a.toml")).unwrap();
    let cfg = DiscoveryConfig::from(&agent);
    assert_eq!(cfg.sysfs, Path::new("/x/sys"));
    assert_eq!(cfg.dev, Path::new("/x/dev"));
    assert!(cfg.share_unknown);
    assert_eq!(cfg.profiles.len(), 1);
}
