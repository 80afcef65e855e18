//! Bodies of the cargo-fuzz targets (`fuzz/`), kept here so that a plain
//! `cargo test` replays the committed corpus through the same code without
//! a nightly toolchain.

use bytes::BytesMut;

use crate::Frame;

/// Feeds arbitrary bytes to the frame decoder, in chunks whose size the
/// first byte picks: it must never panic, never consume bytes of an
/// incomplete frame, and every frame it accepts must re-encode to bytes
/// that decode to the same frame.
///
/// # Panics
/// When one of those properties does not hold (that is the finding).
pub fn frame_decoder(data: &[u8]) {
    let split = data.first().copied().unwrap_or(1).max(1) as usize;
    let mut buf = BytesMut::new();
    for chunk in data.chunks(split) {
        buf.extend_from_slice(chunk);
        loop {
            let before = buf.len();
            match Frame::decode(&mut buf) {
                Ok(Some(frame)) => {
                    let mut again = frame.to_bytes().unwrap();
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
}
