//! `seriald devices [--sysfs DIR] [--json | --pins]`: what discovery finds,
//! which profile matched (or why none did) and the name each device would
//! be shared under, then a `[[profile]]` pin for each (`--pins`: only the
//! pins, as TOML to append to the agent config; see devices_pins.rs).
//! Reads the tree once and exits; shares nothing.
//!
//! `--json` prints an array with one object per port:
//!
//! | field | meaning |
//! | --- | --- |
//! | `tty` | kernel name, `"ttyUSB0"` |
//! | `node`, `node_exists` | device node path, and whether it exists |
//! | `by_id` | `/dev/serial/by-id/...` link, or `null` |
//! | `usb_id`, `vid`, `pid` | `"10c4:ea60"`, `"10c4"`, `"ea60"`; `null` for non-USB ports |
//! | `serial`, `manufacturer`, `product` | USB strings, or `null` |
//! | `interface` | USB interface number, or `null` |
//! | `port_path` | USB port chain, `"1-1.4"`, or `null` |
//! | `identity` | what stays the same across replug, `"10c4:ea60:SERIAL"` |
//! | `profile` | matched profile id (`"user-1"`, `"ha-skyconnect"`), or `null` |
//! | `why_unmatched` | why no profile matched, or `null` |
//! | `name` | share name, or `null` when not shared |
//! | `refused` | why it is not shared under the name it wants (another device wants it too, or a `[[device]]` has it), or `null` |
//! | `pin` | a `[[profile]]` table pinning it to its bare name, or `null` |
//! | `why_no_pin` | when `pin` is `null`: already pinned, or why it cannot be |
//! | `line` | line settings in short form, `"115200 8N1 rts/cts"` |
//! | `settings` | the same as an object: `baud`, `data_bits`, `parity`, `stop_bits`, `flow_control`, and `dtr`/`rts` when set |
//! | `takeover` | whether another client may take the device over |

use std::io::{self, Write};

use serde_json::{json, Value};
use serialmesh_agent::usb::{looks_like_sysfs, scan, DiscoveryConfig, Found, Namer};

use crate::devices_pins::{pins, Pin};

/// How to print the listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    /// Only the `[[profile]]` pins: a TOML document.
    Pins,
}

/// Runs the command. `reserved` are the static `[[device]]` names, so the
/// names printed are the ones the agent would use. `Err` is a usage
/// problem, worded for the user (exit status 2).
pub fn run(
    cfg: &DiscoveryConfig,
    reserved: &[String],
    format: Format,
    out: &mut impl Write,
) -> Result<(), String> {
    if !cfg.sysfs.is_dir() {
        return Err(format!(
            "sysfs directory {} does not exist; pass --sysfs DIR with the directory sysfs is mounted on (normally /sys)",
            cfg.sysfs.display()
        ));
    }
    if !looks_like_sysfs(&cfg.sysfs) {
        return Err(format!(
            "{} is not a sysfs tree (it has no class/tty); pass --sysfs DIR with the directory sysfs is mounted on (normally /sys)",
            cfg.sysfs.display()
        ));
    }
    let mut namer = Namer::new();
    for name in reserved {
        namer.reserve(name);
    }
    let found = scan(cfg, &mut namer);
    let pins = pins(&found, reserved);
    let written = match format {
        Format::Json => write_json(&found, &pins, out),
        Format::Table => {
            write_table(&found, cfg, out).and_then(|()| write_pins(&found, &pins, out))
        }
        Format::Pins => write_pins(&found, &pins, out),
    };
    // A closed pipe (`| head`) is not the user's mistake worth exit 2.
    match written {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
            Err(format!("cannot write the listing: {e}"))
        }
        _ => Ok(()),
    }
}

fn write_json(found: &[Found], pins: &[Pin], out: &mut impl Write) -> io::Result<()> {
    let list: Vec<Value> = found
        .iter()
        .zip(pins)
        .map(|(f, pin)| {
            let mut v = to_json(f);
            let (text, why) = match pin {
                Pin::Profile(t) => (Some(t.clone()), None),
                Pin::Already(id) => (None, Some(format!("already pinned by {id}"))),
                Pin::Impossible(why) => (None, Some(why.clone())),
            };
            v["pin"] = json!(text);
            v["why_no_pin"] = json!(why);
            v
        })
        .collect();
    serde_json::to_writer_pretty(&mut *out, &list)?;
    writeln!(out)
}

fn to_json(f: &Found) -> Value {
    let usb = f.usb.as_ref();
    json!({
        "tty": f.tty,
        "node": f.node.display().to_string(),
        "node_exists": f.node_exists,
        "by_id": f.by_id.as_ref().map(|p| p.display().to_string()),
        "usb_id": usb.map(|u| u.usb_id()),
        "vid": usb.map(|u| format!("{:04x}", u.vid)),
        "pid": usb.map(|u| format!("{:04x}", u.pid)),
        "serial": usb.and_then(|u| u.serial.clone()),
        "manufacturer": usb.and_then(|u| u.manufacturer.clone()),
        "product": usb.and_then(|u| u.product.clone()),
        "interface": usb.and_then(|u| u.interface),
        "port_path": usb.map(|u| u.port_path.clone()),
        "identity": f.identity,
        "profile": f.profile,
        "why_unmatched": f.why_unmatched,
        "name": f.name,
        "refused": f.refused.as_ref().map(|r| r.to_string()),
        "line": f.settings.to_string(),
        "settings": serde_json::to_value(f.settings).unwrap_or(Value::Null),
        "takeover": f.takeover,
    })
}

/// NAME before PROFILE: the why-not text is the one long cell, so it goes
/// last where it can not push the other columns apart.
const HEADER: [&str; 8] = [
    "NODE",
    "BY-ID",
    "USB ID",
    "SERIAL",
    "PRODUCT",
    "IF",
    "NAME",
    "PROFILE / WHY NONE",
];

fn write_table(found: &[Found], cfg: &DiscoveryConfig, out: &mut impl Write) -> io::Result<()> {
    if found.is_empty() {
        return writeln!(
            out,
            "no serial devices found in {}",
            cfg.sysfs.join("class/tty").display()
        );
    }
    let rows: Vec<[String; 8]> = found.iter().map(row).collect();
    let mut widths = HEADER.map(str::len);
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let header = HEADER.map(str::to_owned);
    for r in std::iter::once(&header).chain(&rows) {
        let mut line = String::new();
        for (i, (cell, w)) in r.iter().zip(widths).enumerate() {
            if i + 1 == r.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}  "));
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    for f in found {
        if let Some(refused) = &f.refused {
            writeln!(out, "{}: not shared: {refused}", f.node.display())?;
        }
    }
    Ok(())
}

/// The pins as one TOML document: tables for the devices that can be
/// pinned, comments for the others.
fn write_pins(found: &[Found], pins: &[Pin], out: &mut impl Write) -> io::Result<()> {
    if found.is_empty() {
        return Ok(());
    }
    writeln!(out)?;
    writeln!(
        out,
        "# [[profile]] pins: each keeps its device's bare name for good (names are otherwise NAME-SERIAL);"
    )?;
    writeln!(
        out,
        "# paste them into the agent config before other [[profile]] tables (`seriald devices --pins` prints only these)."
    )?;
    for (f, pin) in found.iter().zip(pins) {
        match pin {
            Pin::Profile(text) => write!(out, "\n{text}")?,
            Pin::Already(id) => writeln!(out, "\n# {}: already pinned by {id}", f.node.display())?,
            Pin::Impossible(why) => {
                writeln!(out, "\n# {}: cannot be pinned: {why}", f.node.display())?
            }
        }
    }
    Ok(())
}

fn row(f: &Found) -> [String; 8] {
    let dash = || "-".to_string();
    let usb = f.usb.as_ref();
    let by_id = f
        .by_id
        .as_ref()
        .and_then(|p| p.file_name())
        .map_or_else(dash, |n| n.to_string_lossy().into_owned());
    let profile = match (&f.profile, &f.why_unmatched) {
        (Some(p), _) => p.clone(),
        (None, Some(why)) => format!("none: {why}"),
        (None, None) => dash(),
    };
    let name = match &f.name {
        Some(n) => n.clone(),
        None if f.refused.is_some() => "- (refused, below)".into(),
        None if !f.node_exists => "- (no device node)".into(),
        None => "- (not shared)".into(),
    };
    [
        f.node.display().to_string(),
        by_id,
        usb.map_or_else(dash, |u| u.usb_id()),
        usb.and_then(|u| u.serial.clone()).unwrap_or_else(dash),
        usb.and_then(|u| u.product.clone()).unwrap_or_else(dash),
        usb.and_then(|u| u.interface)
            .map_or_else(dash, |n| n.to_string()),
        name,
        profile,
    ]
}
