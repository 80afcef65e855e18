//! Running a real `serialctl connect` endpoint.

use std::ffi::OsString;
use std::net::{SocketAddr, TcpStream};
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::agent::toml_string;
use crate::agent::READY_TIMEOUT;
use crate::bins;
use crate::net::{connect_retry, free_port};
use crate::pki::TlsPaths;
use crate::proc::{ChildGuard, ProcBuilder};
use crate::util::{temp_dir, TempDir};

/// Describes `serialctl connect ADDRESS --agent HOST:PORT --tcp
/// 127.0.0.1:PORT --cert F --key F --ca F`.
pub struct ConnectBuilder {
    address: String,
    agent: Option<String>,
    tls: TlsPaths,
    port: Option<u16>,
    extra_args: Vec<OsString>,
    faketime: Option<String>,
    envs: Vec<(String, String)>,
    ready_timeout: Duration,
    seeds: Vec<String>,
    pty: Option<PathBuf>,
    own_devpts: bool,
}

impl ConnectBuilder {
    /// An endpoint for device `address` (e.g. `zwave@shed`) through the
    /// agent at `agent`, with the client certificate `tls`, on a free local
    /// TCP port.
    pub fn new(address: &str, agent: SocketAddr, tls: &TlsPaths) -> Self {
        ConnectBuilder {
            address: address.to_owned(),
            agent: Some(agent.to_string()),
            tls: tls.clone(),
            port: None,
            extra_args: Vec::new(),
            faketime: None,
            envs: Vec::new(),
            ready_timeout: READY_TIMEOUT,
            seeds: Vec::new(),
            pty: None,
            own_devpts: false,
        }
    }

    /// Resolves the address through these agents (`seeds` in a client
    /// config passed with `--config`, in this order) instead of `--agent`.
    pub fn seeds(mut self, seeds: &[SocketAddr]) -> Self {
        self.agent = None;
        self.seeds = seeds.iter().map(SocketAddr::to_string).collect();
        self
    }

    /// Replaces `--agent`: any `HOST:PORT` text (a name, an unreachable
    /// address), or `None` to leave the flag out (discovery, seeds).
    pub fn agent(mut self, agent: Option<&str>) -> Self {
        self.agent = agent.map(str::to_owned);
        self
    }

    /// Serves on this local port instead of a free one.
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// Serves on a pty linked at `link` (`--pty`) instead of TCP;
    /// [`ConnectBuilder::start`] then waits for the link.
    pub fn pty(mut self, link: &Path) -> Self {
        self.pty = Some(link.to_path_buf());
        self
    }

    /// Runs it with a devpts of its own, of the common `mode=620,gid=5`
    /// kind (see [`crate::users::own_devpts`]).
    pub fn own_devpts(mut self) -> Self {
        self.own_devpts = true;
        self
    }

    /// Appends an extra command line argument.
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.extra_args.push(arg.into());
        self
    }

    /// Runs it with its wall clock at `date` (see [`ProcBuilder::faketime`]).
    pub fn faketime(mut self, date: Option<&str>) -> Self {
        self.faketime = date.map(str::to_owned);
        self
    }

    /// Sets an environment variable (e.g. `RUST_LOG`).
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.envs.push((key.to_owned(), value.to_owned()));
        self
    }

    /// How long [`ConnectBuilder::start`] waits for the local port.
    pub fn ready_timeout(mut self, timeout: Duration) -> Self {
        self.ready_timeout = timeout;
        self
    }

    /// Starts it and waits until its local port listens.
    ///
    /// Readiness is checked in `/proc` rather than by connecting: a probe
    /// connection would make the endpoint dial the agent and take the
    /// device for a moment, which tests of ownership and of "output while
    /// nobody is attached" must not see.
    ///
    /// # Panics
    /// If it exits or does not listen in time, with its output.
    pub fn start(self) -> RunningConnect {
        let timeout = self.ready_timeout;
        let fixed_port = self.port.is_some();
        let this = self.spawn_inner();
        if let Some(link) = &this.builder.pty {
            if let Err(e) = this.guard.wait_for_output("serving pty", timeout) {
                panic!("serialctl connect did not link {}: {e}", link.display());
            }
            return this;
        }
        match this.guard.wait_listening(this.local.port(), timeout) {
            Ok(()) => this,
            Err(e) if !fixed_port && e.contains("in use") => {
                // Our free port was taken meanwhile: once more on another.
                let mut retry = this.builder;
                retry.port = None;
                let again = retry.spawn_inner();
                if let Err(e) = again.guard.wait_listening(again.local.port(), timeout) {
                    panic!("serialctl connect did not start: {e}");
                }
                again
            }
            Err(e) => panic!("serialctl connect did not start: {e}"),
        }
    }

    /// Starts it without waiting, for tests of startup failures
    /// (`client.wait_exit(..)`, exit code 1 or 2).
    pub fn spawn(self) -> RunningConnect {
        self.spawn_inner()
    }

    fn spawn_inner(self) -> RunningConnect {
        let local = SocketAddr::from(([127, 0, 0, 1], self.port.unwrap_or_else(free_port)));
        let b = if self.own_devpts {
            crate::users::own_devpts(bins::serialctl())
        } else {
            ProcBuilder::new(bins::serialctl())
        };
        let mut b = b
            .arg("connect")
            .arg(&self.address)
            .label(format!("serialctl-{}", self.address));
        if let Some(agent) = &self.agent {
            b = b.arg("--agent").arg(agent);
        }
        b = match &self.pty {
            Some(link) => b.arg("--pty").arg(link),
            None => b.arg("--tcp").arg(local.to_string()),
        };
        let config_dir = if self.seeds.is_empty() {
            b = b
                .arg("--cert")
                .arg(&self.tls.cert)
                .arg("--key")
                .arg(&self.tls.key)
                .arg("--ca")
                .arg(&self.tls.ca);
            None
        } else {
            let dir = temp_dir();
            let config = dir.path().join("client.toml");
            let seeds: Vec<String> = self.seeds.iter().map(|s| toml_string(s)).collect();
            let text = format!(
                "seeds = [{}]\n[tls]\ncert = {}\nkey = {}\nca = {}\n",
                seeds.join(", "),
                toml_string(&self.tls.cert.to_string_lossy()),
                toml_string(&self.tls.key.to_string_lossy()),
                toml_string(&self.tls.ca.to_string_lossy()),
            );
            std::fs::write(&config, text).expect("write client config");
            b = b.arg("--config").arg(&config);
            Some(dir)
        };
        b = b.args(&self.extra_args).faketime(self.faketime.as_deref());
        for (k, v) in &self.envs {
            b = b.env(k, v);
        }
        RunningConnect {
            guard: b.spawn(),
            local,
            builder: self,
            _config_dir: config_dir,
        }
    }
}

/// A running `serialctl connect`; killed when dropped. Derefs to its
/// [`ChildGuard`].
pub struct RunningConnect {
    /// The process.
    pub guard: ChildGuard,
    /// The local endpoint (`tcp://` address the application would use;
    /// unused with [`ConnectBuilder::pty`]).
    pub local: SocketAddr,
    builder: ConnectBuilder,
    _config_dir: Option<TempDir>,
}

impl RunningConnect {
    /// Connects to the local endpoint, as an application would (nodelay).
    ///
    /// # Panics
    /// If the endpoint does not accept within 10 s.
    pub fn connect(&self) -> TcpStream {
        connect_retry(self.local, Duration::from_secs(10))
    }

    /// The device address it serves.
    pub fn address(&self) -> &str {
        &self.builder.address
    }
}

impl Deref for RunningConnect {
    type Target = ChildGuard;
    fn deref(&self) -> &ChildGuard {
        &self.guard
    }
}
