//! Every metric name the real binaries export, for tests that check what
//! alert rules and dashboards query: an agent with a device in use and a
//! configured device that is missing, and a sidecar with one endpoint on
//! each, scraped once every family has appeared.
//!
//! Some families appear only once something happened (the first refusal,
//! the first device error, the first failed dial), so the rig makes each
//! happen rather than list names by hand.

use std::collections::BTreeSet;
use std::net::TcpStream;
use std::time::Duration;

use crate::net::{connect_retry, echo_ok, free_port};
use crate::scrape::Scrape;
use crate::sidecar::Sidecar;
use crate::util::{eventually, temp_dir};
use crate::{AgentBuilder, EchoDevice, Pki};

const T: Duration = Duration::from_secs(30);

/// Families that only appear after an event, and the event the rig causes.
const AFTER_EVENTS: &[&str] = &[
    "serialmesh_agent_refusals_total", // the missing device, refused
    "serialmesh_agent_device_errors_total", // its open failing
    "serialmesh_agent_last_error",
    "serialmesh_agent_session_setup_seconds", // the session on `zwave`
    "serialmesh_endpoint_errors_total",       // the sidecar refused `gone`
    "serialmesh_endpoint_last_error",
];

/// The names (families, and a histogram's `_bucket`, `_sum`, `_count`)
/// in scrapes of a real `seriald` and a real `serialctl sidecar`.
///
/// # Panics
/// If a family that should appear after the rig's events does not, within
/// 30 s.
pub fn exported_by_real_binaries() -> BTreeSet<String> {
    let pki = Pki::new();
    let device = EchoDevice::start();
    let missing = temp_dir();
    let agent_admin = free_port();
    let agent = AgentBuilder::new(&pki, "house")
        .top_level_toml(&format!("admin = \"127.0.0.1:{agent_admin}\"\n"))
        .device("zwave", device.path())
        .device("gone", missing.path().join("ttyUSB-unplugged"))
        .start();
    let (sidecar_admin, zwave, gone) = (free_port(), free_port(), free_port());
    let endpoint = |device: &str, port: u16| {
        format!(
            "[[endpoint]]\ndevice = \"{device}@house\"\nagent = \"{}\"\ntcp = \"127.0.0.1:{port}\"\n",
            agent.addr
        )
    };
    let _sidecar = Sidecar::start(
        &format!(
            "admin = \"127.0.0.1:{sidecar_admin}\"\n{}{}{}",
            Sidecar::config(&pki.client("gw"), ""),
            endpoint("zwave", zwave),
            endpoint("gone", gone)
        ),
        2,
    );
    let mut app = connect_retry(([127, 0, 0, 1], zwave).into(), T);
    echo_ok(&mut app, b"metrics");
    let _waiting = connect_retry(([127, 0, 0, 1], gone).into(), T);
    let admin_up = |port| eventually(T, || TcpStream::connect(("127.0.0.1", port)).is_ok());
    assert!(admin_up(agent_admin) && admin_up(sidecar_admin));

    let mut names = BTreeSet::new();
    let complete = || {
        names = Scrape::of(agent_admin).names();
        names.extend(Scrape::of(sidecar_admin).names());
        AFTER_EVENTS.iter().all(|n| names.contains(*n))
    };
    let done = eventually(T, complete);
    let missing: Vec<_> = AFTER_EVENTS
        .iter()
        .filter(|n| !names.contains(**n))
        .collect();
    assert!(done, "never exported: {missing:?}");
    names
}
