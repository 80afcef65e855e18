//! Tests with real certificates made at run time in temporary directories,
//! and real TLS handshakes over in-memory pipes.

mod fingerprint_tests;
mod handshake_tests;
mod issue_tests;
mod load_tests;
mod verify_tests;

use std::path::{Path, PathBuf};

use tempfile::TempDir;

use crate::{init_ca, issue, Role, TlsFiles};

/// One installation: a CA and a place to issue host certificates into.
pub(crate) struct Pki {
    pub tmp: TempDir,
    pub ca_dir: PathBuf,
}

impl Pki {
    pub fn new() -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let ca_dir = tmp.path().join("ca");
        init_ca(&ca_dir).expect("init_ca");
        Pki { tmp, ca_dir }
    }

    pub fn ca_pem(&self) -> PathBuf {
        self.ca_dir.join("ca.pem")
    }

    /// Issues `name` into its own directory, as it would go to one host.
    pub fn host(&self, role: Role, name: &str) -> TlsFiles {
        self.host_in_zone(role, name, None)
    }

    pub fn host_in_zone(&self, role: Role, name: &str, zone: Option<&str>) -> TlsFiles {
        let out = self.tmp.path().join("hosts").join(name);
        let issued = issue(&self.ca_dir, role, name, zone, &out).expect("issue");
        TlsFiles {
            cert: issued.cert,
            key: issued.key,
            ca: issued.ca,
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.tmp.path().join(rel)
    }
}

/// The first certificate in a PEM file.
pub(crate) fn cert_der(path: &Path) -> rustls_pki_types::CertificateDer<'static> {
    crate::load_certs(path).expect("load_certs").remove(0)
}

pub(crate) fn mode_of(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777
}

pub(crate) fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}
