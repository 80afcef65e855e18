//! A local TCP endpoint bound to one device address.
//!
//! Each accepted connection becomes a link to the device; a newer local
//! connection replaces the older one (ser2net's "kickolduser"), because a
//! gateway that reconnects has given up on its old socket. With `rfc2217`
//! each connection speaks telnet with the COM-PORT-OPTION (see
//! [`crate::rfc2217`]).

use std::sync::Arc;

use serialmesh_proto::Liveness;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn, Instrument};

use crate::dial::Dialer;
use crate::link::{self, Target};
use crate::rfc2217::Rfc2217Stream;

pub async fn serve_tcp(
    listener: TcpListener,
    dialer: Arc<Dialer>,
    target: Arc<Target>,
    shutdown: CancellationToken,
    liveness: Liveness,
    rfc2217: bool,
) {
    let tracker = TaskTracker::new();
    let mut current: Option<(CancellationToken, tokio::task::JoinHandle<()>)> = None;
    let mut counter: u64 = 0;
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            a = listener.accept() => a,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        if let Err(e) = stream.set_nodelay(true) {
            warn!(error = %e, "cannot set TCP_NODELAY on the local connection");
        }
        if let Some((old, task)) = current.take() {
            if !task.is_finished() {
                info!("a newer local connection replaces the previous one");
            }
            old.cancel();
        }
        counter += 1;
        let stop = shutdown.child_token();
        let link_stop = stop.clone();
        let span = tracing::info_span!("conn", n = counter, %peer);
        info!(parent: &span, "application connected");
        let (dialer, target) = (dialer.clone(), target.clone());
        let task = tracker.spawn(
            async move {
                if rfc2217 {
                    let mut stream = Rfc2217Stream::new(stream);
                    link::run(dialer, target, &mut stream, stop, liveness).await;
                    // Answers and device bytes still queued for the
                    // application, before its connection closes.
                    let _ = tokio::time::timeout(
                        std::time::Duration::from_millis(300),
                        tokio::io::AsyncWriteExt::flush(&mut stream),
                    )
                    .await;
                } else {
                    let mut stream = stream;
                    link::run(dialer, target, &mut stream, stop, liveness).await;
                }
            }
            .instrument(span),
        );
        current = Some((link_stop, task));
    }
    tracker.close();
    let _ = tokio::time::timeout(std::time::Duration::from_millis(1500), tracker.wait()).await;
}
