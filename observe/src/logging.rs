//! Log output shared by both binaries: plain for people, JSON for collectors.
//! Logs go to stderr so stdout stays clean for command output (`--json`).

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// How log lines are written. The command lines offer it as
/// `--log-format` (through `serialmesh-cli`, which keeps clap out of here).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogFormat {
    #[default]
    Plain,
    Json,
}

impl LogFormat {
    pub const ALL: [LogFormat; 2] = [LogFormat::Plain, LogFormat::Json];

    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            LogFormat::Plain => "plain",
            LogFormat::Json => "json",
        }
    }
}

/// `RUST_LOG` overrides `default_filter` (e.g. `RUST_LOG=debug`). Colours
/// only on a terminal, and never when `NO_COLOR` is set to anything but
/// the empty string (no-color.org).
pub fn init_logging(format: LogFormat, default_filter: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal() && !no_color());
    let _ = match format {
        LogFormat::Plain => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// `NO_COLOR` is set, and not empty.
pub fn no_color() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

/// An error and its causes on one line, leaving out a cause whose text the
/// message already contains (many messages embed their cause for clarity).
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        let bare = strip_os_error(&text);
        if !out.contains(bare) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}

/// "No such file or directory (os error 2)" -> "No such file or directory".
fn strip_os_error(text: &str) -> &str {
    match text.rfind(" (os error ") {
        Some(i) if text.ends_with(')') => &text[..i],
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot read x.pem: No such file or directory; create it")]
    struct Outer {
        #[source]
        source: std::io::Error,
    }

    #[test]
    fn causes_already_in_the_message_are_not_repeated() {
        let e = Outer {
            source: std::io::Error::from_raw_os_error(2),
        };
        assert_eq!(
            error_chain(&e),
            "cannot read x.pem: No such file or directory; create it"
        );
    }

    #[test]
    fn new_causes_are_appended() {
        let e = anyhow::Error::new(std::io::Error::from_raw_os_error(98))
            .context("cannot listen on 1.2.3.4:5");
        let chain = error_chain(e.as_ref());
        assert!(
            chain.starts_with("cannot listen on 1.2.3.4:5: Address"),
            "{chain}"
        );
    }
}
