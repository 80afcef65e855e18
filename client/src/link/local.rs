//! The application's side of a link: what a TCP connection, an RFC 2217
//! connection and a pty have in common for the relay.
//!
//! A plain TCP connection carries bytes only; RFC 2217 and a pty also carry
//! line settings and control lines, which travel as control frames beside
//! the data. The relay asks the local side for those between reads, so
//! they keep their order with the application's bytes.

use serialmesh_io::Control;
use serialmesh_proto::{CloseReason, CloseReasonKind, Frame, LineSettings, Opened};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// The application's side of a link: a TCP connection or a pty.
pub trait Local: AsyncRead + AsyncWrite + Unpin + Send {
    /// The tunnel is up with these settings (a pty shows them to the
    /// application through its termios). `line_control`: the agent takes
    /// line control frames (break, purge, modem lines).
    fn tunnel_up(&mut self, _opened: &Opened, _line_control: bool) {}

    /// The tunnel went down; frames for the agent have nowhere to go.
    fn tunnel_down(&mut self) {}

    /// Line settings the application changed since the last call.
    fn line_change(&mut self) -> Option<LineSettings> {
        None
    }

    /// The next control frame for the agent, ahead of the application's
    /// next bytes.
    fn outbound_frame(&mut self) -> Option<Frame> {
        self.line_change().map(Frame::SetLine)
    }

    /// A control frame from the agent during the session.
    fn inbound_frame(&mut self, frame: Frame) -> Result<(), CloseReason> {
        Err(CloseReason::new(
            CloseReasonKind::Protocol,
            format!("unexpected {:?} frame from agent", frame.frame_type()),
        ))
    }
}

impl Local for TcpStream {}

/// Hands control frames between the relay and the application's side.
pub(super) struct LocalControl;

impl<L: Local> Control<L> for LocalControl {
    fn inbound(&mut self, dev: &mut L, frame: Frame) -> Result<(), CloseReason> {
        dev.inbound_frame(frame)
    }

    fn outbound(&mut self, dev: &mut L) -> Option<Frame> {
        dev.outbound_frame()
    }
}
