use std::thread;
use std::time::Duration;

use nix::sys::termios::{tcgetattr, InputFlags, LocalFlags, OutputFlags};

use super::*;
use crate::util::{assert_same_bytes, eventually, random_bytes, temp_dir, TRICKY_BYTES};

const T: Duration = Duration::from_secs(20);

#[test]
fn echo_returns_one_mib_of_random_bytes_unchanged_while_host_writes() {
    let device = EchoDevice::start();
    let host = Tty::open(device.path()).unwrap();
    let data = random_bytes(1 << 20, 0x5e71a1);
    let got = thread::scope(|s| {
        // Write and read at once, as a relay does: the echo has to keep
        // reading while its replies wait for the host to take them.
        s.spawn(|| host.write_all_timeout(&data, T).unwrap());
        host.read_exact_timeout(data.len(), T)
    });
    assert_same_bytes(&got, &data, "echo through pty");
    assert_eq!(device.bytes_read(), data.len() as u64);
    assert!(eventually(T, || device.bytes_written() == data.len() as u64));
}

#[test]
fn echo_does_not_deadlock_when_host_writes_everything_before_reading() {
    let device = EchoDevice::start();
    let host = Tty::open(device.path()).unwrap();
    let data = random_bytes(512 * 1024, 3);
    // A device that blocked on its replies would stop reading after a few
    // KiB and this write would time out.
    host.write_all_timeout(&data, T).unwrap();
    let got = host.read_exact_timeout(data.len(), T);
    assert_same_bytes(&got, &data, "echo after full write");
}

#[test]
fn raw_mode_passes_control_bytes_both_ways() {
    let device = ScriptedDevice::start();
    let host = Tty::open(device.path()).unwrap();
    let mut special = TRICKY_BYTES.to_vec();
    special.extend_from_slice(b"\r\n\r\x7f\x04\x1a\x1c\x08\x15\x17\x12\x16\x0f");

    host.write_all_timeout(&special, T).unwrap();
    assert_eq!(device.read_exact_timeout(special.len(), T), special);
    device.write(&special);
    assert_eq!(host.read_exact_timeout(special.len(), T), special);
    thread::sleep(Duration::from_millis(50));
    assert!(device.read_available().is_empty(), "terminal echoed input");
    assert!(host.read_available().unwrap().is_empty(), "bytes added");

    let t = tcgetattr(host.file()).unwrap();
    assert!(!t
        .local_flags
        .intersects(LocalFlags::ICANON | LocalFlags::ECHO | LocalFlags::ISIG));
    assert!(!t
        .input_flags
        .intersects(InputFlags::IXON | InputFlags::ICRNL | InputFlags::ISTRIP));
    assert!(!t.output_flags.contains(OutputFlags::OPOST));
}

#[test]
fn echo_passes_every_byte_value() {
    let device = EchoDevice::start();
    let host = Tty::open(device.path()).unwrap();
    let data: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).collect();
    host.write_all_timeout(&data, T).unwrap();
    assert_same_bytes(&host.read_exact_timeout(data.len(), T), &data, "all values");
}

#[test]
fn scripted_device_talks_both_directions_in_order() {
    let device = ScriptedDevice::start();
    let host = Tty::open(device.path()).unwrap();
    host.write_all_timeout(b"hello", T).unwrap();
    assert_eq!(device.read_exact_timeout(5, T), b"hello");

    let reply = random_bytes(200_000, 11);
    for chunk in reply.chunks(7000) {
        device.write(chunk);
    }
    assert_same_bytes(
        &host.read_exact_timeout(reply.len(), T),
        &reply,
        "device to host",
    );
    assert!(device.wait_flushed(T));
    assert_eq!(device.bytes_written(), reply.len() as u64);

    host.write_all_timeout(b"ab", T).unwrap();
    assert!(eventually(T, || device.bytes_read() == 7));
    assert_eq!(device.read_available(), b"ab");
    assert!(device
        .try_read_exact_timeout(1, Duration::from_millis(50))
        .is_none());
}

#[test]
fn scripted_write_never_blocks_when_nobody_reads() {
    let device = ScriptedDevice::start();
    // Far more than a pty buffers: queued, returns at once.
    device.write(&vec![0x55; 4 << 20]);
    assert!(!device.wait_flushed(Duration::from_millis(100)));
    let host = Tty::open(device.path()).unwrap();
    let got = host.read_exact_timeout(4 << 20, T);
    assert!(got.iter().all(|b| *b == 0x55));
}

#[test]
fn stopping_the_device_hangs_up_the_host() {
    let device = EchoDevice::start();
    let path = device.path().to_path_buf();
    let host = Tty::open(&path).unwrap();
    device.stop();
    match host.try_read_exact_timeout(1, T) {
        Err((got, e)) => {
            assert!(got.is_empty());
            assert_ne!(e.kind(), std::io::ErrorKind::TimedOut, "no hang-up: {e}");
        }
        Ok(b) => panic!("read {b:?} from a stopped device"),
    }
    drop(host);
    assert!(
        eventually(T, || !path.exists()),
        "{} still exists",
        path.display()
    );
}

#[test]
fn link_points_at_device_and_goes_with_it() {
    let dir = temp_dir();
    let link = dir.path().join("ttyZWAVE");
    let mut old = EchoDevice::start();
    old.link(&link).unwrap();
    assert_eq!(std::fs::read_link(&link).unwrap(), old.path());

    // Re-plug: a new device takes over the link; stopping the old one must
    // leave the new link alone.
    let mut new = ScriptedDevice::start();
    new.link(&link).unwrap();
    old.stop();
    assert_eq!(std::fs::read_link(&link).unwrap(), new.path());
    let host = Tty::open(&link).unwrap();
    host.write_all_timeout(b"x", T).unwrap();
    assert_eq!(new.read_exact_timeout(1, T), b"x");
    new.stop();
    assert!(std::fs::symlink_metadata(&link).is_err());
}

#[test]
fn clear_exclusive_lets_a_second_opener_in() {
    let device = EchoDevice::start();
    let host = Tty::open(device.path()).unwrap();
    // SAFETY: TIOCEXCL takes no argument; the descriptor is a tty.
    let rc = unsafe { libc::ioctl(std::os::fd::AsRawFd::as_raw_fd(host.file()), libc::TIOCEXCL) };
    assert_eq!(rc, 0);
    drop(host);
    device.clear_exclusive().unwrap();
    Tty::open(device.path()).unwrap();
}
