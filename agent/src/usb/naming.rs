//! Share names: each one held by one device, or by nobody.
//!
//! A device wants a name derived from itself ([`super::stable_name`]), so
//! the same stick wants the same name after any replug or restart. What is
//! left to decide is a name two devices want: clones that report one USB
//! serial number, a pinned `[[profile]]` that matches two ports, two serial
//! numbers that differ only in characters a name cannot hold. Giving it to
//! one of them (the first seen, the lowest port) would let it pass to the
//! other on the next restart with the first unplugged, which is the very
//! thing names must never do. So a contested name is given to nobody for
//! the life of the process, and said so, once, in the log and in
//! `seriald devices`. A name of a configured `[[device]]` is never given.

use std::collections::{BTreeMap, BTreeSet};

use tracing::warn;

#[derive(Debug, Default)]
pub struct Namer {
    owners: BTreeMap<String, Owner>,
    /// `(identity, name)` pairs whose refusal was logged, so rescans (one
    /// per uevent) do not repeat it.
    told: BTreeSet<(String, String)>,
}

#[derive(Debug)]
enum Owner {
    /// A configured `[[device]]`.
    Configured,
    /// The one device that has wanted it.
    Device(String),
    /// Devices (identities) that wanted it: nobody gets it in this process.
    Contested(BTreeSet<String>),
}

/// Why a device is not shared under the name it wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// A configured `[[device]]` has the name.
    Configured { name: String },
    /// Several devices want it (identities, sorted).
    Contested {
        name: String,
        identities: Vec<String>,
    },
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Configured { name } => write!(
                f,
                "the name {name} belongs to a configured [[device]]; give this device's profile another name"
            ),
            Self::Contested { name, identities } => write!(
                f,
                "{} devices want the name {name} ({}); none is shared under it, so it can never pass from one to another. \
                 Clones reporting one USB serial number cannot be told apart: share each by its port with \
                 [[device]] path = \"/dev/serial/by-path/...\". A pinned [[profile]] matching several ports: add interface = N",
                identities.len(),
                identities.join(", ")
            ),
        }
    }
}

impl Namer {
    pub fn new() -> Self {
        Self::default()
    }

    /// True the first time it is asked about `(identity, name)`: for
    /// notes logged once per device, not at every rescan.
    pub fn first_time(&mut self, identity: &str, name: &str) -> bool {
        self.told.insert((identity.to_owned(), name.to_owned()))
    }

    /// Keeps `name` away from discovered devices: call it for each static
    /// `[[device]]` before the first scan.
    pub fn reserve(&mut self, name: &str) {
        self.owners.insert(name.to_owned(), Owner::Configured);
    }

    /// Gives each `(identity, wanted name)` its name, unless a configured
    /// device has it or another identity wants it, in this call or did in
    /// an earlier one. Identities must be unique within one call.
    pub fn assign(&mut self, wants: &[(String, String)]) -> Vec<Result<String, Refused>> {
        let mut by_name: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for (id, name) in wants {
            by_name.entry(name).or_default().insert(id);
        }
        for (name, ids) in by_name {
            self.want(name, ids);
        }
        wants
            .iter()
            .map(|(id, name)| self.verdict(id, name))
            .collect()
    }

    fn want(&mut self, name: &str, ids: BTreeSet<&str>) {
        let owner = self.owners.remove(name);
        let next = match owner {
            None if ids.len() == 1 => Owner::Device(ids.into_iter().map(str::to_owned).collect()),
            None => contested(name, BTreeSet::new(), ids),
            Some(Owner::Device(held)) if ids.len() == 1 && ids.contains(held.as_str()) => {
                Owner::Device(held)
            }
            Some(Owner::Device(held)) => contested(name, BTreeSet::from([held]), ids),
            Some(Owner::Contested(old)) => {
                let before = old.len();
                let all = extend(old, ids);
                if all.len() > before {
                    warn_contested(name, &all);
                }
                Owner::Contested(all)
            }
            Some(Owner::Configured) => Owner::Configured,
        };
        self.owners.insert(name.to_owned(), next);
    }

    fn verdict(&mut self, id: &str, name: &str) -> Result<String, Refused> {
        match self.owners.get(name) {
            Some(Owner::Device(held)) if held == id => Ok(name.to_owned()),
            Some(Owner::Contested(ids)) => Err(Refused::Contested {
                name: name.to_owned(),
                identities: ids.iter().cloned().collect(),
            }),
            Some(Owner::Configured) => {
                let refused = Refused::Configured {
                    name: name.to_owned(),
                };
                if self.first_time(id, name) {
                    warn!(identity = %id, "{refused}; not shared");
                }
                Err(refused)
            }
            // Not reached: `want` ran for every name of the call, and made
            // it this identity's or contested. Refusing is the safe answer.
            Some(Owner::Device(_)) | None => Err(Refused::Contested {
                name: name.to_owned(),
                identities: vec![id.to_owned()],
            }),
        }
    }
}

fn extend(mut set: BTreeSet<String>, more: BTreeSet<&str>) -> BTreeSet<String> {
    set.extend(more.into_iter().map(str::to_owned));
    set
}

fn contested(name: &str, held: BTreeSet<String>, ids: BTreeSet<&str>) -> Owner {
    let all = extend(held, ids);
    warn_contested(name, &all);
    Owner::Contested(all)
}

fn warn_contested(name: &str, ids: &BTreeSet<String>) {
    let refused = Refused::Contested {
        name: name.to_owned(),
        identities: ids.iter().cloned().collect(),
    };
    warn!("{refused}");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn want(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(id, name)| (id.to_string(), name.to_string()))
            .collect()
    }

    fn names(n: &mut Namer, pairs: &[(&str, &str)]) -> Vec<Option<String>> {
        n.assign(&want(pairs)).into_iter().map(Result::ok).collect()
    }

    #[test]
    fn each_device_gets_the_name_it_wants() {
        let mut n = Namer::new();
        assert_eq!(
            names(&mut n, &[("a", "zwave-a"), ("b", "zwave-b")]),
            [Some("zwave-a".into()), Some("zwave-b".into())]
        );
        assert_eq!(names(&mut n, &[("b", "zwave-b")]), [Some("zwave-b".into())]);
    }

    #[test]
    fn a_name_two_devices_want_at_once_goes_to_neither() {
        let mut n = Namer::new();
        let got = n.assign(&want(&[("a", "zwave"), ("b", "zwave"), ("c", "zigbee")]));
        let refused = Refused::Contested {
            name: "zwave".into(),
            identities: vec!["a".into(), "b".into()],
        };
        assert_eq!(got[0], Err(refused.clone()));
        assert_eq!(got[1], Err(refused));
        assert_eq!(got[2], Ok("zigbee".into()));
    }

    #[test]
    fn a_contested_name_stays_refused_when_one_claimant_is_left() {
        let mut n = Namer::new();
        n.assign(&want(&[("a", "zwave"), ("b", "zwave")]));
        assert_eq!(names(&mut n, &[("b", "zwave")]), [None]);
        assert_eq!(names(&mut n, &[("a", "zwave")]), [None]);
    }

    #[test]
    fn a_held_name_wanted_by_a_newcomer_is_taken_from_both() {
        let mut n = Namer::new();
        assert_eq!(names(&mut n, &[("a", "zwave")]), [Some("zwave".into())]);
        assert_eq!(
            names(&mut n, &[("a", "zwave"), ("b", "zwave")]),
            [None, None]
        );
        match &n.assign(&want(&[("a", "zwave")]))[0] {
            Err(Refused::Contested { identities, .. }) => assert_eq!(identities, &["a", "b"]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_configured_device_name_is_never_given() {
        let mut n = Namer::new();
        n.reserve("zwave");
        assert_eq!(
            n.assign(&want(&[("a", "zwave")])),
            [Err(Refused::Configured {
                name: "zwave".into()
            })]
        );
    }

    #[test]
    fn refusals_say_what_to_do() {
        let contested = Refused::Contested {
            name: "zwave-0001".into(),
            identities: vec!["10c4:ea60:0001".into(), "10c4:ea60:0001@1-2".into()],
        }
        .to_string();
        assert!(
            contested.starts_with("2 devices want the name zwave-0001 (10c4:ea60:0001, 10c4:ea60:0001@1-2); none is shared under it, so it can never pass from one to another."),
            "{contested}"
        );
        assert!(contested.contains("[[device]] path = \"/dev/serial/by-path/...\""));
        assert!(contested.contains("add interface = N"));
        let configured = Refused::Configured {
            name: "zwave".into(),
        }
        .to_string();
        assert_eq!(configured, "the name zwave belongs to a configured [[device]]; give this device's profile another name");
    }
}
