//! Shell completions and man pages, made from the command lines
//! themselves so they never drift from what the binaries accept. Both
//! binaries offer them (`completions SHELL`, `man --dir DIR`); packagers
//! run those at build time (the release script and the Dockerfile need
//! nothing else).
//!
//! A crate of its own, and not part of a library, because both binaries
//! need the same few lines and clap stays at the binaries' edge: only
//! their command lines and this crate name clap. The libraries' types that
//! appear on a command line (the log format) get their parser here.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

mod log_format;

pub use clap_complete::Shell;
pub use log_format::log_format;

/// Writes the completion script of `cmd` for `shell` to `out`.
pub fn completions(mut cmd: clap::Command, shell: Shell, out: &mut dyn Write) {
    let name = cmd.get_name().to_string();
    clap_complete::generate(shell, &mut cmd, name, out);
}

/// Writes `NAME.1` for `cmd` and `NAME-SUB.1` for each subcommand (and
/// theirs) into `dir`, which must exist; returns the files written.
pub fn man_pages(cmd: clap::Command, dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    write_page(cmd.clone(), cmd.get_name().to_string(), dir, &mut written)?;
    Ok(written)
}

fn write_page(
    cmd: clap::Command,
    name: String,
    dir: &Path,
    written: &mut Vec<PathBuf>,
) -> io::Result<()> {
    // clap names are `'static` (without its "string" feature); these few
    // live until the process, a one-shot command, exits.
    let cmd = cmd.name(&*Box::leak(name.clone().into_boxed_str()));
    let path = dir.join(format!("{name}.1"));
    let mut file = std::fs::File::create(&path)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot write {}: {e}", path.display())))?;
    clap_mangen::Man::new(cmd.clone()).render(&mut file)?;
    written.push(path);
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let sub_name = format!("{name}-{}", sub.get_name());
        write_page(sub.clone(), sub_name, dir, written)?;
    }
    Ok(())
}
