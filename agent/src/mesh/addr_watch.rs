//! Address changes from the kernel (rtnetlink), so the mDNS daemon looks at
//! the interfaces only when something changed instead of every few seconds:
//! an idle agent then has no timer at all.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Duration;

use mdns_sd::ServiceDaemon;
use tokio::io::unix::AsyncFd;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use crate::usb::uevent::{netlink_socket, register};

/// `RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR` (linux/rtnetlink.h):
/// links going up or down and addresses added or removed.
const GROUPS: u32 = 0x1 | 0x10 | 0x100;

/// How long the daemon keeps checking after a change: changes come in
/// bursts (link up, then DAD finishing, then the address), and one check a
/// second during that time catches the last of them.
const SETTLE: Duration = Duration::from_secs(3);

/// A socket on the kernel's link and address multicast groups.
pub struct AddrChanges {
    fd: AsyncFd<OwnedFd>,
}

impl AddrChanges {
    /// Fails where netlink is not allowed (some sandboxes); the caller then
    /// keeps the daemon's periodic check.
    pub fn open() -> io::Result<Self> {
        let fd = netlink_socket(libc::SOCK_RAW, libc::NETLINK_ROUTE, GROUPS)?;
        Ok(Self { fd: register(fd)? })
    }

    /// Waits until the kernel reports a change, then reads whatever else is
    /// queued: the content does not matter, only that something changed
    /// (an overrun, ENOBUFS, counts as a change too).
    pub async fn next(&self) -> io::Result<()> {
        let mut buf = vec![0u8; 16 * 1024];
        let mut guard = self.fd.readable().await?;
        loop {
            // SAFETY: reads at most buf.len() bytes into buf.
            let n = unsafe {
                libc::recv(
                    self.fd.get_ref().as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    0,
                )
            };
            if n >= 0 {
                continue;
            }
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EAGAIN) => {
                    guard.clear_ready();
                    return Ok(());
                }
                Some(libc::ENOBUFS) | Some(libc::EINTR) => continue,
                _ => return Err(e),
            }
        }
    }
}

/// Turns the daemon's periodic interface check off and runs it only after
/// the kernel reports a change. Ends when the daemon is shut down (noticed
/// at the next change) or at once when `stop` is cancelled: a daemon that
/// is replaced must not leave its watch, and the watch's socket, behind.
/// Must be called within a tokio runtime.
pub fn follow(daemon: ServiceDaemon, stop: CancellationToken) {
    let changes = match AddrChanges::open() {
        Ok(c) => c,
        Err(e) => {
            debug!(error = %e, "no rtnetlink; mDNS checks addresses every few seconds");
            return;
        }
    };
    if daemon.set_ip_check_interval(0).is_err() {
        return;
    }
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                changed = changes.next() => if changed.is_err() { break },
            }
            debug!("network change; mDNS rechecks addresses");
            if daemon.set_ip_check_interval(1).is_err() {
                return;
            }
            tokio::time::sleep(SETTLE).await;
            if daemon.set_ip_check_interval(0).is_err() {
                return;
            }
        }
        // The socket failed: fall back to the daemon's own timer.
        let _ = daemon.set_ip_check_interval(mdns_sd::IP_CHECK_INTERVAL_IN_SECS_DEFAULT);
    });
}
