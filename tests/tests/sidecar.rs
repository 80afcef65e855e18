//! `serialctl sidecar`: several endpoints from one config, pty endpoints that
//! applications open and close at will, and recovery the application never
//! notices.

use std::net::TcpStream;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::termios::{self, BaudRate, ControlFlags, SetArg};
use serialmesh_tests::http::http_get;
use serialmesh_tests::net::{free_port, read_exact_within};
use serialmesh_tests::sidecar::Sidecar;
use serialmesh_tests::util::temp_dir;
use serialmesh_tests::{AgentBuilder, EchoDevice, Pki, RunningAgent, ScriptedDevice, TempDir, Tty};

const T: Duration = Duration::from_secs(20);

fn tcp_endpoint(device: &str, agent: std::net::SocketAddr, port: u16) -> String {
    format!(
        "[[endpoint]]\ndevice = \"{device}\"\nagent = \"{agent}\"\ntcp = \"127.0.0.1:{port}\"\n"
    )
}

fn pty_endpoint(device: &str, agent: std::net::SocketAddr, path: &Path) -> String {
    format!(
        "[[endpoint]]\ndevice = \"{device}\"\nagent = \"{agent}\"\npty = \"{}\"\n",
        path.display()
    )
}

/// An echo device on agent "house" as `zwave`, and a sidecar serving it
/// on a pty endpoint.
struct PtyRig {
    // Dropped in this order: the sidecar goes first, the files last.
    sidecar: Sidecar,
    agent: RunningAgent,
    pty: PathBuf,
    _device: EchoDevice,
    _pki: Pki,
    _dir: TempDir,
}

impl PtyRig {
    fn start() -> PtyRig {
        let pki = Pki::new();
        let device = EchoDevice::start();
        let agent = AgentBuilder::new(&pki, "house")
            .device("zwave", device.path())
            .start();
        let dir = temp_dir();
        let pty = dir.path().join("ttyZWAVE");
        let sidecar = Sidecar::start(
            &Sidecar::config(
                &pki.client("gw"),
                &pty_endpoint("zwave@house", agent.addr, &pty),
            ),
            1,
        );
        PtyRig {
            sidecar,
            agent,
            pty,
            _device: device,
            _pki: pki,
            _dir: dir,
        }
    }
}

fn echo_over_tty(tty: &Tty, probe: &[u8]) {
    tty.write_all_timeout(probe, T).unwrap();
    assert_eq!(tty.read_exact_timeout(probe.len(), T), probe);
}

#[test]
fn sidecar_serves_every_endpoint_of_its_config() {
    let pki = Pki::new();
    let zwave = EchoDevice::start();
    let zigbee = ScriptedDevice::start();
    let agent = AgentBuilder::new(&pki, "house")
        .device("zwave", zwave.path())
        .device("zigbee", zigbee.path())
        .start();
    let port = free_port();
    let dir = temp_dir();
    let pty = dir.path().join("ttyZIGBEE");
    let config = Sidecar::config(
        &pki.client("gw"),
        &(tcp_endpoint("zwave@house", agent.addr, port)
            + &pty_endpoint("zigbee@house", agent.addr, &pty)),
    );
    let _sidecar = Sidecar::start(&config, 2);

    let mut tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    std::io::Write::write_all(&mut tcp, b"zwave!").unwrap();
    assert_eq!(read_exact_within(&mut tcp, 6, T), b"zwave!");

    let tty = Tty::open_within(&pty, T);
    tty.write_all_timeout(b"zigbee?", T).unwrap();
    assert_eq!(zigbee.read_exact_timeout(7, T), b"zigbee?");
    zigbee.write(b"\x00\x11\x13\xff");
    assert_eq!(tty.read_exact_timeout(4, T), b"\x00\x11\x13\xff");
}

#[test]
fn pty_endpoint_serves_each_open_of_the_application() {
    let rig = PtyRig::start();
    let (agent, pty, s) = (&rig.agent, &rig.pty, &rig.sidecar);
    for round in 0..3 {
        let mark = s.guard.mark();
        let tty = Tty::open_within(pty, T);
        echo_over_tty(&tty, format!("open #{round}").as_bytes());
        drop(tty);
        s.guard
            .wait_for_output_after(mark, "application closed the pty", T)
            .unwrap();
    }
    // Between opens the device is free for others.
    agent
        .wait_for_output("client closed the session", T)
        .unwrap();
}

/// Times any thread of process `pid` went to sleep and was woken.
fn wake_ups(pid: u32) -> u64 {
    let mut total = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
    {
        let status = std::fs::read_to_string(task.path().join("status")).unwrap_or_default();
        total += status
            .lines()
            .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0);
    }
    total
}

#[test]
fn a_pty_nobody_has_open_costs_no_wake_ups_and_an_open_is_seen_at_once() {
    let rig = PtyRig::start();
    let (pty, s) = (&rig.pty, &rig.sidecar);
    // Looking for the application's open every 50 ms was 20 wake-ups a
    // second; the open is now an inotify event on the slave.
    std::thread::sleep(Duration::from_millis(300));
    let before = wake_ups(s.guard.pid());
    std::thread::sleep(Duration::from_secs(2));
    let idle = wake_ups(s.guard.pid()) - before;
    assert!(idle <= 8, "the idle sidecar woke {idle} times in 2 s");

    for round in 0..3 {
        let mark = s.guard.mark();
        let start = Instant::now();
        let tty = Tty::open_within(pty, T);
        echo_over_tty(&tty, format!("open #{round}").as_bytes());
        eprintln!("open #{round}: first echo after {:?}", start.elapsed());
        drop(tty);
        s.guard
            .wait_for_output_after(mark, "application closed the pty", T)
            .unwrap();
    }
}

/// A gateway that closes its port and opens it again at once (after an
/// error or a reset) must get the answers to what it writes next,
/// however the close and the open fall between the sidecar's reads.
#[test]
fn closing_and_reopening_the_pty_at_once_loses_no_answer() {
    let rig = PtyRig::start();
    let pty = &rig.pty;
    let mut tty = Tty::open_within(pty, T);
    echo_over_tty(&tty, b"first");
    for round in 0..20 {
        drop(tty);
        tty = Tty::open_within(pty, T);
        echo_over_tty(&tty, format!("again #{round}").as_bytes());
    }
}

#[test]
fn line_settings_the_application_sets_on_its_pty_reach_the_device() {
    let pki = Pki::new();
    let device = EchoDevice::start();
    let agent = AgentBuilder::new(&pki, "shed")
        .device("rs232", device.path())
        .start();
    let dir = temp_dir();
    let pty = dir.path().join("ttyGEN");
    let _s = Sidecar::start(
        &Sidecar::config(
            &pki.client("ops"),
            &pty_endpoint("rs232@shed", agent.addr, &pty),
        ),
        1,
    );
    let tty = Tty::open_within(&pty, T);
    echo_over_tty(&tty, b"at 115200");

    // Linux ptys force 8 data bits and no parity (pty_set_termios), so a
    // pty endpoint can carry the rate, stop bits and flow control.
    let mut t = termios::tcgetattr(tty.file().as_fd()).unwrap();
    termios::cfsetspeed(&mut t, BaudRate::B9600).unwrap();
    t.control_flags.insert(ControlFlags::CSTOPB);
    termios::tcsetattr(tty.file().as_fd(), SetArg::TCSANOW, &t).unwrap();
    tty.write_all_timeout(b"x", T).unwrap();

    agent
        .wait_for_output("line settings changed by client settings=9600 8N2", T)
        .unwrap();
    // The real device (our pty's far end) now runs at 9600 8N2.
    // (termios2: the agent may set the rate as a number, with BOTHER.)
    let dev = std::fs::OpenOptions::new()
        .read(true)
        .open(device.path())
        .unwrap();
    let d = serialmesh_io::tty::termios2(dev.as_fd()).unwrap();
    assert_eq!(d.c_ospeed, 9600);
    assert_ne!(d.c_cflag & libc::CSTOPB, 0);
}

#[test]
fn agent_restart_while_the_application_holds_the_pty_and_keeps_writing() {
    let pki = Pki::new();
    let device = EchoDevice::start();
    let mut agent = AgentBuilder::new(&pki, "house")
        .device("zwave", device.path())
        .start();
    let dir = temp_dir();
    let pty = dir.path().join("ttyZWAVE");
    let s = Sidecar::start(
        &Sidecar::config(
            &pki.client("gw"),
            &pty_endpoint("zwave@house", agent.addr, &pty),
        ),
        1,
    );
    let tty = Tty::open_within(&pty, T);
    echo_over_tty(&tty, b"before");

    agent.restart();
    // The application keeps writing as a gateway does (it never reopens);
    // once the tunnel is back its traffic flows again.
    let start = Instant::now();
    let mut i = 0u32;
    loop {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no echo within 10 s:\n{}",
            s.guard.output()
        );
        let probe = format!("<{i}>");
        tty.write_all_timeout(probe.as_bytes(), T)
            .expect("the pty must stay writable");
        if let Ok(got) = tty.try_read_exact_timeout(probe.len(), Duration::from_millis(300)) {
            if got == probe.as_bytes() {
                break;
            }
        }
        let _ = tty.read_available();
        i += 1;
    }
    s.guard.wait_for_output("tunnel restored", T).unwrap();
    assert!(
        std::fs::read_link(&pty).is_ok(),
        "the pty path must not vanish"
    );
}

#[test]
fn sigterm_closes_sessions_removes_pty_links_and_exits_quickly() {
    let rig = PtyRig::start();
    let (agent, pty, s) = (&rig.agent, &rig.pty, &rig.sidecar);
    let tty = Tty::open_within(pty, T);
    echo_over_tty(&tty, b"hi");
    let start = Instant::now();
    s.guard.terminate();
    let status = s
        .guard
        .wait_exit(Duration::from_secs(5))
        .expect("sidecar exits");
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "took {:?}",
        start.elapsed()
    );
    assert_eq!(status.code(), Some(0), "{}", s.guard.output());
    assert!(
        std::fs::symlink_metadata(pty).is_err(),
        "pty symlink left behind"
    );
    agent
        .wait_for_output("client closed the session", T)
        .unwrap();
}

fn expect_exit(config: &str, code: i32, needle: &str) {
    let s = Sidecar::spawn(config);
    let status = s
        .guard
        .wait_exit(T)
        .unwrap_or_else(|| panic!("{}", s.guard.failure("still running")));
    assert_eq!(status.code(), Some(code), "{}", s.guard.output());
    assert!(
        s.guard.output().contains(needle),
        "missing {needle:?} in:\n{}",
        s.guard.output()
    );
}

#[test]
fn sidecar_config_errors_say_what_to_fix() {
    let pki = Pki::new();
    let tls = pki.client("gw");
    expect_exit(
        "[[endpoint]]\ndevice = \"a@b\"\ntcp = \"127.0.0.1:1\"\n",
        2,
        "no [tls] table",
    );
    expect_exit(&Sidecar::config(&tls, ""), 2, "no [[endpoint]] tables");
    expect_exit(
        &Sidecar::config(
            &tls,
            "[[endpoint]]\ndevice = \"zwave@shed\"\nagent = \"h:1\"\n",
        ),
        2,
        "needs exactly one of tcp or pty",
    );
    expect_exit(
        &Sidecar::config(&tls, "[[endpont]]\n"),
        2,
        "did you mean `endpoint`?",
    );
}

#[test]
fn sidecar_refuses_to_replace_a_file_that_is_not_a_symlink() {
    let pki = Pki::new();
    let dir = temp_dir();
    let path = dir.path().join("ttyREAL");
    std::fs::write(&path, b"precious").unwrap();
    let agent: std::net::SocketAddr = "127.0.0.1:9".parse().unwrap();
    expect_exit(
        &Sidecar::config(&pki.client("gw"), &pty_endpoint("zwave@shed", agent, &path)),
        1,
        "exists and is not a symlink; refusing to replace it",
    );
    assert_eq!(std::fs::read(&path).unwrap(), b"precious");
}

#[test]
fn sidecar_reports_a_taken_port() {
    let pki = Pki::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let agent: std::net::SocketAddr = "127.0.0.1:9".parse().unwrap();
    expect_exit(
        &Sidecar::config(&pki.client("gw"), &tcp_endpoint("zwave@shed", agent, port)),
        1,
        &format!("endpoint for 'zwave@shed': cannot listen on 127.0.0.1:{port}"),
    );
}

#[test]
fn admin_endpoint_reports_health_readiness_and_byte_counts() {
    let pki = Pki::new();
    let device = EchoDevice::start();
    let agent = AgentBuilder::new(&pki, "house")
        .device("zwave", device.path())
        .start();
    let (port, admin) = (free_port(), free_port());
    let config = format!(
        "admin = \"127.0.0.1:{admin}\"\n{}",
        Sidecar::config(
            &pki.client("gw"),
            &tcp_endpoint("zwave@house", agent.addr, port)
        )
    );
    let s = Sidecar::start(&config, 1);
    assert_eq!(http_get(admin, "/healthz"), (200, "ok\n".to_string()));
    // Ready once the agent has answered that the device is there.
    assert!(
        serialmesh_tests::eventually(T, || http_get(admin, "/readyz").0 == 200),
        "{}",
        s.guard.output()
    );

    let mut app = TcpStream::connect(("127.0.0.1", port)).unwrap();
    std::io::Write::write_all(&mut app, b"0123456789").unwrap();
    assert_eq!(read_exact_within(&mut app, 10, T), b"0123456789");
    let (code, metrics) = http_get(admin, "/metrics");
    assert_eq!(code, 200);
    assert!(
        metrics.contains("serialmesh_endpoint_tunnel_up{endpoint=\"zwave@house\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            "serialmesh_endpoint_bytes_total{direction=\"to_device\",endpoint=\"zwave@house\"} 10"
        ),
        "{metrics}"
    );

    // With the agent gone the endpoint is not ready, and says why.
    drop(app);
    agent.kill();
    assert!(
        serialmesh_tests::eventually(Duration::from_secs(15), || http_get(admin, "/readyz").0
            == 503),
        "still ready with the agent dead"
    );
    let (_, detail) = http_get(admin, "/readyz");
    assert!(detail.contains("zwave@house"), "{detail}");
    let (_, metrics) = http_get(admin, "/metrics");
    // Said as a kind from a closed set, not the OS error's text: a
    // label value per message would be a new series per message.
    assert!(
        metrics.contains(
            "serialmesh_endpoint_last_error{endpoint=\"zwave@house\",error=\"unreachable\"} 1"
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains("serialmesh_endpoint_ready{endpoint=\"zwave@house\"} 0"),
        "{metrics}"
    );
}
