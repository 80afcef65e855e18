//! `--scale`: one agent with many devices, all in use at once by one
//! sidecar, as a gateway host with every stick of the house on one agent
//! would run it; and the agent's footprint when idle with a few devices.
//!
//! Every device is its own pty echo; every endpoint its own connection and
//! thread doing 10-byte round trips at the same time, so the figures are
//! what each gateway sees while all the others are busy too.

use std::fmt::Write as _;
use std::fs;
use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::child::ChildGuard;
use crate::conn::Endpoint;
use crate::interrupt;
use crate::ports::{free_port, loopback, wait_listening};
use crate::procstat;
use crate::relays::serialmesh::toml_str;
use crate::relays::{Bins, Pki, START_TIMEOUT};
use serialmesh_io::EchoPty;

/// Devices on the idle agent, as in the target "RSS with 4 devices".
const IDLE_DEVICES: usize = 4;
/// How long the idle agent is watched for wake-ups.
const IDLE_WATCH: Duration = Duration::from_secs(5);
const FRAME: usize = 10;

pub struct Options {
    pub devices: usize,
    pub rounds: usize,
}

/// The agent alone, no session: memory and how often it wakes.
struct Idle {
    devices: usize,
    rss_kib: u64,
    wakeups_per_s: f64,
}

/// Every endpoint busy at once.
struct Load {
    devices: usize,
    samples: usize,
    p50_us: f64,
    p99_us: f64,
    max_us: f64,
    round_trips_per_s: f64,
    agent_cpu_pct: f64,
    sidecar_cpu_pct: f64,
    agent_rss_kib: u64,
    sidecar_rss_kib: u64,
}

pub fn run(bins: &Bins, pki: &Pki, tmp: &Path, opts: &Options) -> Result<String> {
    eprintln!("==> idle agent with {IDLE_DEVICES} devices");
    let idle = idle(bins, pki, &tmp.join("idle"))?;
    eprintln!("==> {} devices, all in use by one sidecar", opts.devices);
    let load = load(bins, pki, &tmp.join("load"), opts)?;
    Ok(report(&idle, &load, opts))
}

fn idle(bins: &Bins, pki: &Pki, work: &Path) -> Result<Idle> {
    fs::create_dir_all(work).with_context(|| format!("cannot create {}", work.display()))?;
    let devices = echo_devices(IDLE_DEVICES)?;
    let (mut agent, port) = start_agent(bins, pki, work, &devices)?;
    wait_listening(port, &mut [&mut agent], START_TIMEOUT)?;
    // Start-up work (certificates, mDNS registration) settles first.
    thread::sleep(Duration::from_secs(1));
    let before = context_switches(agent.pid())?;
    thread::sleep(IDLE_WATCH);
    let after = context_switches(agent.pid())?;
    agent.check_running()?;
    let rss_kib = procstat::usage(&[agent.pid()])?.rss_kib;
    Ok(Idle {
        devices: IDLE_DEVICES,
        rss_kib,
        wakeups_per_s: after.saturating_sub(before) as f64 / IDLE_WATCH.as_secs_f64(),
    })
}

fn load(bins: &Bins, pki: &Pki, work: &Path, opts: &Options) -> Result<Load> {
    fs::create_dir_all(work).with_context(|| format!("cannot create {}", work.display()))?;
    let devices = echo_devices(opts.devices)?;
    let (mut agent, agent_port) = start_agent(bins, pki, work, &devices)?;
    wait_listening(agent_port, &mut [&mut agent], START_TIMEOUT)?;

    // free_port() releases the port it found, so two calls may give the
    // same one: ask until every endpoint has a port of its own.
    let mut ports: Vec<u16> = Vec::new();
    while ports.len() < opts.devices {
        let p = free_port()?;
        if p != agent_port && !ports.contains(&p) {
            ports.push(p);
        }
    }
    let mut toml = String::new();
    let c = &pki.client;
    let _ = writeln!(toml, "[tls]");
    let _ = writeln!(toml, "cert = {}", toml_str(&c.cert));
    let _ = writeln!(toml, "key = {}", toml_str(&c.key));
    let _ = writeln!(toml, "ca = {}", toml_str(&c.ca));
    for (i, port) in ports.iter().enumerate() {
        let _ = writeln!(toml, "[[endpoint]]");
        let _ = writeln!(toml, "device = \"echo{i}@{}\"", crate::relays::pki::ZONE);
        let _ = writeln!(toml, "agent = \"127.0.0.1:{agent_port}\"");
        let _ = writeln!(toml, "tcp = \"127.0.0.1:{port}\"");
    }
    let config = work.join("client.toml");
    fs::write(&config, toml).with_context(|| format!("cannot write {}", config.display()))?;
    let mut cmd = Command::new(&bins.serialctl);
    cmd.arg("sidecar").arg("--config").arg(&config);
    let mut sidecar = ChildGuard::spawn("serialctl", cmd, work)?;
    for &port in &ports {
        wait_listening(port, &mut [&mut sidecar, &mut agent], START_TIMEOUT)?;
    }

    let mut conns = Vec::new();
    for &port in &ports {
        let mut conn = Endpoint::Tcp(loopback(port)).connect()?;
        // One echoed byte: the session is open before the clock starts.
        conn.write_all(b"!")?;
        let mut b = [0u8; 1];
        conn.read_exact(&mut b)
            .with_context(|| format!("endpoint {port} does not echo"))?;
        conns.push(conn);
    }

    let pids = [agent.pid(), sidecar.pid()];
    let cpu_before = [cpu_ms(pids[0])?, cpu_ms(pids[1])?];
    let barrier = Arc::new(Barrier::new(conns.len()));
    let started = Instant::now();
    let workers: Vec<_> = conns
        .into_iter()
        .enumerate()
        .map(|(i, mut conn)| {
            let (barrier, rounds) = (barrier.clone(), opts.rounds);
            thread::spawn(move || -> Result<Vec<Duration>> {
                barrier.wait();
                round_trips(&mut conn, i, rounds)
            })
        })
        .collect();
    let mut times = Vec::new();
    for w in workers {
        match w.join() {
            Ok(r) => times.extend(r?),
            Err(_) => bail!("a load thread panicked"),
        }
    }
    let wall = started.elapsed();
    let cpu_after = [cpu_ms(pids[0])?, cpu_ms(pids[1])?];
    let agent_rss_kib = procstat::usage(&[pids[0]])?.rss_kib;
    let sidecar_rss_kib = procstat::usage(&[pids[1]])?.rss_kib;
    agent.check_running()?;
    sidecar.check_running()?;

    times.sort_unstable();
    let pct = |p: f64| micros(times[((times.len() - 1) as f64 * p / 100.0).round() as usize]);
    let wall_ms = wall.as_secs_f64() * 1000.0;
    Ok(Load {
        devices: opts.devices,
        samples: times.len(),
        p50_us: pct(50.0),
        p99_us: pct(99.0),
        max_us: pct(100.0),
        round_trips_per_s: times.len() as f64 / wall.as_secs_f64(),
        agent_cpu_pct: (cpu_after[0] - cpu_before[0]) / wall_ms * 100.0,
        sidecar_cpu_pct: (cpu_after[1] - cpu_before[1]) / wall_ms * 100.0,
        agent_rss_kib,
        sidecar_rss_kib,
    })
}

/// 10-byte frames, each different and checked, as `measure::latency` does.
fn round_trips(conn: &mut crate::conn::Conn, seed: usize, rounds: usize) -> Result<Vec<Duration>> {
    let mut out = [0u8; FRAME];
    let mut back = [0u8; FRAME];
    let mut times = Vec::with_capacity(rounds);
    for i in 0..rounds {
        interrupt::check()?;
        for (j, b) in out.iter_mut().enumerate() {
            *b = (i.wrapping_mul(31) ^ seed.wrapping_mul(131) ^ j.wrapping_mul(7)) as u8;
        }
        let t0 = Instant::now();
        conn.write_all(&out)?;
        conn.read_exact(&mut back)
            .with_context(|| format!("endpoint {seed}: waiting for frame {i}"))?;
        times.push(t0.elapsed());
        if back != out {
            bail!("endpoint {seed}: frame {i} came back as {back:02x?}, sent {out:02x?}");
        }
    }
    Ok(times)
}

fn echo_devices(n: usize) -> Result<Vec<EchoPty>> {
    (0..n)
        .map(|i| EchoPty::start().with_context(|| format!("echo device {i}")))
        .collect()
}

fn start_agent(
    bins: &Bins,
    pki: &Pki,
    work: &Path,
    devices: &[EchoPty],
) -> Result<(ChildGuard, u16)> {
    let port = free_port()?;
    let mut toml = String::new();
    let _ = writeln!(toml, "name = \"{}\"", crate::relays::pki::AGENT_NAME);
    let _ = writeln!(toml, "zone = \"{}\"", crate::relays::pki::ZONE);
    let _ = writeln!(toml, "listen = \"127.0.0.1:{port}\"");
    let _ = writeln!(toml, "discovery = false");
    let _ = writeln!(toml, "[tls]");
    let _ = writeln!(toml, "cert = {}", toml_str(&pki.agent.cert));
    let _ = writeln!(toml, "key = {}", toml_str(&pki.agent.key));
    let _ = writeln!(toml, "ca = {}", toml_str(&pki.agent.ca));
    for (i, d) in devices.iter().enumerate() {
        let _ = writeln!(toml, "[[device]]");
        let _ = writeln!(toml, "name = \"echo{i}\"");
        let _ = writeln!(toml, "path = {}", toml_str(d.path()));
    }
    let config = work.join("agent.toml");
    fs::write(&config, toml).with_context(|| format!("cannot write {}", config.display()))?;
    let mut cmd = Command::new(&bins.seriald);
    cmd.arg("--config").arg(&config);
    Ok((ChildGuard::spawn("seriald", cmd, work)?, port))
}

/// Voluntary context switches of every thread of `pid`: each one is the
/// process going to sleep after a wake-up.
fn context_switches(pid: u32) -> Result<u64> {
    let dir = format!("/proc/{pid}/task");
    let mut total = 0;
    for task in fs::read_dir(&dir).with_context(|| format!("cannot list {dir}"))? {
        let status = fs::read_to_string(task?.path().join("status")).unwrap_or_default();
        total += status
            .lines()
            .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0);
    }
    Ok(total)
}

fn cpu_ms(pid: u32) -> Result<f64> {
    Ok(procstat::usage(&[pid])?.cpu_ms)
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn report(idle: &Idle, load: &Load, opts: &Options) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "## Scale\n");
    let _ = writeln!(
        s,
        "Idle agent, {} devices, no session: RSS {:.1} MiB, {:.1} wake-ups/s \
         (voluntary context switches over {} s).\n",
        idle.devices,
        idle.rss_kib as f64 / 1024.0,
        idle.wakeups_per_s,
        IDLE_WATCH.as_secs()
    );
    let _ = writeln!(
        s,
        "{} endpoints of one sidecar, each a session on its own device of one agent, \
         all doing {FRAME}-byte round trips at once ({} each):\n",
        load.devices, opts.rounds
    );
    let _ = writeln!(s, "| figure | value |\n| --- | --- |");
    let _ = writeln!(s, "| round trips | {} |", load.samples);
    let _ = writeln!(
        s,
        "| p50 / p99 / max (µs) | {:.0} / {:.0} / {:.0} |",
        load.p50_us, load.p99_us, load.max_us
    );
    let _ = writeln!(
        s,
        "| round trips per second, all endpoints | {:.0} |",
        load.round_trips_per_s
    );
    let _ = writeln!(
        s,
        "| agent CPU (% of one core) | {:.0} |",
        load.agent_cpu_pct
    );
    let _ = writeln!(
        s,
        "| sidecar CPU (% of one core) | {:.0} |",
        load.sidecar_cpu_pct
    );
    let _ = writeln!(
        s,
        "| agent RSS under load (MiB) | {:.1} |",
        load.agent_rss_kib as f64 / 1024.0
    );
    let _ = writeln!(
        s,
        "| sidecar RSS under load (MiB) | {:.1} |",
        load.sidecar_rss_kib as f64 / 1024.0
    );
    s
}
