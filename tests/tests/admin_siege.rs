//! The admin endpoints of `seriald` and `serialctl sidecar` answer their
//! liveness and readiness probes within the kubelet's default one-second
//! timeout while twice their connection cap of idle connections, and a
//! client dribbling an endless request head, are held against them; a
//! probe that went unanswered would get a healthy agent or sidecar
//! restarted.

use std::time::Duration;

use serialmesh_tests::http::{http_get, probe_rounds, AdminSiege, Probe};
use serialmesh_tests::net::free_port;
use serialmesh_tests::sidecar::Sidecar;
use serialmesh_tests::{eventually, AgentBuilder, EchoDevice, Pki};

const T: Duration = Duration::from_secs(20);
/// Twice the admin endpoint's connection cap.
const IDLE: usize = 64;
/// The kubelet's default probe `timeoutSeconds`.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

#[test]
fn agent_healthz_and_readyz_answer_within_a_second_while_64_idle_connections_and_a_dribbler_hold_its_admin_port(
) {
    let pki = Pki::new();
    let device = EchoDevice::start();
    let admin = free_port();
    let agent = AgentBuilder::new(&pki, "house")
        .top_level_toml(&format!("admin = \"127.0.0.1:{admin}\"\n"))
        .device("zwave", device.path())
        .start();
    assert!(eventually(T, || serialmesh_tests::net::is_listening(admin)
        == Some(true)));
    assert!(eventually(T, || http_get(admin, "/readyz").0 == 200));

    let probes = probes_under_siege(admin);
    assert_all_answered(&probes, &agent.failure("admin probe under siege"));
}

#[test]
fn sidecar_healthz_and_readyz_answer_within_a_second_while_64_idle_connections_and_a_dribbler_hold_its_admin_port(
) {
    let pki = Pki::new();
    let device = EchoDevice::start();
    let agent = AgentBuilder::new(&pki, "house")
        .device("zwave", device.path())
        .start();
    let (port, admin) = (free_port(), free_port());
    let config = format!(
        "admin = \"127.0.0.1:{admin}\"\n{}",
        Sidecar::config(
            &pki.client("gw"),
            &format!(
                "[[endpoint]]\ndevice = \"zwave@house\"\nagent = \"{}\"\ntcp = \"127.0.0.1:{port}\"\n",
                agent.addr
            )
        )
    );
    let sidecar = Sidecar::start(&config, 1);
    assert!(
        eventually(T, || http_get(admin, "/readyz").0 == 200),
        "{}",
        sidecar.guard.output()
    );

    let probes = probes_under_siege(admin);
    assert_all_answered(&probes, &sidecar.guard.failure("admin probe under siege"));
}

/// Seven seconds of probes, a round of both every 250 ms: past the admin
/// endpoint's 5 s deadline for a request head, so probes meet the siege
/// both fresh and reopened.
fn probes_under_siege(admin: u16) -> Vec<(&'static str, Probe)> {
    let siege = AdminSiege::start(admin, IDLE);
    let probes = probe_rounds(
        admin,
        &["/healthz", "/readyz"],
        Duration::from_secs(7),
        Duration::from_millis(250),
        PROBE_TIMEOUT,
    );
    let slowest = probes.iter().map(|(_, p)| p.took).max().unwrap_or_default();
    let unanswered = probes.iter().filter(|(_, p)| p.outcome.is_err()).count();
    eprintln!(
        "{} probes under siege, {unanswered} unanswered, slowest {slowest:?}; the server \
         closed {} siege connections",
        probes.len(),
        siege.reopened()
    );
    probes
}

fn assert_all_answered(probes: &[(&str, Probe)], context: &str) {
    for (path, p) in probes {
        assert!(
            matches!(&p.outcome, Ok((200, _))) && p.took < PROBE_TIMEOUT,
            "{path} under siege: {p:?}\n{context}"
        );
    }
}
