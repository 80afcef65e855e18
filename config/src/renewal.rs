//! Following renewals of a host's own certificate and key, on the agent
//! and on the client alike.
//!
//! Certificates are renewed by tools that write files (cert-manager into a
//! Secret, which the kubelet swaps in through `..data`; `serialctl pki
//! issue` by hand; step-ca's renewer), and a long-running process must
//! present the new one without a restart. Both files are watched
//! ([`serialmesh_io::watch`] follows in-place writes, renames and `..data` swaps);
//! after a change they are re-read and checked as at start
//! ([`RenewableCert::reload`]). A certificate written before its key fails
//! that check, and the key's own change a moment later tries again, so the
//! order tools write them in does not matter.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serialmesh_io::watch::FileWatch;
use serialmesh_pki::{Identity, RenewableCert, Renewal, TlsFiles};
use tracing::{error, info, warn};

/// A burst of writes (a certificate, then its key) settles into one reload.
const SETTLE: Duration = Duration::from_millis(100);

/// Reloads `cert` whenever its files change, until `stop`; `on_new_key` is
/// told of a renewal that brought another key (the agent advertises its
/// key on mDNS).
pub async fn follow_renewals(
    cert: Arc<RenewableCert>,
    files: TlsFiles,
    on_new_key: impl Fn(&Identity),
    stop: impl Future<Output = ()>,
) {
    let (Some(mut on_cert), Some(mut on_key)) = (watch(&files.cert), watch(&files.key)) else {
        return;
    };
    let mut stop = std::pin::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => return,
            ok = on_cert.changed(SETTLE) => if !ok { return },
            ok = on_key.changed(SETTLE) => if !ok { return },
        }
        match cert.reload() {
            Ok(Renewal::Unchanged) => {}
            Ok(Renewal::SameKey(id)) => {
                info!(fingerprint = %id.fingerprint, "certificate renewed (same key); new connections get it")
            }
            Ok(Renewal::NewKey(id)) => {
                info!(fingerprint = %id.fingerprint, "certificate renewed with a new key; new connections get it");
                on_new_key(&id);
            }
            Err(e) => {
                error!("cannot use the renewed certificate, keeping the one in force: {e}")
            }
        }
    }
}

fn watch(path: &Path) -> Option<FileWatch> {
    match FileWatch::new(path) {
        Ok(w) => Some(w),
        Err(e) => {
            warn!(file = %path.display(), error = %e, "cannot watch the certificate files; a renewal needs a restart");
            None
        }
    }
}
