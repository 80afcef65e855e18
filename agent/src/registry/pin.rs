//! A client's pin on the device it expects (`expect_serial`): checked
//! before the claim, so the wrong stick is never opened (opening toggles
//! DTR/RTS, which resets some controllers) and a session of the same
//! client on it is not replaced.

use serialmesh_proto::{CloseReason, CloseReasonKind};

use super::{lock, Gate, Registry};

impl Registry {
    /// Refuses with [`CloseReasonKind::WrongDevice`] when the device
    /// `address` names has another USB serial number than `expect`, or none
    /// the agent knows. Anything else wrong with the request (no such
    /// device, not authorised) is left to the claim, which says it the
    /// usual way: this check tells nobody anything the claim would not.
    pub fn check_serial(
        &self,
        address: &str,
        gate: &dyn Gate,
        expect: &str,
    ) -> Result<(), CloseReason> {
        let slots = lock(&self.slots);
        let Ok(name) = self.resolve(&slots, address, gate) else {
            return Ok(());
        };
        if gate.may_open(&name).is_err() {
            return Ok(());
        }
        let Some(slot) = slots.get(&name) else {
            return Ok(());
        };
        let at = format!("{name}@{}", self.zone);
        match slot.meta.serial.as_deref() {
            Some(serial) if serial == expect => Ok(()),
            Some(serial) => Err(CloseReason::new(
                CloseReasonKind::WrongDevice,
                format!(
                    "{at} is the device with USB serial number {serial}, not {expect} as this endpoint expects (expect_serial); not opening it"
                ),
            )),
            None => Err(CloseReason::new(
                CloseReasonKind::WrongDevice,
                format!(
                    "{at} has no USB serial number this agent knows (a configured [[device]], or a device without one), so it cannot be shown to be {expect} as this endpoint expects (expect_serial); not opening it"
                ),
            )),
        }
    }

    /// The USB serial number of `device`, for the `Opened` frame.
    pub fn serial_of(&self, device: &str) -> Option<String> {
        lock(&self.slots)
            .get(device)
            .and_then(|s| s.meta.serial.clone())
    }
}

#[cfg(test)]
mod tests {
    use serialmesh_config::DeviceConfig;
    use serialmesh_proto::LineSettings;
    use tokio_util::sync::CancellationToken;

    use super::super::{DeviceMeta, OpenToAll};
    use super::*;

    fn dev(name: &str) -> DeviceConfig {
        DeviceConfig {
            name: name.into(),
            path: format!("/dev/{name}").into(),
            settings: LineSettings::default(),
            takeover: false,
        }
    }

    /// `rs232` configured by path; `zwave-bbb` discovered, serial BBB.
    fn registry() -> Registry {
        let r = Registry::new("shed", "shed", vec![dev("rs232")], CancellationToken::new());
        let meta = DeviceMeta {
            serial: Some("BBB".into()),
            ..DeviceMeta::default()
        };
        r.sync_discovered(vec![(dev("zwave-bbb"), meta)]);
        r
    }

    /// Sees everything, may open nothing.
    struct ListOnly;

    impl Gate for ListOnly {
        fn client(&self) -> &str {
            "gw"
        }
        fn fingerprint(&self) -> Option<serialmesh_pki::Fingerprint> {
            None
        }
        fn visible(&self, _device: &str) -> bool {
            true
        }
        fn may_open(&self, device: &str) -> Result<(), CloseReason> {
            Err(CloseReason::new(CloseReasonKind::NotAuthorised, device))
        }
    }

    #[test]
    fn the_expected_serial_number_passes_and_is_reported() {
        let r = registry();
        assert_eq!(r.check_serial("zwave-bbb", &OpenToAll("gw"), "BBB"), Ok(()));
        assert_eq!(r.serial_of("zwave-bbb").as_deref(), Some("BBB"));
        assert_eq!(r.serial_of("rs232"), None);
    }

    #[test]
    fn another_serial_number_is_refused_naming_both() {
        let e = registry()
            .check_serial("zwave-bbb@shed", &OpenToAll("gw"), "AAA")
            .unwrap_err();
        assert_eq!(e.kind, CloseReasonKind::WrongDevice);
        assert_eq!(
            e.message,
            "zwave-bbb@shed is the device with USB serial number BBB, not AAA as this endpoint expects (expect_serial); not opening it"
        );
    }

    #[test]
    fn a_device_of_unknown_serial_number_is_refused() {
        let e = registry()
            .check_serial("rs232", &OpenToAll("gw"), "AAA")
            .unwrap_err();
        assert_eq!(e.kind, CloseReasonKind::WrongDevice);
        assert!(
            e.message
                .starts_with("rs232@shed has no USB serial number this agent knows"),
            "{}",
            e.message
        );
    }

    #[test]
    fn what_the_claim_refuses_is_left_to_it_and_tells_nothing() {
        let r = registry();
        assert_eq!(r.check_serial("nothing", &OpenToAll("gw"), "AAA"), Ok(()));
        assert_eq!(r.check_serial("zwave-bbb", &ListOnly, "AAA"), Ok(()));
    }
}
