//! RFC 2217 on a local TCP endpoint: the application's connection speaks
//! telnet with the COM-PORT-OPTION, so programs that drive a remote serial
//! port that way (pyserial's `rfc2217://`, ser2net clients, virtual COM
//! port drivers) set baud rate, framing, flow control, DTR/RTS and break on
//! the real device, across the tunnel.
//!
//! The stream decodes telnet on the way in (only the device's bytes reach
//! the relay), escapes IAC on the way out, answers negotiations and
//! COM-PORT requests itself, and turns the requests into protocol frames
//! for the agent (line settings, break, purge, modem lines).

mod comport;
mod telnet;

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, BytesMut};
use serialmesh_proto::{CloseReason, CloseReasonKind, Frame, LineControl, LineSettings, Opened};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_util::io::poll_read_buf;
use tracing::{debug, info};

use crate::link::Local;
use comport::{Action, ComPort};
use telnet::{Decoder, Event, Options, COM_PORT};

/// Stop taking device bytes for the application while this much waits for
/// its socket: the relay then holds them, and the agent holds back in turn.
const OUT_HIGH_WATER: usize = 64 * 1024;
/// Largest chunk of device data escaped at once (at most twice as long on
/// the wire).
const WRITE_CHUNK: usize = 16 * 1024;

pub struct Rfc2217Stream {
    tcp: TcpStream,
    decoder: Decoder,
    options: Options,
    port: ComPort,
    /// Read from the application, not yet decoded.
    raw: BytesMut,
    /// Decoded device bytes not yet handed to the relay.
    data: Vec<u8>,
    data_pos: usize,
    /// For the application: answers, notifications, escaped device bytes.
    out: BytesMut,
    /// For the agent, in order. Decoding pauses while any wait, so a
    /// request takes effect between the bytes before and after it.
    frames: VecDeque<Frame>,
    /// `Some(line_control)` while the tunnel is up.
    tunnel: Option<bool>,
    /// The application changed the line: its settings win over the
    /// device's, also after a reconnect.
    client_set: bool,
    /// The application asked us to stop sending (FLOWCONTROL-SUSPEND).
    suspended: bool,
}

impl Rfc2217Stream {
    pub fn new(tcp: TcpStream) -> Self {
        let mut first = Vec::new();
        let mut options = Options::default();
        options.offer(&mut first);
        Self {
            tcp,
            decoder: Decoder::default(),
            options,
            port: ComPort::new(LineSettings::default()),
            raw: BytesMut::with_capacity(4096),
            data: Vec::new(),
            data_pos: 0,
            out: BytesMut::from(&first[..]),
            frames: VecDeque::new(),
            tunnel: None,
            client_set: false,
            suspended: false,
        }
    }

    /// Writes what `out` holds, as far as the socket takes it now.
    fn poll_send(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.out.is_empty() && !self.suspended {
            match Pin::new(&mut self.tcp).poll_write(cx, &self.out) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => self.out.advance(n),
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(()))
    }

    fn handle(&mut self, cx: &mut Context<'_>, event: Event) {
        let mut out = Vec::new();
        match event {
            Event::Negotiate(cmd, option) => {
                let was = self.options.com_port();
                self.options.negotiate(cmd, option, &mut out);
                if !was && self.options.com_port() {
                    debug!("application speaks RFC 2217");
                    // Clients learn the modem lines from notifications
                    // only; pyserial refuses to read CTS before one came.
                    self.port.modem_report(&mut out);
                }
            }
            Event::Sub(sub) if sub.first() == Some(&COM_PORT) && sub.len() >= 2 => {
                if self.options.com_port() {
                    let action = self.port.request(sub[1], &sub[2..], &mut out);
                    self.act(cx, action);
                } else {
                    debug!("COM-PORT-OPTION request before the option was agreed; ignored");
                }
            }
            Event::Sub(sub) => debug!(option = sub.first(), "subnegotiation ignored"),
            Event::Command(c) => debug!(command = c, "telnet command ignored"),
        }
        self.out.extend_from_slice(&out);
    }

    fn act(&mut self, cx: &mut Context<'_>, action: Action) {
        let line_control = self.tunnel == Some(true);
        let frame = match action {
            Action::None => None,
            Action::SetLine => {
                self.client_set = true;
                info!(settings = %self.port.settings, dtr = ?self.port.settings.dtr, rts = ?self.port.settings.rts, "application changed the line settings (RFC 2217)");
                Some(Frame::SetLine(self.port.settings))
            }
            Action::Break(on) => {
                info!(on, "application changed the break condition (RFC 2217)");
                line_control.then_some(Frame::LineControl(LineControl::Break { on }))
            }
            Action::Purge { input, output } => {
                line_control.then_some(Frame::LineControl(LineControl::Purge { input, output }))
            }
            Action::Suspend(on) => {
                self.suspended = on;
                // Writes waiting on a resume belong to this same task.
                cx.waker().wake_by_ref();
                None
            }
        };
        // While the tunnel is down the settings are kept and sent when it
        // comes up; a break or purge then has no device to act on.
        if let (Some(frame), Some(_)) = (frame, self.tunnel) {
            self.frames.push_back(frame);
        }
    }
}

impl Local for Rfc2217Stream {
    fn tunnel_up(&mut self, opened: &Opened, line_control: bool) {
        self.tunnel = Some(line_control);
        if self.client_set {
            self.frames.push_back(Frame::SetLine(self.port.settings));
        } else {
            self.port.settings = opened.settings;
        }
        if line_control {
            self.frames
                .push_back(Frame::LineControl(LineControl::WatchModem));
        }
    }

    fn tunnel_down(&mut self) {
        self.tunnel = None;
        self.frames.clear();
    }

    fn outbound_frame(&mut self) -> Option<Frame> {
        self.frames.pop_front()
    }

    fn inbound_frame(&mut self, frame: Frame) -> Result<(), CloseReason> {
        match frame {
            Frame::ModemState(m) => {
                let mut out = Vec::new();
                self.port.modem_changed(m.lines, false, &mut out);
                self.out.extend_from_slice(&out);
                Ok(())
            }
            other => Err(CloseReason::new(
                CloseReasonKind::Protocol,
                format!("unexpected {:?} frame from agent", other.frame_type()),
            )),
        }
    }
}

impl AsyncRead for Rfc2217Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            // Answers go out as soon as they exist; the relay polls reads
            // every round, so this is where they are flushed.
            if let Poll::Ready(Err(e)) = this.poll_send(cx) {
                return Poll::Ready(Err(e));
            }
            if this.data_pos < this.data.len() {
                let n = buf.remaining().min(this.data.len() - this.data_pos);
                buf.put_slice(&this.data[this.data_pos..this.data_pos + n]);
                this.data_pos += n;
                if this.data_pos == this.data.len() {
                    this.data.clear();
                    this.data_pos = 0;
                }
                return Poll::Ready(Ok(()));
            }
            if !this.raw.is_empty() {
                if !this.frames.is_empty() {
                    // Frames for the agent go before the bytes behind them;
                    // the relay takes them before it reads again.
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                let (used, event) = this.decoder.feed(&this.raw, &mut this.data);
                this.raw.advance(used);
                if let Some(event) = event {
                    this.handle(cx, event);
                }
                continue;
            }
            this.raw.reserve(4096);
            match poll_read_buf(Pin::new(&mut this.tcp), cx, &mut this.raw) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Ok(())),
                Poll::Ready(Ok(_)) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl AsyncWrite for Rfc2217Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.suspended {
            return Poll::Pending;
        }
        if let Poll::Ready(Err(e)) = this.poll_send(cx) {
            return Poll::Ready(Err(e));
        }
        if this.out.len() >= OUT_HIGH_WATER {
            return Poll::Pending;
        }
        let n = data.len().min(WRITE_CHUNK);
        let mut escaped = Vec::with_capacity(n + n / 8);
        telnet::escape_into(&data[..n], &mut escaped);
        this.out.extend_from_slice(&escaped);
        if let Poll::Ready(Err(e)) = this.poll_send(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        std::task::ready!(this.poll_send(cx))?;
        Pin::new(&mut this.tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        std::task::ready!(this.poll_send(cx))?;
        Pin::new(&mut this.tcp).poll_shutdown(cx)
    }
}

#[cfg(test)]
#[path = "stream_tests.rs"]
mod tests;
