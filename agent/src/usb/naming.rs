//! Share names: unique per agent, and stable for the same devices.
//!
//! A name, once given to an identity, stays with it for the life of the
//! process, even while the device is unplugged: a replugged stick gets its
//! old name back, and a client bound to `zwave@shed` follows it. Across
//! restarts names are stable because [`super::scan`] hands out first names
//! in identity order, so the same set of devices gets the same names.

use std::collections::{BTreeMap, BTreeSet};

/// Longest name `check_name` accepts.
const MAX_NAME: usize = 63;

#[derive(Debug, Default)]
pub struct Namer {
    by_identity: BTreeMap<String, String>,
    taken: BTreeSet<String>,
}

impl Namer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps `name` away from discovered devices: call it for each static
    /// `[[device]]` before the first scan.
    pub fn reserve(&mut self, name: &str) {
        self.taken.insert(name.to_owned());
    }

    /// The name `identity` has, or a new one: `base`, else `base-2`,
    /// `base-3`, ... whichever is free first.
    pub fn name_for(&mut self, identity: &str, base: &str) -> String {
        if let Some(name) = self.by_identity.get(identity) {
            return name.clone();
        }
        let name = (1..)
            .map(|n| candidate(base, n))
            .find(|c| !self.taken.contains(c))
            .unwrap_or_else(|| base.to_owned());
        self.taken.insert(name.clone());
        self.by_identity.insert(identity.to_owned(), name.clone());
        name
    }

    /// The name already given to `identity`, if any.
    pub fn get(&self, identity: &str) -> Option<&str> {
        self.by_identity.get(identity).map(String::as_str)
    }
}

/// `base` for n = 1, else `base-n`, cut so the result stays a valid name.
fn candidate(base: &str, n: usize) -> String {
    if n == 1 {
        return base.chars().take(MAX_NAME).collect();
    }
    let suffix = format!("-{n}");
    let keep = MAX_NAME.saturating_sub(suffix.len());
    let mut s: String = base.chars().take(keep).collect();
    s.push_str(&suffix);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_device_of_a_kind_gets_a_suffix() {
        let mut n = Namer::new();
        assert_eq!(n.name_for("a", "zwave"), "zwave");
        assert_eq!(n.name_for("b", "zwave"), "zwave-2");
        assert_eq!(n.name_for("c", "zigbee"), "zigbee");
        assert_eq!(n.name_for("d", "zwave"), "zwave-3");
    }

    #[test]
    fn an_identity_keeps_its_name() {
        let mut n = Namer::new();
        assert_eq!(n.name_for("a", "zwave"), "zwave");
        assert_eq!(n.name_for("b", "zwave"), "zwave-2");
        assert_eq!(n.name_for("a", "zwave"), "zwave");
        assert_eq!(n.name_for("b", "something-else"), "zwave-2");
        assert_eq!(n.get("b"), Some("zwave-2"));
        assert_eq!(n.get("c"), None);
    }

    #[test]
    fn reserved_names_are_skipped() {
        let mut n = Namer::new();
        n.reserve("zwave");
        n.reserve("zwave-2");
        assert_eq!(n.name_for("a", "zwave"), "zwave-3");
    }

    #[test]
    fn long_bases_are_cut_to_fit_the_suffix() {
        let mut n = Namer::new();
        let base = "x".repeat(63);
        assert_eq!(n.name_for("a", &base), base);
        let second = n.name_for("b", &base);
        assert_eq!(second.len(), 63);
        assert!(second.ends_with("-2"));
        assert!(serialmesh_config::check_name("device name", &second).is_ok());
    }
}
