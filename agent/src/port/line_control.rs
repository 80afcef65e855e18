//! Control frames during a session: new line settings, break, purge, and
//! the modem input lines a client asked to watch.
//!
//! Each change is logged, but a client decides how many it sends: past a
//! burst (a gateway opening its port sets several things at once), a
//! session logs at most one line-control line a second (the next line
//! counts the ones it left out, which go to debug), so a client flapping
//! the baud rate cannot fill the agent's disk or drown its other lines.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use mio_serial::{ClearBuffer, SerialPort};
use serialmesh_io::Control;
use serialmesh_proto::{CloseReason, CloseReasonKind, Frame, LineControl, ModemLines, ModemState};
use tracing::{debug, info, warn};

use super::serial::{self, Tty};
use serialmesh_throttle::LogBudget;

/// Line-control log lines a session may write at once, and the pace after.
const LOG_BURST: u32 = 32;
const LOG_EVERY: Duration = Duration::from_secs(1);

/// Modem lines are read at most this often while watched. The relay asks on
/// every round (data moving, or at least once per heartbeat), so changes
/// reach the client within about a second even on an idle line.
const MODEM_POLL: Duration = Duration::from_millis(200);

pub struct SessionControl {
    path: PathBuf,
    /// Last modem lines sent to the client, while it watches them.
    watching: Option<Watch>,
    log: LogBudget,
}

struct Watch {
    sent: Option<ModemLines>,
    /// Nothing sent yet: the first report goes out whatever it says.
    first: bool,
    checked: Option<Instant>,
}

impl SessionControl {
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            watching: None,
            log: LogBudget::new(LOG_BURST, LOG_EVERY),
        }
    }

    fn line_control(&mut self, port: &mut Tty, op: LineControl) {
        let port = port.get_mut();
        let path = self.path.display();
        match op {
            LineControl::Break { on } => {
                let r = if on {
                    port.set_break()
                } else {
                    port.clear_break()
                };
                match r {
                    Ok(()) => match self.log.admit() {
                        Some(unlogged) => info!(on, unlogged, "break changed by client"),
                        None => debug!(on, "break changed by client"),
                    },
                    Err(e) => warn!(on, error = %e, "{path}: cannot change the break condition"),
                }
            }
            LineControl::Purge { input, output } => {
                let which = match (input, output) {
                    (true, true) => ClearBuffer::All,
                    (true, false) => ClearBuffer::Input,
                    (false, true) => ClearBuffer::Output,
                    (false, false) => return,
                };
                match port.clear(which) {
                    Ok(()) => match self.log.admit() {
                        Some(unlogged) => {
                            info!(input, output, unlogged, "buffers purged by client")
                        }
                        None => debug!(input, output, "buffers purged by client"),
                    },
                    Err(e) => warn!(error = %e, "{path}: cannot purge buffers"),
                }
            }
            LineControl::WatchModem => {
                self.watching = Some(Watch {
                    sent: None,
                    first: true,
                    checked: None,
                });
            }
        }
    }
}

/// `None` when the device has no modem lines (TIOCMGET fails, as on a pty).
fn modem_lines(port: &mut Tty) -> Option<ModemLines> {
    let port = port.get_mut();
    Some(ModemLines {
        cts: port.read_clear_to_send().ok()?,
        dsr: port.read_data_set_ready().ok()?,
        ri: port.read_ring_indicator().ok()?,
        cd: port.read_carrier_detect().ok()?,
    })
}

impl Control<Tty> for SessionControl {
    fn inbound(&mut self, port: &mut Tty, frame: Frame) -> Result<(), CloseReason> {
        match frame {
            Frame::SetLine(settings) => {
                serial::apply(port, &settings, &self.path).map_err(|e| {
                    CloseReason::new(
                        CloseReasonKind::OpenFailed,
                        format!("cannot apply {settings} to {}: {e}", self.path.display()),
                    )
                })?;
                match self.log.admit() {
                    Some(unlogged) => info!(%settings, unlogged, "line settings changed by client"),
                    None => debug!(%settings, "line settings changed by client"),
                }
                Ok(())
            }
            Frame::LineControl(op) => {
                self.line_control(port, op);
                Ok(())
            }
            other => Err(CloseReason::new(
                CloseReasonKind::Protocol,
                format!("unexpected {:?} frame during a session", other.frame_type()),
            )),
        }
    }

    fn outbound(&mut self, port: &mut Tty) -> Option<Frame> {
        let watch = self.watching.as_mut()?;
        let now = Instant::now();
        if watch.checked.is_some_and(|t| now - t < MODEM_POLL) {
            return None;
        }
        watch.checked = Some(now);
        let lines = modem_lines(port);
        if !watch.first && lines == watch.sent {
            return None;
        }
        watch.first = false;
        watch.sent = lines;
        if lines.is_none() {
            // Nothing will ever change: stop asking the driver.
            debug!("device has no modem lines");
            self.watching = None;
        }
        Some(Frame::ModemState(ModemState { lines }))
    }
}
