//! Line settings <-> termios, for pty endpoints: what the application sets
//! with tcsetattr is what the agent applies to the real device.
//!
//! Linux's termios2 interface (TCGETS2/TCSETS2, read and written through
//! [`serialmesh_io::tty`]) is used because it carries the rate as a number:
//! applications set non-standard rates with BOTHER, which the classic
//! speed_t constants cannot express.

use serialmesh_proto::{DataBits, FlowControl, LineSettings, Parity, StopBits};

/// Reads the settings an application chose. A rate of 0 ("hang up") keeps
/// `fallback_baud`.
pub fn from_termios(t: &libc::termios2, fallback_baud: u32) -> LineSettings {
    let baud = if t.c_ospeed == 0 {
        fallback_baud
    } else {
        t.c_ospeed
    };
    let c = t.c_cflag;
    let data_bits = match c & libc::CSIZE {
        libc::CS5 => DataBits::Five,
        libc::CS6 => DataBits::Six,
        libc::CS7 => DataBits::Seven,
        _ => DataBits::Eight,
    };
    let parity = match (c & libc::PARENB != 0, c & libc::PARODD != 0) {
        (false, _) => Parity::None,
        (true, true) => Parity::Odd,
        (true, false) => Parity::Even,
    };
    let stop_bits = if c & libc::CSTOPB != 0 {
        StopBits::Two
    } else {
        StopBits::One
    };
    let flow_control = if c & libc::CRTSCTS != 0 {
        FlowControl::Hardware
    } else if t.c_iflag & (libc::IXON | libc::IXOFF) != 0 {
        FlowControl::Software
    } else {
        FlowControl::None
    };
    LineSettings {
        baud,
        data_bits,
        parity,
        stop_bits,
        flow_control,
        dtr: None,
        rts: None,
    }
}

/// Shows the device's settings to the application. Software flow control is
/// not mirrored: the pty's own line discipline would then eat XON/XOFF
/// bytes that belong to the device's protocol.
pub fn apply_to_termios(t: &mut libc::termios2, s: &LineSettings) {
    t.c_cflag &=
        !(libc::CBAUD | libc::CSIZE | libc::PARENB | libc::PARODD | libc::CSTOPB | libc::CRTSCTS);
    t.c_cflag |= libc::BOTHER;
    t.c_ispeed = s.baud;
    t.c_ospeed = s.baud;
    t.c_cflag |= match s.data_bits {
        DataBits::Five => libc::CS5,
        DataBits::Six => libc::CS6,
        DataBits::Seven => libc::CS7,
        DataBits::Eight => libc::CS8,
    };
    match s.parity {
        Parity::None => {}
        Parity::Odd => t.c_cflag |= libc::PARENB | libc::PARODD,
        Parity::Even => t.c_cflag |= libc::PARENB,
    }
    if s.stop_bits == StopBits::Two {
        t.c_cflag |= libc::CSTOPB;
    }
    if s.flow_control == FlowControl::Hardware {
        t.c_cflag |= libc::CRTSCTS;
    }
}

/// Whether two settings differ in what the agent would apply.
pub fn differs(a: &LineSettings, b: &LineSettings) -> bool {
    (a.baud, a.data_bits, a.parity, a.stop_bits, a.flow_control)
        != (b.baud, b.data_bits, b.parity, b.stop_bits, b.flow_control)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_survive_a_trip_through_termios2() {
        // SAFETY: plain old data.
        let mut t: libc::termios2 = unsafe { std::mem::zeroed() };
        let s = LineSettings {
            baud: 250_000,
            data_bits: DataBits::Seven,
            parity: Parity::Odd,
            stop_bits: StopBits::Two,
            flow_control: FlowControl::Hardware,
            dtr: None,
            rts: None,
        };
        apply_to_termios(&mut t, &s);
        assert!(!differs(&from_termios(&t, 9600), &s));
        t.c_ospeed = 0;
        assert_eq!(from_termios(&t, 9600).baud, 9600);
    }
}
