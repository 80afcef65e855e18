//! Dialling an agent: TCP, mutual TLS, hello, open. Each phase has its own
//! timeout and its own error, so logs say exactly where it failed.

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use rustls_pki_types::ServerName;
use serialmesh_config::Address;
use serialmesh_io::ReadAhead;
use serialmesh_pki::{untrusted, Identity};
use serialmesh_proto::conn::{read_frame, write_frame_within, ConnError};
use serialmesh_proto::{
    Frame, Hello, Inventory, Open, Opened, ALPN, FEATURE_LINE_CONTROL, PROTOCOL_VERSION,
};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tracing::warn;

pub mod agent_text;
mod error;
pub mod pinned;
pub mod revocation;
pub mod serial_pin;
pub mod setup;

pub use error::{ConnFailure, DialError, Revoked, TlsFailure, TlsIo};

use revocation::Revocation;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
const REPLY_TIMEOUT: Duration = Duration::from_secs(5);

/// A connection to an agent once its handshake is done.
pub type AgentConn = tokio_rustls::client::TlsStream<ReadAhead<TcpStream>>;

/// An open session, ready for the relay.
pub struct Session {
    pub stream: AgentConn,
    /// Who the agent certificate the handshake accepted says the agent is.
    pub agent: Identity,
    /// Bytes read past the `Opened` frame; the relay must start with them.
    pub buf: BytesMut,
    pub opened: Opened,
    /// The agent understands line control frames (break, purge, modem
    /// lines); an older agent would close the session on them.
    pub line_control: bool,
}

/// What every dial needs: who we are and how we talk TLS.
pub struct Dialer {
    pub connector: TlsConnector,
    pub client_name: String,
    /// The agent certificates `connector` refuses; live sessions end when
    /// their agent joins them.
    pub revocation: Arc<Revocation>,
}

impl Dialer {
    pub fn new(
        mut config: rustls::ClientConfig,
        client_name: String,
        revocation: Arc<Revocation>,
    ) -> Self {
        config.alpn_protocols = vec![ALPN.to_vec()];
        Self {
            connector: TlsConnector::from(Arc::new(config)),
            client_name,
            revocation,
        }
    }

    async fn hello(
        &self,
        agent: &str,
    ) -> Result<(AgentConn, BytesMut, Hello, Identity), DialError> {
        let conn_err = |error: std::io::Error| DialError::Connect {
            agent: agent.to_string(),
            error,
        };
        let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(agent))
            .await
            .map_err(|_| {
                conn_err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("no answer within {CONNECT_TIMEOUT:?}"),
                ))
            })?
            .map_err(conn_err)?;
        tcp.set_nodelay(true).map_err(conn_err)?;
        // The verifier checks the CA, role and pins; the name is not used.
        let name =
            ServerName::try_from("serialmesh").map_err(|e| conn_err(std::io::Error::other(e)))?;
        let tls_err = |error: TlsFailure| DialError::Tls {
            agent: agent.to_string(),
            error,
        };
        let connect = self.connector.connect(name, ReadAhead::new(tcp));
        let mut stream = tokio::time::timeout(HANDSHAKE_TIMEOUT, connect)
            .await
            .map_err(|_| tls_err(TlsFailure::Timeout(HANDSHAKE_TIMEOUT)))?
            .map_err(|e| tls_err(TlsFailure::Handshake(TlsIo::new(e))))?;
        stream.get_mut().0.enable();
        let peer = peer_identity(&stream).map_err(tls_err)?;
        let hello = Frame::Hello(Hello {
            version: PROTOCOL_VERSION,
            software: format!("serialctl {}", env!("CARGO_PKG_VERSION")),
            name: self.client_name.clone(),
            zone: String::new(),
            features: Vec::new(),
            time: None,
        });
        let mut buf = BytesMut::new();
        write_frame_within(&mut stream, &hello, REPLY_TIMEOUT)
            .await
            .map_err(|e| conv(agent, e.into()))?;
        match reply(agent, &mut stream, &mut buf).await? {
            Frame::Hello(h) => {
                same_agent(agent, "hello", &peer, &h.name, &h.zone)?;
                Ok((stream, buf, h, peer))
            }
            other => Err(unexpected(agent, &other)),
        }
    }

    /// Opens `address` on the agent at `agent` (`host:port`); with
    /// `expect_serial`, only if the device has that USB serial number
    /// ([`serial_pin`]).
    pub async fn open(
        &self,
        agent: &str,
        address: &str,
        expect_serial: Option<&str>,
    ) -> Result<Session, DialError> {
        let (mut stream, mut buf, hello, peer) = self.hello(agent).await?;
        named_by(agent, address, &peer)?;
        let line_control = hello.features.iter().any(|f| f == FEATURE_LINE_CONTROL);
        let open = Frame::Open(Open {
            address: address.to_string(),
            settings: None,
            expect_serial: expect_serial.map(str::to_owned),
        });
        write_frame_within(&mut stream, &open, REPLY_TIMEOUT)
            .await
            .map_err(|e| conv(agent, e.into()))?;
        match reply(agent, &mut stream, &mut buf).await? {
            Frame::Opened(opened) => {
                same_agent(agent, "Opened frame", &peer, &opened.agent, &opened.zone)?;
                // Dropping the stream on a refusal ends the session the
                // agent opened: an agent that checks the pin never gets here.
                serial_pin::check(expect_serial, &opened).map_err(|reason| DialError::Refused {
                    agent: agent.to_string(),
                    reason,
                })?;
                Ok(Session {
                    agent: peer,
                    stream,
                    buf,
                    opened,
                    line_control,
                })
            }
            other => Err(unexpected(agent, &other)),
        }
    }

    /// Asks the agent at `agent` for its devices; also who its
    /// certificate says it is.
    pub async fn list(&self, agent: &str) -> Result<(Inventory, Identity), DialError> {
        self.probe(agent).await.map(|(_, inv, id)| (inv, id))
    }

    /// The agent's hello and its devices: every phase of a connection
    /// short of opening a device (for `serialctl doctor`).
    pub async fn probe(&self, agent: &str) -> Result<(Hello, Inventory, Identity), DialError> {
        let (mut stream, mut buf, hello, peer) = self.hello(agent).await?;
        write_frame_within(&mut stream, &Frame::List, REPLY_TIMEOUT)
            .await
            .map_err(|e| conv(agent, e.into()))?;
        match reply(agent, &mut stream, &mut buf).await? {
            Frame::Inventory(inv) => {
                same_agent(agent, "inventory", &peer, &inv.agent, &inv.zone)?;
                Ok((hello, inv, peer))
            }
            other => Err(unexpected(agent, &other)),
        }
    }
}

async fn reply(
    agent: &str,
    stream: &mut AgentConn,
    buf: &mut BytesMut,
) -> Result<Frame, DialError> {
    match tokio::time::timeout(REPLY_TIMEOUT, read_frame(stream, buf)).await {
        Err(_) => Err(DialError::Conn {
            agent: agent.to_string(),
            error: ConnFailure::Timeout(REPLY_TIMEOUT),
        }),
        Ok(Err(e)) => Err(conv(agent, e)),
        Ok(Ok(Frame::Close(reason))) => Err(DialError::Refused {
            agent: agent.to_string(),
            reason: agent_text::reason(reason),
        }),
        Ok(Ok(frame)) => Ok(agent_text::frame(frame)),
    }
}

fn unexpected(agent: &str, frame: &Frame) -> DialError {
    DialError::Conn {
        agent: agent.to_string(),
        error: ConnFailure::Unexpected(frame.frame_type()),
    }
}

fn conv(agent: &str, e: ConnError) -> DialError {
    let error = match e {
        // A TLS alert from the agent (e.g. our certificate was refused)
        // surfaces here, on the first read after the handshake.
        ConnError::Io(io) => ConnFailure::Io(TlsIo::new(io)),
        other => ConnFailure::Frame(other),
    };
    DialError::Conn {
        agent: agent.to_string(),
        error,
    }
}

/// Who the certificate the handshake verified says the agent is.
fn peer_identity(stream: &AgentConn) -> Result<Identity, TlsFailure> {
    let cert = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|certs| certs.first())
        .ok_or(TlsFailure::NoCertificate)?;
    Ok(serialmesh_pki::identity_of(cert)?)
}

/// An agent's frames must name the agent and zone its certificate carries
/// (a certificate without a zone: the zone is the name). Checked on every
/// frame that says who the agent is, so a rogue agent with a valid
/// certificate of one name cannot answer as another.
/// Whether the verified agent `peer` is the one `address` names by its
/// place (`zwave@shed`: the agent 'shed' or an agent in zone 'shed'), the
/// rule agents apply to the addresses they serve. Without it, any box with
/// any agent certificate that answers at a fixed address (a reused DHCP
/// lease, a spoofed name) would receive the gateway's traffic.
fn named_by(agent: &str, address: &str, peer: &Identity) -> Result<(), DialError> {
    let Ok(Address {
        place: Some(place), ..
    }) = address.parse::<Address>()
    else {
        return Ok(());
    };
    let zone = peer.zone.as_deref().unwrap_or(&peer.name);
    if place == peer.name || place == zone {
        return Ok(());
    }
    let err = DialError::NotThatAgent {
        agent: agent.to_string(),
        address: address.to_string(),
        certified: format!("agent '{}' in zone '{zone}', not '{place}'", peer.name),
        fingerprint: peer.fingerprint,
    };
    warn!("{err}");
    Err(err)
}

fn same_agent(
    agent: &str,
    frame: &'static str,
    peer: &Identity,
    name: &str,
    zone: &str,
) -> Result<(), DialError> {
    let certified_zone = peer.zone.as_deref().unwrap_or(&peer.name);
    if name == peer.name && zone == certified_zone {
        return Ok(());
    }
    let err = DialError::Impostor {
        agent: agent.to_string(),
        frame,
        claimed: format!("agent '{}' in zone '{}'", untrusted(name), untrusted(zone)),
        certified: format!("agent '{}' in zone '{certified_zone}'", peer.name),
        fingerprint: peer.fingerprint,
    };
    warn!("{err}");
    Err(err)
}
