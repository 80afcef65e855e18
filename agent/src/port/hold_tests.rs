//! Waiting out a re-plug at claim time, against a real registry.

use std::sync::Arc;
use std::time::Duration;

use serialmesh_config::DeviceConfig;
use serialmesh_proto::{CloseReasonKind, LineSettings};
use tokio_util::sync::CancellationToken;

use super::claim;
use crate::registry::{DeviceMeta, OpenToAll, Registry};

fn registry() -> Registry {
    Registry::new("shed", "garden", Vec::new(), CancellationToken::new())
}

fn found(name: &str, path: &str) -> (DeviceConfig, DeviceMeta) {
    (
        DeviceConfig {
            name: name.into(),
            path: path.into(),
            settings: LineSettings::default(),
            takeover: false,
        },
        DeviceMeta::default(),
    )
}

#[tokio::test]
async fn a_held_claim_wakes_when_the_device_comes_back() {
    let r = Arc::new(registry());
    r.sync_discovered(vec![found("stick", "/dev/ttyUSB0")]);
    r.sync_discovered(vec![]);
    let e = r.claim("stick", "gw").err().unwrap();
    assert_eq!(e.kind, CloseReasonKind::DeviceGone);

    let back = {
        let r = r.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            r.sync_discovered(vec![found("stick", "/dev/ttyUSB1")]);
        })
    };
    let t0 = tokio::time::Instant::now();
    let deadline = t0 + Duration::from_secs(3);
    let (c, waited) = claim(&r, "stick", &OpenToAll("gw"), deadline)
        .await
        .expect("claimed once back");
    assert!(waited >= Duration::from_millis(90), "{waited:?}");
    assert_eq!(c.device.path, std::path::Path::new("/dev/ttyUSB1"));
    assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
    back.await.unwrap();

    // Not back within the hold: the "device gone" answer, after the hold.
    r.release("stick", c.session);
    r.sync_discovered(vec![]);
    let t0 = tokio::time::Instant::now();
    let e = claim(
        &r,
        "stick",
        &OpenToAll("gw"),
        t0 + Duration::from_millis(200),
    )
    .await
    .err()
    .unwrap();
    assert_eq!(e.kind, CloseReasonKind::DeviceGone);
    assert!(e.message.contains("unplugged"), "{}", e.message);
    assert!(t0.elapsed() >= Duration::from_millis(200));
}

#[tokio::test]
async fn a_held_claim_ends_at_shutdown_with_that_reason() {
    let r = Arc::new(registry());
    r.sync_discovered(vec![found("stick", "/dev/ttyUSB0")]);
    r.sync_discovered(vec![]);
    let stopper = {
        let r = r.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            r.shutdown().cancel();
        })
    };
    let t0 = tokio::time::Instant::now();
    let e = claim(&r, "stick", &OpenToAll("gw"), t0 + Duration::from_secs(3))
        .await
        .err()
        .unwrap();
    assert_eq!(e.kind, CloseReasonKind::Shutdown);
    assert!(t0.elapsed() < Duration::from_secs(1), "{:?}", t0.elapsed());
    stopper.await.unwrap();
}
