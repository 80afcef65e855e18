//! The device side of the fake tree: what a USB serial device looks like.

/// How the kernel drives the device, which decides the tree's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    /// `ttyUSB*`: a usb-serial driver (cp210x, ftdi_sio, pl2303, ch341).
    UsbSerial,
    /// `ttyACM*`: the cdc_acm driver.
    CdcAcm,
}

/// A USB serial device to plug into a [`FakeSysfs`](super::FakeSysfs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsbDevice {
    pub vid: u16,
    pub pid: u16,
    pub serial: Option<String>,
    pub manufacturer: Option<String>,
    pub product: Option<String>,
    pub interface: u8,
    pub driver: Driver,
    /// Kernel name, e.g. `ttyUSB0`.
    pub tty: String,
    /// USB port chain, e.g. `1-1` or `1-1.4` (behind a hub).
    pub port: String,
}

impl UsbDevice {
    /// A usb-serial device `vid:pid` at `ttyUSB0` in port `1-1`,
    /// interface 0, with no strings; adjust with the other methods.
    pub fn new(vid: u16, pid: u16) -> Self {
        UsbDevice {
            vid,
            pid,
            serial: None,
            manufacturer: None,
            product: None,
            interface: 0,
            driver: Driver::UsbSerial,
            tty: "ttyUSB0".into(),
            port: "1-1".into(),
        }
    }
    pub fn serial(mut self, s: &str) -> Self {
        self.serial = Some(s.into());
        self
    }
    pub fn manufacturer(mut self, s: &str) -> Self {
        self.manufacturer = Some(s.into());
        self
    }
    pub fn product(mut self, s: &str) -> Self {
        self.product = Some(s.into());
        self
    }
    pub fn interface(mut self, n: u8) -> Self {
        self.interface = n;
        self
    }
    /// cdc_acm; also renames the tty to `ttyACM<n>` keeping its number.
    pub fn acm(mut self) -> Self {
        self.driver = Driver::CdcAcm;
        let n = self.tty.trim_start_matches(|c: char| !c.is_ascii_digit());
        self.tty = format!("ttyACM{n}");
        self
    }
    pub fn tty(mut self, tty: &str) -> Self {
        self.tty = tty.into();
        self
    }
    pub fn port(mut self, port: &str) -> Self {
        self.port = port.into();
        self
    }

    /// The name udev gives its `/dev/serial/by-id` link.
    pub fn by_id_name(&self) -> String {
        let clean = |s: &str| s.replace([' ', '/'], "_");
        let vendor = self
            .manufacturer
            .as_deref()
            .map_or(format!("{:04x}", self.vid), clean);
        let model = self
            .product
            .as_deref()
            .map_or(format!("{:04x}", self.pid), clean);
        let mut name = format!("usb-{vendor}_{model}");
        if let Some(s) = &self.serial {
            name.push_str(&format!("_{}", clean(s)));
        }
        name.push_str(&format!("-if{:02x}", self.interface));
        if self.driver == Driver::UsbSerial {
            name.push_str("-port0");
        }
        name
    }
}
