//! Many agents at once: agents, each on a host of its own, start together
//! (every one probing and announcing on mDNS in the same second) and a
//! client on another host must see all of them. Namespaces as in `mesh.rs`;
//! needs root, iproute2 and nftables.
//!
//! The default run has 30 agents (debug builds of 30 agents and a client
//! share two cores here); the figure for 50 comes from release builds:
//!
//!     SERIALMESH_BIN_DIR=$PWD/target/release SERIALMESH_SCALE_AGENTS=50 \
//!         cargo test -p serialmesh-tests --test scale -- --nocapture

use std::time::{Duration, Instant};

use serde_json::Value;
use serialmesh_tests::mesh::{ls, NsAgent};
use serialmesh_tests::netns::Lan;
use serialmesh_tests::Pki;

fn agents() -> usize {
    std::env::var("SERIALMESH_SCALE_AGENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30)
}

fn agent_names(doc: &str) -> Vec<String> {
    let Ok(v) = serde_json::from_str::<Value>(doc) else {
        return Vec::new();
    };
    let mut names: Vec<String> = v["agents"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x["name"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn many_agents_announced_at_once_all_show_in_ls() {
    let n = agents();
    let lan = Lan::new(n + 1);
    let pki = Pki::new();
    let laptop = pki.client("laptop");
    let client_host = n;

    let started = Instant::now();
    let agents: Vec<NsAgent> = (0..n)
        .map(|i| {
            let name = format!("a{i:02}");
            NsAgent::start(&lan, i, &pki, &name, &format!("z{}", i % 5), &[], &[])
        })
        .collect();
    let all_started = started.elapsed();
    let up = Instant::now();

    let want: Vec<String> = (0..n).map(|i| format!("a{i:02}")).collect();
    let deadline = Duration::from_secs(60);
    let mut runs = 0;
    let (seen, single) = loop {
        let run = ls(&lan, client_host, &laptop, &["--json"]);
        runs += 1;
        let names = agent_names(&run.stdout);
        if names == want {
            break (up.elapsed(), run.took);
        }
        assert!(
            up.elapsed() < deadline,
            "after {runs} ls runs in {:?}, ls shows {} of {n} agents: {names:?}\n{}",
            up.elapsed(),
            names.len(),
            run.stderr
        );
    };
    eprintln!(
        "{n} agents: started (all listening) in {all_started:.1?}; ls shows all \
         {seen:.1?} later, after {runs} runs; that ls run took {single:.2?}"
    );
    // Once everyone is announced, one ls finds them all well within 2 s.
    let again = ls(&lan, client_host, &laptop, &["--json"]);
    assert_eq!(agent_names(&again.stdout), want, "{}", again.stderr);
    assert!(
        again.took < Duration::from_secs(2),
        "ls of {n} agents took {:?}",
        again.took
    );
    eprintln!("{n} agents: a later ls took {:.2?}", again.took);
    drop(agents);
}
