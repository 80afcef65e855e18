//! Following renewals of the agent's certificate: new handshakes present
//! the renewal ([`serialmesh_config::renewal`]), and a renewal with a new
//! key is advertised on mDNS too, whose readers pin the advertised key
//! ([`crate::mesh::MeshHandle::key_renewer`]).

use std::sync::Arc;

use serialmesh_config::renewal::follow_renewals;
use serialmesh_pki::{RenewableCert, TlsFiles};
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::mesh::mdns;

pub async fn follow(
    cert: Arc<RenewableCert>,
    files: TlsFiles,
    renew_key: impl Fn(mdns::Certificate),
    shutdown: CancellationToken,
) {
    let renewed = cert.clone();
    let on_new_key =
        |_: &serialmesh_pki::Identity| match mdns::Certificate::of(&renewed.end_entity()) {
            Some(c) => renew_key(c),
            None => warn!(
                "cannot read the renewed certificate's key; mDNS still advertises the old one"
            ),
        };
    follow_renewals(cert, files, on_new_key, shutdown.cancelled()).await
}
