//! Real gateway software through the tunnel: zwave-js (the library inside
//! zwave-js-ui) against an emulated Z-Wave controller on a pty.
//!
//! The controller is zwave-js's own mock controller with two mock switch
//! nodes (`tests/zwave-js/emulator.cjs`), reached over loopback TCP. A
//! [`ZwaveStick`] bridges it to a pty that the agent shares like a USB
//! stick; the pty outlives agent restarts, as a plugged-in stick does, and
//! can re-enumerate on soft reset as 700/800-series sticks do. The
//! driver (`tests/zwave-js/driver.cjs`) connects to the client endpoint as
//! `tcp://127.0.0.1:PORT`, exactly as zwave-js-ui is configured.
//!
//! Node.js >= 20 and npm must be on PATH; the pinned packages
//! (`tests/zwave-js/package-lock.json`) are installed by the first test
//! that needs them.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::net::{connect_retry, free_port};
use crate::proc::{ChildGuard, ProcBuilder};
use crate::tools::{repo_root, require};
use crate::util::{temp_dir, TempDir};
use crate::ScriptedDevice;

const NPM_TIMEOUT: Duration = Duration::from_secs(300);

/// Where the pinned zwave-js and its scripts are.
pub fn dir() -> PathBuf {
    repo_root().join("tests/zwave-js")
}

/// Installs the pinned zwave-js once per test process; the `node` binary.
///
/// # Panics
/// If node or npm is missing or `npm ci` fails, with what to do.
pub fn node() -> PathBuf {
    static READY: OnceLock<PathBuf> = OnceLock::new();
    READY
        .get_or_init(|| {
            let node = require("node", "apt-get install nodejs npm (Node.js >= 20)");
            let npm = require("npm", "apt-get install npm");
            if !dir().join("node_modules/zwave-js/package.json").is_file() {
                // --ignore-scripts: the serial port native module is not
                // needed for tcp:// ports and would want a compiler.
                let (code, out, err) = ProcBuilder::new(npm)
                    .args(["ci", "--ignore-scripts", "--no-audit", "--no-fund"])
                    .current_dir(dir())
                    .label("npm-ci")
                    .run_to_end(NPM_TIMEOUT);
                assert_eq!(code, 0, "npm ci in {}: {out}{err}", dir().display());
            }
            node
        })
        .clone()
}

/// An emulated Z-Wave controller on a pty: what the agent shares.
pub struct ZwaveStick {
    link: PathBuf,
    _dir: TempDir,
    emulator: ChildGuard,
    replugs: Arc<AtomicU32>,
    stop: Arc<AtomicBool>,
    bridge: Option<JoinHandle<()>>,
}

/// The serial API's SoftReset request: SOF, length 3, request, function
/// 0x08, checksum.
const SOFT_RESET: [u8; 5] = [0x01, 0x03, 0x00, 0x08, 0xF4];
/// How long a 700/800-series USB stick is gone after a soft reset.
const REENUMERATION: Duration = Duration::from_secs(1);

impl ZwaveStick {
    /// Starts the emulator and bridges it to a new pty at [`path`](Self::path).
    /// With `reenumerate`, the stick behaves like a 700/800-series USB
    /// stick: a soft reset (which zwave-js sends to such controllers at
    /// every start) makes it vanish and come back as a new pty at the same
    /// path a second later, and what it says meanwhile is lost.
    pub fn start(reenumerate: bool) -> ZwaveStick {
        let port = free_port();
        let emulator = ProcBuilder::new(node())
            .arg(dir().join("emulator.cjs"))
            .arg(port.to_string())
            .current_dir(dir())
            .label("zwave-emulator")
            .spawn();
        emulator
            .wait_for_output("EMULATOR READY", Duration::from_secs(30))
            .unwrap_or_else(|e| panic!("{e}\n{}", emulator.failure("emulator start")));
        let tcp = connect_retry(([127, 0, 0, 1], port).into(), Duration::from_secs(10));
        let tmp = temp_dir();
        let link = tmp.path().join("ttyACM-zwave");
        let device = plug(&link);
        let stop = Arc::new(AtomicBool::new(false));
        let replugs = Arc::new(AtomicU32::new(0));
        let bridge = {
            let (link, stop, replugs) = (link.clone(), stop.clone(), replugs.clone());
            std::thread::spawn(move || {
                pump(tcp, device, &link, reenumerate.then_some(&*replugs), &stop)
            })
        };
        ZwaveStick {
            link,
            _dir: tmp,
            emulator,
            replugs,
            stop,
            bridge: Some(bridge),
        }
    }

    /// The stable path of the stick (a symlink, as under /dev/serial/by-id).
    pub fn path(&self) -> &Path {
        &self.link
    }

    /// How often it re-enumerated.
    pub fn replugs(&self) -> u32 {
        self.replugs.load(Ordering::Relaxed)
    }

    /// What the emulator printed (frames it skipped, connections).
    pub fn emulator_output(&self) -> String {
        self.emulator.output()
    }
}

impl Drop for ZwaveStick {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(b) = self.bridge.take() {
            let _ = b.join();
        }
    }
}

fn plug(link: &Path) -> ScriptedDevice {
    let mut device = ScriptedDevice::start();
    device.link(link).expect("link the emulated stick");
    device
}

/// Moves bytes between the pty and the emulator until `stop`. The TCP side
/// is polled with a short timeout so the pty side never waits on it. With
/// `replugs`, a soft reset unplugs the pty for [`REENUMERATION`] once the
/// controller has ACKed it (and the host has had a moment to read the
/// ACK), as a stick reboots after acknowledging the request.
fn pump(
    mut tcp: TcpStream,
    device: ScriptedDevice,
    link: &Path,
    replugs: Option<&AtomicU32>,
    stop: &AtomicBool,
) {
    const ACK: u8 = 0x06;
    let _ = tcp.set_nodelay(true);
    let _ = tcp.set_read_timeout(Some(Duration::from_millis(1)));
    let mut device = Some(device);
    let mut reset_asked = false;
    let mut unplug_at: Option<Instant> = None;
    let mut back_at: Option<Instant> = None;
    let mut recent: Vec<u8> = Vec::new();
    let mut buf = [0u8; 4096];
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        match &device {
            Some(d) if unplug_at.is_some_and(|t| now >= t) && d.pending() == 0 => {
                // Gone from the bus: the agent's reads fail with EIO, and
                // what the stick says while it boots is lost.
                device = None;
                unplug_at = None;
                back_at = Some(now + REENUMERATION);
                if let Some(n) = replugs {
                    n.fetch_add(1, Ordering::Relaxed);
                }
            }
            Some(d) => {
                let to_controller = d.read_available();
                if !to_controller.is_empty() {
                    if tcp.write_all(&to_controller).is_err() {
                        return;
                    }
                    recent.extend_from_slice(&to_controller);
                    reset_asked |= replugs.is_some()
                        && recent.windows(SOFT_RESET.len()).any(|w| w == SOFT_RESET);
                    recent.drain(..recent.len().saturating_sub(SOFT_RESET.len()));
                }
            }
            None if back_at.is_some_and(|t| now >= t) => {
                device = Some(plug(link));
                back_at = None;
            }
            None => {}
        }
        match tcp.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                if let Some(d) = &device {
                    d.write(&buf[..n]);
                    if reset_asked && buf[..n].contains(&ACK) {
                        reset_asked = false;
                        unplug_at = Some(Instant::now() + Duration::from_millis(50));
                    }
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return,
        }
    }
}

/// Starts a zwave-js driver on `port` (`tcp://127.0.0.1:PORT`, or a serial
/// device path such as a pty endpoint) that, once every node is
/// interviewed, switches node 2 `cycles` times (printing `CYCLE n OK` or
/// `CYCLE n FAIL ...`), then `CYCLES DONE`, and exits.
pub fn driver(port: &str, cycles: u32) -> ChildGuard {
    ProcBuilder::new(node())
        .arg(dir().join("driver.cjs"))
        .arg(port)
        .arg(cycles.to_string())
        .current_dir(dir())
        .label("zwave-js-driver")
        .spawn()
}
