//! What the TLS layer offers a peer nobody has verified yet, checked with
//! software nobody here wrote (openssl's s_client, Python's
//! `cryptography`): only TLS 1.3, and nothing a certificate says reaches a
//! log line unescaped.

use std::time::Duration;

use serialmesh_tests::forge::{forged_subject, openssl_handshake};
use serialmesh_tests::util::temp_dir;
use serialmesh_tests::{AgentBuilder, EchoDevice, Pki, RunningAgent, TlsPaths};

const T: Duration = Duration::from_secs(20);

fn agent(pki: &Pki) -> (RunningAgent, EchoDevice) {
    let device = EchoDevice::start();
    let agent = AgentBuilder::new(pki, "shed")
        .device("zwave", device.path())
        .start();
    (agent, device)
}

#[test]
fn a_client_that_offers_only_tls_1_2_is_refused_at_the_handshake() {
    let pki = Pki::new();
    let (agent, _device) = agent(&pki);
    let gw = pki.client("gw");

    let (code, out) = openssl_handshake(agent.addr, &gw, "1.2");
    assert_ne!(code, 0, "a TLS 1.2 handshake succeeded:\n{out}");
    assert!(
        out.contains("protocol version") || out.contains("alert number 70"),
        "no protocol version alert:\n{out}"
    );

    // The same client, offering TLS 1.3, is served.
    let (code, out) = openssl_handshake(agent.addr, &gw, "1.3");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("TLSv1.3"), "{out}");
    assert!(out.contains("ALPN protocol: serialmesh/1"), "{out}");
}

#[test]
fn a_newline_in_a_refused_certificate_cannot_forge_an_agent_log_line() {
    let pki = Pki::new();
    let (agent, device) = agent(&pki);
    let dir = temp_dir();
    // A CN holds at most 64 characters.
    let forged_line = "2026-12-06T00:00:00.0Z  INFO accepted client gw";
    // Mallory checks the agent against our CA, so it is the agent that
    // refuses.
    let mallory = TlsPaths {
        ca: pki.ca_cert(),
        ..forged_subject(dir.path(), forged_line)
    };

    // In TLS 1.3 the agent's refusal may come after s_client considers
    // the handshake done, so its exit status says nothing here.
    let _ = openssl_handshake(agent.addr, &mallory, "1.3");
    let refused = agent
        .wait_for_output("refused client certificate", T)
        .unwrap();
    assert!(
        refused.contains("CN=mallory\\n2026-12-06T00:00:00.0Z  INFO accepted"),
        "the subject is not logged escaped: {refused}"
    );
    let log = agent.output();
    assert!(
        !log.lines().any(|l| l.starts_with("2026-12-06T00:00:00.0Z")),
        "a forged line stands in the log:\n{log}"
    );
    assert_eq!(device.bytes_read(), 0);
}
