//! The system under fault: `seriald` on host 0 and `serialctl connect` on
//! host 1 of a private LAN (see [`crate::netns`]), the device a pty behind
//! a symlink the agent's static `[[device]]` names, both admin endpoints on,
//! and the knobs the faults turn (kill, restart, cut, lose, jump the clock).

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::bins;
use crate::mesh::{tls_args, PORT, T};
use crate::netns::{wait_listening_in, Lan};
use crate::pki::{Pki, TlsPaths};
use crate::proc::{ChildGuard, ProcBuilder};
use crate::pty::ScriptedDevice;
use crate::util::{temp_dir, TempDir};

pub const AGENT: usize = 0;
pub const CLIENT: usize = 1;
const AGENT_ADMIN: u16 = 9100;
const CLIENT_ADMIN: u16 = 9101;
const ENDPOINT: u16 = 5000;

/// How to build the rig.
#[derive(Default, Clone)]
pub struct Options {
    /// Run both binaries under libfaketime with an offset read from a file
    /// on every clock call, so a test can jump their wall clocks.
    pub faketime: bool,
    /// The agent's config directory (config, certificate, key, CA) is a
    /// read-only bind mount in the agent's own mount namespace.
    pub read_only_config: bool,
    /// The client dials this (host 1's view) instead of the agent.
    pub agent_override: Option<SocketAddr>,
}

pub struct Rig {
    pub lan: Lan,
    _pki: Pki,
    pub agent: ChildGuard,
    pub client: ChildGuard,
    opts: Options,
    client_tls: TlsPaths,
    config_dir: TempDir,
    dev_dir: TempDir,
    clock_files: [PathBuf; 2],
}

impl Rig {
    /// Starts the LAN, the agent (device `dev` at a symlink to `device`)
    /// and the client endpoint `dev@lab` on `127.0.0.1:5000` of host 1.
    pub fn start(device: &mut ScriptedDevice, opts: Options) -> Rig {
        let lan = Lan::new(2);
        let pki = Pki::new();
        let config_dir = temp_dir();
        let dev_dir = temp_dir();
        let tls = pki.agent("a", "lab");
        let cfg = config_dir.path();
        for (from, to) in [
            (&tls.cert, "a.pem"),
            (&tls.key, "a.key"),
            (&tls.ca, "ca.pem"),
        ] {
            std::fs::copy(from, cfg.join(to)).expect("copy agent certificate");
        }
        let link = dev_dir.path().join("dev");
        device.link(&link).expect("link the device");
        std::fs::write(
            cfg.join("seriald.toml"),
            format!(
                "name = \"a\"\nzone = \"lab\"\nlisten = \"0.0.0.0:{PORT}\"\n\
                 admin = \"127.0.0.1:{AGENT_ADMIN}\"\ndiscovery = false\n\
                 [tls]\ncert = \"a.pem\"\nkey = \"a.key\"\nca = \"ca.pem\"\n\
                 [[device]]\nname = \"dev\"\npath = \"{}\"\n",
                link.display()
            ),
        )
        .expect("write agent config");
        let clock_dir = dev_dir.path();
        let clock_files = [clock_dir.join("clock-0"), clock_dir.join("clock-1")];
        for f in &clock_files {
            std::fs::write(f, "+0\n").expect("write clock file");
        }
        let client_tls = pki.client("gw");
        // The guards are filled right below; a finished `true` stands in so
        // the spawn helpers can borrow the rest of the rig.
        let mut rig = Rig {
            agent: exited(),
            client: exited(),
            lan,
            _pki: pki,
            opts,
            client_tls,
            config_dir,
            dev_dir,
            clock_files,
        };
        rig.agent = rig.spawn_agent();
        // The LAN answers before the client dials (a new bridge port may
        // drop the first packets), so startup is not mistaken for a fault.
        let target = SocketAddr::from((rig.lan.ip(AGENT), PORT));
        drop(rig.lan.connect_tcp(CLIENT, target, T));
        rig.client = rig.spawn_client();
        rig
    }

    /// Where the agent's `[[device]]` path points.
    pub fn device_link(&self) -> PathBuf {
        self.dev_dir.path().join("dev")
    }

    pub fn config_dir(&self) -> &Path {
        self.config_dir.path()
    }

    fn with_clock(&self, b: ProcBuilder, host: usize) -> ProcBuilder {
        if !self.opts.faketime {
            return b;
        }
        b.env("LD_PRELOAD", crate::proc::faketime_lib())
            .env("FAKETIME_TIMESTAMP_FILE", &self.clock_files[host])
            .env("FAKETIME_NO_CACHE", "1")
            .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
    }

    fn spawn_agent(&self) -> ChildGuard {
        let config = self.config_dir.path().join("seriald.toml");
        let b = if self.opts.read_only_config {
            // unshare(1) makes mounts private to the new namespace; every
            // step execs, so the pid we hold is seriald's.
            let script = "mount --bind \"$1\" \"$1\" && mount -o remount,bind,ro \"$1\" \
                          && exec ip netns exec \"$2\" \"$3\" --config \"$1/seriald.toml\"";
            ProcBuilder::new("unshare")
                .args(["-m", "sh", "-c", script, "sh"])
                .arg(self.config_dir.path())
                .arg(&self.lan.host(AGENT).ns)
                .arg(bins::seriald())
                .label("seriald@h0")
        } else {
            self.lan
                .command(AGENT, bins::seriald())
                .arg("--config")
                .arg(&config)
        };
        let guard = self.with_clock(b, AGENT).spawn();
        wait_listening_in(&guard, PORT, T).unwrap();
        guard
    }

    fn spawn_client(&self) -> ChildGuard {
        let agent = self
            .opts
            .agent_override
            .unwrap_or_else(|| SocketAddr::from((self.lan.ip(AGENT), PORT)));
        let b = self
            .lan
            .command(CLIENT, bins::serialctl())
            .args(["connect", "dev@lab", "--agent", &agent.to_string()])
            .args(["--tcp", &format!("127.0.0.1:{ENDPOINT}")])
            .args(["--admin", &format!("127.0.0.1:{CLIENT_ADMIN}")])
            .args(tls_args(&self.client_tls));
        let guard = self.with_clock(b, CLIENT).spawn();
        wait_listening_in(&guard, ENDPOINT, T).unwrap();
        guard
    }

    /// Where the client dials from its next start on (e.g. a relay).
    pub fn set_agent(&mut self, addr: SocketAddr) {
        self.opts.agent_override = Some(addr);
    }

    /// SIGKILL the agent (a crash or power cut).
    pub fn kill_agent(&mut self) {
        self.agent.kill();
    }

    /// Starts the agent again; returns once it listens.
    pub fn start_agent(&mut self) {
        self.agent = self.spawn_agent();
    }

    pub fn kill_client(&mut self) {
        self.client.kill();
    }

    pub fn start_client(&mut self) {
        self.client = self.spawn_client();
    }

    /// What the application uses to (re)connect to the endpoint.
    pub fn connector(&self) -> super::traffic::Connector {
        let ns = self.lan.host(CLIENT).ns.clone();
        let path = Path::new("/run/netns").join(ns);
        Box::new(move || {
            let path = path.clone();
            std::thread::spawn(move || {
                join_netns(&path)?;
                let addr = SocketAddr::from(([127, 0, 0, 1], ENDPOINT));
                TcpStream::connect_timeout(&addr, Duration::from_millis(200))
            })
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("connector thread panicked")))
        })
    }

    /// `/metrics` of the agent, or `None` if it does not answer.
    pub fn agent_metrics(&self) -> Option<String> {
        self.metrics(AGENT, AGENT_ADMIN)
    }

    pub fn client_metrics(&self) -> Option<String> {
        self.metrics(CLIENT, CLIENT_ADMIN)
    }

    fn metrics(&self, host: usize, port: u16) -> Option<String> {
        self.lan.run_in(host, move || {
            std::panic::catch_unwind(|| crate::http::http_get(port, "/metrics"))
                .ok()
                .filter(|(code, _)| *code == 200)
                .map(|(_, body)| body)
        })
    }

    /// Silently drops every packet in and out of `host`'s `eth0`: a cable
    /// cut somewhere on the path (no error reaches either side).
    pub fn cut(&self, host: usize) {
        self.lan.nft(
            host,
            "table inet sm_fault {\n\
             chain i { type filter hook input priority 0; iifname \"eth0\" drop; }\n\
             chain o { type filter hook output priority 0; oifname \"eth0\" drop; }\n}\n",
        );
    }

    /// Drops `percent`% of packets in and out of `host`'s `eth0`, at
    /// random (there is no netem here: see docs/facts.md).
    pub fn lossy(&self, host: usize, percent: u8) {
        self.lan.nft(
            host,
            &format!(
                "table inet sm_fault {{\n\
                 chain i {{ type filter hook input priority 0; iifname \"eth0\" numgen random mod 100 < {percent} drop; }}\n\
                 chain o {{ type filter hook output priority 0; oifname \"eth0\" numgen random mod 100 < {percent} drop; }}\n}}\n"
            ),
        );
    }

    /// Removes [`Rig::cut`] or [`Rig::lossy`].
    pub fn heal(&self, host: usize) {
        self.lan.nft(host, "delete table inet sm_fault\n");
    }

    /// Sets `host`'s wall clock offset (libfaketime syntax: `+3650d`,
    /// `-20y`, `+0`); takes effect at the binaries' next clock read.
    pub fn set_clock(&self, host: usize, offset: &str) {
        assert!(self.opts.faketime, "rig not started with faketime");
        let f = &self.clock_files[host];
        let tmp = f.with_extension("tmp");
        std::fs::write(&tmp, format!("{offset}\n")).expect("write clock file");
        std::fs::rename(&tmp, f).expect("replace clock file");
    }
}

fn join_netns(path: &Path) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let file = std::fs::File::open(path)?;
    // SAFETY: setns on a valid namespace fd changes only this thread.
    if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A guard for a process that has already exited.
fn exited() -> ChildGuard {
    let g = ProcBuilder::new("true").spawn();
    g.wait_exit(T);
    g
}

/// Sum of the samples of `name` whose labels contain every `labels` pair
/// text (e.g. `direction="to_device"`).
pub fn metric(text: &str, name: &str, labels: &[&str]) -> u64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .filter(|l| labels.iter().all(|want| l.contains(want)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|v| v as u64)
        .sum()
}
