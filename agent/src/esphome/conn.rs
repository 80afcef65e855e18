//! One ESPHome client after its handshake: the API's setup messages, then
//! the device held for it and ZWaveProxyFrame payloads moved between the
//! socket and the tty in this task, in order, each byte once.
//!
//! The device is claimed when the client asks for DeviceInfo, because the
//! answer must say whether it gets the stick: zwave-js reads
//! `zwave_proxy_feature_flags` and refuses to start on 0, which is how a
//! busy, forbidden or missing device is refused (with the reason logged
//! here, since zwave-js has no field to show it). The claim follows the
//! mTLS path's rules: the same client replaces its own older session (a
//! restarted zwave-js must not wait for its half-open predecessor),
//! `takeover` devices go to the newcomer, others are busy.

use std::time::Duration;

use bytes::BytesMut;
use prost::Message;
use serialmesh_pki::{Identity, Role};
use serialmesh_proto::CloseReason;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tracing::{debug, info, warn};

use super::endpoint::Endpoint;
use super::keys::KeyFingerprint;
use super::port::{Held, Io, Lost};
use serialmesh_esphome::frame::{self, FrameError, MAX_FRAME};
use serialmesh_esphome::messages::{self as m, id, Incoming};
use serialmesh_esphome::noise::{ClientKey, Transport};

/// How long a client may take to accept what we send; the device is held
/// meanwhile.
const WRITE_WAIT: Duration = Duration::from_secs(5);
/// How long the device may take none of what waits for it (flow control
/// stuck) before the session ends.
const TTY_WRITE_WAIT: Duration = Duration::from_secs(5);
/// Client bytes decoded ahead of the device: beyond this the socket is not
/// read, so a fast client is slowed to the device's pace by TCP.
const TO_DEVICE_AHEAD: usize = 64 * 1024;

pub struct Conn<'a> {
    ep: &'a Endpoint,
    client: ClientKey,
    transport: Transport,
    stream: TcpStream,
    buf: BytesMut,
    out: Vec<u8>,
    /// Z-Wave bytes from the client not yet taken by the device, in order.
    to_device: Vec<u8>,
    /// The first message, read by [`Conn::prove`] before the session.
    first: Option<Incoming>,
}

/// Why a connection ended.
enum End {
    /// The client said goodbye or went away: nothing more to send.
    Client(String),
    /// We end it: the client is told with a DisconnectRequest.
    Stopped(CloseReason),
    Broken(String),
}

impl<'a> Conn<'a> {
    pub fn new(
        ep: &'a Endpoint,
        client: ClientKey,
        transport: Transport,
        stream: TcpStream,
        buf: BytesMut,
    ) -> Self {
        Conn {
            ep,
            client,
            transport,
            stream,
            buf,
            out: Vec::new(),
            to_device: Vec::new(),
            first: None,
        }
    }

    pub fn client_name(&self) -> &str {
        &self.client.name
    }

    /// Reads the first message within `within`: only the client that made
    /// the handshake can seal one, so this is what tells it from a replay
    /// of its first handshake message. The message is kept for the session.
    pub async fn prove(&mut self, within: Duration) -> Result<(), String> {
        match tokio::time::timeout(within, self.next()).await {
            Ok(Ok(msg)) => {
                self.first = Some(msg);
                Ok(())
            }
            Ok(Err(End::Client(why) | End::Broken(why))) => Err(why),
            Ok(Err(End::Stopped(r))) => Err(r.to_string()),
            Err(_) => Err(format!("no message within {within:?}")),
        }
    }

    pub async fn run(mut self) {
        info!("ESPHome client connected");
        let setup = tokio::time::timeout(self.ep.request_timeout, self.setup()).await;
        let end = match setup {
            Ok(Ok(Some(held))) => self.relay(held).await,
            Ok(Ok(None)) => End::Client("left before asking for the device".into()),
            Ok(Err(e)) => e,
            Err(_) => End::Client(format!(
                "asked for no device within {:?}",
                self.ep.request_timeout
            )),
        };
        match end {
            End::Client(why) => info!(%why, "ESPHome client disconnected"),
            End::Stopped(reason) => {
                info!(%reason, "ending ESPHome session");
                if self.send(id::DISCONNECT_REQUEST, &[]).is_ok() {
                    let _ = self.flush().await;
                }
            }
            End::Broken(why) => {
                self.ep.metrics.protocol_violations.inc();
                warn!(error = %why, "ESPHome client broke the protocol; closing");
            }
        }
    }

    /// Answers Hello and the like until DeviceInfo; then the device, if
    /// this client may have it now.
    async fn setup(&mut self) -> Result<Option<Held>, End> {
        loop {
            let msg = self.next().await?;
            debug!(?msg, "before the device");
            if self.answer(&msg)? {
                self.flush().await?;
                continue;
            }
            match msg {
                Incoming::DeviceInfo => {
                    let identity = Identity {
                        role: Role::Client,
                        name: self.client.name.clone(),
                        zone: None,
                        fingerprint: self.client.fingerprint(),
                    };
                    let gate = self.ep.authz.gate(&identity);
                    let held = if self.ep.keys.in_force(&self.client) {
                        Held::claim(self.ep, &gate).await
                    } else {
                        // Made before its key file changed: the key is no
                        // longer this client's.
                        Err(CloseReason::new(
                            serialmesh_proto::CloseReasonKind::NotAuthorised,
                            format!(
                                "the key of ESPHome client '{}' was revoked (its key file changed) after this connection was made",
                                self.client.name
                            ),
                        ))
                    };
                    self.ep.metrics.esphome_session(
                        &self.ep.device,
                        &self.client.name,
                        held.is_ok(),
                    );
                    let flags = match &held {
                        Ok(_) => m::ZWAVE_PROXY_ENABLED,
                        Err(reason) => {
                            self.ep.metrics.refused(&reason.kind.to_string());
                            warn!(%reason, "refused the device to the ESPHome client (told: no Z-Wave proxy)");
                            0
                        }
                    };
                    self.device_info(flags)?;
                    self.flush().await?;
                    return match held {
                        Ok(h) => Ok(Some(h)),
                        Err(reason) => Err(End::Client(format!("refused: {reason}"))),
                    };
                }
                Incoming::Disconnect => {
                    self.send(id::DISCONNECT_RESPONSE, &[])?;
                    let _ = self.flush().await;
                    return Ok(None);
                }
                _ => {}
            }
        }
    }

    /// The session: frames both ways until someone ends it.
    async fn relay(&mut self, mut held: Held) -> End {
        let mut subscribed = false;
        let mut tty = vec![0u8; 4096];
        let stop = held.stop();
        // Since when bytes wait for the device with none taken.
        let mut stalled: Option<tokio::time::Instant> = None;
        let end = loop {
            // Whole frames already read are handled before reading more.
            match self.handle_buffered(&mut subscribed).await {
                Ok(()) => {}
                Err(e) => break e,
            }
            if self.to_device.is_empty() {
                stalled = None;
            } else if stalled.is_none() {
                stalled = Some(tokio::time::Instant::now());
            }
            let room = self.to_device.len() < TO_DEVICE_AHEAD;
            let stall_at = stalled.map(|t| t + TTY_WRITE_WAIT);
            tokio::select! {
                biased;
                _ = stop.cancelled() => break End::Stopped(held.reason()),
                _ = tokio::time::sleep_until(stall_at.unwrap_or_else(tokio::time::Instant::now)), if stall_at.is_some() => {
                    break End::Stopped(CloseReason::new(
                        serialmesh_proto::CloseReasonKind::Timeout,
                        format!("the device took nothing for {TTY_WRITE_WAIT:?}"),
                    ));
                }
                r = self.stream.read_buf(&mut self.buf), if room => match r {
                    Ok(0) => break End::Client("closed the connection".into()),
                    Ok(_) => {}
                    Err(e) => break End::Client(format!("connection lost: {e}")),
                },
                r = held.io(&mut tty, subscribed, &self.to_device), if subscribed || !self.to_device.is_empty() => match r {
                    Ok(Io::Wrote(n)) => {
                        self.to_device.drain(..n);
                        // Progress: the stall clock starts again.
                        stalled = None;
                    }
                    Ok(Io::Read(n)) => {
                        self.ep.home_id.observe(&tty[..n]);
                        let body = m::ZWaveProxyFrame { data: tty[..n].to_vec() }.encode_to_vec();
                        if let Err(e) = self.send(id::ZWAVE_PROXY_FRAME, &body) {
                            break e;
                        }
                        if let Err(e) = self.flush().await {
                            break e;
                        }
                        held.sent_to_client(n);
                    }
                    Err(Lost::Stopped) => break End::Stopped(held.reason()),
                    Err(Lost::Gone(reason)) => break End::Stopped(reason),
                },
            }
        };
        held.close().await;
        end
    }

    async fn handle_buffered(&mut self, subscribed: &mut bool) -> Result<(), End> {
        while self.to_device.len() < TO_DEVICE_AHEAD {
            let Some(msg) = self.take()? else { break };
            if self.answer(&msg)? {
                continue;
            }
            match msg {
                Incoming::Frame(data) => self.to_device.extend_from_slice(&data),
                Incoming::Subscribe => {
                    debug!("subscribed to Z-Wave frames");
                    *subscribed = true;
                }
                Incoming::Unsubscribe => *subscribed = false,
                Incoming::DeviceInfo => self.device_info(m::ZWAVE_PROXY_ENABLED)?,
                Incoming::Disconnect => {
                    self.send(id::DISCONNECT_RESPONSE, &[])?;
                    let _ = self.flush().await;
                    return Err(End::Client("said goodbye".into()));
                }
                _ => {}
            }
        }
        self.flush().await
    }

    /// Messages answered the same way in every phase; true if handled.
    fn answer(&mut self, msg: &Incoming) -> Result<bool, End> {
        match msg {
            Incoming::Hello(h) => {
                debug!(client_info = %h.client_info, api = %format!("{}.{}", h.api_version_major, h.api_version_minor), "hello");
                let body = m::HelloResponse {
                    api_version_major: m::API_VERSION.0,
                    api_version_minor: m::API_VERSION.1,
                    server_info: format!("seriald {}", env!("CARGO_PKG_VERSION")),
                    name: self.ep.agent.clone(),
                }
                .encode_to_vec();
                self.send(id::HELLO_RESPONSE, &body)?;
            }
            Incoming::Connect => {
                let body = m::ConnectResponse {
                    invalid_password: false,
                }
                .encode_to_vec();
                self.send(id::CONNECT_RESPONSE, &body)?;
            }
            Incoming::Ping => self.send(id::PING_RESPONSE, &[])?,
            Incoming::ListEntities => self.send(id::LIST_ENTITIES_DONE_RESPONSE, &[])?,
            Incoming::SubscribeStates => {}
            Incoming::Other(id) => debug!(id, "message ignored"),
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn device_info(&mut self, flags: u32) -> Result<(), End> {
        let body = m::DeviceInfoResponse {
            name: format!("{}-{}", self.ep.agent, self.ep.device),
            esphome_version: format!("seriald {}", env!("CARGO_PKG_VERSION")),
            model: "serialmesh agent".into(),
            manufacturer: "serialmesh".into(),
            friendly_name: format!("{} on {}", self.ep.device, self.ep.agent),
            api_encryption_supported: true,
            zwave_proxy_feature_flags: flags,
            zwave_home_id: self.ep.home_id.get(),
            ..Default::default()
        }
        .encode_to_vec();
        self.send(id::DEVICE_INFO_RESPONSE, &body)
    }

    /// The next message, reading as needed.
    async fn next(&mut self) -> Result<Incoming, End> {
        if let Some(msg) = self.first.take() {
            return Ok(msg);
        }
        loop {
            if let Some(msg) = self.take()? {
                return Ok(msg);
            }
            self.buf.reserve(4096);
            match self.stream.read_buf(&mut self.buf).await {
                Ok(0) => return Err(End::Client("closed the connection".into())),
                Ok(_) => {}
                Err(e) => return Err(End::Client(format!("connection lost: {e}"))),
            }
        }
    }

    /// Decrypts and decodes one whole message from the buffer, if there.
    fn take(&mut self) -> Result<Option<Incoming>, End> {
        let payload = match frame::take(&mut self.buf, MAX_FRAME) {
            Ok(Some(p)) => p,
            Ok(None) => return Ok(None),
            Err(e) => return Err(End::Broken(e.to_string())),
        };
        let plain = self
            .transport
            .open(&payload)
            .map_err(|e| End::Broken(format!("cannot decrypt a frame: {e}")))?;
        let (msg_id, body) =
            frame::split_message(&plain).map_err(|e: FrameError| End::Broken(e.to_string()))?;
        Incoming::decode(msg_id, body)
            .map(Some)
            .map_err(|e| End::Broken(format!("message {msg_id}: {e}")))
    }

    fn send(&mut self, msg_id: u16, body: &[u8]) -> Result<(), End> {
        self.transport
            .seal(msg_id, body, &mut self.out)
            .map_err(|e| End::Broken(format!("cannot encrypt: {e}")))
    }

    async fn flush(&mut self) -> Result<(), End> {
        if self.out.is_empty() {
            return Ok(());
        }
        let write = tokio::time::timeout(WRITE_WAIT, self.stream.write_all(&self.out)).await;
        self.out.clear();
        match write {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(End::Client(format!("connection lost: {e}"))),
            Err(_) => Err(End::Client(format!("read nothing for {WRITE_WAIT:?}"))),
        }
    }
}
