//! Small helpers every end-to-end test needs: reproducible test data, temp
//! directories and polling instead of fixed sleeps.

use std::thread;
use std::time::{Duration, Instant};

pub use tempfile::TempDir;

/// The bytes serial flow control and terminals like to eat or rewrite:
/// XON, XOFF, NUL, Ctrl-C (ETX) and 0xFF (the telnet/RFC 2217 escape).
pub const TRICKY_BYTES: [u8; 5] = [0x11, 0x13, 0x00, 0x03, 0xFF];

/// Deterministic pseudo-random test data: the same `(n, seed)` always gives
/// the same bytes, so a failure can be reproduced and bisected.
///
/// Laid out so a transfer of it exercises everything a binary serial protocol
/// can contain: for `n >= 256` the first 256 bytes are every byte value once
/// (shuffled), then a run of 4 of each of [`TRICKY_BYTES`]; after that,
/// random bytes with a run (1 to 32 long) of one tricky byte about every
/// 500 bytes. Shorter outputs are a prefix of the same sequence.
pub fn random_bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut rng = SplitMix64(seed);
    let mut out = Vec::with_capacity(n + 32);
    let mut all: Vec<u8> = (0..=255).collect();
    for i in (1..all.len()).rev() {
        let j = (rng.next() % (i as u64 + 1)) as usize;
        all.swap(i, j);
    }
    out.extend_from_slice(&all);
    for b in TRICKY_BYTES {
        out.extend_from_slice(&[b; 4]);
    }
    while out.len() < n {
        let r = rng.next();
        if r & 63 == 0 {
            let b = TRICKY_BYTES[((r >> 8) % TRICKY_BYTES.len() as u64) as usize];
            let len = 1 + ((r >> 16) % 32) as usize;
            out.resize(out.len() + len, b);
        } else {
            out.extend_from_slice(&r.to_le_bytes());
        }
    }
    out.truncate(n);
    out
}

/// SplitMix64: tiny, fast, and good enough for test data; avoids a
/// dependency whose output could change between versions.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// Polls `condition` until it returns true or `timeout` passes; returns
/// whether it became true. Use it instead of a fixed sleep: it is as fast as
/// the system allows and still patient on a loaded 2-core CI machine.
///
/// Sleeps start at 1 ms and grow to 20 ms, so a condition that is almost
/// true costs nothing and a slow one does not burn a core.
/// `condition` is always evaluated at least once, and once more at the
/// deadline.
pub fn eventually(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(1);
    loop {
        if condition() {
            return true;
        }
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

/// A fresh temporary directory named after the crate, removed on drop.
///
/// # Panics
/// If the directory cannot be created (full or read-only `/tmp`).
pub fn temp_dir() -> TempDir {
    tempfile::Builder::new()
        .prefix("serialmesh-test-")
        .tempdir()
        .unwrap_or_else(|e| panic!("cannot create a temporary directory: {e}"))
}

/// Renders bytes for a failure message: hex, cut to the first `max` bytes.
pub fn hex_preview(bytes: &[u8], max: usize) -> String {
    let mut s: String = bytes
        .iter()
        .take(max)
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ");
    if bytes.len() > max {
        s.push_str(&format!(" ... ({} bytes in all)", bytes.len()));
    }
    s
}

/// Panics with the position of the first difference if `got != want`.
/// `assert_eq!` on MiB-sized vectors prints megabytes of numbers; this says
/// where the stream went wrong, which is what matters for a relay.
pub fn assert_same_bytes(got: &[u8], want: &[u8], what: &str) {
    if got == want {
        return;
    }
    let first = got.iter().zip(want).position(|(a, b)| a != b);
    match first {
        Some(i) => {
            let from = i.saturating_sub(8);
            panic!(
                "{what}: first difference at byte {i} (got {} bytes, want {})\n got[{from}..]: {}\nwant[{from}..]: {}",
                got.len(),
                want.len(),
                hex_preview(&got[from..], 24),
                hex_preview(&want[from..], 24),
            )
        }
        None => panic!(
            "{what}: lengths differ, got {} bytes, want {} (the shorter is a prefix of the longer)",
            got.len(),
            want.len()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_bytes_is_deterministic_per_seed() {
        assert_eq!(random_bytes(10_000, 1), random_bytes(10_000, 1));
        assert_ne!(random_bytes(10_000, 1), random_bytes(10_000, 2));
        assert_eq!(random_bytes(10_000, 5)[..300], random_bytes(300, 5)[..]);
    }

    #[test]
    fn random_bytes_contains_every_value_and_tricky_runs() {
        let data = random_bytes(300, 9);
        assert_eq!(data.len(), 300);
        for v in 0..=255u8 {
            assert!(data.contains(&v), "value {v:#04x} missing");
        }
        for b in TRICKY_BYTES {
            assert!(data.windows(4).any(|w| w == [b; 4]), "no run of {b:#04x}");
        }
        let long = random_bytes(1 << 16, 9);
        let runs = long
            .windows(3)
            .filter(|w| w[0] == w[1] && w[1] == w[2])
            .count();
        assert!(runs > 50, "only {runs} runs of 3 in 64 KiB");
    }

    #[test]
    fn eventually_returns_when_condition_holds() {
        let start = Instant::now();
        let mut calls = 0;
        assert!(eventually(Duration::from_secs(5), || {
            calls += 1;
            calls == 3
        }));
        assert!(start.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn eventually_gives_up_after_timeout() {
        let start = Instant::now();
        assert!(!eventually(Duration::from_millis(100), || false));
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(100) && took < Duration::from_secs(2));
    }

    #[test]
    #[should_panic(expected = "first difference at byte 2")]
    fn assert_same_bytes_names_first_difference() {
        assert_same_bytes(&[1, 2, 3, 4], &[1, 2, 9, 4], "stream");
    }
}
