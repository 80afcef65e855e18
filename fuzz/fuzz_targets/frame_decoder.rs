//! Feeds arbitrary bytes to the frame decoder, in arbitrary chunkings: it
//! must never panic, never consume bytes of an incomplete frame, and every
//! frame it accepts must re-encode to something that decodes the same.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use serialmesh_proto::Frame;

fuzz_target!(|data: &[u8]| {
    let split = data.first().copied().unwrap_or(1).max(1) as usize;
    let mut buf = BytesMut::new();
    for chunk in data.chunks(split) {
        buf.extend_from_slice(chunk);
        loop {
            let before = buf.len();
            match Frame::decode(&mut buf) {
                Ok(Some(frame)) => {
                    let mut again = frame.to_bytes();
                    let decoded = Frame::decode(&mut again).expect("re-encoded frame decodes");
                    assert_eq!(decoded, Some(frame));
                }
                Ok(None) => {
                    assert_eq!(buf.len(), before, "incomplete frame consumed bytes");
                    break;
                }
                Err(_) => return,
            }
        }
    }
});
