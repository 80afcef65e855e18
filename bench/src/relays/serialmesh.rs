//! serialmesh as users run it: `seriald` with the pty as a static device,
//! and `serialctl connect` exposing it on a local TCP port (or a pty of its
//! own) through the mutual-TLS tunnel.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};

use super::pki::{AGENT_NAME, ZONE};
use super::{Bins, Running, StartContext, START_TIMEOUT};
use crate::child::ChildGuard;
use crate::conn::Endpoint;
use crate::ports::{free_port, loopback, wait_listening, wait_until};

const DEVICE: &str = "echo";

/// What `serialctl connect` offers the application.
#[derive(Clone, Copy)]
pub enum Local {
    Tcp,
    Pty,
}

pub fn start(cx: &StartContext, bins: Option<&Bins>, local: Local) -> Result<Running> {
    let bins = bins.context("serialmesh needs its binaries (internal error: none given)")?;
    let pki = cx
        .pki
        .context("serialmesh needs certificates (internal error: none made)")?;
    let agent_port = free_port()?;
    let endpoint = match local {
        Local::Tcp => Endpoint::Tcp(loopback(free_port()?)),
        Local::Pty => Endpoint::Pty(cx.work.join("ttyECHO")),
    };

    let mut toml = String::new();
    let _ = writeln!(toml, "name = \"{AGENT_NAME}\"");
    let _ = writeln!(toml, "zone = \"{ZONE}\"");
    let _ = writeln!(toml, "listen = \"127.0.0.1:{agent_port}\"");
    let _ = writeln!(toml, "[tls]");
    let _ = writeln!(toml, "cert = {}", toml_str(&pki.agent.cert));
    let _ = writeln!(toml, "key = {}", toml_str(&pki.agent.key));
    let _ = writeln!(toml, "ca = {}", toml_str(&pki.agent.ca));
    let _ = writeln!(toml, "[[device]]");
    let _ = writeln!(toml, "name = \"{DEVICE}\"");
    let _ = writeln!(toml, "path = {}", toml_str(cx.device));
    let _ = writeln!(toml, "baud = 115200");
    let config = cx.work.join("agent.toml");
    std::fs::write(&config, toml).with_context(|| format!("cannot write {}", config.display()))?;

    let mut agent_cmd = Command::new(&bins.seriald);
    agent_cmd.arg("--config").arg(&config);
    let mut agent = ChildGuard::spawn("seriald", agent_cmd, cx.work)?;
    // The client dials the agent per local connection, so the agent must
    // be listening before the first one.
    wait_listening(agent_port, &mut [&mut agent], START_TIMEOUT)?;

    let c = &pki.client;
    let mut client_cmd = Command::new(&bins.serialctl);
    client_cmd
        .arg("connect")
        .arg(format!("{DEVICE}@{ZONE}"))
        .arg("--agent")
        .arg(format!("127.0.0.1:{agent_port}"));
    match &endpoint {
        Endpoint::Tcp(addr) => client_cmd.arg("--tcp").arg(addr.to_string()),
        Endpoint::Pty(link) => client_cmd.arg("--pty").arg(link),
        Endpoint::Esphome(..) => anyhow::bail!("serialctl offers no ESPHome endpoint"),
    };
    client_cmd
        .arg("--cert")
        .arg(&c.cert)
        .arg("--key")
        .arg(&c.key)
        .arg("--ca")
        .arg(&c.ca);
    let mut client = ChildGuard::spawn("serialctl", client_cmd, cx.work)?;
    let procs = &mut [&mut client, &mut agent];
    match &endpoint {
        Endpoint::Tcp(addr) => wait_listening(addr.port(), procs, START_TIMEOUT)?,
        // serialctl makes the pty first and its link last.
        Endpoint::Pty(link) => wait_until(
            &format!("{} did not appear", link.display()),
            || std::fs::symlink_metadata(link).is_ok(),
            procs,
            START_TIMEOUT,
        )?,
        Endpoint::Esphome(..) => anyhow::bail!("serialctl offers no ESPHome endpoint"),
    }
    Ok(Running {
        endpoint,
        procs: vec![client, agent],
    })
}

/// A path as a TOML basic string.
pub fn toml_str(p: &Path) -> String {
    let s = p.display().to_string();
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// `seriald` alone, with an `[[esphome]]` endpoint for the pty and one
/// client key: zwave-js's one-hop transport, measured by a client in this
/// bench that speaks the protocol as zwave-js does.
pub fn start_esphome(cx: &StartContext, bins: Option<&Bins>) -> Result<Running> {
    let bins = bins.context("serialmesh needs its binaries (internal error: none given)")?;
    let pki = cx
        .pki
        .context("serialmesh needs certificates (internal error: none made)")?;
    let agent_port = free_port()?;
    let esphome_port = free_port()?;
    let mut key = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut key))
        .context("cannot read /dev/urandom for the client key")?;
    let key_file = cx.work.join("bench.key");
    {
        use base64::Engine;
        std::fs::write(
            &key_file,
            base64::engine::general_purpose::STANDARD.encode(key),
        )
        .with_context(|| format!("cannot write {}", key_file.display()))?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("cannot chmod {}", key_file.display()))?;
    }

    let mut toml = String::new();
    let _ = writeln!(toml, "name = \"{AGENT_NAME}\"");
    let _ = writeln!(toml, "zone = \"{ZONE}\"");
    let _ = writeln!(toml, "listen = \"127.0.0.1:{agent_port}\"");
    let _ = writeln!(toml, "[tls]");
    let _ = writeln!(toml, "cert = {}", toml_str(&pki.agent.cert));
    let _ = writeln!(toml, "key = {}", toml_str(&pki.agent.key));
    let _ = writeln!(toml, "ca = {}", toml_str(&pki.agent.ca));
    let _ = writeln!(toml, "[[device]]");
    let _ = writeln!(toml, "name = \"{DEVICE}\"");
    let _ = writeln!(toml, "path = {}", toml_str(cx.device));
    let _ = writeln!(toml, "baud = 115200");
    let _ = writeln!(toml, "[[esphome]]");
    let _ = writeln!(toml, "device = \"{DEVICE}\"");
    let _ = writeln!(toml, "listen = \"127.0.0.1:{esphome_port}\"");
    let _ = writeln!(toml, "[[esphome.client]]");
    let _ = writeln!(toml, "name = \"bench\"");
    let _ = writeln!(toml, "key_file = {}", toml_str(&key_file));
    let config = cx.work.join("agent.toml");
    std::fs::write(&config, toml).with_context(|| format!("cannot write {}", config.display()))?;

    let mut agent_cmd = Command::new(&bins.seriald);
    agent_cmd.arg("--config").arg(&config);
    let mut agent = ChildGuard::spawn("seriald", agent_cmd, cx.work)?;
    wait_listening(esphome_port, &mut [&mut agent], START_TIMEOUT)?;
    Ok(Running {
        endpoint: Endpoint::Esphome(loopback(esphome_port), key),
        procs: vec![agent],
    })
}
