//! Body of the `config_parser` cargo-fuzz target (`fuzz/`), kept here so a
//! plain `cargo test` replays the committed corpus through the same code.

use std::path::Path;

use crate::{check_name, parse_agent, parse_client, ConfigError, EndpointTarget};

const FILE: &str = "/etc/serialmesh/fuzz.toml";

/// Parses arbitrary text as an agent config and as a client config. Neither
/// may panic; every error must point into the file (a line and column that
/// exist in the text); whatever is accepted must hold the invariants the
/// rest of the code relies on.
///
/// # Panics
/// When one of those properties does not hold (that is the finding).
pub fn config_text(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let path = Path::new(FILE);
    match parse_agent(&text, path) {
        Ok(c) => {
            for stated in c.name.iter() {
                check_name("agent", &stated.value).expect("accepted agent name is valid");
            }
            for stated in c.zone.iter() {
                check_name("zone", &stated.value).expect("accepted zone is valid");
            }
            for (i, d) in c.devices.iter().enumerate() {
                check_name("device", &d.name).expect("accepted device name is valid");
                assert!(d.path.is_absolute(), "accepted relative path {:?}", d.path);
                assert!(d.settings.baud > 0, "accepted baud 0");
                assert!(
                    c.devices[..i].iter().all(|o| o.name != d.name),
                    "accepted duplicate device {}",
                    d.name
                );
            }
            let l = c.limits;
            assert!(l.max_pending >= 1 && l.max_pending <= l.max_connections);
            assert!(l.max_pending_per_source >= 1 && l.max_pending_per_source <= l.max_pending);
            assert!(l.max_connections_per_client >= 1);
            assert!(!l.handshake_timeout.is_zero() && !l.request_timeout.is_zero());
        }
        Err(e) => check_error(&e, &text),
    }
    match parse_client(&text, path) {
        Ok(c) => {
            for (i, e) in c.endpoints.iter().enumerate() {
                check_name("device", &e.device.device).expect("accepted device is valid");
                assert!(
                    c.endpoints[..i]
                        .iter()
                        .all(|o| !o.target.same_place(&e.target)),
                    "accepted two endpoints on one local address"
                );
                if let EndpointTarget::Pty { link: p, .. } = &e.target {
                    assert!(!p.as_os_str().is_empty(), "accepted an empty pty path");
                }
            }
        }
        Err(e) => check_error(&e, &text),
    }
}

fn check_error(e: &ConfigError, text: &str) {
    let shown = e.to_string();
    // `revoked_file` names another file, which the text may point anywhere.
    if let ConfigError::Revoked { .. } = e {
        assert!(shown.starts_with("cannot read revoked file "), "{shown}");
        return;
    }
    assert!(
        shown.starts_with(FILE),
        "error does not name the file: {shown}"
    );
    match e {
        ConfigError::At { line, column, .. } => {
            let lines: Vec<&str> = text.split('\n').collect();
            assert!(
                *line >= 1 && *line <= lines.len(),
                "line {line} is outside the {} lines of the text: {shown}",
                lines.len()
            );
            let width = lines[*line - 1].chars().count();
            assert!(
                *column >= 1 && *column <= width + 1,
                "column {column} is outside line {line} ({width} characters): {shown}"
            );
        }
        ConfigError::File { .. } | ConfigError::Revoked { .. } => {}
        ConfigError::Read { .. } => panic!("parsing text gave a read error: {shown}"),
    }
}
