//! Certificates for a test, made by the real `serialctl pki` commands.
//!
//! Using the product's own commands (rather than rcgen in the test) means
//! every end-to-end test also checks that what `pki issue` writes is what
//! `seriald` and `serialctl connect` accept.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::bins;
use crate::proc::ProcBuilder;
use crate::util::{temp_dir, TempDir};

/// Generous: key generation in a debug build on a loaded 2-core machine.
const PKI_TIMEOUT: Duration = Duration::from_secs(60);

/// The role a certificate names (`--role`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Role {
    Agent,
    Client,
}

impl Role {
    /// The `--role` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Client => "client",
        }
    }
}

/// Files a process needs for mutual TLS: its certificate, its key and the
/// CA certificate it trusts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsPaths {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca: PathBuf,
}

/// A throwaway certificate authority in its own temporary directory
/// (removed on drop), made with `serialctl pki init --dir DIR/ca`.
///
/// A second `Pki::new()` is an unrelated CA: use it for "wrong CA" tests.
pub struct Pki {
    dir: TempDir,
}

impl Pki {
    /// Creates the CA.
    ///
    /// # Panics
    /// If `serialctl` is not built or `pki init` fails (with its output).
    pub fn new() -> Pki {
        let pki = Pki { dir: temp_dir() };
        let ca_dir = pki.ca_dir();
        run_serialctl(None, &["pki", "init", "--dir"], &[ca_dir.as_path()]);
        pki
    }

    /// The temporary directory everything is written under.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The CA directory (`ca.pem`, `ca.key`), the `--dir` of `pki issue`.
    pub fn ca_dir(&self) -> PathBuf {
        self.dir.path().join("ca")
    }

    /// The CA certificate.
    pub fn ca_cert(&self) -> PathBuf {
        self.ca_dir().join("ca.pem")
    }

    /// Issues an agent certificate (`--role agent --name NAME --zone ZONE`).
    pub fn agent(&self, name: &str, zone: &str) -> TlsPaths {
        self.issue(Role::Agent, name, Some(zone), None)
    }

    /// Issues a client certificate (`--role client --name NAME`).
    pub fn client(&self, name: &str) -> TlsPaths {
        self.issue(Role::Client, name, None, None)
    }

    /// Issues a certificate with every option: `zone` only if given, and
    /// `faketime` runs `pki issue` with its clock at that date (see
    /// [`ProcBuilder::faketime`]) for certificates dated in the past or
    /// future.
    ///
    /// Files go to `DIR/<role>-<name>/` (`NAME.pem`, `NAME.key`, `ca.pem`),
    /// so an agent and a client may share a name; issuing the same role and
    /// name again overwrites them.
    ///
    /// # Panics
    /// If `pki issue` fails (with its output).
    pub fn issue(
        &self,
        role: Role,
        name: &str,
        zone: Option<&str>,
        faketime: Option<&str>,
    ) -> TlsPaths {
        let out = self.dir.path().join(format!("{}-{name}", role.as_str()));
        let ca_dir = self.ca_dir();
        let mut args = vec!["pki", "issue", "--role", role.as_str(), "--name", name];
        if let Some(zone) = zone {
            args.extend(["--zone", zone]);
        }
        run_serialctl(
            faketime,
            &args,
            &[Path::new("--dir"), &ca_dir, Path::new("--out"), &out],
        );
        TlsPaths {
            cert: out.join(format!("{name}.pem")),
            key: out.join(format!("{name}.key")),
            ca: out.join("ca.pem"),
        }
    }
}

impl Pki {
    /// The SHA-256 fingerprint `serialctl pki show` prints for `cert`.
    ///
    /// # Panics
    /// If `pki show` fails or prints no fingerprint line.
    pub fn fingerprint(cert: &Path) -> String {
        let (code, out, err) = ProcBuilder::new(bins::serialctl())
            .args(["pki", "show"])
            .arg(cert)
            .label("serialctl-pki-show")
            .run_to_end(PKI_TIMEOUT);
        assert_eq!(code, 0, "pki show {}: {out}{err}", cert.display());
        out.lines()
            .find_map(|l| l.strip_prefix("fingerprint:"))
            .map(|f| f.trim().to_owned())
            .unwrap_or_else(|| panic!("no fingerprint line in:\n{out}"))
    }

    /// The CA directory's revoked file, as `serialctl pki revoke --dir`
    /// writes it.
    pub fn revoked_file(&self) -> PathBuf {
        self.ca_dir().join("revoked.txt")
    }

    /// `serialctl pki revoke --dir CA_DIR CERT`; returns its stdout.
    ///
    /// # Panics
    /// If it does not exit 0 (with its output).
    pub fn revoke(&self, cert: &Path) -> String {
        let (code, out, err) = ProcBuilder::new(bins::serialctl())
            .args(["pki", "revoke", "--dir"])
            .arg(self.ca_dir())
            .arg(cert)
            .label("serialctl-pki-revoke")
            .run_to_end(PKI_TIMEOUT);
        assert_eq!(code, 0, "pki revoke {}: {out}{err}", cert.display());
        out
    }
}

impl Default for Pki {
    fn default() -> Self {
        Pki::new()
    }
}

/// Runs `serialctl ARGS PATH_ARGS` and panics with its output unless it
/// exits 0.
fn run_serialctl(faketime: Option<&str>, args: &[&str], path_args: &[&Path]) {
    let (code, out, err) = ProcBuilder::new(bins::serialctl())
        .args(args)
        .args(path_args)
        .faketime(faketime)
        .label("serialctl-pki")
        .run_to_end(PKI_TIMEOUT);
    if code != 0 {
        panic!("serialctl {args:?} {path_args:?} exited {code}\nstdout:\n{out}\nstderr:\n{err}");
    }
}
