//! `serialctl doctor`: checks a client's setup and the agents it would use,
//! one finding per line (OK, INFO, WARN, FAIL), each problem with what to
//! do about it. Exit status 1 when anything FAILed.
//!
//! Every check runs even when an earlier one failed, as far as it can: a
//! broken certificate says nothing about mDNS or the clock, and an admin
//! fixing a host wants the whole list at once.

mod clock;
mod network;
mod report;
mod tls;

use std::sync::Arc;

use serialmesh_config::{check_host_port, ClientConfig, TlsConfig};

use crate::dial::revocation::Revocation;
use crate::dial::setup::TlsSource;

pub use report::{Level, Report};

/// What `serialctl doctor [--config FILE | --cert/--key/--ca] [--agent
/// HOST:PORT]...` was asked to check.
pub struct Request {
    /// Agents named on the command line (`HOST:PORT`, checked by [`run`]).
    pub agents: Vec<String>,
    /// `None`: no certificate was named, which is itself a finding.
    pub tls: Option<TlsSource>,
}

/// Runs every check, printing as it goes; `false` when one FAILed.
pub async fn run(args: Request) -> bool {
    let mut report = Report::stdout();
    let mut agents: Vec<String> = Vec::new();
    for agent in &args.agents {
        match check_host_port("--agent", agent) {
            Ok(()) => agents.push(agent.clone()),
            Err(e) => report.fail("agent", e, "give HOST:PORT, e.g. --agent shed.lan:21317"),
        }
    }
    let tls = match &args.tls {
        Some(TlsSource::Config(path)) => config(&mut report, path, &mut agents),
        Some(TlsSource::Files { tls, revoked_file }) => {
            match Revocation::load(Vec::new(), revoked_file.clone()) {
                Ok(revocation) => Some((tls.clone(), revocation)),
                Err(e) => {
                    report.fail(
                        "revoked file",
                        e,
                        "give the file `serialctl pki revoke` writes (an empty file revokes nothing)",
                    );
                    None
                }
            }
        }
        None => {
            report.fail(
                "certificate",
                "no client certificate given",
                "give --config FILE (the sidecar's config) or --cert FILE --key FILE --ca FILE",
            );
            None
        }
    };
    let dialers = match &tls {
        Some((tls, revocation)) => tls::check(&mut report, tls, revocation.clone()),
        None => None,
    };
    let found = network::mdns(&mut report).await;
    clock::local(&mut report);
    if agents.is_empty() {
        // Nothing named: the agents mDNS found are the ones this host
        // would use.
        agents = found;
    }
    match &dialers {
        Some(d) => network::agents(&mut report, d, &agents).await,
        None if !agents.is_empty() => report.warn(
            "agents",
            format!(
                "not checked ({}): no usable client certificate",
                agents.join(", ")
            ),
            "fix the certificate findings above, then run doctor again",
        ),
        None => {}
    }
    report.finish()
}

/// The config's findings; its `[tls]` table if it has one, and its agents
/// (endpoint agents and seeds) added to `agents`.
fn config(
    report: &mut Report,
    path: &std::path::Path,
    agents: &mut Vec<String>,
) -> Option<(TlsConfig, Arc<Revocation>)> {
    let topic = format!("config {}", path.display());
    let config = match ClientConfig::load(path) {
        Ok(c) => c,
        Err(e) => {
            report.fail(&topic, e, "correct the file at the line and column shown");
            return None;
        }
    };
    report.ok(
        &topic,
        format!(
            "parses: {} endpoints, {} seeds",
            config.endpoints.len(),
            config.seeds.len()
        ),
    );
    for a in config
        .endpoints
        .iter()
        .filter_map(|e| e.agent.clone())
        .chain(config.seeds)
    {
        if !agents.contains(&a) {
            agents.push(a);
        }
    }
    if config.tls.is_none() {
        report.fail(
            &topic,
            "no [tls] table",
            "add [tls] with cert, key and ca of this client",
        );
    }
    let revocation = match Revocation::load(config.revoked, config.revoked_file) {
        Ok(r) => r,
        Err(e) => {
            report.fail(
                &topic,
                e,
                "create the revoked file (an empty one revokes nothing) or fix revoked_file",
            );
            return None;
        }
    };
    let revoked = revocation.deny_list().len();
    if revoked > 0 {
        report.info(
            &topic,
            format!("{revoked} agent certificate(s) revoked: agents presenting them are refused"),
        );
    }
    config.tls.map(|tls| (tls, revocation))
}
