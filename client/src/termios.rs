//! Line settings <-> termios, for pty endpoints: what the application sets
//! with tcsetattr is what the agent applies to the real device.

use nix::sys::termios::{BaudRate, ControlFlags, InputFlags, Termios};
use serialmesh_proto::{DataBits, FlowControl, LineSettings, Parity, StopBits};

const RATES: &[(BaudRate, u32)] = &[
    (BaudRate::B50, 50),
    (BaudRate::B75, 75),
    (BaudRate::B110, 110),
    (BaudRate::B134, 134),
    (BaudRate::B150, 150),
    (BaudRate::B200, 200),
    (BaudRate::B300, 300),
    (BaudRate::B600, 600),
    (BaudRate::B1200, 1200),
    (BaudRate::B1800, 1800),
    (BaudRate::B2400, 2400),
    (BaudRate::B4800, 4800),
    (BaudRate::B9600, 9600),
    (BaudRate::B19200, 19200),
    (BaudRate::B38400, 38400),
    (BaudRate::B57600, 57600),
    (BaudRate::B115200, 115_200),
    (BaudRate::B230400, 230_400),
    (BaudRate::B460800, 460_800),
    (BaudRate::B500000, 500_000),
    (BaudRate::B576000, 576_000),
    (BaudRate::B921600, 921_600),
    (BaudRate::B1000000, 1_000_000),
    (BaudRate::B1152000, 1_152_000),
    (BaudRate::B1500000, 1_500_000),
    (BaudRate::B2000000, 2_000_000),
    (BaudRate::B2500000, 2_500_000),
    (BaudRate::B3000000, 3_000_000),
    (BaudRate::B3500000, 3_500_000),
    (BaudRate::B4000000, 4_000_000),
];

/// Reads the settings an application chose. `B0` ("hang up") and rates
/// termios cannot name keep `fallback_baud`.
pub fn from_termios(t: &Termios, fallback_baud: u32) -> LineSettings {
    let speed = nix::sys::termios::cfgetospeed(t);
    let baud = RATES
        .iter()
        .find(|(b, _)| *b == speed)
        .map_or(fallback_baud, |(_, r)| *r);
    let c = t.control_flags;
    let data_bits = match c & ControlFlags::CSIZE {
        ControlFlags::CS5 => DataBits::Five,
        ControlFlags::CS6 => DataBits::Six,
        ControlFlags::CS7 => DataBits::Seven,
        _ => DataBits::Eight,
    };
    let parity = match (
        c.contains(ControlFlags::PARENB),
        c.contains(ControlFlags::PARODD),
    ) {
        (false, _) => Parity::None,
        (true, true) => Parity::Odd,
        (true, false) => Parity::Even,
    };
    let stop_bits = if c.contains(ControlFlags::CSTOPB) {
        StopBits::Two
    } else {
        StopBits::One
    };
    let flow_control = if c.contains(ControlFlags::CRTSCTS) {
        FlowControl::Hardware
    } else if t
        .input_flags
        .intersects(InputFlags::IXON | InputFlags::IXOFF)
    {
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
pub fn apply_to_termios(t: &mut Termios, s: &LineSettings) {
    if let Some((rate, _)) = RATES.iter().find(|(_, r)| *r == s.baud) {
        let _ = nix::sys::termios::cfsetspeed(t, *rate);
    }
    let c = &mut t.control_flags;
    c.remove(
        ControlFlags::CSIZE
            | ControlFlags::PARENB
            | ControlFlags::PARODD
            | ControlFlags::CSTOPB
            | ControlFlags::CRTSCTS,
    );
    c.insert(match s.data_bits {
        DataBits::Five => ControlFlags::CS5,
        DataBits::Six => ControlFlags::CS6,
        DataBits::Seven => ControlFlags::CS7,
        DataBits::Eight => ControlFlags::CS8,
    });
    match s.parity {
        Parity::None => {}
        Parity::Odd => c.insert(ControlFlags::PARENB | ControlFlags::PARODD),
        Parity::Even => c.insert(ControlFlags::PARENB),
    }
    if s.stop_bits == StopBits::Two {
        c.insert(ControlFlags::CSTOPB);
    }
    if s.flow_control == FlowControl::Hardware {
        c.insert(ControlFlags::CRTSCTS);
    }
}

/// Whether two settings differ in what the agent would apply.
pub fn differs(a: &LineSettings, b: &LineSettings) -> bool {
    (a.baud, a.data_bits, a.parity, a.stop_bits, a.flow_control)
        != (b.baud, b.data_bits, b.parity, b.stop_bits, b.flow_control)
}
