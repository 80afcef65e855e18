//! The admin endpoint over real loopback sockets, as a probe or scraper
//! meets it.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serialmesh_observe::{
    bind_admin, serve_admin, serve_admin_with, AdminLimits, AdminState, Kind, Metrics, Readiness,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Generous upper bound for anything that should be immediate, so a loaded
/// CI machine does not cause flakes, while a hang still fails the test.
const PATIENCE: Duration = Duration::from_secs(10);

struct Server {
    addr: SocketAddr,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

/// Stops the server when a test ends, pass or fail.
impl Drop for Server {
    fn drop(&mut self) {
        self.stop.cancel();
        self.task.abort();
    }
}

async fn start(state: AdminState, limits: AdminLimits) -> Server {
    let listener = bind_admin("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let task = tokio::spawn(serve_admin_with(listener, state, stop.clone(), limits));
    Server { addr, stop, task }
}

fn state_with(
    metrics: Metrics,
    ready: impl Fn() -> Readiness + Send + Sync + 'static,
) -> AdminState {
    AdminState {
        metrics,
        ready: Arc::new(ready),
    }
}

async fn default_server() -> Server {
    start(
        state_with(Metrics::default(), || Readiness::ready("all devices open")),
        AdminLimits::default(),
    )
    .await
}

struct Reply {
    status: u16,
    head: String,
    body: String,
}

impl Reply {
    fn has_header(&self, line: &str) -> bool {
        self.head.split("\r\n").skip(1).any(|l| l == line)
    }
}

/// Sends raw bytes and reads until the server closes.
async fn exchange(addr: SocketAddr, raw: &[u8]) -> Reply {
    tokio::time::timeout(PATIENCE, async {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(raw).await.unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).await.unwrap();
        let text = String::from_utf8(out).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").expect("a response head");
        let status = head[9..12].parse().unwrap();
        Reply {
            status,
            head: head.to_owned(),
            body: body.to_owned(),
        }
    })
    .await
    .expect("server answered in time")
}

async fn get(addr: SocketAddr, path: &str) -> Reply {
    exchange(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes(),
    )
    .await
}

#[tokio::test]
async fn healthz_answers_ok() {
    let server = default_server().await;
    let reply = get(server.addr, "/healthz").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, "ok\n");
    assert!(reply.has_header("Content-Length: 3"));
    assert!(reply.has_header("Connection: close"));
}

#[tokio::test]
async fn metrics_serves_the_registry_in_prometheus_text_format() {
    let metrics = Metrics::default();
    metrics.describe("serialmesh_sessions", Kind::Gauge, "Open sessions.");
    metrics.gauge("serialmesh_sessions", &[]).set(2);
    let server = start(
        state_with(metrics.clone(), || Readiness::ready("")),
        AdminLimits::default(),
    )
    .await;
    let reply = get(server.addr, "/metrics?ignored=1").await;
    assert_eq!(reply.status, 200);
    assert!(reply.has_header("Content-Type: text/plain; version=0.0.4; charset=utf-8"));
    assert!(reply.has_header(&format!("Content-Length: {}", reply.body.len())));
    assert_eq!(reply.body, metrics.render());
    assert!(reply.body.contains("serialmesh_sessions 2\n"));
}

#[tokio::test]
async fn readyz_flips_from_503_to_200_with_its_detail() {
    let ready = Arc::new(AtomicBool::new(false));
    let flag = ready.clone();
    let server = start(
        state_with(Metrics::default(), move || {
            if flag.load(Ordering::SeqCst) {
                Readiness::ready("3 of 3 devices open")
            } else {
                Readiness::not_ready("waiting for zwave@shed")
            }
        }),
        AdminLimits::default(),
    )
    .await;
    let reply = get(server.addr, "/readyz").await;
    assert_eq!(reply.status, 503);
    assert_eq!(reply.body, "waiting for zwave@shed\n");

    ready.store(true, Ordering::SeqCst);
    let reply = get(server.addr, "/readyz").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, "3 of 3 devices open\n");
}

#[tokio::test]
async fn unknown_path_is_404() {
    let server = default_server().await;
    assert_eq!(get(server.addr, "/admin").await.status, 404);
    assert_eq!(get(server.addr, "/healthz/").await.status, 404);
}

#[tokio::test]
async fn non_get_is_405_with_allow_header() {
    let server = default_server().await;
    let reply = exchange(
        server.addr,
        b"POST /metrics HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
    )
    .await;
    assert_eq!(reply.status, 405);
    assert!(reply.has_header("Allow: GET"));
}

#[tokio::test]
async fn oversized_request_head_is_431() {
    let server = default_server().await;
    let mut raw = b"GET /metrics HTTP/1.1\r\nX-Padding: ".to_vec();
    raw.resize(raw.len() + 10 * 1024, b'a');
    raw.extend_from_slice(b"\r\n\r\n");
    assert_eq!(exchange(server.addr, &raw).await.status, 431);
}

#[tokio::test]
async fn garbage_gets_400_and_the_server_keeps_serving() {
    let server = default_server().await;
    for junk in [
        &b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n"[..],
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        b"GET /healthz\r\n\r\n",
    ] {
        assert_eq!(exchange(server.addr, junk).await.status, 400, "{junk:?}");
    }
    // Connections that say nothing, or half a request, and leave.
    for partial in [&b""[..], b"GET /healthz HTTP/1.1\r\n", b"\xff\xff"] {
        let mut s = TcpStream::connect(server.addr).await.unwrap();
        s.write_all(partial).await.unwrap();
    }
    assert_eq!(get(server.addr, "/healthz").await.status, 200);
}

#[tokio::test]
async fn slowloris_does_not_block_a_concurrent_healthz() {
    let server = default_server().await;
    let mut slow = TcpStream::connect(server.addr).await.unwrap();
    slow.write_all(b"GET /metrics HTTP/1.1\r\nX-Slow: ")
        .await
        .unwrap();
    let reply = get(server.addr, "/healthz").await;
    assert_eq!(reply.status, 200);
    slow.write_all(b"still here").await.unwrap();
}

#[tokio::test]
async fn slow_client_is_dropped_when_its_head_deadline_passes() {
    let limits = AdminLimits {
        io_timeout: Duration::from_millis(200),
        ..AdminLimits::default()
    };
    let server = start(
        state_with(Metrics::default(), || Readiness::ready("")),
        limits,
    )
    .await;
    let mut slow = TcpStream::connect(server.addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\n").await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(PATIENCE, slow.read_to_end(&mut out))
        .await
        .expect("server closed the slow connection")
        .unwrap();
    assert!(out.is_empty(), "no response for an unfinished request");
}

#[tokio::test]
async fn at_the_connection_cap_the_oldest_connection_makes_room_for_a_newcomer() {
    let limits = AdminLimits {
        max_connections: 1,
        ..AdminLimits::default()
    };
    let server = start(
        state_with(Metrics::default(), || Readiness::ready("")),
        limits,
    )
    .await;
    // Accepted first (the backlog is FIFO), so it holds the only slot.
    let mut holder = TcpStream::connect(server.addr).await.unwrap();

    let reply = get(server.addr, "/healthz").await;
    assert_eq!(reply.status, 200);
    let mut out = Vec::new();
    tokio::time::timeout(PATIENCE, holder.read_to_end(&mut out))
        .await
        .expect("the holder was closed")
        .unwrap();
    assert!(out.is_empty(), "closed without a response");
}

#[tokio::test]
async fn probes_are_answered_while_twice_the_cap_of_idle_connections_is_held() {
    let server = default_server().await;
    let cap = AdminLimits::default().max_connections;
    let mut idle = Vec::new();
    for _ in 0..2 * cap {
        idle.push(TcpStream::connect(server.addr).await.unwrap());
    }
    let mut dribbler = TcpStream::connect(server.addr).await.unwrap();
    dribbler
        .write_all(b"GET /metrics HTTP/1.1\r\nX-Slow: ")
        .await
        .unwrap();
    for path in ["/healthz", "/readyz", "/healthz"] {
        let reply = get(server.addr, path).await;
        assert_eq!(reply.status, 200, "{path}");
    }
}

#[tokio::test]
async fn shutdown_stops_the_server_even_with_a_connection_open() {
    let listener = bind_admin("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let task = tokio::spawn(serve_admin(
        listener,
        state_with(Metrics::default(), || Readiness::ready("")),
        stop.clone(),
    ));
    assert_eq!(get(addr, "/healthz").await.status, 200);
    let mut idle = TcpStream::connect(addr).await.unwrap();
    idle.write_all(b"GET /he").await.unwrap();

    stop.cancel();
    tokio::time::timeout(PATIENCE, task)
        .await
        .expect("serve_admin returned after shutdown")
        .unwrap();
    let mut out = Vec::new();
    let _ = idle.read_to_end(&mut out).await;
    assert!(out.is_empty(), "open connection closed without a response");
    assert!(TcpStream::connect(addr).await.is_err(), "listener closed");
}

#[tokio::test]
async fn bind_error_names_the_address() {
    let taken = bind_admin("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let addr = taken.local_addr().unwrap();
    let err = bind_admin(addr).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
}
