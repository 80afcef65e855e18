//! One log line per interval for events a flood makes by the thousand
//! (handshake failures, connections refused at a limit): the first is
//! logged at once, later ones at most once per interval, each line counting
//! the events that went unlogged before it. Metrics count every one.

use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct LogThrottle {
    every: Duration,
    state: Mutex<(Option<Instant>, u64)>,
}

impl LogThrottle {
    pub const fn new(every: Duration) -> Self {
        Self {
            every,
            state: Mutex::new((None, 0)),
        }
    }

    /// `Some(n)` when a line may be logged now, `n` being the events left
    /// unlogged since the previous line; `None` when this one is not logged.
    pub fn admit(&self) -> Option<u64> {
        self.admit_at(Instant::now())
    }

    fn admit_at(&self, now: Instant) -> Option<u64> {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match s.0 {
            Some(last) if now.saturating_duration_since(last) < self.every => {
                s.1 += 1;
                None
            }
            _ => {
                s.0 = Some(now);
                Some(std::mem::take(&mut s.1))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_event_is_logged_then_one_per_interval_with_the_count() {
        let t = LogThrottle::new(Duration::from_secs(10));
        let t0 = Instant::now();
        assert_eq!(t.admit_at(t0), Some(0));
        for i in 1..=999 {
            assert_eq!(t.admit_at(t0 + Duration::from_millis(i)), None);
        }
        assert_eq!(t.admit_at(t0 + Duration::from_secs(10)), Some(999));
        assert_eq!(t.admit_at(t0 + Duration::from_secs(11)), None);
    }
}
