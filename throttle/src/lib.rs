//! One log line per interval for events a flood makes by the thousand
//! (handshake failures, connections refused at a limit): the first is
//! logged at once, later ones at most once per interval, each line counting
//! the events that went unlogged before it. Metrics count every one.

use std::collections::BTreeMap;
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
        admit(&mut s, now, self.every)
    }
}

/// How many keys a [`KeyedThrottle`] remembers.
const MAX_KEYS: usize = 256;

/// A [`LogThrottle`] per key (a device name): a client retrying an
/// unplugged stick every two seconds must not log a line every two seconds.
pub struct KeyedThrottle {
    every: Duration,
    state: Mutex<BTreeMap<String, (Option<Instant>, u64)>>,
}

impl KeyedThrottle {
    pub const fn new(every: Duration) -> Self {
        Self {
            every,
            state: Mutex::new(BTreeMap::new()),
        }
    }

    /// As [`LogThrottle::admit`], for `key`. Keys come from what clients
    /// ask for, so at most [`MAX_KEYS`] are kept: quiet ones are dropped
    /// first, and past that all new keys share one.
    pub fn admit(&self, key: &str) -> Option<u64> {
        let now = Instant::now();
        let mut map = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if !map.contains_key(key) && map.len() >= MAX_KEYS {
            let every = self.every;
            map.retain(|_, (last, _)| {
                last.is_some_and(|t| now.saturating_duration_since(t) < every)
            });
        }
        let key = if map.contains_key(key) || map.len() < MAX_KEYS {
            key
        } else {
            "*"
        };
        let s = map.entry(key.to_string()).or_insert((None, 0));
        admit(s, now, self.every)
    }

    /// Forgets `key`, so its next event is logged at once (the device
    /// worked again in between).
    pub fn reset(&self, key: &str) {
        let mut map = self.state.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(key);
    }
}

/// A burst of lines, then one per interval: for events of one session that
/// come in small bursts when all is well (a gateway setting baud, size,
/// parity and flow control as it opens its port) and by the thousand when a
/// client misbehaves. Not shared between threads: one session owns it.
pub struct LogBudget {
    every: Duration,
    burst: u32,
    /// Lines that may be logged now.
    credit: u32,
    /// When the last credit was earned.
    earned: Instant,
    unlogged: u64,
}

impl LogBudget {
    pub fn new(burst: u32, every: Duration) -> Self {
        Self {
            every,
            burst,
            credit: burst,
            earned: Instant::now(),
            unlogged: 0,
        }
    }

    /// As [`LogThrottle::admit`].
    pub fn admit(&mut self) -> Option<u64> {
        self.admit_at(Instant::now())
    }

    fn admit_at(&mut self, now: Instant) -> Option<u64> {
        let since = now.saturating_duration_since(self.earned);
        let new = (since.as_nanos() / self.every.as_nanos().max(1)).min(u128::from(self.burst));
        if new > 0 {
            // `new` is at most `burst`, a u32.
            self.credit = (self.credit + new as u32).min(self.burst);
            self.earned = now;
        }
        if self.credit == 0 {
            self.unlogged += 1;
            return None;
        }
        self.credit -= 1;
        Some(std::mem::take(&mut self.unlogged))
    }
}

fn admit(s: &mut (Option<Instant>, u64), now: Instant, every: Duration) -> Option<u64> {
    match s.0 {
        Some(last) if now.saturating_duration_since(last) < every => {
            s.1 += 1;
            None
        }
        _ => {
            s.0 = Some(now);
            Some(std::mem::take(&mut s.1))
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

    #[test]
    fn a_budget_logs_a_burst_then_one_per_interval_with_the_count() {
        let mut b = LogBudget::new(3, Duration::from_secs(1));
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(b.admit_at(t0), Some(0));
        }
        for i in 1..=500 {
            assert_eq!(b.admit_at(t0 + Duration::from_micros(i)), None);
        }
        assert_eq!(b.admit_at(t0 + Duration::from_secs(1)), Some(500));
        assert_eq!(b.admit_at(t0 + Duration::from_millis(1500)), None);
        // Quiet for long: the whole burst is back, no more.
        let later = t0 + Duration::from_secs(60);
        for _ in 0..3 {
            assert!(b.admit_at(later).is_some());
        }
        assert_eq!(b.admit_at(later), None);
    }

    #[test]
    fn keys_are_throttled_apart_and_reset_logs_the_next_at_once() {
        let t = KeyedThrottle::new(Duration::from_secs(60));
        assert_eq!(t.admit("zwave"), Some(0));
        assert_eq!(t.admit("zwave"), None);
        assert_eq!(t.admit("zigbee"), Some(0));
        t.reset("zwave");
        assert_eq!(t.admit("zwave"), Some(0));
    }

    #[test]
    fn keys_from_clients_cannot_grow_it_without_bound() {
        let t = KeyedThrottle::new(Duration::from_secs(60));
        for i in 0..10 * MAX_KEYS {
            t.admit(&format!("nosuch-{i}"));
        }
        let kept = t.state.lock().unwrap().len();
        assert!(kept <= MAX_KEYS + 1, "{kept}");
    }
}
