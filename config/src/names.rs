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
