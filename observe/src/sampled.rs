//! Series whose values are not whole counts: histograms (durations) and
//! floating-point samples (CPU seconds, timestamps).
//!
//! Like [`crate::Counter`], a handle is looked up once and updated with
//! atomics only, and its `Default` is detached (updated, never rendered).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A floating-point value (stored as its bits, so updates need no lock).
#[derive(Debug, Clone, Default)]
pub struct Float(Arc<AtomicU64>);

impl Float {
    pub fn set(&self, v: f64) {
        self.0.store(v.to_bits(), Ordering::Relaxed);
    }

    pub fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }
}

/// Observations counted into fixed buckets: what a Prometheus alert or a
/// `histogram_quantile` needs, at the cost of a few atomics per
/// observation. Clones share the same buckets.
#[derive(Debug, Clone, Default)]
pub struct Histogram(Arc<Buckets>);

#[derive(Debug, Default)]
struct Buckets {
    /// Upper bounds, ascending; `+Inf` is implicit.
    bounds: &'static [f64],
    /// Per bucket (not cumulative), one beyond the last bound for `+Inf`.
    counts: Box<[AtomicU64]>,
    sum_bits: AtomicU64,
}

/// A snapshot for rendering: cumulative counts per bound, then the total.
pub(crate) struct HistogramSnapshot {
    pub(crate) cumulative: Vec<(f64, u64)>,
    pub(crate) count: u64,
    pub(crate) sum: f64,
}

impl Histogram {
    /// `bounds` must be ascending (checked in debug builds): out-of-order
    /// bounds would render buckets Prometheus rejects.
    pub(crate) fn new(bounds: &'static [f64]) -> Self {
        debug_assert!(bounds.windows(2).all(|w| w[0] < w[1]), "unsorted buckets");
        Self(Arc::new(Buckets {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_bits: AtomicU64::new(0f64.to_bits()),
        }))
    }

    pub fn observe(&self, v: f64) {
        let b = &self.0;
        if b.counts.is_empty() {
            return; // detached
        }
        let i = b.bounds.partition_point(|&bound| bound < v);
        b.counts[i].fetch_add(1, Ordering::Relaxed);
        // A lost race only retries: the sum is one word.
        let _ = b
            .sum_bits
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                Some((f64::from_bits(bits) + v).to_bits())
            });
    }

    pub fn observe_duration(&self, d: Duration) {
        self.observe(d.as_secs_f64());
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.0
            .counts
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .sum()
    }

    /// Counts are read one by one while observations may land; the count
    /// is derived from the same reads, so `+Inf` always equals `_count` and
    /// the buckets never decrease from one bound to the next.
    pub(crate) fn snapshot(&self) -> HistogramSnapshot {
        let b = &self.0;
        let mut total = 0;
        let mut cumulative = Vec::with_capacity(b.bounds.len());
        for (i, c) in b.counts.iter().enumerate() {
            total += c.load(Ordering::Relaxed);
            if let Some(&bound) = b.bounds.get(i) {
                cumulative.push((bound, total));
            }
        }
        HistogramSnapshot {
            cumulative,
            count: total,
            sum: f64::from_bits(b.sum_bits.load(Ordering::Relaxed)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static BOUNDS: &[f64] = &[0.1, 1.0, 10.0];

    #[test]
    fn an_observation_on_a_bound_counts_in_that_bucket_and_every_later_one() {
        let h = Histogram::new(BOUNDS);
        h.observe(1.0);
        h.observe(0.05);
        h.observe(50.0);
        let s = h.snapshot();
        assert_eq!(s.cumulative, vec![(0.1, 1), (1.0, 2), (10.0, 2)]);
        assert_eq!(s.count, 3);
        assert!((s.sum - 51.05).abs() < 1e-9);
    }

    #[test]
    fn a_detached_histogram_ignores_observations() {
        let h = Histogram::default();
        h.observe(1.0);
        assert_eq!(h.count(), 0);
    }
}
