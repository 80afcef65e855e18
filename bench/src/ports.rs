//! Loopback ports for relays, and knowing when a relay is listening.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::child::ChildGuard;

/// A port that was free a moment ago. The relay binds it itself (socat,
/// ser2net and seriald take a port, not a socket), so there is a small
/// window in which something else could take it; on a bench machine that
/// is acceptable, and the relay then fails loudly rather than silently.
pub fn free_port() -> Result<u16> {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("cannot bind a loopback port")?;
    Ok(l.local_addr().context("no local address")?.port())
}

pub fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

/// Waits until something listens on loopback `port`, failing early if one
/// of `procs` exits meanwhile.
///
/// A probe connection would have side effects that skew the measurement: a
/// forking socat opens the pty for it and keeps reading it for `-t` after,
/// and `serialctl connect` dials the agent. The kernel's table of listening
/// sockets answers the same question ("will a connect be accepted?") without
/// touching the relay.
pub fn wait_listening(port: u16, procs: &mut [&mut ChildGuard], timeout: Duration) -> Result<()> {
    wait_until(
        &format!("nothing listens on 127.0.0.1:{port}"),
        || is_listening(port),
        procs,
        timeout,
    )
}

/// Waits until `ready()`, failing early if one of `procs` exits meanwhile,
/// and with `not_ready` (and what was started) after `timeout`.
pub fn wait_until(
    not_ready: &str,
    ready: impl Fn() -> bool,
    procs: &mut [&mut ChildGuard],
    timeout: Duration,
) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        if ready() {
            return Ok(());
        }
        for p in procs.iter_mut() {
            p.check_running()?;
        }
        if Instant::now() > deadline {
            let names: Vec<&str> = procs.iter().map(|p| p.name()).collect();
            bail!("{not_ready} after {timeout:?} (started: {names:?})");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Whether /proc/net/tcp{,6} lists a socket in LISTEN state on `port`.
fn is_listening(port: u16) -> bool {
    ["/proc/net/tcp", "/proc/net/tcp6"].iter().any(|table| {
        std::fs::read_to_string(table)
            .map(|text| lists_listener(&text, port))
            .unwrap_or(false)
    })
}

/// Lines look like `0: 0100007F:1F90 00000000:0000 0A ...`: local address
/// and port in hex, then the remote, then the state (0A is LISTEN).
fn lists_listener(table: &str, port: u16) -> bool {
    let want = format!(":{port:04X}");
    table.lines().skip(1).any(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        f.len() > 3 && f[1].ends_with(&want) && f[3] == "0A"
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_listener_in_the_kernel_table() {
        let table = "  sl  local_address rem_address   st\n   0: 0100007F:1F90 00000000:0000 0A 0\n   1: 0100007F:0050 0100007F:1F90 01 0\n";
        assert!(lists_listener(table, 0x1F90));
        assert!(
            !lists_listener(table, 0x0050),
            "an established socket is not a listener"
        );
    }

    #[test]
    fn sees_a_real_listener() {
        let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("test: bind");
        let port = l.local_addr().expect("test: addr").port();
        assert!(is_listening(port));
    }
}
