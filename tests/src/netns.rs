//! A private LAN per test, made of network namespaces: real multicast
//! (mDNS) between real processes, without touching the machine's network.
//!
//! [`Lan::new`] makes a bridge in the root namespace (no address on it, so
//! the machine itself is not on the LAN) and one namespace per host, each
//! with a veth on the bridge (`eth0`, `10.A.B.x/24`, a route for multicast)
//! and loopback up. IPv6 is off inside, so mDNS runs over IPv4 only and no
//! link-local address is still tentative when a test starts. Names carry the
//! test process's pid and a counter, so parallel tests (and test binaries)
//! never share a namespace, bridge or subnet.
//!
//! Dropping the [`Lan`] kills every process left in its namespaces and
//! deletes namespaces, veths and bridge, also when the test panicked.
//! Leftovers of a test process that was killed outright (no `Drop` ran) are
//! swept by the next [`Lan::new`]: their names carry a pid that is gone.
//!
//! Needs root (CAP_NET_ADMIN) and `ip` (iproute2); [`Lan::drop_multicast`]
//! also needs `nft` (Debian package `nftables`).

use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::proc::{ChildGuard, ProcBuilder};
use crate::util::eventually;

const PREFIX_NS: &str = "smt-";
const PREFIX_BRIDGE: &str = "smb";
const PREFIX_VETH: &str = "smv";

static NEXT: AtomicU32 = AtomicU32::new(0);

/// One test's LAN: a bridge and `n` hosts (namespaces) on it.
pub struct Lan {
    bridge: String,
    hosts: Vec<Host>,
}

/// A host on a [`Lan`]: a network namespace with `eth0` at `ip`.
pub struct Host {
    pub ns: String,
    pub ip: Ipv4Addr,
    veth: String,
}

impl Lan {
    /// A LAN of `hosts` namespaces (at most 64).
    ///
    /// # Panics
    /// If a command fails (not root, no `ip`), with its output.
    pub fn new(hosts: usize) -> Lan {
        // Interface names have at most 15 bytes: `smv`, the pid (6 hex
        // digits at most), `g`, the LAN (2) and `h`, the host (2).
        assert!(hosts <= 64, "at most 64 hosts per LAN");
        sweep_leftovers();
        let pid = std::process::id();
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        assert!(n < 256, "too many LANs in one test process");
        let bridge = format!("{PREFIX_BRIDGE}{pid:x}g{n:x}");
        // Unique per test in this process, and spread over processes.
        let subnet = (16 + (pid % 200) as u8, (n % 256) as u8);
        let mut lan = Lan {
            bridge: bridge.clone(),
            hosts: Vec::new(),
        };
        ip(&[
            "link",
            "add",
            &bridge,
            "type",
            "bridge",
            "mcast_snooping",
            "0",
        ]);
        // No IPv6 link-local address: the root namespace stays off the LAN.
        ip(&["link", "set", &bridge, "addrgenmode", "none"]);
        ip(&["link", "set", &bridge, "up"]);
        for i in 0..hosts {
            let host = Host {
                ns: format!("{PREFIX_NS}{pid:x}g{n:x}h{i:x}"),
                ip: Ipv4Addr::new(10, subnet.0, subnet.1, 2 + i as u8),
                veth: format!("{PREFIX_VETH}{pid:x}g{n:x}h{i:x}"),
            };
            ip(&["netns", "add", &host.ns]);
            lan.hosts.push(host);
            let host = lan.hosts.last().expect("just pushed");
            in_ns(&host.ns, || {
                for key in ["all", "default"] {
                    let path = format!("/proc/sys/net/ipv6/conf/{key}/disable_ipv6");
                    // A kernel without IPv6 has no such file: nothing to do.
                    let _ = std::fs::write(path, "1");
                    // As distributions set it: removing an interface's
                    // first address keeps the others (see `readdress`).
                    let path = format!("/proc/sys/net/ipv4/conf/{key}/promote_secondaries");
                    let _ = std::fs::write(path, "1");
                }
            });
            ip(&[
                "link", "add", &host.veth, "type", "veth", "peer", "name", "eth0", "netns",
                &host.ns,
            ]);
            ip(&["link", "set", &host.veth, "addrgenmode", "none"]);
            ip(&["link", "set", &host.veth, "master", &bridge, "up"]);
            let cidr = format!("{}/24", host.ip);
            ip(&["-n", &host.ns, "addr", "add", &cidr, "dev", "eth0"]);
            ip(&["-n", &host.ns, "link", "set", "lo", "up"]);
            ip(&["-n", &host.ns, "link", "set", "eth0", "up"]);
            ip(&["-n", &host.ns, "route", "add", "224.0.0.0/4", "dev", "eth0"]);
        }
        lan
    }

    /// Host `i`.
    pub fn host(&self, i: usize) -> &Host {
        &self.hosts[i]
    }

    /// The address of host `i`.
    pub fn ip(&self, i: usize) -> Ipv4Addr {
        self.hosts[i].ip
    }

    /// `ip netns exec NS program`: a process to start on host `i`. `ip`
    /// execs the program in place, so the guard's pid is the program's.
    pub fn command(&self, i: usize, program: impl AsRef<Path>) -> ProcBuilder {
        let program = program.as_ref();
        let name = program
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        ProcBuilder::new("ip")
            .args(["netns", "exec", &self.hosts[i].ns])
            .arg(program)
            .label(format!("{name}@h{i}"))
    }

    /// Drops all multicast arriving on host `i` (as on pod networks and
    /// across VLANs): an nft table `serialmesh_test` in its namespace.
    pub fn drop_multicast(&self, i: usize) {
        nft(
            &self.hosts[i].ns,
            "table inet serialmesh_test {\n\
             chain input { type filter hook input priority 0; ip daddr 224.0.0.0/4 drop; }\n\
             }\n",
        );
    }

    /// Runs `f` on a thread inside host `i`'s namespace (sockets it makes
    /// belong to that host and stay usable from any thread).
    pub fn run_in<T: Send + 'static>(&self, i: usize, f: impl FnOnce() -> T + Send + 'static) -> T {
        in_ns(&self.hosts[i].ns, f)
    }

    /// Loads nft `rules` (a whole `nft -f` script) in host `i`'s namespace.
    ///
    /// # Panics
    /// If nft is missing or refuses the rules, with its output.
    pub fn nft(&self, i: usize, rules: &str) {
        nft(&self.hosts[i].ns, rules)
    }

    /// Silently drops every packet into and out of host `i`'s `eth0` (an
    /// nft table `serialmesh_block` in its namespace): a peer that vanished
    /// without a FIN or RST, as when a switch port or a Wi-Fi link dies.
    /// Loopback inside the host is untouched.
    pub fn block(&self, i: usize) {
        nft(
            &self.hosts[i].ns,
            "table inet serialmesh_block {\n\
             chain input { type filter hook input priority 0; iifname \"eth0\" drop; }\n\
             chain output { type filter hook output priority 0; oifname \"eth0\" drop; }\n\
             }\n",
        );
    }

    /// Removes what [`Lan::block`] added.
    pub fn unblock(&self, i: usize) {
        nft(&self.hosts[i].ns, "delete table inet serialmesh_block\n");
    }

    /// Takes host `i`'s link down, as if its cable were pulled.
    pub fn cut(&self, i: usize) {
        ip(&["-n", &self.hosts[i].ns, "link", "set", "eth0", "down"]);
    }

    /// Brings host `i`'s link back (and the multicast route the kernel
    /// dropped with it).
    pub fn restore(&self, i: usize) {
        let ns = &self.hosts[i].ns;
        ip(&["-n", ns, "link", "set", "eth0", "up"]);
        ip(&["-n", ns, "route", "replace", "224.0.0.0/4", "dev", "eth0"]);
    }

    /// Moves host `i` to another address on the LAN (`.last`), as DHCP
    /// might: the new address is added before the old one goes.
    pub fn readdress(&mut self, i: usize, last: u8) -> Ipv4Addr {
        let host = &mut self.hosts[i];
        let [a, b, c, _] = host.ip.octets();
        let new = Ipv4Addr::new(a, b, c, last);
        ip(&[
            "-n",
            &host.ns,
            "addr",
            "add",
            &format!("{new}/24"),
            "dev",
            "eth0",
        ]);
        ip(&[
            "-n",
            &host.ns,
            "addr",
            "del",
            &format!("{}/24", host.ip),
            "dev",
            "eth0",
        ]);
        host.ip = new;
        new
    }

    /// Adds a secondary address `.last` on host `i`'s `eth0` (its main
    /// address stays), e.g. to send from several sources on one host.
    pub fn add_address(&self, i: usize, last: u8) -> Ipv4Addr {
        let host = &self.hosts[i];
        let [a, b, c, _] = host.ip.octets();
        let new = Ipv4Addr::new(a, b, c, last);
        let cidr = format!("{new}/24");
        ip(&["-n", &host.ns, "addr", "add", &cidr, "dev", "eth0"]);
        new
    }

    /// Connects to `addr` from inside host `i` (retrying for `timeout`):
    /// the test itself reaching a listener that only that namespace sees.
    ///
    /// # Panics
    /// If no connection is made in time.
    pub fn connect_tcp(&self, i: usize, addr: SocketAddr, timeout: Duration) -> TcpStream {
        let deadline = Instant::now() + timeout;
        let result = in_ns(&self.hosts[i].ns, move || loop {
            match TcpStream::connect_timeout(&addr, Duration::from_millis(500)) {
                Ok(s) => return Ok(s),
                Err(e) if Instant::now() >= deadline => return Err(e),
                Err(_) => thread::sleep(Duration::from_millis(10)),
            }
        });
        let stream =
            result.unwrap_or_else(|e| panic!("no connection to {addr} within {timeout:?}: {e}"));
        let _ = stream.set_nodelay(true);
        stream
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        for host in &self.hosts {
            remove_ns(&host.ns);
            let _ = quiet_ip(&["link", "del", &host.veth]);
        }
        let _ = quiet_ip(&["link", "del", &self.bridge]);
    }
}

/// Waits until `process` (running in some namespace) listens on TCP `port`,
/// looking at the process's own view of `/proc/PID/net/tcp`.
pub fn wait_listening_in(process: &ChildGuard, port: u16, timeout: Duration) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = process.try_exit() {
            return Err(process.failure(&format!("exited ({status}) before listening on {port}")));
        }
        if listens(process.pid(), port) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(process.failure(&format!("not listening on {port} after {timeout:?}")));
        }
        thread::sleep(Duration::from_millis(10));
    }
}

fn listens(pid: u32, port: u16) -> bool {
    let wanted = format!(":{port:04X}");
    let mut inodes = Vec::new();
    for table in ["tcp", "tcp6"] {
        let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            if cols.len() > 9 && cols[1].ends_with(&wanted) && cols[3] == "0A" {
                inodes.push(format!("socket:[{}]", cols[9]));
            }
        }
    }
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.flatten().any(|fd| {
        std::fs::read_link(fd.path())
            .is_ok_and(|t| inodes.iter().any(|i| t.to_string_lossy() == *i))
    })
}

/// Runs `f` on a new thread that has joined namespace `ns` (network
/// namespaces are per thread), and returns its result.
fn in_ns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = netns_path(ns);
    thread::spawn(move || {
        let file =
            File::open(&path).unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
        // SAFETY: setns on a valid namespace fd changes only this thread,
        // which ends after `f`.
        if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            panic!(
                "setns into {} failed: {}",
                path.display(),
                std::io::Error::last_os_error()
            );
        }
        f()
    })
    .join()
    .unwrap_or_else(|p| std::panic::resume_unwind(p))
}

fn netns_path(ns: &str) -> PathBuf {
    Path::new("/run/netns").join(ns)
}

/// Kills what still runs in `ns`, then deletes it.
fn remove_ns(ns: &str) {
    let pids = |ns: &str| -> Vec<i32> {
        quiet_ip(&["netns", "pids", ns])
            .map(|out| {
                out.split_whitespace()
                    .filter_map(|p| p.parse().ok())
                    .collect()
            })
            .unwrap_or_default()
    };
    for pid in pids(ns) {
        // SAFETY: plain kill(2) of a pid that was in our namespace just now.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    // Zombies (children of a test not yet reaped) no longer count.
    eventually(Duration::from_secs(5), || pids(ns).is_empty());
    let _ = quiet_ip(&["netns", "del", ns]);
}

/// Removes namespaces and bridges left by test processes that are gone.
fn sweep_leftovers() {
    let dead = |name: &str, prefix: &str| -> bool {
        let Some(rest) = name.strip_prefix(prefix) else {
            return false;
        };
        let hex = rest.split('g').next().unwrap_or("");
        u32::from_str_radix(hex, 16).is_ok_and(|pid| !Path::new(&format!("/proc/{pid}")).exists())
    };
    if let Ok(entries) = std::fs::read_dir("/run/netns") {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if dead(&name, PREFIX_NS) {
                remove_ns(&name);
            }
        }
    }
    if let Ok(entries) = std::fs::read_dir("/sys/class/net") {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if dead(&name, PREFIX_BRIDGE) || dead(&name, PREFIX_VETH) {
                let _ = quiet_ip(&["link", "del", &name]);
            }
        }
    }
}

/// Loads `rules` into nft inside namespace `ns`, panicking with nft's
/// message if it fails.
fn nft(ns: &str, rules: &str) {
    let out = Command::new("ip")
        .args(["netns", "exec", ns, "nft", "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            if let Some(mut stdin) = child.stdin.take() {
                stdin.write_all(rules.as_bytes())?;
            }
            child.wait_with_output()
        })
        .unwrap_or_else(|e| panic!("cannot run nft (apt-get install nftables): {e}"));
    assert!(
        out.status.success(),
        "nft in {ns} failed (is nftables installed?): {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `ip ARGS`, panicking with its output if it fails.
fn ip(args: &[&str]) {
    if let Err(e) = quiet_ip(args) {
        panic!(
            "ip {} failed: {e} (the namespace tests need root and iproute2)",
            args.join(" ")
        );
    }
}

/// Runs `ip ARGS`; its stdout, or why it failed.
fn quiet_ip(args: &[&str]) -> Result<String, String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run ip: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exists(ns: &str) -> bool {
        netns_path(ns).exists()
    }

    #[test]
    fn hosts_reach_each_other_and_everything_goes_on_drop() {
        let lan = Lan::new(2);
        let (ns0, ns1) = (lan.host(0).ns.clone(), lan.host(1).ns.clone());
        let bridge = lan.bridge.clone();
        assert!(exists(&ns0) && exists(&ns1));
        // A listener on host 1, reached from host 0.
        let addr = SocketAddr::from((lan.ip(1), 9));
        let listener = in_ns(&ns1, move || std::net::TcpListener::bind(addr).unwrap());
        let _conn = lan.connect_tcp(0, addr, Duration::from_secs(5));
        let (_, from) = listener.accept().unwrap();
        assert_eq!(from.ip(), lan.ip(0));
        drop(lan);
        assert!(!exists(&ns0) && !exists(&ns1));
        assert!(!Path::new("/sys/class/net").join(&bridge).exists());
    }

    #[test]
    fn a_panicking_test_leaves_nothing_behind() {
        let names = std::panic::catch_unwind(|| {
            let lan = Lan::new(1);
            let names = (lan.host(0).ns.clone(), lan.bridge.clone());
            let sleeper = lan.command(0, "sleep").arg("600").spawn();
            std::mem::forget(sleeper); // as if its guard never ran
            std::panic::panic_any(names);
        })
        .unwrap_err();
        let (ns, bridge) = names.downcast_ref::<(String, String)>().unwrap().clone();
        assert!(!exists(&ns), "{ns} left behind");
        assert!(!Path::new("/sys/class/net").join(&bridge).exists());
    }
}
