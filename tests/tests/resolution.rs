//! Resolving device addresses across hosts (`serialctl connect` without
//! `--agent`): following a device that moves, naming the candidates when an
//! address is unknown or ambiguous, and seeds where multicast is dropped.
//! Network namespaces as in `mesh.rs`; needs root, iproute2 and nftables.

use std::time::Duration;

use serialmesh_tests::mesh::{
    app, connect, echo_devices, echo_eventually, ls, ls_until, rows, seed, tls_args, NsAgent, T,
};
use serialmesh_tests::netns::Lan;
use serialmesh_tests::util::temp_dir;
use serialmesh_tests::{EchoDevice, Pki};

#[test]
fn a_client_follows_a_device_moved_to_another_agent_of_the_zone() {
    let lan = Lan::new(3);
    let pki = Pki::new();
    let stick = EchoDevice::start();
    let mut a =
        NsAgent::start(&lan, 0, &pki, "a", "house", &[("zwave", stick.path())], &[]).announced();
    let mut b = NsAgent::start(&lan, 1, &pki, "b", "house", &[], &[]).announced();
    let gw = pki.client("gw");
    let client = connect(&lan, 2, "zwave@house", &tls_args(&gw));
    let mut stream = app(&lan, 2);
    echo_eventually(&mut stream, "on-a");
    a.guard.wait_for_output("session started", T).unwrap();

    // The stick moves from a to b: a comes back without it, b with it.
    let mark = client.mark();
    a.restart_with(&lan, "house", &[], &[]);
    b.restart_with(&lan, "house", &[("zwave", stick.path())], &[]);
    echo_eventually(&mut stream, "on-b");
    b.guard.wait_for_output("session started", T).unwrap();
    let moved = client
        .wait_for_output_after(mark, "device moved to another agent", T)
        .unwrap();
    assert!(
        moved.contains("from=a") && moved.contains("to=b"),
        "{moved}"
    );
}

#[test]
fn unknown_and_ambiguous_addresses_fail_listing_the_candidates() {
    let lan = Lan::new(3);
    let pki = Pki::new();
    let (one, two) = (EchoDevice::start(), EchoDevice::start());
    let _a = NsAgent::start(&lan, 0, &pki, "a", "house", &[("zwave", one.path())], &[]).announced();
    let _b = NsAgent::start(&lan, 1, &pki, "b", "house", &[("zwave", two.path())], &[]).announced();
    let gw = tls_args(&pki.client("gw"));

    let ambiguous = connect(&lan, 2, "zwave@house", &gw);
    let _app = app(&lan, 2);
    let line = ambiguous.wait_for_output("is ambiguous", T).unwrap();
    let want = format!(
        "'zwave@house' is ambiguous: agents a ({}), b ({}) each have a device 'zwave'; use zwave@a or zwave@b",
        seed(&lan, 0),
        seed(&lan, 1)
    );
    assert!(line.contains(&want), "{line}");
    assert!(ambiguous.is_running(), "the endpoint must stay up");
    drop(ambiguous);

    let unknown = connect(&lan, 2, "nope@house", &gw);
    let line = unknown.wait_for_output("no device", T).unwrap();
    assert!(
        line.contains("no device 'nope' in zone or agent 'house'; there are: zwave@house (agent a), zwave@house (agent b)"),
        "{line}"
    );
    drop(unknown);

    // Naming the agent settles it.
    let _exact = connect(&lan, 2, "zwave@b", &gw);
    echo_eventually(&mut app(&lan, 2), "on-b");
}

#[test]
fn seeds_alone_reveal_the_mesh_when_multicast_is_dropped() {
    let lan = Lan::new(4);
    for host in 0..4 {
        lan.drop_multicast(host);
    }
    let pki = Pki::new();
    let devices = echo_devices();
    // A chain: the client knows a, a knows b, b knows c.
    let c = NsAgent::start(
        &lan,
        2,
        &pki,
        "c",
        "garage",
        &[("rs232", devices[2].path())],
        &[],
    );
    let b = NsAgent::start(
        &lan,
        1,
        &pki,
        "b",
        "house",
        &[("zigbee", devices[1].path())],
        &[seed(&lan, 2)],
    );
    let a = NsAgent::start(
        &lan,
        0,
        &pki,
        "a",
        "house",
        &[("zwave", devices[0].path())],
        &[seed(&lan, 1)],
    );
    let laptop = pki.client("laptop");

    // Without a seed nothing is found: multicast really is gone.
    let blind = ls(&lan, 3, &laptop, &[]);
    assert_eq!(blind.code, 1, "{}\n{}", blind.stdout, blind.stderr);
    assert!(
        blind.stderr.contains("give one with --seed HOST:PORT"),
        "{}",
        blind.stderr
    );

    let a_addr = seed(&lan, 0);
    let run = ls_until(
        &lan,
        3,
        &laptop,
        &["--seed", &a_addr],
        "the whole chain",
        T,
        |r| rows(&r.stdout).len() == 3,
    );
    assert!(run.took < Duration::from_secs(2), "ls took {:?}", run.took);
    let zones: Vec<String> = rows(&run.stdout)
        .into_iter()
        .map(|r| r[0].clone())
        .collect();
    assert_eq!(zones, ["garage", "house", "house"]);
    for agent in [&a, &b, &c] {
        assert!(
            agent
                .guard
                .stderr()
                .lines()
                .all(|l| !l.contains("WARN") || l.contains("mDNS")),
            "{}",
            agent.guard.failure("unexpected warnings")
        );
    }

    // A client with only a seed in its config reaches a device two hops away.
    let dir = temp_dir();
    let config = dir.path().join("client.toml");
    let tls = pki.client("gw");
    std::fs::write(
        &config,
        format!(
            "seeds = [\"{a_addr}\"]\n[tls]\ncert = \"{}\"\nkey = \"{}\"\nca = \"{}\"\n",
            tls.cert.display(),
            tls.key.display(),
            tls.ca.display()
        ),
    )
    .unwrap();
    let _client = connect(
        &lan,
        3,
        "rs232@garage",
        &["--config".into(), config.display().to_string()],
    );
    echo_eventually(&mut app(&lan, 3), "via-seeds");
    c.guard.wait_for_output("session started", T).unwrap();
}
