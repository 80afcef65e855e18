//! Agents and clients on a private LAN of network namespaces (see
//! [`crate::netns`]): `seriald` on a host with a config written for the
//! test, `serialctl ls` and `serialctl connect` on others, and what tests of
//! discovery need to look at their results.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::bins;
use crate::netns::{wait_listening_in, Lan};
use crate::pki::{Pki, TlsPaths};
use crate::proc::ChildGuard;
use crate::pty::EchoDevice;
use crate::util::{temp_dir, TempDir};

/// Every agent listens on the same port, each in its own namespace.
pub const PORT: u16 = 21317;
/// Patience for anything a test waits for (loaded 2-core CI machine).
pub const T: Duration = Duration::from_secs(20);

/// A `seriald` on one host of the LAN, listening on all its addresses.
pub struct NsAgent {
    pub guard: ChildGuard,
    pub host: usize,
    pub name: String,
    pub tls: TlsPaths,
    config: PathBuf,
    _dir: TempDir,
}

impl NsAgent {
    /// Issues its certificate, writes its config (`listen` on all
    /// addresses, `seeds`, one `[[device]]` per entry) and starts it on
    /// `host`, waiting until it listens.
    pub fn start(
        lan: &Lan,
        host: usize,
        pki: &Pki,
        name: &str,
        zone: &str,
        devices: &[(&str, &Path)],
        seeds: &[String],
    ) -> NsAgent {
        let tls = pki.agent(name, zone);
        let dir = temp_dir();
        let config = dir.path().join("seriald.toml");
        write_config(&config, name, zone, &tls, devices, seeds);
        let guard = spawn(lan, host, name, &config);
        NsAgent {
            guard,
            host,
            name: name.into(),
            tls,
            config,
            _dir: dir,
        }
    }

    /// Waits until it has announced itself on mDNS (its name probed).
    pub fn announced(self) -> NsAgent {
        self.guard.wait_for_output("announced on mDNS", T).unwrap();
        self
    }

    /// SIGTERM, wait for the exit, then start again with `devices`.
    pub fn restart_with(
        &mut self,
        lan: &Lan,
        zone: &str,
        devices: &[(&str, &Path)],
        seeds: &[String],
    ) {
        self.guard.terminate();
        assert!(
            self.guard.wait_exit(T).is_some(),
            "{} did not stop",
            self.name
        );
        write_config(&self.config, &self.name, zone, &self.tls, devices, seeds);
        self.guard = spawn(lan, self.host, &self.name, &self.config);
    }
}

fn write_config(
    path: &Path,
    name: &str,
    zone: &str,
    tls: &TlsPaths,
    devices: &[(&str, &Path)],
    seeds: &[String],
) {
    let seeds: Vec<String> = seeds.iter().map(|s| format!("\"{s}\"")).collect();
    let mut text = format!(
        "name = \"{name}\"\nzone = \"{zone}\"\nlisten = \"0.0.0.0:{PORT}\"\nseeds = [{}]\n\
         [tls]\ncert = \"{}\"\nkey = \"{}\"\nca = \"{}\"\n",
        seeds.join(", "),
        tls.cert.display(),
        tls.key.display(),
        tls.ca.display()
    );
    for (device, dev_path) in devices {
        text.push_str(&format!(
            "[[device]]\nname = \"{device}\"\npath = \"{}\"\n",
            dev_path.display()
        ));
    }
    std::fs::write(path, text).unwrap();
}

fn spawn(lan: &Lan, host: usize, name: &str, config: &Path) -> ChildGuard {
    let guard = lan
        .command(host, bins::seriald())
        .arg("--config")
        .arg(config)
        .label(format!("seriald-{name}"))
        .spawn();
    wait_listening_in(&guard, PORT, T).unwrap();
    guard
}

/// `HOST:PORT` of the agent on `host`, as seeds and peers are written.
pub fn seed(lan: &Lan, host: usize) -> String {
    format!("{}:{PORT}", lan.ip(host))
}

/// `--cert F --key F --ca F`.
pub fn tls_args(tls: &TlsPaths) -> Vec<String> {
    vec![
        "--cert".into(),
        tls.cert.display().to_string(),
        "--key".into(),
        tls.key.display().to_string(),
        "--ca".into(),
        tls.ca.display().to_string(),
    ]
}

/// Output of one `serialctl ls` run on a host.
pub struct Ls {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub took: Duration,
}

/// Runs `serialctl ls EXTRA...` on `host` to the end, timing it.
pub fn ls(lan: &Lan, host: usize, tls: &TlsPaths, extra: &[&str]) -> Ls {
    let start = Instant::now();
    let (code, stdout, stderr) = lan
        .command(host, bins::serialctl())
        .arg("ls")
        .args(tls_args(tls))
        .args(extra)
        .label("serialctl-ls")
        .run_to_end(T);
    Ls {
        code,
        stdout,
        stderr,
        took: start.elapsed(),
    }
}

/// Runs ls until `check` accepts its output (mDNS answers on a loaded
/// machine may miss one window), returning that run.
pub fn ls_until(
    lan: &Lan,
    host: usize,
    tls: &TlsPaths,
    extra: &[&str],
    what: &str,
    within: Duration,
    check: impl Fn(&Ls) -> bool,
) -> Ls {
    let deadline = Instant::now() + within;
    loop {
        let run = ls(lan, host, tls, extra);
        if check(&run) {
            return run;
        }
        assert!(
            Instant::now() < deadline,
            "ls never showed {what}; last run (exit {}):\n{}\n{}",
            run.code,
            run.stdout,
            run.stderr
        );
    }
}

/// The table rows (after the header) as lists of cells.
pub fn rows(table: &str) -> Vec<Vec<String>> {
    table
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            l.split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(String::from)
                .collect()
        })
        .collect()
}

/// The key fingerprint of a certificate, as `serialctl pki show` prints it.
pub fn fingerprint(tls: &TlsPaths) -> String {
    let (code, out, err) = crate::proc::run_to_end(
        bins::serialctl(),
        [Path::new("pki"), Path::new("show"), &tls.cert],
        T,
    );
    assert_eq!(code, 0, "{err}");
    let line = out
        .lines()
        .find(|l| l.to_lowercase().contains("fingerprint"))
        .unwrap_or_else(|| panic!("no fingerprint in:\n{out}"));
    // `spki:HEX`, printed as agents advertise it and ls reports it (the
    // colon is part of the value, not a byte separator).
    line.split_whitespace().last().unwrap().to_lowercase()
}

/// `serialctl connect ADDRESS --tcp 127.0.0.1:5000` on a host, without
/// `--agent`: the address is resolved through mDNS and seeds.
pub fn connect(lan: &Lan, host: usize, address: &str, client: &[String]) -> ChildGuard {
    let guard = lan
        .command(host, bins::serialctl())
        .args(["connect", address, "--tcp", "127.0.0.1:5000"])
        .args(client)
        .label(format!("serialctl-{address}"))
        .spawn();
    wait_listening_in(&guard, 5000, T).unwrap();
    guard
}

/// The application's connection to that endpoint (from inside the host).
pub fn app(lan: &Lan, host: usize) -> TcpStream {
    lan.connect_tcp(host, SocketAddr::from(([127, 0, 0, 1], 5000)), T)
}

/// Sends numbered probes until one comes back echoed: bytes written while
/// the tunnel is down are dropped, so a single probe could be lost.
pub fn echo_eventually(stream: &mut TcpStream, what: &str) {
    let deadline = Instant::now() + T;
    stream
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let mut got = Vec::new();
    for n in 0.. {
        let probe = format!("<{what}-{n}>");
        stream.write_all(probe.as_bytes()).unwrap();
        let until = Instant::now() + Duration::from_millis(500);
        let mut buf = [0u8; 256];
        while Instant::now() < until {
            match stream.read(&mut buf) {
                Ok(0) => panic!("{what}: the endpoint closed the application's connection"),
                Ok(k) => got.extend_from_slice(&buf[..k]),
                Err(_) => {}
            }
            if String::from_utf8_lossy(&got).contains(&probe) {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{what}: no echo within {T:?}; got {:?}",
            String::from_utf8_lossy(&got)
        );
    }
}

/// The last complete line `--watch --json` printed.
pub fn last_doc(watch: &ChildGuard) -> String {
    let out = watch.stdout();
    out.lines().last().unwrap_or("").to_string()
}

/// Whether a compact `ls --json` document lists agent `name` (keys are
/// sorted, so `name` comes right before `peers`).
pub fn lists_agent(doc: &str, name: &str) -> bool {
    doc.contains(&format!("\"name\":\"{name}\",\"peers\""))
}

/// Starts three agents (zones house, house, garage) on hosts 0-2.
pub fn three_agents(lan: &Lan, pki: &Pki, devices: &[EchoDevice; 3]) -> [NsAgent; 3] {
    let a = NsAgent::start(
        lan,
        0,
        pki,
        "a",
        "house",
        &[("zwave", devices[0].path())],
        &[],
    );
    let b = NsAgent::start(
        lan,
        1,
        pki,
        "b",
        "house",
        &[("zigbee", devices[1].path())],
        &[],
    );
    let c = NsAgent::start(
        lan,
        2,
        pki,
        "c",
        "garage",
        &[("rs232", devices[2].path())],
        &[],
    );
    [a.announced(), b.announced(), c.announced()]
}

/// Three pty echo devices.
pub fn echo_devices() -> [EchoDevice; 3] {
    [
        EchoDevice::start(),
        EchoDevice::start(),
        EchoDevice::start(),
    ]
}
