//! What a link does after its relay ended: the table from each way a
//! session can end to the Close frame we send (if any) and whether the
//! link reconnects or ends.
//!
//! The gateway's connection is held open through anything a reconnect can
//! cure (a lost network, an agent restart, a device re-plugged), because
//! zwave-js and zigbee2mqtt give up on a port that drops. Only the
//! application leaving, the endpoint stopping, or a refusal that needs a
//! human (not authorised, another session took the device) end the link.

use serialmesh_io::RelayEnd;
use serialmesh_proto::{CloseReason, CloseReasonKind};
use tracing::{error, info, warn};

use crate::dial::{agent_text, DialError};
use crate::telemetry::ErrorKind;

/// What the link does next.
pub(super) enum Outcome {
    /// Reconnect; the kind is the endpoint's last error (a metric label),
    /// the text is logged.
    Retry(ErrorKind, String),
    Done(LinkEnd),
}

/// Why a link ended, for the endpoint to decide what comes next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkEnd {
    /// The application closed its connection (or pty).
    AppLeft,
    /// The endpoint stopped it (replaced or shutting down).
    Stopped,
    /// Retrying cannot help without a human (not authorised, replaced by
    /// another session of this client, protocol mismatch).
    Fatal(String),
}

/// The Close frame to send the agent (`None`: the session is already
/// over on its side) and what comes next, for a relay that ended with
/// `end`. `stopped`: the endpoint's stop token was cancelled; a relay
/// stopped without it was stopped because the agent's certificate was
/// revoked. `agent` names the agent in logs.
pub(super) fn after(end: RelayEnd, stopped: bool, agent: &str) -> (Option<CloseReason>, Outcome) {
    let end = match end {
        RelayEnd::PeerClosed(r) => RelayEnd::PeerClosed(agent_text::reason(r)),
        end => end,
    };
    let closing = |kind, why: &str| Some(CloseReason::new(kind, why));
    match end {
        RelayEnd::Stopped if !stopped => {
            error!(agent = %agent, "the agent's certificate was revoked; session ended");
            (
                closing(
                    CloseReasonKind::NotAuthorised,
                    "this client revoked the agent's certificate",
                ),
                Outcome::Retry(
                    ErrorKind::Revoked,
                    "the agent's certificate was revoked".into(),
                ),
            )
        }
        RelayEnd::DeviceEof => {
            info!("application closed its connection");
            (
                closing(CloseReasonKind::Normal, "application closed its connection"),
                Outcome::Done(LinkEnd::AppLeft),
            )
        }
        RelayEnd::DeviceError(e) => {
            info!(error = %e, "application connection failed");
            (
                closing(
                    CloseReasonKind::Normal,
                    &format!("application connection failed: {e}"),
                ),
                Outcome::Done(LinkEnd::AppLeft),
            )
        }
        RelayEnd::Stopped => (
            closing(
                CloseReasonKind::Normal,
                "client endpoint closed this connection",
            ),
            Outcome::Done(LinkEnd::Stopped),
        ),
        RelayEnd::PeerClosed(r) if r.kind == CloseReasonKind::Replaced => {
            warn!(reason = %r, "another session took the device (a newer one of this client, or a takeover); closing the application connection");
            (None, Outcome::Done(LinkEnd::Fatal(r.to_string())))
        }
        RelayEnd::PeerClosed(r) if !r.kind.is_retryable() => {
            error!(reason = %r, "agent ended the session");
            (None, Outcome::Done(LinkEnd::Fatal(r.to_string())))
        }
        RelayEnd::PeerClosed(r) => (
            None,
            Outcome::Retry(
                ErrorKind::Closed(r.kind),
                format!("agent ended the session: {r}"),
            ),
        ),
        RelayEnd::NetLost(m) => (
            None,
            Outcome::Retry(ErrorKind::Lost, format!("connection to agent lost: {m}")),
        ),
        RelayEnd::PeerSilent(d) => (
            None,
            Outcome::Retry(ErrorKind::Lost, format!("agent silent for {d:?}")),
        ),
        RelayEnd::PeerNotReading(d) => (
            None,
            Outcome::Retry(
                ErrorKind::Lost,
                format!("agent took nothing we sent for {d:?}"),
            ),
        ),
        RelayEnd::Protocol(e) => (
            None,
            Outcome::Retry(
                ErrorKind::Protocol,
                format!("agent broke the protocol: {e}"),
            ),
        ),
        RelayEnd::Refused(r) => {
            let why = r.to_string();
            (Some(r), Outcome::Retry(ErrorKind::Protocol, why))
        }
    }
}

/// Whether dialling again may succeed without a human: everything but an
/// agent's refusal of a kind that is final (not authorised, no such
/// device on a fixed agent...).
pub(super) fn retryable(e: &DialError) -> bool {
    match e {
        DialError::Refused { reason, .. } => reason.kind.is_retryable(),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(close: &Option<CloseReason>) -> Option<CloseReasonKind> {
        close.as_ref().map(|r| r.kind)
    }

    #[test]
    fn a_relay_stopped_without_the_endpoint_stopping_is_a_revocation_told_to_the_agent() {
        let (close, next) = after(RelayEnd::Stopped, false, "house");
        assert_eq!(kind(&close), Some(CloseReasonKind::NotAuthorised));
        assert!(matches!(next, Outcome::Retry(ErrorKind::Revoked, why) if why.contains("revoked")));
    }

    #[test]
    fn the_endpoint_stopping_ends_the_link_with_a_normal_close() {
        let (close, next) = after(RelayEnd::Stopped, true, "house");
        assert_eq!(kind(&close), Some(CloseReasonKind::Normal));
        assert!(matches!(next, Outcome::Done(LinkEnd::Stopped)));
    }

    #[test]
    fn the_application_leaving_ends_the_link_and_tells_the_agent() {
        let (close, next) = after(RelayEnd::DeviceEof, false, "house");
        assert_eq!(kind(&close), Some(CloseReasonKind::Normal));
        assert!(matches!(next, Outcome::Done(LinkEnd::AppLeft)));
        let failed = RelayEnd::DeviceError(std::io::Error::other("reset"));
        let (close, next) = after(failed, false, "house");
        assert_eq!(kind(&close), Some(CloseReasonKind::Normal));
        assert!(matches!(next, Outcome::Done(LinkEnd::AppLeft)));
    }

    #[test]
    fn an_agent_close_that_needs_a_human_is_fatal_and_not_answered() {
        for k in [CloseReasonKind::Replaced, CloseReasonKind::NotAuthorised] {
            let (close, next) = after(
                RelayEnd::PeerClosed(CloseReason::new(k, "no")),
                false,
                "house",
            );
            assert_eq!(kind(&close), None, "{k}");
            assert!(matches!(next, Outcome::Done(LinkEnd::Fatal(_))), "{k}");
        }
    }

    #[test]
    fn losses_a_reconnect_can_cure_are_retried() {
        let ends = [
            RelayEnd::PeerClosed(CloseReason::new(CloseReasonKind::DeviceGone, "unplugged")),
            RelayEnd::NetLost("reset".into()),
            RelayEnd::PeerSilent(std::time::Duration::from_secs(4)),
            RelayEnd::PeerNotReading(std::time::Duration::from_secs(4)),
        ];
        for end in ends {
            let (close, next) = after(end, false, "house");
            assert_eq!(kind(&close), None);
            assert!(matches!(next, Outcome::Retry(..)));
        }
    }

    #[test]
    fn a_control_frame_refused_here_is_sent_to_the_agent_and_retried() {
        let refused = CloseReason::new(CloseReasonKind::Protocol, "bad SetLine");
        let (close, next) = after(RelayEnd::Refused(refused), false, "house");
        assert_eq!(kind(&close), Some(CloseReasonKind::Protocol));
        assert!(matches!(next, Outcome::Retry(_, why) if why.contains("bad SetLine")));
    }

    #[test]
    fn an_agents_close_reason_is_made_safe_to_log() {
        let forged = CloseReason::new(CloseReasonKind::DeviceGone, "gone\nINFO forged");
        let (_, next) = after(RelayEnd::PeerClosed(forged), false, "house");
        assert!(matches!(next, Outcome::Retry(_, why) if !why.contains('\n')));
    }
}
