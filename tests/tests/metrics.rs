//! Metrics an alert can rely on, read from the real binaries' admin
//! endpoints: a device's presence follows the plug, an agent restart is
//! one outage in the client's histogram, the build and the process are
//! described, nothing a client asks for or an agent says becomes a label
//! value, and
//! `promtool check metrics` finds nothing to lint in a real scrape.

use std::net::TcpStream;
use std::time::Duration;

use serialmesh_proto::CloseReasonKind;
use serialmesh_tests::net::{echo_ok, free_port};
use serialmesh_tests::rogue::{Rogue, Says};
use serialmesh_tests::scrape::{promtool_run, Scrape};
use serialmesh_tests::sidecar::Sidecar;
use serialmesh_tests::sysfs::{FakeSysfs, UsbDevice};
use serialmesh_tests::{eventually, AgentBuilder, ConnectBuilder, EchoDevice, Pki};

const T: Duration = Duration::from_secs(20);

fn admin_toml(port: u16) -> String {
    format!("admin = \"127.0.0.1:{port}\"\n")
}

fn wait_admin(port: u16) {
    assert!(eventually(T, || TcpStream::connect(("127.0.0.1", port)).is_ok()));
}

fn present(admin: u16, device: &str) -> Option<f64> {
    Scrape::of(admin).value("serialmesh_agent_device_present", &[("device", device)])
}

#[test]
fn an_unplugged_stick_reads_0_in_device_present_and_1_again_once_replugged() {
    let pki = Pki::new();
    let mut fake = FakeSysfs::new();
    let stick = EchoDevice::start();
    let aeotec = UsbDevice::new(0x0658, 0x0200)
        .serial("ZS5-0001")
        .product("Z-Stick Gen5")
        .tty("ttyUSB0");
    fake.add(&aeotec, stick.path());
    let admin = free_port();
    let agent = AgentBuilder::new(&pki, "house")
        .top_level_toml(&format!(
            "{}sysfs = \"{}\"\ndev = \"{}\"\n",
            admin_toml(admin),
            fake.sysfs().display(),
            fake.dev().display()
        ))
        .start();
    wait_admin(admin);
    // Unpinned, the stick is shared under a name made from its serial
    // number (docs/discovery.md).
    const STICK: &str = "zwave-zs5-0001";
    assert_eq!(present(admin, STICK), Some(1.0));

    fake.remove("ttyUSB0");
    agent.wait_for_output("device vanished", T).unwrap();
    // The series stays, at 0: `== 0` fires, where a vanished series would
    // only have gone stale.
    assert_eq!(present(admin, STICK), Some(0.0));

    fake.add(&aeotec, stick.path());
    assert!(eventually(T, || present(admin, STICK) == Some(1.0)));
}

#[test]
fn a_configured_device_whose_path_is_missing_reads_0_from_the_first_scrape() {
    let pki = Pki::new();
    let dir = serialmesh_tests::util::temp_dir();
    let admin = free_port();
    let _agent = AgentBuilder::new(&pki, "house")
        .top_level_toml(&admin_toml(admin))
        .device("zwave", dir.path().join("ttyUSB-missing"))
        .start();
    wait_admin(admin);
    assert_eq!(present(admin, "zwave"), Some(0.0));
}

#[test]
fn an_agent_restart_is_one_outage_in_the_clients_histogram_and_two_session_setups() {
    let pki = Pki::new();
    let device = EchoDevice::start();
    let mut agent = AgentBuilder::new(&pki, "house")
        .device("zwave", device.path())
        .start();
    let admin = free_port();
    let client = ConnectBuilder::new("zwave@house", agent.addr, &pki.client("gw"))
        .arg("--admin")
        .arg(format!("127.0.0.1:{admin}"))
        .start();
    let mut app = client.connect();
    echo_ok(&mut app, b"before");
    wait_admin(admin);
    let ep = [("endpoint", "zwave@house")];
    let before = Scrape::of(admin);
    assert_eq!(
        before.value("serialmesh_endpoint_outage_seconds_count", &ep),
        Some(0.0)
    );
    assert_eq!(
        before.value("serialmesh_endpoint_session_setup_seconds_count", &ep),
        Some(1.0)
    );

    agent.restart(); // SIGKILL, then the same config and port
    client.wait_for_output("tunnel restored", T).unwrap();
    echo_ok(&mut app, b"after");
    let after = Scrape::of(admin);
    assert_eq!(
        after.value("serialmesh_endpoint_outage_seconds_count", &ep),
        Some(1.0)
    );
    let outage = after
        .value("serialmesh_endpoint_outage_seconds_sum", &ep)
        .unwrap();
    assert!(
        outage > 0.0 && outage < T.as_secs_f64(),
        "outage {outage} s"
    );
    eprintln!("outage observed by the client: {outage:.3} s");
    // Kill to listening again is well under zwave-js' 10 s: the outage is
    // in the 10 s bucket the alert on long outages reads.
    assert_eq!(
        after.value(
            "serialmesh_endpoint_outage_seconds_bucket",
            &[("endpoint", "zwave@house"), ("le", "10")]
        ),
        Some(1.0)
    );
    assert_eq!(
        after.value("serialmesh_endpoint_session_setup_seconds_count", &ep),
        Some(2.0)
    );
    assert_eq!(
        after.value("serialmesh_endpoint_reconnects_total", &ep),
        Some(1.0)
    );
    assert_eq!(after.value("serialmesh_endpoint_tunnel_up", &ep), Some(1.0));
    assert_eq!(after.value("serialmesh_endpoint_ready", &ep), Some(1.0));
    // The loss is said as a kind (which one depends on the moment the
    // redial met the restarting agent), not as the OS error behind it.
    let last = after
        .matching("serialmesh_endpoint_last_error", &ep)
        .next()
        .expect("last error");
    assert!(is_client_error_kind(&last.labels["error"]), "{last:?}");
}

/// The closed set of client error kinds (docs/observability.md).
fn is_client_error_kind(s: &str) -> bool {
    const REASONS: &[&str] = &[
        "unknown device",
        "busy",
        "not authorised",
        "device gone",
        "open failed",
        "shutdown",
        "replaced",
        "protocol error",
        "timeout",
        "closed",
    ];
    let plain = [
        "unreachable",
        "tls",
        "protocol",
        "wrong agent",
        "unresolved",
        "lost",
        "revoked",
    ];
    plain.contains(&s)
        || ["refused: ", "closed: "]
            .iter()
            .any(|p| s.strip_prefix(p).is_some_and(|r| REASONS.contains(&r)))
}

#[test]
fn both_binaries_export_build_info_and_process_series() {
    let pki = Pki::new();
    let agent_admin = free_port();
    let agent = AgentBuilder::new(&pki, "house")
        .top_level_toml(&admin_toml(agent_admin))
        .start();
    let client_admin = free_port();
    let _client = ConnectBuilder::new("zwave@house", agent.addr, &pki.client("gw"))
        .arg("--admin")
        .arg(format!("127.0.0.1:{client_admin}"))
        .start();
    wait_admin(agent_admin);
    wait_admin(client_admin);
    for (port, binary) in [(agent_admin, "seriald"), (client_admin, "serialctl")] {
        let s = Scrape::of(port);
        let info: Vec<_> = s.matching("serialmesh_build_info", &[]).collect();
        assert_eq!(info.len(), 1, "{}", s.text);
        let labels = &info[0].labels;
        assert_eq!(labels["binary"], binary);
        assert_eq!(labels["version"], env!("CARGO_PKG_VERSION"));
        let commit = &labels["commit"];
        assert!(
            commit == "unknown"
                || (commit.len() >= 7 && commit.chars().all(|c| c.is_ascii_hexdigit())),
            "commit {commit:?}"
        );
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let started = s.value("process_start_time_seconds", &[]).unwrap();
        assert!(
            started > now - 600.0 && started <= now + 1.0,
            "{started} vs {now}"
        );
        assert!(s.value("process_resident_memory_bytes", &[]).unwrap() > 1e5);
        assert!(s.value("process_open_fds", &[]).unwrap() >= 3.0);
        assert!(s.value("process_max_fds", &[]).unwrap() >= 3.0);
        assert!(s.value("process_cpu_seconds_total", &[]).unwrap() >= 0.0);
        assert_eq!(s.types["process_cpu_seconds_total"], "counter");
    }
}

/// The attack: a client (or anyone with a client certificate) opening
/// devices by made-up names, over and over, to grow the agent's scrape
/// until Prometheus or the agent falls over. Label values come only from
/// the agent's own devices and closed sets of words, so the set of series
/// does not change however many names are tried.
#[test]
fn opening_made_up_device_names_adds_no_series_to_the_agents_scrape() {
    let pki = Pki::new();
    let device = EchoDevice::start();
    let admin = free_port();
    let agent = AgentBuilder::new(&pki, "house")
        .top_level_toml(&admin_toml(admin))
        .device("zwave", device.path())
        .start();
    wait_admin(admin);
    // One refusal first, so the family of refusals exists in both scrapes.
    let first = ConnectBuilder::new("warmup@house", agent.addr, &pki.client("probe")).start();
    let _a = first.connect();
    first.wait_for_output("unknown device", T).unwrap();
    let before = Scrape::of(admin).series();

    for i in 0..4 {
        let name = format!("made-up-{i}-{}", "x".repeat(12 * i));
        let c = ConnectBuilder::new(
            &format!("{name}@house"),
            agent.addr,
            &pki.client(&format!("peer-{i}")),
        )
        .start();
        let _app = c.connect();
        c.wait_for_output("unknown device", T).unwrap();
    }
    let after = Scrape::of(admin);
    assert_eq!(after.series(), before, "series changed:\n{}", after.text);
    assert!(!after.text.contains("made-up"), "{}", after.text);
    assert!(
        after
            .value(
                "serialmesh_agent_refusals_total",
                &[("reason", "unknown device")]
            )
            .unwrap()
            >= 5.0
    );
}

#[test]
fn promtool_finds_nothing_to_lint_in_a_real_agent_and_sidecar_scrape() {
    let pki = Pki::new();
    let device = EchoDevice::start();
    let agent_admin = free_port();
    let agent = AgentBuilder::new(&pki, "house")
        .top_level_toml(&admin_toml(agent_admin))
        .device("zwave", device.path())
        .start();
    let (sidecar_admin, port) = (free_port(), free_port());
    let _sidecar = Sidecar::start(
        &format!(
            "{}{}[[endpoint]]\ndevice = \"zwave@house\"\nagent = \"{}\"\ntcp = \"127.0.0.1:{port}\"\n",
            admin_toml(sidecar_admin),
            Sidecar::config(&pki.client("gw"), ""),
            agent.addr
        ),
        1,
    );
    let mut app = serialmesh_tests::net::connect_retry(([127, 0, 0, 1], port).into(), T);
    echo_ok(&mut app, b"lint me");
    wait_admin(agent_admin);
    wait_admin(sidecar_admin);
    for port in [agent_admin, sidecar_admin] {
        let s = Scrape::of(port);
        let (code, out) = promtool_run(&["check", "metrics"], &s.text);
        assert_eq!(code, 0, "promtool check metrics:\n{out}\non:\n{}", s.text);
        assert!(out.trim().is_empty(), "promtool check metrics:\n{out}");
    }
    // And it does find a problem where there is one.
    let (code, out) = promtool_run(
        &["check", "metrics"],
        "# HELP bytes Bytes\n# TYPE bytes counter\nbytes 1\n",
    );
    assert_ne!(code, 0, "{out}");
}

/// The attack from the other side: an agent (or whoever holds an agent
/// certificate) refusing a client's opens with a new message each time.
/// Before, the message was the client's `last_error` label value: a new
/// series in Prometheus per refusal. Now it is the kind, and the message
/// stays in the log.
#[test]
fn an_agents_refusal_messages_never_become_label_values_on_the_client() {
    let pki = Pki::new();
    let says = Says {
        refuse: Some((CloseReasonKind::Busy, "held by attacker-text".into())),
        ..Says::default()
    };
    let rogue = Rogue::saying(&pki.agent("garage", "garage"), "garage", says.clone());
    let admin = free_port();
    let client = ConnectBuilder::new("zwave@garage", rogue.addr, &pki.client("gw"))
        .arg("--admin")
        .arg(format!("127.0.0.1:{admin}"))
        .start();
    let _app = client.connect();
    wait_admin(admin);
    let refusals = || says.refused.load(std::sync::atomic::Ordering::SeqCst);
    assert!(eventually(T, || refusals() >= 2), "{}", client.output());
    let first = Scrape::of(admin);
    let seen = refusals();
    // Two more refusals, with two more messages.
    assert!(eventually(T, || refusals() >= seen + 2));
    let second = Scrape::of(admin);
    assert_eq!(first.series(), second.series(), "{}", second.text);
    assert!(!second.text.contains("attacker-text"), "{}", second.text);
    // The message is in the log, where a person reads it.
    assert!(client.output().contains("held by attacker-text #"));
    let ep = [("endpoint", "zwave@garage")];
    let last = second
        .matching("serialmesh_endpoint_last_error", &ep)
        .next()
        .expect("last error");
    assert_eq!(last.labels["error"], "refused: busy");
}
