use std::future::Future;
use std::time::Duration;

use serialmesh_proto::discovery::Advert;
use tokio::net::TcpListener;

use super::*;

const FAST: Probe = Probe {
    interval: Duration::from_millis(20),
    timeout: Duration::from_millis(500),
    misses: 3,
};

/// Polls `cond` every few milliseconds for up to 10 s.
async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn spawn_mesh(mesh: &Arc<Mesh>) -> (CancellationToken, impl Future) {
    let stop = CancellationToken::new();
    let task = tokio::spawn(mesh.clone().run(Mdns::Off, stop.clone()));
    (stop, task)
}

fn seen(name: &str, fp: &str, addr: &str) -> Seen {
    Seen {
        fullname: format!("{name}._serialmesh._tcp.local."),
        advert: Advert::new(name, "zone", 21317, fp),
        addrs: vec![addr.to_string()],
    }
}

#[tokio::test]
async fn a_seed_is_reported_once_it_answers() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let mesh = Mesh::new(std::slice::from_ref(&addr), None, FAST);
    assert!(mesh.peers().is_empty(), "reported before any probe");
    let (stop, task) = spawn_mesh(&mesh);
    until("seed reported", || mesh.peers() == vec![addr.clone()]).await;
    stop.cancel();
    task.await;
}

#[tokio::test]
async fn a_silent_seed_ages_out_and_comes_back_when_it_answers_again() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let local = listener.local_addr().unwrap();
    let addr = local.to_string();
    let mesh = Mesh::new(std::slice::from_ref(&addr), None, FAST);
    let (stop, task) = spawn_mesh(&mesh);
    until("seed reported", || !mesh.peers().is_empty()).await;

    drop(listener);
    until("seed aged out", || mesh.peers().is_empty()).await;
    let status = mesh.status();
    assert!(status[0].misses >= FAST.misses, "{status:?}");

    let _again = TcpListener::bind(local).await.unwrap();
    until("seed back", || mesh.peers() == vec![addr.clone()]).await;
    stop.cancel();
    task.await;
}

#[tokio::test]
async fn mdns_peers_are_reported_at_once_and_dropped_on_goodbye() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let mesh = Mesh::new(&[], None, FAST);
    mesh.on_seen(seen("shed", &"aa".repeat(32), &addr));
    assert_eq!(mesh.peers(), vec![addr.clone()]);
    mesh.on_removed("shed._serialmesh._tcp.local.");
    assert!(mesh.peers().is_empty());
}

#[tokio::test]
async fn an_mdns_peer_that_stops_answering_ages_out() {
    // Nothing listens on a port we bound and released.
    let dead = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap().to_string()
    };
    let mesh = Mesh::new(&[], None, FAST);
    mesh.on_seen(seen("gone", &"bb".repeat(32), &dead));
    assert_eq!(mesh.peers(), vec![dead]);
    let (stop, task) = spawn_mesh(&mesh);
    until("dead mDNS peer aged out", || mesh.peers().is_empty()).await;
    stop.cancel();
    task.await;
}

#[tokio::test]
async fn the_agents_own_advertisement_is_not_a_peer() {
    let own = Fingerprint([7; 32]);
    let mesh = Mesh::new(&[], Some(own), FAST);
    mesh.on_seen(seen("me", &own.to_string(), "10.0.0.1:21317"));
    mesh.on_seen(seen("other", &"cc".repeat(32), "10.0.0.2:21317"));
    assert_eq!(mesh.peers(), vec!["10.0.0.2:21317".to_string()]);
}
