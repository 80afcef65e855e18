//! zwave-js's own discovery finds the agent's ESPHome endpoint: with
//! `advertise = true` the agent announces `_zwave._tcp` with TXT
//! `protocol=esphome`, which zwave-js lists as an `esphome://` port. On a
//! private LAN of network namespaces (`serialmesh_tests::netns`): mDNS is
//! off for loopback listeners.

use std::time::Duration;

use serialmesh_tests::esphome::EsphomeKey;
use serialmesh_tests::mesh::PORT;
use serialmesh_tests::netns::{wait_listening_in, Lan};
use serialmesh_tests::util::temp_dir;
use serialmesh_tests::zwave::{dir as zwave_dir, node};
use serialmesh_tests::{bins, EchoDevice, Pki, Role};

const T: Duration = Duration::from_secs(30);

#[test]
fn zwave_js_discovery_lists_the_agents_esphome_endpoint_when_advertised() {
    let node = node();
    let pki = Pki::new();
    let lan = Lan::new(2);
    let device = EchoDevice::start();
    let keys = temp_dir();
    let ui = EsphomeKey::new(keys.path(), "zwave-js-ui");
    let tls = pki.issue(Role::Agent, "esp-attic", None, None);
    let config = keys.path().join("seriald.toml");
    std::fs::write(
        &config,
        format!(
            "name = \"esp-attic\"\nlisten = \"0.0.0.0:{PORT}\"\n\
             [tls]\ncert = {:?}\nkey = {:?}\nca = {:?}\n\
             [[device]]\nname = \"zwave\"\npath = {:?}\n\
             [[esphome]]\ndevice = \"zwave\"\nlisten = \"0.0.0.0:6053\"\nadvertise = true\n\
             [[esphome.client]]\nname = \"zwave-js-ui\"\nkey_file = {:?}\n",
            tls.cert,
            tls.key,
            tls.ca,
            device.path(),
            ui.path
        ),
    )
    .unwrap();
    let agent = lan
        .command(0, bins::seriald())
        .arg("--config")
        .arg(&config)
        .label("seriald-esp-attic")
        .spawn();
    wait_listening_in(&agent, 6053, T).unwrap_or_else(|e| panic!("{e}\n{}", agent.output()));
    agent
        .wait_for_output("ESPHome endpoint advertised on mDNS", T)
        .unwrap_or_else(|e| panic!("{e}\n{}", agent.output()));

    let discover = lan
        .command(1, &node)
        .arg(zwave_dir().join("discover.cjs"))
        .current_dir(zwave_dir())
        .label("zwave-js-discover")
        .spawn();
    discover
        .wait_for_output("DISCOVERY DONE", Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("{e}\n{}\n{}", discover.output(), agent.output()));
    let out = discover.output();
    assert!(
        out.contains("PORT esphome://esp-attic-zwave-zwave.local:6053"),
        "{out}\n{}",
        agent.output()
    );
}
