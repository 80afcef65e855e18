use super::*;
use crate::EndpointTarget;
use std::path::Path;

fn agent(text: &str) -> Result<AgentConfig, String> {
    parse_agent(text, Path::new("/etc/serialmesh/agent.toml")).map_err(|e| e.to_string())
}

#[test]
fn empty_agent_config_uses_documented_defaults() {
    let c = agent("").unwrap();
    // Name and zone come from the agent's certificate.
    assert_eq!(c.name, None);
    assert_eq!(c.zone, None);
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
    let zone = c.zone.as_ref().expect("zone");
    assert_eq!(zone.value, "garden");
    // Where it is said, for the message if the certificate disagrees.
    assert!(
        zone.place.starts_with("/etc/serialmesh/agent.toml:"),
        "{}",
        zone.place
    );
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
    let e = AgentConfig::load(Path::new("/nonexistent/seriald.toml"))
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
        EndpointTarget::Pty {
            link: "/dev/ttyZIGBEE".into(),
            owner: None
        }
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
    let fp = format!("spki:{}", "ab".repeat(32));
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
    let crate::Grants::Rules(rules) = &a.grants else {
        panic!("{:?}", a.grants)
    };
    assert_eq!(rules.len(), 2);
    assert_eq!(rules[0].access, crate::Access::Open);
    let dev = |name: &str, place| crate::DevicePattern {
        name: name.into(),
        place,
    };
    assert_eq!(
        rules[0].devices,
        [
            dev("zwave", None),
            dev("*", Some(crate::Place::Zone("shed".into())))
        ]
    );
    assert_eq!(rules[1].access, crate::Access::List);
    assert_eq!(rules[1].places, [crate::Place::Zone("lab-?".into())]);
    assert_eq!(a.revoked[0].to_string(), fp);
    assert_eq!(
        a.revoked_file.as_deref(),
        Some(Path::new("/etc/serialmesh/revoked.txt"))
    );
    assert_eq!(agent("").unwrap().authz, crate::AuthzConfig::default());
}

/// Every kind of parser error gets a hint that says what to write instead.
#[test]
fn every_parser_error_kind_has_a_hint() {
    let cases = [
        (
            "name = 5\n",
            "1:8: invalid type: integer `5`, expected a string",
            "`name` takes text in double quotes",
        ),
        (
            "discovery = \"yes\"\n",
            "1:13: invalid type: string \"yes\"",
            "`discovery` takes true or false",
        ),
        (
            "seeds = \"a:1\"\n",
            "1:9: invalid type",
            "`seeds` takes a list in brackets",
        ),
        (
            "tls = 3\n",
            "1:7: invalid type",
            "`tls` is a table: write [tls]",
        ),
        (
            "[[device]]\nname = \"a\"\npath = \"/dev/x\"\nparity = \"evn\"\n",
            "4:10: unknown variant `evn`",
            "did you mean \"even\"?",
        ),
        (
            "[[device]]\nname = \"a\"\npath = \"/dev/x\"\nparity = \"mark\"\n",
            "4:10: unknown variant `mark`",
            "give `parity` one of the values listed",
        ),
        (
            "[[device]]\npath = \"/dev/x\"\n",
            "1:1: missing field `name`",
            "add `name = ...` to this table",
        ),
        (
            "name = shed\n",
            "1:8: invalid string; expected",
            "text values need double quotes, e.g. name = \"shed\"",
        ),
        (
            "[tls\n",
            "1:5: invalid table header",
            "write a table header as [name]",
        ),
        (
            "name = \"a\"\nname = \"b\"\n",
            "2:1: duplicate key `name`",
            "remove one of them",
        ),
        (
            "[limits]\nhandshake_timeout = \"5s\"\n",
            "2:21: invalid type: string \"5s\", expected f64",
            "a number of seconds without quotes, e.g. handshake_timeout = 5",
        ),
        (
            "[limits]\nmax_pending = 1.5\n",
            "2:15: invalid type: floating point `1.5`",
            "`max_pending` takes a whole number",
        ),
        (
            "[[device]]\nname = \"a\"\npath = \"/dev/x\"\nbaud = -5\n",
            "4:8: invalid value: integer `-5`",
            "`baud` takes a whole number of 0 or more",
        ),
        (
            "[[device]]\nname = \"a\"\npath = \"/dev/x\"\nflow_control = true\n",
            "4:16: wanted string or table",
            "`flow_control` takes one of its values in double quotes",
        ),
        (
            "[limits]\nfoo = 1\n",
            "2:1: unknown field `foo`",
            "remove it, or use one of the keys listed",
        ),
        ("name = \"a\"\nzone = [\n", "3:1:", "not valid TOML"),
    ];
    for (text, at, hint) in cases {
        let e = agent(text).unwrap_err();
        let (message, got_hint) = e.split_once("\n  hint: ").unwrap_or((&e, ""));
        assert!(message.starts_with("/etc/serialmesh/agent.toml:"), "{e}");
        assert!(message.contains(at), "want {at:?} in {e:?}");
        assert!(!message.contains('\n'), "message spans lines: {e:?}");
        assert!(
            got_hint.contains(hint),
            "want hint {hint:?} for {text:?}, got {e:?}"
        );
    }
}

#[test]
fn limits_table_parses_and_validates() {
    let c = agent("").unwrap();
    assert_eq!(c.limits, crate::LimitsConfig::default());
    assert_eq!(
        c.limits.handshake_timeout,
        std::time::Duration::from_secs(5)
    );
    assert_eq!(c.limits.max_pending, 64);
    assert_eq!(c.limits.max_pending_per_source, 16);
    let c = agent("[limits]\nhandshake_timeout = 2\nrequest_timeout = 0.25\nmax_connections = 10\nmax_connections_per_client = 3\n").unwrap();
    assert_eq!(
        c.limits.handshake_timeout,
        std::time::Duration::from_secs(2)
    );
    assert_eq!(
        c.limits.request_timeout,
        std::time::Duration::from_millis(250)
    );
    // An unset max_pending follows a lowered max_connections.
    assert_eq!(c.limits.max_pending, 10);
    // An unset max_pending_per_source is a quarter of max_pending, at least 1.
    assert_eq!(c.limits.max_pending_per_source, 2);
    assert_eq!(c.limits.max_connections_per_client, 3);
    let c = agent("[limits]\nmax_pending = 3\n").unwrap();
    assert_eq!(c.limits.max_pending_per_source, 1);
    let c = agent("[limits]\nmax_pending = 8\nmax_pending_per_source = 8\n").unwrap();
    assert_eq!(c.limits.max_pending_per_source, 8);
    for (text, want) in [
        ("[limits]\nmax_pending = 0\n", "2:15: max_pending 0 is out of range\n  hint: use a number between 1 and 65536, e.g. max_pending = 64"),
        ("[limits]\nmax_pending = 100\nmax_connections = 10\n", "2:15: max_pending 100 exceeds max_connections 10\n  hint: pending connections count toward max_connections"),
        ("[limits]\nmax_pending_per_source = 65\n", "2:26: max_pending_per_source 65 exceeds max_pending 64\n  hint: one address holds at most every pending place; lower max_pending_per_source or raise max_pending"),
        ("[limits]\nmax_pending_per_source = 0\n", "2:26: max_pending_per_source 0 is out of range\n  hint: use a number between 1 and 65536, e.g. max_pending_per_source = 16"),
        ("[limits]\nhandshake_timeout = 0\n", "2:21: handshake_timeout 0 is out of range\n  hint: give seconds between 0.001 and 3600, e.g. handshake_timeout = 5"),
        ("[limits]\nrequest_timeout = 86400\n", "2:19: request_timeout 86400 is out of range"),
        ("[limits]\nhandshake_timeout = nan\n", "handshake_timeout NaN is out of range"),
        ("[limits]\nmax_connections_per_client = 100000\n", "2:30: max_connections_per_client 100000 is out of range"),
        ("[limits]\nhandshake_timout = 5\n", "2:1: unknown field `handshake_timout`, expected one of `handshake_timeout`"),
    ] {
        let e = agent(text).unwrap_err();
        assert!(e.contains(want), "want {want:?} in {e:?}");
    }
}

#[test]
fn expect_serial_pins_an_endpoint_to_one_device_and_may_not_be_empty() {
    let c = parse_client(
        "[[endpoint]]\ndevice = \"zwave@shed\"\ntcp = \"127.0.0.1:5000\"\nexpect_serial = \"C0F007B8\"\n\
         [[endpoint]]\ndevice = \"zigbee@shed\"\ntcp = \"127.0.0.1:5001\"\n",
        Path::new("c.toml"),
    )
    .unwrap();
    assert_eq!(c.endpoints[0].expect_serial.as_deref(), Some("C0F007B8"));
    assert_eq!(
        c.endpoints[1].expect_serial, None,
        "any device unless pinned"
    );
    let e = parse_client(
        "[[endpoint]]\ndevice = \"zwave@shed\"\ntcp = \"127.0.0.1:5000\"\nexpect_serial = \" \"\n",
        Path::new("c.toml"),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.starts_with("c.toml:4:17: endpoint for 'zwave@shed': expect_serial is empty"),
        "{e}"
    );
    assert!(
        e.contains("as `serialctl ls` or `seriald devices` shows it"),
        "{e}"
    );
}
