//! A self-describing byte stream and its checker.
//!
//! The stream is a function of the offset: 16-byte frames, frame `k` at
//! offset `16k` holding `k` (u64 LE), a per-direction magic and a checksum
//! of both. A receiver can therefore tell, for every byte, whether it is the
//! next one, and after a gap find where the stream continues (the next frame
//! whose checksum holds names its own offset).
//!
//! Losses are not frame-aligned: the client drops whatever the application
//! wrote while the tunnel was down, in read-sized pieces. So a gap is
//! checked as "the bytes before the next valid frame are a prefix of what
//! was expected followed by a suffix of what precedes that frame". Anything
//! else is corruption; a frame from behind the expected offset is
//! duplication or reordering. Both are recorded as errors, never as loss.

use std::time::Instant;

pub const FRAME: u64 = 16;

/// Largest run of unverifiable bytes tolerated while looking for the next
/// valid frame before calling it garbage.
const MAX_PENDING: usize = 64 * 1024;

/// One direction's stream.
#[derive(Clone, Copy, Debug)]
pub struct Pattern {
    magic: u32,
}

impl Pattern {
    /// `tag` tells the directions apart, so an echo of the wrong direction
    /// reads as corruption.
    pub fn new(tag: u32) -> Pattern {
        Pattern {
            magic: 0x5EA1_0000 ^ tag,
        }
    }

    fn frame(&self, k: u64) -> [u8; 16] {
        let mut f = [0u8; 16];
        f[..8].copy_from_slice(&k.to_le_bytes());
        f[8..12].copy_from_slice(&self.magic.to_le_bytes());
        f[12..].copy_from_slice(&checksum(k, self.magic).to_le_bytes());
        f
    }

    /// The stream's bytes from `offset`, `len` of them.
    pub fn bytes(&self, offset: u64, len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len + 16);
        let mut k = offset / FRAME;
        let skip = (offset % FRAME) as usize;
        while out.len() < len + skip {
            out.extend_from_slice(&self.frame(k));
            k += 1;
        }
        out.drain(..skip);
        out.truncate(len);
        out
    }

    fn byte(&self, offset: u64) -> u8 {
        self.frame(offset / FRAME)[(offset % FRAME) as usize]
    }

    /// The offset of the frame starting at `w`, if `w` is a valid frame.
    fn frame_at(&self, w: &[u8]) -> Option<u64> {
        let k = u64::from_le_bytes(w[..8].try_into().ok()?);
        let magic = u32::from_le_bytes(w[8..12].try_into().ok()?);
        let sum = u32::from_le_bytes(w[12..16].try_into().ok()?);
        (magic == self.magic && sum == checksum(k, magic) && k < u64::MAX / FRAME)
            .then(|| k * FRAME)
    }
}

fn checksum(k: u64, magic: u32) -> u32 {
    let mut z = k ^ (u64::from(magic) << 17) ^ 0x9E37_79B9_7F4A_7C15;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)) as u32
}

/// A stretch of the stream that never arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gap {
    /// First missing offset.
    pub from: u64,
    /// Number of missing bytes.
    pub len: u64,
    /// When the receiver noticed it.
    pub seen: Instant,
}

/// Verifies one direction's received bytes against [`Pattern`].
pub struct Checker {
    pattern: Pattern,
    /// Offset of the next byte we expect.
    pos: u64,
    /// Bytes after a mismatch, waiting for a valid frame to resynchronise.
    pending: Vec<u8>,
    /// The last bytes that matched (a gap may have started inside them: a
    /// byte after the jump can equal the byte expected by chance).
    recent: Vec<u8>,
    pub received: u64,
    pub gaps: Vec<Gap>,
    pub errors: Vec<String>,
}

impl Checker {
    pub fn new(pattern: Pattern) -> Checker {
        Checker {
            pattern,
            pos: 0,
            pending: Vec::new(),
            recent: Vec::new(),
            received: 0,
            gaps: Vec::new(),
            errors: Vec::new(),
        }
    }

    /// Bytes accounted for: received plus lost so far.
    pub fn position(&self) -> u64 {
        self.pos + self.pending.len() as u64
    }

    pub fn lost(&self) -> u64 {
        self.gaps.iter().map(|g| g.len).sum()
    }

    pub fn feed(&mut self, data: &[u8], now: Instant) {
        self.received += data.len() as u64;
        if !self.errors.is_empty() {
            return; // one error is enough; keep counting only
        }
        let mut i = 0;
        if self.pending.is_empty() {
            // Compared in bulk: at full rate byte-wise frame building made
            // the checker, not the system under test, the bottleneck.
            let expected = self.pattern.bytes(self.pos, data.len());
            i = data
                .iter()
                .zip(&expected)
                .position(|(a, b)| a != b)
                .unwrap_or(data.len());
            self.pos += i as u64;
            self.remember(&data[..i]);
            if i == data.len() {
                return;
            }
            // Mismatch: the jump may have been up to a frame earlier.
            let back = std::mem::take(&mut self.recent);
            self.pos -= back.len() as u64;
            self.pending = back;
        }
        self.pending.extend_from_slice(&data[i..]);
        self.resync(now);
    }

    fn remember(&mut self, matched: &[u8]) {
        self.recent.extend_from_slice(matched);
        let keep = FRAME as usize;
        if self.recent.len() > keep {
            self.recent.drain(..self.recent.len() - keep);
        }
    }

    /// Looks for the next valid frame in `pending` and explains the bytes
    /// before it as one gap; then continues matching after it.
    fn resync(&mut self, now: Instant) {
        // A frame exactly where the stream expects it, after bytes that
        // all match, is not where the gap is (the bytes pulled back from
        // before the mismatch can hold one): look further.
        let found = self
            .pending
            .windows(FRAME as usize)
            .enumerate()
            .filter_map(|(j, w)| self.pattern.frame_at(w).map(|o| (j, o)))
            .find(|&(j, o)| o != self.pos + j as u64 || !self.matches_expected(j));
        let Some((j, offset)) = found else {
            if self.pending.len() > MAX_PENDING {
                self.error(format!(
                    "{} bytes after offset {} match no frame: corrupted",
                    self.pending.len(),
                    self.pos
                ));
            }
            return;
        };
        if !self.explain_gap(j, offset, now) {
            return;
        }
        let rest = self.pending.split_off(j);
        self.pending.clear();
        self.pos = offset;
        self.recent.clear();
        self.feed_after_resync(&rest, now);
    }

    fn feed_after_resync(&mut self, rest: &[u8], now: Instant) {
        self.received -= rest.len() as u64; // feed counts them again
        self.feed(rest, now);
    }

    fn matches_expected(&self, j: usize) -> bool {
        self.pending[..j]
            .iter()
            .enumerate()
            .all(|(k, b)| *b == self.pattern.byte(self.pos + k as u64))
    }

    /// `pending[..j]` must be `expected-prefix ++ suffix-before-offset`;
    /// records the gap between them. False (and an error) otherwise.
    fn explain_gap(&mut self, j: usize, offset: u64, now: Instant) -> bool {
        let Some(after) = offset.checked_sub(j as u64) else {
            self.error(format!("frame at offset {offset} arrived too early"));
            return false;
        };
        if after == self.pos {
            self.error(format!(
                "bytes after offset {} differ from the stream, which continues in \
                 order after them: corrupted",
                self.pos
            ));
            return false;
        }
        if after < self.pos {
            self.error(format!(
                "stream went back: expected offset {}, then offset {after} arrived \
                 (duplication or reordering)",
                self.pos
            ));
            return false;
        }
        let head = &self.pending[..j];
        // Longest prefix matching what was expected; the rest must match
        // what precedes `offset`.
        let mut a = 0;
        while a < j && head[a] == self.pattern.byte(self.pos + a as u64) {
            a += 1;
        }
        let tail_ok = (a..j).all(|k| head[k] == self.pattern.byte(after + k as u64));
        // If the prefix ran too long, a shorter one may still explain it.
        let ok = tail_ok
            || (0..a)
                .rev()
                .any(|s| (s..j).all(|k| head[k] == self.pattern.byte(after + k as u64)));
        if !ok {
            self.error(format!(
                "bytes between offset {} and the frame at {offset} are neither expected \
                 nor its predecessors: corrupted",
                self.pos
            ));
            return false;
        }
        self.gaps.push(Gap {
            from: self.pos + a as u64,
            len: after - self.pos,
            seen: now,
        });
        true
    }

    /// The sender stopped at `end`: whatever is missing before `end` is
    /// one more gap. Unverified tail bytes (no whole frame arrived after
    /// the last gap) must be an expected prefix followed by some stretch
    /// of the stream before `end`; the amount lost does not depend on
    /// which stretch, only on how many bytes arrived.
    pub fn finish(&mut self, end: u64, now: Instant) {
        if !self.errors.is_empty() || (self.pending.is_empty() && self.pos == end) {
            return;
        }
        let len = self.pending.len() as u64;
        let Some(lost) = end.checked_sub(self.pos + len).filter(|l| *l > 0) else {
            self.error(format!(
                "{len} bytes after offset {} do not fit before the end at {end}: \
                 duplicated or corrupted",
                self.pos
            ));
            return;
        };
        let mut a = 0;
        while a < self.pending.len() && self.pending[a] == self.pattern.byte(self.pos + a as u64) {
            a += 1;
        }
        let rest = &self.pending[a..];
        let from = self.pos + a as u64;
        let last = end - rest.len() as u64;
        // Bounded search for where the tail came from (tails are short).
        let found = rest.is_empty()
            || last.saturating_sub(from) > 4 << 20
            || (from..=last).any(|q| {
                rest.iter()
                    .enumerate()
                    .all(|(k, b)| *b == self.pattern.byte(q + k as u64))
            });
        if !found {
            self.error(format!(
                "the last {} bytes are not part of the stream: corrupted",
                rest.len()
            ));
            return;
        }
        self.gaps.push(Gap {
            from,
            len: lost,
            seen: now,
        });
        self.pending.clear();
        self.pos = end;
    }

    fn error(&mut self, e: String) {
        self.errors.push(e);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(chunks: &[Vec<u8>], end: u64) -> Checker {
        let mut c = Checker::new(Pattern::new(1));
        let now = Instant::now();
        for ch in chunks {
            c.feed(ch, now);
        }
        c.finish(end, now);
        c
    }

    #[test]
    fn an_intact_stream_in_odd_pieces_has_no_gaps() {
        let p = Pattern::new(1);
        let all = p.bytes(0, 1000);
        let chunks: Vec<Vec<u8>> = all.chunks(7).map(<[u8]>::to_vec).collect();
        let c = check(&chunks, 1000);
        assert!(c.errors.is_empty(), "{:?}", c.errors);
        assert_eq!((c.lost(), c.received), (0, 1000));
    }

    #[test]
    fn unaligned_gaps_are_measured_exactly() {
        let p = Pattern::new(1);
        let chunks = vec![p.bytes(0, 37), p.bytes(100, 203), p.bytes(1000, 5)];
        let c = check(&chunks, 1005);
        assert!(c.errors.is_empty(), "{:?}", c.errors);
        assert_eq!(c.lost(), (100 - 37) + (1000 - 303));
        // Where a gap starts is known to within a frame (bytes may match by chance).
        assert!((37..=53).contains(&c.gaps[0].from), "{:?}", c.gaps);
    }

    #[test]
    fn a_lost_tail_is_a_gap_at_finish() {
        let p = Pattern::new(1);
        let c = check(&[p.bytes(0, 50), p.bytes(90, 3)], 200);
        assert!(c.errors.is_empty(), "{:?}", c.errors);
        assert_eq!(c.lost(), 200 - 53);
    }

    #[test]
    fn a_gap_just_after_a_frame_boundary_is_loss() {
        let p = Pattern::new(1);
        for cut in [32, 33, 40, 47, 48] {
            let c = check(
                &[p.bytes(0, cut), p.bytes(cut as u64 + 500, 300)],
                cut as u64 + 800,
            );
            assert!(c.errors.is_empty(), "cut at {cut}: {:?}", c.errors);
            assert_eq!(c.lost(), 500, "cut at {cut}");
        }
    }

    #[test]
    fn duplication_is_an_error_not_loss() {
        let p = Pattern::new(1);
        let c = check(&[p.bytes(0, 300), p.bytes(200, 100)], 300);
        assert!(c.errors[0].contains("went back"), "{:?}", c.errors);
    }

    #[test]
    fn a_flipped_byte_is_corruption() {
        let p = Pattern::new(1);
        let mut b = p.bytes(0, 400);
        b[170] ^= 0x40;
        let c = check(&[b], 400);
        assert!(c.errors[0].contains("corrupted"), "{:?}", c.errors);
    }

    #[test]
    fn the_other_direction_is_corruption() {
        let c = check(&[Pattern::new(2).bytes(0, 200)], 200);
        assert!(!c.errors.is_empty());
    }
}
