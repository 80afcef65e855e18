//! Reconnect delays: quick first retries (a restarted agent is usually back
//! within a second), capped well inside the 10 s that zwave-js tolerates,
//! with jitter so a fleet of sidecars does not reconnect in lockstep.

use std::time::Duration;

use rand::Rng;

pub struct Backoff {
    first: Duration,
    cap: Duration,
    next: Duration,
    pub attempts: u32,
}

impl Backoff {
    pub fn new(first: Duration, cap: Duration) -> Self {
        Self {
            first,
            cap,
            next: first,
            attempts: 0,
        }
    }

    pub fn reset(&mut self) {
        self.next = self.first;
        self.attempts = 0;
    }

    /// The delay before the next attempt, with +-20% jitter.
    pub fn next_delay(&mut self) -> Duration {
        self.attempts += 1;
        let base = self.next;
        self.next = (self.next * 2).min(self.cap);
        let jitter = rand::thread_rng().gen_range(0.8..1.2);
        base.mul_f64(jitter).min(self.cap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_to_cap_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        let delays: Vec<Duration> = (0..8).map(|_| b.next_delay()).collect();
        assert!(delays[0] >= Duration::from_millis(80) && delays[0] <= Duration::from_millis(120));
        assert!(delays.iter().all(|d| *d <= Duration::from_secs(2)));
        assert!(delays[7] >= Duration::from_millis(1600));
        assert_eq!(b.attempts, 8);
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(120));
    }
}
