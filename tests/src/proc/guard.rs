//! A running child process that is killed and reaped when dropped.

use std::net::SocketAddr;
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ExitStatus};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::capture::{Capture, Missing, Stream};
use crate::net;

/// A child process under test, with its output captured.
///
/// Dropping the guard SIGKILLs the process by PID and reaps it, so a
/// panicking test leaves no process behind. The PID can not be reused while
/// we hold it unreaped, so signalling by PID is safe until the guard has
/// seen the exit.
pub struct ChildGuard {
    label: String,
    pid: u32,
    child: Mutex<Child>,
    status: Mutex<Option<ExitStatus>>,
    capture: Arc<Capture>,
}

impl ChildGuard {
    pub(crate) fn new(mut child: Child, label: String) -> ChildGuard {
        let pid = child.id();
        let capture = Arc::new(Capture::default());
        if let Some(out) = child.stdout.take() {
            capture.read_from(out, Stream::Stdout, format!("{label}#{pid} out"));
        }
        if let Some(err) = child.stderr.take() {
            capture.read_from(err, Stream::Stderr, format!("{label}#{pid} err"));
        }
        ChildGuard {
            label,
            pid,
            child: Mutex::new(child),
            status: Mutex::new(None),
            capture,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The label its output lines are echoed with.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Everything it printed so far, stdout and stderr lines interleaved
    /// in arrival order.
    pub fn output(&self) -> String {
        self.capture.text(None)
    }

    /// Its stdout so far.
    pub fn stdout(&self) -> String {
        self.capture.text(Some(Stream::Stdout))
    }

    /// Its stderr so far (where the binaries log).
    pub fn stderr(&self) -> String {
        self.capture.text(Some(Stream::Stderr))
    }

    /// A mark for [`ChildGuard::wait_for_output_after`]: the number of
    /// lines captured so far.
    pub fn mark(&self) -> usize {
        self.capture.len()
    }

    /// Waits for a line containing `needle` (anywhere in the output so far
    /// or to come) and returns that line.
    ///
    /// The error says why (timeout or the process closed its output, with
    /// its exit status) and holds the whole output, so
    /// `.unwrap()`/`.expect()` on it is a useful failure message.
    pub fn wait_for_output(&self, needle: &str, timeout: Duration) -> Result<String, String> {
        self.wait_for_output_after(0, needle, timeout)
    }

    /// Like [`ChildGuard::wait_for_output`], but only lines after `mark`
    /// (from [`ChildGuard::mark`]) count: for an event that happens again.
    pub fn wait_for_output_after(
        &self,
        mark: usize,
        needle: &str,
        timeout: Duration,
    ) -> Result<String, String> {
        match self.capture.wait_for(mark, needle, timeout) {
            Ok(line) => Ok(line),
            Err(Missing::Timeout) => {
                Err(self.failure(&format!("`{needle}` not seen within {timeout:?}")))
            }
            Err(Missing::Closed) => {
                let status = self.wait_exit(Duration::from_secs(2));
                let why =
                    format!("`{needle}` not seen before it closed its output (exit: {status:?})");
                Err(self.failure(&why))
            }
        }
    }

    /// `"<label> (pid N): <what>"` followed by the whole output: the text
    /// to fail a test with.
    pub fn failure(&self, what: &str) -> String {
        format!(
            "{} (pid {}): {what}\n----- output of {} -----\n{}----- end of output -----",
            self.label,
            self.pid,
            self.label,
            self.output()
        )
    }

    /// Sends `signal` unless the process is already reaped.
    pub fn signal(&self, signal: Signal) {
        let status = self.lock_status();
        if status.is_none() {
            // ESRCH is impossible for an unreaped child; nothing to report.
            let _ = kill(Pid::from_raw(self.pid as i32), signal);
        }
    }

    /// SIGKILL, then wait (up to 10 s) until it is gone, so its ports and
    /// devices are free when this returns. Returns its exit status.
    pub fn kill(&self) -> Option<ExitStatus> {
        self.signal(Signal::SIGKILL);
        self.wait_exit(Duration::from_secs(10))
    }

    /// SIGTERM (a graceful shutdown request); returns at once. Follow with
    /// [`ChildGuard::wait_exit`].
    pub fn terminate(&self) {
        self.signal(Signal::SIGTERM);
    }

    /// Its exit status, if it has exited, without waiting.
    pub fn try_exit(&self) -> Option<ExitStatus> {
        let mut status = self.lock_status();
        if status.is_none() {
            let mut child = self.child.lock().unwrap_or_else(|e| e.into_inner());
            *status = child.try_wait().ok().flatten();
        }
        *status
    }

    /// Waits up to `timeout` for the process to exit (reaping it).
    pub fn wait_exit(&self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        let mut pause = Duration::from_millis(1);
        loop {
            if let Some(status) = self.try_exit() {
                // Its last words may still be in the pipes: a test that
                // checks the message right after the exit must see them.
                // (A grandchild holding the pipes open only costs the wait.)
                self.capture.wait_closed(Duration::from_secs(2));
                return Some(status);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            thread::sleep(pause.min(left));
            pause = (pause * 2).min(Duration::from_millis(20));
        }
    }

    /// Whether the process is still running (not exited).
    pub fn is_running(&self) -> bool {
        self.try_exit().is_none()
    }

    /// Waits until this process listens on TCP `port` (its own socket, see
    /// [`crate::net::is_listening_by`]), without connecting to it.
    ///
    /// Fails at once if the process exits first; the error holds the whole
    /// output. Falls back to connecting when `/proc` is unreadable.
    pub fn wait_listening(&self, port: u16, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        let mut pause = Duration::from_millis(1);
        loop {
            if let Some(status) = self.try_exit() {
                self.wait_output_closed(Duration::from_secs(2));
                return Err(self.failure(&format!(
                    "exited ({status}) before listening on port {port}"
                )));
            }
            match net::is_listening_by(self.pid, port) {
                Some(true) => return Ok(()),
                Some(false) => {}
                None => {
                    let addr = SocketAddr::from(([127, 0, 0, 1], port));
                    let left = deadline.saturating_duration_since(Instant::now());
                    return net::wait_for_port(addr, left).map_err(|e| self.failure(&e));
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(
                    self.failure(&format!("not listening on port {port} after {timeout:?}"))
                );
            }
            thread::sleep(pause.min(left));
            pause = (pause * 2).min(Duration::from_millis(20));
        }
    }

    /// Waits until both output pipes are closed; false on timeout.
    pub(crate) fn wait_output_closed(&self, timeout: Duration) -> bool {
        self.capture.wait_closed(timeout)
    }

    fn lock_status(&self) -> MutexGuard<'_, Option<ExitStatus>> {
        self.status.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if self.try_exit().is_some() {
            return;
        }
        self.signal(Signal::SIGKILL);
        let mut child = self.child.lock().unwrap_or_else(|e| e.into_inner());
        // SIGKILL can not be caught: this wait is short.
        if let Ok(status) = child.wait() {
            *self.status.lock().unwrap_or_else(|e| e.into_inner()) = Some(status);
        }
    }
}

/// Exit code as a shell reports it: the code, or 128 + signal number.
pub(crate) fn exit_code(status: ExitStatus) -> i32 {
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(-1)
}
