//! ser2net (the Debian package) serving the pty on a raw TCP port, with a
//! YAML config of its own, in the foreground.
//!
//! Two rows: the default, whose character delay waits before forwarding
//! small reads from the device, and `chardelay: false`, its fast setting.

use std::fmt::Write as _;
use std::process::Command;

use anyhow::{Context, Result};

use super::{Running, StartContext, START_TIMEOUT};
use crate::child::ChildGuard;
use crate::conn::Endpoint;
use crate::ports::{free_port, loopback, wait_listening};

pub fn start(cx: &StartContext, no_char_delay: bool) -> Result<Running> {
    let port = free_port()?;
    let mut yaml = String::from("%YAML 1.1\n---\nconnection: &bench\n");
    // nodelay on the accepter, as socat and serialmesh set TCP_NODELAY.
    // `local`: a pty has no modem lines to wait for.
    let _ = writeln!(yaml, "  accepter: tcp(nodelay),127.0.0.1,{port}");
    let _ = writeln!(
        yaml,
        "  connector: serialdev,{},115200n81,local",
        cx.device.display()
    );
    let _ = writeln!(yaml, "  options:");
    // Our sessions follow each other quickly; let a new one replace one
    // ser2net has not finished closing, as serialmesh does.
    let _ = writeln!(yaml, "    kickolduser: true");
    if no_char_delay {
        let _ = writeln!(yaml, "    chardelay: false");
    }
    let config = cx.work.join("ser2net.yaml");
    std::fs::write(&config, yaml).with_context(|| format!("cannot write {}", config.display()))?;

    let mut cmd = Command::new("ser2net");
    // -n/-d: foreground, messages to stdout (our log file); -u: no UUCP
    // lock files in /var/lock; -P: the pid file stays in our temp dir.
    cmd.arg("-n")
        .arg("-d")
        .arg("-u")
        .arg("-P")
        .arg(cx.work.join("ser2net.pid"))
        .arg("-c")
        .arg(&config);
    let name = if no_char_delay {
        "ser2net-nochardelay"
    } else {
        "ser2net-default"
    };
    let mut relay = ChildGuard::spawn(name, cmd, cx.work)?;
    wait_listening(port, &mut [&mut relay], START_TIMEOUT)?;
    Ok(Running {
        endpoint: Endpoint::Tcp(loopback(port)),
        procs: vec![relay],
    })
}
