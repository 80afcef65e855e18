//! Helpers shared by the discovery tests.

use std::path::Path;

use serialmesh_tests::sysfs::{FakeSysfs, UsbDevice};

use super::{scan, DiscoveryConfig, Found, Namer};

/// Scans only check that a node exists; any existing path will do.
pub const NODE: &str = "/dev/null";

/// Discovery pointed at the fake tree.
pub fn cfg(fs: &FakeSysfs) -> DiscoveryConfig {
    DiscoveryConfig {
        sysfs: fs.sysfs(),
        dev: fs.dev(),
        ..DiscoveryConfig::default()
    }
}

/// One scan with a fresh namer (a freshly started agent).
pub fn scan_once(fs: &FakeSysfs) -> Vec<Found> {
    scan(&cfg(fs), &mut Namer::new())
}

/// The port at `tty`, or a panic that shows what was found.
pub fn at<'a>(found: &'a [Found], tty: &str) -> &'a Found {
    found
        .iter()
        .find(|f| f.tty == tty)
        .unwrap_or_else(|| panic!("{tty} not found in {found:#?}"))
}

/// Plugs `dev` in with its node pointing at [`NODE`].
pub fn plug(fs: &mut FakeSysfs, dev: UsbDevice) {
    fs.add(&dev, Path::new(NODE));
}
