//! Creating certificate and key files with the right modes.

use std::fs::{DirBuilder, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

use crate::PkiError;

/// Creates a private key file that never exists with a wider mode than
/// 0600, not even between create and chmod, and never replaces one.
pub(crate) fn create_private(path: &Path, contents: &[u8], hint: &str) -> Result<(), PkiError> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true).mode(0o600);
    write_with(&options, "private key", path, contents, hint)
}

/// Creates a public file (certificate) that must not exist yet.
pub(crate) fn create_public(
    what: &'static str,
    path: &Path,
    contents: &[u8],
    hint: &str,
) -> Result<(), PkiError> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true).mode(0o644);
    write_with(&options, what, path, contents, hint)
}

/// Writes a public file (certificate), replacing any previous content.
pub(crate) fn replace_public(
    what: &'static str,
    path: &Path,
    contents: &[u8],
) -> Result<(), PkiError> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true).mode(0o644);
    // Without create_new, "already exists" cannot happen: no hint needed.
    write_with(&options, what, path, contents, "")
}

/// Creates `dir` and its parents; new directories get `mode`.
pub(crate) fn create_dir(dir: &Path, mode: u32) -> Result<(), PkiError> {
    DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(dir)
        .map_err(|e| {
            PkiError::write(
                "directory",
                dir,
                e,
                "check that its parent exists and is writable",
            )
        })
}

/// Whether anything (even a dangling symlink) sits at `path`.
pub(crate) fn occupied(path: &Path) -> bool {
    path.symlink_metadata().is_ok()
}

fn write_with(
    options: &OpenOptions,
    what: &'static str,
    path: &Path,
    contents: &[u8],
    hint: &str,
) -> Result<(), PkiError> {
    let result = options.open(path).and_then(|mut file| {
        file.write_all(contents)?;
        file.sync_all()
    });
    result.map_err(|e| match e.kind() {
        io::ErrorKind::AlreadyExists => PkiError::AlreadyExists {
            what,
            path: path.to_path_buf(),
            hint: hint.to_string(),
        },
        _ => PkiError::write(
            what,
            path,
            e,
            "check that the directory is writable and the disk not full",
        ),
    })
}
