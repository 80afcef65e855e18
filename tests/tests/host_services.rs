//! The service files for hosts outside Kubernetes (deploy/alpine,
//! deploy/systemd), run the way their init systems run them where that
//! can be done here: OpenRC's `start_pre` is sourced and called by a real
//! shell with the real `su` and the real `seriald`; systemd's files are
//! checked against what systemd needs of them.

use std::os::unix::fs::{chown, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serialmesh_tests::tools::repo_root;
use serialmesh_tests::users::NOBODY;
use serialmesh_tests::util::temp_dir;
use serialmesh_tests::ProcBuilder;
use serialmesh_tests::{bins, Pki, TempDir};

const T: Duration = Duration::from_secs(60);

fn read(rel: &str) -> String {
    let path = repo_root().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// An /etc/serialmesh as the Alpine README installs it, in a directory
/// every user may enter, holding root's copy of the agent binary (so the
/// service user can run it whatever the build directory's modes), an
/// agent certificate and a config naming them. The key is root's, 0600,
/// as a careless install leaves it.
struct Etc {
    dir: TempDir,
    seriald: PathBuf,
    config: PathBuf,
    key: PathBuf,
}

impl Etc {
    fn new(pki: &Pki) -> Etc {
        let dir = temp_dir();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let seriald = dir.path().join("seriald");
        std::fs::copy(bins::seriald(), &seriald).unwrap();
        let tls = pki.agent("attic", "house");
        let place = |src: &Path, name: &str, mode: u32| {
            let path = dir.path().join(name);
            std::fs::copy(src, &path).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            path
        };
        let cert = place(&tls.cert, "agent.pem", 0o644);
        let key = place(&tls.key, "agent.key", 0o600);
        let ca = place(&tls.ca, "ca.pem", 0o644);
        let config = dir.path().join("seriald.toml");
        std::fs::write(
            &config,
            format!(
                "[tls]\ncert = {:?}\nkey = {:?}\nca = {:?}\n",
                cert.display().to_string(),
                key.display().to_string(),
                ca.display().to_string()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
        Etc {
            dir,
            seriald,
            config,
            key,
        }
    }

    /// OpenRC's `start_pre` of deploy/alpine/seriald.initd, run as
    /// openrc-run would: the script sourced, conf.d's variables set,
    /// `eerror` printing to stderr.
    fn start_pre(&self, user: &str) -> (i32, String, String) {
        let script = repo_root().join("deploy/alpine/seriald.initd");
        ProcBuilder::new("/bin/sh")
            .args([
                "-c".as_ref(),
                "eerror() { echo \" * ERROR: $*\" >&2; }\n. \"$1\"\ncommand=\"$2\"\nstart_pre"
                    .as_ref(),
                "sh".as_ref(),
                script.as_os_str(),
                self.seriald.as_os_str(),
            ])
            .env("SERIALD_CONFIG", &self.config)
            .env("SERIALD_USER", user)
            .current_dir(self.dir.path())
            .run_to_end(T)
    }
}

#[test]
fn openrc_refuses_to_start_when_the_service_user_cannot_read_the_key() {
    let pki = Pki::new();
    let etc = Etc::new(&pki);
    // root can read the key, the service user (nobody here) cannot.
    let (code, _, err) = etc.start_pre("nobody");
    assert_eq!(code, 1, "start_pre passed a key only root can read:\n{err}");
    assert!(
        err.contains("seriald: ") && err.contains(&etc.key.display().to_string()),
        "the agent's own message should name the key:\n{err}"
    );
    assert!(
        err.contains(&format!(
            " * ERROR: {} is not usable by user nobody: see the message above",
            etc.config.display()
        )),
        "{err}"
    );
}

#[test]
fn openrc_starts_when_the_service_user_owns_its_key() {
    let pki = Pki::new();
    let etc = Etc::new(&pki);
    chown(&etc.key, Some(NOBODY), Some(NOBODY)).unwrap();
    let (code, out, err) = etc.start_pre("nobody");
    assert_eq!(code, 0, "start_pre refused a usable config:\n{out}{err}");
    assert!(err.is_empty(), "{err}");
}

#[test]
fn alpine_readme_says_what_diskless_mode_must_keep() {
    let readme = read("deploy/alpine/README.md");
    // In diskless mode only what lbu commits survives a reboot: /etc is
    // kept by default, /usr/local/bin is not.
    for needle in [
        "lbu include /usr/local/bin/seriald",
        "lbu commit",
        "/etc/serialmesh",
    ] {
        assert!(readme.contains(needle), "`{needle}` missing from README");
    }
}

#[test]
fn systemd_loads_the_usb_serial_drivers_before_the_agent_starts() {
    // DeviceAllow=char-ttyUSB is resolved through /proc/devices when the
    // unit starts: a driver loaded later leaves its devices denied. The
    // modules-load.d file loads them at boot, and the unit starts after.
    let unit = read("deploy/systemd/seriald.service");
    assert!(
        unit.lines()
            .any(|l| l.starts_with("After=") && l.contains("systemd-modules-load.service")),
        "seriald.service must start after systemd-modules-load.service"
    );
    let modules = read("deploy/systemd/serialmesh-modules.conf");
    let listed: Vec<&str> = modules
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    // The drivers of the sticks the built-in profiles know, and the
    // class drivers that create ttyUSB and ttyACM.
    for driver in [
        "usbserial",
        "cdc_acm",
        "cp210x",
        "ftdi_sio",
        "ch341",
        "pl2303",
    ] {
        assert!(listed.contains(&driver), "{driver} missing: {listed:?}");
    }
    // modules-load.d takes one module name per line, nothing else.
    for line in &listed {
        assert!(
            line.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'),
            "not a module name: {line:?}"
        );
    }
    assert!(
        unit.contains("serialmesh-modules.conf"),
        "the unit's install notes should name the modules-load.d file"
    );
}
