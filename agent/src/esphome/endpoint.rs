//! One `[[esphome]]` listener: accept, bound the handshakes in flight, run
//! the Noise handshake under a deadline, then hand the connection to its
//! session (`conn.rs`). Everything before the key is proven is cheap and
//! bounded: a handshake frame is at most 128 bytes, a key trial is a hash
//! and an AEAD check per configured key, and the handshakes in flight are
//! admitted as the mTLS listener admits them (`crate::admission`, the
//! agent's `[limits]`): a flood that fills them is pushed out oldest first,
//! from the address holding the most, so it cannot lock a client out by
//! holding handshakes open until they time out.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use serialmesh_config::{EsphomeConfig, LimitsConfig};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn, Instrument};

use super::conn::Conn;
use super::keys::KeyFingerprint;
use super::keys::Keys;
use crate::authz::Authz;
use crate::listener::admission::{Admission, Caps, Eviction, PendingTicket, Source};
use crate::registry::Registry;
use crate::telemetry::AgentMetrics;
use serialmesh_esphome::frame::{self, FrameError, MAX_HANDSHAKE_FRAME};
use serialmesh_esphome::noise::{self, ClientKey, HandshakeError, Transport};
use serialmesh_throttle::LogThrottle;

/// How often refusals of wrong keys are logged while they repeat.
const REFUSAL_LOG_EVERY: Duration = Duration::from_secs(10);

pub struct Endpoint {
    pub device: String,
    /// The agent's name: the node name in the server hello and DeviceInfo.
    pub agent: String,
    pub keys: Keys,
    pub registry: Arc<Registry>,
    pub authz: Arc<Authz>,
    pub metrics: AgentMetrics,
    pub handshake_timeout: Duration,
    /// From the handshake to DeviceInfo: a replayed first handshake
    /// message completes a handshake nobody can use, and must not hold a
    /// connection slot for longer than this.
    pub request_timeout: Duration,
    /// The stick's home id as last seen in its traffic.
    pub home_id: super::home_id::HomeId,
    caps: Caps,
    refusals: LogThrottle,
}

impl Endpoint {
    pub fn new(
        config: &EsphomeConfig,
        agent: &str,
        registry: Arc<Registry>,
        authz: Arc<Authz>,
        metrics: AgentMetrics,
        limits: &LimitsConfig,
    ) -> Endpoint {
        Endpoint {
            device: config.device.clone(),
            agent: agent.to_string(),
            keys: Keys::new(&config.clients),
            registry,
            authz,
            metrics,
            handshake_timeout: limits.handshake_timeout,
            request_timeout: limits.request_timeout,
            home_id: Default::default(),
            caps: Caps {
                max_connections: limits.max_connections,
                max_pending: limits.max_pending,
                max_pending_per_source: limits.max_pending_per_source,
                max_per_client: limits.max_connections_per_client,
            },
            refusals: LogThrottle::new(REFUSAL_LOG_EVERY),
        }
    }

    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        tracker: TaskTracker,
        shutdown: CancellationToken,
    ) {
        let admission = Arc::new(Admission::new(self.caps));
        loop {
            let (stream, peer) = tokio::select! {
                _ = shutdown.cancelled() => break,
                a = listener.accept() => match a {
                    Ok(a) => a,
                    Err(e) => {
                        warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
            };
            let Some(slot) = admission.connection() else {
                self.metrics.over_limit.inc();
                if let Some(unlogged) = admission.log_over_limit.admit() {
                    warn!(%peer, unlogged, "too many ESPHome connections (max_connections); closing new ones");
                }
                continue;
            };
            let (ticket, eviction) = admission.pending(Source::of(peer.ip()), slot);
            if !matches!(eviction, Eviction::None) {
                self.metrics.over_limit.inc();
                if let Some(unlogged) = admission.log_evicted.admit() {
                    warn!(%peer, unlogged, "too many pending ESPHome handshakes (max_pending, max_pending_per_source); closed the oldest of the busiest address");
                }
            }
            let this = self.clone();
            let admission = admission.clone();
            tracker.spawn(async move { this.connection(stream, peer, ticket, &admission).await });
        }
    }

    async fn connection(
        &self,
        mut stream: TcpStream,
        peer: SocketAddr,
        ticket: PendingTicket,
        admission: &Admission,
    ) {
        tune(&stream, peer);
        let mut buf = BytesMut::new();
        let shake = tokio::select! {
            biased;
            _ = ticket.evicted.cancelled() => return,
            r = tokio::time::timeout(self.handshake_timeout, self.handshake(&mut stream, &mut buf)) => r,
        };
        // Pushed out just as its handshake finished: closed like the others.
        let Some(_slot) = ticket.admitted() else {
            return;
        };
        let (client, transport) = match shake {
            Ok(Ok(done)) => done,
            Ok(Err(Failure::Refused(e))) => {
                self.metrics.handshake_failures.inc();
                self.metrics.refused("not authorised");
                if let Some(unlogged) = self.refusals.admit() {
                    warn!(%peer, device = %self.device, error = %e, unlogged, "ESPHome client refused: no valid key");
                }
                return;
            }
            Ok(Err(Failure::Frame(FrameError::Closed))) => {
                debug!(%peer, "closed during the ESPHome handshake");
                return;
            }
            Ok(Err(e)) => {
                self.metrics.handshake_failures.inc();
                if let Some(unlogged) = admission.log_handshake.admit() {
                    info!(%peer, error = %e, unlogged, "ESPHome handshake failed");
                }
                return;
            }
            Err(_) => {
                self.metrics.handshake_failures.inc();
                if let Some(unlogged) = admission.log_handshake.admit() {
                    info!(%peer, timeout = ?self.handshake_timeout, unlogged, "ESPHome handshake did not finish in time");
                }
                return;
            }
        };
        // NNpsk0's first message can be replayed by anyone who saw it: the
        // replay verifies under the client's key, but only the client can
        // read our answer. So the connection is the client's (its name in
        // logs, a slot under max_connections_per_client) only once a
        // message sealed with the session's keys arrives; a replay is a
        // failed handshake, never the client's doing.
        let mut conn = Conn::new(self, client, transport, stream, buf);
        if let Err(why) = conn.prove(self.handshake_timeout).await {
            self.metrics.handshake_failures.inc();
            if let Some(unlogged) = admission.log_handshake.admit() {
                info!(%peer, error = %why, unlogged, "ESPHome handshake not completed: no message sealed with the session's keys (a replayed handshake?)");
            }
            return;
        }
        let name = conn.client_name().to_string();
        let span = tracing::info_span!("esphome", client = %name, %peer, device = %self.device);
        let Some(_per_client) = admission.client(&name) else {
            self.metrics.over_limit.inc();
            if let Some(unlogged) = admission.log_per_client.admit() {
                warn!(client = %name, %peer, unlogged, "too many connections of one ESPHome client (max_connections_per_client); closing");
            }
            return;
        };
        conn.run().instrument(span).await
    }

    /// Client hello, server hello, then the client's key proven by its
    /// first handshake message. aioesphomeapi sends its hello and that
    /// message at once, zwave-js waits for the server hello: both are read
    /// frame by frame from one buffer.
    async fn handshake(
        &self,
        stream: &mut TcpStream,
        buf: &mut BytesMut,
    ) -> Result<(ClientKey, Transport), Failure> {
        let hello = frame::read(stream, buf, MAX_HANDSHAKE_FRAME).await?;
        let prologue = noise::prologue(&hello);
        let mut out = Vec::new();
        frame::put(&mut out, &noise::server_hello(&self.agent, ""));
        stream.write_all(&out).await.map_err(FrameError::Io)?;
        let first = frame::read(stream, buf, MAX_HANDSHAKE_FRAME).await?;
        let keys = self.keys.current();
        let accepted = noise::accept(&prologue, &first, &keys).and_then(|(i, hs)| {
            let key = &keys[i];
            if self.authz.deny_list().contains(&key.fingerprint()) {
                // Told exactly what a wrong key is told.
                if let Some(unlogged) = self.refusals.admit() {
                    warn!(client = %key.name, fingerprint = %key.fingerprint(), unlogged, "ESPHome client's key is revoked");
                }
                return Err(HandshakeError::NoKey);
            }
            Ok((key.clone(), hs))
        });
        let (key, hs) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // ESPHome's own words for a key that does not verify.
                let mut out = Vec::new();
                frame::put(&mut out, &noise::reject("Handshake MAC failure"));
                let _ = stream.write_all(&out).await;
                return Err(Failure::Refused(e));
            }
        };
        let (answer, transport) = noise::respond(hs).map_err(Failure::Refused)?;
        let mut out = Vec::new();
        frame::put(&mut out, &answer);
        stream.write_all(&out).await.map_err(FrameError::Io)?;
        Ok((key, transport))
    }
}

#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error(transparent)]
    Frame(#[from] FrameError),
    #[error(transparent)]
    Refused(HandshakeError),
}

/// zwave-js never answers pings, so a dead peer is found by TCP keepalive,
/// and small frames must go out at once.
fn tune(stream: &TcpStream, peer: SocketAddr) {
    if let Err(e) = stream.set_nodelay(true) {
        warn!(%peer, error = %e, "cannot set TCP_NODELAY");
    }
    let keepalive = socket2::TcpKeepalive::new()
        .with_time(Duration::from_secs(10))
        .with_interval(Duration::from_secs(2))
        .with_retries(3);
    if let Err(e) = socket2::SockRef::from(stream).set_tcp_keepalive(&keepalive) {
        warn!(%peer, error = %e, "cannot set TCP keepalive");
    }
}
