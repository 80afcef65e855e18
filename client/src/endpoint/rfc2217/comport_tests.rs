use super::*;
use crate::endpoint::rfc2217::telnet::{Decoder, Event, IAC};

/// The payloads (after COM-PORT) of the subnegotiations in `wire`.
fn answers(wire: &[u8]) -> Vec<Vec<u8>> {
    let mut dec = Decoder::default();
    let (mut rest, mut data, mut out) = (wire, Vec::new(), Vec::new());
    while !rest.is_empty() {
        let (used, event) = dec.feed(rest, &mut data);
        if let Some(Event::Sub(sub)) = event {
            assert_eq!(sub[0], COM_PORT);
            out.push(sub[1..].to_vec());
        }
        rest = &rest[used..];
    }
    assert!(data.is_empty());
    out
}

fn ask(port: &mut ComPort, cmd: u8, value: &[u8]) -> (Action, Vec<Vec<u8>>) {
    let mut out = Vec::new();
    let action = port.request(cmd, value, &mut out);
    (action, answers(&out))
}

#[test]
fn line_settings_are_applied_and_answered_with_plus_100() {
    let mut p = ComPort::new(LineSettings::default());
    assert_eq!(
        ask(&mut p, SET_BAUDRATE, &9600u32.to_be_bytes()),
        (Action::SetLine, vec![vec![101, 0, 0, 0x25, 0x80]])
    );
    assert_eq!(
        ask(&mut p, SET_DATASIZE, &[7]),
        (Action::SetLine, vec![vec![102, 7]])
    );
    assert_eq!(
        ask(&mut p, SET_PARITY, &[3]),
        (Action::SetLine, vec![vec![103, 3]])
    );
    assert_eq!(
        ask(&mut p, SET_STOPSIZE, &[2]),
        (Action::SetLine, vec![vec![104, 2]])
    );
    assert_eq!(p.settings.to_string(), "9600 7E2");
    // The same again changes nothing on the device, and is still answered.
    assert_eq!(
        ask(&mut p, SET_PARITY, &[3]),
        (Action::None, vec![vec![103, 3]])
    );
    // Zero asks for the value in force.
    assert_eq!(
        ask(&mut p, SET_BAUDRATE, &[0, 0, 0, 0]),
        (Action::None, vec![vec![101, 0, 0, 0x25, 0x80]])
    );
    assert_eq!(ask(&mut p, SET_DATASIZE, &[0]).1, vec![vec![102, 7]]);
}

#[test]
fn values_we_cannot_honour_are_answered_with_the_current_one() {
    let mut p = ComPort::new(LineSettings::default());
    assert_eq!(
        ask(&mut p, SET_PARITY, &[4]),
        (Action::None, vec![vec![103, 1]])
    ); // mark
    assert_eq!(
        ask(&mut p, SET_STOPSIZE, &[3]),
        (Action::None, vec![vec![104, 1]])
    ); // 1.5
    assert_eq!(
        ask(&mut p, SET_DATASIZE, &[9]),
        (Action::None, vec![vec![102, 8]])
    );
    assert_eq!(
        ask(&mut p, SET_CONTROL, &[17]),
        (Action::None, vec![vec![105, 1]])
    ); // DCD flow
       // A baud rate whose bytes include IAC goes through escaped and back.
    let odd = 0x0001_c2ffu32;
    assert_eq!(
        ask(&mut p, SET_BAUDRATE, &odd.to_be_bytes()),
        (
            Action::SetLine,
            vec![odd.to_be_bytes().into_iter().fold(vec![101], |mut v, b| {
                v.push(b);
                v
            })]
        )
    );
    let mut raw = Vec::new();
    p.request(SET_BAUDRATE, &[0; 4], &mut raw);
    assert!(
        raw.windows(2).any(|w| w == [IAC, IAC]),
        "IAC in value escaped"
    );
}

#[test]
fn set_control_covers_flow_break_dtr_rts_and_their_requests() {
    let mut p = ComPort::new(LineSettings::default());
    assert_eq!(ask(&mut p, SET_CONTROL, &[0]).1, vec![vec![105, 1]]);
    assert_eq!(
        ask(&mut p, SET_CONTROL, &[3]),
        (Action::SetLine, vec![vec![105, 3]])
    );
    assert_eq!(p.settings.flow_control, FlowControl::Hardware);
    assert_eq!(ask(&mut p, SET_CONTROL, &[13]).1, vec![vec![105, 16]]);
    assert_eq!(
        ask(&mut p, SET_CONTROL, &[15]),
        (Action::SetLine, vec![vec![105, 15]])
    );
    assert_eq!(ask(&mut p, SET_CONTROL, &[0]).1, vec![vec![105, 2]]);

    assert_eq!(ask(&mut p, SET_CONTROL, &[4]).1, vec![vec![105, 6]]);
    assert_eq!(
        ask(&mut p, SET_CONTROL, &[5]),
        (Action::Break(true), vec![vec![105, 5]])
    );
    assert_eq!(
        ask(&mut p, SET_CONTROL, &[5]),
        (Action::None, vec![vec![105, 5]])
    );
    assert_eq!(ask(&mut p, SET_CONTROL, &[4]).1, vec![vec![105, 5]]);
    assert_eq!(
        ask(&mut p, SET_CONTROL, &[6]),
        (Action::Break(false), vec![vec![105, 6]])
    );

    assert_eq!(ask(&mut p, SET_CONTROL, &[7]).1, vec![vec![105, 8]]);
    assert_eq!(
        ask(&mut p, SET_CONTROL, &[9]),
        (Action::SetLine, vec![vec![105, 9]])
    );
    assert_eq!(p.settings.dtr, Some(false));
    assert_eq!(ask(&mut p, SET_CONTROL, &[7]).1, vec![vec![105, 9]]);
    assert_eq!(
        ask(&mut p, SET_CONTROL, &[12]),
        (Action::SetLine, vec![vec![105, 12]])
    );
    assert_eq!(ask(&mut p, SET_CONTROL, &[10]).1, vec![vec![105, 12]]);
    assert_eq!(
        ask(&mut p, SET_CONTROL, &[11]),
        (Action::SetLine, vec![vec![105, 11]])
    );
    assert_eq!(p.settings.rts, Some(true));
}

#[test]
fn purge_masks_suspend_and_polls() {
    let mut p = ComPort::new(LineSettings::default());
    assert_eq!(
        ask(&mut p, PURGE_DATA, &[3]),
        (
            Action::Purge {
                input: true,
                output: true
            },
            vec![vec![112, 3]]
        )
    );
    assert_eq!(
        ask(&mut p, PURGE_DATA, &[1]).0,
        Action::Purge {
            input: true,
            output: false
        }
    );
    assert_eq!(
        ask(&mut p, FLOWCONTROL_SUSPEND, &[]),
        (Action::Suspend(true), vec![])
    );
    assert_eq!(
        ask(&mut p, FLOWCONTROL_RESUME, &[]),
        (Action::Suspend(false), vec![])
    );
    assert_eq!(
        ask(&mut p, SET_LINESTATE_MASK, &[0x10]).1,
        vec![vec![110, 0x10]]
    );
    assert_eq!(
        ask(&mut p, NOTIFY_MODEMSTATE, &[]).1,
        vec![vec![107, NO_MODEM_LINES]]
    );
    assert_eq!(
        ask(&mut p, SET_MODEMSTATE_MASK, &[0x10]).1,
        vec![vec![111, 0x10]]
    );
    assert_eq!(ask(&mut p, NOTIFY_MODEMSTATE, &[]).1, vec![vec![107, 0x10]]);
    // Server-side command codes are not requests.
    assert_eq!(ask(&mut p, 101, &[0; 4]), (Action::None, vec![]));
}

#[test]
fn modem_changes_are_notified_with_delta_bits_through_the_mask() {
    let mut p = ComPort::new(LineSettings::default());
    let mut out = Vec::new();
    p.modem_changed(None, true, &mut out);
    assert_eq!(answers(&out), vec![vec![107, 0xB0]]);
    out.clear();
    p.modem_changed(None, false, &mut out);
    assert!(out.is_empty(), "no change, no notification");

    let lines = ModemLines {
        cts: false,
        dsr: true,
        ri: true,
        cd: true,
    };
    p.modem_changed(Some(lines), false, &mut out);
    // CTS dropped (delta 0x01), RI rose (no delta: only its trailing edge).
    assert_eq!(answers(&out), vec![vec![107, 0xE0 | 0x01]]);
    out.clear();
    p.request(SET_MODEMSTATE_MASK, &[0x80 | 0x08], &mut Vec::new());
    p.modem_changed(Some(ModemLines { ri: false, ..lines }), false, &mut out);
    assert!(out.is_empty(), "RI is not watched");
    p.modem_changed(Some(ModemLines { cd: false, ..lines }), false, &mut out);
    assert_eq!(answers(&out), vec![vec![107, 0x08]]);
}
