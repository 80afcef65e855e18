//! Every refusal about local users, with its exit status (2: bad usage or
//! configuration) and a message that says what is wrong and what to do:
//! `serialctl connect` flags, pty link directories others could write,
//! and the sidecar config's `allow_users` and `pty_owner`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serialmesh_tests::users::{AsUser, NOBODY};
use serialmesh_tests::util::temp_dir;
use serialmesh_tests::{bins, run_to_end, Pki, TempDir};

const T: Duration = Duration::from_secs(30);

/// `serialctl connect zwave@shed ARGS` with TLS files that do not exist:
/// everything checked here is refused before they are read.
fn connect(args: &[&str]) -> (i32, String) {
    let mut all = vec!["connect", "zwave@shed", "--agent", "127.0.0.1:9"];
    all.extend_from_slice(args);
    all.extend_from_slice(&[
        "--cert",
        "/nonexistent/c.pem",
        "--key",
        "/nonexistent/c.key",
    ]);
    all.extend_from_slice(&["--ca", "/nonexistent/ca.pem"]);
    let (code, _, err) = run_to_end(bins::serialctl(), all, T);
    (code, err)
}

/// Asserts exit status 2 and one `serialctl: ` line holding every needle.
fn refused(got: (i32, String), needles: &[&str]) {
    let (code, err) = got;
    assert_eq!(code, 2, "{err}");
    assert!(
        err.lines().count() == 1 && err.starts_with("serialctl: "),
        "expected one error line:\n{err}"
    );
    for needle in needles {
        assert!(err.contains(needle), "missing {needle:?} in:\n{err}");
    }
}

#[test]
fn allow_user_on_a_pty_endpoint_says_a_pty_is_guarded_by_its_owner() {
    refused(
        connect(&["--pty", "/run/x", "--allow-user", "zwave"]),
        &["--allow-user needs a TCP endpoint", "see --pty-owner"],
    );
}

#[test]
fn pty_owner_on_a_tcp_endpoint_points_to_allow_user() {
    refused(
        connect(&["--tcp", "127.0.0.1:5000", "--pty-owner", "root"]),
        &["--pty-owner needs a pty endpoint", "--allow-user USER"],
    );
}

#[test]
fn allow_user_on_an_address_other_hosts_reach_is_refused_with_why() {
    refused(
        connect(&["--tcp", "0.0.0.0:5000", "--allow-user", "root"]),
        &[
            "--allow-user needs a loopback listen address, not 0.0.0.0:5000",
            "nobody can tell which user made it",
        ],
    );
}

#[test]
fn an_unknown_user_is_named_with_what_to_give_instead() {
    refused(
        connect(&["--tcp", "127.0.0.1:5000", "--allow-user", "no-such-user-x"]),
        &[
            "--allow-user: no user named 'no-such-user-x' on this host",
            "numeric uid",
        ],
    );
    refused(
        connect(&["--pty", "/run/x", "--pty-owner", "no-such-user-x"]),
        &["--pty-owner: no user named 'no-such-user-x'"],
    );
    refused(
        connect(&["--tcp", "127.0.0.1:5000", "--allow-user", "a b"]),
        &["--allow-user: 'a b' is not a user name"],
    );
}

#[test]
fn only_root_may_give_the_pty_to_another_user() {
    let mut args = vec!["connect", "zwave@shed", "--agent", "127.0.0.1:9"];
    args.extend_from_slice(&["--pty", "/run/x", "--pty-owner", "root"]);
    args.extend_from_slice(&[
        "--cert",
        "/n/c.pem",
        "--key",
        "/n/c.key",
        "--ca",
        "/n/ca.pem",
    ]);
    let (code, _, err) = AsUser::new(NOBODY)
        .command(bins::serialctl())
        .args(args)
        .run_to_end(T);
    refused(
        (code, err),
        &[
            "--pty-owner root: only root can give a pty to another user",
            "run serialctl as that user, or remove --pty-owner",
        ],
    );
}

/// A directory under a fresh private one, made with `mode`.
fn dir_with_mode(base: &TempDir, name: &str, mode: u32) -> PathBuf {
    let dir = base.path().join(name);
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode)).unwrap();
    dir
}

fn link_in(dir: &Path) -> String {
    dir.join("ttyZWAVE").to_string_lossy().into_owned()
}

#[test]
fn a_pty_directory_another_group_can_write_is_refused() {
    let base = temp_dir();
    let dir = dir_with_mode(&base, "group", 0o775);
    std::os::unix::fs::chown(&dir, None, Some(5)).unwrap();
    refused(
        connect(&["--pty", &link_in(&dir)]),
        &[
            "is writable by group tty (gid 5, mode 0775)",
            "e.g. /run/serialmesh/ttyZWAVE",
        ],
    );
}

#[test]
fn a_pty_directory_of_another_user_is_refused() {
    let base = temp_dir();
    let dir = dir_with_mode(&base, "theirs", 0o755);
    std::os::unix::fs::chown(&dir, Some(NOBODY), None).unwrap();
    refused(
        connect(&["--pty", &link_in(&dir)]),
        &[&format!(
            "{} belongs to user nobody (uid 65534)",
            dir.display()
        )],
    );
}

#[test]
fn a_directory_above_the_link_that_others_can_write_is_named() {
    let base = temp_dir();
    let open = dir_with_mode(&base, "open", 0o777);
    let below = open.join("mine");
    std::fs::create_dir(&below).unwrap();
    refused(
        connect(&["--pty", &link_in(&below)]),
        &[&format!(
            "{} is writable by every user (mode 0777)",
            open.display()
        )],
    );
}

#[test]
fn a_missing_pty_directory_is_named_with_what_it_must_be() {
    refused(
        connect(&["--pty", "/nonexistent-dir/ttyZWAVE"]),
        &[
            "pty link /nonexistent-dir/ttyZWAVE: cannot use its directory /nonexistent-dir (No such file or directory",
            "writable by nobody else (e.g. /run/serialmesh)",
        ],
    );
}

/// `serialctl sidecar --check` of a config with these endpoints.
fn sidecar_check(endpoints: &str) -> (i32, String, String) {
    let pki = Pki::new();
    let tls = pki.client("gw");
    let dir = temp_dir();
    let config = dir.path().join("client.toml");
    let text = format!(
        "[tls]\ncert = \"{}\"\nkey = \"{}\"\nca = \"{}\"\n{endpoints}",
        tls.cert.display(),
        tls.key.display(),
        tls.ca.display()
    );
    std::fs::write(&config, text).unwrap();
    let mut args = vec![String::from("sidecar"), "--check".into(), "--config".into()];
    args.push(config.to_string_lossy().into_owned());
    run_to_end(bins::serialctl(), args, T)
}

const TCP: &str = "[[endpoint]]\ndevice = \"zwave@shed\"\nagent = \"h:1\"\n";

#[test]
fn sidecar_allow_users_errors_are_placed_in_the_config() {
    let cases = [
        (
            "tcp = \"0.0.0.0:5000\"\nallow_users = [\"root\"]\n",
            "client.toml:9:15: endpoint for 'zwave@shed': allow_users needs a loopback listen address, not 0.0.0.0:5000",
        ),
        (
            "tcp = \"127.0.0.1:5000\"\nallow_users = []\n",
            "allow_users is empty, so nobody could connect",
        ),
        (
            "tcp = \"127.0.0.1:5000\"\nallow_users = [\"a b\"]\n",
            "client.toml:9:16: allow_users: 'a b' is not a user name",
        ),
        (
            "pty = \"/run/x\"\nallow_users = [\"root\"]\n",
            "allow_users is for tcp endpoints; a pty is guarded by its owner and mode 0600",
        ),
        (
            "pty = \"/run/x\"\npty_owner = \"\"\n",
            "pty_owner: an empty user name",
        ),
        (
            "tcp = \"127.0.0.1:5000\"\nallow_users = [\"no-such-user-x\"]\n",
            "endpoint for 'zwave@shed': allow_users: no user named 'no-such-user-x' on this host",
        ),
    ];
    for (endpoint, needle) in cases {
        let (code, _, err) = sidecar_check(&format!("{TCP}{endpoint}"));
        assert_eq!(code, 2, "{endpoint}: {err}");
        assert!(
            err.contains(needle),
            "{endpoint}: missing {needle:?} in:\n{err}"
        );
    }
}

#[test]
fn sidecar_check_refuses_a_pty_directory_others_can_write_and_shows_who_may_use_each_endpoint() {
    let base = temp_dir();
    let shared = dir_with_mode(&base, "shared", 0o1777);
    let (code, _, err) = sidecar_check(&format!("{TCP}pty = \"{}\"\n", link_in(&shared)));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("is writable by every user (mode 1777)"),
        "{err}"
    );

    let own = dir_with_mode(&base, "own", 0o700);
    let (code, out, err) = sidecar_check(&format!(
        "{TCP}tcp = \"127.0.0.1:5000\"\nallow_users = [\"root\", \"1000\"]\n\
         [[endpoint]]\ndevice = \"zigbee@shed\"\nagent = \"h:1\"\npty = \"{}\"\npty_owner = \"nobody\"\n",
        link_in(&own)
    ));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("tcp://127.0.0.1:5000 for root, uid 1000"),
        "{out}"
    );
    assert!(out.contains("ttyZWAVE owned by nobody"), "{out}");
}
