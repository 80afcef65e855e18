//! Serving a device on a pty: one session per application open, the pty
//! itself living as long as the endpoint.

use std::sync::Arc;
use std::time::Duration;

use serialmesh_proto::Liveness;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::dial::Dialer;
use crate::link::{self, LinkEnd, Target};
use crate::pty::PtyEndpoint;

/// After a fatal refusal (e.g. not authorised) with the application still
/// attached, wait this long before asking again.
const FATAL_RETRY: Duration = Duration::from_secs(10);

pub async fn serve_pty(
    mut pty: PtyEndpoint,
    dialer: Arc<Dialer>,
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
        let end = link::run(
            dialer.clone(),
            target.clone(),
            &mut pty,
            shutdown.child_token(),
            liveness,
        )
        .await;
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
