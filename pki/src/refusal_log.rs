//! Keeps certificate refusals from flooding the log.
//!
//! A refused peer usually retries (a misconfigured sidecar every couple of
//! seconds, forever), and a hostile one may present a fresh certificate on
//! every connection. The first refusal of each certificate is logged at
//! warn; repeats of it within [`REPEAT`] are not, and no more than
//! [`BURST`] lines are logged per [`WINDOW`] whatever the certificates.
//! Every line says how many refusals went unlogged before it, and every
//! refusal is still logged at debug level.

use std::time::{Duration, Instant};

use serialmesh_throttle::{KeyedThrottle, Unlogged, WhenFull, MAX_KEYS};

use crate::Fingerprint;

/// How long a certificate stays "already reported".
pub(crate) const REPEAT: Duration = Duration::from_secs(600);
/// Length of the window the [`BURST`] applies to.
pub(crate) const WINDOW: Duration = Duration::from_secs(10);
/// Refusal lines per window, over all certificates.
pub(crate) const BURST: u32 = 10;

/// Keyed by certificate; `None` stands for every certificate that does not
/// parse. Beyond [`MAX_KEYS`] certificates the oldest is forgotten, which
/// only means it may be reported again.
pub(crate) struct RefusalLog(KeyedThrottle<Option<Fingerprint>>);

impl RefusalLog {
    pub(crate) const fn new(burst: u32) -> Self {
        RefusalLog(KeyedThrottle::new(
            REPEAT,
            MAX_KEYS,
            WhenFull::ForgetOldest,
            Unlogged::Budget {
                lines: burst,
                window: WINDOW,
            },
        ))
    }

    /// Whether to log a refusal of `fp` at warn now: `Some(n)` with the
    /// number of refusals left unlogged since the previous line, or `None`.
    pub(crate) fn admit(&self, fp: Option<Fingerprint>, now: Instant) -> Option<u64> {
        self.0.admit_at(&fp, now)
    }
}

/// The one log all verifiers of this process share (clients make a
/// verifier per dial, so a per-verifier log would not see the retries).
#[cfg(not(test))]
pub(crate) static REFUSALS: RefusalLog = RefusalLog::new(BURST);
/// Unit tests refuse many certificates at once, in parallel, and some of
/// them check the line; the burst limit has its own tests below.
#[cfg(test)]
pub(crate) static REFUSALS: RefusalLog = RefusalLog::new(u32::MAX);

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(n: u8) -> Option<Fingerprint> {
        Some(Fingerprint([n; 32]))
    }

    #[test]
    fn a_retrying_peer_is_reported_once_until_the_repeat_period_ends() {
        let log = RefusalLog::new(BURST);
        let t0 = Instant::now();
        assert_eq!(log.admit(fp(1), t0), Some(0));
        for i in 1..100 {
            assert_eq!(log.admit(fp(1), t0 + Duration::from_secs(i)), None);
        }
        assert_eq!(log.admit(fp(2), t0 + Duration::from_secs(100)), Some(99));
        assert_eq!(log.admit(fp(1), t0 + REPEAT), Some(0));
    }

    #[test]
    fn many_certificates_are_reported_at_most_a_burst_per_window() {
        let log = RefusalLog::new(BURST);
        let t0 = Instant::now();
        let logged = (0..200u8)
            .filter(|n| log.admit(fp(*n), t0).is_some())
            .count();
        assert_eq!(logged, BURST as usize);
        // The next window reports again, counting what went unlogged.
        assert_eq!(
            log.admit(fp(250), t0 + WINDOW),
            Some(200 - u64::from(BURST))
        );
    }
}
