//! scripts/build-release.sh, the build the Dockerfile runs: static
//! binaries that start, print their version and help, and resolve host
//! names without any NSS module (static glibc), even in a root with
//! nothing but the binary and /etc/hosts.
//!
//! The release build (LTO, one codegen unit) takes minutes when cold; it
//! reuses target/x86_64-unknown-linux-*/release, so a second run only
//! relinks what changed. The time is printed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serialmesh_tests::tools::{repo_root, require};
use serialmesh_tests::util::temp_dir;
use serialmesh_tests::{run_to_end, AgentBuilder, Pki, TempDir, TlsPaths};

const T: Duration = Duration::from_secs(60);
/// A guard against accidental bloat (debug info, a dependency's default
/// features): both were about 6.5 MB when this was written.
const MAX_SIZE: u64 = 12 * 1024 * 1024;

/// Runs the script into a temporary dist directory.
fn build() -> (TempDir, PathBuf) {
    let dist = temp_dir();
    let started = Instant::now();
    let mut cmd = Command::new(repo_root().join("scripts/build-release.sh"));
    cmd.env("DIST_DIR", dist.path())
        // Flags of whoever runs the tests must not change what ships.
        .env_remove("RUSTFLAGS");
    // Nor what `cargo test` sets for this test: ring's build script tracks
    // CARGO_MANIFEST_DIR, so with it the nested build would rebuild ring
    // and everything above it (measured: minutes) after every plain
    // build-release.sh, and the other way round.
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("CARGO_") && key != "CARGO_HOME" && key != "CARGO_TARGET_DIR" {
            cmd.env_remove(key.as_ref());
        }
    }
    let out = cmd.output().expect("cannot run scripts/build-release.sh");
    eprintln!("build-release.sh took {:.1?}", started.elapsed());
    assert!(
        out.status.success(),
        "build-release.sh failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let path = dist.path().to_path_buf();
    (dist, path)
}

fn run(program: &Path, args: &[&str]) -> (i32, String, String) {
    run_to_end(program, args, T)
}

#[test]
fn release_binaries_are_static_small_and_resolve_names_without_nss() {
    let (_dist, dist) = build();
    let file = require("file", "apt-get install file");
    for name in ["seriald", "serialctl"] {
        let bin = dist.join(name);
        let size = std::fs::metadata(&bin).unwrap().len();
        eprintln!("{name}: {size} bytes ({:.2} MiB)", size as f64 / 1048576.0);
        assert!(size < MAX_SIZE, "{name} is {size} bytes");

        let (code, out, err) = run(&file, &[bin.to_str().unwrap()]);
        eprintln!("file: {out}");
        assert_eq!(code, 0, "{err}");
        assert!(
            out.contains("statically linked") || out.contains("static-pie linked"),
            "{out}"
        );
        assert!(
            out.contains("stripped") && !out.contains("not stripped"),
            "{out}"
        );

        // glibc's ldd says "statically linked" (or "not a dynamic
        // executable") and lists no libraries.
        let (_, out, err) = run(Path::new("ldd"), &[bin.to_str().unwrap()]);
        let text = format!("{out}{err}");
        eprintln!("ldd: {text}");
        assert!(
            text.contains("statically linked") || text.contains("not a dynamic executable"),
            "{text}"
        );
        assert!(!text.contains("=>"), "{text}");

        let (code, out, err) = run(&bin, &["--version"]);
        assert_eq!(code, 0, "{err}");
        assert_eq!(out.trim(), format!("{name} {}", env!("CARGO_PKG_VERSION")));
        let (code, out, err) = run(&bin, &["--help"]);
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("Usage:"), "{out}");
    }

    // Name resolution: `localhost` through static glibc's built-in
    // files/dns lookups, first on this host, then in a root that has only
    // the binary and /etc/hosts (no NSS modules, no nsswitch.conf).
    let pki = Pki::new();
    let agent = AgentBuilder::new(&pki, "shed").start();
    let client = pki.client("gw");
    let by_name = format!("localhost:{}", agent.addr.port());
    let serialctl = dist.join("serialctl");
    let tls = |t: &TlsPaths| -> Vec<String> {
        [("--cert", &t.cert), ("--key", &t.key), ("--ca", &t.ca)]
            .iter()
            .flat_map(|(f, p)| [f.to_string(), p.to_string_lossy().into_owned()])
            .collect()
    };
    let mut args = vec!["doctor".to_string(), "--agent".into(), by_name.clone()];
    args.extend(tls(&client));
    let (code, out, err) = run_to_end(&serialctl, &args, T);
    assert_eq!(code, 0, "static serialctl doctor:\n{out}{err}");
    assert!(
        out.contains(&format!(
            "OK    agent {by_name}: TCP, mutual TLS and hello OK"
        )),
        "{out}"
    );

    if is_root() {
        let root = bare_root(&serialctl, &client);
        let inside = TlsPaths {
            cert: "/tls/c.pem".into(),
            key: "/tls/c.key".into(),
            ca: "/tls/ca.pem".into(),
        };
        let mut args = vec![
            root.path().to_string_lossy().into_owned(),
            "/serialctl".into(),
            "doctor".into(),
            "--agent".into(),
            by_name.clone(),
        ];
        args.extend(tls(&inside));
        let (code, out, err) = run_to_end("chroot", &args, T);
        assert_eq!(code, 0, "static serialctl in a bare root:\n{out}{err}");
        assert!(out.contains(&format!("OK    agent {by_name}:")), "{out}");
        // And it was /etc/hosts that answered: without it, no localhost.
        std::fs::remove_file(root.path().join("etc/hosts")).unwrap();
        let (code, out, err) = run_to_end("chroot", &args, T);
        assert_eq!(code, 1, "{out}{err}");
        assert!(
            out.contains(&format!("FAIL  agent {by_name}: cannot connect"))
                && out.contains("name resolution"),
            "{out}"
        );
    } else {
        eprintln!("SKIPPED: the bare-root (chroot) resolution check needs root");
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// A directory holding only the binary, the client's TLS files under
/// /tls, and /etc/hosts (without /etc/nsswitch.conf, glibc's default order
/// still reads it).
fn bare_root(serialctl: &Path, client: &TlsPaths) -> TempDir {
    let root = temp_dir();
    let r = root.path();
    std::fs::copy(serialctl, r.join("serialctl")).unwrap();
    std::fs::create_dir_all(r.join("etc")).unwrap();
    std::fs::create_dir_all(r.join("tls")).unwrap();
    std::fs::write(r.join("etc/hosts"), "127.0.0.1 localhost\n::1 localhost\n").unwrap();
    for (src, dst) in [
        (&client.cert, "c.pem"),
        (&client.key, "c.key"),
        (&client.ca, "ca.pem"),
    ] {
        std::fs::copy(src, r.join("tls").join(dst)).unwrap();
    }
    // temp dirs are 0700; chroot as root does not mind.
    root
}
