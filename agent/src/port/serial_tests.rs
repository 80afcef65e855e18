use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;

/// Stands in for a tty whose close waits for output to drain.
struct SlowClose {
    takes: Duration,
    closed: Arc<AtomicBool>,
}

impl Drop for SlowClose {
    fn drop(&mut self) {
        std::thread::sleep(self.takes);
        self.closed.store(true, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_slow_close_stalls_neither_the_runtime_nor_the_lock_order() {
    let closed = Arc::new(AtomicBool::new(false));
    let lock = Arc::new(tokio::sync::Mutex::new(()));
    let guard = lock.clone().lock_owned().await;
    let ticks = Arc::new(AtomicUsize::new(0));
    let ticker = tokio::spawn({
        let ticks = ticks.clone();
        async move {
            loop {
                tokio::time::sleep(Duration::from_millis(10)).await;
                ticks.fetch_add(1, Ordering::SeqCst);
            }
        }
    });
    let port = SlowClose {
        takes: Duration::from_millis(400),
        closed: closed.clone(),
    };
    let start = Instant::now();
    let closing = tokio::spawn(close(port, guard));
    // Whoever waits for the lock (a replacing session) gets it only once
    // the port is closed.
    let _next = lock.lock().await;
    assert!(
        closed.load(Ordering::SeqCst),
        "lock released before the close"
    );
    assert!(start.elapsed() >= Duration::from_millis(400));
    closing.await.unwrap();
    ticker.abort();
    // On this one-thread runtime, a close on the runtime's thread would
    // have stopped the ticker for the whole 400 ms.
    let n = ticks.load(Ordering::SeqCst);
    assert!(n >= 10, "the runtime stalled during the close: {n} ticks");
}

#[tokio::test]
async fn a_missing_device_is_not_found() {
    let e = open(
        Path::new("/dev/serialmesh-no-such-tty"),
        &LineSettings::default(),
    )
    .await
    .err()
    .expect("opened a path that does not exist");
    assert_eq!(e.kind(), io::ErrorKind::NotFound, "{e}");
}
