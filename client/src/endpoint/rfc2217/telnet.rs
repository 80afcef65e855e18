//! Telnet (RFC 854/855) as RFC 2217 uses it: a byte stream in which 0xFF
//! (IAC) starts a command, option negotiation with WILL/WONT/DO/DONT, and
//! subnegotiation between IAC SB and IAC SE.
//!
//! The decoder is a state machine that keeps its state between reads, so a
//! command or a subnegotiation split across TCP segments decodes the same as
//! one that arrived whole. It stops after each complete command, so the
//! caller can act on it before it looks at the data behind it (a new baud
//! rate must apply to the bytes after it, not before).

pub const SE: u8 = 240;
pub const SB: u8 = 250;
pub const WILL: u8 = 251;
pub const WONT: u8 = 252;
pub const DO: u8 = 253;
pub const DONT: u8 = 254;
pub const IAC: u8 = 255;

pub const BINARY: u8 = 0;
pub const SGA: u8 = 3;
pub const COM_PORT: u8 = 44;

/// A subnegotiation longer than this is not RFC 2217 (whose longest is 6
/// bytes); its contents are dropped instead of growing a buffer for a peer.
const MAX_SUB: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// WILL, WONT, DO or DONT, and the option.
    Negotiate(u8, u8),
    /// The bytes between IAC SB and IAC SE, IAC IAC undone: option first.
    Sub(Vec<u8>),
    /// Any other command (NOP, BRK, AYT, ...).
    Command(u8),
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum State {
    #[default]
    Data,
    Iac,
    Negotiate(u8),
    Sub,
    SubIac,
}

#[derive(Debug, Default)]
pub struct Decoder {
    state: State,
    sub: Vec<u8>,
    sub_overflow: bool,
}

impl Decoder {
    /// Decodes from `input`, appending data bytes to `data`, until a command
    /// is complete or `input` is used up. Returns how much of `input` it
    /// consumed and the command, if one completed.
    pub fn feed(&mut self, input: &[u8], data: &mut Vec<u8>) -> (usize, Option<Event>) {
        let mut i = 0;
        while i < input.len() {
            let b = input[i];
            i += 1;
            let event = match self.state {
                State::Data => {
                    if b == IAC {
                        self.state = State::Iac;
                    } else {
                        // Copy the run up to the next IAC in one go.
                        let run = input[i..].iter().position(|&c| c == IAC);
                        let end = run.map_or(input.len(), |r| i + r);
                        data.push(b);
                        data.extend_from_slice(&input[i..end]);
                        i = end;
                    }
                    None
                }
                State::Iac => {
                    self.state = State::Data;
                    match b {
                        IAC => {
                            data.push(IAC);
                            None
                        }
                        WILL | WONT | DO | DONT => {
                            self.state = State::Negotiate(b);
                            None
                        }
                        SB => {
                            self.sub.clear();
                            self.sub_overflow = false;
                            self.state = State::Sub;
                            None
                        }
                        // A stray SE outside a subnegotiation means nothing.
                        SE => None,
                        other => Some(Event::Command(other)),
                    }
                }
                State::Negotiate(cmd) => {
                    self.state = State::Data;
                    Some(Event::Negotiate(cmd, b))
                }
                State::Sub => {
                    if b == IAC {
                        self.state = State::SubIac;
                    } else {
                        self.push_sub(b);
                    }
                    None
                }
                State::SubIac => match b {
                    IAC => {
                        self.push_sub(IAC);
                        self.state = State::Sub;
                        None
                    }
                    SE => {
                        self.state = State::Data;
                        if self.sub_overflow {
                            None
                        } else {
                            Some(Event::Sub(std::mem::take(&mut self.sub)))
                        }
                    }
                    // RFC 855 leaves this undefined; peers in the wild
                    // forget IAC SE. Treat it as the end of the
                    // subnegotiation and the start of the next command.
                    _ => {
                        let done =
                            (!self.sub_overflow).then(|| Event::Sub(std::mem::take(&mut self.sub)));
                        // Look at this byte again, as the command after IAC.
                        self.state = State::Iac;
                        i -= 1;
                        done
                    }
                },
            };
            if event.is_some() {
                return (i, event);
            }
        }
        (input.len(), None)
    }

    fn push_sub(&mut self, b: u8) {
        if self.sub.len() < MAX_SUB {
            self.sub.push(b);
        } else {
            self.sub_overflow = true;
        }
    }
}

/// Appends `data` to `out` with every IAC doubled.
pub fn escape_into(data: &[u8], out: &mut Vec<u8>) {
    let mut rest = data;
    while let Some(p) = rest.iter().position(|&b| b == IAC) {
        out.extend_from_slice(&rest[..=p]);
        out.push(IAC);
        rest = &rest[p + 1..];
    }
    out.extend_from_slice(rest);
}

/// IAC SB `option` `payload` IAC SE, with IACs in the payload doubled.
pub fn subnegotiation(option: u8, payload: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&[IAC, SB, option]);
    escape_into(payload, out);
    out.extend_from_slice(&[IAC, SE]);
}

/// One side of one option (RFC 1143, without the queue bits: we never
/// change our mind about an option once we asked).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Side {
    #[default]
    No,
    Yes,
    WantYes,
}

/// Which options we take, and where each stands, for both directions:
/// "us" is what we do (WILL/WONT from us, DO/DONT from the peer), "him" is
/// what the peer does.
#[derive(Debug)]
pub struct Options {
    us: [Side; 256],
    him: [Side; 256],
}

impl Default for Options {
    fn default() -> Self {
        Self {
            us: [Side::No; 256],
            him: [Side::No; 256],
        }
    }
}

/// We send binary data and suppress go-ahead; RFC 2217 itself is asked
/// for by the client (WILL COM-PORT-OPTION), and some clients also ask us
/// (DO), which we take. ECHO is refused: echoing is the device's business.
fn we_do(option: u8) -> bool {
    matches!(option, BINARY | SGA | COM_PORT)
}

fn he_may(option: u8) -> bool {
    matches!(option, BINARY | SGA | COM_PORT)
}

impl Options {
    /// What a server says first: binary both ways, no go-ahead both ways.
    pub fn offer(&mut self, out: &mut Vec<u8>) {
        for option in [BINARY, SGA] {
            self.us[option as usize] = Side::WantYes;
            self.him[option as usize] = Side::WantYes;
            out.extend_from_slice(&[IAC, WILL, option, IAC, DO, option]);
        }
    }

    /// Answers one negotiation, appending any reply to `out`. Replies are
    /// only sent on a change of state, so two peers never loop.
    pub fn negotiate(&mut self, cmd: u8, option: u8, out: &mut Vec<u8>) {
        let o = option as usize;
        match cmd {
            DO => match self.us[o] {
                Side::No if we_do(option) => {
                    self.us[o] = Side::Yes;
                    out.extend_from_slice(&[IAC, WILL, option]);
                }
                Side::No => out.extend_from_slice(&[IAC, WONT, option]),
                Side::WantYes => self.us[o] = Side::Yes,
                Side::Yes => {}
            },
            DONT => match self.us[o] {
                Side::Yes => {
                    self.us[o] = Side::No;
                    out.extend_from_slice(&[IAC, WONT, option]);
                }
                Side::WantYes => self.us[o] = Side::No,
                Side::No => {}
            },
            WILL => match self.him[o] {
                Side::No if he_may(option) => {
                    self.him[o] = Side::Yes;
                    out.extend_from_slice(&[IAC, DO, option]);
                }
                Side::No => out.extend_from_slice(&[IAC, DONT, option]),
                Side::WantYes => self.him[o] = Side::Yes,
                Side::Yes => {}
            },
            WONT => match self.him[o] {
                Side::Yes => {
                    self.him[o] = Side::No;
                    out.extend_from_slice(&[IAC, DONT, option]);
                }
                Side::WantYes => self.him[o] = Side::No,
                Side::No => {}
            },
            _ => {}
        }
    }

    /// RFC 2217 is on once either side agreed to it.
    pub fn com_port(&self) -> bool {
        self.him[COM_PORT as usize] == Side::Yes || self.us[COM_PORT as usize] == Side::Yes
    }
}

#[cfg(test)]
#[path = "telnet_tests.rs"]
mod tests;
