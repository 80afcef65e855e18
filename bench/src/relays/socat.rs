//! socat as the reference relay: plain TCP, and mutual TLS in the same
//! shape as serialmesh (a local TCP port, an mTLS hop, a process serving
//! the pty), so the two rows compare like with like.
//!
//! Both listeners `fork`: each connection gets a child that opens the pty,
//! as ser2net and seriald open the device per session. `-t 0.05` because
//! socat's default half-second linger keeps a finished child reading the
//! pty and stealing the next connection's bytes (docs/facts.md, "Other relays").

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};

use super::pki::AGENT_NAME;
use super::{Running, StartContext, START_TIMEOUT};
use crate::child::ChildGuard;
use crate::conn::Endpoint;
use crate::ports::{free_port, loopback, wait_listening};

const LINGER: &str = "0.05";

fn device_address(device: &Path) -> String {
    format!("FILE:{},raw,echo=0", device.display())
}

fn socat(args: &[String]) -> Command {
    let mut cmd = Command::new("socat");
    cmd.arg("-t").arg(LINGER).args(args);
    cmd
}

pub fn start_tcp(cx: &StartContext) -> Result<Running> {
    let port = free_port()?;
    let mut relay = ChildGuard::spawn(
        "socat-tcp",
        socat(&[
            format!("TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,nodelay"),
            device_address(cx.device),
        ]),
        cx.work,
    )?;
    wait_listening(port, &mut [&mut relay], START_TIMEOUT)?;
    Ok(Running {
        endpoint: Endpoint::Tcp(loopback(port)),
        procs: vec![relay],
    })
}

/// A local relay in front of a device relay, both plain TCP.
pub fn start_tcp_two_hops(cx: &StartContext) -> Result<Running> {
    let inner = start_tcp(cx)?;
    let Endpoint::Tcp(device_relay) = inner.endpoint else {
        unreachable!("start_tcp serves TCP")
    };
    let mut procs = inner.procs;
    let port = free_port()?;
    let front = ChildGuard::spawn(
        "socat-tcp-front",
        socat(&[
            format!("TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,nodelay"),
            format!("TCP:{device_relay},nodelay"),
        ]),
        cx.work,
    )?;
    procs.insert(0, front);
    let mut guards: Vec<&mut ChildGuard> = procs.iter_mut().collect();
    wait_listening(port, &mut guards, START_TIMEOUT)?;
    Ok(Running {
        endpoint: Endpoint::Tcp(loopback(port)),
        procs,
    })
}

pub fn start_mtls(cx: &StartContext) -> Result<Running> {
    let pki = cx
        .pki
        .context("the socat mTLS relay needs certificates (internal error: none made)")?;
    let tls_port = free_port()?;
    let tcp_port = free_port()?;
    let (a, c) = (&pki.agent, &pki.client);
    // verify=1 on both ends: the server demands a client certificate from
    // our CA, the client checks the server's against it and its name.
    let mut server = ChildGuard::spawn(
        "socat-mtls-server",
        socat(&[
            format!(
                "OPENSSL-LISTEN:{tls_port},bind=127.0.0.1,reuseaddr,fork,nodelay,cert={},key={},cafile={},verify=1",
                a.cert.display(),
                a.key.display(),
                a.ca.display()
            ),
            device_address(cx.device),
        ]),
        cx.work,
    )?;
    wait_listening(tls_port, &mut [&mut server], START_TIMEOUT)?;
    let mut client = ChildGuard::spawn(
        "socat-mtls-client",
        socat(&[
            format!("TCP-LISTEN:{tcp_port},bind=127.0.0.1,reuseaddr,fork,nodelay"),
            format!(
                "OPENSSL:127.0.0.1:{tls_port},cert={},key={},cafile={},verify=1,commonname={AGENT_NAME},nodelay",
                c.cert.display(),
                c.key.display(),
                c.ca.display()
            ),
        ]),
        cx.work,
    )?;
    wait_listening(tcp_port, &mut [&mut client, &mut server], START_TIMEOUT)?;
    Ok(Running {
        endpoint: Endpoint::Tcp(loopback(tcp_port)),
        procs: vec![client, server],
    })
}
