//! Fault injection against the reliability contract (docs/design.md "Sessions
//! and reliability"): real `seriald` and `serialctl` in network namespaces,
//! sequence-numbered traffic both ways, and faults (kills, cuts, loss,
//! delay, unplug, clock jumps, a read-only config directory) with their
//! recovery times and losses measured.

pub mod delay;
pub mod measure;
pub mod pattern;
pub mod report;
pub mod resources;
pub mod rig;
pub mod traffic;

pub use measure::{run_fault, Injected, Loss, Outcome};
pub use pattern::{Checker, Gap, Pattern};
pub use rig::{Options, Rig, AGENT, CLIENT};
pub use traffic::{Pace, Traffic};

/// Long mode: `SERIALMESH_SOAK=1` (or `SERIALMESH_SOAK_MINUTES=N`) runs the
/// slow faults and the soak too.
pub fn long_mode() -> bool {
    std::env::var_os("SERIALMESH_SOAK").is_some_and(|v| v != "0")
        || std::env::var_os("SERIALMESH_SOAK_MINUTES").is_some()
}

/// A rig with traffic at `pace` (see [`start_traffic`]).
pub fn start(opts: Options, pace: Pace) -> (Rig, Traffic) {
    let mut device = crate::pty::ScriptedDevice::start();
    let rig = Rig::start(&mut device, opts);
    let traffic = start_traffic(&rig, device, pace);
    (rig, traffic)
}

/// Traffic at `pace`, started once the tunnel is up: what either side
/// sends before is dropped (and counted), as during a fault, and would
/// read as loss at startup.
///
/// # Panics
/// If the tunnel does not come up within 20 s.
pub fn start_traffic(rig: &Rig, device: crate::pty::ScriptedDevice, pace: Pace) -> Traffic {
    let traffic = Traffic::start(device, rig.connector(), Pace::Baud(0));
    let up = crate::util::eventually(std::time::Duration::from_secs(20), || {
        let m = rig.client_metrics().unwrap_or_default();
        rig::metric(&m, "serialmesh_endpoint_tunnel_up", &[]) == 1
    });
    assert!(up, "{}", rig.client.failure("tunnel never came up"));
    traffic.set_pace(pace);
    traffic
}
