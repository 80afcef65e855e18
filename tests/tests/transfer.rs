//! Bytes through the tunnel arrive exactly as sent, in both directions,
//! including the values a cooked terminal or a careless relay would eat.

use std::io::Write;
use std::time::Duration;

use serialmesh_tests::net::read_exact_within;
use serialmesh_tests::util::assert_same_bytes;
use serialmesh_tests::{
    random_bytes, AgentBuilder, ConnectBuilder, EchoDevice, Pki, ScriptedDevice,
};

const T: Duration = Duration::from_secs(60);
const MIB: usize = 1024 * 1024;

#[test]
fn one_mebibyte_of_every_byte_value_echoes_back_unchanged() {
    let pki = Pki::new();
    let device = EchoDevice::start();
    let agent = AgentBuilder::new(&pki, "house")
        .device("zwave", device.path())
        .start();
    let client = ConnectBuilder::new("zwave@house", agent.addr, &pki.client("gw")).start();

    let data = random_bytes(MIB, 7);
    for b in [0x00u8, 0x03, 0x11, 0x13, 0xff] {
        assert!(data.contains(&b), "test data lacks 0x{b:02x}");
    }
    let mut stream = client.connect();
    let mut reader = stream.try_clone().expect("clone socket");
    let echoed = std::thread::scope(|s| {
        // Writing and reading at once, as a device under load would be.
        s.spawn(|| stream.write_all(&data).expect("write to endpoint"));
        read_exact_within(&mut reader, data.len(), T)
    });
    assert_same_bytes(&echoed, &data, "1 MiB echoed through serialmesh");
    assert_eq!(
        device.bytes_read(),
        MIB as u64,
        "device saw every byte once"
    );
}

#[test]
fn device_output_reaches_the_application_byte_exact() {
    let pki = Pki::new();
    let device = ScriptedDevice::start();
    let agent = AgentBuilder::new(&pki, "garage")
        .device("zigbee", device.path())
        .start();
    let client = ConnectBuilder::new("zigbee@garage", agent.addr, &pki.client("z2m")).start();

    let mut stream = client.connect();
    // The session is up once a byte makes it through.
    stream.write_all(b"!").unwrap();
    assert_eq!(device.read_exact_timeout(1, T), b"!");

    let data = random_bytes(MIB, 11);
    device.write(&data);
    let got = read_exact_within(&mut stream, data.len(), T);
    assert_same_bytes(&got, &data, "1 MiB from device to application");
}

#[test]
fn application_output_reaches_the_device_byte_exact() {
    let pki = Pki::new();
    let device = ScriptedDevice::start();
    let agent = AgentBuilder::new(&pki, "shed")
        .device("rs232", device.path())
        .start();
    let client = ConnectBuilder::new("rs232@shed", agent.addr, &pki.client("ops")).start();

    let data = random_bytes(MIB, 13);
    let mut stream = client.connect();
    let writer = std::thread::spawn(move || {
        stream.write_all(&data).expect("write to endpoint");
        (stream, data)
    });
    let got = device.read_exact_timeout(MIB, T);
    let (_stream, data) = writer.join().unwrap();
    assert_same_bytes(&got, &data, "1 MiB from application to device");
}

#[test]
fn device_output_while_nobody_is_attached_is_not_replayed() {
    let pki = Pki::new();
    let device = ScriptedDevice::start();
    let agent = AgentBuilder::new(&pki, "shed")
        .device("gen", device.path())
        .start();
    // The device chatters before any client exists; a pty would keep those
    // bytes for the next opener, a closed serial port would not.
    device.write(b"STALE-FRAME");
    assert!(device.wait_flushed(Duration::from_secs(5)));
    let client = ConnectBuilder::new("gen@shed", agent.addr, &pki.client("ops")).start();
    let mut stream = client.connect();
    stream.write_all(b"?").unwrap();
    assert_eq!(device.read_exact_timeout(1, T), b"?");
    device.write(b"FRESH");
    assert_eq!(read_exact_within(&mut stream, 5, T), b"FRESH");
}
