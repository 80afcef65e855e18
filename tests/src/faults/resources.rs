//! What a long-running process holds: resident memory, open descriptors
//! and threads, read from `/proc` (for leak checks over a soak).

/// One sample of one process.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Usage {
    pub rss_kib: u64,
    pub fds: u64,
    pub threads: u64,
}

/// `None` if the process is gone.
pub fn sample(pid: u32) -> Option<Usage> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64;
    Some(Usage {
        rss_kib: field("VmRSS:"),
        fds,
        threads: field("Threads:"),
    })
}

/// Mean of `f` over `samples[from..to]` (quarters of a soak).
pub fn mean(samples: &[Usage], from: usize, to: usize, f: impl Fn(&Usage) -> u64) -> f64 {
    let s = &samples[from.min(samples.len())..to.min(samples.len())];
    if s.is_empty() {
        return 0.0;
    }
    s.iter().map(&f).sum::<u64>() as f64 / s.len() as f64
}

/// Whether the last quarter's mean is within `ratio` (plus `slack`) of
/// the second quarter's: growth beyond that over a soak is a leak.
pub fn flat(
    samples: &[Usage],
    f: impl Fn(&Usage) -> u64 + Copy,
    ratio: f64,
    slack: f64,
) -> (bool, f64, f64) {
    let n = samples.len();
    let q2 = mean(samples, n / 4, n / 2, f);
    let q4 = mean(samples, n * 3 / 4, n, f);
    (q4 <= q2 * ratio + slack, q2, q4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_this_process() {
        let u = sample(std::process::id()).unwrap();
        assert!(u.rss_kib > 0 && u.fds > 0 && u.threads > 0, "{u:?}");
    }

    #[test]
    fn growth_is_not_flat() {
        let s: Vec<Usage> = (0..8)
            .map(|i| Usage {
                rss_kib: 1000 + i * 400,
                fds: 10,
                threads: 4,
            })
            .collect();
        assert!(!flat(&s, |u| u.rss_kib, 1.2, 0.0).0);
        assert!(flat(&s, |u| u.fds, 1.2, 0.0).0);
    }
}
