use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}; check the path given to --config")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read revoked file {path}: {source}; create it (an empty file revokes nothing) or fix `revoked_file` in the agent config")]
    Revoked {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Parse or validation problem at a known place in the file.
    #[error("{path}:{line}:{column}: {message}{}", hint.as_ref().map(|h| format!("\n  hint: {h}")).unwrap_or_default())]
    At {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
        hint: Option<String>,
    },
    /// Validation problem that belongs to the file as a whole.
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
}
