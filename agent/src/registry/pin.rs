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
