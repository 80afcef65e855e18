//! How a dial fails, phase by phase, each with its cause kept: the
//! message a user reads names the phase and the agent, and code that must
//! tell failures apart (the link's backoff, `doctor`'s advice) matches on
//! the variant rather than on the text.

use std::io;
use std::time::Duration;

use serialmesh_pki::{Fingerprint, PkiError};
use serialmesh_proto::conn::ConnError;
use serialmesh_proto::{CloseReason, FrameType};

#[derive(Debug, thiserror::Error)]
pub enum DialError {
    #[error("cannot connect to agent {agent}: {error}")]
    Connect {
        agent: String,
        #[source]
        error: std::io::Error,
    },
    #[error("TLS handshake with agent {agent} failed: {error}")]
    Tls {
        agent: String,
        #[source]
        error: TlsFailure,
    },
    #[error("agent {agent}: {error}")]
    Conn {
        agent: String,
        #[source]
        error: ConnFailure,
    },
    #[error("agent {agent} refused: {reason}")]
    Refused { agent: String, reason: CloseReason },
    /// The agent at a fixed address is not the one the device address
    /// names (`zwave@shed` answered by agent 'garage').
    #[error("refused agent {agent} for {address}: its certificate (fingerprint {fingerprint}) says {certified}; a fixed agent address must lead to the agent or zone the device address names (or pin its key with agent_fingerprint)")]
    NotThatAgent {
        agent: String,
        address: String,
        /// Who the certificate names, and the place it is not.
        certified: String,
        fingerprint: Fingerprint,
    },
    /// The agent says it is someone its certificate does not name.
    #[error("refused agent {agent}: its {frame} says {claimed}, but its certificate (fingerprint {fingerprint}) says {certified}; an agent's name and zone are the ones its certificate carries, so this is a misconfigured or rogue agent")]
    Impostor {
        agent: String,
        frame: &'static str,
        claimed: String,
        certified: String,
        fingerprint: Fingerprint,
    },
}

impl DialError {
    /// The agent's host answered, but nothing listens on the port: the
    /// agent is restarting (or stopped). Asking again costs the host a SYN
    /// and a reset, so a client may ask often and be back the moment the
    /// agent listens; a host that does not answer at all gets the usual
    /// backoff.
    pub fn nobody_listening(&self) -> bool {
        matches!(self, DialError::Connect { error, .. }
            if error.kind() == std::io::ErrorKind::ConnectionRefused)
    }
}

/// Why the TLS side of a dial failed.
#[derive(Debug, thiserror::Error)]
pub enum TlsFailure {
    #[error("no handshake within {0:?}")]
    Timeout(Duration),
    #[error(transparent)]
    Handshake(TlsIo),
    #[error("the agent presented no certificate")]
    NoCertificate,
    /// The agent's certificate carries no identity we can use, or this
    /// client's files cannot make a dialer for the key it was pinned to.
    #[error(transparent)]
    Certificate(Box<PkiError>),
}

impl From<PkiError> for TlsFailure {
    fn from(e: PkiError) -> TlsFailure {
        // Boxed: every dial returns this error, and a PkiError is large.
        TlsFailure::Certificate(Box::new(e))
    }
}

/// Why a connection failed after its handshake.
#[derive(Debug, thiserror::Error)]
pub enum ConnFailure {
    #[error("no reply within {0:?}")]
    Timeout(Duration),
    /// Reading or writing failed; a TLS alert from the agent (our
    /// certificate refused) arrives here, on the first read after the
    /// handshake.
    #[error(transparent)]
    Io(TlsIo),
    /// The agent closed, or sent what is not a frame.
    #[error(transparent)]
    Frame(ConnError),
    #[error("unexpected {0:?} frame")]
    Unexpected(FrameType),
}

/// Which side's revocation a TLS refusal was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revoked {
    /// This client refused the agent's certificate (its key is in
    /// `revoked` or the revoked file).
    ByUs,
    /// The agent refused this client's certificate as revoked.
    Us,
}

/// An I/O error on a TLS connection, and whether it was a revocation:
/// rustls's words for the refusals a user acts on, said in ours.
#[derive(Debug, thiserror::Error)]
#[error("{source}{}", hint(*.revoked))]
pub struct TlsIo {
    pub source: io::Error,
    pub revoked: Option<Revoked>,
}

impl TlsIo {
    pub fn new(source: io::Error) -> TlsIo {
        use rustls::{AlertDescription, CertificateError, Error};
        let revoked = match source.get_ref().and_then(|e| e.downcast_ref::<Error>()) {
            Some(Error::InvalidCertificate(CertificateError::Revoked)) => Some(Revoked::ByUs),
            Some(Error::AlertReceived(AlertDescription::CertificateRevoked)) => Some(Revoked::Us),
            _ => None,
        };
        TlsIo { source, revoked }
    }
}

fn hint(revoked: Option<Revoked>) -> &'static str {
    match revoked {
        Some(Revoked::ByUs) => {
            ": the agent's certificate is revoked by this client \
             (its fingerprint is in `revoked` or the revoked file)"
        }
        Some(Revoked::Us) => ": the agent revoked this client's certificate",
        None => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::{AlertDescription, CertificateError, Error};

    fn io(e: Error) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, e)
    }

    #[test]
    fn a_revoked_agent_certificate_is_named_as_our_revocation() {
        let e = TlsIo::new(io(Error::InvalidCertificate(CertificateError::Revoked)));
        assert_eq!(e.revoked, Some(Revoked::ByUs));
        let text = e.to_string();
        assert!(
            text.ends_with(
                ": the agent's certificate is revoked by this client \
                 (its fingerprint is in `revoked` or the revoked file)"
            ),
            "{text}"
        );
    }

    #[test]
    fn the_agents_revoked_alert_is_named_as_its_revocation_of_us() {
        let e = TlsIo::new(io(Error::AlertReceived(
            AlertDescription::CertificateRevoked,
        )));
        assert_eq!(e.revoked, Some(Revoked::Us));
        assert!(e
            .to_string()
            .ends_with(": the agent revoked this client's certificate"));
    }

    #[test]
    fn other_io_errors_are_shown_as_they_are() {
        let e = TlsIo::new(io::Error::other("connection reset"));
        assert_eq!(e.revoked, None);
        assert_eq!(e.to_string(), "connection reset");
    }
}
