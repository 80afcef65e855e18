//! Names that never pass from one stick to another (docs/discovery.md,
//! "Device names"), end to end: two Z-Wave sticks of one kind (same
//! VID:PID, different serial numbers) in a fake sysfs, the real `seriald`
//! and `serialctl`. A gateway set up for one stick must never be connected
//! to the other: not after a restart with its stick unplugged, not after a
//! replug, and not when an endpoint pins the serial number it expects.

use std::io::{ErrorKind, Read, Write};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serialmesh_tests::net::{echo_ok, free_addr};
use serialmesh_tests::rogue::{Rogue, Says};
use serialmesh_tests::sidecar::Sidecar;
use serialmesh_tests::sysfs::{FakeSysfs, UsbDevice};
use serialmesh_tests::{bins, run_to_end, AgentBuilder, ConnectBuilder, EchoDevice, Pki};

const T: Duration = Duration::from_secs(20);

fn zooz(serial: &str) -> UsbDevice {
    UsbDevice::new(0x10c4, 0xea60)
        .manufacturer("Silicon Labs")
        .product("Zooz ZST10 700 Z-Wave Stick")
        .serial(serial)
}

fn agent_on<'a>(pki: &'a Pki, fake: &FakeSysfs) -> AgentBuilder<'a> {
    AgentBuilder::new(pki, "house").top_level_toml(&format!(
        "sysfs = \"{}\"\ndev = \"{}\"\n",
        fake.sysfs().display(),
        fake.dev().display()
    ))
}

/// Asserts the application connection is still open (the endpoint holds
/// it while it retries) and nothing came back on it.
fn still_held(app: &mut std::net::TcpStream) {
    app.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut buf = [0u8; 16];
    match app.read(&mut buf) {
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
        other => panic!("the endpoint should hold the connection open, got {other:?}"),
    }
    app.set_read_timeout(None).unwrap();
}

/// The issue this exists for: A was `zwave`, B `zwave-2`; booted with A
/// unplugged, B became `zwave` and A's gateway opened B's network.
#[test]
fn a_restart_with_one_stick_missing_does_not_give_its_name_to_the_other() {
    let pki = Pki::new();
    let (a, b) = (EchoDevice::start(), EchoDevice::start());
    let mut fake = FakeSysfs::new();
    fake.add(&zooz("AAA").tty("ttyUSB0").port("1-1"), a.path());
    fake.add(&zooz("BBB").tty("ttyUSB1").port("1-2"), b.path());
    let mut agent = agent_on(&pki, &fake).start();
    agent.wait_for_output("device=zwave-aaa", T).unwrap();
    agent.wait_for_output("device=zwave-bbb", T).unwrap();
    let note = agent.wait_for_output("shared as zwave-aaa", T).unwrap();
    assert!(
        note.contains("shared as zwave-aaa, not zwave: only a [[profile]] pinned to a device (its serial number) gives the bare name"),
        "{note}"
    );

    // Power cut; the host boots with A unplugged, and B is now ttyUSB0.
    let a_stick = fake.remove("ttyUSB0");
    fake.renumber("ttyUSB1", "ttyUSB0");
    agent.restart();
    agent.wait_for_output("device=zwave-bbb", T).unwrap();

    let client = ConnectBuilder::new("zwave-aaa@house", agent.addr, &pki.client("gw")).start();
    let mut app = client.connect();
    app.write_all(b"for A only").unwrap();
    client.wait_for_output("unknown device", T).unwrap();
    still_held(&mut app);
    assert_eq!(b.bytes_read(), 0, "B got bytes meant for A");

    // A is plugged in again, elsewhere: the waiting endpoint gets A.
    fake.add(&a_stick.tty("ttyUSB1").port("1-3"), a.path());
    client.wait_for_output("tunnel up", T).unwrap();
    echo_ok(&mut app, b"hello A");
    assert!(a.bytes_read() > 0);
    assert_eq!(b.bytes_read(), 0, "B got bytes meant for A");
}

#[test]
fn pins_printed_by_seriald_devices_give_each_stick_its_bare_name_for_good() {
    let pki = Pki::new();
    let (a, b) = (EchoDevice::start(), EchoDevice::start());
    let mut fake = FakeSysfs::new();
    fake.add(&zooz("AAA").tty("ttyUSB0").port("1-1"), a.path());
    fake.add(&zooz("BBB").tty("ttyUSB1").port("1-2"), b.path());
    let sysfs = fake.sysfs().display().to_string();
    let (code, pins, err) =
        run_to_end(bins::seriald(), ["devices", "--pins", "--sysfs", &sysfs], T);
    assert_eq!(code, 0, "{err}");
    let doc: toml::Table = pins.parse().unwrap_or_else(|e| panic!("{e}:\n{pins}"));
    let profiles = doc["profile"].as_array().unwrap();
    let names: Vec<&str> = profiles
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["zwave", "zwave-2"], "{pins}");
    assert_eq!(profiles[0]["serial"].as_str(), Some("AAA"));
    assert_eq!(profiles[1]["serial"].as_str(), Some("BBB"));

    // The agent's own loader takes them as they are.
    let mut agent = agent_on(&pki, &fake).device_toml(&pins).start();
    agent.wait_for_output("device=zwave ", T).unwrap();
    let client = ConnectBuilder::new("zwave@house", agent.addr, &pki.client("gw")).start();
    echo_ok(&mut client.connect(), b"to A");
    assert!(a.bytes_read() > 0 && b.bytes_read() == 0);
    drop(client);

    // Booted without A: B keeps zwave-2, and zwave is nobody's.
    fake.remove("ttyUSB0");
    fake.renumber("ttyUSB1", "ttyUSB0");
    agent.restart();
    agent.wait_for_output("device=zwave-2", T).unwrap();
    let client = ConnectBuilder::new("zwave@house", agent.addr, &pki.client("gw2")).start();
    let mut app = client.connect();
    app.write_all(b"for A only").unwrap();
    client.wait_for_output("unknown device", T).unwrap();
    assert_eq!(b.bytes_read(), 0, "B got bytes meant for A");
}

#[test]
fn an_endpoint_pinned_to_a_serial_number_refuses_another_stick_naming_both() {
    let pki = Pki::new();
    let b = EchoDevice::start();
    let mut fake = FakeSysfs::new();
    fake.add(&zooz("BBB").tty("ttyUSB0").port("1-2"), b.path());
    // A config edited by hand (or a stick swapped for a new one): the
    // profile now gives `zwave` to B.
    let agent = agent_on(&pki, &fake)
        .device_toml("[[profile]]\nserial = \"BBB\"\nname = \"zwave\"\n")
        .start();
    agent.wait_for_output("device=zwave ", T).unwrap();
    let client = ConnectBuilder::new("zwave@house", agent.addr, &pki.client("gw"))
        .arg("--expect-serial")
        .arg("AAA")
        .start();
    let mut app = client.connect();
    app.write_all(b"for A only").unwrap();
    let line = client.wait_for_output("wrong device", T).unwrap();
    assert!(
        line.contains("zwave@house is the device with USB serial number BBB, not AAA as this endpoint expects (expect_serial); not opening it"),
        "{line}"
    );
    assert!(line.contains("retrying"), "{line}");
    agent.wait_for_output("wrong device", T).unwrap();
    still_held(&mut app);
    assert_eq!(b.bytes_read(), 0, "B got bytes meant for A");
    assert!(!agent.output().contains("session started"));
}

#[test]
fn a_sidecar_endpoint_with_expect_serial_refuses_a_configured_device_of_unknown_serial() {
    let pki = Pki::new();
    let device = EchoDevice::start();
    // A static [[device]] by path: the agent knows no serial number for it.
    let agent = AgentBuilder::new(&pki, "house")
        .device("zwave", device.path())
        .start();
    let listen = free_addr();
    let sidecar = Sidecar::start(
        &Sidecar::config(
            &pki.client("gw"),
            &format!(
                "[[endpoint]]\ndevice = \"zwave@house\"\nagent = \"{}\"\ntcp = \"{listen}\"\nexpect_serial = \"AAA\"\n",
                agent.addr
            ),
        ),
        1,
    );
    let mut app = std::net::TcpStream::connect(listen).unwrap();
    app.write_all(b"for A only").unwrap();
    let line = sidecar.guard.wait_for_output("wrong device", T).unwrap();
    assert!(
        line.contains("zwave@house has no USB serial number this agent knows (a configured [[device]], or a device without one), so it cannot be shown to be AAA as this endpoint expects (expect_serial); not opening it"),
        "{line}"
    );
    still_held(&mut app);
    assert_eq!(device.bytes_read(), 0);
}

#[test]
fn an_endpoint_pinned_to_the_serial_number_it_finds_works_as_usual() {
    let pki = Pki::new();
    let a = EchoDevice::start();
    let mut fake = FakeSysfs::new();
    fake.add(&zooz("AAA").tty("ttyUSB0"), a.path());
    let agent = agent_on(&pki, &fake).start();
    agent.wait_for_output("device=zwave-aaa", T).unwrap();
    let client = ConnectBuilder::new("zwave-aaa@house", agent.addr, &pki.client("gw"))
        .arg("--expect-serial")
        .arg("AAA")
        .start();
    echo_ok(&mut client.connect(), b"hello A");
}

#[test]
fn a_pinned_endpoint_refuses_an_agent_that_does_not_say_which_serial_it_opened() {
    // An agent from before expect_serial ignores the pin and says nothing
    // of the serial number: played by a rogue with a valid certificate.
    let pki = Pki::new();
    let old = Rogue::start(&pki.agent("shed", "shed"), "shed");
    let client = ConnectBuilder::new("zwave@shed", old.addr, &pki.client("gw"))
        .arg("--expect-serial")
        .arg("AAA")
        .start();
    let mut app = client.connect();
    app.write_all(b"for A only").unwrap();
    let line = client.wait_for_output("wrong device", T).unwrap();
    assert!(
        line.contains("agent opened zwave@shed without saying its USB serial number (an agent from before expect_serial, or a device without one), so it cannot be shown to be AAA (expect_serial); closed it"),
        "{line}"
    );
    assert!(old.opened.load(Ordering::SeqCst));
    still_held(&mut app);
}

/// What docs/threat-model.md says: the pin guards against mistakes, not
/// against an agent that lies. One with a valid agent certificate is
/// believed about which device it opened.
#[test]
fn the_pin_is_not_authentication_an_agent_that_claims_the_serial_is_believed() {
    let pki = Pki::new();
    let liar = Rogue::saying(
        &pki.agent("shed", "shed"),
        "shed",
        Says {
            serial: Some("AAA".into()),
            ..Says::default()
        },
    );
    let client = ConnectBuilder::new("zwave@shed", liar.addr, &pki.client("gw"))
        .arg("--expect-serial")
        .arg("AAA")
        .start();
    let _app = client.connect();
    client.wait_for_output("tunnel up", T).unwrap();
}

#[test]
fn an_empty_expect_serial_is_a_usage_error() {
    let pki = Pki::new();
    let tls = pki.client("gw");
    let path = |p: &Path| p.display().to_string();
    let (code, _, err) = run_to_end(
        bins::serialctl(),
        [
            "connect".to_string(),
            "zwave@shed".into(),
            "--tcp".into(),
            "127.0.0.1:0".into(),
            "--agent".into(),
            "127.0.0.1:1".into(),
            "--expect-serial".into(),
            " ".into(),
            "--cert".into(),
            path(&tls.cert),
            "--key".into(),
            path(&tls.key),
            "--ca".into(),
            path(&tls.ca),
        ],
        T,
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--expect-serial is empty; give the USB serial number the device must have, as `serialctl ls` or `seriald devices` shows it"),
        "{err}"
    );
}

#[test]
fn clones_reporting_one_serial_number_are_shared_under_neither_name_and_said_so() {
    let pki = Pki::new();
    let (a, b) = (EchoDevice::start(), EchoDevice::start());
    let mut fake = FakeSysfs::new();
    fake.add(&zooz("0001").tty("ttyUSB0").port("1-1"), a.path());
    fake.add(&zooz("0001").tty("ttyUSB1").port("1-2"), b.path());
    let agent = agent_on(&pki, &fake).start();
    let line = agent
        .wait_for_output("want the name zwave-0001", T)
        .unwrap();
    assert!(
        line.contains("2 devices want the name zwave-0001 (10c4:ea60:0001, 10c4:ea60:0001@1-2); none is shared under it"),
        "{line}"
    );
    let config = agent.config_path().display().to_string();
    let (code, out, err) = run_to_end(bins::seriald(), ["devices", "--config", &config], T);
    assert_eq!(code, 0, "{err}");
    let node = fake.node("ttyUSB0").display().to_string();
    assert!(
        out.contains(&format!(
            "{node}: not shared: 2 devices want the name zwave-0001"
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "# {node}: cannot be pinned: {} reports the same USB serial number 0001 (clones do)",
            fake.node("ttyUSB1").display()
        )),
        "{out}"
    );
}
