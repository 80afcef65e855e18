//! Kernel uevents over netlink: the kernel's own "device added/removed"
//! broadcast, which works without udev (mdev hosts, containers in the
//! host's network namespace). Real sysfs gives no inotify events, so on a
//! real host this is what notices a tty appear before its /dev node does.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// `SYSFS_MAGIC` from linux/magic.h.
const SYSFS_MAGIC: i64 = 0x6265_6572;

/// Whether `path` is on a real sysfs mount. Kernel uevents describe the
/// real sysfs; for a fake tree (tests) they would only cause stray scans.
pub fn is_real_sysfs(path: &Path) -> bool {
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()) else {
        return false;
    };
    // SAFETY: `c` is a valid NUL-terminated path and `st` a properly sized,
    // zeroed out-parameter that statfs fills in.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statfs(c.as_ptr(), &mut st) };
    #[allow(clippy::unnecessary_cast)] // f_type's width differs by platform
    let magic = st.f_type as i64;
    rc == 0 && magic == SYSFS_MAGIC
}

/// Registers a descriptor we own with the tokio reactor, for reading.
/// Must be called within a tokio runtime.
pub fn register(fd: OwnedFd) -> io::Result<AsyncFd<OwnedFd>> {
    // SAFETY: an OwnedFd is a valid open descriptor that stays open, and
    // keeps returning itself from as_raw_fd, until the AsyncFd drops it.
    unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }.map_err(io::Error::from)
}

/// A non-blocking netlink socket of `kind` and `protocol`, bound to the
/// multicast `groups` (a bit mask).
pub fn netlink_socket(
    kind: libc::c_int,
    protocol: libc::c_int,
    groups: u32,
) -> io::Result<OwnedFd> {
    // SAFETY: plain socket/bind calls; the address is a zeroed sockaddr_nl
    // with its family and groups set, passed with its size.
    unsafe {
        let raw = libc::socket(
            libc::AF_NETLINK,
            kind | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            protocol,
        );
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        let fd = OwnedFd::from_raw_fd(raw);
        let mut addr: libc::sockaddr_nl = std::mem::zeroed();
        addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        addr.nl_groups = groups;
        let rc = libc::bind(
            fd.as_raw_fd(),
            std::ptr::addr_of!(addr).cast::<libc::sockaddr>(),
            std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        );
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(fd)
    }
}

/// A socket bound to the kernel's uevent multicast group.
pub struct Uevents {
    fd: AsyncFd<OwnedFd>,
}

impl Uevents {
    /// Fails where netlink is not allowed (some sandboxes) or not useful:
    /// the caller logs it and relies on inotify.
    pub fn open() -> io::Result<Self> {
        // Group 1 carries the kernel's own events (udev re-broadcasts on
        // group 2, which may not exist here).
        let fd = netlink_socket(libc::SOCK_DGRAM, libc::NETLINK_KOBJECT_UEVENT, 1)?;
        Ok(Self { fd: register(fd)? })
    }

    /// Waits for the next uevent about a serial or USB device. A lost
    /// message (receive buffer overrun) counts as one: something changed.
    pub async fn next(&self) -> io::Result<()> {
        let mut buf = vec![0u8; 8192];
        loop {
            let mut guard = self.fd.readable().await?;
            let read = guard.try_io(|fd| {
                // SAFETY: reads at most buf.len() bytes into buf.
                let n = unsafe {
                    libc::recv(
                        fd.get_ref().as_raw_fd(),
                        buf.as_mut_ptr().cast(),
                        buf.len(),
                        0,
                    )
                };
                if n < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(n as usize)
                }
            });
            match read {
                Ok(Ok(n)) if relevant(&buf[..n]) => return Ok(()),
                Ok(Ok(_)) => {}
                Ok(Err(e)) if e.raw_os_error() == Some(libc::ENOBUFS) => return Ok(()),
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => {}
            }
        }
    }
}

/// Whether a kernel uevent (`ACTION@DEVPATH\0KEY=VALUE\0...`) is a tty or
/// USB device coming or going.
pub fn relevant(msg: &[u8]) -> bool {
    let mut fields = msg.split(|b| *b == 0);
    let Some(header) = fields.next() else {
        return false;
    };
    let Some(at) = header.iter().position(|b| *b == b'@') else {
        return false;
    };
    let action = &header[..at];
    if !matches!(
        action,
        b"add" | b"remove" | b"move" | b"bind" | b"unbind" | b"change"
    ) {
        return false;
    }
    fields.any(|f| {
        matches!(
            f,
            b"SUBSYSTEM=tty" | b"SUBSYSTEM=usb-serial" | b"SUBSYSTEM=usb"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tty_and_usb_adds_and_removes_are_relevant() {
        assert!(relevant(b"add@/devices/pci0000:00/usb1/1-1/1-1:1.0/ttyUSB0/tty/ttyUSB0\0ACTION=add\0SUBSYSTEM=tty\0DEVNAME=ttyUSB0\0"));
        assert!(relevant(
            b"remove@/devices/pci0000:00/usb1/1-1\0ACTION=remove\0SUBSYSTEM=usb\0"
        ));
        assert!(relevant(
            b"bind@/devices/x/1-1:1.0/ttyUSB0\0SUBSYSTEM=usb-serial\0"
        ));
    }

    #[test]
    fn other_subsystems_and_garbage_are_not() {
        assert!(!relevant(
            b"add@/devices/virtual/net/veth0\0ACTION=add\0SUBSYSTEM=net\0"
        ));
        assert!(!relevant(b"libudev\0\xfe\xed\xca\xfe"));
        assert!(!relevant(b""));
        assert!(!relevant(
            b"online@/devices/system/cpu/cpu1\0SUBSYSTEM=cpu\0"
        ));
    }

    #[test]
    fn a_fake_tree_is_not_real_sysfs() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!is_real_sysfs(dir.path()));
        assert!(!is_real_sysfs(Path::new("/nonexistent/sys")));
    }
}
