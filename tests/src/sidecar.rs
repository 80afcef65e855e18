//! `serialctl sidecar` as a process: its config from TLS paths and
//! `[[endpoint]]` tables, started and waited for until it serves them.

use std::time::Duration;

use crate::bins;
use crate::pki::TlsPaths;
use crate::proc::{ChildGuard, ProcBuilder};
use crate::util::{eventually, temp_dir, TempDir};

/// How long a sidecar may take to serve its endpoints on a loaded machine.
const READY: Duration = Duration::from_secs(20);

pub struct Sidecar {
    pub guard: ChildGuard,
    /// Holds the config file for the sidecar's lifetime.
    _dir: TempDir,
}

impl Sidecar {
    /// A config of `tls` and then `endpoints` (`[[endpoint]]` tables);
    /// top-level keys such as `admin` go before it, not in `endpoints`.
    pub fn config(tls: &TlsPaths, endpoints: &str) -> String {
        format!(
            "[tls]\ncert = \"{}\"\nkey = \"{}\"\nca = \"{}\"\n{endpoints}",
            tls.cert.display(),
            tls.key.display(),
            tls.ca.display()
        )
    }

    /// Starts `serialctl sidecar` and waits until it serves `expected`
    /// endpoints.
    ///
    /// # Panics
    /// If it does not within 20 s, with its output.
    pub fn start(config: &str, expected: usize) -> Sidecar {
        let s = Self::spawn(config);
        let serving = || s.guard.output().matches("serving ").count() >= expected;
        assert!(
            eventually(READY, serving),
            "{}",
            s.guard.failure("endpoints not served")
        );
        s
    }

    /// Starts `serialctl sidecar` without waiting for anything.
    pub fn spawn(config: &str) -> Sidecar {
        let dir = temp_dir();
        let path = dir.path().join("client.toml");
        std::fs::write(&path, config).unwrap();
        let guard = ProcBuilder::new(bins::serialctl())
            .args(["sidecar", "--config"])
            .arg(&path)
            .label("sidecar")
            .spawn();
        Sidecar { guard, _dir: dir }
    }
}
