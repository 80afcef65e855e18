//! The data path: device bytes <-> data frames, in one task, with no locks,
//! channels or task hops.
//!
//! One `poll_fn` drives both directions over the same two streams, the way
//! `tokio::io::copy_bidirectional` does, so a slow direction never blocks the
//! other (a blocked write to the device must not stop us reading it, or a
//! device that waits for us to drain it deadlocks). Each device read
//! becomes one frame and, usually, one TLS record: no added delay for
//! small frames, no per-byte wake-ups.

use std::collections::VecDeque;
use std::future::{poll_fn, Future};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, BufMut, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::time::{Instant, Sleep};
use tokio_util::io::poll_read_buf;

use serialmesh_proto::{
    encode_data_header, CloseReason, Frame, FrameType, ProtocolError, HEADER_LEN, MAX_DATA_CHUNK,
};

use crate::meter::Meters;

/// Stop reading the device while this much is waiting for the network.
const NET_HIGH_WATER: usize = 256 * 1024;
/// Stop reading the network while this much is waiting for the device.
const DEV_HIGH_WATER: usize = 256 * 1024;

#[derive(Debug, Clone, Copy)]
pub struct Liveness {
    /// Send a heartbeat after this long without sending anything.
    pub heartbeat: Duration,
    /// Declare the peer dead after this long without hearing anything.
    pub dead_after: Duration,
}

impl Default for Liveness {
    /// Heartbeat every second, dead after 4 s: inside zwave-js's 10 s budget
    /// with room for a reconnect.
    fn default() -> Self {
        Self {
            heartbeat: Duration::from_secs(1),
            dead_after: Duration::from_secs(4),
        }
    }
}

/// Control frames beside the data: what arrives from the peer, and what the
/// device side wants to tell it.
pub trait Control<D> {
    /// A control frame from the peer other than data, heartbeat or close.
    /// An error ends the session with that reason.
    fn inbound(&mut self, dev: &mut D, frame: Frame) -> Result<(), CloseReason>;

    /// Polled before each device read: a frame to send ahead of the data
    /// (e.g. the application changed the line settings of its pty).
    fn outbound(&mut self, _dev: &mut D) -> Option<Frame> {
        None
    }
}

impl<D, F: FnMut(&mut D, Frame) -> Result<(), CloseReason>> Control<D> for F {
    fn inbound(&mut self, dev: &mut D, frame: Frame) -> Result<(), CloseReason> {
        self(dev, frame)
    }
}

/// Why a relay stopped.
#[derive(Debug)]
pub enum RelayEnd {
    /// The peer sent a close frame.
    PeerClosed(CloseReason),
    /// The network connection ended or failed without a close frame.
    NetLost(String),
    /// The peer broke the protocol.
    Protocol(ProtocolError),
    /// Nothing heard from the peer within the liveness window.
    PeerSilent(Duration),
    /// The peer took none of what we had for it within the liveness window
    /// (it still talks, but stopped reading: our heartbeats cannot reach it
    /// either, so it is as good as gone, and it must not hold the device).
    PeerNotReading(Duration),
    /// The local side (serial device or application socket) reached EOF.
    DeviceEof,
    DeviceError(io::Error),
    /// A control frame handler refused a frame.
    Refused(CloseReason),
    /// The caller's stop signal fired.
    Stopped,
}

#[derive(Debug, Default, Clone, Copy)]
pub struct RelayStats {
    pub to_device: u64,
    pub to_net: u64,
    /// Bytes accepted from one side that never reached the other.
    pub lost_to_device: u64,
    pub lost_to_net: u64,
}

/// Buffers of one relay; they outlive `run` so the caller can flush what is
/// still pending before sending a close frame, and so bytes that arrived
/// with the handshake are not lost.
pub struct Relay {
    pub net_in: BytesMut,
    /// Device reads land here, zeroed once: a reader handed uninitialised
    /// memory may zero all of it first (tokio-serial does, 16 KiB per read
    /// however few bytes come), which cost more than copying what arrived.
    dev_in: Box<[u8]>,
    net_out: BytesMut,
    dev_out: BytesMut,
    /// Bytes of `net_out` handed to the network so far.
    net_written: u64,
    /// Data frames in `net_out`: where each ends (in `net_written` terms)
    /// and its payload, so a loss counts device bytes, not frame headers,
    /// heartbeats or close frames.
    net_marks: VecDeque<(u64, usize)>,
    pub stats: RelayStats,
    meters: Option<Meters>,
}

impl Relay {
    /// `net_in` holds whatever the handshake reader already buffered.
    pub fn new(net_in: BytesMut) -> Self {
        Self {
            net_in,
            dev_in: vec![0; MAX_DATA_CHUNK].into_boxed_slice(),
            net_out: BytesMut::with_capacity(MAX_DATA_CHUNK + HEADER_LEN),
            dev_out: BytesMut::with_capacity(4096),
            net_written: 0,
            net_marks: VecDeque::new(),
            stats: RelayStats::default(),
            meters: None,
        }
    }

    pub fn with_meters(mut self, meters: Meters) -> Self {
        self.meters = Some(meters);
        self
    }

    /// Relays until something ends it. Control frames other than data,
    /// heartbeat and close go to `on_control`, which gets the device too
    /// (to apply line settings).
    pub async fn run<N, D, S, F>(
        &mut self,
        net: &mut N,
        dev: &mut D,
        stop: S,
        liveness: Liveness,
        mut on_control: F,
    ) -> RelayEnd
    where
        N: AsyncRead + AsyncWrite + Unpin,
        D: AsyncRead + AsyncWrite + Unpin,
        S: Future<Output = ()>,
        F: Control<D>,
    {
        let mut stop = std::pin::pin!(stop);
        let start = Instant::now();
        // One timer for both heartbeats and silence. It is set for the
        // earlier of the two deadlines as they stood when it was last set;
        // sending and receiving only push them later, so it may fire early
        // (it is then set again) but never late: a dead peer is noticed
        // `dead_after` after the last frame, not up to a heartbeat later.
        let mut timer = std::pin::pin!(tokio::time::sleep_until(
            start + liveness.heartbeat.min(liveness.dead_after)
        ));
        let mut state = State {
            last_rx: start,
            last_tx: start,
            write_blocked: None,
            net_flush: false,
            liveness,
        };
        // Frames that arrived together with the handshake come first.
        if let Err(end) = self.decode_frames(dev, &mut state, &mut on_control) {
            return end;
        }
        poll_fn(|cx| {
            if stop.as_mut().poll(cx).is_ready() {
                return Poll::Ready(RelayEnd::Stopped);
            }
            loop {
                let mut progress = false;
                match self.poll_round(cx, net, dev, timer.as_mut(), &mut state, &mut on_control) {
                    Err(end) => return Poll::Ready(end),
                    Ok(p) => progress |= p,
                }
                if !progress {
                    return Poll::Pending;
                }
            }
        })
        .await
    }

    fn poll_round<N, D, F>(
        &mut self,
        cx: &mut Context<'_>,
        net: &mut N,
        dev: &mut D,
        mut timer: Pin<&mut Sleep>,
        st: &mut State,
        on_control: &mut F,
    ) -> Result<bool, RelayEnd>
    where
        N: AsyncRead + AsyncWrite + Unpin,
        D: AsyncRead + AsyncWrite + Unpin,
        F: Control<D>,
    {
        let mut progress = false;

        // Network -> device.
        while !self.dev_out.is_empty() {
            match Pin::new(&mut *dev).poll_write(cx, &self.dev_out) {
                Poll::Ready(Ok(0)) => {
                    return Err(RelayEnd::DeviceError(io::ErrorKind::WriteZero.into()))
                }
                Poll::Ready(Ok(n)) => {
                    self.dev_out.advance(n);
                    self.stats.to_device += n as u64;
                    if let Some(m) = &self.meters {
                        m.to_device.add(n as u64);
                    }
                    progress = true;
                }
                Poll::Ready(Err(e)) => return Err(RelayEnd::DeviceError(e)),
                Poll::Pending => break,
            }
        }

        // Device -> outgoing buffer, behind a reserved data header. A control
        // change on the device side (new line settings) goes out first, so
        // it reaches the far end before the bytes written after it.
        if self.net_out.len() < NET_HIGH_WATER {
            if let Some(frame) = on_control.outbound(dev) {
                frame
                    .encode(&mut self.net_out)
                    .map_err(RelayEnd::Protocol)?;
                progress = true;
            }
            let mut read = ReadBuf::new(&mut self.dev_in);
            match Pin::new(&mut *dev).poll_read(cx, &mut read) {
                Poll::Ready(Ok(())) if read.filled().is_empty() => return Err(RelayEnd::DeviceEof),
                Poll::Ready(Ok(())) => {
                    let data = read.filled();
                    let n = data.len();
                    let start = self.net_out.len();
                    self.net_out.put_bytes(0, HEADER_LEN);
                    encode_data_header(&mut self.net_out[start..start + HEADER_LEN], n);
                    self.net_out.extend_from_slice(data);
                    let end = self.net_written + self.net_out.len() as u64;
                    self.net_marks.push_back((end, n));
                    self.stats.to_net += n as u64;
                    if let Some(m) = &self.meters {
                        m.to_net.add(n as u64);
                    }
                    progress = true;
                }
                Poll::Ready(Err(e)) => return Err(RelayEnd::DeviceError(e)),
                Poll::Pending => {}
            }
        }

        // Liveness: one timer for both sending heartbeats and noticing silence.
        if timer.as_mut().poll(cx).is_ready() {
            let now = Instant::now();
            let silent = now.duration_since(st.last_rx);
            if silent >= st.liveness.dead_after {
                return Err(RelayEnd::PeerSilent(silent));
            }
            if let Some(since) = st.write_blocked {
                let stuck = now.duration_since(since);
                if stuck >= st.liveness.dead_after {
                    return Err(RelayEnd::PeerNotReading(stuck));
                }
            }
            let mut next_tx = st.last_tx + st.liveness.heartbeat;
            if now >= next_tx && self.net_out.is_empty() {
                // An empty frame: nothing to refuse.
                let _ = Frame::Heartbeat.encode(&mut self.net_out);
                next_tx = now + st.liveness.heartbeat;
            }
            // A heartbeat held back by output still queued: look again
            // shortly, without spinning.
            next_tx = next_tx.max(now + st.liveness.heartbeat / 8);
            let mut wake = next_tx.min(st.last_rx + st.liveness.dead_after);
            if let Some(since) = st.write_blocked {
                wake = wake.min(since + st.liveness.dead_after);
            }
            timer.as_mut().reset(wake);
            progress = true;
        }

        // Outgoing buffer -> network.
        while !self.net_out.is_empty() {
            match Pin::new(&mut *net).poll_write(cx, &self.net_out) {
                Poll::Ready(Ok(0)) => {
                    return Err(RelayEnd::NetLost("connection wrote zero bytes".into()))
                }
                Poll::Ready(Ok(n)) => {
                    self.net_out.advance(n);
                    self.net_written += n as u64;
                    while self
                        .net_marks
                        .front()
                        .is_some_and(|(end, _)| *end <= self.net_written)
                    {
                        self.net_marks.pop_front();
                    }
                    st.last_tx = Instant::now();
                    st.write_blocked = None;
                    st.net_flush = true;
                    progress = true;
                }
                Poll::Ready(Err(e)) => return Err(RelayEnd::NetLost(e.to_string())),
                Poll::Pending => {
                    // The deadline runs from the first refusal after the
                    // last progress, not from each retry.
                    st.write_blocked.get_or_insert_with(Instant::now);
                    break;
                }
            }
        }
        if st.net_flush {
            match Pin::new(&mut *net).poll_flush(cx) {
                Poll::Ready(Ok(())) => st.net_flush = false,
                Poll::Ready(Err(e)) => return Err(RelayEnd::NetLost(e.to_string())),
                Poll::Pending => {}
            }
        }

        // Network -> frames.
        if self.dev_out.len() < DEV_HIGH_WATER {
            self.net_in.reserve(MAX_DATA_CHUNK + HEADER_LEN);
            match poll_read_buf(Pin::new(&mut *net), cx, &mut self.net_in) {
                Poll::Ready(Ok(0)) => {
                    self.decode_frames(dev, st, on_control)?;
                    return Err(RelayEnd::NetLost(if self.net_in.is_empty() {
                        "connection closed by peer".into()
                    } else {
                        "connection closed by peer in the middle of a frame".into()
                    }));
                }
                Poll::Ready(Ok(_)) => {
                    st.last_rx = Instant::now();
                    self.decode_frames(dev, st, on_control)?;
                    progress = true;
                }
                Poll::Ready(Err(e)) => return Err(RelayEnd::NetLost(e.to_string())),
                Poll::Pending => {}
            }
        }
        Ok(progress)
    }

    fn decode_frames<D, F>(
        &mut self,
        dev: &mut D,
        _st: &mut State,
        on_control: &mut F,
    ) -> Result<(), RelayEnd>
    where
        F: Control<D>,
    {
        loop {
            match Frame::peek(&self.net_in) {
                Ok(None) => return Ok(()),
                Ok(Some((FrameType::Data, len))) => {
                    // Data is copied once, from the TLS plaintext buffer to
                    // the device buffer, without building a Frame.
                    self.dev_out
                        .extend_from_slice(&self.net_in[HEADER_LEN..HEADER_LEN + len]);
                    self.net_in.advance(HEADER_LEN + len);
                }
                Ok(Some(_)) => match Frame::decode(&mut self.net_in) {
                    Ok(Some(Frame::Heartbeat)) => {}
                    Ok(Some(Frame::Close(reason))) => return Err(RelayEnd::PeerClosed(reason)),
                    Ok(Some(other)) => on_control.inbound(dev, other).map_err(RelayEnd::Refused)?,
                    Ok(None) => return Ok(()),
                    Err(e) => return Err(RelayEnd::Protocol(e)),
                },
                Err(e) => return Err(RelayEnd::Protocol(e)),
            }
        }
    }

    /// Best effort, bounded in time: sends what is still buffered for the
    /// peer, then a close frame. Counts what could not be delivered.
    pub async fn finish<N: AsyncWrite + Unpin>(
        &mut self,
        net: &mut N,
        reason: Option<&CloseReason>,
        within: Duration,
    ) {
        if let Some(r) = reason {
            // A close reason is a short message; one over the limit is
            // not sent, and the connection just ends.
            let _ = Frame::Close(r.clone()).encode(&mut self.net_out);
        }
        let out = &mut self.net_out;
        let sent = tokio::time::timeout(within, async {
            net.write_all(out).await?;
            net.flush().await?;
            // A clean TLS close (close_notify) tells the peer this was an
            // orderly end, not a truncation.
            net.shutdown().await
        })
        .await;
        if matches!(sent, Ok(Ok(()))) {
            self.net_out.clear();
            self.net_marks.clear();
        }
        self.account_losses();
    }

    /// Moves the device bytes still buffered into the loss counters (a
    /// data frame only partly written is lost whole: the peer cannot use
    /// half a frame).
    pub fn account_losses(&mut self) {
        self.stats.lost_to_device += self.dev_out.len() as u64;
        let payload: usize = self.net_marks.drain(..).map(|(_, n)| n).sum();
        self.stats.lost_to_net += payload as u64;
        self.dev_out.clear();
        self.net_out.clear();
    }
}

struct State {
    last_rx: Instant,
    last_tx: Instant,
    /// Since when the network has taken nothing of a non-empty `net_out`.
    write_blocked: Option<Instant>,
    net_flush: bool,
    liveness: Liveness,
}

#[cfg(test)]
#[path = "relay_tests.rs"]
mod tests;
