//! Trust (docs/design.md "Trust"): each side verifies the chain to the pinned
//! CA and the role, and nothing about validity dates, so a host whose clock
//! says 2016 or 2040 still connects. A certificate of another CA or of the
//! wrong role is refused, with a log line that says why; a private key
//! readable by others is refused with the fix.
//!
//! `serialctl` and `seriald` check their own certificate against their own
//! CA at start, so neither can be made to present a certificate of another
//! CA while trusting ours. To reach the agent's verifier with such a
//! certificate, a generic TLS client (socat, a declared test dependency)
//! stands in for a client of another installation; likewise socat stands in
//! for an "agent" presenting a client certificate.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serialmesh_tests::net::{connect_retry, free_port, read_exact_within};
use serialmesh_tests::util::temp_dir;
use serialmesh_tests::{
    bins, AgentBuilder, ChildGuard, ConnectBuilder, EchoDevice, Pki, ProcBuilder, RunningAgent,
    TlsPaths,
};

const T: Duration = Duration::from_secs(20);
/// How long an application connection is watched for bytes that must not
/// come, once both sides have logged the refusal.
const QUIET: Duration = Duration::from_millis(500);

const AT_2016: &str = "2016-03-01 00:00:00";
const AT_2040: &str = "2040-03-01 00:00:00";

// ---------------------------------------------------------------- helpers

/// Writes `probe` and expects it echoed back.
fn echo_ok(stream: &mut TcpStream, probe: &[u8]) {
    stream.write_all(probe).unwrap();
    assert_eq!(read_exact_within(stream, probe.len(), T), probe);
}

/// Everything that arrives on `stream` within `window` or until it closes.
fn bytes_within(stream: &mut TcpStream, window: Duration) -> Vec<u8> {
    let deadline = Instant::now() + window;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return got;
        }
        stream.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut buf) {
            Ok(0) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return got
            }
            // Reset by the peer: closed without data.
            Err(_) => return got,
        }
    }
}

/// The fingerprint `serialctl pki show` prints for `cert`.
fn fingerprint_of(cert: &Path) -> String {
    let (code, out, err) = ProcBuilder::new(bins::serialctl())
        .args(["pki", "show"])
        .arg(cert)
        .label("serialctl-pki-show")
        .run_to_end(T);
    assert_eq!(code, 0, "pki show {}: {out}{err}", cert.display());
    out.lines()
        .find_map(|l| l.strip_prefix("fingerprint:"))
        .map(|f| f.trim().to_owned())
        .unwrap_or_else(|| panic!("no fingerprint line in:\n{out}"))
}

/// The subject `serialctl pki show` prints for `cert` (e.g. the CA's
/// `CN=serialmesh CA 1a2b3c4d, O=serialmesh`).
fn subject_of(cert: &Path) -> String {
    let (code, out, err) = ProcBuilder::new(bins::serialctl())
        .args(["pki", "show"])
        .arg(cert)
        .label("serialctl-pki-show")
        .run_to_end(T);
    assert_eq!(code, 0, "pki show {}: {out}{err}", cert.display());
    out.lines()
        .find_map(|l| l.strip_prefix("subject:"))
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|| panic!("no subject line in:\n{out}"))
}

/// A generic TLS client (socat) presenting `cert`/`key` to the agent at
/// `agent`, without checking the agent, bridging one application
/// connection on a local port to it. Returns the process and that port.
fn foreign_tls_client(agent: SocketAddr, cert: &Path, key: &Path) -> (ChildGuard, SocketAddr) {
    let local = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let socat = ProcBuilder::new("socat")
        .arg("-d")
        .arg("-d")
        .arg(format!(
            "TCP-LISTEN:{},bind=127.0.0.1,reuseaddr",
            local.port()
        ))
        .arg(format!(
            "OPENSSL:{agent},cert={},key={},verify=0",
            cert.display(),
            key.display()
        ))
        .label("socat-foreign-client")
        .spawn();
    socat
        .wait_listening(local.port(), T)
        .unwrap_or_else(|e| panic!("socat (apt-get install socat) did not listen: {e}"));
    (socat, local)
}

/// A generic TLS server (socat) presenting `tls.cert` as if it were an
/// agent, echoing whatever a client sends once the handshake succeeds.
fn foreign_tls_server(tls: &TlsPaths) -> (ChildGuard, SocketAddr) {
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let socat = ProcBuilder::new("socat")
        .arg("-d")
        .arg("-d")
        .arg(format!(
            "OPENSSL-LISTEN:{},bind=127.0.0.1,reuseaddr,cert={},key={},cafile={},verify=0",
            addr.port(),
            tls.cert.display(),
            tls.key.display(),
            tls.ca.display()
        ))
        .arg("PIPE")
        .label("socat-foreign-agent")
        .spawn();
    socat
        .wait_listening(addr.port(), T)
        .unwrap_or_else(|e| panic!("socat (apt-get install socat) did not listen: {e}"));
    (socat, addr)
}

/// Runs `serialctl ARGS` with its clock at `faketime`; panics unless it
/// exits 0.
fn serialctl_ok(faketime: Option<&str>, args: &[&str], paths: &[&Path]) {
    let (code, out, err) = ProcBuilder::new(bins::serialctl())
        .args(args)
        .args(paths)
        .faketime(faketime)
        .label("serialctl-pki")
        .run_to_end(Duration::from_secs(60));
    assert_eq!(code, 0, "serialctl {args:?} {paths:?}:\n{out}{err}");
}

/// `pki issue` from the CA in `ca_dir` into `dir/<name>/`, clock at
/// `faketime`.
fn issue_at(
    faketime: Option<&str>,
    ca_dir: &Path,
    role: &str,
    name: &str,
    zone: Option<&str>,
    dir: &Path,
) -> TlsPaths {
    let out = dir.join(name);
    let mut args = vec!["pki", "issue", "--role", role, "--name", name];
    if let Some(zone) = zone {
        args.extend(["--zone", zone]);
    }
    serialctl_ok(
        faketime,
        &args,
        &[Path::new("--dir"), ca_dir, Path::new("--out"), &out],
    );
    TlsPaths {
        cert: out.join(format!("{name}.pem")),
        key: out.join(format!("{name}.key")),
        ca: out.join("ca.pem"),
    }
}

/// The agent's "listening on" log line, i.e. proof it started.
fn agent_listening_line(agent: &RunningAgent) -> String {
    agent.wait_for_output("listening on", T).unwrap()
}

/// The client's "serving tcp://" log line.
fn client_serving_line(client: &ChildGuard) -> String {
    client.wait_for_output("serving tcp://", T).unwrap()
}

/// Asserts that a log line carries a timestamp of `year` (the process
/// runs under faketime) or, with `None`, of neither faked year.
fn assert_clock(line: &str, year: Option<&str>, who: &str) {
    match year {
        Some(year) => assert!(
            line.starts_with(&format!("{year}-")),
            "{who} should log with its faked clock ({year}), got: {line}"
        ),
        None => assert!(
            !line.starts_with("2016-") && !line.starts_with("2040-"),
            "{who} should run at real time, got: {line}"
        ),
    }
}

/// The year of a faketime date, e.g. `Some("2016")`.
fn year_of(clock: Option<&str>) -> Option<&str> {
    clock.map(|c| &c[..4])
}

/// An agent at `agent_clock` and a client at `client_clock` carry bytes
/// both ways; each process's log shows the clock it ran with.
fn round_trip_with_clocks(agent_clock: Option<&str>, client_clock: Option<&str>) {
    let pki = Pki::new();
    let device = EchoDevice::start();
    let agent = AgentBuilder::new(&pki, "shed")
        .device("zwave", device.path())
        .faketime(agent_clock)
        .start();
    let client = ConnectBuilder::new("zwave@shed", agent.addr, &pki.client("gw"))
        .faketime(client_clock)
        .start();
    assert_clock(
        &agent_listening_line(&agent),
        year_of(agent_clock),
        "seriald",
    );
    assert_clock(
        &client_serving_line(&client),
        year_of(client_clock),
        "serialctl",
    );

    let mut app = client.connect();
    echo_ok(&mut app, b"clock skew is no reason \x00\x11\x13\xff");
    let up = client.wait_for_output("tunnel up", T).unwrap();
    assert_clock(&up, year_of(client_clock), "serialctl");
}

// ------------------------------------------------------- another CA

#[test]
fn client_certificate_of_another_ca_is_refused_by_the_agent_which_logs_who_and_why() {
    let pki = Pki::new();
    let other = Pki::new();
    let device = EchoDevice::start();
    let agent = AgentBuilder::new(&pki, "shed")
        .device("zwave", device.path())
        .start();
    let mallory = other.client("mallory");
    let (_stranger, stranger_addr) = foreign_tls_client(agent.addr, &mallory.cert, &mallory.key);

    let mut app = connect_retry(stranger_addr, T);
    app.write_all(b"open sesame").unwrap();
    let line = agent
        .wait_for_output("refused client certificate", T)
        .unwrap();
    let want = format!(
        "refused client certificate CN=mallory, O=serialmesh, OU=client (fingerprint {}): \
         not issued by the pinned CA (it names issuer {}; the pinned CA is {})",
        fingerprint_of(&mallory.cert),
        subject_of(&other.ca_cert()),
        subject_of(&pki.ca_cert()),
    );
    assert!(line.contains(&want), "want `{want}` in:\n{line}");
    let failed = agent.wait_for_output("TLS handshake failed", T).unwrap();
    assert!(failed.contains("UnknownIssuer"), "{failed}");

    let got = bytes_within(&mut app, T);
    assert!(got.is_empty(), "the refused client received {got:?}");
    assert_eq!(
        device.bytes_read(),
        0,
        "bytes of a refused client reached the device"
    );

    // A client of the right CA is served by the same agent meanwhile.
    let good = ConnectBuilder::new("zwave@shed", agent.addr, &pki.client("gw")).start();
    echo_ok(&mut good.connect(), b"still served");
    assert!(agent.is_running());
}

#[test]
fn client_of_another_installation_logs_the_refused_agent_and_its_application_gets_no_bytes() {
    let pki = Pki::new();
    let other = Pki::new();
    let device = EchoDevice::start();
    let agent = AgentBuilder::new(&pki, "shed")
        .zone("shed")
        .device("zwave", device.path())
        .start();
    let stranger = ConnectBuilder::new("zwave@shed", agent.addr, &other.client("mallory")).start();

    let mut app = stranger.connect();
    app.write_all(b"open sesame").unwrap();
    let refused = stranger
        .wait_for_output("refused agent certificate", T)
        .unwrap();
    let want = format!(
        "refused agent certificate CN=shed, O=serialmesh, OU=agent (fingerprint {}): \
         not issued by the pinned CA (it names issuer {}; the pinned CA is {})",
        fingerprint_of(&agent.tls.cert),
        subject_of(&pki.ca_cert()),
        subject_of(&other.ca_cert()),
    );
    assert!(refused.contains(&want), "want `{want}` in:\n{refused}");
    let tls = stranger
        .wait_for_output(
            &format!("TLS handshake with agent {} failed", agent.addr),
            T,
        )
        .unwrap();
    assert!(tls.contains("UnknownIssuer"), "{tls}");
    // The agent's side of the same handshake: the peer did not know our CA.
    let failed = agent.wait_for_output("TLS handshake failed", T).unwrap();
    assert!(failed.contains("UnknownCA"), "{failed}");

    let got = bytes_within(&mut app, QUIET);
    assert!(
        got.is_empty(),
        "the application of a refused client got {got:?}"
    );
    assert_eq!(device.bytes_read(), 0, "bytes crossed a refused handshake");

    let good = ConnectBuilder::new("zwave@shed", agent.addr, &pki.client("gw")).start();
    echo_ok(&mut good.connect(), b"still served");
}

#[test]
fn agent_certificate_of_another_ca_is_refused_by_the_client_and_no_data_flows() {
    let pki = Pki::new();
    let other = Pki::new();
    let device = EchoDevice::start();
    let impostor_tls = other.agent("shed", "shed");
    let agent = AgentBuilder::new(&pki, "shed")
        .zone("shed")
        .tls(impostor_tls.clone())
        .device("zwave", device.path())
        .start();
    let client = ConnectBuilder::new("zwave@shed", agent.addr, &pki.client("gw")).start();

    let mut app = client.connect();
    app.write_all(b"unlock the door").unwrap();
    let refused = client
        .wait_for_output("refused agent certificate", T)
        .unwrap();
    let want = format!(
        "refused agent certificate CN=shed, O=serialmesh, OU=agent (fingerprint {}): \
         not issued by the pinned CA (it names issuer {}; the pinned CA is {})",
        fingerprint_of(&impostor_tls.cert),
        subject_of(&other.ca_cert()),
        subject_of(&pki.ca_cert()),
    );
    assert!(refused.contains(&want), "want `{want}` in:\n{refused}");
    client
        .wait_for_output("TLS handshake with agent", T)
        .unwrap();
    let failed = agent.wait_for_output("TLS handshake failed", T).unwrap();
    assert!(failed.contains("UnknownCA"), "{failed}");

    let got = bytes_within(&mut app, QUIET);
    assert!(
        got.is_empty(),
        "the application got {got:?} from an untrusted agent"
    );
    assert_eq!(
        device.bytes_read(),
        0,
        "bytes reached an untrusted agent's device"
    );
    assert!(
        client.is_running(),
        "the endpoint must stay up and keep retrying"
    );
}

/// Waits for `process` to print `want` (one line) and exit with status 2.
fn exits_2_saying(process: &ChildGuard, want: &str) {
    process.wait_for_output(want, T).unwrap();
    let status = process
        .wait_exit(T)
        .unwrap_or_else(|| panic!("{}", process.failure("still running")));
    assert_eq!(
        status.code(),
        Some(2),
        "{}",
        process.failure("wrong exit status")
    );
}

// ------------------------------------------------------------- roles

#[test]
fn agent_certificate_presented_as_a_client_certificate_is_refused_for_its_role() {
    let pki = Pki::new();
    let device = EchoDevice::start();
    let agent = AgentBuilder::new(&pki, "shed")
        .device("zwave", device.path())
        .start();
    // Another agent's certificate of the same CA, used to dial as a client.
    let barn = pki.agent("barn", "barn");
    let (_stranger, stranger_addr) = foreign_tls_client(agent.addr, &barn.cert, &barn.key);

    let mut app = connect_retry(stranger_addr, T);
    app.write_all(b"let me in").unwrap();
    let line = agent
        .wait_for_output("refused client certificate", T)
        .unwrap();
    let want = format!(
        "refused client certificate CN=barn, O=serialmesh, OU=agent (fingerprint {}): \
         it is an agent certificate, and only client certificates are accepted here",
        fingerprint_of(&barn.cert)
    );
    assert!(line.contains(&want), "want `{want}` in:\n{line}");
    let failed = agent.wait_for_output("TLS handshake failed", T).unwrap();
    assert!(failed.contains("InvalidPurpose"), "{failed}");

    let got = bytes_within(&mut app, T);
    assert!(got.is_empty(), "a refused peer received {got:?}");
    assert_eq!(device.bytes_read(), 0);
    let good = ConnectBuilder::new("zwave@shed", agent.addr, &pki.client("gw")).start();
    echo_ok(&mut good.connect(), b"clients still welcome");
}

#[test]
fn client_certificate_presented_by_an_agent_is_refused_by_the_client_for_its_role() {
    let pki = Pki::new();
    let rogue = pki.client("rogue");
    let (_fake_agent, fake_addr) = foreign_tls_server(&rogue);
    let client = ConnectBuilder::new("zwave@shed", fake_addr, &pki.client("gw")).start();

    let mut app = client.connect();
    app.write_all(b"secret").unwrap();
    let refused = client
        .wait_for_output("refused agent certificate", T)
        .unwrap();
    let want = format!(
        "refused agent certificate CN=rogue, O=serialmesh, OU=client (fingerprint {}): \
         it is a client certificate, and only agent certificates are accepted here",
        fingerprint_of(&rogue.cert)
    );
    assert!(refused.contains(&want), "want `{want}` in:\n{refused}");
    let tls = client
        .wait_for_output("TLS handshake with agent", T)
        .unwrap();
    assert!(tls.contains("InvalidPurpose"), "{tls}");
    let got = bytes_within(&mut app, QUIET);
    assert!(
        got.is_empty(),
        "bytes came back through a refused agent: {got:?}"
    );
}

#[test]
fn serialctl_connect_with_an_agent_certificate_exits_2_naming_the_problem() {
    let pki = Pki::new();
    let shed = pki.agent("shed", "shed");
    let client = ConnectBuilder::new("zwave@shed", "127.0.0.1:1".parse().unwrap(), &shed).spawn();
    let want = format!(
        "certificate {} cannot be used by a client: it is an agent certificate, and only client \
         certificates are accepted here; issue a new certificate with `serialctl pki issue --role client`",
        shed.cert.display()
    );
    exits_2_saying(&client, &want);
}

#[test]
fn seriald_with_a_client_certificate_exits_2_naming_the_problem() {
    let pki = Pki::new();
    let gw = pki.client("gw");
    let agent = AgentBuilder::new(&pki, "shed").tls(gw.clone()).spawn();
    let want = format!(
        "certificate {} cannot be used by an agent: it is a client certificate, and only agent \
         certificates are accepted here; issue a new certificate with `serialctl pki issue --role agent`",
        gw.cert.display()
    );
    exits_2_saying(&agent, &want);
}

// ----------------------------------------------------------- clocks

#[test]
fn processes_under_faketime_log_with_the_shifted_clock() {
    let pki = Pki::new();
    let past = AgentBuilder::new(&pki, "past")
        .faketime(Some(AT_2016))
        .start();
    let future = AgentBuilder::new(&pki, "future")
        .faketime(Some(AT_2040))
        .start();
    let now = AgentBuilder::new(&pki, "now").start();
    assert_clock(
        &agent_listening_line(&past),
        Some("2016"),
        "seriald at 2016",
    );
    assert_clock(
        &agent_listening_line(&future),
        Some("2040"),
        "seriald at 2040",
    );
    assert_clock(&agent_listening_line(&now), None, "seriald at real time");

    let gw = pki.client("gw");
    let client = ConnectBuilder::new("x@past", past.addr, &gw)
        .faketime(Some(AT_2040))
        .start();
    assert_clock(
        &client_serving_line(&client),
        Some("2040"),
        "serialctl at 2040",
    );
}

#[test]
fn agent_whose_clock_says_2016_serves_a_client_at_real_time() {
    round_trip_with_clocks(Some(AT_2016), None);
}

#[test]
fn agent_whose_clock_says_2040_serves_a_client_at_real_time() {
    round_trip_with_clocks(Some(AT_2040), None);
}

#[test]
fn client_whose_clock_says_2016_reaches_an_agent_at_real_time() {
    round_trip_with_clocks(None, Some(AT_2016));
}

#[test]
fn client_whose_clock_says_2040_reaches_an_agent_at_real_time() {
    round_trip_with_clocks(None, Some(AT_2040));
}

#[test]
fn certificates_made_by_a_ca_and_pki_issue_running_in_2040_work_with_peers_at_real_time() {
    let dir = temp_dir();
    let ca_dir = dir.path().join("ca");
    serialctl_ok(Some(AT_2040), &["pki", "init", "--dir"], &[&ca_dir]);
    let shed = issue_at(
        Some(AT_2040),
        &ca_dir,
        "agent",
        "shed",
        Some("shed"),
        dir.path(),
    );
    let gw = issue_at(Some(AT_2040), &ca_dir, "client", "gw", None, dir.path());

    let unused = Pki::new();
    let device = EchoDevice::start();
    let agent = AgentBuilder::new(&unused, "shed")
        .zone("shed")
        .tls(shed)
        .device("zwave", device.path())
        .start();
    let client = ConnectBuilder::new("zwave@shed", agent.addr, &gw).start();
    assert_clock(&agent_listening_line(&agent), None, "seriald");
    echo_ok(&mut client.connect(), b"made in 2040, used today");
}

#[test]
fn certificate_issued_in_2040_works_on_an_agent_whose_clock_says_2016() {
    let pki = Pki::new();
    let dir: PathBuf = pki.dir().join("issued-2040");
    let shed = issue_at(
        Some(AT_2040),
        &pki.ca_dir(),
        "agent",
        "shed",
        Some("shed"),
        &dir,
    );
    let device = EchoDevice::start();
    let agent = AgentBuilder::new(&pki, "shed")
        .zone("shed")
        .tls(shed)
        .device("zwave", device.path())
        .faketime(Some(AT_2016))
        .start();
    assert_clock(&agent_listening_line(&agent), Some("2016"), "seriald");
    let client = ConnectBuilder::new("zwave@shed", agent.addr, &pki.client("gw")).start();
    echo_ok(&mut client.connect(), b"from the future");
}

// ------------------------------------------------------ private keys

fn make_world_readable(key: &Path) {
    std::fs::set_permissions(key, std::fs::Permissions::from_mode(0o644)).unwrap();
}

#[test]
fn seriald_refuses_a_private_key_readable_by_others_and_says_chmod_600() {
    let pki = Pki::new();
    let shed = pki.agent("shed", "shed");
    make_world_readable(&shed.key);
    let agent = AgentBuilder::new(&pki, "shed").tls(shed.clone()).spawn();
    let key = shed.key.display();
    let want = format!(
        "private key {key} is readable by group or others (mode 0644); run `chmod 600 {key}`"
    );
    exits_2_saying(&agent, &want);
}

#[test]
fn serialctl_connect_refuses_a_private_key_readable_by_others_and_says_chmod_600() {
    let pki = Pki::new();
    let gw = pki.client("gw");
    make_world_readable(&gw.key);
    let client = ConnectBuilder::new("zwave@shed", "127.0.0.1:1".parse().unwrap(), &gw).spawn();
    let key = gw.key.display();
    let want = format!(
        "private key {key} is readable by group or others (mode 0644); run `chmod 600 {key}`"
    );
    exits_2_saying(&client, &want);
}
