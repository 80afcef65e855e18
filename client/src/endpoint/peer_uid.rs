//! Which local user made a loopback TCP connection.
//!
//! TCP carries no credentials (SO_PEERCRED is for Unix sockets), but on
//! loopback both ends are sockets of this host's kernel in this network
//! namespace, and the kernel records each socket's owner. We find the
//! connecting socket by its address pair, the mirror image of the accepted
//! one, and read its uid.
//!
//! Read from `/proc/net/tcp` (`tcp6`) rather than asked of NETLINK_SOCK_DIAG:
//! both report the same owner (`sock_i_uid`), and the text needs no unsafe
//! code and no netlink crate. The cost is reading the namespace's socket
//! table once per accepted connection, off the runtime's threads; a gateway
//! connects once and keeps its connection. (An exact sock_diag lookup is the
//! upgrade if a host with a huge table ever shows that cost.)
//!
//! Only a socket that a process still holds has an owner: one in TIME_WAIT,
//! or one its process already closed (an orphan in FIN_WAIT, which the
//! kernel lists with uid 0 and inode 0), says nothing about who made it,
//! so entries without an inode are skipped. Otherwise any user could open
//! a connection, write, close it, and pass as root while we look. A
//! connecting socket that is not found is refused by the caller.
//!
//! An IPv4 connection may come from an IPv6 socket (dual-stack, as Java
//! and others make them, connecting to `::ffff:127.0.0.1`): it is listed
//! in `tcp6` with v4-mapped addresses, so that table is searched next.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The uid owning the socket at `peer` that is connected to `local`, or
/// None if no such socket is listed (it already closed). Blocking: reads
/// procfs.
pub fn peer_uid(local: SocketAddr, peer: SocketAddr) -> io::Result<Option<u32>> {
    let read = |table: &str| {
        std::fs::read_to_string(table)
            .map_err(|e| io::Error::new(e.kind(), format!("cannot read {table}: {e}")))
    };
    match (peer, local) {
        (SocketAddr::V4(p), SocketAddr::V4(l)) => {
            if let Some(uid) = find_owner(&read("/proc/net/tcp")?, peer, local) {
                return Ok(Some(uid));
            }
            let mapped = |a: std::net::SocketAddrV4| {
                SocketAddr::new(IpAddr::V6(a.ip().to_ipv6_mapped()), a.port())
            };
            Ok(find_owner(&read("/proc/net/tcp6")?, mapped(p), mapped(l)))
        }
        _ => Ok(find_owner(&read("/proc/net/tcp6")?, peer, local)),
    }
}

/// The uid on the line of `text` (a `/proc/net/tcp{,6}` table) whose local
/// address is `from` and remote address `to`.
fn find_owner(text: &str, from: SocketAddr, to: SocketAddr) -> Option<u32> {
    text.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (local, remote, uid, inode) = (f.get(1)?, f.get(2)?, f.get(7)?, f.get(9)?);
        let held = *inode != "0";
        let matches = held && parse_addr(local)? == from && parse_addr(remote)? == to;
        matches.then(|| uid.parse().ok()).flatten()
    })
}

/// `0100007F:1F90` (IPv4) or 32 hex digits and a port (IPv6). The kernel
/// prints each 32-bit word of the address as the number it is in memory
/// (`%08X` of a big-endian word on this host), and the port in host order.
fn parse_addr(s: &str) -> Option<SocketAddr> {
    let (addr, port) = s.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let mut bytes = Vec::with_capacity(16);
    for i in (0..addr.len()).step_by(8) {
        let word = u32::from_str_radix(addr.get(i..i + 8)?, 16).ok()?;
        bytes.extend_from_slice(&word.to_ne_bytes());
    }
    let ip = match bytes.len() {
        4 => IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(bytes).ok()?)),
        16 => IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(bytes).ok()?)),
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connecting_socket_of_a_live_loopback_connection_is_ours() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (_server, peer) = listener.accept().unwrap();
        assert_eq!(peer, client.local_addr().unwrap());
        let uid = peer_uid(listener.local_addr().unwrap(), peer).unwrap();
        assert_eq!(uid, Some(nix::unistd::geteuid().as_raw()));
    }

    #[test]
    fn ipv6_loopback_connections_are_found_in_tcp6() {
        let Ok(listener) = std::net::TcpListener::bind("[::1]:0") else {
            return; // no IPv6 here
        };
        let _client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (_server, peer) = listener.accept().unwrap();
        let uid = peer_uid(listener.local_addr().unwrap(), peer).unwrap();
        assert_eq!(uid, Some(nix::unistd::geteuid().as_raw()));
    }

    #[test]
    fn a_socket_its_process_closed_has_no_owner() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (_server, peer) = listener.accept().unwrap();
        // Closed by its process, not yet by us: an orphan in FIN_WAIT2,
        // listed with uid 0 and no inode.
        drop(client);
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert_eq!(
            peer_uid(listener.local_addr().unwrap(), peer).unwrap(),
            None
        );
    }

    #[test]
    fn a_dual_stack_socket_connecting_to_ipv4_loopback_is_found() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let Ok(_client) = std::net::TcpStream::connect(("::ffff:127.0.0.1", port)) else {
            return; // no IPv6 here
        };
        let (_server, peer) = listener.accept().unwrap();
        let uid = peer_uid(listener.local_addr().unwrap(), peer).unwrap();
        assert_eq!(uid, Some(nix::unistd::geteuid().as_raw()));
    }

    #[test]
    fn time_wait_entries_and_other_pairs_are_not_owners() {
        // Lines in the kernel's layout (x86: little-endian words).
        let text = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
            0: 0100007F:D431 0100007F:1388 06 00000000:00000000 03:00000F9E 00000000     0        0 0\n\
            1: 0100007F:D431 0100007F:1388 01 00000000:00000000 00:00000000 00000000  1000        0 1\n\
            2: 0100007F:1388 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 2\n";
        if cfg!(target_endian = "little") {
            let peer: SocketAddr = "127.0.0.1:54321".parse().unwrap();
            let local: SocketAddr = "127.0.0.1:5000".parse().unwrap();
            assert_eq!(find_owner(text, peer, local), Some(1000));
            let other: SocketAddr = "127.0.0.1:54322".parse().unwrap();
            assert_eq!(find_owner(text, other, local), None);
        }
    }
}
