//! Connection slots of the admin endpoint, of which a newcomer always gets
//! one.
//!
//! The admin endpoint's callers are liveness and readiness probes: a probe
//! that gets no answer within its timeout (the kubelet's default is one
//! second) restarts a healthy process. So at the cap the connection that
//! has held its slot longest is closed to make room, rather than the
//! newcomer being turned away: idle or dribbling connections, however many,
//! only ever push each other out, while a probe's whole exchange (its
//! request arrives with the connection, the answer is a few bytes) is over
//! long before `cap` newer connections could push it out in turn.
//!
//! Except in a burst: connections waiting in the listen backlog are
//! accepted one after another, and `cap` siege connections accepted right
//! after a probe pushed it out before its task had read the request that
//! came with it (seen under load: 1 probe in 56 lost). So a connection
//! younger than [`GRACE`] is never pushed out; at the cap with every
//! connection that young, the newcomer waits (unread, in the accept loop)
//! until the oldest has had its grace, at most `GRACE`. Evictions then run
//! at most `cap` per `GRACE`, so a probe behind a siege's backlog of `n`
//! connections waits about `n / cap * GRACE`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a new connection is safe from eviction: ample to read a
/// request that arrived with it, short against a siege.
pub(crate) const GRACE: Duration = Duration::from_millis(100);

use tokio_util::sync::CancellationToken;

pub(crate) struct Slots {
    cap: usize,
    held: Mutex<Held>,
}

#[derive(Default)]
struct Held {
    next: u64,
    /// By arrival: the first entry is the oldest.
    by_age: BTreeMap<u64, (Instant, CancellationToken)>,
}

/// A connection's slot; dropping it frees the slot.
pub(crate) struct Slot {
    slots: Arc<Slots>,
    id: u64,
    /// Cancelled when a newer connection needs the slot.
    pub(crate) evicted: CancellationToken,
}

/// What asking for a slot gave.
pub(crate) enum Taken {
    Free(Slot),
    /// The oldest connection was told to give up its slot.
    EvictedOldest(Slot),
    /// At the cap and every connection younger than [`GRACE`]: no slot
    /// before this instant, when the oldest may be pushed out.
    Wait(Instant),
}

impl Slots {
    /// `cap` is at least one: a zero would leave nothing to evict.
    pub(crate) fn new(cap: usize) -> Arc<Self> {
        Arc::new(Self {
            cap: cap.max(1),
            held: Mutex::new(Held::default()),
        })
    }

    pub(crate) fn take(self: &Arc<Self>) -> Taken {
        self.take_at(Instant::now())
    }

    fn take_at(self: &Arc<Self>, now: Instant) -> Taken {
        let mut h = self.held.lock().unwrap_or_else(|e| e.into_inner());
        let mut evicted_any = false;
        while h.by_age.len() >= self.cap {
            let Some(mut oldest) = h.by_age.first_entry() else {
                break;
            };
            let arrived = oldest.get().0;
            if now.saturating_duration_since(arrived) < GRACE {
                return Taken::Wait(arrived + GRACE);
            }
            oldest.get_mut().1.cancel();
            oldest.remove();
            evicted_any = true;
        }
        let id = h.next;
        h.next += 1;
        let evicted = CancellationToken::new();
        h.by_age.insert(id, (now, evicted.clone()));
        let slot = Slot {
            slots: self.clone(),
            id,
            evicted,
        };
        if evicted_any {
            Taken::EvictedOldest(slot)
        } else {
            Taken::Free(slot)
        }
    }

    #[cfg(test)]
    fn held(&self) -> usize {
        self.held.lock().unwrap().by_age.len()
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut h = self.slots.held.lock().unwrap_or_else(|e| e.into_inner());
        h.by_age.remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(t: Taken) -> Slot {
        match t {
            Taken::Free(s) | Taken::EvictedOldest(s) => s,
            Taken::Wait(_) => panic!("no slot"),
        }
    }

    #[test]
    fn at_the_cap_the_oldest_slot_is_evicted_for_a_newcomer() {
        let slots = Slots::new(2);
        let t0 = Instant::now();
        let first = slots.take_at(t0);
        let second = slots.take_at(t0);
        assert!(matches!(
            (&first, &second),
            (Taken::Free(_), Taken::Free(_))
        ));
        let (first, second) = (slot(first), slot(second));
        let third = slots.take_at(t0 + GRACE);
        assert!(matches!(third, Taken::EvictedOldest(_)));
        let third = slot(third);
        assert!(first.evicted.is_cancelled());
        assert!(!second.evicted.is_cancelled() && !third.evicted.is_cancelled());
        // The evicted connection's task drops its slot when it notices;
        // until then it is no longer counted.
        assert_eq!(slots.held(), 2);
        drop(first);
        assert_eq!(slots.held(), 2);
    }

    #[test]
    fn in_a_burst_the_newcomer_waits_rather_than_push_out_a_connection_just_accepted() {
        let slots = Slots::new(2);
        let t0 = Instant::now();
        let probe = slot(slots.take_at(t0));
        let _siege = slot(slots.take_at(t0));
        assert!(matches!(slots.take_at(t0 + GRACE / 2), Taken::Wait(t) if t == t0 + GRACE));
        assert!(!probe.evicted.is_cancelled());
        assert!(matches!(slots.take_at(t0 + GRACE), Taken::EvictedOldest(_)));
        assert!(probe.evicted.is_cancelled());
    }

    #[test]
    fn a_freed_slot_is_reused_without_evicting_anyone() {
        let slots = Slots::new(1);
        drop(slot(slots.take()));
        let second = slots.take();
        assert!(matches!(second, Taken::Free(_)));
        let second = slot(second);
        assert!(!second.evicted.is_cancelled());
        drop(second);
        assert_eq!(slots.held(), 0);
    }
}
