//! Following renewals of the agent's certificate: new handshakes present
//! the renewal ([`serialmesh_config::renewal`]), and a renewal with a new
//! key is advertised on mDNS too, whose readers pin the advertised key
//! ([`crate::mesh::MeshHandle::key_renewer`]).

use std::path::Path;
use std::sync::Arc;

use serialmesh_config::renewal::follow_renewals;
use serialmesh_pki::{legacy_certificate_hash, load_certs, RenewableCert, TlsFiles};
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::mdns;

pub async fn follow(
    cert: Arc<RenewableCert>,
    files: TlsFiles,
    renew_key: impl Fn(mdns::Certificate),
    shutdown: CancellationToken,
) {
    let path = files.cert.clone();
    let on_new_key = |_: &serialmesh_pki::Identity| match advertised(&path) {
        Some(c) => renew_key(c),
        None => {
            warn!("cannot read the renewed certificate again; mDNS still advertises the old key")
        }
    };
    follow_renewals(cert, files, on_new_key, shutdown.cancelled()).await
}

/// What mDNS says of the certificate at `path`.
fn advertised(path: &Path) -> Option<mdns::Certificate> {
    let der = load_certs(path).ok()?.into_iter().next()?;
    Some(mdns::Certificate {
        key: serialmesh_pki::Fingerprint::of_cert(&der).ok()?,
        legacy: legacy_certificate_hash(&der),
    })
}
