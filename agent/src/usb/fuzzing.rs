//! Body of the `discovery_scan` cargo-fuzz target (`fuzz/`): builds a sysfs
//! tree from the fuzz input (tty names, link layouts, and arbitrary bytes
//! in every attribute the scan reads) and scans it. Kept here so a plain
//! `cargo test` replays the committed corpus through the same code.
//!
//! Input layout, all of it optional (a short input is a smaller tree):
//!
//! ```text
//! flags          bit0 share_unknown, bit1 a user [[profile]] follows
//! [profile]      product NUL glob NUL name-choice
//! device*        kind tty-number idVendor NUL idProduct NUL serial NUL
//!                manufacturer NUL product NUL bInterfaceNumber NUL
//!                port_number NUL port-path NUL
//! ```
//!
//! `kind`: bits 0-1 layout (usb-serial, cdc-acm, platform, virtual), bit 2
//! the /dev node exists, bit 3 the tty hangs off the USB device itself,
//! bits 4-6 the tty prefix, bit 7 a /dev/serial/by-id link. An empty
//! attribute field means the attribute file does not exist.

use std::collections::HashSet;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serialmesh_config::{check_name, UserProfile};

use super::{is_serial_name, scan, DiscoveryConfig, Namer};

const PREFIXES: [&str; 8] = [
    "ttyUSB", "ttyACM", "ttyS", "ttyAMA", "rfcomm", "ttyO", "tty", "ttyHS",
];
const MAX_DEVICES: usize = 6;

/// Scans a tree built from `data` and checks what every caller of `scan`
/// relies on: shared names are valid, unique and only given to ports whose
/// node exists; identities are unique; the same tree scans the same way
/// twice, and a rescan with the same namer keeps every name.
///
/// # Panics
/// When one of those properties does not hold (that is the finding), or
/// when the scratch tree can not be written.
pub fn scan_tree(data: &[u8]) {
    let root = Scratch::new();
    let cfg = build(&root.0, data);
    let first = scan(&cfg, &mut Namer::new());
    let mut ttys = HashSet::new();
    let mut names = HashSet::new();
    let mut ids = HashSet::new();
    for f in &first {
        assert!(is_serial_name(&f.tty), "not a serial tty: {}", f.tty);
        assert!(ttys.insert(&f.tty), "tty {} found twice", f.tty);
        assert!(
            ids.insert(&f.identity),
            "identity {} given twice: {first:#?}",
            f.identity
        );
        if let Some(name) = &f.name {
            assert!(f.node_exists, "{} shared without its node", f.tty);
            check_name("device name", name).expect("shared name is valid");
            assert!(names.insert(name), "name {name} given twice: {first:#?}");
        }
    }
    let mut namer = Namer::new();
    assert_eq!(scan(&cfg, &mut namer), first, "same tree, different scan");
    assert_eq!(scan(&cfg, &mut namer), first, "rescan renamed a device");
}

/// A scratch directory on tmpfs where there is one, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Self {
        static N: AtomicU64 = AtomicU64::new(0);
        let base = if Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let dir = base.join(format!(
            "serialmesh-fuzz-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&dir);
        for d in [
            "sys/class/tty",
            "sys/bus/usb",
            "sys/bus/usb-serial",
            "sys/bus/platform",
            "dev/serial/by-id",
        ] {
            fs::create_dir_all(dir.join(d)).expect("scratch tree");
        }
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    fn byte(&mut self) -> Option<u8> {
        let (b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(*b)
    }

    fn field(&mut self) -> &'a [u8] {
        let end = self.0.iter().position(|b| *b == 0).unwrap_or(self.0.len());
        let (f, rest) = self.0.split_at(end);
        self.0 = rest.get(1..).unwrap_or_default();
        f
    }
}

fn build(root: &Path, data: &[u8]) -> DiscoveryConfig {
    let sys = root.join("sys");
    let dev = root.join("dev");
    let mut input = Input(data);
    let flags = input.byte().unwrap_or(0);
    let mut profiles = Vec::new();
    if flags & 2 != 0 {
        let product = String::from_utf8_lossy(input.field()).into_owned();
        let glob = String::from_utf8_lossy(input.field()).into_owned();
        let name = ["zwave", "zigbee", "serial"][usize::from(input.byte().unwrap_or(0) % 3)];
        profiles.extend(user_profile(&product, &glob, name));
    }
    for i in 0..MAX_DEVICES {
        let Some(kind) = input.byte() else { break };
        let number = input.byte().unwrap_or(0);
        let attrs: Vec<&[u8]> = (0..7).map(|_| input.field()).collect();
        let port = sanitize(input.field());
        add_device(&sys, &dev, i, kind, number, &attrs, &port);
    }
    DiscoveryConfig {
        sysfs: sys,
        dev,
        profiles,
        share_unknown: flags & 1 != 0,
    }
}

/// A `[[profile]]` as the config parser would make it, or none where the
/// parser refuses the input (that is the config fuzzer's business).
fn user_profile(product: &str, glob: &str, name: &str) -> Option<UserProfile> {
    let mut text = format!("[[profile]]\nname = \"{name}\"\n");
    if !product.is_empty() {
        text.push_str(&format!("product = {}\n", quote(product)));
    }
    if !glob.is_empty() {
        text.push_str(&format!("path = {}\n", quote(&format!("/{glob}"))));
    }
    serialmesh_config::parse_agent(&text, Path::new("fuzz.toml"))
        .ok()
        .and_then(|c| c.profile.into_iter().next())
}

fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A USB port path usable as a directory name (`1-1.4`).
fn sanitize(raw: &[u8]) -> String {
    let s: String = raw
        .iter()
        .map(|b| *b as char)
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | ':' | '_'))
        .take(32)
        .collect();
    if s.is_empty() || s.chars().all(|c| c == '.') {
        "1-1".into()
    } else {
        s
    }
}

fn add_device(sys: &Path, dev: &Path, i: usize, kind: u8, number: u8, attrs: &[&[u8]], port: &str) {
    let tty = format!("{}{number}", PREFIXES[usize::from((kind >> 4) & 7)]);
    let class_link = sys.join("class/tty").join(&tty);
    if fs::symlink_metadata(&class_link).is_ok() {
        return;
    }
    let usb_dir = sys.join("devices/usb1").join(port);
    let off_device = kind & 8 != 0;
    let intf = if off_device {
        usb_dir.clone()
    } else {
        usb_dir.join(format!("{port}:1.{i}"))
    };
    let class_dir = match kind & 3 {
        0 | 1 => {
            mkdir(&intf);
            link(&usb_dir.join("subsystem"), &sys.join("bus/usb"));
            let names = ["idVendor", "idProduct", "serial", "manufacturer", "product"];
            for (name, value) in names.iter().zip(attrs) {
                attr(&usb_dir, name, value);
            }
            attr(&intf, "bInterfaceNumber", attrs[5]);
            link(&intf.join("subsystem"), &sys.join("bus/usb"));
            let device = if kind & 3 == 0 {
                let port_dir = intf.join(&tty);
                mkdir(&port_dir);
                link(&port_dir.join("subsystem"), &sys.join("bus/usb-serial"));
                attr(&port_dir, "port_number", attrs[6]);
                port_dir
            } else {
                intf.clone()
            };
            let class_dir = device.join("tty").join(&tty);
            mkdir(&class_dir);
            link(&class_dir.join("device"), &device);
            class_dir
        }
        2 => {
            let platform = sys.join("devices/platform/serial8250");
            mkdir(&platform);
            link(&platform.join("subsystem"), &sys.join("bus/platform"));
            let class_dir = platform.join("tty").join(&tty);
            mkdir(&class_dir);
            link(&class_dir.join("device"), &platform);
            class_dir
        }
        _ => {
            let class_dir = sys.join("devices/virtual/tty").join(&tty);
            mkdir(&class_dir);
            class_dir
        }
    };
    link(&class_link, &class_dir);
    let node = dev.join(&tty);
    if kind & 4 != 0 {
        fs::write(&node, b"").expect("device node");
    }
    if kind & 0x80 != 0 {
        link(
            &dev.join("serial/by-id").join(format!("usb-{port}-{i}")),
            &node,
        );
    }
}

fn mkdir(dir: &Path) {
    fs::create_dir_all(dir).expect("scratch directory");
}

fn attr(dir: &Path, name: &str, value: &[u8]) {
    if !value.is_empty() {
        fs::write(dir.join(name), value).expect("attribute");
    }
}

fn link(at: &Path, target: &Path) {
    if fs::symlink_metadata(at).is_err() {
        symlink(target, at).expect("symlink");
    }
}
