//! A pty endpoint: the application opens a stable path (a symlink to our
//! pty's slave) as if it were the serial device. One session per
//! application open, the pty itself living as long as the endpoint.
//!
//! `master.rs` is the pty we hold (the application's side of each link),
//! `alloc.rs` makes one only its owner can open, `link_dir.rs` places the
//! symlink without a race, `termios.rs` reads and writes its line settings.

pub mod alloc;
pub mod link_dir;
pub mod master;
pub mod termios;

use std::sync::Arc;
use std::time::Duration;

use serialmesh_io::Liveness;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::link::{self, LinkEnd, Target};
use master::PtyEndpoint;

/// After a fatal refusal (e.g. not authorised) with the application still
/// attached, wait this long before asking again.
const FATAL_RETRY: Duration = Duration::from_secs(10);

/// Serves `target` on `pty` until `shutdown`: a link for every time the
/// application opens it.
pub async fn serve_pty(
    mut pty: PtyEndpoint,
    target: Arc<Target>,
    shutdown: CancellationToken,
    liveness: Liveness,
) {
    loop {
        tokio::select! {
            r = pty.wait_attached() => if let Err(e) = r {
                warn!(error = %e, "cannot serve the pty");
                break;
            },
            _ = shutdown.cancelled() => break,
        }
        info!(path = %pty.link().display(), "application opened the pty");
        let end = link::run(target.clone(), &mut pty, shutdown.child_token(), liveness).await;
        match end {
            LinkEnd::Stopped => break,
            LinkEnd::AppLeft => info!(path = %pty.link().display(), "application closed the pty"),
            LinkEnd::Fatal(why) => {
                warn!(reason = %why, retry_in = ?FATAL_RETRY, "the pty stays open; asking the agent again later");
                tokio::select! {
                    _ = tokio::time::sleep(FATAL_RETRY) => {}
                    _ = shutdown.cancelled() => break,
                }
            }
        }
    }
    // Dropping the endpoint removes the symlink.
}
