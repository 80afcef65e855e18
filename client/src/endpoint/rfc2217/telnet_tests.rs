use super::*;

const NOP: u8 = 241;
const ECHO: u8 = 1;

/// Feeds `input` in pieces of `step` bytes, collecting data and events.
fn decode_in_steps(input: &[u8], step: usize) -> (Vec<u8>, Vec<Event>) {
    let mut dec = Decoder::default();
    let (mut data, mut events) = (Vec::new(), Vec::new());
    for chunk in input.chunks(step) {
        let mut rest = chunk;
        while !rest.is_empty() {
            let (used, event) = dec.feed(rest, &mut data);
            events.extend(event);
            rest = &rest[used..];
        }
    }
    (data, events)
}

#[test]
fn every_byte_value_survives_escaping_and_decoding() {
    let all: Vec<u8> = (0..=255u8).chain([IAC, IAC, IAC, 0, IAC]).collect();
    let mut wire = Vec::new();
    escape_into(&all, &mut wire);
    assert_eq!(wire.len(), all.len() + 5, "each IAC doubled once");
    for step in [1, 2, 3, 7, wire.len()] {
        let (data, events) = decode_in_steps(&wire, step);
        assert_eq!(data, all, "step {step}");
        assert!(events.is_empty(), "step {step}: {events:?}");
    }
}

#[test]
fn commands_split_across_reads_decode_as_when_whole() {
    let mut wire = b"ab".to_vec();
    wire.extend_from_slice(&[IAC, WILL, COM_PORT, b'c', IAC, NOP, IAC, IAC]);
    subnegotiation(COM_PORT, &[1, 0, 0, 0x25, 0x80], &mut wire);
    wire.push(b'd');
    let want_events = vec![
        Event::Negotiate(WILL, COM_PORT),
        Event::Command(NOP),
        Event::Sub(vec![COM_PORT, 1, 0, 0, 0x25, 0x80]),
    ];
    for step in 1..=wire.len() {
        let (data, events) = decode_in_steps(&wire, step);
        assert_eq!(data, [b'a', b'b', b'c', IAC, b'd'], "step {step}");
        assert_eq!(events, want_events, "step {step}");
    }
}

#[test]
fn subnegotiation_payload_with_iac_is_unescaped_across_reads() {
    // SET-BAUDRATE 0xFF00FFFF: three IACs in the value, doubled on the wire.
    let mut wire = Vec::new();
    subnegotiation(COM_PORT, &[1, 0xff, 0x00, 0xff, 0xff], &mut wire);
    assert_eq!(
        wire,
        [IAC, SB, COM_PORT, 1, IAC, IAC, 0, IAC, IAC, IAC, IAC, IAC, SE]
    );
    for step in 1..=wire.len() {
        let (data, events) = decode_in_steps(&wire, step);
        assert!(data.is_empty());
        assert_eq!(
            events,
            [Event::Sub(vec![COM_PORT, 1, 0xff, 0x00, 0xff, 0xff])],
            "step {step}"
        );
    }
}

#[test]
fn decoder_stops_after_each_command_so_later_data_waits() {
    let mut dec = Decoder::default();
    let mut data = Vec::new();
    let wire = [b'x', IAC, DO, BINARY, b'y'];
    let (used, event) = dec.feed(&wire, &mut data);
    assert_eq!((used, event), (4, Some(Event::Negotiate(DO, BINARY))));
    assert_eq!(data, b"x");
    let (used, event) = dec.feed(&wire[4..], &mut data);
    assert_eq!((used, event), (1, None));
    assert_eq!(data, b"xy");
}

#[test]
fn oversized_or_unterminated_subnegotiations_cannot_grow_a_buffer() {
    let mut wire = vec![IAC, SB, COM_PORT];
    wire.extend(std::iter::repeat_n(7u8, 10_000));
    wire.extend_from_slice(&[IAC, SE, b'k']);
    let (data, events) = decode_in_steps(&wire, 100);
    assert!(events.is_empty(), "{events:?}");
    assert_eq!(data, b"k");
    // A peer that forgets IAC SE: the next command ends the subnegotiation.
    let wire = [IAC, SB, COM_PORT, 9, IAC, WILL, SGA, b'z'];
    let (data, events) = decode_in_steps(&wire, 1);
    assert_eq!(
        events,
        [Event::Sub(vec![COM_PORT, 9]), Event::Negotiate(WILL, SGA)]
    );
    assert_eq!(data, b"z");
}

#[test]
fn unknown_options_are_refused_and_known_ones_accepted_once() {
    let mut o = Options::default();
    let mut out = Vec::new();
    o.negotiate(WILL, 24, &mut out); // terminal type
    o.negotiate(DO, ECHO, &mut out);
    o.negotiate(DO, 99, &mut out);
    assert_eq!(out, [IAC, DONT, 24, IAC, WONT, ECHO, IAC, WONT, 99]);

    out.clear();
    o.negotiate(WILL, COM_PORT, &mut out);
    assert_eq!(out, [IAC, DO, COM_PORT]);
    assert!(o.com_port());
    // Said again: already on, so no answer (no negotiation loops).
    out.clear();
    o.negotiate(WILL, COM_PORT, &mut out);
    assert!(out.is_empty());
    // Refusals of what is already off need no answer either.
    o.negotiate(WONT, 24, &mut out);
    o.negotiate(DONT, ECHO, &mut out);
    assert!(out.is_empty());
    // Turned off: acknowledged once.
    o.negotiate(WONT, COM_PORT, &mut out);
    assert_eq!(out, [IAC, DONT, COM_PORT]);
    assert!(!o.com_port());
}

#[test]
fn answers_to_our_own_offers_are_not_answered_again() {
    let mut o = Options::default();
    let mut out = Vec::new();
    o.offer(&mut out);
    assert_eq!(
        out,
        [IAC, WILL, BINARY, IAC, DO, BINARY, IAC, WILL, SGA, IAC, DO, SGA]
    );
    out.clear();
    for (cmd, opt) in [(DO, BINARY), (WILL, BINARY), (DO, SGA), (WONT, SGA)] {
        o.negotiate(cmd, opt, &mut out);
    }
    assert!(out.is_empty(), "{out:?}");
    // The peer changes its mind about binary later: acknowledged.
    o.negotiate(DONT, BINARY, &mut out);
    assert_eq!(out, [IAC, WONT, BINARY]);
}
