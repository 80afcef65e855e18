//! Every error a user can reach with `seriald` and `serialctl` as of now:
//! the exit status (docs/design.md: 2 for bad usage or configuration, 1 for a
//! runtime failure) and a message that names what was wrong and how to fix
//! it. Also the one-command demo, the first thing a new user runs.

use std::ffi::OsStr;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serialmesh_tests::net::free_port;
use serialmesh_tests::util::temp_dir;
use serialmesh_tests::{bins, ConnectBuilder, Pki, ProcBuilder, TempDir, TlsPaths};

const T: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------- helpers

/// What a finished command left behind.
struct Ran {
    what: String,
    code: i32,
    stdout: String,
    stderr: String,
}

impl Ran {
    /// Asserts the exit code and that stderr holds every one of `needles`.
    fn expect(&self, code: i32, needles: &[&str]) -> &Self {
        assert_eq!(
            self.code,
            code,
            "exit status of {}\n{}",
            self.what,
            self.dump()
        );
        for needle in needles {
            assert!(
                self.stderr.contains(needle),
                "`{needle}` missing from the stderr of {}\n{}",
                self.what,
                self.dump()
            );
        }
        self
    }

    /// Asserts the error is a single `PREFIX: ...` line (after clap's,
    /// which are multi-line by design), not a panic or a backtrace.
    fn one_line_error(&self, prefix: &str) -> &Self {
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert!(
            lines.len() == 1 && lines[0].starts_with(prefix),
            "expected one `{prefix}` line from {}\n{}",
            self.what,
            self.dump()
        );
        self
    }

    fn dump(&self) -> String {
        format!(
            "----- stdout -----\n{}----- stderr -----\n{}-----",
            self.stdout, self.stderr
        )
    }
}

fn run<S: AsRef<OsStr>>(program: PathBuf, args: impl IntoIterator<Item = S>) -> Ran {
    let args: Vec<_> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
    let what = format!(
        "{} {}",
        program.file_name().unwrap_or_default().to_string_lossy(),
        args.iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    );
    let (code, stdout, stderr) = ProcBuilder::new(&program).args(&args).run_to_end(T);
    Ran {
        what,
        code,
        stdout,
        stderr,
    }
}

fn seriald<S: AsRef<OsStr>>(args: impl IntoIterator<Item = S>) -> Ran {
    run(bins::seriald(), args)
}

fn serialctl<S: AsRef<OsStr>>(args: impl IntoIterator<Item = S>) -> Ran {
    run(bins::serialctl(), args)
}

/// Writes `text` as `dir/name` and returns the (absolute) path.
fn write(dir: &TempDir, name: &str, text: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// `seriald --config FILE` with `text` as the file; returns the path too.
fn seriald_with_config(text: &str) -> (Ran, PathBuf, TempDir) {
    let dir = temp_dir();
    let path = write(&dir, "seriald.toml", text);
    let ran = seriald([OsStr::new("--config"), path.as_os_str()]);
    (ran, path, dir)
}

/// An agent config with `listen` and a `[tls]` table of `tls`.
fn agent_config(listen: &str, tls: &TlsPaths, extra: &str) -> String {
    format!(
        "name = \"shed\"\nlisten = \"{listen}\"\n[tls]\ncert = \"{}\"\nkey = \"{}\"\nca = \"{}\"\n{extra}",
        tls.cert.display(),
        tls.key.display(),
        tls.ca.display()
    )
}

/// `serialctl connect ADDRESS ARGS... --cert --key --ca` of `tls`.
fn connect_args(address: &str, args: &[&str], tls: &TlsPaths) -> Vec<String> {
    let mut v = vec!["connect".to_owned(), address.to_owned()];
    v.extend(args.iter().map(|a| a.to_string()));
    for (flag, path) in [
        ("--cert", &tls.cert),
        ("--key", &tls.key),
        ("--ca", &tls.ca),
    ] {
        v.push(flag.to_owned());
        v.push(path.display().to_string());
    }
    v
}

/// TLS paths that need not exist: for errors found before TLS is loaded.
fn nowhere() -> TlsPaths {
    TlsPaths {
        cert: "/nonexistent/serialmesh/gw.pem".into(),
        key: "/nonexistent/serialmesh/gw.key".into(),
        ca: "/nonexistent/serialmesh/ca.pem".into(),
    }
}

// ------------------------------------------------------ seriald: config

#[test]
fn seriald_unknown_key_is_reported_at_file_line_column_with_did_you_mean() {
    let (ran, path, _dir) = seriald_with_config("name = \"shed\"\nlisen = \"0.0.0.0:21317\"\n");
    let at = format!("{}:2:1: unknown field `lisen`", path.display());
    ran.expect(2, &[&at, "hint: did you mean `listen`?"]);
    assert!(ran.stderr.starts_with("seriald: "), "{}", ran.dump());
}

#[test]
fn seriald_unknown_key_in_the_tls_table_suggests_the_nearest_key() {
    let (ran, path, _dir) = seriald_with_config(
        "[tls]\ncert = \"/a.pem\"\nkey = \"/a.key\"\nca = \"/ca.pem\"\ncrt = \"/b.pem\"\n",
    );
    let at = format!("{}:5:1: unknown field `crt`", path.display());
    ran.expect(2, &[&at, "did you mean `cert`?"]);
}

#[test]
fn seriald_device_key_baudrate_suggests_baud() {
    let (ran, path, _dir) = seriald_with_config(
        "[[device]]\nname = \"gen\"\npath = \"/dev/ttyUSB0\"\nbaudrate = 9600\n",
    );
    let at = format!("{}:4:1: unknown field `baudrate`", path.display());
    ran.expect(2, &[&at, "did you mean `baud`?"]);
}

#[test]
fn seriald_value_of_the_wrong_type_is_reported_at_its_position() {
    let (ran, path, _dir) =
        seriald_with_config("name = \"shed\"\n[[device]]\nname = \"gen\"\npath = 42\n");
    let at = format!(
        "{}:4:8: invalid type: integer `42`, expected",
        path.display()
    );
    ran.expect(2, &[&at, "hint: `path` takes text in double quotes"]);
}

#[test]
fn seriald_limits_out_of_range_names_the_valid_range() {
    let (ran, path, _dir) = seriald_with_config("[limits]\nmax_pending = 0\n");
    let at = format!("{}:2:15: max_pending 0 is out of range", path.display());
    ran.expect(
        2,
        &[
            &at,
            "hint: use a number between 1 and 65536, e.g. max_pending = 64",
        ],
    );
}

#[test]
fn seriald_limits_timeout_with_a_unit_says_to_write_seconds() {
    let (ran, path, _dir) = seriald_with_config("[limits]\nhandshake_timeout = \"5s\"\n");
    let at = format!(
        "{}:2:21: invalid type: string \"5s\", expected f64",
        path.display()
    );
    ran.expect(
        2,
        &[
            &at,
            "hint: `handshake_timeout` takes a number of seconds without quotes",
        ],
    );
}

#[test]
fn seriald_limits_pending_above_the_connection_cap_is_refused() {
    let (ran, path, _dir) =
        seriald_with_config("[limits]\nmax_connections = 8\nmax_pending = 16\n");
    let at = format!(
        "{}:3:15: max_pending 16 exceeds max_connections 8",
        path.display()
    );
    ran.expect(
        2,
        &[
            &at,
            "hint: pending connections count toward max_connections",
        ],
    );
}

#[test]
fn seriald_toml_syntax_error_has_a_hint() {
    let (ran, path, _dir) = seriald_with_config("zone = shed\n");
    let at = format!("{}:1:8: invalid string; expected", path.display());
    ran.expect(
        2,
        &[
            &at,
            "hint: text values need double quotes, e.g. zone = \"shed\"",
        ],
    );
}

#[test]
fn seriald_duplicate_device_name_is_reported_at_the_second_one() {
    let (ran, path, _dir) = seriald_with_config(
        "[[device]]\nname = \"gen\"\npath = \"/dev/ttyUSB0\"\n\
         [[device]]\nname = \"gen\"\npath = \"/dev/ttyUSB1\"\n",
    );
    let at = format!("{}:5:8: device name 'gen' is used twice", path.display());
    ran.expect(2, &[&at, "hint: give each [[device]] its own name"]);
}

#[test]
fn seriald_relative_device_path_is_refused_with_an_example() {
    let (ran, path, _dir) = seriald_with_config("[[device]]\nname = \"gen\"\npath = \"ttyUSB0\"\n");
    let at = format!(
        "{}:3:8: device path 'ttyUSB0' is not absolute",
        path.display()
    );
    ran.expect(
        2,
        &[&at, "hint: write the full path, e.g. \"/dev/ttyUSB0\""],
    );
}

#[test]
fn seriald_baud_out_of_range_is_refused_with_the_valid_range() {
    let (ran, path, _dir) =
        seriald_with_config("[[device]]\nname = \"gen\"\npath = \"/dev/ttyUSB0\"\nbaud = 0\n");
    let at = format!("{}:4:8: baud 0 is out of range", path.display());
    ran.expect(2, &[&at, "use a rate between 1 and 12000000"]);
}

#[test]
fn seriald_unknown_parity_lists_the_valid_values() {
    let (ran, path, _dir) = seriald_with_config(
        "[[device]]\nname = \"gen\"\npath = \"/dev/ttyUSB0\"\nparity = \"mark\"\n",
    );
    let at = format!("{}:4:10: unknown variant `mark`", path.display());
    ran.expect(2, &[&at, "`none`, `odd`, `even`"]);
}

#[test]
fn seriald_invalid_data_bits_lists_the_valid_values() {
    let (ran, path, _dir) =
        seriald_with_config("[[device]]\nname = \"gen\"\npath = \"/dev/ttyUSB0\"\ndata_bits = 9\n");
    let at = format!(
        "{}:4:13: data_bits must be 5, 6, 7 or 8, not 9",
        path.display()
    );
    ran.expect(2, &[&at]);
}

#[test]
fn seriald_invalid_agent_name_says_which_character_is_wrong() {
    let (ran, path, _dir) = seriald_with_config("name = \"my shed\"\n");
    let at = format!(
        "{}:1:8: agent name 'my shed' contains ' '; use letters, digits, '-' and '_' only",
        path.display()
    );
    ran.expect(2, &[&at]);
}

#[test]
fn seriald_listen_that_is_not_an_address_is_refused_with_an_example() {
    let (ran, path, _dir) = seriald_with_config("listen = \"shed:port\"\n");
    let at = format!(
        "{}:1:10: 'shed:port' is not a socket address",
        path.display()
    );
    ran.expect(2, &[&at, "hint: write HOST:PORT, e.g. \"0.0.0.0:21317\""]);
}

#[test]
fn seriald_toml_syntax_error_is_reported_at_file_line_column() {
    let (ran, path, _dir) = seriald_with_config("name = \"shed\nzone = \"x\"\n");
    let at = format!("{}:1:", path.display());
    ran.expect(2, &[&at, "string"]);
}

#[test]
fn seriald_device_without_a_name_says_the_field_is_missing() {
    let (ran, path, _dir) = seriald_with_config("[[device]]\npath = \"/dev/ttyUSB0\"\n");
    let at = format!("{}:1:1: missing field `name`", path.display());
    ran.expect(2, &[&at, "hint: add `name = ...` to this table"]);
}

#[test]
fn seriald_missing_config_file_is_named() {
    let dir = temp_dir();
    let path = dir.path().join("nope.toml");
    let ran = seriald([OsStr::new("--config"), path.as_os_str()]);
    let want = format!(
        "seriald: cannot read config file {}: No such file or directory",
        path.display()
    );
    ran.expect(2, &[&want]).one_line_error("seriald: ");
}

#[test]
fn seriald_missing_tls_files_are_each_named_with_how_to_make_them() {
    let pki = Pki::new();
    let good = pki.agent("shed", "shed");
    let missing = pki.dir().join("missing.pem");
    let cases = [
        (
            TlsPaths { cert: missing.clone(), ..good.clone() },
            format!("cannot read certificate {}: No such file or directory; create it with `serialctl pki issue", missing.display()),
        ),
        (
            TlsPaths { key: missing.clone(), ..good.clone() },
            format!("cannot read private key {}: No such file or directory; it is written next to its certificate by `serialctl pki issue`", missing.display()),
        ),
        (
            TlsPaths { ca: missing.clone(), ..good.clone() },
            format!("cannot read CA certificate {}: No such file or directory; copy ca.pem from the CA directory made by `serialctl pki init --dir DIR`", missing.display()),
        ),
    ];
    for (tls, want) in cases {
        let config = agent_config(&format!("127.0.0.1:{}", free_port()), &tls, "");
        let (ran, _path, _dir) = seriald_with_config(&config);
        ran.expect(2, &[&want]);
    }
}

#[test]
fn seriald_host_certificate_given_as_the_ca_is_refused_with_a_hint() {
    let pki = Pki::new();
    let shed = pki.agent("shed", "shed");
    let tls = TlsPaths {
        ca: shed.cert.clone(),
        ..shed.clone()
    };
    let (ran, _path, _dir) = seriald_with_config(&agent_config(
        &format!("127.0.0.1:{}", free_port()),
        &tls,
        "",
    ));
    let want = format!(
        "CA certificate {} is not usable: CN=shed, O=serialmesh, OU=agent is not a CA certificate",
        shed.cert.display()
    );
    ran.expect(
        2,
        &[
            &want,
            "did you give a host's certificate where the CA belongs?",
        ],
    );
}

#[test]
fn seriald_key_of_another_certificate_is_refused() {
    let pki = Pki::new();
    let shed = pki.agent("shed", "shed");
    let barn = pki.agent("barn", "barn");
    let tls = TlsPaths {
        key: barn.key.clone(),
        ..shed.clone()
    };
    let (ran, _path, _dir) = seriald_with_config(&agent_config(
        &format!("127.0.0.1:{}", free_port()),
        &tls,
        "",
    ));
    let want = format!(
        "private key {} does not belong to certificate {}; use the .key written together with that .pem",
        barn.key.display(),
        shed.cert.display()
    );
    ran.expect(2, &[&want]);
}

#[test]
fn seriald_certificate_of_another_ca_than_its_own_is_refused_at_start() {
    let pki = Pki::new();
    let other = Pki::new();
    let shed = pki.agent("shed", "shed");
    let tls = TlsPaths {
        ca: other.ca_cert(),
        ..shed.clone()
    };
    let (ran, _path, _dir) = seriald_with_config(&agent_config(
        &format!("127.0.0.1:{}", free_port()),
        &tls,
        "",
    ));
    let want = format!(
        "certificate {} cannot be used by an agent: not issued by the pinned CA",
        shed.cert.display()
    );
    let hint = format!(
        "set the CA to the one that issued it, or issue a new certificate from the CA of {}",
        other.ca_cert().display()
    );
    ran.expect(2, &[&want, &hint]);
}

#[test]
fn seriald_without_config_names_the_default_certificate_location() {
    if Path::new("/etc/serialmesh").exists() {
        eprintln!("/etc/serialmesh exists on this host: the defaults may work; skipped");
        return;
    }
    let ran = seriald(Vec::<&str>::new());
    ran.expect(2, &["cannot read CA certificate /etc/serialmesh/ca.pem"]);
}

// ----------------------------------------------------- seriald: runtime

#[test]
fn seriald_whose_listen_port_is_taken_exits_1_saying_cannot_listen() {
    let pki = Pki::new();
    let shed = pki.agent("shed", "shed");
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let (ran, _path, _dir) = seriald_with_config(&agent_config(&addr.to_string(), &shed, ""));
    let want = format!("seriald: cannot listen on {addr}: Address already in use");
    ran.expect(1, &[&want]);
    drop(taken);
}

// ------------------------------------------------------- seriald: usage

#[test]
fn seriald_demo_with_a_device_already_named_demo_is_refused() {
    let dir = temp_dir();
    let path = write(
        &dir,
        "seriald.toml",
        "[[device]]\nname = \"demo\"\npath = \"/dev/ttyUSB0\"\n",
    );
    let ran = seriald([
        OsStr::new("--config"),
        path.as_os_str(),
        OsStr::new("--demo"),
    ]);
    ran.expect(
        2,
        &["seriald: --demo adds a device named 'demo', but the config already has one; rename it"],
    )
    .one_line_error("seriald: ");
}

#[test]
fn seriald_unknown_flag_is_a_usage_error() {
    let ran = seriald(["--bogus"]);
    ran.expect(
        2,
        &["unexpected argument '--bogus' found", "Usage: seriald"],
    );
}

#[test]
fn seriald_unknown_log_format_lists_the_valid_ones() {
    let ran = seriald(["--log-format", "xml"]);
    ran.expect(2, &["invalid value 'xml' for '--log-format", "plain, json"]);
}

// ----------------------------------------------- serialctl connect: usage

#[test]
fn connect_without_tcp_asks_for_a_local_endpoint_with_an_example() {
    let ran = serialctl(connect_args(
        "zwave@shed",
        &["--agent", "127.0.0.1:21317"],
        &nowhere(),
    ));
    // The wording around it varies as endpoint kinds are added (--pty).
    ran.expect(2, &["--tcp HOST:PORT (e.g. --tcp 127.0.0.1:5000)"])
        .one_line_error("serialctl: give ");
}

#[test]
fn connect_with_a_malformed_address_explains_the_form() {
    let port = free_port();
    let ran = serialctl(connect_args(
        "z wave@shed",
        &[
            "--agent",
            "127.0.0.1:21317",
            "--tcp",
            &format!("127.0.0.1:{port}"),
        ],
        &nowhere(),
    ));
    ran.expect(
        2,
        &["serialctl: bad address 'z wave@shed': device name 'z wave' contains ' '; use letters, digits, '-' and '_' only (expected NAME@ZONE, e.g. zwave@shed)"],
    )
    .one_line_error("serialctl: ");
}

#[test]
fn connect_with_an_empty_zone_explains_the_form() {
    let port = free_port();
    let ran = serialctl(connect_args(
        "zwave@",
        &[
            "--agent",
            "127.0.0.1:21317",
            "--tcp",
            &format!("127.0.0.1:{port}"),
        ],
        &nowhere(),
    ));
    ran.expect(
        2,
        &["bad address 'zwave@': zone or agent '' must be 1 to 63 characters long (expected NAME@ZONE"],
    );
}

#[test]
fn connect_with_cert_but_no_key_or_ca_is_refused_by_the_argument_parser() {
    let port = free_port();
    let ran = serialctl([
        "connect",
        "zwave@shed",
        "--agent",
        "127.0.0.1:21317",
        "--tcp",
        &format!("127.0.0.1:{port}"),
        "--cert",
        "/nonexistent/gw.pem",
    ]);
    ran.expect(
        2,
        &[
            "the following required arguments were not provided",
            "--key <FILE>",
            "--ca <FILE>",
        ],
    );
}

#[test]
fn connect_without_any_certificate_says_how_to_give_one() {
    let port = free_port();
    let ran = serialctl([
        "connect",
        "zwave@shed",
        "--agent",
        "127.0.0.1:21317",
        "--tcp",
        &format!("127.0.0.1:{port}"),
    ]);
    ran.expect(
        2,
        &["serialctl: give this client's certificate with --cert FILE --key FILE --ca FILE, or --config FILE"],
    )
    .one_line_error("serialctl: ");
}

#[test]
fn connect_with_a_tcp_value_that_is_not_an_address_is_a_usage_error() {
    let ran = serialctl(connect_args(
        "zwave@shed",
        &["--agent", "127.0.0.1:21317", "--tcp", "localhost"],
        &nowhere(),
    ));
    ran.expect(2, &["invalid value 'localhost' for '--tcp <HOST:PORT>'"]);
}

#[test]
fn connect_with_an_agent_without_a_port_is_a_usage_error() {
    let pki = Pki::new();
    let gw = pki.client("gw");
    let client = ConnectBuilder::new("zwave@shed", "127.0.0.1:1".parse().unwrap(), &gw)
        .agent(Some("shed"))
        .spawn();
    let status = client.wait_exit(Duration::from_secs(10));
    let line = client
        .wait_for_output("HOST:PORT", Duration::from_secs(5))
        .unwrap();
    assert!(line.contains("'shed'"), "{line}");
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(2),
        "{}",
        client.failure("`--agent shed` must be refused at start")
    );
}

#[test]
fn connect_with_a_missing_certificate_file_names_it() {
    let pki = Pki::new();
    let gw = pki.client("gw");
    let missing = pki.dir().join("gone.pem");
    let tls = TlsPaths {
        cert: missing.clone(),
        ..gw
    };
    let port = free_port();
    let ran = serialctl(connect_args(
        "zwave@shed",
        &[
            "--agent",
            "127.0.0.1:21317",
            "--tcp",
            &format!("127.0.0.1:{port}"),
        ],
        &tls,
    ));
    let want = format!(
        "serialctl: cannot read certificate {}: No such file or directory; create it with `serialctl pki issue",
        missing.display()
    );
    ran.expect(2, &[&want]).one_line_error("serialctl: ");
}

#[test]
fn connect_with_the_key_of_another_certificate_is_refused() {
    let pki = Pki::new();
    let gw = pki.client("gw");
    let other = pki.client("laptop");
    let tls = TlsPaths {
        key: other.key.clone(),
        ..gw.clone()
    };
    let port = free_port();
    let ran = serialctl(connect_args(
        "zwave@shed",
        &[
            "--agent",
            "127.0.0.1:21317",
            "--tcp",
            &format!("127.0.0.1:{port}"),
        ],
        &tls,
    ));
    let want = format!(
        "private key {} does not belong to certificate {}",
        other.key.display(),
        gw.cert.display()
    );
    ran.expect(2, &[&want]);
}

#[test]
fn connect_with_a_missing_config_file_names_it() {
    let dir = temp_dir();
    let path = dir.path().join("client.toml");
    let port = free_port();
    let ran = serialctl([
        "connect",
        "zwave@shed",
        "--agent",
        "127.0.0.1:21317",
        "--tcp",
        &format!("127.0.0.1:{port}"),
        "--config",
        &path.display().to_string(),
    ]);
    let want = format!(
        "cannot read config file {}: No such file or directory",
        path.display()
    );
    ran.expect(2, &[&want]);
}

#[test]
fn connect_with_a_config_without_tls_table_says_what_is_missing() {
    let dir = temp_dir();
    let path = write(&dir, "client.toml", "seeds = [\"shed.lan:21317\"]\n");
    let port = free_port();
    let ran = serialctl([
        "connect",
        "zwave@shed",
        "--agent",
        "127.0.0.1:21317",
        "--tcp",
        &format!("127.0.0.1:{port}"),
        "--config",
        &path.display().to_string(),
    ]);
    let want = format!(
        "serialctl: {} has no [tls] table with cert, key and ca",
        path.display()
    );
    ran.expect(2, &[&want]);
}

#[test]
fn connect_with_a_config_with_an_unknown_key_suggests_the_nearest() {
    let dir = temp_dir();
    let path = write(&dir, "client.toml", "seedz = []\n");
    let port = free_port();
    let ran = serialctl([
        "connect",
        "zwave@shed",
        "--agent",
        "127.0.0.1:21317",
        "--tcp",
        &format!("127.0.0.1:{port}"),
        "--config",
        &path.display().to_string(),
    ]);
    let at = format!("{}:1:1: unknown field `seedz`", path.display());
    ran.expect(2, &[&at, "did you mean `seeds`?"]);
}

#[test]
fn connect_with_a_config_value_of_the_wrong_type_says_what_to_write() {
    let dir = temp_dir();
    let path = write(&dir, "client.toml", "seeds = \"shed.lan:21317\"\n");
    let port = free_port();
    let ran = serialctl([
        "connect",
        "zwave@shed",
        "--agent",
        "127.0.0.1:21317",
        "--tcp",
        &format!("127.0.0.1:{port}"),
        "--config",
        &path.display().to_string(),
    ]);
    let at = format!(
        "{}:1:9: invalid type: string \"shed.lan:21317\", expected a sequence",
        path.display()
    );
    ran.expect(2, &[&at, "hint: `seeds` takes a list in brackets"]);
}

#[test]
fn connect_whose_local_port_is_taken_exits_1_saying_cannot_listen() {
    let pki = Pki::new();
    let gw = pki.client("gw");
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let ran = serialctl(connect_args(
        "zwave@shed",
        &["--agent", "127.0.0.1:21317", "--tcp", &addr.to_string()],
        &gw,
    ));
    let want = format!(
        "serialctl: endpoint for 'zwave@shed': cannot listen on {addr}: Address already in use"
    );
    ran.expect(1, &[&want]);
    drop(taken);
}

#[test]
fn connect_to_an_agent_that_does_not_listen_keeps_serving_and_logs_why() {
    let pki = Pki::new();
    let nobody = format!("127.0.0.1:{}", free_port());
    let client =
        ConnectBuilder::new("zwave@shed", nobody.parse().unwrap(), &pki.client("gw")).start();
    let _app = client.connect();
    let line = client
        .wait_for_output("cannot open device; retrying", T)
        .unwrap();
    assert!(
        line.contains(&format!("cannot connect to agent {nobody}")),
        "{line}"
    );
    assert!(
        client.is_running(),
        "the endpoint must stay up while the agent is away"
    );
}

// ------------------------------------------------------ serialctl: other

#[test]
fn serialctl_without_a_command_prints_usage_and_exits_2() {
    let ran = serialctl(Vec::<&str>::new());
    ran.expect(2, &["Usage: serialctl", "pki", "connect"]);
}

// ------------------------------------------------------------ pki init

#[test]
fn pki_init_twice_into_the_same_dir_is_refused_saying_why() {
    let dir = temp_dir();
    let ca = dir.path().join("ca");
    serialctl([
        OsStr::new("pki"),
        OsStr::new("init"),
        OsStr::new("--dir"),
        ca.as_os_str(),
    ])
    .expect(0, &[]);
    let before = std::fs::read(ca.join("ca.key")).unwrap();
    let ran = serialctl([
        OsStr::new("pki"),
        OsStr::new("init"),
        OsStr::new("--dir"),
        ca.as_os_str(),
    ]);
    let want = format!(
        "serialctl: CA key {} already exists; it signs every certificate of this installation, so it is never overwritten",
        ca.join("ca.key").display()
    );
    ran.expect(2, &[&want, "give `serialctl pki init` another --dir"])
        .one_line_error("serialctl: ");
    assert_eq!(
        std::fs::read(ca.join("ca.key")).unwrap(),
        before,
        "the CA key was touched"
    );
}

#[test]
fn pki_init_into_a_dir_holding_a_hosts_ca_copy_is_refused() {
    let pki = Pki::new();
    let host = pki.client("gw");
    let host_dir = host.ca.parent().unwrap();
    let ran = serialctl([
        OsStr::new("pki"),
        OsStr::new("init"),
        OsStr::new("--dir"),
        host_dir.as_os_str(),
    ]);
    let want = format!("CA certificate {} already exists", host.ca.display());
    ran.expect(
        2,
        &[
            &want,
            "a ca.pem without ca.key is usually a host's copy of an existing CA",
        ],
    );
}

#[test]
fn pki_init_where_a_directory_cannot_be_made_says_so() {
    let dir = temp_dir();
    let file = write(&dir, "plain-file", "");
    let target = file.join("ca");
    let ran = serialctl([
        OsStr::new("pki"),
        OsStr::new("init"),
        OsStr::new("--dir"),
        target.as_os_str(),
    ]);
    let want = format!("cannot write directory {}", target.display());
    ran.expect(2, &[&want, "check that its parent exists and is writable"]);
}

// ----------------------------------------------------------- pki issue

fn issue(pki: &Pki, role: &str, name: &str, zone: Option<&str>, out: &Path) -> Ran {
    let mut args: Vec<String> = ["pki", "issue", "--role", role, "--name", name]
        .map(str::to_owned)
        .into();
    if let Some(zone) = zone {
        args.extend(["--zone".to_owned(), zone.to_owned()]);
    }
    args.extend([
        "--dir".to_owned(),
        pki.ca_dir().display().to_string(),
        "--out".to_owned(),
        out.display().to_string(),
    ]);
    serialctl(args)
}

#[test]
fn pki_issue_with_a_bad_name_says_what_names_may_hold() {
    let pki = Pki::new();
    let out = pki.dir().join("out");
    issue(&pki, "client", "bad name", None, &out).expect(
        2,
        &["serialctl: invalid name \"bad name\": must be 1 to 63 characters of A-Z, a-z, 0-9, '_' and '-'"],
    );
    assert!(!out.exists(), "nothing may be written for a refused name");
}

#[test]
fn pki_issue_with_the_reserved_name_ca_says_why() {
    let pki = Pki::new();
    issue(&pki, "agent", "ca", None, &pki.dir().join("out")).expect(
        2,
        &["invalid name \"ca\": it is reserved, because OUT/ca.pem would overwrite the copy of the CA certificate"],
    );
}

#[test]
fn pki_issue_with_a_bad_zone_says_what_zones_may_hold() {
    let pki = Pki::new();
    issue(
        &pki,
        "agent",
        "shed",
        Some("the shed"),
        &pki.dir().join("out"),
    )
    .expect(
        2,
        &["invalid zone \"the shed\": must be 1 to 63 characters"],
    );
}

#[test]
fn pki_issue_with_an_unknown_role_lists_the_roles() {
    let pki = Pki::new();
    issue(&pki, "admin", "shed", None, &pki.dir().join("out")).expect(
        2,
        &["invalid value 'admin' for '--role <ROLE>'", "agent, client"],
    );
}

#[test]
fn pki_issue_from_a_dir_without_a_ca_names_the_missing_file_and_asks_about_the_dir() {
    let dir = temp_dir();
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let ran = serialctl([
        OsStr::new("pki"),
        OsStr::new("issue"),
        OsStr::new("--dir"),
        empty.as_os_str(),
        OsStr::new("--role"),
        OsStr::new("agent"),
        OsStr::new("--name"),
        OsStr::new("shed"),
        OsStr::new("--out"),
        dir.path().join("out").as_os_str(),
    ]);
    let want = format!(
        "serialctl: cannot read CA certificate {}: No such file or directory; is {} the directory given to `serialctl pki init --dir`?",
        empty.join("ca.pem").display(),
        empty.display()
    );
    ran.expect(2, &[&want]);
}

#[test]
fn pki_issue_twice_with_the_same_name_keeps_the_existing_key() {
    let pki = Pki::new();
    let out = pki.dir().join("out");
    issue(&pki, "client", "gw", None, &out).expect(0, &[]);
    let key = out.join("gw.key");
    let before = std::fs::read(&key).unwrap();
    let want = format!(
        "private key {} already exists; delete it (and {}) to issue 'gw' again, or choose another --name",
        key.display(),
        out.join("gw.pem").display()
    );
    issue(&pki, "client", "gw", None, &out).expect(2, &[&want]);
    assert_eq!(
        std::fs::read(&key).unwrap(),
        before,
        "the existing key was replaced"
    );
}

#[test]
fn pki_issue_into_a_dir_holding_another_cas_copy_is_refused() {
    let pki = Pki::new();
    let other = Pki::new();
    let foreign = other.client("gw");
    let out = foreign.ca.parent().unwrap();
    let want = format!(
        "CA certificate {} already exists; it is not the CA in",
        foreign.ca.display()
    );
    issue(&pki, "client", "laptop", None, out).expect(2, &[&want, "choose another --out"]);
}

// ------------------------------------------------------------ pki show

#[test]
fn pki_show_of_a_file_that_is_not_a_certificate_says_what_was_expected() {
    let dir = temp_dir();
    let path = write(&dir, "notes.txt", "hello\n");
    let ran = serialctl([OsStr::new("pki"), OsStr::new("show"), path.as_os_str()]);
    let want = format!(
        "serialctl: certificate {} holds no certificate (expected a PEM block `-----BEGIN CERTIFICATE-----`)",
        path.display()
    );
    ran.expect(2, &[&want]).one_line_error("serialctl: ");
}

#[test]
fn pki_show_of_a_missing_file_names_it() {
    let dir = temp_dir();
    let path = dir.path().join("nope.pem");
    let ran = serialctl([OsStr::new("pki"), OsStr::new("show"), path.as_os_str()]);
    let want = format!(
        "serialctl: cannot read certificate {}: No such file or directory",
        path.display()
    );
    ran.expect(2, &[&want]);
}

#[test]
fn pki_show_prints_role_name_zone_and_the_fingerprint_issue_reported() {
    let pki = Pki::new();
    let out = pki.dir().join("shed-out");
    let issued = issue(&pki, "agent", "shed", Some("garden"), &out);
    issued.expect(0, &[]);
    let fingerprint = issued
        .stdout
        .split("(fingerprint ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .unwrap_or_else(|| panic!("no fingerprint in:\n{}", issued.dump()))
        .to_owned();
    // The key fingerprint: "spki:" and 64 hex digits.
    let hex = fingerprint
        .strip_prefix("spki:")
        .unwrap_or_else(|| panic!("{fingerprint}"));
    assert_eq!(hex.len(), 64, "{fingerprint}");
    assert!(hex.bytes().all(|b| b.is_ascii_hexdigit()), "{fingerprint}");

    let cert = out.join("shed.pem");
    let ran = serialctl([OsStr::new("pki"), OsStr::new("show"), cert.as_os_str()]);
    ran.expect(0, &[]);
    let field = |key: &str| -> String {
        ran.stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key}:")))
            .map(|v| v.trim().to_owned())
            .unwrap_or_else(|| panic!("no `{key}:` line\n{}", ran.dump()))
    };
    assert_eq!(field("role"), "agent");
    assert_eq!(field("name"), "shed");
    assert_eq!(field("zone"), "garden");
    assert_eq!(field("fingerprint"), fingerprint);
    assert_eq!(field("subject"), "CN=shed, O=serialmesh, OU=agent");
    assert!(
        field("validity").contains("not checked by serialmesh"),
        "{}",
        ran.dump()
    );
    assert_eq!(field("CA"), "no");
}

// ---------------------------------------------------------------- demo

#[test]
fn demo_script_once_shows_a_round_trip_and_exits_0() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/demo.sh");
    let guard = ProcBuilder::new("/bin/sh")
        .arg(&script)
        .arg("--once")
        .env("SERIALMESH_BIN_DIR", bins::bin_dir())
        .env("DEMO_AGENT_PORT", free_port().to_string())
        .env("DEMO_TCP_PORT", free_port().to_string())
        .label("demo.sh")
        .spawn();
    let Some(status) = guard.wait_exit(Duration::from_secs(90)) else {
        // SIGTERM lets the script's trap stop its seriald and serialctl.
        guard.terminate();
        guard.wait_exit(Duration::from_secs(10));
        panic!(
            "{}",
            guard.failure("demo.sh --once still running after 90 s")
        );
    };
    assert_eq!(
        status.code(),
        Some(0),
        "{}",
        guard.failure("demo.sh --once failed")
    );
    guard.wait_for_output("round trip OK", T).unwrap();
    let received = guard.wait_for_output("==> received", T).unwrap();
    assert!(received.contains("hello through serialmesh"), "{received}");
}
