use std::net::Ipv6Addr;

use super::*;

fn caps(max_pending: usize, max_pending_per_source: usize) -> Caps {
    Caps {
        max_connections: 64,
        max_pending,
        max_pending_per_source,
        max_per_client: 1,
    }
}

/// A pending place for a connection from `source`, with a slot for it.
fn pend(a: &Arc<Admission>, source: Source) -> (PendingTicket, Eviction) {
    let slot = a.connection().expect("a free connection slot");
    a.pending(source, slot)
}

fn v4(last: u8) -> Source {
    Source::of(IpAddr::V4(Ipv4Addr::new(192, 0, 2, last)))
}

#[test]
fn at_the_pending_cap_the_oldest_handshake_gives_way() {
    let a = Arc::new(Admission::new(caps(2, 2)));
    let (first, e1) = pend(&a, v4(1));
    let (second, e2) = pend(&a, v4(2));
    assert_eq!((e1, e2), (Eviction::None, Eviction::None));
    let (third, e3) = pend(&a, v4(3));
    assert_eq!(e3, Eviction::BusiestSource);
    assert!(first.evicted.is_cancelled());
    assert!(!second.evicted.is_cancelled() && !third.evicted.is_cancelled());
    drop(first);
    assert_eq!(a.pending_now(), 2);
    drop((second, third));
    assert_eq!(a.pending_now(), 0);
}

#[test]
fn a_source_at_its_cap_gives_up_its_own_oldest_place() {
    let a = Arc::new(Admission::new(caps(4, 2)));
    let (other, _) = pend(&a, v4(9));
    let (first, _) = pend(&a, v4(1));
    let (second, _) = pend(&a, v4(1));
    let (third, e) = pend(&a, v4(1));
    assert_eq!(e, Eviction::OwnSource);
    assert!(first.evicted.is_cancelled());
    assert!(!second.evicted.is_cancelled() && !third.evicted.is_cancelled());
    assert!(
        !other.evicted.is_cancelled(),
        "another source's place was taken"
    );
    assert_eq!(a.pending_now(), 3);
}

#[test]
fn one_source_flooding_never_pushes_out_a_handshake_from_another() {
    let a = Arc::new(Admission::new(caps(64, 16)));
    let (legit, _) = pend(&a, v4(1));
    let flood: Vec<_> = (0..10_000).map(|_| pend(&a, v4(2)).0).collect();
    assert!(!legit.evicted.is_cancelled());
    assert_eq!(a.pending_now(), 17);
    let live = flood.iter().filter(|t| !t.evicted.is_cancelled()).count();
    assert_eq!(live, 16, "the flood keeps only its newest 16");
}

#[test]
fn at_the_pending_cap_the_source_holding_the_most_gives_way() {
    let a = Arc::new(Admission::new(caps(4, 3)));
    let (a1, _) = pend(&a, v4(1));
    let (b, _) = pend(&a, v4(2));
    let (a2, _) = pend(&a, v4(1));
    let (c, _) = pend(&a, v4(3));
    let (d, e) = pend(&a, v4(4));
    assert_eq!(e, Eviction::BusiestSource);
    // b is older than a2, but source 1 holds two places.
    assert!(a1.evicted.is_cancelled());
    for t in [&b, &a2, &c, &d] {
        assert!(!t.evicted.is_cancelled());
    }
}

#[test]
fn among_sources_holding_as_many_the_one_waiting_longest_gives_way() {
    let a = Arc::new(Admission::new(caps(2, 1)));
    let (old, _) = pend(&a, v4(1));
    let (young, _) = pend(&a, v4(2));
    let (newcomer, e) = pend(&a, v4(3));
    assert_eq!(e, Eviction::BusiestSource);
    assert!(old.evicted.is_cancelled());
    assert!(!young.evicted.is_cancelled() && !newcomer.evicted.is_cancelled());
}

#[test]
fn sources_are_forgotten_once_nothing_of_theirs_is_pending() {
    let a = Arc::new(Admission::new(caps(8, 2)));
    let tickets: Vec<_> = (0..=255).map(|i| pend(&a, v4(i)).0).collect();
    // Evicted sources are gone at once, whether or not their tickets are.
    assert_eq!(a.sources_now(), 8);
    drop(tickets);
    assert_eq!(a.sources_now(), 0);
    assert_eq!(a.pending_now(), 0);
}

#[test]
fn an_ipv6_source_is_its_64_and_an_ipv4_mapped_peer_is_its_ipv4_address() {
    let host = |last: u16| IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 7, 0, 0, 0, last));
    assert_eq!(Source::of(host(1)), Source::of(host(0xbeef)));
    let next_net = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 8, 0, 0, 0, 1));
    assert_ne!(Source::of(host(1)), Source::of(next_net));
    let mapped = IpAddr::V6(Ipv4Addr::new(192, 0, 2, 1).to_ipv6_mapped());
    assert_eq!(Source::of(mapped), v4(1));
}

#[test]
fn an_evicted_connection_frees_its_slot_at_once_and_is_not_admitted() {
    let a = Arc::new(Admission::new(Caps {
        max_connections: 2,
        ..caps(1, 1)
    }));
    let (first, _) = pend(&a, v4(1));
    let (second, e) = pend(&a, v4(2));
    assert_eq!(e, Eviction::BusiestSource);
    // The first ticket still exists (its task has not run yet), but its
    // slot is free for a third connection.
    assert!(a.connection().is_some());
    assert!(first.admitted().is_none());
    let slot = second.admitted().expect("admitted");
    assert_eq!(
        a.pending_now(),
        0,
        "an admitted connection is no longer pending"
    );
    drop(slot);
    assert!(a.connection().is_some() && a.connection().is_some());
}

#[test]
fn connections_beyond_the_cap_get_no_slot_until_one_is_freed() {
    let a = Admission::new(Caps {
        max_connections: 2,
        ..caps(1, 1)
    });
    let s1 = a.connection().unwrap();
    let _s2 = a.connection().unwrap();
    assert!(a.connection().is_none());
    drop(s1);
    assert!(a.connection().is_some());
}

#[test]
fn one_client_name_is_capped_and_forgotten_when_it_leaves() {
    let a = Admission::new(Caps {
        max_per_client: 2,
        ..caps(1, 1)
    });
    let t1 = a.client("gw").unwrap();
    let t2 = a.client("gw").unwrap();
    assert!(a.client("gw").is_none());
    assert!(a.client("laptop").is_some());
    drop((t1, t2));
    assert!(a.per_client.lock().unwrap().is_empty());
    assert!(a.client("gw").is_some());
}
