//! Real gateway software through the tunnel: zwave-js (the library inside
//! zwave-js-ui) against an emulated Z-Wave controller on a pty.
//!
//! The controller is zwave-js's own mock controller with two mock switch
//! nodes (`tests/zwave-js/emulator.cjs`), reached over loopback TCP. A
//! [`ZwaveStick`] bridges it to a pty that the agent shares like a USB
//! stick; the pty outlives agent restarts, as a plugged-in stick does. The
//! driver (`tests/zwave-js/driver.cjs`) connects to the client endpoint as
//! `tcp://127.0.0.1:PORT`, exactly as zwave-js-ui is configured.
//!
//! Node.js >= 20 and npm must be on PATH; the pinned packages
//! (`tests/zwave-js/package-lock.json`) are installed by the first test
//! that needs them.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::net::{connect_retry, free_port};
use crate::proc::{ChildGuard, ProcBuilder};
use crate::tools::{repo_root, require};
use crate::ScriptedDevice;

const NPM_TIMEOUT: Duration = Duration::from_secs(300);

fn dir() -> PathBuf {
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
    pub device: Arc<ScriptedDevice>,
    emulator: ChildGuard,
    stop: Arc<AtomicBool>,
    bridge: Option<JoinHandle<()>>,
}

impl ZwaveStick {
    /// Starts the emulator and bridges it to a new pty.
    pub fn start() -> ZwaveStick {
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
        let device = Arc::new(ScriptedDevice::start());
        let stop = Arc::new(AtomicBool::new(false));
        let bridge = {
            let (device, stop) = (device.clone(), stop.clone());
            std::thread::spawn(move || pump(tcp, &device, &stop))
        };
        ZwaveStick {
            device,
            emulator,
            stop,
            bridge: Some(bridge),
        }
    }

    pub fn path(&self) -> &Path {
        self.device.path()
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

/// Moves bytes between the pty and the emulator until `stop`. The TCP side
/// is polled with a short timeout so the pty side never waits on it.
fn pump(mut tcp: TcpStream, device: &ScriptedDevice, stop: &AtomicBool) {
    let _ = tcp.set_nodelay(true);
    let _ = tcp.set_read_timeout(Some(Duration::from_millis(1)));
    let mut buf = [0u8; 4096];
    while !stop.load(Ordering::Relaxed) {
        let to_controller = device.read_available();
        if !to_controller.is_empty() && tcp.write_all(&to_controller).is_err() {
            return;
        }
        match tcp.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => device.write(&buf[..n]),
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
