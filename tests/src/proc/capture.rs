//! Collecting a child's stdout and stderr lines in memory as they come.

use std::io::{BufRead, BufReader, Read};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

/// Which pipe a line came from.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Stream {
    Stdout,
    Stderr,
}

struct Line {
    stream: Stream,
    text: String,
}

#[derive(Default)]
struct State {
    lines: Vec<Line>,
    /// Pipes not yet at end of file; 0 means no more output can come.
    open: u8,
}

/// The lines a child printed, in arrival order, shared with the threads
/// that read its pipes.
#[derive(Default)]
pub(crate) struct Capture {
    state: Mutex<State>,
    changed: Condvar,
}

/// Why waiting for a line ended without one.
pub(crate) enum Missing {
    Timeout,
    /// Both pipes closed: the process exited (or closed them).
    Closed,
}

impl Capture {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts a thread reading `pipe` line by line into this capture, each
    /// line also echoed to stderr as `[tag] line`.
    ///
    /// Call it from the test's thread: libtest's output capture is inherited
    /// by threads spawned from there, so the echo shows only when the test
    /// fails (or with `--nocapture`), which is when it is wanted.
    pub fn read_from(
        self: &Arc<Self>,
        pipe: impl Read + Send + 'static,
        stream: Stream,
        tag: String,
    ) {
        self.lock().open += 1;
        let me = Arc::clone(self);
        let spawned = thread::Builder::new()
            .name(format!("capture {tag}"))
            .spawn(move || {
                let mut reader = BufReader::new(pipe);
                let mut raw = Vec::new();
                loop {
                    raw.clear();
                    match reader.read_until(b'\n', &mut raw) {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {
                            let text = clean(&raw);
                            eprintln!("[{tag}] {text}");
                            me.lock().lines.push(Line { stream, text });
                            me.changed.notify_all();
                        }
                    }
                }
                me.lock().open -= 1;
                me.changed.notify_all();
            });
        if spawned.is_err() {
            self.lock().open -= 1;
        }
    }

    /// Number of lines so far; a mark for [`Capture::wait_for`].
    pub fn len(&self) -> usize {
        self.lock().lines.len()
    }

    /// Lines so far, from `stream` or from both, joined with newlines.
    pub fn text(&self, stream: Option<Stream>) -> String {
        let state = self.lock();
        let mut out = String::new();
        for line in &state.lines {
            if stream.is_none() || stream == Some(line.stream) {
                out.push_str(&line.text);
                out.push('\n');
            }
        }
        out
    }

    /// The first line at index `from` or later that contains `needle`.
    pub fn wait_for(
        &self,
        from: usize,
        needle: &str,
        timeout: Duration,
    ) -> Result<String, Missing> {
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        let mut next = from;
        loop {
            if let Some(line) = state
                .lines
                .iter()
                .skip(next)
                .find(|l| l.text.contains(needle))
            {
                return Ok(line.text.clone());
            }
            next = next.max(state.lines.len());
            if state.open == 0 {
                return Err(Missing::Closed);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Missing::Timeout);
            }
            state = self
                .changed
                .wait_timeout(state, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Waits until both pipes are at end of file; false on timeout.
    pub fn wait_closed(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        while state.open > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            state = self
                .changed
                .wait_timeout(state, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }
}

/// A line as text: lossy UTF-8, without the line ending or ANSI colour
/// codes (so `wait_for` needles match even if a binary decides to colour).
fn clean(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let text = text.trim_end_matches(['\n', '\r']);
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' && chars.peek() == Some(&'[') {
            // CSI sequence: ESC [ parameters... final byte in @..~
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) && c != '[' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::clean;

    #[test]
    fn clean_strips_colour_and_line_end() {
        assert_eq!(
            clean(b"\x1b[2m2024\x1b[0m \x1b[32m INFO\x1b[0m up\r\n"),
            "2024  INFO up"
        );
        assert_eq!(clean(b"plain"), "plain");
    }
}
