//! RFC 2217 on a local TCP endpoint, against pyserial's `rfc2217://` client
//! as the real peer (tests/py/rfc2217_client.py; Debian package
//! python3-serial): telnet negotiation, line settings that reach the real
//! device, break, purge, modem lines, and every byte value both ways.

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serialmesh_tests::net::free_port;
use serialmesh_tests::util::{temp_dir, TempDir};
use serialmesh_tests::{
    bins, AgentBuilder, ChildGuard, ConnectBuilder, EchoDevice, Pki, ProcBuilder, TlsPaths,
};

const T: Duration = Duration::from_secs(30);

/// A Python that has pyserial. Debian's python3-serial installs into the
/// system interpreter, which a `python3` earlier on PATH (pyenv) may not be.
fn python() -> PathBuf {
    for candidate in ["/usr/bin/python3", "python3"] {
        let ok = Command::new(candidate)
            .args(["-c", "import serial.rfc2217"])
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return PathBuf::from(candidate);
        }
    }
    panic!("no python3 with pyserial: apt-get install python3-serial");
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("py/rfc2217_client.py")
}

fn pyserial(args: &[&str]) -> ProcBuilder {
    ProcBuilder::new(python())
        .arg(script())
        .args(args)
        .label("pyserial")
}

/// `serialctl sidecar` with one `rfc2217 = true` endpoint on `port`.
fn sidecar(tls: &TlsPaths, agent: std::net::SocketAddr, port: u16) -> (ChildGuard, TempDir) {
    let dir = temp_dir();
    let config = dir.path().join("client.toml");
    std::fs::write(
        &config,
        format!(
            "[tls]\ncert = \"{}\"\nkey = \"{}\"\nca = \"{}\"\n\
             [[endpoint]]\ndevice = \"rs232@shed\"\nagent = \"{agent}\"\n\
             tcp = \"127.0.0.1:{port}\"\nrfc2217 = true\n",
            tls.cert.display(),
            tls.key.display(),
            tls.ca.display()
        ),
    )
    .unwrap();
    let guard = ProcBuilder::new(bins::serialctl())
        .args(["sidecar", "--config"])
        .arg(&config)
        .label("sidecar")
        .spawn();
    guard.wait_listening(port, T).unwrap();
    (guard, dir)
}

/// The device's termios as the agent left it (termios2: the rate as a
/// number).
fn device_termios(path: &Path) -> libc::termios2 {
    let dev = std::fs::OpenOptions::new().read(true).open(path).unwrap();
    serialmesh_io::tty::termios2(dev.as_fd())
        .unwrap_or_else(|e| panic!("TCGETS2 on {}: {e}", path.display()))
}

fn expect_exit_ok(p: &ChildGuard) {
    let status = p
        .wait_exit(T)
        .unwrap_or_else(|| panic!("{}", p.failure("still running")));
    assert_eq!(status.code(), Some(0), "{}", p.failure("failed"));
}

#[test]
fn pyserial_sets_the_real_device_and_every_byte_round_trips() {
    let pki = Pki::new();
    let device = EchoDevice::start();
    let agent = AgentBuilder::new(&pki, "shed")
        .device("rs232", device.path())
        .start();
    let port = free_port();
    let (side, _dir) = sidecar(&pki.client("ops"), agent.addr, port);
    side.wait_for_output("serving rfc2217://", T).unwrap();

    let go = temp_dir();
    let go_file = go.path().join("go");
    let py = pyserial(&["full", &port.to_string(), &go_file.display().to_string()]).spawn();
    py.wait_for_output("configured 9600 7E2 rtscts=True", T)
        .unwrap();
    // Linux ptys force 8 data bits and no parity (pty_set_termios), so the
    // agent's log shows those two; the rate, stop bits and hardware flow
    // control are read back from the device itself.
    agent
        .wait_for_output(
            "line settings changed by client settings=9600 7E2 rts/cts",
            T,
        )
        .unwrap();
    let t = device_termios(device.path());
    assert_eq!(t.c_ospeed, 9600);
    assert_ne!(t.c_cflag & libc::CSTOPB, 0, "two stop bits");
    assert_ne!(t.c_cflag & libc::CRTSCTS, 0, "hardware flow control");
    std::fs::write(&go_file, b"").unwrap();

    expect_exit_ok(&py);
    let out = py.stdout();
    for line in [
        "modem cts=True dsr=True ri=False cd=True",
        "roundtrip all-values 1024",
        "roundtrip iac-run 2000",
        "roundtrip telnet-lookalikes 2700",
        "break sent",
        "purged",
        "reconfigured",
        "mark parity refused: remote rejected value for option 'parity'",
        "closed",
    ] {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }
    agent
        .wait_for_output("break changed by client on=true", T)
        .unwrap();
    agent
        .wait_for_output("break changed by client on=false", T)
        .unwrap();
    agent
        .wait_for_output("buffers purged by client input=true output=false", T)
        .unwrap();
    agent
        .wait_for_output("buffers purged by client input=false output=true", T)
        .unwrap();
    agent
        .wait_for_output(
            "line settings changed by client settings=19200 8N1 xon/xoff",
            T,
        )
        .unwrap();
    let t = device_termios(device.path());
    assert_eq!(t.c_ospeed, 19200);
    assert_eq!(t.c_cflag & (libc::CSTOPB | libc::CRTSCTS), 0);
    assert_ne!(t.c_iflag & libc::IXON, 0, "xon/xoff");
    // The endpoint itself only ever carried the device's bytes: 1024 + 2000
    // + 2700 each way.
    agent
        .wait_for_output("session ended to_device=5724 to_client=5724", T)
        .unwrap();
    side.wait_for_output(
        "application changed the break condition (RFC 2217) on=true",
        T,
    )
    .unwrap();
}

#[test]
fn connect_with_rfc2217_serves_pyserial() {
    let pki = Pki::new();
    let device = EchoDevice::start();
    let agent = AgentBuilder::new(&pki, "shed")
        .device("rs232", device.path())
        .start();
    let client = ConnectBuilder::new("rs232@shed", agent.addr, &pki.client("ops"))
        .arg("--rfc2217")
        .start();
    let py = pyserial(&["quick", &client.local.port().to_string()]).spawn();
    expect_exit_ok(&py);
    assert!(
        py.stdout().contains("roundtrip quick 320"),
        "{}",
        py.stdout()
    );
    agent
        .wait_for_output("line settings changed by client settings=57600 8N1", T)
        .unwrap();
    assert_eq!(device_termios(device.path()).c_ospeed, 57600);
}

#[test]
fn a_client_flapping_the_line_settings_gets_each_applied_but_not_each_logged() {
    let pki = Pki::new();
    let device = EchoDevice::start();
    let agent = AgentBuilder::new(&pki, "shed")
        .device("rs232", device.path())
        .start();
    let client = ConnectBuilder::new("rs232@shed", agent.addr, &pki.client("ops"))
        .arg("--rfc2217")
        .start();
    let changes = 60;
    let started = std::time::Instant::now();
    let py = pyserial(&[
        "flap",
        &client.local.port().to_string(),
        &changes.to_string(),
    ])
    .spawn();
    expect_exit_ok(&py);
    let took = started.elapsed();
    assert_eq!(device_termios(device.path()).c_ospeed, 57600);
    agent.wait_for_output("session ended", T).unwrap();

    // A baud change and a purge per round: a burst of 32 lines, then one a
    // second, and the lines say how many they left out.
    let out = agent.output();
    let logged = out
        .lines()
        .filter(|l| {
            l.contains("line settings changed by client") || l.contains("buffers purged by client")
        })
        .count();
    let budget = 32 + took.as_secs() as usize + 2;
    assert!(
        logged <= budget && logged < 2 * changes,
        "{logged} line-control lines for {} changes in {took:?}:\n{out}",
        2 * changes
    );
    assert!(
        out.lines()
            .any(|l| l.contains("by client") && !l.contains("unlogged=0")),
        "no line counts what it left out:\n{out}"
    );
}

#[test]
fn rfc2217_needs_a_tcp_endpoint() {
    let pki = Pki::new();
    let tls = pki.client("ops");
    let dir = temp_dir();
    let never = dir.path().join("ttyNEVER").display().to_string();
    let (code, _, err) = ProcBuilder::new(bins::serialctl())
        .args([
            "connect",
            "rs232@shed",
            "--agent",
            "127.0.0.1:9",
            "--rfc2217",
        ])
        .args(["--pty", &never])
        .arg("--cert")
        .arg(&tls.cert)
        .arg("--key")
        .arg(&tls.key)
        .arg("--ca")
        .arg(&tls.ca)
        .run_to_end(T);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("serialctl: --rfc2217 needs a TCP endpoint: give --tcp HOST:PORT"),
        "{err}"
    );
    assert!(std::fs::symlink_metadata(&never).is_err(), "no pty made");

    let config = dir.path().join("client.toml");
    std::fs::write(
        &config,
        format!(
            "[tls]\ncert = \"{}\"\nkey = \"{}\"\nca = \"{}\"\n\
             [[endpoint]]\ndevice = \"rs232@shed\"\npty = \"{never}\"\nrfc2217 = true\n",
            tls.cert.display(),
            tls.key.display(),
            tls.ca.display()
        ),
    )
    .unwrap();
    let (code, _, err) = ProcBuilder::new(bins::serialctl())
        .args(["sidecar", "--config"])
        .arg(&config)
        .run_to_end(T);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("client.toml:")
            && err.contains("endpoint for 'rs232@shed': rfc2217 needs a tcp endpoint"),
        "{err}"
    );
}
