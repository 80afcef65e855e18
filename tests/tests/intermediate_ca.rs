//! Certificates made the way other CA tools make them, with an
//! intermediate CA between the pinned CA and the leaf (cert-manager with a
//! CA Issuer under a root, step-ca, Vault): the peer sends the
//! intermediate in its chain, the other side pins only the root. Made with
//! the openssl command line, nobody's code here.

use std::time::Duration;

use serialmesh_tests::forge::{issued_by_openssl, issued_by_openssl_under};
use std::io::Write;

use serialmesh_tests::net::echo_ok;
use serialmesh_tests::util::temp_dir;
use serialmesh_tests::{AgentBuilder, ConnectBuilder, EchoDevice, Pki};

const T: Duration = Duration::from_secs(20);

const INTERMEDIATE: &str = "basicConstraints = critical,CA:TRUE,pathlen:0\n\
                            keyUsage = critical,keyCertSign,cRLSign\n";

fn leaf(role: &str, name: &str, zone: Option<&str>) -> String {
    let usage = if role == "agent" {
        "serverAuth"
    } else {
        "clientAuth"
    };
    let zone = zone.map_or(String::new(), |z| format!(",URI:urn:serialmesh:zone:{z}"));
    format!(
        "keyUsage = critical,digitalSignature\nextendedKeyUsage = {usage}\n\
         subjectAltName = URI:urn:serialmesh:role:{role},URI:urn:serialmesh:name:{name}{zone}\n"
    )
}

#[test]
fn certificates_issued_by_an_intermediate_ca_are_accepted_both_ways_against_the_root() {
    let pki = Pki::new();
    let dir = temp_dir();
    let intermediate = issued_by_openssl(&pki, dir.path(), "issuer", INTERMEDIATE);
    let agent_tls = issued_by_openssl_under(
        &intermediate,
        dir.path(),
        "shed",
        &leaf("agent", "shed", Some("garden")),
    );
    let gw = issued_by_openssl_under(&intermediate, dir.path(), "gw", &leaf("client", "gw", None));
    let device = EchoDevice::start();
    let agent = AgentBuilder::new(&pki, "shed")
        .zone("garden")
        .tls(agent_tls)
        .device("zwave", device.path())
        .start();
    // The agent's chain reaches a client of `serialctl pki` (root only),
    // and the client's chain reaches the agent.
    let plain = ConnectBuilder::new("zwave@shed", agent.addr, &pki.client("laptop")).start();
    echo_ok(&mut plain.connect(), b"agent via the intermediate");
    drop(plain);
    let client = ConnectBuilder::new("zwave@shed", agent.addr, &gw).start();
    echo_ok(&mut client.connect(), b"both via the intermediate");
}

#[test]
fn revoking_the_intermediates_key_refuses_every_certificate_it_issued() {
    let pki = Pki::new();
    let dir = temp_dir();
    let intermediate = issued_by_openssl(&pki, dir.path(), "issuer", INTERMEDIATE);
    let gw = issued_by_openssl_under(&intermediate, dir.path(), "gw", &leaf("client", "gw", None));
    let issuer_key = Pki::fingerprint(&intermediate.cert);
    let device = EchoDevice::start();
    let agent = AgentBuilder::new(&pki, "shed")
        .top_level_toml(&format!("revoked = [\"{issuer_key}\"]"))
        .device("zwave", device.path())
        .start();
    let client = ConnectBuilder::new("zwave@shed", agent.addr, &gw).start();
    let mut app = client.connect();
    let line = agent
        .wait_for_output("refused client certificate", T)
        .unwrap();
    assert!(
        line.contains(&format!(
            "an intermediate CA in its chain (fingerprint {issuer_key}) is on the deny-list"
        )),
        "{line}"
    );
    app.write_all(b"let me in").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        device.bytes_read(),
        0,
        "a revoked intermediate's client reached the device"
    );
    // A certificate of the root, not of that intermediate, is served.
    let laptop = ConnectBuilder::new("zwave@shed", agent.addr, &pki.client("laptop")).start();
    echo_ok(&mut laptop.connect(), b"root still trusted");
}
