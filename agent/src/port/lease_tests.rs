//! What a [`Lease`] holds, and that it lets go of all of it, against a
//! real registry and a real tty (the demo echo pty).

use std::sync::Arc;
use std::time::Duration;

use serialmesh_config::DeviceConfig;
use serialmesh_proto::{CloseReasonKind, LineSettings};
use tokio_util::sync::CancellationToken;

use super::Lease;
use crate::registry::{OpenToAll, Registry};
use crate::telemetry::AgentMetrics;

/// A registry sharing one echo pty as `echo`, and a missing path as `gone`.
fn house() -> Arc<Registry> {
    let echo = crate::demo::start().expect("an echo pty");
    let dev = |name: &str, path: std::path::PathBuf| DeviceConfig {
        name: name.into(),
        path,
        settings: LineSettings::default(),
        takeover: false,
    };
    Arc::new(Registry::new(
        "shed",
        "garden",
        vec![
            dev("echo", echo),
            dev("gone", "/dev/serialmesh-test-no-such-tty".into()),
        ],
        CancellationToken::new(),
    ))
}

async fn open(registry: &Arc<Registry>, address: &str, client: &str) -> Result<Lease, String> {
    Lease::open(
        registry,
        address,
        None,
        None,
        &OpenToAll(client),
        &AgentMetrics::new(),
    )
    .await
    .map_err(|r| format!("{}: {}", r.kind, r.message))
}

#[tokio::test]
async fn a_lease_holds_its_device_until_it_is_closed() {
    let registry = house();
    let lease = open(&registry, "echo", "a").await.expect("opens");
    assert_eq!(lease.device(), "echo");
    assert_eq!(lease.settings(), LineSettings::default());

    let busy = open(&registry, "echo", "b").await.err().expect("refused");
    assert!(busy.contains("in use by client 'a'"), "{busy}");

    lease.close().await;
    let next = open(&registry, "echo", "b").await.expect("free again");
    next.close().await;
}

#[tokio::test]
async fn a_dropped_lease_frees_its_device_too() {
    let registry = house();
    let lease = open(&registry, "echo", "a").await.expect("opens");
    // As a panicking or cancelled session task would leave it.
    drop(lease);
    let next = open(&registry, "echo", "b").await.expect("free again");
    next.close().await;
}

#[tokio::test]
async fn a_newer_session_of_the_same_client_replaces_the_lease() {
    let registry = house();
    let old = open(&registry, "echo", "gw").await.expect("opens");
    let stop = old.stop().clone();
    let newer = {
        let registry = registry.clone();
        tokio::spawn(async move { open(&registry, "echo", "gw").await })
    };
    // The old lease is told why, and the newer one waits for its close.
    tokio::time::timeout(Duration::from_secs(10), stop.token().cancelled())
        .await
        .expect("the old lease is stopped");
    assert_eq!(stop.reason().kind, CloseReasonKind::Replaced);
    assert!(!newer.is_finished(), "opened before the old port closed");
    old.close().await;
    let newer = newer.await.unwrap().expect("opens once the old is closed");
    newer.close().await;
}

#[tokio::test]
async fn a_failed_open_says_why_and_holds_nothing() {
    let registry = house();
    let e = open(&registry, "gone", "a").await.err().expect("refused");
    assert!(
        e.starts_with("device gone: cannot open /dev/serialmesh-test-no-such-tty"),
        "{e}"
    );
    // The claim went with the failed open: the device is not "in use".
    let e = open(&registry, "gone", "b").await.err().expect("refused");
    assert!(!e.contains("in use"), "{e}");
}
