//! Checking that a peer is an agent: the first half of a TLS 1.3
//! handshake, driven by hand.
//!
//! An agent has no client certificate (roles stay strict), so it cannot
//! finish a handshake with another agent. It does not need to: the peer's
//! first flight (ServerHello .. Certificate, CertificateVerify, Finished)
//! proves it holds the key of an agent certificate of the CA, and rustls
//! checks all of it, the pin included, before it has anything to say back.
//! At that point the prober hangs up without sending its own flight; the
//! peer sees a connection closed during the handshake, which it counts as
//! a port probe, not as a failed handshake (see `server.rs`).

use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection};
use serialmesh_pki::{identity_of, AgentProbe, Fingerprint, Identity};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The first of `addrs` that proves, within `timeout` each, to be an agent
/// (with key `pin` if given): the address and who it is.
pub async fn check(
    probe: &AgentProbe,
    addrs: &[String],
    pin: Option<Fingerprint>,
    timeout: Duration,
) -> Result<(String, Identity), String> {
    let config = probe.config(pin);
    let mut last = String::from("no address to try");
    for addr in addrs {
        match tokio::time::timeout(timeout, prove(config.clone(), addr)).await {
            Ok(Ok(identity)) => return Ok((addr.clone(), identity)),
            Ok(Err(e)) => last = format!("{addr}: {e}"),
            Err(_) => last = format!("{addr}: no answer within {timeout:?}"),
        }
    }
    Err(last)
}

async fn prove(config: Arc<ClientConfig>, addr: &str) -> Result<Identity, String> {
    let mut tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    // The name is not checked (agents are identified by CA, role and pin)
    // and not sent (no SNI).
    let name = ServerName::try_from("agent.serialmesh.invalid").map_err(|e| e.to_string())?;
    let mut tls = ClientConnection::new(config, name).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    while tls.is_handshaking() {
        // Only the ClientHello (and a second one after a retry request)
        // goes out; the last flight is never sent, see the module doc.
        while tls.wants_write() {
            out.clear();
            tls.write_tls(&mut out).map_err(|e| e.to_string())?;
            tcp.write_all(&out).await.map_err(|e| e.to_string())?;
        }
        let n = tcp.read(&mut buf).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("closed the connection during the TLS handshake".into());
        }
        let mut input = &buf[..n];
        while !input.is_empty() {
            tls.read_tls(&mut input).map_err(|e| e.to_string())?;
            tls.process_new_packets().map_err(|e| e.to_string())?;
        }
    }
    // The verifier accepted this certificate (CA, agent role, deny-list,
    // pin) and CertificateVerify proved the key: safe to read it.
    let cert = tls
        .peer_certificates()
        .and_then(|c| c.first())
        .ok_or("no certificate")?;
    identity_of(cert).map_err(|e| e.to_string())
}
