use std::future::poll_fn;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::time::Duration;

use tokio::time::timeout;

use super::*;

/// A raw, non-blocking pty: (master, slave). The slave plays the device.
fn pty() -> (OwnedFd, OwnedFd) {
    let pair = crate::tty::open_pty().expect("open a pty");
    crate::tty::set_nonblocking(pair.slave.as_fd()).unwrap();
    (pair.master.into(), pair.slave.into())
}

/// The epoll event masks registered for `fd` in this process, read from
/// /proc (each epoll descriptor lists its targets as
/// `tfd: N events: HEX data: HEX pos:0 ino:HEX sdev:HEX`). The inode
/// tells our tty from another test's descriptor of the same number; a line
/// seen twice is one epoll instance reached through two descriptors (mio
/// duplicates its epoll descriptor).
fn registrations(fd: RawFd) -> Vec<u32> {
    // SAFETY: fstat into a local struct.
    let ino = unsafe {
        let mut st = std::mem::zeroed::<libc::stat>();
        assert_eq!(libc::fstat(fd, &mut st), 0);
        format!("ino:{:x}", st.st_ino)
    };
    let mut lines = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir("/proc/self/fdinfo").unwrap().flatten() {
        let Ok(info) = std::fs::read_to_string(entry.path()) else {
            continue;
        };
        for line in info.lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            if words.first() == Some(&"tfd:")
                && words.get(1) == Some(&&*fd.to_string())
                && words.contains(&&*ino)
            {
                lines.insert(line.to_owned());
            }
        }
    }
    lines
        .iter()
        .map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(words[2], "events:", "{line}");
            u32::from_str_radix(words[3], 16).unwrap()
        })
        .collect()
}

fn writable_registrations(io: &TtyIo<OwnedFd>) -> usize {
    io.write_wait.as_ref().map_or(0, |w| {
        registrations(w.get_ref().as_raw_fd())
            .iter()
            .filter(|m| *m & libc::EPOLLOUT as u32 != 0)
            .count()
    })
}

async fn read_exactly(io: &TtyIo<OwnedFd>, want: usize) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 64];
    while got.len() < want {
        let n = timeout(
            Duration::from_secs(5),
            poll_fn(|cx| io.poll_read_some(cx, &mut buf)),
        )
        .await
        .expect("no data within 5 s")
        .unwrap();
        assert!(n > 0, "unexpected end of file");
        got.extend_from_slice(&buf[..n]);
    }
    got
}

#[tokio::test]
async fn registered_for_reading_only_so_drains_do_not_wake_us() {
    let (master, slave) = pty();
    let fd = slave.as_raw_fd();
    let mut io = TtyIo::new(slave).unwrap();
    let masks = registrations(fd);
    assert_eq!(masks.len(), 1, "one registration: {masks:x?}");
    assert_ne!(masks[0] & libc::EPOLLIN as u32, 0, "{:x}", masks[0]);
    assert_eq!(masks[0] & libc::EPOLLOUT as u32, 0, "{:x}", masks[0]);

    let n = poll_fn(|cx| io.poll_write_some(cx, b"ping")).await.unwrap();
    assert_eq!(n, 4);
    assert!(
        io.write_wait.is_none(),
        "a write taken whole registers nothing"
    );
    let mut buf = [0u8; 16];
    assert_eq!(read(master.as_raw_fd(), &mut buf).unwrap(), 4);
    assert_eq!(&buf[..4], b"ping");
}

#[tokio::test]
async fn a_short_read_does_not_lose_what_arrives_next() {
    let (master, slave) = pty();
    let io = TtyIo::new(slave).unwrap();
    for round in 0..50u8 {
        let frame = [round; 3];
        write(master.as_raw_fd(), &frame).unwrap();
        assert_eq!(read_exactly(&io, 3).await, frame, "round {round}");
    }
}

#[tokio::test]
async fn a_full_tty_waits_for_room_then_stops_listening_for_it() {
    let (master, slave) = pty();
    let mut io = TtyIo::new(slave).unwrap();
    let data: Vec<u8> = (0..256 * 1024).map(|i| (i % 251) as u8).collect();
    let mut written = 0;
    let mut echoed = Vec::new();
    let mut saw_pending = false;
    let mut buf = vec![0u8; 4096];
    while written < data.len() {
        let step = timeout(
            Duration::from_millis(20),
            poll_fn(|cx| io.poll_write_some(cx, &data[written..])),
        )
        .await;
        match step {
            Ok(n) => written += n.unwrap(),
            Err(_) => {
                // Nobody read the far end: the tty is full and we wait on a
                // writable registration of our own. The far end then
                // drains a little, as a slow device would.
                saw_pending = true;
                assert_eq!(writable_registrations(&io), 1);
                let n = read(master.as_raw_fd(), &mut buf).unwrap();
                echoed.extend_from_slice(&buf[..n]);
            }
        }
    }
    assert!(saw_pending, "the tty never filled; the test proves nothing");
    while echoed.len() < data.len() {
        tokio::time::sleep(Duration::from_millis(5)).await;
        while let Ok(n) = read(master.as_raw_fd(), &mut buf) {
            echoed.extend_from_slice(&buf[..n]);
        }
    }
    assert!(echoed == data, "bytes differ after the backlog");
    // One more small write, taken whole: the writable registration is gone.
    poll_fn(|cx| io.poll_write_some(cx, b"x")).await.unwrap();
    assert!(io.write_wait.is_none(), "still registered for writable");
}

#[tokio::test]
async fn reading_ends_when_the_far_end_closes() {
    let (master, slave) = pty();
    let io = TtyIo::new(slave).unwrap();
    drop(master);
    let mut buf = [0u8; 16];
    let end = timeout(
        Duration::from_secs(5),
        poll_fn(|cx| io.poll_read_some(cx, &mut buf)),
    )
    .await
    .expect("a read on a hung-up tty must not wait forever");
    match end {
        Ok(0) => {}
        Err(e) if e.raw_os_error() == Some(libc::EIO) => {}
        other => panic!("expected end of file or EIO, got {other:?}"),
    }
}
