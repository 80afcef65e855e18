use std::net::Ipv4Addr;

use serialmesh_tests::mdns_flood::advert;

use super::*;
use crate::mesh::browse::wire::parse;

const CAPS: Caps = Caps {
    per_source: 3,
    total: 5,
};

fn ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, last))
}

/// Agent `name`'s announcement (claiming 10.0.1.`claimed`), heard from
/// 10.0.0.`from`.
fn hear(table: &mut Table, from: u8, name: &str, claimed: u8) -> Applied {
    let records = parse(&advert(name, Ipv4Addr::new(10, 0, 1, claimed))).unwrap();
    table.apply(ip(from), &records, Instant::now(), CAPS, None)
}

#[test]
fn an_advert_makes_an_unverified_candidate_with_its_pin_and_address() {
    let mut table = Table::default();
    assert_eq!(
        hear(&mut table, 9, "shed", 7),
        Applied {
            to_check: 1,
            over_cap: 0
        }
    );
    let p = table.peers.values().next().unwrap();
    assert_eq!(p.name.as_deref(), Some("shed"));
    assert_eq!(p.addrs, vec!["10.0.1.7:21317"]);
    assert!(p.pin.is_some());
    assert_eq!(p.state, State::Unverified);
    // Heard again: the same candidate.
    hear(&mut table, 9, "shed", 7);
    assert_eq!(table.len_mdns(), 1);
}

#[test]
fn adverts_are_capped_per_source_and_in_total() {
    let mut table = Table::default();
    let added: usize = (0..10)
        .map(|i| hear(&mut table, 1, &format!("a{i}"), i).to_check)
        .sum();
    assert_eq!(added, CAPS.per_source, "one source");
    let from_others: usize = (0..10)
        .map(|i| hear(&mut table, 2 + i, &format!("b{i}"), i).to_check)
        .sum();
    assert_eq!(from_others, CAPS.total - CAPS.per_source);
    assert_eq!(table.len_mdns(), CAPS.total);
    assert_eq!(table.peers.len(), CAPS.total);
    // A place freed is a place for the next advert.
    let first = table.peers.keys().next().unwrap().clone();
    table.remove(&first);
    assert_eq!(hear(&mut table, 30, "late", 1).to_check, 1);
}

#[test]
fn one_name_from_two_sources_is_two_candidates() {
    let mut table = Table::default();
    hear(&mut table, 1, "shed", 7);
    hear(&mut table, 2, "shed", 8);
    assert_eq!(table.len_mdns(), 2);
}

#[test]
fn a_goodbye_counts_only_from_the_source_that_announced() {
    let mut table = Table::default();
    hear(&mut table, 1, "shed", 7);
    let mut bye = parse(&advert("shed", Ipv4Addr::new(10, 0, 1, 7))).unwrap();
    bye.iter_mut().for_each(|r| r.ttl = 0);
    table.apply(ip(2), &bye, Instant::now(), CAPS, None);
    assert_eq!(table.len_mdns(), 1, "a stranger's goodbye");
    table.apply(ip(1), &bye, Instant::now(), CAPS, None);
    assert_eq!(table.len_mdns(), 0);
}

#[test]
fn the_agents_own_advert_takes_no_place() {
    let mut table = Table::default();
    let records = parse(&advert("me", Ipv4Addr::new(10, 0, 1, 1))).unwrap();
    let Data::Txt(txt) = &records[2].data else {
        panic!()
    };
    let own: Fingerprint = txt
        .iter()
        .find(|(k, _)| k == "key")
        .unwrap()
        .1
        .parse()
        .unwrap();
    table.apply(ip(1), &records, Instant::now(), CAPS, Some(own));
    assert_eq!(table.len_mdns(), 0);
}

#[test]
fn a_new_address_needs_a_new_check() {
    let mut table = Table::default();
    hear(&mut table, 1, "shed", 7);
    let p = table.peers.values_mut().next().unwrap();
    p.state = State::Verified {
        addr: "10.0.1.7:21317".into(),
        key: p.pin.unwrap(),
    };
    // Announced again with the cache-flush bit on its new address.
    let mut records = parse(&advert("shed", Ipv4Addr::new(10, 0, 1, 8))).unwrap();
    records[3].flush = true;
    table.apply(ip(1), &records, Instant::now(), CAPS, None);
    let p = table.peers.values().next().unwrap();
    assert_eq!(p.addrs, vec!["10.0.1.8:21317"]);
    assert_eq!(p.state, State::Unverified);
}

#[test]
fn peers_not_heard_for_a_while_are_forgotten() {
    let mut table = Table::default();
    let start = Instant::now();
    let at = |secs| start + std::time::Duration::from_secs(secs);
    for (name, when) in [("old", 0), ("new", 100)] {
        let records = parse(&advert(name, Ipv4Addr::new(10, 0, 1, 7))).unwrap();
        table.apply(ip(1), &records, at(when), CAPS, None);
    }
    table.expire(at(50));
    let names: Vec<_> = table
        .peers
        .values()
        .filter_map(|p| p.name.clone())
        .collect();
    assert_eq!(names, vec!["new"]);
    assert_eq!(table.len_mdns(), 1);
}
