//! Replays the committed cargo-fuzz corpora (`fuzz/corpus/<target>`)
//! through the fuzz targets' bodies, so every `cargo test` checks the
//! inputs the fuzzer once found interesting, without nightly.

use std::path::Path;

/// Runs every file of `fuzz/corpus/<target>` through `body`.
fn replay(target: &str, body: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        body(&data);
        n += 1;
    }
    assert!(n > 0, "no corpus files in {}", dir.display());
}

#[test]
fn discovery_scan_corpus_replays_cleanly() {
    replay("discovery_scan", serialmesh_agent::usb::fuzzing::scan_tree);
}

#[test]
fn mdns_packet_corpus_replays_cleanly() {
    replay(
        "mdns_packet",
        serialmesh_agent::mesh::browse::fuzzing::mdns_packet,
    );
}
