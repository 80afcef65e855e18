//! The COM-PORT-OPTION (RFC 2217) as an access server: requests from the
//! client, the answers it expects (command + 100, carrying the value now in
//! force), and what each request asks of the real device.
//!
//! Answers carry what the device will run at. A value we cannot honour
//! (mark or space parity, 1.5 stop bits, DCD flow control) is answered with
//! the current value, which is how RFC 2217 says "refused": pyserial, for
//! one, then raises an error naming the setting.

use serialmesh_proto::{DataBits, FlowControl, LineSettings, ModemLines, Parity, StopBits};

use super::telnet::{subnegotiation, COM_PORT};

pub const SET_BAUDRATE: u8 = 1;
pub const SET_DATASIZE: u8 = 2;
pub const SET_PARITY: u8 = 3;
pub const SET_STOPSIZE: u8 = 4;
pub const SET_CONTROL: u8 = 5;
pub const NOTIFY_LINESTATE: u8 = 6;
pub const NOTIFY_MODEMSTATE: u8 = 7;
pub const FLOWCONTROL_SUSPEND: u8 = 8;
pub const FLOWCONTROL_RESUME: u8 = 9;
pub const SET_LINESTATE_MASK: u8 = 10;
pub const SET_MODEMSTATE_MASK: u8 = 11;
pub const PURGE_DATA: u8 = 12;
/// Server answers and notifications are the client's command + 100.
pub const SERVER: u8 = 100;

const MODEM_CTS: u8 = 0x10;
const MODEM_DSR: u8 = 0x20;
const MODEM_RI: u8 = 0x40;
const MODEM_CD: u8 = 0x80;
/// A device without modem lines (a pty, a 3-wire adapter) is shown as a
/// line that is always ready: carrier, data set ready and clear to send
/// asserted, no ring. Applications that wait for CTS or CD then proceed, as
/// they would on a null-modem cable with its handshake lines looped back.
pub const NO_MODEM_LINES: u8 = MODEM_CD | MODEM_DSR | MODEM_CTS;

/// What a request asks of the device, beside the answer to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    None,
    /// `ComPort::settings` changed: send them to the agent.
    SetLine,
    Break(bool),
    Purge {
        input: bool,
        output: bool,
    },
    /// The client asks us to stop (true) or resume sending it data.
    Suspend(bool),
}

#[derive(Debug)]
pub struct ComPort {
    /// The line as the client last set it, or as the agent reported it.
    pub settings: LineSettings,
    break_on: bool,
    line_mask: u8,
    modem_mask: u8,
    /// The modem input lines, without change bits.
    modem: u8,
}

impl ComPort {
    pub fn new(settings: LineSettings) -> Self {
        Self {
            settings,
            break_on: false,
            line_mask: 0,
            // RFC 2217's default: report every modem line change.
            modem_mask: 255,
            modem: NO_MODEM_LINES,
        }
    }

    /// Handles one COM-PORT-OPTION subnegotiation (`cmd`, `value`),
    /// appending the answer (if the command has one) to `out`.
    pub fn request(&mut self, cmd: u8, value: &[u8], out: &mut Vec<u8>) -> Action {
        let byte = value.first().copied();
        let mut action = Action::None;
        let answer: Vec<u8> = match cmd {
            SET_BAUDRATE => {
                if let Ok(b) = <[u8; 4]>::try_from(value) {
                    let baud = u32::from_be_bytes(b);
                    if baud != 0 && baud != self.settings.baud {
                        self.settings.baud = baud;
                        action = Action::SetLine;
                    }
                }
                self.settings.baud.to_be_bytes().to_vec()
            }
            SET_DATASIZE => {
                if let Some(bits) = byte.and_then(|v| DataBits::try_from(v).ok()) {
                    action = self.set(|s| s.data_bits = bits);
                }
                vec![u8::from(self.settings.data_bits)]
            }
            SET_PARITY => {
                let parity = match byte {
                    Some(1) => Some(Parity::None),
                    Some(2) => Some(Parity::Odd),
                    Some(3) => Some(Parity::Even),
                    _ => None,
                };
                if let Some(p) = parity {
                    action = self.set(|s| s.parity = p);
                }
                vec![match self.settings.parity {
                    Parity::None => 1,
                    Parity::Odd => 2,
                    Parity::Even => 3,
                }]
            }
            SET_STOPSIZE => {
                let stop = match byte {
                    Some(1) => Some(StopBits::One),
                    Some(2) => Some(StopBits::Two),
                    _ => None,
                };
                if let Some(st) = stop {
                    action = self.set(|s| s.stop_bits = st);
                }
                vec![u8::from(self.settings.stop_bits)]
            }
            SET_CONTROL => {
                let (a, v) = self.control(byte.unwrap_or(0));
                action = a;
                vec![v]
            }
            // A poll: answer with the state now.
            NOTIFY_LINESTATE => vec![0],
            NOTIFY_MODEMSTATE => vec![self.modem & self.modem_mask],
            FLOWCONTROL_SUSPEND => return Action::Suspend(true),
            FLOWCONTROL_RESUME => return Action::Suspend(false),
            SET_LINESTATE_MASK => {
                self.line_mask = byte.unwrap_or(0);
                vec![self.line_mask]
            }
            SET_MODEMSTATE_MASK => {
                self.modem_mask = byte.unwrap_or(255);
                vec![self.modem_mask]
            }
            PURGE_DATA => {
                let v = byte.unwrap_or(0);
                if (1..=3).contains(&v) {
                    action = Action::Purge {
                        input: v & 1 != 0,
                        output: v & 2 != 0,
                    };
                }
                vec![v]
            }
            // Not a client command: nothing to answer.
            _ => return Action::None,
        };
        let mut payload = vec![cmd + SERVER];
        payload.extend_from_slice(&answer);
        subnegotiation(COM_PORT, &payload, out);
        action
    }

    fn set(&mut self, f: impl FnOnce(&mut LineSettings)) -> Action {
        let before = self.settings;
        f(&mut self.settings);
        if self.settings == before {
            Action::None
        } else {
            Action::SetLine
        }
    }

    /// SET-CONTROL: flow control, break, DTR and RTS, or a request for
    /// their state. Returns the action and the value to answer with.
    fn control(&mut self, v: u8) -> (Action, u8) {
        let flow = |f: FlowControl| match f {
            FlowControl::None => 1,
            FlowControl::Software => 2,
            FlowControl::Hardware => 3,
        };
        let current = self.settings.flow_control;
        match v {
            // Outbound (or both) and inbound flow control: one setting here,
            // as in termios.
            1..=3 | 14..=16 => {
                let f = match v {
                    1 | 14 => FlowControl::None,
                    2 | 15 => FlowControl::Software,
                    _ => FlowControl::Hardware,
                };
                (self.set(|s| s.flow_control = f), v)
            }
            4 => (Action::None, if self.break_on { 5 } else { 6 }),
            5 | 6 => {
                let on = v == 5;
                let changed = on != self.break_on;
                self.break_on = on;
                (
                    if changed {
                        Action::Break(on)
                    } else {
                        Action::None
                    },
                    v,
                )
            }
            // A line left as the driver has it is asserted: Linux raises
            // DTR and RTS when a port is opened.
            7 => (
                Action::None,
                if self.settings.dtr.unwrap_or(true) {
                    8
                } else {
                    9
                },
            ),
            8 | 9 => (self.set(|s| s.dtr = Some(v == 8)), v),
            10 => (
                Action::None,
                if self.settings.rts.unwrap_or(true) {
                    11
                } else {
                    12
                },
            ),
            11 | 12 => (self.set(|s| s.rts = Some(v == 11)), v),
            13 | 18 => (Action::None, flow(current) + 13),
            // 0 asks for the setting; DCD and DSR flow control (17, 19)
            // and anything unknown get it too, as a refusal.
            _ => (Action::None, flow(current)),
        }
    }

    /// New modem input lines from the device (`None`: it has none).
    /// Appends a NOTIFY-MODEMSTATE when a line the client watches changed,
    /// or always when `force` (the client has not been told anything yet).
    pub fn modem_changed(&mut self, lines: Option<ModemLines>, force: bool, out: &mut Vec<u8>) {
        let now = match lines {
            None => NO_MODEM_LINES,
            Some(l) => {
                (if l.cts { MODEM_CTS } else { 0 })
                    | (if l.dsr { MODEM_DSR } else { 0 })
                    | (if l.ri { MODEM_RI } else { 0 })
                    | (if l.cd { MODEM_CD } else { 0 })
            }
        };
        let was = self.modem;
        self.modem = now;
        let flipped = was ^ now;
        // Delta bits: CTS, DSR, CD changed; RI's trailing edge.
        let mut deltas = 0;
        if flipped & MODEM_CTS != 0 {
            deltas |= 0x01;
        }
        if flipped & MODEM_DSR != 0 {
            deltas |= 0x02;
        }
        if was & MODEM_RI != 0 && now & MODEM_RI == 0 {
            deltas |= 0x04;
        }
        if flipped & MODEM_CD != 0 {
            deltas |= 0x08;
        }
        let report = (now | deltas) & self.modem_mask;
        if force || (flipped | deltas) & self.modem_mask != 0 {
            subnegotiation(COM_PORT, &[NOTIFY_MODEMSTATE + SERVER, report], out);
        }
    }

    /// The modem state as the client was last told, for a first report.
    pub fn modem_report(&self, out: &mut Vec<u8>) {
        subnegotiation(
            COM_PORT,
            &[NOTIFY_MODEMSTATE + SERVER, self.modem & self.modem_mask],
            out,
        );
    }
}

#[cfg(test)]
#[path = "comport_tests.rs"]
mod tests;
