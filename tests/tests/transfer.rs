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

/// Sets the terminal at `path` to a cooked line discipline, as a freshly
/// plugged adapter or `socat pty` without `raw` leaves it: line buffering,
/// echo, CR/LF translation, ^C as a signal, XON/XOFF flow control.
fn cook(path: &std::path::Path) {
    use nix::sys::termios::{tcgetattr, tcsetattr, InputFlags, LocalFlags, OutputFlags, SetArg};
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .expect("open the device's tty");
    let mut t = tcgetattr(&tty).expect("tcgetattr");
    t.input_flags |= InputFlags::ICRNL | InputFlags::IXON;
    t.output_flags |= OutputFlags::OPOST | OutputFlags::ONLCR;
    t.local_flags |= LocalFlags::ICANON | LocalFlags::ECHO | LocalFlags::ISIG | LocalFlags::IEXTEN;
    tcsetattr(&tty, SetArg::TCSANOW, &t).expect("tcsetattr");
}

/// Whether the terminal at `path` is line-buffered, echoes, or rewrites
/// output.
fn cooked(path: &std::path::Path) -> bool {
    use nix::sys::termios::{tcgetattr, LocalFlags, OutputFlags};
    let tty = std::fs::File::open(path).expect("open the device's tty");
    let t = tcgetattr(&tty).expect("tcgetattr");
    t.local_flags
        .intersects(LocalFlags::ICANON | LocalFlags::ECHO | LocalFlags::ISIG)
        || t.output_flags.contains(OutputFlags::OPOST)
}

#[test]
fn a_device_left_in_cooked_mode_is_opened_raw() {
    let pki = Pki::new();
    let device = EchoDevice::start();
    cook(device.path());
    assert!(cooked(device.path()));
    let agent = AgentBuilder::new(&pki, "cooked")
        .device("rs232", device.path())
        .start();
    let client = ConnectBuilder::new("rs232@cooked", agent.addr, &pki.client("gw")).start();

    // Every byte value, 0x0A/0x0D/0x03/0x04/0x11/0x13/0x7F included, with no
    // line ending at the end to flush a canonical line.
    let data: Vec<u8> = (0..64).flat_map(|_| 0u8..=255).collect();
    let mut stream = client.connect();
    let mut reader = stream.try_clone().expect("clone socket");
    let echoed = std::thread::scope(|s| {
        s.spawn(|| stream.write_all(&data).expect("write to endpoint"));
        read_exact_within(&mut reader, data.len(), T)
    });
    assert_same_bytes(&echoed, &data, "every byte value through a once-cooked tty");
    assert_eq!(
        device.bytes_read(),
        data.len() as u64,
        "no echo, no CR/LF added"
    );
}
