//! Another local user against the gateway's endpoints: the tests run as
//! root (the user running `serialctl` and the gateway), the other user is
//! `nobody` (uid 65534), started with setpriv. It tries to open the pty
//! the gateway uses, to plant the pty's link, and to take a TCP endpoint
//! over by connecting to it.

use std::net::TcpStream;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

use serialmesh_tests::http::http_get;
use serialmesh_tests::net::{echo_ok, free_port};
use serialmesh_tests::users::{connect_as, in_mounts_of, AsUser, GATEWAY, NOBODY, TTY_GID};
use serialmesh_tests::util::temp_dir;
use serialmesh_tests::{bins, AgentBuilder, ConnectBuilder, EchoDevice, Pki, ProcBuilder, Tty};

const T: Duration = Duration::from_secs(20);

/// The slave a pty endpoint of process `pid` links at `link`, as this
/// process reaches it (the endpoint has its own devpts), and as the
/// endpoint's namespace names it.
fn slave_of(pid: u32, link: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let target = std::fs::read_link(link).expect("the pty link");
    (in_mounts_of(pid, &target), target)
}

#[test]
fn the_pty_slave_is_mode_0600_for_the_user_running_the_client_and_group_tty_cannot_open_it() {
    let pki = Pki::new();
    let device = EchoDevice::start();
    let agent = AgentBuilder::new(&pki, "shed")
        .device("zwave", device.path())
        .start();
    let dir = temp_dir();
    let link = dir.path().join("ttyZWAVE");
    // devpts here gives new slaves mode 0620, group tty, as most hosts do.
    let client = ConnectBuilder::new("zwave@shed", agent.addr, &pki.client("gw"))
        .pty(&link)
        .own_devpts()
        .start();
    let (slave, inside) = slave_of(client.pid(), &link);

    let meta = std::fs::metadata(&slave).unwrap();
    assert_eq!(meta.mode() & 0o7777, 0o600, "mode of {}", inside.display());
    assert_eq!(
        meta.uid(),
        0,
        "the slave belongs to the user running serialctl"
    );
    let other = AsUser::new(NOBODY)
        .groups(&[TTY_GID])
        .in_mounts_of(client.pid());
    let refused = other
        .open_for_writing(&inside)
        .expect_err("another user in group tty opened the gateway's pty");
    assert!(refused.contains("Permission denied"), "{refused}");

    // The owner still can: the gateway's traffic reaches the device.
    let tty = Tty::open_within(&slave, T);
    tty.write_all_timeout(b"owner", T).unwrap();
    assert_eq!(tty.read_exact_timeout(5, T), b"owner");
}

#[test]
fn pty_owner_gives_the_pty_to_the_gateways_user_and_nobody_else() {
    let pki = Pki::new();
    let device = EchoDevice::start();
    let agent = AgentBuilder::new(&pki, "shed")
        .device("zwave", device.path())
        .start();
    let dir = temp_dir();
    let link = dir.path().join("ttyZWAVE");
    let client = ConnectBuilder::new("zwave@shed", agent.addr, &pki.client("gw"))
        .pty(&link)
        .own_devpts()
        .arg("--pty-owner")
        .arg(GATEWAY.to_string())
        .start();
    let (slave, inside) = slave_of(client.pid(), &link);

    let meta = std::fs::metadata(&slave).unwrap();
    assert_eq!((meta.mode() & 0o7777, meta.uid()), (0o600, GATEWAY));
    let gateway = AsUser::new(GATEWAY).in_mounts_of(client.pid());
    assert_eq!(gateway.open_for_writing(&inside), Ok(()));
    let other = AsUser::new(NOBODY)
        .groups(&[TTY_GID])
        .in_mounts_of(client.pid());
    let refused = other.open_for_writing(&inside).unwrap_err();
    assert!(refused.contains("Permission denied"), "{refused}");
}

/// A directory like /tmp: every user may create names in it.
fn sticky_shared_dir(parent: &Path) -> std::path::PathBuf {
    let shared = parent.join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(
        &shared,
        std::os::unix::fs::PermissionsExt::from_mode(0o1777),
    )
    .unwrap();
    shared
}

/// Another user's link at `link`, to `target`, made as that user.
fn plant(link: &Path, target: &str) {
    let (code, _, err) = AsUser::new(NOBODY)
        .command("ln")
        .args(["-s", target])
        .arg(link)
        .run_to_end(T);
    assert_eq!(code, 0, "planting the link: {err}");
}

const PLANTED: &str = "/dev/pts/attackers-pty";

fn assert_still_planted(link: &Path) {
    assert_eq!(std::fs::read_link(link).unwrap(), Path::new(PLANTED));
    let meta = std::fs::symlink_metadata(link).unwrap();
    assert_eq!(meta.uid(), NOBODY, "the planted link was replaced");
}

#[test]
fn connect_refuses_a_pty_link_in_a_sticky_world_writable_directory_and_leaves_a_planted_link() {
    let pki = Pki::new();
    let dir = temp_dir();
    let link = sticky_shared_dir(dir.path()).join("ttyZWAVE");
    plant(&link, PLANTED);
    let agent: std::net::SocketAddr = "127.0.0.1:9".parse().unwrap();
    let client = ConnectBuilder::new("zwave@shed", agent, &pki.client("gw"))
        .pty(&link)
        .spawn();
    let status = client
        .wait_exit(T)
        .unwrap_or_else(|| panic!("{}", client.failure("serves a pty in a shared directory")));
    assert_eq!(status.code(), Some(2), "{}", client.output());
    let out = client.stderr();
    for needle in [
        &format!("pty link {}", link.display()),
        "is writable by every user (mode 1777)",
        "another user could plant a link there or swap ours",
        "e.g. /run/serialmesh/ttyZWAVE",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in:\n{out}");
    }
    assert_still_planted(&link);
}

#[test]
fn sidecar_refuses_a_pty_link_in_a_sticky_world_writable_directory_at_start() {
    let pki = Pki::new();
    let tls = pki.client("gw");
    let dir = temp_dir();
    let link = sticky_shared_dir(dir.path()).join("ttyZWAVE");
    plant(&link, PLANTED);
    let config = dir.path().join("client.toml");
    std::fs::write(
        &config,
        format!(
            "[tls]\ncert = \"{}\"\nkey = \"{}\"\nca = \"{}\"\n\
             [[endpoint]]\ndevice = \"zwave@shed\"\nagent = \"127.0.0.1:9\"\npty = \"{}\"\n",
            tls.cert.display(),
            tls.key.display(),
            tls.ca.display(),
            link.display()
        ),
    )
    .unwrap();
    let (code, _, err) = ProcBuilder::new(bins::serialctl())
        .args(["sidecar", "--config"])
        .arg(&config)
        .run_to_end(T);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("endpoint for 'zwave@shed': pty link")
            && err.contains("is writable by every user (mode 1777)"),
        "{err}"
    );
    assert_still_planted(&link);
}

/// What happened to the other user's connection: "closed", "open" (no
/// answer in 5 s), or "got ..." (the device answered it).
const ATTACK: &str = r#"
import socket, sys
try:
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
    s.sendall(b"evil")
    d = s.recv(100)
    print("closed" if not d else "got %r" % d)
except (ConnectionResetError, BrokenPipeError):
    print("closed")
except socket.timeout:
    print("open")
"#;

#[test]
fn a_tcp_endpoint_for_named_users_refuses_another_users_connection_and_keeps_the_gateways() {
    let pki = Pki::new();
    let device = EchoDevice::start();
    let agent = AgentBuilder::new(&pki, "shed")
        .device("zwave", device.path())
        .start();
    let admin = free_port();
    let client = ConnectBuilder::new("zwave@shed", agent.addr, &pki.client("gw"))
        .arg("--allow-user")
        .arg(GATEWAY.to_string())
        .arg("--admin")
        .arg(format!("127.0.0.1:{admin}"))
        .start();
    let mut gateway: TcpStream = connect_as(GATEWAY, client.local).unwrap();
    echo_ok(&mut gateway, b"before");

    // The system's python: one under /root is out of the other user's reach.
    let (code, out, err) = AsUser::new(NOBODY)
        .command("/usr/bin/python3")
        .args(["-c", ATTACK, &client.local.port().to_string()])
        .run_to_end(T);
    assert_eq!((code, out.trim()), (0, "closed"), "{err}");
    let refused = client
        .wait_for_output("refused a local connection", T)
        .unwrap();
    assert!(
        refused.contains(&format!("uid {NOBODY} is not in allow_users"))
            && refused.contains("peer=127.0.0.1:"),
        "{refused}"
    );

    // The gateway's session went on, untouched.
    echo_ok(&mut gateway, b"after");
    assert!(
        !client.output().contains("replaces the previous one"),
        "{}",
        client.output()
    );
    let (_, metrics) = http_get(admin, "/metrics");
    assert!(
        metrics.contains("serialmesh_endpoint_refused_total{endpoint=\"zwave@shed\"} 1"),
        "{metrics}"
    );
}

#[test]
fn a_link_left_in_a_private_directory_is_replaced_and_named_in_the_log() {
    let pki = Pki::new();
    let dir = temp_dir();
    let link = dir.path().join("ttyZWAVE");
    std::os::unix::fs::symlink("/dev/pts/left-by-a-crash", &link).unwrap();
    let agent: std::net::SocketAddr = "127.0.0.1:9".parse().unwrap();
    let client = ConnectBuilder::new("zwave@shed", agent, &pki.client("gw"))
        .pty(&link)
        .start();
    let line = client
        .wait_for_output("replacing a symlink already at the pty path", T)
        .unwrap();
    assert!(line.contains("old=/dev/pts/left-by-a-crash"), "{line}");
    let now = std::fs::read_link(&link).unwrap();
    assert!(now.starts_with("/dev/pts/") && now != Path::new("/dev/pts/left-by-a-crash"));
    // No temporary name is left beside it.
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
    assert_eq!(names.len(), 1, "{names:?}");
}
