//! The stick's Z-Wave home id, for DeviceInfo's `zwave_home_id`, learnt
//! from the traffic rather than asked for: the endpoint never speaks to the
//! stick on its own (a request of ours could interleave with the
//! gateway's), but every gateway asks for it at start (Serial API
//! GetControllerId, function 0x20), and the answer passes through here:
//! SOF 0x01, length 0x08, response 0x01, 0x20, four bytes of home id, the
//! node id and a checksum.

use std::sync::atomic::{AtomicU32, Ordering};

const HEADER: [u8; 4] = [0x01, 0x08, 0x01, 0x20];

/// The last home id seen; 0 until one is seen (as ESPHome reports it).
#[derive(Default)]
pub struct HomeId(AtomicU32);

impl HomeId {
    pub fn get(&self) -> u32 {
        self.0.load(Ordering::Relaxed)
    }

    /// Looks for a GetControllerId response with a valid checksum in what
    /// the stick said.
    pub fn observe(&self, from_stick: &[u8]) {
        for (i, w) in from_stick.windows(HEADER.len()).enumerate() {
            if w != HEADER {
                continue;
            }
            let Some(frame) = from_stick.get(i..i + 10) else {
                return;
            };
            // The Serial API checksum: 0xFF xor every byte from length to
            // the last data byte.
            let sum = frame[1..9].iter().fold(0xffu8, |a, b| a ^ b);
            if sum == frame[9] {
                let id = u32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
                self.0.store(id, Ordering::Relaxed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(id: u32, node: u8) -> Vec<u8> {
        let mut f = vec![0x01, 0x08, 0x01, 0x20];
        f.extend_from_slice(&id.to_be_bytes());
        f.push(node);
        let sum = f[1..].iter().fold(0xffu8, |a, b| a ^ b);
        f.push(sum);
        f
    }

    #[test]
    fn the_home_id_is_read_from_a_get_controller_id_response_among_other_bytes() {
        let h = HomeId::default();
        assert_eq!(h.get(), 0);
        let mut said = vec![0x06];
        said.extend(response(0x7e57_0001, 1));
        h.observe(&said);
        assert_eq!(h.get(), 0x7e57_0001);
    }

    #[test]
    fn a_frame_with_a_bad_checksum_or_cut_short_is_ignored() {
        let h = HomeId::default();
        let mut bad = response(0x1234_5678, 1);
        bad[9] ^= 1;
        h.observe(&bad);
        h.observe(&response(0x1234_5678, 1)[..7]);
        assert_eq!(h.get(), 0);
    }
}
