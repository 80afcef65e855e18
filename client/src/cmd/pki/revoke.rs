//! `serialctl pki revoke`: adds the fingerprint of a certificate's key to a
//! revoked file (so every certificate of that key is refused, however it is
//! encoded and whoever re-issued it), which agents with `revoked_file` pointing at it (or at a copy)
//! read again as soon as it changes.
//!
//! The file is replaced atomically (a temporary file in the same
//! directory, fsynced, then renamed over it), so an agent never reads half
//! a file, and its inotify watch sees one change.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serialmesh_pki::Fingerprint;

use crate::{Error, Result};

/// The file `--dir DIR` means.
pub const DEFAULT_FILE: &str = "revoked.txt";

/// What to revoke and where to write it.
pub struct Revoke {
    pub file: PathBuf,
    /// A certificate file, or a fingerprint.
    pub what: Target,
}

pub enum Target {
    Cert(PathBuf),
    Fingerprint(String),
}

pub fn run(r: Revoke) -> Result<()> {
    let (fingerprint, who) = match &r.what {
        Target::Cert(path) => {
            let certs = serialmesh_pki::load_certs(path)?;
            let fp = Fingerprint::of_cert(&certs[0])?;
            let who = match serialmesh_pki::identity_of(&certs[0]) {
                Ok(id) => format!("{} '{}'", id.role, id.name),
                Err(_) => format!("from {}", path.display()),
            };
            (fp, who)
        }
        Target::Fingerprint(hex) => (hex.parse::<Fingerprint>()?, String::new()),
    };
    let existing = match std::fs::read_to_string(&r.file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => {
            return Err(Error::usage(CannotRead {
                file: r.file.clone(),
                source: e,
            }))
        }
    };
    // Refuse to add to a file agents could not read: they would keep the
    // old list and this revocation would never take effect.
    let listed = serialmesh_config::parse_revoked(&existing, &r.file)?;
    let label = if who.is_empty() {
        "certificate".to_string()
    } else {
        format!("certificate of {who}")
    };
    if listed.contains(&fingerprint) {
        println!(
            "{label} (fingerprint {fingerprint}) is already in {}",
            r.file.display()
        );
        return Ok(());
    }
    let mut text = existing;
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    if text.is_empty() {
        text.push_str(
            "# Revoked serialmesh keys: one key fingerprint (spki:, the SHA-256 of a \
             certificate's public key) a line.\n",
        );
    }
    if who.is_empty() {
        text.push_str(&format!("{fingerprint}\n"));
    } else {
        text.push_str(&format!("{fingerprint}  # {who}\n"));
    }
    replace_atomically(&r.file, text.as_bytes())?;
    println!(
        "revoked {label} (fingerprint {fingerprint}): added to {}",
        r.file.display()
    );
    println!(
        "agents and clients whose revoked_file (or --revoked-file) is this file refuse it at once \
         and end its sessions; copy the file to other hosts (they notice the change), or list it \
         in `revoked` (agents: then send SIGHUP)"
    );
    Ok(())
}

fn replace_atomically(path: &Path, contents: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| Error::usage(format!("{} names no file", path.display())))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let fail = |source: std::io::Error| {
        Error::failed(CannotWrite {
            file: path.to_owned(),
            dir: dir.to_owned(),
            source,
        })
    };
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(&tmp)
        .and_then(|mut f| {
            f.write_all(contents)?;
            f.sync_all()
        });
    if let Err(e) = written.and_then(|()| std::fs::rename(&tmp, path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(fail(e));
    }
    // The rename is durable once the directory is.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// The revoked file exists but cannot be read (a usage error: the user
/// named it).
#[derive(Debug, thiserror::Error)]
#[error("cannot read {}: {source}", file.display())]
struct CannotRead {
    file: PathBuf,
    source: std::io::Error,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot write {}: {source}; check that {} exists and is writable", file.display(), dir.display())]
struct CannotWrite {
    file: PathBuf,
    dir: PathBuf,
    source: std::io::Error,
}
