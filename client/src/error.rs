//! The one error `serialctl` ends with, and whose move it is.
//!
//! Scripts and supervisors act on the exit status: 2 says the command line,
//! config or certificates are wrong and running again will not help until a
//! human fixes them; 1 says something failed while doing the work (an
//! agent unreachable, a port taken) and a retry may help. That choice is
//! made once, where the error is made, and carried in the type, so `main`
//! never guesses it from a message. The cause is kept as the source, so the
//! printed chain says what underneath went wrong.

/// A cause of either kind: a typed error, or a message we wrote ourselves
/// (`String` and `&str` convert).
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// What the user asked for cannot work as given: a flag, the config,
    /// a certificate, a user name, a directory. Exit status 2.
    #[error(transparent)]
    Usage(Cause),
    /// A failure while doing what was asked. Exit status 1.
    #[error(transparent)]
    Failed(Cause),
}

impl Error {
    /// A usage error (exit status 2) caused by `cause`.
    pub fn usage(cause: impl Into<Cause>) -> Error {
        Error::Usage(cause.into())
    }

    /// A failure (exit status 1) caused by `cause`.
    pub fn failed(cause: impl Into<Cause>) -> Error {
        Error::Failed(cause.into())
    }

    /// The process's exit status for this error.
    pub fn exit_status(&self) -> u8 {
        match self {
            Error::Usage(_) => 2,
            Error::Failed(_) => 1,
        }
    }
}

/// Certificates and fingerprints the user named: fixed by a human.
impl From<serialmesh_pki::PkiError> for Error {
    fn from(e: serialmesh_pki::PkiError) -> Error {
        Error::usage(e)
    }
}

/// Config files and revoked files the user named: fixed by a human.
impl From<serialmesh_config::ConfigError> for Error {
    fn from(e: serialmesh_config::ConfigError) -> Error {
        Error::usage(e)
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Error {
        Error::failed(e)
    }
}

impl From<anyhow::Error> for Error {
    fn from(e: anyhow::Error) -> Error {
        Error::failed(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_usage_error_exits_2_and_a_failure_1() {
        assert_eq!(Error::usage("give --tcp or --pty").exit_status(), 2);
        assert_eq!(
            Error::failed(std::io::Error::other("port taken")).exit_status(),
            1
        );
    }

    #[test]
    fn the_cause_stays_reachable_as_the_source() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let e = Error::usage(anyhow::Error::new(io).context("cannot read ca.pem"));
        assert_eq!(e.to_string(), "cannot read ca.pem");
        let source = std::error::Error::source(&e).expect("the cause is kept");
        assert_eq!(source.to_string(), "no such file");
    }
}
