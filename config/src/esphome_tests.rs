use std::os::unix::fs::PermissionsExt;

use crate::parse_agent;

const KEY: &str = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWY=";

/// Parses `text` as `DIR/agent.toml`, with key files named in `keys`
/// written into DIR.
fn agent(text: &str, keys: &[(&str, &str)]) -> Result<crate::AgentConfig, String> {
    let dir = tempfile::tempdir().unwrap();
    for (name, content) in keys {
        let path = dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let path = dir.path().join("agent.toml");
    parse_agent(text, &path).map_err(|e| {
        e.to_string()
            .replace(&dir.path().display().to_string(), "DIR")
    })
}

const ONE: &str = r#"
[[esphome]]
device = "zwave"
listen = "0.0.0.0:6053"
[[esphome.client]]
name = "zwave-js-ui"
key_file = "zwave-js-ui.key"
"#;

#[test]
fn the_section_as_the_docs_write_it_parses_with_its_key() {
    let c = agent(ONE, &[("zwave-js-ui.key", &format!("{KEY}\n"))]).unwrap();
    let e = &c.esphome[0];
    assert_eq!(e.device, "zwave");
    assert_eq!(e.listen.to_string(), "0.0.0.0:6053");
    assert!(!e.advertise);
    assert_eq!(e.clients[0].name, "zwave-js-ui");
    assert_eq!(&e.clients[0].key, b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef");
    assert!(e.clients[0].key_file.ends_with("zwave-js-ui.key"));
    // Debug output never shows the key.
    assert!(!format!("{e:?}").contains("65, 66"), "{e:?}");
}

#[test]
fn listen_defaults_to_esphomes_port() {
    let text = ONE.replace("listen = \"0.0.0.0:6053\"\n", "");
    let c = agent(&text, &[("zwave-js-ui.key", KEY)]).unwrap();
    assert_eq!(c.esphome[0].listen.to_string(), "0.0.0.0:6053");
}

#[test]
fn a_key_file_that_is_not_base64_of_32_bytes_is_named_with_the_format() {
    let e = agent(ONE, &[("zwave-js-ui.key", "c2hvcnQ=")]).unwrap_err();
    assert!(
        e.starts_with("DIR/agent.toml:7:12: key file DIR/zwave-js-ui.key holds 5 bytes, not 32"),
        "{e}"
    );
    assert!(
        e.contains("hint: a key file holds base64 of 32 random bytes"),
        "{e}"
    );
    assert!(e.contains("head -c32 /dev/urandom | base64"), "{e}");
    let e = agent(ONE, &[("zwave-js-ui.key", "not base64!")]).unwrap_err();
    assert!(
        e.starts_with("DIR/agent.toml:7:12: key file DIR/zwave-js-ui.key is not base64"),
        "{e}"
    );
}

#[test]
fn a_missing_key_file_is_named() {
    let e = agent(ONE, &[]).unwrap_err();
    assert!(
        e.starts_with("DIR/agent.toml:7:12: cannot read key file DIR/zwave-js-ui.key:"),
        "{e}"
    );
}

#[test]
fn the_all_zero_key_is_refused() {
    let zero = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    let e = agent(ONE, &[("zwave-js-ui.key", zero)]).unwrap_err();
    assert!(e.contains("holds the all-zero key"), "{e}");
}

#[test]
fn an_endpoint_without_clients_is_refused() {
    let text = "[[esphome]]\ndevice = \"zwave\"\n";
    let e = agent(text, &[]).unwrap_err();
    assert!(
        e.starts_with(
            "DIR/agent.toml:1:1: [[esphome]] for device 'zwave' has no [[esphome.client]]"
        ),
        "{e}"
    );
}

#[test]
fn two_clients_with_one_key_are_refused() {
    let text = format!("{ONE}[[esphome.client]]\nname = \"ha\"\nkey_file = \"ha.key\"\n");
    let e = agent(&text, &[("zwave-js-ui.key", KEY), ("ha.key", KEY)]).unwrap_err();
    assert!(
        e.starts_with(
            "DIR/agent.toml:10:12: key file DIR/ha.key holds the same key as client 'zwave-js-ui'"
        ),
        "{e}"
    );
}

#[test]
fn a_client_name_used_twice_is_refused() {
    let text = format!("{ONE}[[esphome.client]]\nname = \"zwave-js-ui\"\nkey_file = \"b.key\"\n");
    let e = agent(&text, &[("zwave-js-ui.key", KEY)]).unwrap_err();
    assert!(
        e.starts_with("DIR/agent.toml:9:8: client name 'zwave-js-ui' is used twice"),
        "{e}"
    );
}

#[test]
fn two_endpoints_on_one_port_are_refused() {
    let text = format!("{ONE}{}", ONE.replace("zwave\"", "other\""));
    let e = agent(&text, &[("zwave-js-ui.key", KEY)]).unwrap_err();
    assert!(
        e.contains("listen 0.0.0.0:6053 is already the endpoint of device 'zwave'"),
        "{e}"
    );
}

#[test]
fn there_is_no_unencrypted_mode() {
    let text = ONE.replace("[[esphome.client]]", "plaintext = true\n[[esphome.client]]");
    let e = agent(&text, &[("zwave-js-ui.key", KEY)]).unwrap_err();
    assert!(e.contains("unknown field `plaintext`"), "{e}");
}

#[test]
fn a_bad_listen_address_names_esphomes_port() {
    let text = ONE.replace("0.0.0.0:6053", "6053");
    let e = agent(&text, &[("zwave-js-ui.key", KEY)]).unwrap_err();
    assert!(
        e.starts_with("DIR/agent.toml:4:10: '6053' is not a socket address"),
        "{e}"
    );
    assert!(e.contains("\"0.0.0.0:6053\" (ESPHome's port)"), "{e}");
}

#[test]
fn keys_parse_with_whitespace_around() {
    assert!(crate::parse_esphome_key(&format!("  {KEY}\n")).is_ok());
}

#[test]
fn a_key_file_readable_by_others_is_refused_with_the_chmod_fix() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("zwave-js-ui.key");
    std::fs::write(&key, KEY).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let e = parse_agent(ONE, &dir.path().join("agent.toml"))
        .unwrap_err()
        .to_string()
        .replace(&dir.path().display().to_string(), "DIR");
    assert!(
        e.starts_with("DIR/agent.toml:7:12: key file DIR/zwave-js-ui.key is readable by group or others (mode 0644); run `chmod 600 DIR/zwave-js-ui.key`"),
        "{e}"
    );
}
