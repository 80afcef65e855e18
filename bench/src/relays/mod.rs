//! The relays under test, each started against its own fresh echo pty.
//!
//! A relay is whatever carries bytes between a TCP client and the pty:
//! nothing (the floor), socat, ser2net, or serialmesh's two processes. Each
//! returns the endpoint the measuring client talks to and the guards of its
//! processes, which are measured for memory and CPU and killed on drop.

pub mod pki;
mod ser2net;
pub mod serialmesh;
mod socat;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Result};

pub use pki::Pki;

use crate::child::ChildGuard;
use crate::conn::Endpoint;
use crate::procstat;

/// How long a relay may take to start listening.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a finished session may take to go away (socat's `-t 0.05`
/// plus process exit, with room for a loaded machine).
const SETTLE_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Direct,
    SocatTcp,
    Ser2netDefault,
    Ser2netNoCharDelay,
    SocatMtls,
    /// Two plain socat relays in a row: serialmesh's shape (two processes,
    /// two TCP hops) with no TLS, the floor of any two-hop design here.
    SocatTcpTwoHops,
    Serialmesh,
    /// serialmesh with a pty endpoint instead of a TCP port: what a gateway
    /// pointed at `/dev/ttyZWAVE` gets.
    SerialmeshPty,
    /// zwave-js's own transport to the agent, no serialctl: ESPHome's
    /// native API (Noise) straight into seriald.
    SerialmeshEsphome,
    /// serialmesh from another build (`--baseline DIR`), for before/after
    /// figures of a change measured in the same run.
    SerialmeshBaseline,
}

impl Kind {
    pub const ALL: [Kind; 9] = [
        Kind::Direct,
        Kind::SocatTcp,
        Kind::Ser2netDefault,
        Kind::Ser2netNoCharDelay,
        Kind::SocatMtls,
        Kind::SocatTcpTwoHops,
        Kind::Serialmesh,
        Kind::SerialmeshPty,
        Kind::SerialmeshEsphome,
    ];

    /// Stable name, used in JSON and on the command line.
    pub fn key(self) -> &'static str {
        match self {
            Kind::Direct => "direct",
            Kind::SocatTcp => "socat_tcp",
            Kind::Ser2netDefault => "ser2net_default",
            Kind::Ser2netNoCharDelay => "ser2net_nochardelay",
            Kind::SocatMtls => "socat_mtls",
            Kind::SocatTcpTwoHops => "socat_tcp_2hop",
            Kind::Serialmesh => "serialmesh",
            Kind::SerialmeshPty => "serialmesh_pty",
            Kind::SerialmeshEsphome => "serialmesh_esphome",
            Kind::SerialmeshBaseline => "serialmesh_baseline",
        }
    }

    /// What the row is, for the table.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Direct => "direct (pty, no relay)",
            Kind::SocatTcp => "socat TCP",
            Kind::Ser2netDefault => "ser2net default",
            Kind::Ser2netNoCharDelay => "ser2net chardelay:false",
            Kind::SocatMtls => "socat mTLS (TCP→socat→mTLS→socat)",
            Kind::SocatTcpTwoHops => "socat two hops, no TLS (TCP→socat→TCP→socat)",
            Kind::Serialmesh => "serialmesh (serialctl→mTLS→seriald)",
            Kind::SerialmeshPty => "serialmesh, pty endpoint (pty→serialctl→mTLS→seriald)",
            Kind::SerialmeshBaseline => "serialmesh, --baseline build",
            Kind::SerialmeshEsphome => "serialmesh ESPHome API (Noise→seriald, one hop)",
        }
    }

    /// The external program this relay needs, if any.
    pub fn tool(self) -> Option<&'static str> {
        match self {
            Kind::Direct
            | Kind::Serialmesh
            | Kind::SerialmeshPty
            | Kind::SerialmeshBaseline
            | Kind::SerialmeshEsphome => None,
            Kind::SocatTcp | Kind::SocatMtls | Kind::SocatTcpTwoHops => Some("socat"),
            Kind::Ser2netDefault | Kind::Ser2netNoCharDelay => Some("ser2net"),
        }
    }

    pub fn from_key(key: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.key() == key)
    }
}

/// Where serialmesh's binaries are.
#[derive(Clone, Debug)]
pub struct Bins {
    pub seriald: PathBuf,
    pub serialctl: PathBuf,
}

impl Bins {
    pub fn in_dir(dir: &Path) -> Result<Self> {
        let bins = Self {
            seriald: dir.join("seriald"),
            serialctl: dir.join("serialctl"),
        };
        for b in [&bins.seriald, &bins.serialctl] {
            if !b.is_file() {
                bail!(
                    "{} not found: build it first (`cargo build --release --bins`, which \
                     scripts/bench.sh runs) or pass --bin-dir",
                    b.display()
                );
            }
        }
        Ok(bins)
    }
}

/// What a relay needs to start.
pub struct StartContext<'a> {
    /// The echo pty's slave, the relay's serial device.
    pub device: &'a Path,
    /// A directory of its own for configs and logs.
    pub work: &'a Path,
    pub bins: Option<&'a Bins>,
    /// The `--baseline` build's binaries, if one was given.
    pub baseline: Option<&'a Bins>,
    pub pki: Option<&'a Pki>,
}

/// A started relay.
pub struct Running {
    pub endpoint: Endpoint,
    /// Its processes (none for the direct floor), measured and killed on drop.
    pub procs: Vec<ChildGuard>,
}

impl Running {
    pub fn pids(&self) -> Vec<u32> {
        self.procs.iter().map(|p| p.pid()).collect()
    }

    /// Waits until the last session is really over: no per-connection child
    /// still holding the pty (socat), every relay process still alive.
    pub fn settle(&mut self) -> Result<()> {
        let deadline = Instant::now() + SETTLE_TIMEOUT;
        loop {
            for p in &mut self.procs {
                p.check_running()?;
            }
            let busy: usize = self
                .procs
                .iter()
                .map(|p| procstat::descendants(p.pid() as i32).len())
                .sum();
            if busy == 0 {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("{busy} per-connection processes still running {SETTLE_TIMEOUT:?} after the client closed");
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

pub fn start(kind: Kind, cx: &StartContext) -> Result<Running> {
    match kind {
        Kind::Direct => Ok(Running {
            endpoint: Endpoint::Pty(cx.device.to_path_buf()),
            procs: Vec::new(),
        }),
        Kind::SocatTcp => socat::start_tcp(cx),
        Kind::SocatMtls => socat::start_mtls(cx),
        Kind::SocatTcpTwoHops => socat::start_tcp_two_hops(cx),
        Kind::Ser2netDefault => ser2net::start(cx, false),
        Kind::Ser2netNoCharDelay => ser2net::start(cx, true),
        Kind::Serialmesh => serialmesh::start(cx, cx.bins, serialmesh::Local::Tcp),
        Kind::SerialmeshPty => serialmesh::start(cx, cx.bins, serialmesh::Local::Pty),
        Kind::SerialmeshBaseline => serialmesh::start(cx, cx.baseline, serialmesh::Local::Tcp),
        Kind::SerialmeshEsphome => serialmesh::start_esphome(cx, cx.bins),
    }
}
