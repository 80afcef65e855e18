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

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Result;
use serialmesh_config::{check_host_port, ClientConfig, TlsConfig};

use crate::revocation::Revocation;

pub use report::{Level, Report};

/// `serialctl doctor [--config FILE | --cert/--key/--ca] [--agent HOST:PORT]...`
#[derive(clap::Args)]
pub struct DoctorArgs {
    /// Also check the agent at HOST:PORT (repeatable). The config's
    /// endpoint agents and seeds are checked too; with none of these, the
    /// agents that answer on mDNS are.
    #[arg(long = "agent", value_name = "HOST:PORT")]
    pub agents: Vec<String>,
    /// Client config to check (its [tls], seeds and endpoints).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["cert", "key", "ca"])]
    pub config: Option<PathBuf>,
    /// This client's certificate.
    #[arg(long, value_name = "FILE", requires_all = ["key", "ca"])]
    pub cert: Option<PathBuf>,
    /// This client's private key.
    #[arg(long, value_name = "FILE", requires_all = ["cert", "ca"])]
    pub key: Option<PathBuf>,
    /// The CA certificate agents must chain to.
    #[arg(long, value_name = "FILE", requires_all = ["cert", "key"])]
    pub ca: Option<PathBuf>,
    /// Agent certificates this client refuses (as `connect --revoked-file`),
    /// so a revoked agent is reported as refused, not as fine.
    #[arg(long, value_name = "FILE", requires_all = ["cert", "key", "ca"])]
    pub revoked_file: Option<PathBuf>,
}

/// Runs every check, printing as it goes; `Ok(false)` when one FAILed.
pub async fn run(args: DoctorArgs) -> Result<bool> {
    let mut report = Report::stdout();
    let mut agents: Vec<String> = Vec::new();
    for agent in &args.agents {
        match check_host_port("--agent", agent) {
            Ok(()) => agents.push(agent.clone()),
            Err(e) => report.fail("agent", e, "give HOST:PORT, e.g. --agent shed.lan:21317"),
        }
    }
    let tls = match (&args.config, &args.cert, &args.key, &args.ca) {
        (Some(path), ..) => config(&mut report, path, &mut agents),
        (None, Some(cert), Some(key), Some(ca)) => {
            let tls = TlsConfig {
                cert: cert.clone(),
                key: key.clone(),
                ca: ca.clone(),
            };
            match Revocation::load(Vec::new(), args.revoked_file.clone()) {
                Ok(revocation) => Some((tls, revocation)),
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
        _ => {
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
    Ok(report.finish())
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
