//! A fake sysfs and /dev, laid out the way the kernel and udev lay out the
//! real ones, for testing USB serial discovery without hardware.
//!
//! ```text
//! ROOT/sys/class/tty/ttyUSB0 -> ../../devices/pci0000:00/0000:00:14.0/usb1/1-1/1-1:1.0/ttyUSB0/tty/ttyUSB0
//! ROOT/sys/devices/.../usb1/1-1/               idVendor idProduct serial manufacturer product subsystem->bus/usb
//! ROOT/sys/devices/.../usb1/1-1/1-1:1.0/       bInterfaceNumber subsystem->bus/usb driver->bus/usb/drivers/cp210x
//! ROOT/sys/devices/.../1-1:1.0/ttyUSB0/        port_number subsystem->bus/usb-serial
//! ROOT/sys/devices/.../ttyUSB0/tty/ttyUSB0/    dev uevent device->../../../ttyUSB0 subsystem->class/tty
//! ROOT/dev/ttyUSB0 -> the node target (a pty, so the agent can open it)
//! ROOT/dev/serial/by-id/usb-Silicon_Labs_..._SERIAL-if00-port0 -> ../../ttyUSB0
//! ```
//!
//! cdc_acm devices (`ttyACM*`) hang the tty straight off the interface, and
//! their by-id links have no `-port0`. Links are relative, as the kernel
//! makes them, so the tree can be moved or bind-mounted.
//!
//! Every change is made in the order the kernel makes it (attributes, then
//! the class link, then the node, then the by-id link; the reverse on
//! removal), so a watcher never sees a half-built device announced.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::unix::fs::symlink;
use std::path::{Component, Path, PathBuf};

use crate::util::{temp_dir, TempDir};

mod usb_device;

pub use usb_device::{Driver, UsbDevice};

/// A fake `ROOT/sys` and `ROOT/dev` in a temporary directory, removed on
/// drop.
pub struct FakeSysfs {
    root: TempDir,
    plugged: BTreeMap<String, (UsbDevice, PathBuf)>,
}

const PCI: &str = "devices/pci0000:00/0000:00:14.0";

impl FakeSysfs {
    /// An empty tree: `sys/class/tty`, `sys/bus/{usb,usb-serial}`, `dev`.
    ///
    /// # Panics
    /// If the temporary directory can not be written.
    pub fn new() -> Self {
        let root = temp_dir();
        for d in [
            "sys/class/tty",
            "sys/bus/usb/drivers",
            "sys/bus/usb-serial/drivers",
            "sys/bus/platform",
            "dev",
        ] {
            ok(fs::create_dir_all(root.path().join(d)), d);
        }
        FakeSysfs {
            root,
            plugged: BTreeMap::new(),
        }
    }

    /// The fake sysfs root (give it to `--sysfs` or `sysfs =`).
    pub fn sysfs(&self) -> PathBuf {
        self.root.path().join("sys")
    }

    /// The fake /dev (give it to `dev =`).
    pub fn dev(&self) -> PathBuf {
        self.root.path().join("dev")
    }

    /// Where a tty's device node is: `dev/<tty>`.
    pub fn node(&self, tty: &str) -> PathBuf {
        self.dev().join(tty)
    }

    /// Plugs `dev` in; its node `dev/<tty>` is a symlink to `node_target`
    /// (a pty path, so the agent can open it; any path for scan-only tests).
    ///
    /// # Panics
    /// If the tty is already plugged or the tree can not be written.
    pub fn add(&mut self, dev: &UsbDevice, node_target: &Path) {
        assert!(
            !self.plugged.contains_key(&dev.tty),
            "{} is already plugged",
            dev.tty
        );
        let sys = self.sysfs();
        let usb_dir = self.usb_dir(&dev.port);
        mkdir(&usb_dir);
        link(&usb_dir.join("subsystem"), &sys.join("bus/usb"));
        write(&usb_dir, "idVendor", &format!("{:04x}", dev.vid));
        write(&usb_dir, "idProduct", &format!("{:04x}", dev.pid));
        write(&usb_dir, "busnum", bus_number(&dev.port));
        write(&usb_dir, "devnum", "2");
        for (name, value) in [
            ("serial", &dev.serial),
            ("manufacturer", &dev.manufacturer),
            ("product", &dev.product),
        ] {
            if let Some(v) = value {
                write(&usb_dir, name, v);
            }
        }
        let intf = usb_dir.join(format!("{}:1.{}", dev.port, dev.interface));
        mkdir(&intf);
        link(&intf.join("subsystem"), &sys.join("bus/usb"));
        write(&intf, "bInterfaceNumber", &format!("{:02x}", dev.interface));
        let (driver, class_parent, device_of_tty) = match dev.driver {
            Driver::UsbSerial => {
                let port_dir = intf.join(&dev.tty);
                mkdir(&port_dir);
                link(&port_dir.join("subsystem"), &sys.join("bus/usb-serial"));
                write(&port_dir, "port_number", "0");
                ("cp210x", port_dir.join("tty"), port_dir)
            }
            Driver::CdcAcm => ("cdc_acm", intf.join("tty"), intf.clone()),
        };
        let drivers = sys.join("bus/usb/drivers").join(driver);
        mkdir(&drivers);
        link(&intf.join("driver"), &drivers);
        let class_dir = class_parent.join(&dev.tty);
        mkdir(&class_dir);
        link(&class_dir.join("device"), &device_of_tty);
        link(&class_dir.join("subsystem"), &sys.join("class/tty"));
        write(&class_dir, "dev", "188:0");
        write(
            &class_dir,
            "uevent",
            &format!("MAJOR=188\nMINOR=0\nDEVNAME={}", dev.tty),
        );
        link(&sys.join("class/tty").join(&dev.tty), &class_dir);
        ok(symlink(node_target, self.node(&dev.tty)), "device node");
        let by_id = self.dev().join("serial/by-id");
        mkdir(&by_id);
        link(&by_id.join(dev.by_id_name()), &self.node(&dev.tty));
        self.plugged
            .insert(dev.tty.clone(), (dev.clone(), node_target.to_path_buf()));
    }

    /// Unplugs the device at `tty`: its by-id link, node, class link and
    /// device directories go; the USB device directory stays while another
    /// interface of it is plugged.
    ///
    /// # Panics
    /// If nothing is plugged at `tty`.
    pub fn remove(&mut self, tty: &str) -> UsbDevice {
        let (dev, _) = self
            .plugged
            .remove(tty)
            .unwrap_or_else(|| panic!("nothing plugged at {tty}"));
        let _ = fs::remove_file(self.dev().join("serial/by-id").join(dev.by_id_name()));
        let _ = fs::remove_file(self.node(tty));
        let _ = fs::remove_file(self.sysfs().join("class/tty").join(tty));
        let usb_dir = self.usb_dir(&dev.port);
        let intf = usb_dir.join(format!("{}:1.{}", dev.port, dev.interface));
        let _ = fs::remove_dir_all(&intf);
        if !self.plugged.values().any(|(d, _)| d.port == dev.port) {
            let _ = fs::remove_dir_all(&usb_dir);
        }
        dev
    }

    /// Unplugs the device at `from` and plugs it back as `to` (what the
    /// kernel does when a stick comes back while its old tty is still held
    /// open), with the same node target.
    pub fn renumber(&mut self, from: &str, to: &str) {
        let target = self
            .plugged
            .get(from)
            .map(|(_, t)| t.clone())
            .unwrap_or_else(|| panic!("nothing plugged at {from}"));
        let dev = self.remove(from);
        self.add(&dev.tty(to), &target);
    }

    /// A board UART (`ttyS*`, `ttyAMA*`): `device` -> a platform device.
    pub fn add_platform_tty(&mut self, tty: &str, node_target: &Path) {
        let sys = self.sysfs();
        let platform = sys.join("devices/platform/serial8250");
        mkdir(&platform);
        link(&platform.join("subsystem"), &sys.join("bus/platform"));
        let class_dir = platform.join("tty").join(tty);
        mkdir(&class_dir);
        link(&class_dir.join("device"), &platform);
        link(&class_dir.join("subsystem"), &sys.join("class/tty"));
        link(&sys.join("class/tty").join(tty), &class_dir);
        ok(symlink(node_target, self.node(tty)), "device node");
    }

    /// A tty with no `device` link at all, like the kernel's placeholder
    /// `ttyS*` entries with no UART behind them.
    pub fn add_virtual_tty(&mut self, tty: &str) {
        let sys = self.sysfs();
        let class_dir = sys.join("devices/virtual/tty").join(tty);
        mkdir(&class_dir);
        link(&class_dir.join("subsystem"), &sys.join("class/tty"));
        link(&sys.join("class/tty").join(tty), &class_dir);
    }

    /// Makes attribute `attr` of the device at `tty` exist but fail to
    /// read, by putting a directory in its place. (chmod 000 would not do:
    /// tests run as root, and root reads anything.) `attr` is looked up in
    /// the USB device directory, or the interface for `bInterfaceNumber`.
    pub fn make_unreadable(&mut self, tty: &str, attr: &str) {
        let path = self.attr_path(tty, attr);
        let _ = fs::remove_file(&path);
        mkdir(&path);
    }

    /// Replaces attribute `attr` of the device at `tty` with a dangling
    /// symlink: it is listed, but reading it fails.
    pub fn make_dangling(&mut self, tty: &str, attr: &str) {
        let path = self.attr_path(tty, attr);
        let _ = fs::remove_file(&path);
        ok(symlink("nonexistent-target", &path), attr);
    }

    /// Overwrites attribute `attr` of the device at `tty`.
    pub fn set_attr(&mut self, tty: &str, attr: &str, value: &str) {
        let path = self.attr_path(tty, attr);
        ok(fs::write(&path, format!("{value}\n")), attr);
    }

    fn attr_path(&self, tty: &str, attr: &str) -> PathBuf {
        let (dev, _) = self
            .plugged
            .get(tty)
            .unwrap_or_else(|| panic!("nothing plugged at {tty}"));
        let usb_dir = self.usb_dir(&dev.port);
        if attr == "bInterfaceNumber" {
            usb_dir
                .join(format!("{}:1.{}", dev.port, dev.interface))
                .join(attr)
        } else {
            usb_dir.join(attr)
        }
    }

    /// `usb1/1-1/1-1.4` for port `1-1.4`: hubs nest, as in real sysfs.
    fn usb_dir(&self, port: &str) -> PathBuf {
        let mut dir = self
            .sysfs()
            .join(PCI)
            .join(format!("usb{}", bus_number(port)));
        let (bus, chain) = port.split_once('-').unwrap_or(("1", port));
        let mut so_far = String::new();
        for hop in chain.split('.') {
            if so_far.is_empty() {
                so_far = format!("{bus}-{hop}");
            } else {
                so_far = format!("{so_far}.{hop}");
            }
            dir.push(&so_far);
        }
        dir
    }
}

impl Default for FakeSysfs {
    fn default() -> Self {
        Self::new()
    }
}

fn bus_number(port: &str) -> &str {
    port.split('-').next().unwrap_or("1")
}

fn ok<T>(r: io::Result<T>, what: impl std::fmt::Display) -> T {
    r.unwrap_or_else(|e| panic!("fake sysfs: cannot create {what}: {e}"))
}

fn mkdir(dir: &Path) {
    ok(fs::create_dir_all(dir), dir.display());
}

fn write(dir: &Path, name: &str, value: &str) {
    ok(fs::write(dir.join(name), format!("{value}\n")), name);
}

/// Makes `at` a relative symlink to `target`, as the kernel's are.
fn link(at: &Path, target: &Path) {
    if fs::symlink_metadata(at).is_ok() {
        return;
    }
    let from = at.parent().unwrap_or(Path::new("/"));
    ok(symlink(relative(from, target), at), at.display());
}

/// The path from directory `from` to `to`, both absolute.
fn relative(from: &Path, to: &Path) -> PathBuf {
    let a: Vec<Component> = from.components().collect();
    let b: Vec<Component> = to.components().collect();
    let common = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut rel = PathBuf::new();
    for _ in common..a.len() {
        rel.push("..");
    }
    for c in &b[common..] {
        rel.push(c.as_os_str());
    }
    rel
}

#[cfg(test)]
mod tests;
