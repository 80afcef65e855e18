//! Log throttles for events a peer can cause: handshake failures,
//! connections refused at a limit, refused certificates, a client retrying
//! an unplugged stick. A flood of such events must not become a flood of log
//! lines (disk, journald rate limits that hide everything else), and the
//! memory a throttle keeps per key must not grow with what the peer sends
//! (keys come from certificates and device names the peer picks).
//!
//! So every throttle here is bounded in rate and in memory: the first event
//! is logged at once, later ones at most once per interval, each line
//! counting the events that went unlogged before it (metrics count every
//! one). It is its own crate, with no dependency of ours, because both the
//! agent and `serialmesh-pki` need it and pki depends on no crate of ours.

use std::borrow::Borrow;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One line per interval for one kind of event.
pub struct LogThrottle {
    inner: KeyedThrottle<()>,
}

impl LogThrottle {
    pub const fn new(every: Duration) -> Self {
        Self {
            inner: KeyedThrottle::new(every, 1, WhenFull::Share(()), Unlogged::PerKey),
        }
    }

    /// `Some(n)` when a line may be logged now, `n` being the events left
    /// unlogged since the previous line; `None` when this one is not logged.
    pub fn admit(&self) -> Option<u64> {
        self.admit_at(Instant::now())
    }

    fn admit_at(&self, now: Instant) -> Option<u64> {
        self.inner.admit_at(&(), now)
    }
}

/// What a [`KeyedThrottle`] does with a new key when it remembers its
/// maximum already (after forgetting the keys whose interval has passed).
pub enum WhenFull<K> {
    /// New keys share this one key: their lines are throttled together.
    Share(K),
    /// The key logged longest ago is forgotten, which only means it may be
    /// logged again sooner.
    ForgetOldest,
}

/// Where events that were not logged are counted, and so which line
/// reports them.
pub enum Unlogged {
    /// Each key counts its own; the next line of that key reports them.
    PerKey,
    /// At most `lines` lines per `window` over all keys, and one count over
    /// all keys: the next line logged, whatever its key, reports every event
    /// left unlogged before it (a line the budget held back belongs to no
    /// key's interval, so it is not counted as that key's).
    Budget { lines: u32, window: Duration },
}

/// The bound on remembered keys both users use: more devices and more
/// distinct recent peers than a home or lab has, little memory.
pub const MAX_KEYS: usize = 256;

/// One line per interval per key, remembering at most `max_keys` keys.
pub struct KeyedThrottle<K> {
    every: Duration,
    max_keys: usize,
    when_full: WhenFull<K>,
    unlogged: Unlogged,
    state: Mutex<State<K>>,
}

struct State<K> {
    keys: BTreeMap<K, Entry>,
    /// Start of the budget's window and the lines logged in it.
    window: Option<(Instant, u32)>,
    /// The count of [`Unlogged::Budget`].
    unlogged: u64,
}

#[derive(Default)]
struct Entry {
    last: Option<Instant>,
    /// The count of [`Unlogged::PerKey`].
    unlogged: u64,
}

impl<K: Ord + Clone> KeyedThrottle<K> {
    pub const fn new(
        every: Duration,
        max_keys: usize,
        when_full: WhenFull<K>,
        unlogged: Unlogged,
    ) -> Self {
        Self {
            every,
            max_keys,
            when_full,
            unlogged,
            state: Mutex::new(State {
                keys: BTreeMap::new(),
                window: None,
                unlogged: 0,
            }),
        }
    }

    /// As [`LogThrottle::admit`], for `key`.
    pub fn admit<Q>(&self, key: &Q) -> Option<u64>
    where
        K: Borrow<Q>,
        Q: Ord + ToOwned<Owned = K> + ?Sized,
    {
        self.admit_at(key, Instant::now())
    }

    /// As [`KeyedThrottle::admit`], at `now` (for callers that read the
    /// clock already).
    pub fn admit_at<Q>(&self, key: &Q, now: Instant) -> Option<u64>
    where
        K: Borrow<Q>,
        Q: Ord + ToOwned<Owned = K> + ?Sized,
    {
        let every = self.every;
        let recent = |e: &Entry| {
            e.last
                .is_some_and(|t| now.saturating_duration_since(t) < every)
        };
        let mut guard = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let s = &mut *guard;
        if !s.keys.contains_key(key) && s.keys.len() >= self.max_keys {
            s.keys.retain(|_, e| recent(e));
        }
        let key: &Q = match &self.when_full {
            WhenFull::Share(shared)
                if !s.keys.contains_key(key) && s.keys.len() >= self.max_keys =>
            {
                shared.borrow()
            }
            _ => key,
        };
        if let Some(e) = s.keys.get_mut(key).filter(|e| recent(e)) {
            match self.unlogged {
                Unlogged::PerKey => e.unlogged += 1,
                Unlogged::Budget { .. } => s.unlogged += 1,
            }
            return None;
        }
        if let Unlogged::Budget { lines, window } = self.unlogged {
            let (start, used) = match s.window {
                Some((start, used)) if now.saturating_duration_since(start) < window => {
                    (start, used)
                }
                _ => (now, 0),
            };
            if used >= lines {
                s.window = Some((start, used));
                s.unlogged += 1;
                return None;
            }
            s.window = Some((start, used + 1));
        }
        if matches!(self.when_full, WhenFull::ForgetOldest)
            && !s.keys.contains_key(key)
            && s.keys.len() >= self.max_keys
        {
            // A shared key is the one key allowed past the bound instead.
            let oldest = s
                .keys
                .iter()
                .min_by_key(|(_, e)| e.last)
                .map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                s.keys.remove::<K>(&oldest);
            }
        }
        let e = match s.keys.get_mut(key) {
            Some(e) => e,
            None => s.keys.entry(key.to_owned()).or_default(),
        };
        e.last = Some(now);
        let per_key = std::mem::take(&mut e.unlogged);
        Some(match self.unlogged {
            Unlogged::PerKey => per_key,
            Unlogged::Budget { .. } => std::mem::take(&mut s.unlogged),
        })
    }

    /// Forgets `key`, so its next event is logged at once (the device
    /// worked again in between).
    pub fn reset<Q>(&self, key: &Q)
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.keys.remove(key);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// As the agent's registry builds it.
    fn agent_keyed(every: Duration) -> KeyedThrottle<String> {
        KeyedThrottle::new(
            every,
            MAX_KEYS,
            WhenFull::Share("*".to_string()),
            Unlogged::PerKey,
        )
    }

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
        let t = agent_keyed(Duration::from_secs(60));
        assert_eq!(t.admit("zwave"), Some(0));
        assert_eq!(t.admit("zwave"), None);
        assert_eq!(t.admit("zigbee"), Some(0));
        t.reset("zwave");
        assert_eq!(t.admit("zwave"), Some(0));
    }

    #[test]
    fn keys_from_clients_cannot_grow_it_without_bound() {
        let t = agent_keyed(Duration::from_secs(60));
        for i in 0..10 * MAX_KEYS {
            t.admit(&format!("nosuch-{i}"));
        }
        let kept = t.state.lock().unwrap().keys.len();
        assert!(kept <= MAX_KEYS + 1, "{kept}");
    }

    #[test]
    fn a_full_throttle_that_forgets_the_oldest_logs_that_key_again() {
        let t = KeyedThrottle::new(
            Duration::from_secs(600),
            MAX_KEYS,
            WhenFull::ForgetOldest,
            Unlogged::Budget {
                lines: u32::MAX,
                window: Duration::from_secs(10),
            },
        );
        let t0 = Instant::now();
        for i in 0..=MAX_KEYS {
            let at = t0 + Duration::from_millis(i as u64);
            assert_eq!(t.admit_at(&i, at), Some(0));
        }
        assert_eq!(t.state.lock().unwrap().keys.len(), MAX_KEYS);
        // Key 0 was the oldest: forgotten, so logged again; key 1 is not.
        let later = t0 + Duration::from_secs(1);
        assert_eq!(t.admit_at(&1, later), None);
        assert_eq!(t.admit_at(&0, later), Some(1));
    }
}
