//! A sysfs tree built from arbitrary bytes, scanned by the agent's USB
//! discovery; the layout of the input and the properties checked are in
//! `serialmesh_agent::usb::fuzzing`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| serialmesh_agent::usb::fuzzing::scan_tree(data));
