//! Stopping one session with a reason its client will be told.

use std::sync::{Arc, Mutex, MutexGuard};

use serialmesh_proto::{CloseReason, CloseReasonKind};
use tokio_util::sync::CancellationToken;

/// Ends one session, remembering why so the session can tell its client.
#[derive(Clone)]
pub struct SessionStop {
    token: CancellationToken,
    reason: Arc<Mutex<Option<CloseReason>>>,
}

impl SessionStop {
    pub(super) fn new(parent: &CancellationToken) -> Self {
        Self {
            token: parent.child_token(),
            reason: Arc::default(),
        }
    }

    pub fn stop(&self, reason: CloseReason) {
        self.reason_slot().get_or_insert(reason);
        self.token.cancel();
    }

    pub fn token(&self) -> &CancellationToken {
        &self.token
    }

    /// The reason given to `stop`; a parent cancellation means shutdown.
    pub fn reason(&self) -> CloseReason {
        self.reason_slot().clone().unwrap_or_else(|| {
            CloseReason::new(CloseReasonKind::Shutdown, "agent is shutting down")
        })
    }

    /// The reason, even if a holder panicked: setting an `Option` cannot be
    /// left half done.
    fn reason_slot(&self) -> MutexGuard<'_, Option<CloseReason>> {
        self.reason.lock().unwrap_or_else(|p| p.into_inner())
    }
}
