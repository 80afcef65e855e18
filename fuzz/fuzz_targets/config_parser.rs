//! Arbitrary text as agent and client configs; the properties checked are
//! in `serialmesh_config::fuzzing::config_text`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| serialmesh_config::fuzzing::config_text(data));
