use super::*;
use serialmesh_tests::mdns_flood::advert;

#[test]
fn an_agents_announcement_reads_as_its_four_records() {
    let p = advert("Shed", Ipv4Addr::new(10, 0, 0, 7));
    let records = parse(&p).unwrap();
    let instance = "shed._serialmesh._tcp.local";
    assert_eq!(records.len(), 4);
    assert_eq!(records[0].name, "_serialmesh._tcp.local");
    assert_eq!(records[0].data, Data::Ptr(instance.into()));
    assert_eq!(
        records[1].data,
        Data::Srv {
            port: 21317,
            target: "shed-seriald.local".into()
        }
    );
    let Data::Txt(txt) = &records[2].data else {
        panic!("{:?}", records[2])
    };
    assert!(txt.contains(&("zone".into(), "flood".into())), "{txt:?}");
    assert_eq!(records[3].data, Data::A(Ipv4Addr::new(10, 0, 0, 7)));
    assert_eq!((records[3].ttl, records[3].flush), (120, false));
}

/// A response with one PTR answer whose target is `rdata_name`.
fn ptr_packet(rdata_name: &[u8]) -> Vec<u8> {
    let mut p = vec![0, 0, 0x84, 0, 0, 0, 0, 1, 0, 0, 0, 0];
    p.extend_from_slice(b"\x01a\x05local\x00"); // owner at offset 12
    p.extend_from_slice(&TYPE_PTR.to_be_bytes());
    p.extend_from_slice(&[0, 1, 0, 0, 0, 60]);
    p.extend_from_slice(&(rdata_name.len() as u16).to_be_bytes());
    p.extend_from_slice(rdata_name);
    p
}

#[test]
fn compressed_names_are_followed_backwards_only() {
    // "b" then a pointer to "a.local" at offset 12.
    let ok = parse(&ptr_packet(b"\x01b\xc0\x0c")).unwrap();
    assert_eq!(ok[0].data, Data::Ptr("b.a.local".into()));
    // A pointer to itself (offset 31 is where the rdata starts) loops.
    assert_eq!(parse(&ptr_packet(b"\xc0\x1f")), None);
    // Forward, past the end.
    assert_eq!(parse(&ptr_packet(b"\xc0\xff")), None);
}

#[test]
fn truncated_packets_and_queries_yield_nothing() {
    let p = advert("shed", Ipv4Addr::new(10, 0, 0, 7));
    for cut in [3, 12, 40, p.len() - 1] {
        assert_eq!(parse(&p[..cut]), None, "cut at {cut}");
    }
    assert_eq!(parse(&query("_serialmesh._tcp.local.")), None);
}

#[test]
fn a_packet_claiming_many_records_yields_at_most_the_cap() {
    let mut p = vec![0, 0, 0x84, 0, 0, 0, 0x01, 0x00, 0, 0, 0, 0]; // 256 answers
    for _ in 0..256 {
        p.extend_from_slice(b"\x01a\x00");
        p.extend_from_slice(&TYPE_A.to_be_bytes());
        p.extend_from_slice(&[0, 1, 0, 0, 0, 60, 0, 4, 10, 0, 0, 1]);
    }
    assert_eq!(parse(&p).unwrap().len(), MAX_RECORDS);
}

#[test]
fn records_are_counted_whatever_their_kind() {
    let p = advert("shed", Ipv4Addr::new(10, 0, 0, 7));
    assert_eq!(record_count(&p), 4);
    assert_eq!(record_count(&query("_serialmesh._tcp.local.")), 0);
    assert_eq!(record_count(&p[..5]), 0);
}

#[test]
fn a_label_holding_a_dot_is_not_a_name() {
    // One label "b.c": read as text it would be the two labels b and c.
    assert_eq!(parse(&ptr_packet(b"\x03b.c\xc0\x0c")), None);
    assert_eq!(parse(&ptr_packet(b"\x01.\xc0\x0c")), None);
}

#[test]
fn lower_casing_keeps_names_within_255_bytes() {
    // Three labels of 60 ASCII bytes, then 31 U+023A (2 bytes each, 3
    // once lower-cased in full Unicode): 247 bytes on the wire.
    let mut wire_name = Vec::new();
    for label in [
        "x".repeat(60),
        "x".repeat(60),
        "x".repeat(60),
        "\u{23a}".repeat(31),
    ] {
        wire_name.push(label.len() as u8);
        wire_name.extend_from_slice(label.as_bytes());
    }
    wire_name.push(0);
    let records = parse(&ptr_packet(&wire_name)).unwrap();
    let Data::Ptr(name) = &records[0].data else {
        panic!("{records:?}")
    };
    assert!(name.len() <= MAX_NAME, "{} bytes", name.len());
    assert_eq!(name.len(), 3 * 61 + 62);
}
