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

use serde_json::{json, Value};
use serialmesh_config::check_host_port;
use serialmesh_proto::{DeviceInfo, DeviceState};
use tokio_util::sync::CancellationToken;

use crate::dial::pinned::Dialers;
use crate::dial::setup::{client_setup, TlsSource};
use crate::resolve::{Resolver, Source, Survey, Unreached, MDNS_WINDOW};
use crate::utc::utc;
use crate::{Error, Result};

/// How long ls waits for agents' answers in all, mDNS window included:
/// an agent that has not answered by then (a host that is gone does not
/// even refuse the connection) is listed as unreachable, so ls stays well
/// under 2 s.
pub const DEADLINE: Duration = Duration::from_millis(1500);
/// How often `--watch` asks again when mDNS has nothing new to say (a
/// device plugged in, a client attached, an agent killed without goodbye).
pub const WATCH_EVERY: Duration = Duration::from_secs(2);

/// What `serialctl ls [--json] [--watch] [--seed HOST:PORT]...` was asked.
pub struct Request {
    /// JSON for scripts (docs/ls-json.md) instead of a table.
    pub json: bool,
    /// Print again whenever something changes.
    pub watch: bool,
    /// Agents to ask besides those on mDNS and the config's seeds.
    pub seeds: Vec<String>,
    /// `--agent-fingerprint`, as given (checked by [`run`]).
    pub agent_fingerprint: Option<String>,
    pub tls: Option<TlsSource>,
}

pub async fn run(args: Request, shutdown: CancellationToken) -> Result<()> {
    let setup = client_setup(args.tls.as_ref())?;
    if args.watch {
        setup.revocation.watch();
    }
    let mut seeds = setup.seeds;
    for seed in &args.seeds {
        check_host_port("--seed", seed).map_err(Error::usage)?;
    }
    seeds.extend(args.seeds);
    let pin = super::parse_pin(args.agent_fingerprint.as_deref())?;
    let dialers = Dialers::new(&setup.tls, setup.revocation)?.require(pin);
    let resolver = Resolver::new(Arc::new(dialers), seeds, true);
    if !args.watch {
        let survey = resolver.survey(MDNS_WINDOW, DEADLINE).await;
        emit(&render(&survey, args.json, false))?;
        warn_unreachable(&survey.unreachable);
        if survey.agents.is_empty() {
            return Err(Error::failed(format!(
                "no agent answered within {DEADLINE:?}; if the agents are on another network \
                 or VLAN, give one with --seed HOST:PORT (or seeds in the client config)"
            )));
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
        r => r.map_err(|source| Error::failed(CannotWrite { source })),
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
            Source::Peer { via } => format!("peer of {via}"),
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
                "via": match &u.source { Source::Peer { via } => Some(via), _ => None },
                "error": u.error.to_string(),
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

#[derive(Debug, thiserror::Error)]
#[error("cannot write to stdout: {source}")]
struct CannotWrite {
    source: std::io::Error,
}

#[cfg(test)]
#[path = "ls_tests.rs"]
mod tests;
