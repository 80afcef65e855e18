//! The fake tree resolves the way the kernel's does.

use std::fs;
use std::path::Path;

use super::*;

#[test]
fn relative_links_climb_to_the_common_parent() {
    assert_eq!(
        relative(
            Path::new("/s/class/tty"),
            Path::new("/s/devices/x/tty/ttyUSB0")
        ),
        Path::new("../../devices/x/tty/ttyUSB0")
    );
}

#[test]
fn tree_resolves_like_the_kernels() {
    let mut fs_ = FakeSysfs::new();
    let dev = UsbDevice::new(0x10c4, 0xea60).serial("S1").port("1-1.4");
    fs_.add(&dev, Path::new("/dev/null"));
    let class = fs_.sysfs().join("class/tty/ttyUSB0");
    let device = fs::canonicalize(class.join("device")).unwrap();
    assert!(
        device.ends_with("usb1/1-1/1-1.4/1-1.4:1.0/ttyUSB0"),
        "{}",
        device.display()
    );
    let sub = fs::read_link(device.join("subsystem")).unwrap();
    assert!(sub.ends_with("bus/usb-serial"));
    let usb = device.parent().unwrap().parent().unwrap();
    assert_eq!(fs::read_to_string(usb.join("idVendor")).unwrap(), "10c4\n");
    assert_eq!(
        fs::read_link(fs_.dev().join("serial/by-id/usb-10c4_ea60_S1-if00-port0")).unwrap(),
        Path::new("../../ttyUSB0")
    );
    fs_.renumber("ttyUSB0", "ttyUSB1");
    assert!(fs::symlink_metadata(&class).is_err());
    assert!(fs_.sysfs().join("class/tty/ttyUSB1/device").exists());
    fs_.remove("ttyUSB1");
    assert!(!fs_.sysfs().join(PCI).join("usb1/1-1/1-1.4").exists());
}

#[test]
fn acm_devices_hang_off_the_interface() {
    let mut fs_ = FakeSysfs::new();
    let dev = UsbDevice::new(0x0658, 0x0200).acm();
    assert_eq!(dev.tty, "ttyACM0");
    fs_.add(&dev, Path::new("/dev/null"));
    let device = fs::canonicalize(fs_.sysfs().join("class/tty/ttyACM0/device")).unwrap();
    assert!(device.ends_with("usb1/1-1/1-1:1.0"), "{}", device.display());
    assert!(fs::read_link(device.join("subsystem"))
        .unwrap()
        .ends_with("bus/usb"));
}
