use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serialmesh_pki::{issue, Role, TlsFiles};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use super::*;
use crate::mesh::browse::wire::{Data, Record};

const FAST: Probe = Probe {
    interval: Duration::from_millis(20),
    timeout: Duration::from_millis(500),
    misses: 3,
};

/// An IPv4 address of this host that is not loopback: adverts naming a
/// loopback address are dropped (they would point every reader at its own
/// host), so the test agents listen where an advert may point.
fn host_ip() -> std::net::Ipv4Addr {
    if_addrs::get_if_addrs()
        .unwrap()
        .into_iter()
        .find_map(|i| match i.ip() {
            IpAddr::V4(v4) if !v4.is_loopback() => Some(v4),
            _ => None,
        })
        .expect("these tests need an IPv4 address other than loopback on this host")
}

/// Polls `cond` every few milliseconds for up to 10 s.
async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A CA with agents and a client issued from it.
struct Certs {
    dir: tempfile::TempDir,
}

impl Certs {
    fn new() -> Certs {
        let dir = tempfile::tempdir().unwrap();
        serialmesh_pki::init_ca(dir.path()).unwrap();
        Certs { dir }
    }

    fn issue(&self, role: Role, name: &str) -> TlsFiles {
        let out = self.dir.path().join(name);
        let i = issue(self.dir.path(), role, name, Some("z"), &out).unwrap();
        TlsFiles {
            cert: i.cert,
            key: i.key,
            ca: i.ca,
        }
    }

    fn checker(&self) -> AgentProbe {
        AgentProbe::load(&self.dir.path().join("ca.pem"), DenyList::default()).unwrap()
    }

    fn mesh(&self, seeds: &[String]) -> Arc<Mesh> {
        Mesh::new(seeds, None, FAST, Caps::default(), self.checker())
    }
}

/// An agent's TLS listener on loopback (with `files`, which may be a
/// client's, to play an impostor): its address and key.
async fn tls_listener(files: &TlsFiles, role: Role) -> (TcpListener, TlsAcceptor, Fingerprint) {
    let certs = serialmesh_pki::load_certs(&files.cert).unwrap();
    let key = Fingerprint::of_cert(&certs[0]).unwrap();
    let config = match role {
        Role::Agent => serialmesh_pki::server_config(files, DenyList::default()).unwrap(),
        // A client certificate presented as a server's: rustls does not
        // check roles, only the prober's verifier does.
        Role::Client => {
            rustls::ServerConfig::builder_with_provider(serialmesh_pki::crypto_provider())
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(certs, serialmesh_pki::load_key(&files.key).unwrap())
                .unwrap()
        }
    };
    let listener = TcpListener::bind((host_ip(), 0)).await.unwrap();
    (listener, TlsAcceptor::from(Arc::new(config)), key)
}

/// Serves handshakes on `listener` until dropped.
fn serve(listener: TcpListener, acceptor: TlsAcceptor) -> JoinHandle<()> {
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let _ = acceptor.accept(tcp).await;
            });
        }
    })
}

async fn agent(certs: &Certs, name: &str) -> (String, Fingerprint, JoinHandle<()>) {
    let (listener, acceptor, key) =
        tls_listener(&certs.issue(Role::Agent, name), Role::Agent).await;
    let addr = listener.local_addr().unwrap().to_string();
    (addr, key, serve(listener, acceptor))
}

fn spawn_mesh(mesh: &Arc<Mesh>) -> (CancellationToken, impl Future) {
    let stop = CancellationToken::new();
    let (_rekey, rekeyed) = tokio::sync::watch::channel(None);
    let task = tokio::spawn(mesh.clone().run(None, None, rekeyed, stop.clone()));
    (stop, task)
}

/// Agent `name`'s advert (key `key`, at `addr`), heard from 10.0.0.`from`.
fn advert(name: &str, key: &Fingerprint, addr: &str, from: u8) -> Packet {
    let addr: SocketAddr = addr.parse().unwrap();
    let IpAddr::V4(ip) = addr.ip() else { panic!() };
    let instance = format!("{name}._serialmesh._tcp.local");
    let host = format!("{name}-seriald.local");
    let record = |name: &str, data| Record {
        name: name.to_string(),
        ttl: 120,
        flush: false,
        data,
    };
    let txt = [
        ("name", name.to_string()),
        ("zone", "z".into()),
        ("proto", "1".into()),
        ("port", addr.port().to_string()),
        ("key", key.to_string()),
    ];
    Packet {
        source: IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, from)),
        records: vec![
            record("_serialmesh._tcp.local", Data::Ptr(instance.clone())),
            record(
                &instance,
                Data::Srv {
                    port: addr.port(),
                    target: host.clone(),
                },
            ),
            record(
                &instance,
                Data::Txt(
                    txt.iter()
                        .map(|(k, v)| (k.to_string(), v.clone()))
                        .collect(),
                ),
            ),
            record(&host, Data::A(ip)),
        ],
    }
}

#[tokio::test]
async fn a_seed_is_reported_with_its_key_once_it_proves_to_be_an_agent() {
    let certs = Certs::new();
    let (addr, key, _server) = agent(&certs, "shed").await;
    let mesh = certs.mesh(std::slice::from_ref(&addr));
    assert!(mesh.peers().is_empty(), "reported before any check");
    let (stop, task) = spawn_mesh(&mesh);
    let want = vec![PeerKey {
        addr: addr.clone(),
        key: key.to_string(),
    }];
    until("seed reported", || mesh.peers() == want).await;
    stop.cancel();
    task.await;
}

#[tokio::test]
async fn a_silent_seed_ages_out_and_comes_back_when_it_answers_again() {
    let certs = Certs::new();
    let files = certs.issue(Role::Agent, "shed");
    let (listener, acceptor, _) = tls_listener(&files, Role::Agent).await;
    let local = listener.local_addr().unwrap();
    let server = serve(listener, acceptor.clone());
    let mesh = certs.mesh(&[local.to_string()]);
    let (stop, task) = spawn_mesh(&mesh);
    until("seed reported", || !mesh.peers().is_empty()).await;

    server.abort();
    until("seed aged out", || mesh.peers().is_empty()).await;
    assert!(mesh.status()[0].misses >= FAST.misses);

    let _again = serve(TcpListener::bind(local).await.unwrap(), acceptor);
    until("seed back", || mesh.peers().len() == 1).await;
    stop.cancel();
    task.await;
}

#[tokio::test]
async fn an_advert_is_reported_only_once_its_key_is_proved_and_dropped_on_goodbye() {
    let certs = Certs::new();
    let (addr, key, _server) = agent(&certs, "shed").await;
    let mesh = certs.mesh(&[]);
    let heard = advert("shed", &key, &addr, 1);
    mesh.on_packet(&heard);
    assert!(mesh.peers().is_empty(), "reported on the advert's word");
    let (stop, task) = spawn_mesh(&mesh);
    until("advert verified", || mesh.peers().len() == 1).await;
    assert_eq!(mesh.peers()[0].key, key.to_string());

    let mut bye = heard.clone();
    bye.records[0].ttl = 0;
    mesh.on_packet(&bye);
    assert!(mesh.peers().is_empty());
    stop.cancel();
    task.await;
}

#[tokio::test]
async fn an_agent_that_is_not_the_key_its_advert_names_is_never_reported() {
    let certs = Certs::new();
    let (addr, _real, _server) = agent(&certs, "shed").await;
    let other = Fingerprint([7; 32]);
    let mesh = certs.mesh(&[]);
    mesh.on_packet(&advert("shed", &other, &addr, 1));
    let (stop, task) = spawn_mesh(&mesh);
    until("candidate forgotten", || mesh.status().is_empty()).await;
    assert!(mesh.peers().is_empty());
    stop.cancel();
    task.await;
}

#[tokio::test]
async fn a_client_certificate_posing_as_an_agent_is_never_reported() {
    let certs = Certs::new();
    let files = certs.issue(Role::Client, "laptop");
    let (listener, acceptor, key) = tls_listener(&files, Role::Client).await;
    let addr = listener.local_addr().unwrap().to_string();
    let _server = serve(listener, acceptor);
    let mesh = certs.mesh(std::slice::from_ref(&addr));
    mesh.on_packet(&advert("laptop", &key, &addr, 1));
    let (stop, task) = spawn_mesh(&mesh);
    until("seed failed its checks", || {
        mesh.status()
            .iter()
            .any(|p| p.source == Source::Seed && p.misses >= FAST.misses)
    })
    .await;
    assert!(mesh.peers().is_empty());
    stop.cancel();
    task.await;
}

#[tokio::test]
async fn checks_run_a_few_at_a_time_and_silent_candidates_do_not_hold_up_a_real_peer() {
    let certs = Certs::new();
    // Accepts TCP, then says nothing: each check waits its whole timeout.
    let silent = TcpListener::bind((host_ip(), 0)).await.unwrap();
    let silent_addr = silent.local_addr().unwrap().to_string();
    let open = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let (o, m) = (open.clone(), most.clone());
    let _silent = tokio::spawn(async move {
        while let Ok((mut tcp, _)) = silent.accept().await {
            let now = o.fetch_add(1, Ordering::SeqCst) + 1;
            m.fetch_max(now, Ordering::SeqCst);
            let o = o.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                while let Ok(n) = tokio::io::AsyncReadExt::read(&mut tcp, &mut buf).await {
                    if n == 0 {
                        break;
                    }
                }
                o.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });
    let mesh = certs.mesh(&[]);
    for i in 0..40u8 {
        mesh.on_packet(&advert(
            &format!("fake{i}"),
            &Fingerprint([i; 32]),
            &silent_addr,
            i,
        ));
    }
    let (stop, task) = spawn_mesh(&mesh);
    until("checks started", || most.load(Ordering::SeqCst) > 0).await;
    let (addr, key, _server) = agent(&certs, "shed").await;
    mesh.on_packet(&advert("shed", &key, &addr, 200));
    // 40 silent candidates at 0.5 s each, 8 at a time: 2.5 s per round.
    until("real peer verified", || mesh.peers().len() == 1).await;
    assert!(
        most.load(Ordering::SeqCst) <= MAX_PROBES,
        "{} at once",
        most.load(Ordering::SeqCst)
    );
    stop.cancel();
    task.await;
}
