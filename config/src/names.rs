//! Names of agents, zones and devices, and device addresses (`NAME@ZONE`).

/// Names appear in certificates, mDNS TXT records and addresses, so they are
/// kept to characters that are safe in all three.
pub fn check_name(what: &str, value: &str) -> Result<(), String> {
    if value.is_empty() || value.len() > 63 {
        return Err(format!("{what} '{value}' must be 1 to 63 characters long"));
    }
    if let Some(bad) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
    {
        return Err(format!(
            "{what} '{value}' contains '{bad}'; use letters, digits, '-' and '_' only"
        ));
    }
    Ok(())
}

/// Agents and seeds are given as `HOST:PORT` (a name or an address); the
/// port is required because guessing it hides typos until the first dial.
pub fn check_host_port(what: &str, value: &str) -> Result<(), String> {
    let hint = "write HOST:PORT, e.g. shed.lan:21317";
    let Some((host, port)) = value.rsplit_once(':') else {
        return Err(format!("{what} '{value}' has no port; {hint}"));
    };
    if host.is_empty() || host == "[]" {
        return Err(format!("{what} '{value}' has no host; {hint}"));
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(()),
        _ => Err(format!(
            "{what} '{value}' has an invalid port '{port}'; {hint}"
        )),
    }
}

/// A device address as users write it: `NAME`, `NAME@ZONE` or `NAME@AGENT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub device: String,
    pub place: Option<String>,
}

impl std::str::FromStr for Address {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (device, place) = match s.split_once('@') {
            Some((d, p)) => (d, Some(p)),
            None => (s, None),
        };
        check_name("device name", device)
            .map_err(|e| format!("bad address '{s}': {e} (expected NAME@ZONE, e.g. zwave@shed)"))?;
        if let Some(p) = place {
            check_name("zone or agent", p).map_err(|e| {
                format!("bad address '{s}': {e} (expected NAME@ZONE, e.g. zwave@shed)")
            })?;
        }
        Ok(Address {
            device: device.to_string(),
            place: place.map(str::to_string),
        })
    }
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.place {
            Some(p) => write!(f, "{}@{}", self.device, p),
            None => f.write_str(&self.device),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_needs_both_parts() {
        assert!(check_host_port("agent", "shed.lan:21317").is_ok());
        assert!(check_host_port("agent", "[::1]:21317").is_ok());
        assert_eq!(
            check_host_port("agent", "shed").unwrap_err(),
            "agent 'shed' has no port; write HOST:PORT, e.g. shed.lan:21317"
        );
        assert!(check_host_port("seed", "shed:0")
            .unwrap_err()
            .contains("invalid port '0'"));
        assert!(check_host_port("seed", ":80")
            .unwrap_err()
            .contains("has no host"));
    }

    #[test]
    fn addresses_parse_with_and_without_place() {
        let a: Address = "zwave@shed".parse().unwrap();
        assert_eq!(a.device, "zwave");
        assert_eq!(a.place.as_deref(), Some("shed"));
        let b: Address = "zigbee".parse().unwrap();
        assert_eq!(b.place, None);
        assert_eq!(a.to_string(), "zwave@shed");
    }

    #[test]
    fn bad_addresses_explain_the_form() {
        let e = "z wave@shed".parse::<Address>().unwrap_err();
        assert_eq!(
            e,
            "bad address 'z wave@shed': device name 'z wave' contains ' '; use letters, digits, '-' and '_' only (expected NAME@ZONE, e.g. zwave@shed)"
        );
        let e = "zwave@".parse::<Address>().unwrap_err();
        assert!(
            e.contains("zone or agent '' must be 1 to 63 characters long"),
            "{e}"
        );
    }
}
