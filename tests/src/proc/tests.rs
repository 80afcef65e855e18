use std::time::{Duration, Instant};

use super::*;

const T: Duration = Duration::from_secs(20);

fn sh(script: &str) -> ChildGuard {
    ProcBuilder::new("/bin/sh")
        .arg("-c")
        .arg(script)
        .label("sh")
        .spawn()
}

fn alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

#[test]
fn wait_for_output_returns_the_matching_line() {
    let child = sh("echo starting; echo 'listening on 127.0.0.1:9' >&2; sleep 30");
    let line = child.wait_for_output("listening on", T).unwrap();
    assert_eq!(line, "listening on 127.0.0.1:9");
    // stdout and stderr are read by separate threads: order across them is
    // not guaranteed, so wait for the other line too.
    child.wait_for_output("starting", T).unwrap();
    assert_eq!(child.stdout(), "starting\n");
    assert_eq!(child.stderr(), "listening on 127.0.0.1:9\n");
    assert!(child.output().contains("starting\n"));
}

#[test]
fn wait_for_output_after_mark_ignores_earlier_lines() {
    let child = sh("echo tick 1; sleep 0.3; echo tick 2; sleep 30");
    assert_eq!(child.wait_for_output("tick", T).unwrap(), "tick 1");
    let mark = child.mark();
    assert_eq!(
        child.wait_for_output_after(mark, "tick", T).unwrap(),
        "tick 2"
    );
    let err = child
        .wait_for_output_after(child.mark(), "tick", Duration::from_millis(100))
        .unwrap_err();
    assert!(
        err.contains("not seen within") && err.contains("tick 1\ntick 2\n"),
        "{err}"
    );
}

#[test]
fn wait_for_output_fails_fast_with_whole_output_when_process_exits() {
    let child = sh("echo config error: no such file >&2; exit 2");
    let start = Instant::now();
    let err = child.wait_for_output("never printed", T).unwrap_err();
    assert!(start.elapsed() < Duration::from_secs(5));
    assert!(err.contains("config error: no such file"), "{err}");
    assert!(err.contains("closed its output"), "{err}");
    assert_eq!(child.wait_exit(T).and_then(|s| s.code()), Some(2));
}

#[test]
fn kill_and_terminate_stop_the_process() {
    let child = sh("sleep 30");
    assert!(child.is_running());
    let status = child.kill().expect("reaped");
    assert_eq!(guard::exit_code(status), 128 + 9);
    assert!(!child.is_running());

    let child = sh("trap 'echo bye; exit 0' TERM; echo ready; while :; do sleep 0.05; done");
    child.wait_for_output("ready", T).unwrap();
    child.terminate();
    assert_eq!(child.wait_exit(T).and_then(|s| s.code()), Some(0));
    child.wait_for_output("bye", T).unwrap();
}

#[test]
fn drop_kills_and_reaps() {
    let child = sh("sleep 30");
    let pid = child.pid();
    assert!(alive(pid));
    drop(child);
    assert!(!alive(pid), "pid {pid} still there after drop");
}

#[test]
fn run_to_end_separates_streams_and_reports_code() {
    let (code, out, err) = run_to_end("/bin/sh", ["-c", "echo out; echo err >&2; exit 3"], T);
    assert_eq!((code, out.as_str(), err.as_str()), (3, "out\n", "err\n"));
}

#[test]
fn env_and_current_dir_reach_the_child() {
    let (code, out, _) = ProcBuilder::new("/bin/sh")
        .args(["-c", "echo $GREETING; pwd"])
        .env("GREETING", "hi")
        .current_dir("/")
        .run_to_end(T);
    assert_eq!((code, out.as_str()), (0, "hi\n/\n"));
}

#[test]
fn faketime_sets_the_wall_clock_without_a_wrapper_process() {
    if FAKETIME_LIBS
        .iter()
        .all(|p| !std::path::Path::new(p).exists())
    {
        eprintln!("libfaketime not installed; skipped");
        return;
    }
    let child = ProcBuilder::new("/bin/sh")
        .args(["-c", "date -u +%Y-%m-%d; echo pid=$$; sleep 30"])
        .faketime(Some("2016-03-01 00:00:00"))
        .spawn();
    child.wait_for_output("2016-03-01", T).unwrap();
    let pid_line = child.wait_for_output("pid=", T).unwrap();
    assert_eq!(
        pid_line,
        format!("pid={}", child.pid()),
        "a wrapper sits in between"
    );
}

#[test]
#[should_panic(expected = "cannot start")]
fn missing_program_panics_with_its_name() {
    ProcBuilder::new("/nonexistent/seriald").spawn();
}
