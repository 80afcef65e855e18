//! Arbitrary bytes, in arbitrary chunkings, through the frame decoder; the
//! properties checked are in `serialmesh_proto::fuzzing::frame_decoder`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| serialmesh_proto::fuzzing::frame_decoder(data));
