//! mDNS and agent findings.

use std::time::Duration;

use serialmesh_proto::discovery::SERVICE_TYPE;

use super::{clock, Report};
use crate::dial::pinned::Dialers;
use crate::dial::{DialError, Revoked, TlsFailure, TlsIo};

/// How long doctor listens for mDNS answers: a healthy LAN answers within
/// 250 ms (see resolve::MDNS_WINDOW), and the browser asks again after 1 s.
const MDNS_WAIT: Duration = Duration::from_millis(1100);

/// Browses for agents; returns the first address of each that answered.
pub async fn mdns(report: &mut Report) -> Vec<String> {
    let topic = "mDNS";
    let agents = match crate::resolve::browse_once(MDNS_WAIT).await {
        Ok(a) => a,
        Err(e) => {
            report.warn(
                topic,
                format!("cannot browse: {e}"),
                "mDNS needs a multicast-capable interface (host network in Kubernetes); without it, list agents in `seeds`",
            );
            return Vec::new();
        }
    };
    if agents.is_empty() {
        report.warn(
            topic,
            format!("no agent answered for {SERVICE_TYPE} within {MDNS_WAIT:?}"),
            "normal where multicast does not reach (another VLAN or subnet, a pod network): \
             list agents in the config's `seeds` (or --agent); otherwise check that seriald runs \
             and that UDP port 5353 is not filtered",
        );
        return Vec::new();
    }
    let list: Vec<String> = agents
        .iter()
        .map(|a| {
            format!(
                "{} (zone {}) at {}",
                a.name.as_deref().unwrap_or("?"),
                a.zone.as_deref().unwrap_or("?"),
                a.addrs.join(" or ")
            )
        })
        .collect();
    report.ok(
        topic,
        format!("{} agents answered: {}", agents.len(), list.join("; ")),
    );
    agents
        .iter()
        .filter_map(|a| a.addrs.first().cloned())
        .collect()
}

/// TCP, mutual TLS, hello and inventory with each agent, one after the
/// other (each has its own timeouts; a dead host takes 3 s).
pub async fn agents(report: &mut Report, dialers: &Dialers, agents: &[String]) {
    let dialer = match dialers.get(None) {
        Ok(d) => d,
        Err(e) => {
            report.fail("agents", e, "fix the certificate findings above");
            return;
        }
    };
    for addr in agents {
        let topic = format!("agent {addr}");
        match dialer.probe(addr).await {
            Ok((hello, inv, _)) => {
                let mut names: Vec<&str> = inv.devices.iter().map(|d| d.name.as_str()).collect();
                names.sort_unstable();
                report.ok(
                    &topic,
                    format!(
                        "TCP, mutual TLS and hello OK: agent '{}' in zone '{}' ({}), {} devices{}{}",
                        hello.name,
                        hello.zone,
                        hello.software,
                        names.len(),
                        if names.is_empty() { "" } else { ": " },
                        names.join(", ")
                    ),
                );
                if let Some(t) = hello.time {
                    clock::compare(report, &hello.name, t);
                }
            }
            Err(e) => {
                let fix = match &e {
                    DialError::Connect { .. } => {
                        "check that seriald runs there and listens on that port (default 21317), \
                         that the host name resolves, and that no firewall drops it"
                    }
                    DialError::Tls {
                        error: TlsFailure::Handshake(TlsIo {
                            revoked: Some(Revoked::ByUs),
                            ..
                        }),
                        ..
                    } => {
                        "the agent presents a certificate this client revoked: if the host was \
                         given a new certificate, install it there; otherwise it is refused on purpose"
                    }
                    DialError::Tls {
                        error: TlsFailure::Handshake(TlsIo {
                            revoked: Some(Revoked::Us),
                            ..
                        }),
                        ..
                    } => {
                        "issue this client a new certificate (`serialctl pki issue --role client`); \
                         the agent refuses the revoked one"
                    }
                    DialError::Tls { .. } => {
                        "the agent's certificate must be an agent certificate from the same CA as \
                         this client's (compare `serialctl pki show` of both), and this client's \
                         must be a client certificate of the agent's CA"
                    }
                    DialError::Conn { .. } => {
                        "the agent closed the connection after TLS: usually it refused this \
                         client's certificate (look at the agent's log), or it is not seriald"
                    }
                    DialError::Refused { .. } => "see the agent's reason above",
                    DialError::Impostor { .. } => {
                        "the agent's name and zone must be the ones its certificate carries: remove \
                         `name`/`zone` from its config, or issue it a certificate with the right ones; \
                         if it is not your agent, revoke its certificate"
                    }
                    DialError::NotThatAgent { .. } => {
                        "the address reaches another agent than the device address names: fix the                          agent address, or pin the agent you mean with agent_fingerprint"
                    }
                };
                report.fail(&topic, e, fix);
            }
        }
    }
}
