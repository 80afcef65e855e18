//! Test support for serialmesh's end-to-end tests.
//!
//! The tests in `tests/tests/*.rs` drive the real `seriald` and `serialctl`
//! binaries as processes, against fake serial devices on pseudo-terminals,
//! with certificates made by the real `serialctl pki`. This library holds
//! everything those tests share, so each test reads as a specification:
//!
//! ```no_run
//! use std::io::Write;
//! use std::time::Duration;
//! use serialmesh_tests::{AgentBuilder, ConnectBuilder, EchoDevice, Pki};
//!
//! let pki = Pki::new();
//! let device = EchoDevice::start();
//! let agent = AgentBuilder::new(&pki, "shed").device("zwave", device.path()).start();
//! let client = ConnectBuilder::new("zwave@shed", agent.addr, &pki.client("laptop")).start();
//! let mut stream = client.connect();
//! stream.write_all(b"ping").unwrap();
//! let echoed = serialmesh_tests::net::read_exact_within(&mut stream, 4, Duration::from_secs(5));
//! assert_eq!(echoed, b"ping");
//! ```
//!
//! Every helper that starts a process kills it by PID when dropped, so a
//! failing (panicking) test leaves nothing behind; children also get
//! `PR_SET_PDEATHSIG` so they die with the test executable if it is killed.
//! Nothing here runs cargo: build the binaries first
//! (`cargo build --workspace --bins`, as `scripts/test.sh` does).

pub mod agent;
pub mod bins;
pub mod client;
pub mod esphome;
pub mod exported;
pub mod faults;
pub mod flood;
pub mod forge;
pub mod http;
pub mod kubelet;
pub mod manifests;
pub mod mdns_flood;
pub mod mesh;
pub mod net;
pub mod netns;
pub mod pki;
pub mod proc;
pub mod pty;
pub mod rogue;
pub mod scrape;
pub mod sidecar;
pub mod sysfs;
pub mod tools;
pub mod users;
pub mod util;
pub mod zwave;

pub use agent::{AgentBuilder, RunningAgent};
pub use client::{ConnectBuilder, RunningConnect};
pub use pki::{Pki, Role, TlsPaths};
pub use proc::{run_to_end, ChildGuard, ProcBuilder};
pub use pty::{EchoDevice, ScriptedDevice, Tty};
pub use util::{eventually, random_bytes, TempDir};
