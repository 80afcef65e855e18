//! Running a real `seriald` with a config written for the test.

use std::net::SocketAddr;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::bins;
use crate::net::free_port;
use crate::pki::{Pki, Role, TlsPaths};
use crate::proc::{ChildGuard, ProcBuilder};
use crate::util::{temp_dir, TempDir};

/// How long an agent may take to listen: a debug build starting on a loaded
/// 2-core machine with other tests' processes.
pub const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// Describes an agent: its config file (docs/design.md "Agent config") and how
/// to run it. `start` writes the config and runs `seriald --config FILE`.
pub struct AgentBuilder<'a> {
    pki: &'a Pki,
    spec: AgentSpec,
    tls: Option<TlsPaths>,
    port: Option<u16>,
    config_file: Option<PathBuf>,
}

/// Everything needed to (re)write the config and (re)start the agent.
struct AgentSpec {
    name: String,
    zone: Option<String>,
    /// Leave `name` and `zone` out of the config: the certificate says.
    identity_from_certificate: bool,
    top_toml: String,
    devices_toml: String,
    faketime: Option<String>,
    envs: Vec<(String, String)>,
    ready_timeout: Duration,
}

impl<'a> AgentBuilder<'a> {
    /// An agent called `name`, with a certificate from `pki` (issued at
    /// start unless [`AgentBuilder::tls`] gives one), listening on a free
    /// port on 127.0.0.1, with no devices.
    pub fn new(pki: &'a Pki, name: &str) -> Self {
        AgentBuilder {
            pki,
            spec: AgentSpec {
                name: name.to_owned(),
                zone: None,
                identity_from_certificate: false,
                top_toml: String::new(),
                devices_toml: String::new(),
                faketime: None,
                envs: Vec::new(),
                ready_timeout: READY_TIMEOUT,
            },
            tls: None,
            port: None,
            config_file: None,
        }
    }

    /// Writes neither `name` nor `zone` in the config, so the agent takes
    /// both from its certificate (as one DaemonSet config on every node).
    pub fn identity_from_certificate(mut self) -> Self {
        self.spec.identity_from_certificate = true;
        self
    }

    /// Sets `zone` in the config (and in the issued certificate). Without
    /// it the key is left out, so the product's default (the name) applies.
    pub fn zone(mut self, zone: &str) -> Self {
        self.spec.zone = Some(zone.to_owned());
        self
    }

    /// Writes the config at `path` (through the symlink there, if any: a
    /// file of a projected ConfigMap, see [`crate::kubelet`]) instead of a
    /// file of its own.
    pub fn config_file(mut self, path: &Path) -> Self {
        self.config_file = Some(path.to_path_buf());
        self
    }

    /// Uses these certificate files instead of issuing some from the
    /// builder's `Pki` (e.g. a certificate from another CA).
    pub fn tls(mut self, tls: TlsPaths) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Listens on this port instead of a free one.
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// Adds a static device (`[[device]]` with `name`, `path`, baud 115200).
    pub fn device(mut self, name: &str, path: impl AsRef<Path>) -> Self {
        let path = path.as_ref().to_string_lossy();
        self.spec.devices_toml.push_str(&format!(
            "\n[[device]]\nname = {}\npath = {}\nbaud = 115200\n",
            toml_string(name),
            toml_string(&path)
        ));
        self
    }

    /// Appends raw TOML after the tables (e.g. a whole `[[device]]` table
    /// with line settings, or a deliberately broken one).
    pub fn device_toml(mut self, raw: &str) -> Self {
        self.spec.devices_toml.push_str(&format!("\n{raw}\n"));
        self
    }

    /// Adds raw TOML among the top-level keys, before `[tls]` (TOML puts
    /// every key after a table header into that table).
    pub fn top_level_toml(mut self, raw: &str) -> Self {
        self.spec.top_toml.push_str(&format!("{raw}\n"));
        self
    }

    /// Runs `seriald` with its wall clock at `date` (see
    /// [`ProcBuilder::faketime`]).
    pub fn faketime(mut self, date: Option<&str>) -> Self {
        self.spec.faketime = date.map(str::to_owned);
        self
    }

    /// Sets an environment variable of `seriald` (e.g. `RUST_LOG`).
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.spec.envs.push((key.to_owned(), value.to_owned()));
        self
    }

    /// How long [`AgentBuilder::start`] waits for the port.
    pub fn ready_timeout(mut self, timeout: Duration) -> Self {
        self.spec.ready_timeout = timeout;
        self
    }

    /// Writes the config, starts `seriald` and waits until it listens.
    ///
    /// Readiness is the agent's own socket listening on its port (seen in
    /// `/proc`, without connecting, so no half-handshake lands in its
    /// logs), never a log line. If the agent exits first because its free
    /// port was taken meanwhile, it is retried on another port.
    ///
    /// # Panics
    /// If it exits or does not listen in time, with its output.
    pub fn start(self) -> RunningAgent {
        let retries = if self.port.is_some() { 0 } else { 2 };
        let mut agent = self.spawn();
        for attempt in 0..=retries {
            match agent.wait_ready() {
                Ok(()) => return agent,
                Err(e) if attempt < retries && e.contains("in use") => {
                    agent.addr.set_port(free_port());
                    agent.respawn();
                }
                Err(e) => panic!("seriald did not start: {e}"),
            }
        }
        unreachable!("the last attempt returns or panics")
    }

    /// Writes the config and starts `seriald` without waiting for it, for
    /// tests of startup failures (`agent.wait_exit(..)`, exit code 2).
    pub fn spawn(self) -> RunningAgent {
        let tls = self.tls.unwrap_or_else(|| {
            self.pki.issue(
                Role::Agent,
                &self.spec.name,
                self.spec.zone.as_deref(),
                None,
            )
        });
        let port = self.port.unwrap_or_else(free_port);
        let dir = temp_dir();
        let config_path = self
            .config_file
            .unwrap_or_else(|| dir.path().join("seriald.toml"));
        let guard = launch(&self.spec, &tls, port, &config_path);
        RunningAgent {
            guard,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            tls,
            config_path,
            spec: self.spec,
            _dir: dir,
        }
    }
}

impl AgentSpec {
    /// The config file text.
    fn config_toml(&self, tls: &TlsPaths, port: u16) -> String {
        let mut s = String::new();
        if !self.identity_from_certificate {
            s.push_str(&format!("name = {}\n", toml_string(&self.name)));
            if let Some(zone) = &self.zone {
                s.push_str(&format!("zone = {}\n", toml_string(zone)));
            }
        }
        s.push_str(&format!("listen = \"127.0.0.1:{port}\"\n{}", self.top_toml));
        s.push_str(&format!(
            "\n[tls]\ncert = {}\nkey = {}\nca = {}\n",
            toml_string(&tls.cert.to_string_lossy()),
            toml_string(&tls.key.to_string_lossy()),
            toml_string(&tls.ca.to_string_lossy()),
        ));
        s.push_str(&self.devices_toml);
        s
    }
}

/// Writes the config for `port` and starts `seriald --config FILE`.
fn launch(spec: &AgentSpec, tls: &TlsPaths, port: u16, config_path: &Path) -> ChildGuard {
    let text = spec.config_toml(tls, port);
    std::fs::write(config_path, &text)
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", config_path.display()));
    let mut builder = ProcBuilder::new(bins::seriald())
        .arg("--config")
        .arg(config_path)
        .faketime(spec.faketime.as_deref())
        .label(format!("seriald-{}", spec.name));
    for (k, v) in &spec.envs {
        builder = builder.env(k, v);
    }
    builder.spawn()
}

/// A running `seriald`; killed when dropped. Derefs to its [`ChildGuard`]
/// (`agent.wait_for_output(..)`, `agent.kill()`).
pub struct RunningAgent {
    /// The process.
    pub guard: ChildGuard,
    /// Where it listens (127.0.0.1).
    pub addr: SocketAddr,
    /// Its certificate, key and CA.
    pub tls: TlsPaths,
    config_path: PathBuf,
    spec: AgentSpec,
    _dir: TempDir,
}

impl RunningAgent {
    /// The agent's name.
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// The config file it was started with.
    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// Kills it if still running (SIGKILL: a crash or power cut), then
    /// starts it again with the same config and port and waits until it
    /// listens. For a graceful restart call `terminate()` and `wait_exit()`
    /// first. A killed agent leaves `TIOCEXCL` on its pty devices: when the
    /// tests do not run as root, call the device's `clear_exclusive()`
    /// before restarting.
    ///
    /// # Panics
    /// If it does not listen again in time, with its output.
    pub fn restart(&mut self) {
        self.respawn();
        if let Err(e) = self.wait_ready() {
            panic!("seriald did not restart: {e}");
        }
    }

    fn respawn(&mut self) {
        self.guard.kill();
        self.guard = launch(&self.spec, &self.tls, self.addr.port(), &self.config_path);
    }

    fn wait_ready(&self) -> Result<(), String> {
        self.guard
            .wait_listening(self.addr.port(), self.spec.ready_timeout)
    }
}

impl Deref for RunningAgent {
    type Target = ChildGuard;
    fn deref(&self) -> &ChildGuard {
        &self.guard
    }
}

/// Quotes `s` as a TOML basic string.
pub fn toml_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
