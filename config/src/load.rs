//! Reading files and turning parser and validation failures into
//! `file:line:column` errors with hints.

use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::agent::RawAgent;
use crate::client::RawClient;
use crate::{AgentConfig, ClientConfig, ConfigError, TlsConfig};

/// Parses an agent config. `path` is used for messages and to resolve
/// relative TLS paths; `host_name` is the default agent name.
pub fn parse_agent(text: &str, path: &Path, host_name: &str) -> Result<AgentConfig, ConfigError> {
    let ctx = Ctx::new(text, path);
    let raw: RawAgent = toml::from_str(text).map_err(|e| ctx.toml(e))?;
    raw.validate(&ctx, host_name)
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
    pub fn load(path: &Path, host_name: &str) -> Result<Self, ConfigError> {
        parse_agent(&read(path)?, path, host_name)
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
        let message = e.message().trim().to_string();
        let hint = unknown_key_hint(&message);
        match e.span() {
            Some(span) => self.at(span, message, hint),
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

/// serde says "unknown field `lisen`, expected one of `name`, `listen`"; we add
/// the nearest valid key so the fix is obvious.
fn unknown_key_hint(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    let (bad, rest) = rest.split_once('`')?;
    let candidates: Vec<&str> = rest.split('`').skip(1).step_by(2).collect();
    // Spellings from other tools ("baudrate", "databits") are caught by
    // comparing without underscores and allowing a shared prefix.
    let plain = |s: &str| s.replace('_', "").to_ascii_lowercase();
    let best = candidates
        .iter()
        .map(|c| {
            let (b, k) = (plain(bad), plain(c));
            let prefix = k.len() >= 3 && (b.starts_with(&k) || k.starts_with(&b));
            (if prefix { 0 } else { edit_distance(&b, &k) }, *c)
        })
        .min()?;
    (best.0 <= 3).then(|| format!("did you mean `{}`?", best.1))
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
#[path = "load_tests.rs"]
mod tests;
