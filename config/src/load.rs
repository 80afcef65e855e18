//! Reading files and turning parser and validation failures into
//! `file:line:column` errors with hints.

use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::agent::RawAgent;
use crate::client::RawClient;
use crate::hints::{hint_for, key_at};
use crate::{AgentConfig, ClientConfig, ConfigError, TlsConfig};

/// Parses an agent config. `path` is used for messages and to resolve
/// relative TLS paths.
pub fn parse_agent(text: &str, path: &Path) -> Result<AgentConfig, ConfigError> {
    let ctx = Ctx::new(text, path);
    let raw: RawAgent = toml::from_str(text).map_err(|e| ctx.toml(e))?;
    raw.validate(&ctx)
}

pub fn parse_client(text: &str, path: &Path) -> Result<ClientConfig, ConfigError> {
    let ctx = Ctx::new(text, path);
    let raw: RawClient = toml::from_str(text).map_err(|e| ctx.toml(e))?;
    raw.validate(&ctx)
}

/// Reads a config file with an error that names it.
pub fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })
}

impl AgentConfig {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        parse_agent(&read(path)?, path)
    }
}

impl ClientConfig {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        parse_client(&read(path)?, path)
    }
}

pub(crate) struct Ctx<'a> {
    text: &'a str,
    path: &'a Path,
}

impl<'a> Ctx<'a> {
    fn new(text: &'a str, path: &'a Path) -> Self {
        Self { text, path }
    }

    /// `file:line:column` of `span`.
    pub(crate) fn place(&self, span: Range<usize>) -> String {
        let (line, column) = line_col(self.text, span.start);
        format!("{}:{line}:{column}", self.path.display())
    }

    pub(crate) fn at(
        &self,
        span: Range<usize>,
        message: String,
        hint: Option<String>,
    ) -> ConfigError {
        let (line, column) = line_col(self.text, span.start);
        ConfigError::At {
            path: self.path.to_path_buf(),
            line,
            column,
            message,
            hint,
        }
    }

    fn toml(&self, e: toml::de::Error) -> ConfigError {
        let raw = e.message().trim();
        // TOML syntax errors come as "what\nexpected what": one line reads
        // better after "file:line:column:".
        let message = raw.replace('\n', "; ");
        match e.span() {
            Some(span) => {
                let key = key_at(self.text, span.start);
                let hint = hint_for(raw, key.as_deref());
                self.at(span, message, hint)
            }
            None => ConfigError::File {
                path: self.path.to_path_buf(),
                message,
            },
        }
    }

    /// Relative paths in a config file are relative to the file, not to
    /// wherever the service manager happened to start us.
    pub(crate) fn resolve(&self, p: PathBuf) -> PathBuf {
        if p.is_absolute() {
            return p;
        }
        match self.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.join(p),
            _ => p,
        }
    }

    pub(crate) fn resolve_tls(&self, t: TlsConfig) -> TlsConfig {
        TlsConfig {
            cert: self.resolve(t.cert),
            key: self.resolve(t.key),
            ca: self.resolve(t.ca),
        }
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
#[path = "load_tests.rs"]
mod tests;
