//! serialmesh as users run it: `seriald` with the pty as a static device,
//! and `serialctl connect` exposing it on a local TCP port (or a pty of its
//! own) through the mutual-TLS tunnel.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use super::pki::{AGENT_NAME, ZONE};
use super::{Bins, Running, StartContext, START_TIMEOUT};
use crate::child::ChildGuard;
use crate::conn::Endpoint;
use crate::ports::{free_port, loopback, wait_listening};

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
    let tcp_port = free_port()?;

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
    let link = cx.work.join("ttyECHO");
    let mut client_cmd = Command::new(&bins.serialctl);
    client_cmd
        .arg("connect")
        .arg(format!("{DEVICE}@{ZONE}"))
        .arg("--agent")
        .arg(format!("127.0.0.1:{agent_port}"));
    match local {
        Local::Tcp => client_cmd.arg("--tcp").arg(format!("127.0.0.1:{tcp_port}")),
        Local::Pty => client_cmd.arg("--pty").arg(&link),
    };
    client_cmd
        .arg("--cert")
        .arg(&c.cert)
        .arg("--key")
        .arg(&c.key)
        .arg("--ca")
        .arg(&c.ca);
    let mut client = ChildGuard::spawn("serialctl", client_cmd, cx.work)?;
    let endpoint = match local {
        Local::Tcp => {
            wait_listening(tcp_port, &mut [&mut client, &mut agent], START_TIMEOUT)?;
            Endpoint::Tcp(loopback(tcp_port))
        }
        Local::Pty => {
            wait_for_link(&link, &mut [&mut client, &mut agent])?;
            Endpoint::Pty(link)
        }
    };
    Ok(Running {
        endpoint,
        procs: vec![client, agent],
    })
}

/// The pty endpoint is ready once its symlink exists (serialctl makes the
/// pty first and the link last).
fn wait_for_link(link: &Path, procs: &mut [&mut ChildGuard]) -> Result<()> {
    let deadline = Instant::now() + START_TIMEOUT;
    while std::fs::symlink_metadata(link).is_err() {
        for p in procs.iter_mut() {
            p.check_running()?;
        }
        if Instant::now() > deadline {
            bail!("{} did not appear within {START_TIMEOUT:?}", link.display());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

/// A path as a TOML basic string.
pub fn toml_str(p: &Path) -> String {
    let s = p.display().to_string();
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}
