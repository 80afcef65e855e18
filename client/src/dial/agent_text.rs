//! What an agent says, made safe to show.
//!
//! Text in an agent's frames (a close reason, device names, paths, USB
//! product strings, the holder's name, its software) ends up in the
//! client's log lines and on the terminal of whoever runs `serialctl ls`.
//! A verified agent certificate says nothing about that text: a
//! compromised agent, or a BadUSB stick's product string on an honest one,
//! could put a newline there (a forged log line) or terminal escapes (a
//! cleared or rewritten screen). So every such string is escaped where it
//! enters the client: printable ASCII stays, the rest becomes `\n`,
//! `\u{1b}` and the like. Names that identify the agent (its name and
//! zone) are compared with its certificate instead, and not touched here.

use serialmesh_pki::untrusted;
use serialmesh_proto::{CloseReason, DeviceState, Frame, Inventory};

/// `frame` with its text safe to show.
pub fn frame(frame: Frame) -> Frame {
    match frame {
        Frame::Hello(mut h) => {
            h.software = untrusted(&h.software);
            Frame::Hello(h)
        }
        Frame::Inventory(inv) => Frame::Inventory(inventory(inv)),
        Frame::Opened(mut o) => {
            o.device = untrusted(&o.device);
            o.serial = o.serial.map(|s| untrusted(&s));
            Frame::Opened(o)
        }
        Frame::Close(r) => Frame::Close(reason(r)),
        other => other,
    }
}

/// `r` with its message and holder safe to show.
pub fn reason(mut r: CloseReason) -> CloseReason {
    r.message = untrusted(&r.message);
    r.holder = r.holder.map(|h| untrusted(&h));
    r
}

fn inventory(mut inv: Inventory) -> Inventory {
    for d in &mut inv.devices {
        for text in [&mut d.name, &mut d.address, &mut d.path] {
            *text = untrusted(text);
        }
        for text in [&mut d.profile, &mut d.usb_id, &mut d.serial, &mut d.product]
            .into_iter()
            .flatten()
        {
            *text = untrusted(text);
        }
        if let DeviceState::InUse { client, .. } = &mut d.state {
            *client = untrusted(client);
        }
    }
    inv
}

#[cfg(test)]
mod tests {
    use super::*;
    use serialmesh_proto::CloseReasonKind;

    #[test]
    fn a_close_reason_cannot_forge_a_log_line_or_drive_a_terminal() {
        let forged = CloseReason::busy(
            "gw\u{1b}[2J",
            "busy\n2026-12-06T00:00:00Z  INFO tunnel up agent=shed",
        );
        let safe = reason(forged);
        assert_eq!(safe.kind, CloseReasonKind::Busy);
        assert_eq!(
            safe.message,
            "busy\\n2026-12-06T00:00:00Z  INFO tunnel up agent=shed"
        );
        assert_eq!(safe.holder.as_deref(), Some("gw\\u{1b}[2J"));
    }
}
