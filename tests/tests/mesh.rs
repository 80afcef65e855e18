//! Discovery of agents across hosts: agents and clients in their own
//! network namespaces on one private LAN, with real mDNS multicast between
//! them (see `serialmesh_tests::netns`). Needs root, iproute2 and nftables.

use std::time::{Duration, Instant};

use serialmesh_tests::bins;
use serialmesh_tests::mesh::{
    echo_devices, fingerprint, last_doc, lists_agent, ls, ls_until, rows, seed, three_agents,
    tls_args, NsAgent, PORT, T,
};
use serialmesh_tests::netns::Lan;
use serialmesh_tests::util::eventually;
use serialmesh_tests::{EchoDevice, Pki};

#[test]
fn ls_shows_every_zone_agent_and_device_across_hosts() {
    let lan = Lan::new(4);
    let pki = Pki::new();
    let (zwave, zigbee, rs232) = (
        EchoDevice::start(),
        EchoDevice::start(),
        EchoDevice::start(),
    );
    let a = NsAgent::start(&lan, 0, &pki, "a", "house", &[("zwave", zwave.path())], &[]);
    let b = NsAgent::start(
        &lan,
        1,
        &pki,
        "b",
        "house",
        &[("zigbee", zigbee.path())],
        &[],
    );
    let g = NsAgent::start(
        &lan,
        2,
        &pki,
        "g",
        "garage",
        &[("rs232", rs232.path())],
        &[],
    );
    let (_a, _b, g) = (a.announced(), b.announced(), g.announced());
    let laptop = pki.client("laptop");

    let run = ls_until(&lan, 3, &laptop, &[], "three agents", T, |r| {
        rows(&r.stdout).len() == 3
    });
    assert_eq!(run.code, 0, "{}", run.stderr);
    let want = [
        ["garage", "g", "rs232", "-", "-", "-", "free"],
        ["house", "a", "zwave", "-", "-", "-", "free"],
        ["house", "b", "zigbee", "-", "-", "-", "free"],
    ];
    assert_eq!(
        rows(&run.stdout),
        want.map(|r| r.map(String::from).to_vec())
    );
    assert!(run.stdout.starts_with("ZONE"), "{}", run.stdout);
    assert!(
        run.stdout.contains("\n\nhouse"),
        "zones not grouped:\n{}",
        run.stdout
    );

    // Once the agents are announced, one run finds them all, fast.
    let timed = ls(&lan, 3, &laptop, &[]);
    assert_eq!(
        rows(&timed.stdout).len(),
        3,
        "{}\n{}",
        timed.stdout,
        timed.stderr
    );
    assert!(
        timed.took < Duration::from_secs(2),
        "ls took {:?}",
        timed.took
    );

    // JSON: each agent with the fingerprint it advertised (and TLS matched).
    let json = ls(&lan, 3, &laptop, &["--json"]);
    assert_eq!(json.code, 0, "{}", json.stderr);
    let fp = fingerprint(&g.tls);
    assert!(
        json.stdout.contains(&format!("\"fingerprint\": \"{fp}\"")),
        "{}",
        json.stdout
    );
    assert!(
        json.stdout.contains("\"source\": \"mdns\""),
        "{}",
        json.stdout
    );
    assert!(
        json.stdout.contains(&format!("\"{}\"", seed(&lan, 0))),
        "no peers listed: {}",
        json.stdout
    );
}

#[test]
fn an_agent_that_leaves_gracefully_drops_out_of_ls_within_seconds() {
    let lan = Lan::new(4);
    let pki = Pki::new();
    let devices = echo_devices();
    let [a, b, c] = three_agents(&lan, &pki, &devices);
    let laptop = pki.client("laptop");
    let watch = lan
        .command(3, bins::serialctl())
        .args(["ls", "--watch", "--json"])
        .args(tls_args(&laptop))
        .label("serialctl-ls-watch")
        .spawn();
    assert!(
        eventually(T, || ["a", "b", "c"]
            .iter()
            .all(|n| lists_agent(&last_doc(&watch), n))),
        "{}",
        watch.failure("watch never listed all three agents")
    );

    let left = Instant::now();
    c.guard.terminate();
    assert!(
        eventually(T, || !lists_agent(&last_doc(&watch), "c")),
        "{}",
        watch.failure("c never dropped")
    );
    let dropped = left.elapsed();
    assert!(
        dropped < Duration::from_secs(3),
        "ls --watch dropped c after {dropped:?}"
    );
    // Its goodbye reached the other agents too: they stop reporting it
    // (RFC 6762 10.1: a goodbye takes effect one second after it arrives).
    for peer in [&a, &b] {
        peer.guard
            .wait_for_output("peer left (mDNS goodbye)", T)
            .unwrap();
    }
    let forgotten = left.elapsed();
    assert!(
        forgotten < Duration::from_secs(3),
        "peers reported c for {forgotten:?}"
    );
    let run = ls(&lan, 3, &laptop, &["--json"]);
    assert!(
        !run.stdout.contains(&seed(&lan, 2)),
        "c still reported:\n{}",
        run.stdout
    );
    assert!(run.stderr.is_empty(), "{}", run.stderr);
    eprintln!(
        "graceful leave: ls --watch dropped the agent after {dropped:?}, peers after {forgotten:?}"
    );
}

#[test]
fn a_killed_agent_drops_out_of_ls_and_ages_out_of_its_peers() {
    let lan = Lan::new(4);
    let pki = Pki::new();
    let devices = echo_devices();
    let [a, _b, c] = three_agents(&lan, &pki, &devices);
    let laptop = pki.client("laptop");
    // Once a probe of a's has reached c, c counts as a live peer of a's.
    a.guard
        .wait_for_output("peer answers peer=Some(\"c\")", T)
        .unwrap();
    let watch = lan
        .command(3, bins::serialctl())
        .args(["ls", "--watch", "--json"])
        .args(tls_args(&laptop))
        .label("serialctl-ls-watch")
        .spawn();
    assert!(
        eventually(T, || lists_agent(&last_doc(&watch), "c")),
        "{}",
        watch.failure("watch never listed c")
    );

    let killed = Instant::now();
    c.guard.kill();
    assert!(
        eventually(T, || !lists_agent(&last_doc(&watch), "c")),
        "{}",
        watch.failure("c never dropped")
    );
    let dropped = killed.elapsed();
    // The next refresh (every 2 s) finds it refusing connections.
    assert!(
        dropped < Duration::from_secs(5),
        "ls --watch dropped c after {dropped:?}"
    );

    // No goodbye: a and b keep reporting c until three probes (10 s apart)
    // have failed; meanwhile ls lists it as unreachable, never as an agent.
    let c_addr = seed(&lan, 2);
    let within = Duration::from_secs(60);
    let run = ls_until(&lan, 3, &laptop, &["--json"], "c aged out", within, |r| {
        assert!(
            !lists_agent(&r.stdout.replace(['\n', ' '], ""), "c"),
            "{}",
            r.stdout
        );
        !r.stdout.contains(&c_addr)
    });
    let aged = killed.elapsed();
    assert!(run.stderr.is_empty(), "{}", run.stderr);
    assert!(
        aged < Duration::from_secs(40),
        "peers reported c for {aged:?}"
    );
    eprintln!("killed agent: ls --watch dropped it after {dropped:?}, peers after {aged:?}");
}

#[test]
fn an_agent_cut_off_the_network_drops_out_and_comes_back() {
    let lan = Lan::new(3);
    let pki = Pki::new();
    let device = EchoDevice::start();
    let _a = NsAgent::start(
        &lan,
        0,
        &pki,
        "a",
        "house",
        &[("zwave", device.path())],
        &[],
    )
    .announced();
    let _b = NsAgent::start(&lan, 1, &pki, "b", "garage", &[], &[]).announced();
    let laptop = pki.client("laptop");
    let watch = lan
        .command(2, bins::serialctl())
        .args(["ls", "--watch", "--json"])
        .args(tls_args(&laptop))
        .label("serialctl-ls-watch")
        .spawn();
    let both = || lists_agent(&last_doc(&watch), "a") && lists_agent(&last_doc(&watch), "b");
    assert!(
        eventually(T, both),
        "{}",
        watch.failure("never listed a and b")
    );

    // A host that is gone does not refuse connections, it is silent: ls
    // gives up on it at its deadline and lists it as unreachable.
    let cut = Instant::now();
    lan.cut(1);
    assert!(
        eventually(T, || !lists_agent(&last_doc(&watch), "b")),
        "{}",
        watch.failure("b never dropped")
    );
    let dropped = cut.elapsed();
    assert!(
        dropped < Duration::from_secs(6),
        "dropped after {dropped:?}"
    );
    assert!(lists_agent(&last_doc(&watch), "a"));

    lan.restore(1);
    assert!(
        eventually(T, both),
        "{}",
        watch.failure("b never came back")
    );
    eprintln!("cut link: ls --watch dropped the agent after {dropped:?}");
}

#[test]
fn an_agent_that_changes_address_is_found_at_the_new_one() {
    let mut lan = Lan::new(2);
    let pki = Pki::new();
    let _a = NsAgent::start(&lan, 0, &pki, "a", "house", &[], &[]).announced();
    let laptop = pki.client("laptop");
    let old = seed(&lan, 0);
    ls_until(&lan, 1, &laptop, &["--json"], "a", T, |r| {
        r.stdout.contains(&old)
    });

    let new = format!("{}:{PORT}", lan.readdress(0, 200));
    // The agent notices within its address check (5 s) and re-announces.
    let run = ls_until(
        &lan,
        1,
        &laptop,
        &["--json"],
        "a at its new address",
        T,
        |r| r.stdout.contains(&format!("\"address\": \"{new}\"")),
    );
    assert!(!run.stdout.contains(&old), "{}", run.stdout);
}

/// Context switches of every thread of `pid` so far.
fn wakeups(pid: u32) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("status")).ok())
        .flat_map(|s| {
            s.lines()
                .filter(|l| l.contains("ctxt_switches"))
                .filter_map(|l| l.split_whitespace().last()?.parse::<u64>().ok())
                .collect::<Vec<_>>()
        })
        .sum()
}

#[test]
fn an_agent_alone_on_its_link_stays_asleep() {
    let lan = Lan::new(1);
    let pki = Pki::new();
    let a = NsAgent::start(&lan, 0, &pki, "a", "house", &[], &[]).announced();
    // Past its first mDNS queries (0, 1 and 3 s after start).
    a.guard.wait_for_output("announced on mDNS", T).unwrap();
    std::thread::sleep(Duration::from_secs(4));
    let before = wakeups(a.guard.pid());
    std::thread::sleep(Duration::from_secs(12));
    let woke = wakeups(a.guard.pid()) - before;
    eprintln!("a lone agent: {woke} context switches in 12 s");
    // Measured: 1. A 10 s timer with nothing to do (the mesh's check
    // interval without peers) makes it 5; an idle process is not switched
    // by others' load, it sleeps.
    assert!(woke < 3, "{woke} context switches in 12 s");
}
