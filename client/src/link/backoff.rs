//! Reconnect delays: quick first retries (a restarted agent is usually back
//! within a second), capped well inside the 10 s that zwave-js tolerates,
//! with jitter so a fleet of sidecars does not reconnect in lockstep.
//!
//! While the agent's host refuses the connection (it is up, the agent is
//! restarting: a rolling update), attempts go at a steady pace instead
//! ([`Backoff::next_refused_delay`]): a refused connect costs the host one
//! SYN and one reset, and the tunnel must be back within a few hundred
//! milliseconds of the agent listening, however long the outage was.
//! Exponential growth there only made the client sleep through the
//! agent's return (up to 2 s late).

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

    /// The delay before the next attempt after a refused connection: the
    /// first delay, +-20%, whatever came before (at most about ten
    /// attempts a second per link). The exponential delay is left where it
    /// was, for when the host stops answering at all.
    pub fn next_refused_delay(&mut self) -> Duration {
        self.attempts += 1;
        let jitter = rand::thread_rng().gen_range(0.8..1.2);
        self.first.mul_f64(jitter)
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

    #[test]
    fn refused_connections_are_retried_at_a_steady_bounded_pace() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        for _ in 0..5 {
            b.next_delay();
        }
        let paced: Vec<Duration> = (0..100).map(|_| b.next_refused_delay()).collect();
        assert!(paced
            .iter()
            .all(|d| *d >= Duration::from_millis(80) && *d <= Duration::from_millis(120)));
        // Jitter: a fleet does not retry in lockstep.
        assert!(paced.iter().any(|d| *d != paced[0]));
        // The exponential delay is where five failures left it.
        assert!(b.next_delay() >= Duration::from_millis(1600));
    }
}
