//! Arbitrary bytes as one mDNS packet heard on the link, through the
//! agent's parser and into its table of adverts; the properties checked
//! are in `serialmesh_agent::mesh::browse::fuzzing`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| serialmesh_agent::mesh::browse::fuzzing::mdns_packet(data));
