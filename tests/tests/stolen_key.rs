//! Revocation and pinning name a key, not one encoding of a certificate
//! (docs/authorization.md, "What a fingerprint names").
//!
//! A thief holding a client's key and certificate can make a second valid
//! certificate without the CA: ECDSA signatures are malleable, so the CA's
//! `(r, s)` replaced by `(r, n - s)` verifies too, in a certificate whose
//! DER (and so its SHA-256) differs. A CA tool can also re-issue a
//! certificate for the same key. Either must stay out once the key is
//! revoked, at the agent and at the client. The twin is made by Python's
//! `cryptography`, the re-issue by the openssl command line.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serialmesh_tests::forge::{ecdsa_twin, openssl_key_fingerprint, reissued_by_openssl};
use serialmesh_tests::net::echo_ok;
use serialmesh_tests::{bins, AgentBuilder, ConnectBuilder, EchoDevice, Pki, ProcBuilder, Role};

const T: Duration = Duration::from_secs(20);

/// Nothing comes back on `stream`: the session behind it is refused.
fn no_echo(stream: &mut TcpStream) {
    stream
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let _ = stream.write_all(b"x");
    let mut b = [0u8; 8];
    assert!(
        !matches!(stream.read(&mut b), Ok(n) if n > 0),
        "bytes came back through a revoked key"
    );
}

#[test]
fn pki_show_prints_the_key_fingerprint_that_openssl_computes_and_twins_share_it() {
    let pki = Pki::new();
    let gw = pki.client("gw");
    let fp = Pki::fingerprint(&gw.cert);
    assert_eq!(fp, openssl_key_fingerprint(&gw.cert));
    let twin = ecdsa_twin(&gw);
    assert_ne!(
        std::fs::read(&twin.cert).unwrap(),
        std::fs::read(&gw.cert).unwrap()
    );
    assert_eq!(Pki::fingerprint(&twin.cert), fp);
}

#[test]
fn the_ecdsa_twin_of_a_revoked_client_certificate_is_refused_by_the_agent() {
    let pki = Pki::new();
    let device = EchoDevice::start();
    std::fs::write(pki.revoked_file(), "").unwrap();
    let agent = AgentBuilder::new(&pki, "sk-twin")
        .top_level_toml(&format!("revoked_file = {:?}", pki.revoked_file()))
        .device("zwave", device.path())
        .start();
    let gw = pki.client("gw");
    let twin = ecdsa_twin(&gw);
    // The twin is a valid certificate: before the revocation it opens.
    let thief = ConnectBuilder::new("zwave@sk-twin", agent.addr, &twin).start();
    let mut app = thief.connect();
    echo_ok(&mut app, b"twin works");

    pki.revoke(&gw.cert);
    thief.wait_for_output("has been revoked", T).unwrap();
    let mark = agent.mark();
    let mut again = thief.connect();
    agent
        .wait_for_output_after(mark, "its fingerprint is on the deny-list", T)
        .unwrap();
    no_echo(&mut again);
}

#[test]
fn a_certificate_reissued_by_openssl_for_a_revoked_key_is_refused_by_the_agent() {
    let pki = Pki::new();
    let device = EchoDevice::start();
    let gw = pki.client("gw");
    pki.revoke(&gw.cert);
    let agent = AgentBuilder::new(&pki, "sk-reissue")
        .top_level_toml(&format!("revoked_file = {:?}", pki.revoked_file()))
        .device("zwave", device.path())
        .start();
    let reissued = reissued_by_openssl(&pki, &gw, Role::Client, "gw-new");
    // Another name, serial and issuer tool: only the key is the same.
    let client = ConnectBuilder::new("zwave@sk-reissue", agent.addr, &reissued).start();
    let mut app = client.connect();
    agent
        .wait_for_output("its fingerprint is on the deny-list", T)
        .unwrap();
    no_echo(&mut app);
    // A fresh key for the same name is not refused.
    let fresh = pki.client("gw-fresh");
    let ok = ConnectBuilder::new("zwave@sk-reissue", agent.addr, &fresh).start();
    echo_ok(&mut ok.connect(), b"fresh key");
}

#[test]
fn the_ecdsa_twin_of_a_revoked_agent_certificate_is_refused_by_the_client() {
    let pki = Pki::new();
    let device = EchoDevice::start();
    let issued = pki.agent("sk-agent", "sk-agent");
    pki.revoke(&issued.cert);
    // The stolen agent key, serving under its twin certificate.
    let agent = AgentBuilder::new(&pki, "sk-agent")
        .zone("sk-agent")
        .tls(ecdsa_twin(&issued))
        .device("zwave", device.path())
        .start();
    let client = ConnectBuilder::new("zwave@sk-agent", agent.addr, &pki.client("gw"))
        .arg("--revoked-file")
        .arg(pki.revoked_file())
        .start();
    let mut app = client.connect();
    client
        .wait_for_output("its fingerprint is on the deny-list", T)
        .unwrap();
    no_echo(&mut app);
}

#[test]
fn a_pin_names_the_key_so_the_agents_twin_certificate_still_matches_it() {
    let pki = Pki::new();
    let device = EchoDevice::start();
    let issued = pki.agent("sk-pin", "sk-pin");
    let fp = Pki::fingerprint(&issued.cert);
    let agent = AgentBuilder::new(&pki, "sk-pin")
        .zone("sk-pin")
        .tls(ecdsa_twin(&issued))
        .device("zwave", device.path())
        .start();
    let client = ConnectBuilder::new("zwave@sk-pin", agent.addr, &pki.client("gw"))
        .arg("--agent-fingerprint")
        .arg(&fp)
        .start();
    echo_ok(&mut client.connect(), b"pinned by key");
}

#[test]
fn a_revoked_file_from_before_key_fingerprints_stops_the_agent_with_how_to_convert() {
    let pki = Pki::new();
    let old = "ab".repeat(32);
    std::fs::write(
        pki.revoked_file(),
        format!("# old list\n{old}  # client 'gw'\n"),
    )
    .unwrap();
    let agent = AgentBuilder::new(&pki, "sk-legacy")
        .top_level_toml(&format!("revoked_file = {:?}", pki.revoked_file()))
        .spawn();
    let status = agent.wait_exit(T).expect("the agent must stop");
    assert_eq!(status.code(), Some(2), "{}", agent.output());
    let err = agent.stderr();
    assert!(
        err.contains(&format!(
            "{}:2:1: fingerprint \"{old}\" names a whole certificate",
            pki.revoked_file().display()
        )),
        "{err}"
    );
    assert!(
        err.contains("`serialctl pki revoke CERT.pem` adds it"),
        "{err}"
    );
}

#[test]
fn pki_revoke_with_a_certificate_fingerprint_is_a_usage_error_that_says_how_to_convert() {
    let pki = Pki::new();
    let (code, out, err) = ProcBuilder::new(bins::serialctl())
        .args(["pki", "revoke", "--file"])
        .arg(pki.revoked_file())
        .arg("--fingerprint")
        .arg("cd".repeat(32))
        .label("serialctl-pki-revoke")
        .run_to_end(T);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("names a whole certificate"), "{err}");
    assert!(err.contains("serialctl pki show CERT.pem"), "{err}");
    assert!(!pki.revoked_file().exists(), "nothing may be written");
}
