//! Healing after an agent restart, as a gateway sees it: `serialctl
//! connect` holds the application's TCP connection while `seriald` is
//! killed (SIGKILL, as the OOM killer or a node drain would) and started
//! again after an outage. Measured is the time from the new agent
//! listening to the first byte echoed through the connection that was
//! held all along. zwave-js gives up on a port after about ten seconds of
//! failed reopens, and the client must not leave a healed agent idle for a
//! backoff period: the target is 300 ms whatever the outage.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::child::ChildGuard;
use crate::conn::Endpoint;
use crate::ports::wait_listening;
use crate::relays::serialmesh::{self, Local};
use crate::relays::{Bins, StartContext, START_TIMEOUT};

/// The target of the issue that asked for this row.
pub const TARGET: Duration = Duration::from_millis(300);
/// Longer than any healing: a probe that never comes back fails the run.
const GIVE_UP: Duration = Duration::from_secs(20);

/// One outage and how long after the agent listened again bytes flowed.
pub struct Healing {
    pub outage: Duration,
    pub after_listening: Duration,
}

/// Kills and restarts the agent of a `serialctl connect` → `seriald` relay
/// once per outage, with one application connection held throughout.
pub fn measure(cx: &StartContext, bins: &Bins, outages: &[Duration]) -> Result<Vec<Healing>> {
    let mut relay = serialmesh::start(cx, Some(bins), Local::Tcp)?;
    let Endpoint::Tcp(addr) = relay.endpoint.clone() else {
        bail!("the serialmesh TCP relay has no TCP endpoint (internal error)");
    };
    let config = cx.work.join("agent.toml");
    let port = listen_port(&config)?;
    let mut app = TcpStream::connect(addr).with_context(|| format!("cannot connect to {addr}"))?;
    app.set_nodelay(true).context("TCP_NODELAY")?;
    first_echo(&mut app, GIVE_UP).context("echo before the first outage")?;

    let mut healed = Vec::new();
    for &outage in outages {
        // The relay's processes are [client, agent].
        let agent = relay
            .procs
            .pop()
            .context("no agent process (internal error)")?;
        // SAFETY: kill(2) has no memory-safety preconditions.
        unsafe {
            libc::kill(agent.pid() as i32, libc::SIGKILL);
        }
        drop(agent);
        std::thread::sleep(outage);
        let mut cmd = Command::new(&bins.seriald);
        cmd.arg("--config").arg(&config);
        let mut agent = ChildGuard::spawn("seriald", cmd, cx.work)?;
        wait_listening(port, &mut [&mut agent], START_TIMEOUT)?;
        let listening = Instant::now();
        let echoed = first_echo(&mut app, GIVE_UP)
            .with_context(|| format!("no echo after a {outage:?} outage"))?;
        healed.push(Healing {
            outage,
            after_listening: echoed.duration_since(listening),
        });
        relay.procs.push(agent);
    }
    Ok(healed)
}

/// Writes a probe byte every 2 ms until one comes back and returns when
/// that was; then waits for the connection to go quiet (probes still in
/// flight), so the next measurement starts clean.
fn first_echo(app: &mut TcpStream, within: Duration) -> Result<Instant> {
    let start = Instant::now();
    let mut buf = [0u8; 256];
    app.set_read_timeout(Some(Duration::from_millis(2)))?;
    loop {
        if start.elapsed() > within {
            bail!("nothing echoed within {within:?}");
        }
        app.write_all(b".")
            .context("the held connection was closed")?;
        match app.read(&mut buf) {
            Ok(0) => bail!("the endpoint closed the held connection"),
            Ok(_) => break,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => return Err(e).context("reading the held connection"),
        }
    }
    let echoed = Instant::now();
    app.set_read_timeout(Some(Duration::from_millis(200)))?;
    while matches!(app.read(&mut buf), Ok(n) if n > 0) {}
    Ok(echoed)
}

/// The agent's port, from the `listen` line its config was written with.
fn listen_port(config: &std::path::Path) -> Result<u16> {
    let text = std::fs::read_to_string(config)
        .with_context(|| format!("cannot read {}", config.display()))?;
    text.lines()
        .find_map(|l| l.strip_prefix("listen = \"127.0.0.1:"))
        .and_then(|rest| rest.trim_end_matches('"').parse().ok())
        .with_context(|| format!("no listen address in {}", config.display()))
}

/// The markdown section for the report.
pub fn markdown(healed: &[Healing]) -> String {
    let mut s = String::from(
        "\n### Healing after an agent restart (serialctl connect → seriald, SIGKILL, one held connection)\n\n\
         | outage | bytes flow again after the agent listens | target |\n| ---: | ---: | --- |\n",
    );
    for h in healed {
        let ms = h.after_listening.as_secs_f64() * 1e3;
        let met = if h.after_listening <= TARGET {
            "met"
        } else {
            "**NOT met**"
        };
        s.push_str(&format!(
            "| {:.0} s | {ms:.1} ms | ≤ {} ms: {met} |\n",
            h.outage.as_secs_f64(),
            TARGET.as_millis()
        ));
    }
    s
}
