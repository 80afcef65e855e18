//! `serialctl ls`: every zone, agent and device, and who is using each.
//!
//! Agents are found on mDNS (answers collected for
//! [`crate::resolve::MDNS_WINDOW`]) and through seeds, asked over mutual TLS
//! for their inventories, and the peers they report are asked in turn, all
//! at once; whatever has not answered after [`DEADLINE`] is reported as
//! unreachable. On a LAN that is about 0.5 s in all.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Result};
use serde_json::{json, Value};
use serialmesh_config::check_host_port;
use serialmesh_proto::{DeviceInfo, DeviceState};
use tokio_util::sync::CancellationToken;

use crate::cli::TlsArgs;
use crate::dial_pinned::{client_setup, Dialers};
use crate::resolve::{Resolver, Survey, Unreached, MDNS_WINDOW};
use crate::UsageError;

/// How long ls waits for agents' answers in all, mDNS window included:
/// an agent that has not answered by then (a host that is gone does not
/// even refuse the connection) is listed as unreachable, so ls stays well
/// under 2 s.
pub const DEADLINE: Duration = Duration::from_millis(1500);
/// How often `--watch` asks again when mDNS has nothing new to say (a
/// device plugged in, a client attached, an agent killed without goodbye).
pub const WATCH_EVERY: Duration = Duration::from_secs(2);

/// `serialctl ls [--json] [--watch] [--seed HOST:PORT]... [--config FILE]`
#[derive(clap::Args)]
pub struct LsArgs {
    /// Print JSON for scripts (schema: docs/ls-json.md) instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Keep running and print again whenever something changes (with
    /// --json: one JSON document per line).
    #[arg(long)]
    pub watch: bool,
    /// Also ask the agent at HOST:PORT, for networks mDNS does not reach;
    /// repeatable, added to the config's seeds.
    #[arg(long = "seed", value_name = "HOST:PORT")]
    pub seeds: Vec<String>,
    /// Accept only the agent certificate with this SHA-256 fingerprint;
    /// every other agent is listed as unreachable, with the reason.
    #[arg(long, value_name = "HEX")]
    pub agent_fingerprint: Option<String>,
    #[command(flatten)]
    pub tls: TlsArgs,
}

pub async fn run(args: LsArgs, shutdown: CancellationToken) -> Result<()> {
    let setup = client_setup(&args.tls)?;
    if args.watch {
        setup.revocation.watch();
    }
    let mut seeds = setup.seeds;
    for seed in &args.seeds {
        check_host_port("--seed", seed).map_err(UsageError)?;
    }
    seeds.extend(args.seeds);
    let pin = crate::connect::parse_pin(args.agent_fingerprint.as_deref())?;
    let dialers = Dialers::new(&setup.tls, setup.revocation)?.require(pin);
    let resolver = Resolver::new(Arc::new(dialers), seeds, true);
    if !args.watch {
        let survey = resolver.survey(MDNS_WINDOW, DEADLINE).await;
        emit(&render(&survey, args.json, false))?;
        warn_unreachable(&survey.unreachable);
        if survey.agents.is_empty() {
            return Err(anyhow!(
                "no agent answered within {DEADLINE:?}; if the agents are on another network \
                 or VLAN, give one with --seed HOST:PORT (or seeds in the client config)"
            ));
        }
        return Ok(());
    }
    let clear = !args.json && std::io::stdout().is_terminal();
    let mut last = String::new();
    loop {
        let survey = resolver.survey(MDNS_WINDOW, DEADLINE).await;
        let text = render(&survey, args.json, true);
        if text != last {
            emit(&format!(
                "{}{text}",
                if clear { "\x1b[H\x1b[2J" } else { "" }
            ))?;
            warn_unreachable(&survey.unreachable);
            last = text;
        }
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            _ = resolver.changed() => {}
            _ = tokio::time::sleep(WATCH_EVERY) => {}
        }
    }
}

/// The table, or JSON (pretty once, one line per change in watch mode).
pub fn render(survey: &Survey, as_json: bool, watching: bool) -> String {
    if !as_json {
        return table(survey);
    }
    let doc = to_json(survey);
    let text = if watching {
        serde_json::to_string(&doc)
    } else {
        serde_json::to_string_pretty(&doc)
    };
    text.unwrap_or_default() + "\n"
}

fn emit(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        // `serialctl ls | head`: the reader is done, and so are we.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        r => r.map_err(|e| anyhow!("cannot write to stdout: {e}")),
    }
}

fn warn_unreachable(unreachable: &[Unreached]) {
    for u in unreachable {
        let name = u
            .name
            .as_deref()
            .map(|n| format!(" '{n}'"))
            .unwrap_or_default();
        let how = match &u.source {
            crate::resolve::Source::Peer { via } => format!("peer of {via}"),
            s => s.as_str().to_string(),
        };
        eprintln!(
            "serialctl: agent{name} at {} ({how}) did not answer: {}",
            u.addrs.join(" or "),
            u.error
        );
    }
}

const HEADER: [&str; 7] = [
    "ZONE", "AGENT", "DEVICE", "PROFILE", "USB ID", "SERIAL", "STATE",
];

/// Rows sorted by zone, agent and device, a blank line between zones; an
/// agent without devices still gets a row, so every zone shows.
pub fn table(survey: &Survey) -> String {
    let mut rows: Vec<Option<[String; 7]>> = vec![Some(HEADER.map(String::from))];
    let mut zone: Option<&str> = None;
    for r in &survey.agents {
        let inv = &r.inventory;
        if zone.is_some_and(|z| z != inv.zone) {
            rows.push(None);
        }
        zone = Some(&inv.zone);
        let mut devices: Vec<&DeviceInfo> = inv.devices.iter().collect();
        devices.sort_by(|a, b| a.name.cmp(&b.name));
        if devices.is_empty() {
            rows.push(Some([
                inv.zone.clone(),
                inv.agent.clone(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                "(no devices)".into(),
            ]));
        }
        for d in devices {
            let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
            rows.push(Some([
                inv.zone.clone(),
                inv.agent.clone(),
                d.name.clone(),
                opt(&d.profile),
                opt(&d.usb_id),
                opt(&d.serial),
                state_text(&d.state),
            ]));
        }
    }
    let mut widths = [0usize; 7];
    for row in rows.iter().flatten() {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in &rows {
        if let Some(row) = row {
            let line: Vec<String> = row
                .iter()
                .zip(widths)
                .map(|(cell, w)| format!("{cell:<w$}"))
                .collect();
            out.push_str(line.join("  ").trim_end());
        }
        out.push('\n');
    }
    out
}

fn state_text(state: &DeviceState) -> String {
    match state {
        DeviceState::Free => "free".into(),
        DeviceState::InUse { client, since } => {
            format!("in use by {client} since {}", utc(*since))
        }
        DeviceState::Gone => "gone".into(),
    }
}

/// `2024-05-01T12:00:03Z` from Unix seconds (the agent's clock, which may
/// be wrong: it is shown as the agent reported it).
pub fn utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Days to civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The `--json` document (docs/ls-json.md).
pub fn to_json(survey: &Survey) -> Value {
    let agents: Vec<Value> = survey
        .agents
        .iter()
        .map(|r| {
            let inv = &r.inventory;
            json!({
                "name": inv.agent,
                "zone": inv.zone,
                "address": r.addr,
                "source": r.source.as_str(),
                "fingerprint": r.fingerprint.to_string(),
                "devices": inv.devices.iter().map(device_json).collect::<Vec<_>>(),
                "peers": inv.peers,
            })
        })
        .collect();
    let unreachable: Vec<Value> = survey
        .unreachable
        .iter()
        .map(|u| {
            json!({
                "addresses": u.addrs,
                "name": u.name,
                "source": u.source.as_str(),
                "via": match &u.source { crate::resolve::Source::Peer { via } => Some(via), _ => None },
                "error": u.error,
            })
        })
        .collect();
    json!({ "schema": 1, "agents": agents, "unreachable": unreachable })
}

fn device_json(d: &DeviceInfo) -> Value {
    let (state, client, since) = match &d.state {
        DeviceState::Free => ("free", None, None),
        DeviceState::InUse { client, since } => ("in_use", Some(client), Some(since)),
        DeviceState::Gone => ("gone", None, None),
    };
    json!({
        "name": d.name,
        "address": d.address,
        "path": d.path,
        "profile": d.profile,
        "usb_id": d.usb_id,
        "serial": d.serial,
        "product": d.product,
        "settings": d.settings,
        "state": state,
        "client": client,
        "since": since,
    })
}

#[cfg(test)]
#[path = "ls_tests.rs"]
mod tests;
