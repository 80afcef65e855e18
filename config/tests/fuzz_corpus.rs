//! Replays the committed cargo-fuzz corpus (`fuzz/corpus/config_parser`)
//! through the fuzz target's body, so every `cargo test` checks the inputs
//! the fuzzer once found interesting, without nightly.

use std::path::Path;

#[test]
fn config_parser_corpus_replays_cleanly() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/config_parser");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        serialmesh_config::fuzzing::config_text(&data);
        n += 1;
    }
    assert!(n > 0, "no corpus files in {}", dir.display());
}
