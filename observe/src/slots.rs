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

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

pub(crate) struct Slots {
    cap: usize,
    held: Mutex<Held>,
}

#[derive(Default)]
struct Held {
    next: u64,
    /// By arrival: the first entry is the oldest.
    by_age: BTreeMap<u64, CancellationToken>,
}

/// A connection's slot; dropping it frees the slot.
pub(crate) struct Slot {
    slots: Arc<Slots>,
    id: u64,
    /// Cancelled when a newer connection needs the slot.
    pub(crate) evicted: CancellationToken,
}

/// Whether taking a slot pushed an older connection out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Taken {
    Free,
    EvictedOldest,
}

impl Slots {
    /// `cap` is at least one: a zero would leave nothing to evict.
    pub(crate) fn new(cap: usize) -> Arc<Self> {
        Arc::new(Self {
            cap: cap.max(1),
            held: Mutex::new(Held::default()),
        })
    }

    pub(crate) fn take(self: &Arc<Self>) -> (Slot, Taken) {
        let mut h = self.held.lock().unwrap_or_else(|e| e.into_inner());
        let mut taken = Taken::Free;
        while h.by_age.len() >= self.cap {
            let Some((_, oldest)) = h.by_age.pop_first() else {
                break;
            };
            oldest.cancel();
            taken = Taken::EvictedOldest;
        }
        let id = h.next;
        h.next += 1;
        let evicted = CancellationToken::new();
        h.by_age.insert(id, evicted.clone());
        let slot = Slot {
            slots: self.clone(),
            id,
            evicted,
        };
        (slot, taken)
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

    #[test]
    fn at_the_cap_the_oldest_slot_is_evicted_for_a_newcomer() {
        let slots = Slots::new(2);
        let (first, t1) = slots.take();
        let (second, t2) = slots.take();
        assert_eq!((t1, t2), (Taken::Free, Taken::Free));
        let (third, t3) = slots.take();
        assert_eq!(t3, Taken::EvictedOldest);
        assert!(first.evicted.is_cancelled());
        assert!(!second.evicted.is_cancelled() && !third.evicted.is_cancelled());
        // The evicted connection's task drops its slot when it notices;
        // until then it is no longer counted.
        assert_eq!(slots.held(), 2);
        drop(first);
        assert_eq!(slots.held(), 2);
    }

    #[test]
    fn a_freed_slot_is_reused_without_evicting_anyone() {
        let slots = Slots::new(1);
        let (first, _) = slots.take();
        drop(first);
        let (second, taken) = slots.take();
        assert_eq!(taken, Taken::Free);
        assert!(!second.evicted.is_cancelled());
        drop(second);
        assert_eq!(slots.held(), 0);
    }
}
