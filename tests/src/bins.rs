//! Where the binaries under test are.
//!
//! The tests never run cargo themselves (a nested build would fight the
//! outer one for the target-dir lock and the 2 cores); they use binaries
//! built beforehand by `cargo build --workspace --bins`, which
//! `scripts/test.sh` runs before `cargo test`.

use std::path::PathBuf;

/// Path of the `seriald` binary.
///
/// # Panics
/// If it has not been built; the message says how to build it.
pub fn seriald() -> PathBuf {
    locate("seriald")
}

/// Path of the `serialctl` binary.
///
/// # Panics
/// If it has not been built; the message says how to build it.
pub fn serialctl() -> PathBuf {
    locate("serialctl")
}

/// The directory holding the binaries: `$SERIALMESH_BIN_DIR` if set, else
/// the cargo profile directory of the running test executable. A test
/// executable is `target/<profile>/deps/<name>-<hash>`, and the binaries of
/// the same build are `target/<profile>/<bin>`, so a `--release` or
/// `CARGO_TARGET_DIR` build finds its own binaries.
pub fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("SERIALMESH_BIN_DIR") {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe()
        .unwrap_or_else(|e| panic!("cannot find the running test executable: {e}"));
    let mut dir = exe.parent().map(PathBuf::from).unwrap_or_default();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir
}

fn locate(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    if !path.is_file() {
        panic!(
            "{name} not found at {}: build the binaries first with \
             `cargo build --workspace --bins` (same profile and target dir as \
             `cargo test`; scripts/test.sh does both), or set SERIALMESH_BIN_DIR \
             to the directory holding seriald and serialctl",
            path.display()
        );
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bin_dir_is_the_profile_dir_of_this_test() {
        if std::env::var_os("SERIALMESH_BIN_DIR").is_some() {
            return;
        }
        let dir = bin_dir();
        assert!(dir.join("deps").is_dir(), "{} has no deps/", dir.display());
    }
}
