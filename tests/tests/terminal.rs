//! Output on a terminal: log lines are coloured for people, and not at all
//! when `NO_COLOR` is set (no-color.org), as clap's own messages already
//! are. The terminal is a real pseudo-terminal, made by util-linux
//! `script`.

use std::time::Duration;

use serialmesh_tests::util::temp_dir;
use serialmesh_tests::{bins, AgentBuilder, ChildGuard, EchoDevice, Pki, ProcBuilder};

const T: Duration = Duration::from_secs(20);

/// `seriald --config CONFIG` with its stderr on a terminal, `NO_COLOR`
/// unset or set to `no_color`, until it listens: every byte it wrote
/// there (the rig's own capture strips colours, so `script`'s typescript
/// file is read instead).
fn seriald_on_a_terminal(config: &std::path::Path, no_color: Option<&str>) -> String {
    let env = match no_color {
        None => "env -u NO_COLOR".to_string(),
        Some(v) => format!("env NO_COLOR='{v}'"),
    };
    // `timeout` ends it (SIGTERM, a graceful stop): killing `script`
    // would leave it running, since a hang-up only makes it reload.
    let command = format!(
        "{env} timeout 2 {} --config {}",
        bins::seriald().display(),
        config.display()
    );
    let dir = temp_dir();
    let typescript = dir.path().join("typescript");
    let agent: ChildGuard = ProcBuilder::new("script")
        .args(["-qfc", &command])
        .arg(&typescript)
        .label("seriald-on-a-tty")
        .spawn();
    agent.wait_for_output("listening on", T).unwrap();
    agent.wait_exit(T).expect("seriald stopped by timeout");
    String::from_utf8_lossy(&std::fs::read(&typescript).unwrap()).into_owned()
}

#[test]
fn log_lines_on_a_terminal_are_coloured_unless_no_color_is_set() {
    let pki = Pki::new();
    let device = EchoDevice::start();
    let agent = AgentBuilder::new(&pki, "shed")
        .device("zwave", device.path())
        .start();
    let config = agent.config_path().to_path_buf();
    agent.kill();
    let _ = agent.wait_exit(T);

    let coloured = seriald_on_a_terminal(&config, None);
    assert!(
        coloured.contains("\u{1b}["),
        "no colour on a terminal:\n{coloured}"
    );
    // An empty NO_COLOR does not count (no-color.org).
    let empty = seriald_on_a_terminal(&config, Some(""));
    assert!(empty.contains("\u{1b}["), "{empty}");
    let plain = seriald_on_a_terminal(&config, Some("1"));
    assert!(
        !plain.contains('\u{1b}'),
        "colour despite NO_COLOR:\n{plain:?}"
    );
    assert!(plain.contains("listening on"), "{plain}");
}
