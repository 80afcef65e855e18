//! An endpoint's pin on the device it expects (`expect_serial`,
//! `--expect-serial`): the USB serial number of the stick a gateway was
//! set up for. Names are made so that none passes from one stick to
//! another (docs/discovery.md, "Device names"), but a hand-edited config,
//! a static `[[device]]` path or a stick moved between agents can still put
//! another device under the name a gateway uses; a gateway opening the
//! wrong Z-Wave network is silent damage, so the client refuses it.
//!
//! The agent checks the pin before it opens anything (the `Open` frame
//! carries it); the client checks again what the `Opened` frame says,
//! because an agent from before the pin ignores it. The pin is not
//! authentication: an agent is trusted to say which device it opened, and
//! one with a valid agent certificate can claim any serial number.

use serialmesh_proto::{CloseReason, CloseReasonKind, Opened};

/// Whether the session `opened` may carry the endpoint's traffic, given
/// the serial number it expects (`None`: no pin, any device will do).
pub fn check(expect: Option<&str>, opened: &Opened) -> Result<(), CloseReason> {
    let Some(expect) = expect else {
        return Ok(());
    };
    let at = format!("{}@{}", opened.device, opened.zone);
    match opened.serial.as_deref() {
        Some(serial) if serial == expect => Ok(()),
        Some(serial) => Err(CloseReason::new(
            CloseReasonKind::WrongDevice,
            format!(
                "agent opened {at} with USB serial number {serial}, but this endpoint expects {expect} (expect_serial); closed it"
            ),
        )),
        None => Err(CloseReason::new(
            CloseReasonKind::WrongDevice,
            format!(
                "agent opened {at} without saying its USB serial number (an agent from before expect_serial, or a device without one), so it cannot be shown to be {expect} (expect_serial); closed it"
            ),
        )),
    }
}

/// A pin given by the user, checked: empty means a typo, not "any".
pub fn parse(what: &str, value: &str) -> Result<String, String> {
    let v = value.trim();
    if v.is_empty() {
        return Err(format!(
            "{what} is empty; give the USB serial number the device must have, as `serialctl ls` or `seriald devices` shows it"
        ));
    }
    Ok(v.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serialmesh_proto::LineSettings;

    fn opened(serial: Option<&str>) -> Opened {
        Opened {
            device: "zwave".into(),
            agent: "shed".into(),
            zone: "shed".into(),
            settings: LineSettings::default(),
            serial: serial.map(str::to_owned),
        }
    }

    #[test]
    fn without_a_pin_any_device_will_do() {
        assert_eq!(check(None, &opened(None)), Ok(()));
        assert_eq!(check(None, &opened(Some("BBB"))), Ok(()));
    }

    #[test]
    fn the_pinned_serial_number_passes() {
        assert_eq!(check(Some("AAA"), &opened(Some("AAA"))), Ok(()));
    }

    #[test]
    fn another_serial_number_is_refused_naming_both() {
        let r = check(Some("AAA"), &opened(Some("BBB"))).unwrap_err();
        assert_eq!(r.kind, CloseReasonKind::WrongDevice);
        assert!(r.kind.is_retryable());
        assert_eq!(
            r.message,
            "agent opened zwave@shed with USB serial number BBB, but this endpoint expects AAA (expect_serial); closed it"
        );
    }

    #[test]
    fn an_agent_that_does_not_say_is_refused() {
        let r = check(Some("AAA"), &opened(None)).unwrap_err();
        assert_eq!(r.kind, CloseReasonKind::WrongDevice);
        assert!(
            r.message.starts_with("agent opened zwave@shed without saying its USB serial number (an agent from before expect_serial, or a device without one), so it cannot be shown to be AAA"),
            "{}",
            r.message
        );
    }

    #[test]
    fn an_empty_pin_is_refused_not_taken_as_any() {
        assert_eq!(parse("--expect-serial", " AAA "), Ok("AAA".into()));
        assert_eq!(
            parse("--expect-serial", "  "),
            Err("--expect-serial is empty; give the USB serial number the device must have, as `serialctl ls` or `seriald devices` shows it".into())
        );
    }
}
