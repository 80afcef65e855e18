//! USB serial discovery: which serial devices this host has, what they are,
//! and the names they are shared under.
//!
//! [`scan`] walks sysfs (no udev needed: Alpine with mdev, containers with
//! `/sys` and `/dev` mounted), applies user and built-in profiles and names
//! the devices it shares. [`Watcher`] says when to scan again.
//!
//! ```no_run
//! # async fn f() -> std::io::Result<()> {
//! use serialmesh_agent::usb::{scan, DiscoveryConfig, Namer, Watcher};
//! let cfg = DiscoveryConfig::default();
//! let mut namer = Namer::new();
//! let mut watcher = Watcher::new(&cfg)?;
//! loop {
//!     for found in scan(&cfg, &mut namer) {
//!         println!("{} {:?}", found.node.display(), found.name);
//!     }
//!     watcher.changed().await;
//! }
//! # }
//! ```

mod builtin;
#[doc(hidden)]
pub mod fuzzing;
pub mod hotplug;
mod identity;
mod naming;
mod profiles;
mod stable_name;
mod sysfs;
pub(crate) mod uevent;
mod watch;

use std::path::{Path, PathBuf};

use serialmesh_config::{AgentConfig, UserProfile};
use serialmesh_proto::LineSettings;
use tracing::{debug, info};

pub use builtin::{Builtin, BUILTINS};
pub use naming::{Namer, Refused};
pub use profiles::{glob_match, unknown_settings, UNKNOWN_NAME};
pub use stable_name::{device_mark, ShareAs};
pub use sysfs::is_serial_name;
pub use watch::Watcher;

/// Where to look and how to judge what is found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveryConfig {
    /// Where sysfs is mounted; `/sys` unless testing.
    pub sysfs: PathBuf,
    /// Where device nodes are; `/dev` unless testing.
    pub dev: PathBuf,
    /// `[[profile]]` tables, tried before the built-in ones.
    pub profiles: Vec<UserProfile>,
    /// Share USB serial devices no profile knows, as `serial`.
    pub share_unknown: bool,
}

impl Default for DiscoveryConfig {
    fn default() -> Self {
        Self {
            sysfs: PathBuf::from("/sys"),
            dev: PathBuf::from("/dev"),
            profiles: Vec::new(),
            share_unknown: false,
        }
    }
}

impl From<&AgentConfig> for DiscoveryConfig {
    fn from(c: &AgentConfig) -> Self {
        Self {
            sysfs: c.sysfs.clone(),
            dev: c.dev.clone(),
            profiles: c.profile.clone(),
            share_unknown: c.share_unknown,
        }
    }
}

/// USB facts about a port, as sysfs gives them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsbInfo {
    pub vid: u16,
    pub pid: u16,
    pub serial: Option<String>,
    pub manufacturer: Option<String>,
    pub product: Option<String>,
    /// `bInterfaceNumber` of the interface the tty belongs to.
    pub interface: Option<u8>,
    /// The USB device's sysfs name: bus and port chain, e.g. `1-1.4`.
    pub port_path: String,
    /// Port within the interface (usb-serial `port_number`), for adapters
    /// with several ports on one interface.
    pub port_number: Option<u8>,
}

impl UsbInfo {
    /// `10c4:ea60`, as lsusb prints it.
    pub fn usb_id(&self) -> String {
        format!("{:04x}:{:04x}", self.vid, self.pid)
    }
}

/// One serial port discovery found, and what it is shared as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// Kernel name, e.g. `ttyUSB0`.
    pub tty: String,
    /// `{dev}/{tty}`, e.g. `/dev/ttyUSB0`.
    pub node: PathBuf,
    /// Whether `node` exists (a fake tree or a slow mdev may lack it); a
    /// port without its node is never shared.
    pub node_exists: bool,
    /// Its `/dev/serial/by-id` link, where udev made one.
    pub by_id: Option<PathBuf>,
    pub usb: Option<UsbInfo>,
    /// What stays the same across replug and renumbering (see
    /// `identity.rs`): `vid:pid:serial`, or `vid:pid@port` without a serial.
    pub identity: String,
    /// Id of the matched profile (`user-N` or a built-in id).
    pub profile: Option<String>,
    /// Why no profile matched.
    pub why_unmatched: Option<String>,
    /// How its profile shares it (pinned to it, or as one of a kind);
    /// `None` when no profile shares it.
    pub share: Option<ShareAs>,
    /// Share name; `None` when not shared.
    pub name: Option<String>,
    /// Why it is not shared under the name it wants (another device wants
    /// it too, or a configured `[[device]]` has it).
    pub refused: Option<Refused>,
    pub settings: LineSettings,
    /// Another client may take the device over from its holder.
    pub takeover: bool,
}

/// Scans once. The result is sorted by tty (`ttyACM0` before `ttyUSB0`,
/// `ttyUSB2` before `ttyUSB10`) and the same for the same tree.
///
/// Each device wants a name made from itself (`stable_name.rs`): the
/// bare profile name when a `[[profile]]` pins it, else the profile name
/// and its serial number, so no name depends on what else is present.
/// `namer` refuses names that two devices want, and remembers them: keep
/// one `Namer` for the life of the agent and pass it to every scan.
///
/// Blocking (it reads sysfs); a scan of a typical host takes well under a
/// millisecond, call it from `spawn_blocking` if that matters.
pub fn scan(cfg: &DiscoveryConfig, namer: &mut Namer) -> Vec<Found> {
    let links = sysfs::by_id_links(&cfg.dev);
    let mut found = Vec::new();
    let mut keys = Vec::new();
    for t in sysfs::walk(&cfg.sysfs) {
        let node = cfg.dev.join(&t.tty);
        let by_id = links
            .iter()
            .find(|(tty, _)| *tty == t.tty)
            .map(|(_, p)| p.clone());
        let port = profiles::Port {
            node: &node,
            by_id: by_id.as_deref(),
            usb: t.usb.as_ref(),
        };
        let Some(verdict) = profiles::judge(&port, &cfg.profiles, cfg.share_unknown) else {
            debug!(tty = %t.tty, subsystem = ?t.subsystem, "not a USB serial device and no [[profile]] selects it by path; skipped");
            continue;
        };
        keys.push((
            identity::identity(&t.tty, t.usb.as_ref()),
            t.usb
                .as_ref()
                .map_or_else(|| t.tty.clone(), |u| u.port_path.clone()),
            t.tty.clone(),
        ));
        found.push(Found {
            node_exists: node.exists(),
            tty: t.tty,
            node,
            by_id,
            usb: t.usb,
            identity: String::new(),
            profile: verdict.profile,
            why_unmatched: verdict.why_unmatched,
            share: verdict.share,
            name: None,
            refused: None,
            settings: verdict.settings,
            takeover: verdict.takeover,
        });
    }
    identity::disambiguate(&mut keys);
    for (f, (id, _, _)) in found.iter_mut().zip(keys) {
        f.identity = id;
    }
    name(&mut found, namer);
    found.sort_by(|a, b| tty_order(&a.tty).cmp(&tty_order(&b.tty)));
    found
}

/// Names the shared ones of `found`. Devices whose node is missing want
/// their names too, so a clone is caught whether or not mdev has made its
/// node yet.
fn name(found: &mut [Found], namer: &mut Namer) {
    let mut shared = Vec::new();
    let mut wants = Vec::new();
    for (i, f) in found.iter().enumerate() {
        if let Some(share) = &f.share {
            shared.push(i);
            wants.push((
                f.identity.clone(),
                stable_name::wanted(share, &f.tty, f.usb.as_ref()),
            ));
        }
    }
    for (i, verdict) in shared.into_iter().zip(namer.assign(&wants)) {
        let f = &mut found[i];
        match verdict {
            Ok(name) if f.node_exists => {
                if let Some(ShareAs::Kind(base)) = &f.share {
                    if namer.first_time(&f.identity, &name) {
                        info!(identity = %f.identity, "shared as {name}, not {base}: only a [[profile]] pinned to a device (its serial number) gives the bare name, which no other device can then take; `seriald devices --pins` prints pins");
                    }
                }
                f.name = Some(name);
            }
            Ok(_) => {
                debug!(tty = %f.tty, node = %f.node.display(), "no device node; not shared until it appears");
            }
            Err(refused) => f.refused = Some(refused),
        }
    }
}

/// Sorts `ttyUSB2` before `ttyUSB10`.
fn tty_order(tty: &str) -> (&str, u32) {
    let split = tty.find(|c: char| c.is_ascii_digit()).unwrap_or(tty.len());
    let (prefix, digits) = tty.split_at(split);
    (prefix, digits.parse().unwrap_or(0))
}

/// Whether `sysfs` looks like a sysfs tree (it has `class/tty`), for
/// commands that should refuse a wrong `--sysfs` rather than find nothing.
pub fn looks_like_sysfs(sysfs: &Path) -> bool {
    sysfs.join("class/tty").is_dir()
}

#[cfg(test)]
mod builtin_tests;
#[cfg(test)]
mod fake;
#[cfg(test)]
mod names_tests;
#[cfg(test)]
mod scan_tests;
#[cfg(test)]
mod watch_tests;
