//! The measurements themselves: round-trip latency, echo throughput and
//! session setup time, each against one endpoint, every byte checked.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::conn::{Conn, Endpoint};
use crate::interrupt;

/// How much of each measurement to do.
#[derive(Clone, Debug)]
pub struct Plan {
    pub frame_sizes: Vec<usize>,
    pub warmup_round_trips: usize,
    pub round_trips: usize,
    pub throughput_bytes: usize,
    /// Transfers of `throughput_bytes`; the median is reported. One
    /// transfer lasts well under a second, short enough for a neighbour's
    /// compile on this shared machine to halve it.
    pub throughput_runs: usize,
    pub warmup_setups: usize,
    pub setups: usize,
    /// Pause after a relay is ready before its idle snapshot, so start-up
    /// work (loading certificates, first allocations) has settled.
    pub idle_wait: Duration,
}

impl Plan {
    pub fn full() -> Self {
        Self {
            frame_sizes: vec![1, 10, 64],
            warmup_round_trips: 200,
            round_trips: 2000,
            throughput_bytes: 4 * 1024 * 1024,
            throughput_runs: 5,
            warmup_setups: 2,
            setups: 20,
            idle_wait: Duration::from_secs(1),
        }
    }

    /// Enough of everything to prove the code paths work, in seconds.
    pub fn quick() -> Self {
        Self {
            frame_sizes: vec![1, 10, 64],
            warmup_round_trips: 10,
            round_trips: 100,
            throughput_bytes: 256 * 1024,
            throughput_runs: 2,
            warmup_setups: 1,
            setups: 3,
            idle_wait: Duration::from_millis(200),
        }
    }
}

impl Plan {
    /// Bytes the device must have echoed once a relay went through the
    /// whole plan; fewer would mean something other than the device
    /// answered.
    pub fn bytes_through_device(&self) -> u64 {
        // Each turn of the interleaved latency phase adds one untimed trip.
        let turns = self.round_trips.div_ceil(crate::interleave::BLOCK);
        let rounds = (self.warmup_round_trips + self.round_trips + turns) as u64;
        let frames: u64 = self.frame_sizes.iter().map(|&f| f as u64 * rounds).sum();
        frames
            + (self.throughput_bytes * self.throughput_runs) as u64
            + (self.warmup_setups + self.setups) as u64
    }
}

/// Round-trip times of one frame size, in microseconds.
#[derive(Clone, Debug)]
pub struct Latency {
    pub frame: usize,
    pub samples: usize,
    pub p50_us: f64,
    pub p99_us: f64,
    pub max_us: f64,
}

impl Latency {
    /// Percentiles of one frame size's round trips.
    pub fn from_samples(frame: usize, mut times: Vec<Duration>) -> Self {
        times.sort_unstable();
        Self {
            frame,
            samples: times.len(),
            p50_us: micros(percentile(&times, 50.0)),
            p99_us: micros(percentile(&times, 99.0)),
            max_us: micros(times.last().copied().unwrap_or_default()),
        }
    }
}

/// One round trip: writes a frame, waits until all of it has come back.
/// `seq` numbers the frame within its session; the contents follow from
/// it, so every frame differs and a late echo of an earlier one (a relay
/// that duplicates or reorders) is caught, not timed.
pub fn round_trip(conn: &mut Conn, frame: usize, seq: usize) -> Result<Duration> {
    let mut out = vec![0u8; frame];
    let mut back = vec![0u8; frame];
    for (j, b) in out.iter_mut().enumerate() {
        *b = (seq.wrapping_mul(31).wrapping_add(j.wrapping_mul(7))) as u8;
    }
    interrupt::check()?;
    let t0 = Instant::now();
    conn.write_all(&out)
        .with_context(|| format!("writing {frame}-byte frame {seq}"))?;
    conn.read_exact(&mut back)
        .with_context(|| format!("waiting for the echo of {frame}-byte frame {seq}"))?;
    let dt = t0.elapsed();
    if back != out {
        bail!("{frame}-byte frame {seq} came back as {back:02x?}, sent {out:02x?}");
    }
    Ok(dt)
}

/// Pushes `total` bytes through the echo with a writer thread while this
/// thread reads and checks them; returns MiB/s in each direction (the echo
/// carries the same rate both ways at once).
pub fn throughput(conn: &mut Conn, total: usize) -> Result<f64> {
    const SEED: u64 = 0x5eed_0f5e_71a1;
    let mut writer = conn.try_clone()?;
    let start = Instant::now();
    std::thread::scope(|s| -> Result<()> {
        let w = s.spawn(move || -> Result<()> {
            let mut gen = Pattern::new(SEED);
            let mut buf = vec![0u8; 16 * 1024];
            let mut left = total;
            while left > 0 {
                interrupt::check()?;
                let n = left.min(buf.len());
                gen.fill(&mut buf[..n]);
                writer
                    .write_all(&buf[..n])
                    .with_context(|| format!("writing at offset {}", total - left))?;
                left -= n;
            }
            Ok(())
        });
        let read = check_echo(conn, total, SEED);
        let wrote = w
            .join()
            .map_err(|_| anyhow::anyhow!("the writer thread panicked"))?;
        // The reader's error says which byte; the writer's only follows.
        read.and(wrote)
    })?;
    let secs = start.elapsed().as_secs_f64();
    Ok(total as f64 / (1024.0 * 1024.0) / secs)
}

fn check_echo(conn: &mut Conn, total: usize, seed: u64) -> Result<()> {
    let mut gen = Pattern::new(seed);
    let mut buf = vec![0u8; 64 * 1024];
    let mut expect = vec![0u8; buf.len()];
    let mut got = 0usize;
    while got < total {
        interrupt::check()?;
        let want = (total - got).min(buf.len());
        let n = conn
            .read(&mut buf[..want])
            .with_context(|| format!("reading the echo after {got} of {total} bytes"))?;
        if n == 0 {
            bail!("the relay closed the connection after {got} of {total} bytes");
        }
        gen.fill(&mut expect[..n]);
        if let Some(k) = (0..n).find(|&k| buf[k] != expect[k]) {
            bail!(
                "byte {} came back as {:#04x}, expected {:#04x} (lost, reordered or altered)",
                got + k,
                buf[k],
                expect[k]
            );
        }
        got += n;
    }
    Ok(())
}

/// Time from starting the TCP connect (or the pty open) to the first
/// echoed byte, over fresh connections closed gracefully one by one;
/// returns the median in milliseconds. `between` runs after each close
/// (it waits for the relay to finish the old session).
pub fn setup(
    endpoint: &Endpoint,
    warmup: usize,
    count: usize,
    mut between: impl FnMut() -> Result<()>,
) -> Result<f64> {
    let mut times = Vec::with_capacity(count);
    for i in 0..warmup + count {
        interrupt::check()?;
        let probe = [0xA5u8 ^ i as u8];
        let t0 = Instant::now();
        let mut conn = endpoint.connect()?;
        conn.write_all(&probe)
            .with_context(|| format!("session {i}: writing the first byte"))?;
        let mut back = [0u8; 1];
        conn.read_exact(&mut back)
            .with_context(|| format!("session {i}: waiting for the first echoed byte"))?;
        let dt = t0.elapsed();
        if back != probe {
            bail!(
                "session {i}: first byte came back as {:#04x}, sent {:#04x} (stale bytes from an earlier session?)",
                back[0],
                probe[0]
            );
        }
        conn.close_gracefully();
        between()?;
        if i >= warmup {
            times.push(dt);
        }
    }
    times.sort_unstable();
    Ok(percentile(&times, 50.0).as_secs_f64() * 1000.0)
}

/// The median of some figures (the upper one of an even count).
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied()
}

/// Nearest-rank percentile of sorted samples.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Deterministic bytes (xorshift64) that writer and reader both generate,
/// so the reader checks every byte without the writer sharing its buffer.
/// The stream is the same however it is cut into reads.
struct Pattern {
    state: u64,
    word: [u8; 8],
    used: usize,
}

impl Pattern {
    fn new(seed: u64) -> Self {
        Self {
            state: seed | 1,
            word: [0; 8],
            used: 8,
        }
    }

    fn fill(&mut self, buf: &mut [u8]) {
        for b in buf {
            if self.used == 8 {
                self.state ^= self.state << 13;
                self.state ^= self.state >> 7;
                self.state ^= self.state << 17;
                self.word = self.state.to_le_bytes();
                self.used = 0;
            }
            *b = self.word[self.used];
            self.used += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_micros).collect();
        assert_eq!(percentile(&v, 50.0), Duration::from_micros(50));
        assert_eq!(percentile(&v, 99.0), Duration::from_micros(99));
        assert_eq!(percentile(&v[..1], 99.0), Duration::from_micros(1));
    }

    #[test]
    fn pattern_is_the_same_however_it_is_chunked() {
        let mut whole = vec![0u8; 100];
        Pattern::new(7).fill(&mut whole);
        let mut parts = vec![0u8; 100];
        let mut g = Pattern::new(7);
        g.fill(&mut parts[..13]);
        g.fill(&mut parts[13..40]);
        g.fill(&mut parts[40..]);
        assert_eq!(whole, parts);
    }
}
