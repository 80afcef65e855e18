//! A demo device for trying serialmesh without hardware: a pseudo-terminal
//! whose far end echoes every byte back, like a modem in loopback
//! ([`serialmesh_io::EchoPty`], the same echo the tests and the benchmark
//! use).

use std::io;
use std::path::PathBuf;

use serialmesh_io::EchoPty;
use tracing::{info, warn};

/// Creates the pty, starts the echo, returns the path to open. The echo
/// runs for the life of the process; a thread waits on it to report how it
/// ended.
pub fn start() -> io::Result<PathBuf> {
    let echo = EchoPty::start()?;
    let path = echo.path().to_path_buf();
    std::thread::Builder::new()
        .name("demo-echo".into())
        .spawn(move || {
            if let Err(e) = echo.wait() {
                warn!(error = %e, "demo device stopped");
            }
        })?;
    info!(path = %path.display(), "demo echo device ready");
    Ok(path)
}
