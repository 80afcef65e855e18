use super::*;
use crate::EndpointTarget;
use std::path::Path;

fn agent(text: &str) -> Result<AgentConfig, String> {
    parse_agent(text, Path::new("/etc/serialmesh/agent.toml"), "thinbox").map_err(|e| e.to_string())
}

#[test]
fn empty_agent_config_uses_documented_defaults() {
    let c = agent("").unwrap();
    assert_eq!(c.name, "thinbox");
    assert_eq!(c.zone, "thinbox");
    assert_eq!(c.listen.to_string(), "0.0.0.0:21317");
    assert_eq!(c.tls.cert, Path::new("/etc/serialmesh/agent.pem"));
    assert!(c.devices.is_empty());
}

#[test]
fn full_agent_config_parses() {
    let c = agent(
        r#"
name = "shed"
zone = "garden"
listen = "127.0.0.1:4000"
[tls]
cert = "certs/shed.pem"
key = "/k/shed.key"
ca = "ca.pem"
[[device]]
name = "generator"
path = "/dev/ttyUSB0"
baud = 9600
parity = "even"
stop_bits = 2
data_bits = 7
flow_control = "hardware"
dtr = false
takeover = true
"#,
    )
    .unwrap();
    assert_eq!(c.zone, "garden");
    assert_eq!(c.tls.cert, Path::new("/etc/serialmesh/certs/shed.pem"));
    assert_eq!(c.tls.key, Path::new("/k/shed.key"));
    let d = &c.devices[0];
    assert_eq!(d.settings.to_string(), "9600 7E2 rts/cts");
    assert_eq!(d.settings.dtr, Some(false));
    assert!(d.takeover);
}

#[test]
fn unknown_key_names_place_and_nearest_key() {
    let e = agent("name = \"a\"\nlisen = \"0.0.0.0:1\"\n").unwrap_err();
    assert!(
        e.starts_with("/etc/serialmesh/agent.toml:2:1: unknown field `lisen`"),
        "{e}"
    );
    assert!(e.contains("hint: did you mean `listen`?"), "{e}");
}

#[test]
fn wrong_type_names_place() {
    let e =
        agent("[[device]]\nname = \"x\"\npath = \"/dev/ttyS0\"\nbaud = \"fast\"\n").unwrap_err();
    assert!(e.starts_with("/etc/serialmesh/agent.toml:4:8:"), "{e}");
    assert!(
        e.contains("invalid type: string \"fast\", expected u32"),
        "{e}"
    );
}

#[test]
fn bad_listen_address_has_hint() {
    let e = agent("listen = \"everywhere\"\n").unwrap_err();
    assert_eq!(
        e,
        "/etc/serialmesh/agent.toml:1:10: 'everywhere' is not a socket address\n  hint: write HOST:PORT, e.g. \"0.0.0.0:21317\""
    );
}

#[test]
fn duplicate_device_names_are_refused() {
    let e = agent(
        "[[device]]\nname = \"a\"\npath = \"/dev/ttyS0\"\n[[device]]\nname = \"a\"\npath = \"/dev/ttyS1\"\n",
    )
    .unwrap_err();
    assert!(
        e.starts_with("/etc/serialmesh/agent.toml:5:8: device name 'a' is used twice"),
        "{e}"
    );
}

#[test]
fn relative_device_path_is_refused() {
    let e = agent("[[device]]\nname = \"a\"\npath = \"ttyS0\"\n").unwrap_err();
    assert!(
        e.contains("3:8: device path 'ttyS0' is not absolute"),
        "{e}"
    );
}

#[test]
fn bad_names_and_bauds_are_refused() {
    assert!(agent("name = \"my shed\"\n")
        .unwrap_err()
        .contains("1:8: agent name 'my shed' contains ' '"));
    assert!(
        agent("[[device]]\nname = \"a\"\npath = \"/dev/x\"\nbaud = 0\n")
            .unwrap_err()
            .contains("4:8: baud 0 is out of range")
    );
    assert!(
        agent("[[device]]\nname = \"a\"\npath = \"/dev/x\"\ndata_bits = 9\n")
            .unwrap_err()
            .contains("data_bits must be 5, 6, 7 or 8, not 9")
    );
}

#[test]
fn toml_syntax_error_has_location() {
    let e = agent("name = \n").unwrap_err();
    assert!(e.starts_with("/etc/serialmesh/agent.toml:1:"), "{e}");
}

#[test]
fn missing_file_is_named() {
    let e = AgentConfig::load(Path::new("/nonexistent/seriald.toml"), "h")
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("cannot read config file /nonexistent/seriald.toml:"),
        "{e}"
    );
}

#[test]
fn client_config_endpoints() {
    let c = parse_client(
        r#"
seeds = ["shed.lan:21317"]
[tls]
cert = "gw.pem"
key = "gw.key"
ca = "ca.pem"
[[endpoint]]
device = "zwave@shed"
tcp = "127.0.0.1:5000"
[[endpoint]]
device = "zigbee@house"
pty = "/dev/ttyZIGBEE"
"#,
        Path::new("/cfg/client.toml"),
    )
    .unwrap();
    assert_eq!(c.endpoints.len(), 2);
    assert_eq!(c.endpoints[0].device.to_string(), "zwave@shed");
    assert_eq!(
        c.endpoints[1].target,
        EndpointTarget::Pty("/dev/ttyZIGBEE".into())
    );
    assert_eq!(c.tls.unwrap().key, Path::new("/cfg/gw.key"));
}

#[test]
fn rfc2217_is_a_tcp_endpoint_option() {
    let c = parse_client(
        "[[endpoint]]\ndevice = \"rs232@shed\"\ntcp = \"127.0.0.1:5000\"\nrfc2217 = true\n\
         [[endpoint]]\ndevice = \"zwave@shed\"\ntcp = \"127.0.0.1:5001\"\n",
        Path::new("c.toml"),
    )
    .unwrap();
    assert!(c.endpoints[0].rfc2217);
    assert!(!c.endpoints[1].rfc2217, "off unless asked for");
    let e = parse_client(
        "[[endpoint]]\ndevice = \"zwave@shed\"\npty = \"/dev/ttyZ\"\nrfc2217 = true\n",
        Path::new("c.toml"),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.starts_with("c.toml:4:11: endpoint for 'zwave@shed': rfc2217 needs a tcp endpoint"),
        "{e}"
    );
    let e = parse_client(
        "[[endpoint]]\ndevice = \"zwave@shed\"\ntcp = \"127.0.0.1:5000\"\nrfc2217 = \"yes\"\n",
        Path::new("c.toml"),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("c.toml:4:11"), "{e}");
}

#[test]
fn client_endpoint_needs_exactly_one_target() {
    let e = parse_client(
        "[[endpoint]]\ndevice = \"zwave@shed\"\n",
        Path::new("c.toml"),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.starts_with("c.toml:2:10: endpoint for 'zwave@shed' needs exactly one of tcp or pty"),
        "{e}"
    );
    let e = parse_client("seeds = [\"shed\"]\n", Path::new("c.toml"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("seed 'shed' has no port; write HOST:PORT"),
        "{e}"
    );
}

#[test]
fn other_tools_spellings_get_a_hint() {
    let e = agent("[[device]]\nname = \"a\"\npath = \"/dev/x\"\nbaudrate = 9600\n").unwrap_err();
    assert!(e.contains("hint: did you mean `baud`?"), "{e}");
    let e = agent("[[device]]\nname = \"a\"\npath = \"/dev/x\"\nstopbits = 2\n").unwrap_err();
    assert!(e.contains("hint: did you mean `stop_bits`?"), "{e}");
}

#[test]
fn allow_rules_and_revocations_parse_with_defaults() {
    let fp = "ab".repeat(32);
    let c = agent(&format!(
        r#"
revoked = ["{fp}"]
revoked_file = "revoked.txt"
[[allow]]
clients = ["gw-*"]
devices = ["zwave", "*@shed"]
[[allow]]
clients = ["*"]
zones = ["lab-?"]
access = "list"
"#
    ))
    .unwrap();
    let a = &c.authz;
    assert_eq!(a.rules.len(), 2);
    assert_eq!(a.rules[0].access, crate::Access::Open);
    assert_eq!(a.rules[0].devices, ["zwave", "*@shed"]);
    assert_eq!(a.rules[1].access, crate::Access::List);
    assert_eq!(a.rules[1].zones, ["lab-?"]);
    assert_eq!(a.revoked[0].to_string(), fp);
    assert_eq!(
        a.revoked_file.as_deref(),
        Some(Path::new("/etc/serialmesh/revoked.txt"))
    );
    assert_eq!(agent("").unwrap().authz, crate::AuthzConfig::default());
}
