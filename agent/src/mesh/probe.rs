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
//! a port probe, not as a failed handshake (see `listener/server.rs`).

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
) -> Result<(String, Identity), CheckError> {
    let config = probe.config(pin);
    let mut last = CheckError::NoAddress;
    for addr in addrs {
        match tokio::time::timeout(timeout, prove(config.clone(), addr)).await {
            Ok(Ok(identity)) => return Ok((addr.clone(), identity)),
            Ok(Err(source)) => {
                last = CheckError::Failed {
                    addr: addr.clone(),
                    source,
                }
            }
            Err(_) => {
                last = CheckError::Silent {
                    addr: addr.clone(),
                    timeout,
                }
            }
        }
    }
    Err(last)
}

/// Why no address of a peer proved it an agent (the last one tried).
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("no address to try")]
    NoAddress,
    #[error("{addr}: {source}")]
    Failed {
        addr: String,
        #[source]
        source: ProveError,
    },
    #[error("{addr}: no answer within {timeout:?}")]
    Silent { addr: String, timeout: Duration },
}

/// Why one address did not prove to be an agent.
#[derive(Debug, thiserror::Error)]
pub enum ProveError {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Tls(#[from] rustls::Error),
    #[error(transparent)]
    Name(#[from] rustls::pki_types::InvalidDnsNameError),
    #[error("closed the connection during the TLS handshake")]
    Closed,
    #[error("no certificate")]
    NoCertificate,
    #[error(transparent)]
    Identity(#[from] serialmesh_pki::PkiError),
}

async fn prove(config: Arc<ClientConfig>, addr: &str) -> Result<Identity, ProveError> {
    let mut tcp = TcpStream::connect(addr).await?;
    // The name is not checked (agents are identified by CA, role and pin)
    // and not sent (no SNI).
    let name = ServerName::try_from("agent.serialmesh.invalid")?;
    let mut tls = ClientConnection::new(config, name)?;
    let mut out = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    while tls.is_handshaking() {
        // Only the ClientHello (and a second one after a retry request)
        // goes out; the last flight is never sent, see the module doc.
        while tls.wants_write() {
            out.clear();
            tls.write_tls(&mut out)?;
            tcp.write_all(&out).await?;
        }
        let n = tcp.read(&mut buf).await?;
        if n == 0 {
            return Err(ProveError::Closed);
        }
        let mut input = &buf[..n];
        while !input.is_empty() {
            tls.read_tls(&mut input)?;
            tls.process_new_packets()?;
        }
    }
    // The verifier accepted this certificate (CA, agent role, deny-list,
    // pin) and CertificateVerify proved the key: safe to read it.
    let cert = tls
        .peer_certificates()
        .and_then(|c| c.first())
        .ok_or(ProveError::NoCertificate)?;
    Ok(identity_of(cert)?)
}
