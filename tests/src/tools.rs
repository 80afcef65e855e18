//! External tools the deployment tests run (linters, validators), and the
//! repository files they look at.

use std::path::{Path, PathBuf};

/// The repository root (the parent of the tests crate).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(".."))
}

/// `name` on `$PATH`, if there.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// `name` on `$PATH`.
///
/// # Panics
/// If it is missing, saying how to install it (`.ci/run` does).
pub fn require(name: &str, install: &str) -> PathBuf {
    which(name).unwrap_or_else(|| {
        panic!("`{name}` is not on PATH; install it with `{install}` (.ci/run does)")
    })
}

/// The text of a literal block `KEY: |` under `data:` of a ConfigMap
/// manifest, de-indented (enough YAML for the manifests in deploy/).
///
/// # Panics
/// If there is no such block.
pub fn configmap_block(yaml: &str, key: &str) -> String {
    let lines: Vec<&str> = yaml.lines().collect();
    let head = format!("{key}: |");
    let start = lines
        .iter()
        .position(|l| l.trim() == head)
        .unwrap_or_else(|| panic!("no `{head}` block in:\n{yaml}"));
    let key_indent = lines[start].len() - lines[start].trim_start().len();
    let body: Vec<&str> = lines[start + 1..]
        .iter()
        .take_while(|l| l.trim().is_empty() || l.len() - l.trim_start().len() > key_indent)
        .copied()
        .collect();
    let indent = body
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    let mut text: String = body
        .iter()
        .map(|l| if l.len() >= indent { &l[indent..] } else { "" })
        .collect::<Vec<_>>()
        .join("\n");
    text.push('\n');
    text
}
