//! The agent's ESPHome endpoint (`[[esphome]]`), as zwave-js reaches it:
//! `esphome://127.0.0.1:PORT?key=BASE64`. A [`EsphomeKey`] is a client's key
//! file; [`esphome_toml`] is the section to hand to
//! `AgentBuilder::device_toml`; the driver from [`crate::zwave::driver`]
//! takes the URL as its port, as zwave-js-ui takes it in its settings.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use base64::Engine;

use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use serialmesh_esphome::client::BlockingClient;

use crate::agent::toml_string;
use crate::net::{free_port, wait_listening};
use crate::{AgentBuilder, EchoDevice, Pki, RunningAgent};

/// A client's key file: base64 of 32 random bytes, as ESPHome makes them.
pub struct EsphomeKey {
    pub name: String,
    pub path: PathBuf,
    pub base64: String,
}

impl EsphomeKey {
    /// Writes a new random key for client `name` into `dir`.
    pub fn new(dir: &Path, name: &str) -> EsphomeKey {
        let path = dir.join(format!("{name}.key"));
        let key = EsphomeKey {
            name: name.to_string(),
            base64: String::new(),
            path,
        };
        key.replaced()
    }

    /// Writes a new random key into the same file (what an operator does
    /// to revoke the old one) and returns it.
    pub fn replaced(mut self) -> EsphomeKey {
        let mut raw = [0u8; 32];
        std::fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut raw))
            .expect("read /dev/urandom");
        self.base64 = base64::engine::general_purpose::STANDARD.encode(raw);
        // Written whole under another name, then renamed in, as editors
        // and `install` do.
        let tmp = self.path.with_extension("tmp");
        std::fs::write(&tmp, format!("{}\n", self.base64)).expect("write key file");
        // A key file others may read is refused, as private keys are.
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))
            .expect("chmod key file");
        std::fs::rename(&tmp, &self.path).expect("rename key file");
        self
    }

    /// The 32 bytes of the key.
    pub fn key_bytes(&self) -> [u8; 32] {
        base64::engine::general_purpose::STANDARD
            .decode(&self.base64)
            .ok()
            .and_then(|k| k.try_into().ok())
            .expect("a key this rig wrote")
    }

    /// The URL zwave-js is given, the key percent-encoded (zwave-js reads
    /// it with URLSearchParams, which turns an unescaped `+` into a space).
    pub fn url(&self, port: u16) -> String {
        format!(
            "esphome://127.0.0.1:{port}?key={}",
            percent_encode(&self.base64)
        )
    }
}

/// `+`, `/` and `=` as `%2B`, `%2F`, `%3D`: what a base64 key needs.
pub fn percent_encode(s: &str) -> String {
    s.replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D")
}

/// `[[esphome]]` for `device` on 127.0.0.1:`port` with these clients.
pub fn esphome_toml(device: &str, port: u16, clients: &[&EsphomeKey]) -> String {
    let mut s = format!(
        "[[esphome]]\ndevice = {}\nlisten = \"127.0.0.1:{port}\"\n",
        toml_string(device)
    );
    for c in clients {
        s.push_str(&format!(
            "[[esphome.client]]\nname = {}\nkey_file = {}\n",
            toml_string(&c.name),
            toml_string(&c.path.to_string_lossy())
        ));
    }
    s
}

/// An agent of `zone` sharing `device` as `echo`, with an `[[esphome]]`
/// endpoint for `clients` on a free loopback port: `top` goes at the
/// config's top level, `extra` (say `[limits]`) before the endpoint's
/// tables. Returns once the endpoint listens, with its address.
pub fn esphome_agent(
    pki: &Pki,
    zone: &str,
    device: &EchoDevice,
    clients: &[&EsphomeKey],
    top: &str,
    extra: &str,
) -> (RunningAgent, SocketAddr) {
    const WAIT: Duration = Duration::from_secs(10);
    let port = free_port();
    let agent = AgentBuilder::new(pki, zone)
        .top_level_toml(top)
        .device("echo", device.path())
        .device_toml(&format!("{extra}\n{}", esphome_toml("echo", port, clients)))
        .start();
    wait_listening(port, WAIT).unwrap_or_else(|e| panic!("{e}\n{}", agent.output()));
    (agent, SocketAddr::from(([127, 0, 0, 1], port)))
}

/// Sends `probe` through an ESPHome session to the echo device and checks
/// that exactly it comes back.
pub fn echo_through(c: &mut BlockingClient, probe: &[u8]) {
    c.write_all(probe).unwrap();
    let mut back = vec![0u8; probe.len()];
    std::io::Read::read_exact(c, &mut back).unwrap();
    assert_eq!(back, probe);
}
