//! Following renewals of the agent's certificate and key.
//!
//! Certificates are renewed by tools that write files (cert-manager into a
//! Secret, which the kubelet swaps in through `..data`; `serialctl pki
//! issue` by hand; step-ca's renewer), and the agent must present the new
//! one without a restart: a restart drops every session. Both files are
//! watched (`watch.rs` follows in-place writes, renames and `..data`
//! swaps); after a change they are re-read and checked as at start
//! ([`ServerCert::reload`]). A certificate written before its key fails
//! that check, and the key's own change a moment later tries again, so
//! the order tools write them in does not matter.
//!
//! A renewal with another key is also advertised on mDNS, whose readers pin
//! the advertised key ([`crate::mesh::MeshHandle::key_renewer`]).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serialmesh_config::watch::FileWatch;
use serialmesh_pki::{legacy_certificate_hash, load_certs, Renewal, ServerCert, TlsFiles};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::mdns;

/// A burst of writes (a certificate, then its key) settles into one reload.
const SETTLE: Duration = Duration::from_millis(100);

pub async fn follow(
    cert: Arc<ServerCert>,
    files: TlsFiles,
    renew_key: impl Fn(mdns::Certificate),
    shutdown: CancellationToken,
) {
    let (Some(mut on_cert), Some(mut on_key)) = (watch(&files.cert), watch(&files.key)) else {
        return;
    };
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
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
                match advertised(&files.cert) {
                    Some(c) => renew_key(c),
                    None => warn!("cannot read the renewed certificate again; mDNS still advertises the old key"),
                }
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

/// What mDNS says of the certificate at `path`.
fn advertised(path: &Path) -> Option<mdns::Certificate> {
    let der = load_certs(path).ok()?.into_iter().next()?;
    Some(mdns::Certificate {
        key: serialmesh_pki::Fingerprint::of_cert(&der).ok()?,
        legacy: legacy_certificate_hash(&der),
    })
}
