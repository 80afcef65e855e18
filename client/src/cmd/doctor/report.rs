//! How findings are printed and counted.

use std::fmt::Display;
use std::io::Write;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Ok,
    /// A fact worth seeing that is neither good nor bad.
    Info,
    /// Works, but may bite (or bites something other than serialmesh).
    Warn,
    /// serialmesh will not work until this is fixed.
    Fail,
}

impl Level {
    fn label(self) -> &'static str {
        match self {
            Level::Ok => "OK",
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Fail => "FAIL",
        }
    }
}

/// Findings, printed as they are made (an unreachable agent takes seconds,
/// and the ones before it should be on screen meanwhile).
pub struct Report {
    out: Box<dyn Write + Send>,
    warns: usize,
    fails: usize,
}

impl Report {
    pub fn stdout() -> Report {
        Report {
            out: Box::new(std::io::stdout()),
            warns: 0,
            fails: 0,
        }
    }

    pub fn ok(&mut self, topic: &str, detail: impl Display) {
        self.add(Level::Ok, topic, &detail.to_string(), None);
    }

    pub fn info(&mut self, topic: &str, detail: impl Display) {
        self.add(Level::Info, topic, &detail.to_string(), None);
    }

    pub fn warn(&mut self, topic: &str, detail: impl Display, fix: &str) {
        self.add(Level::Warn, topic, &detail.to_string(), Some(fix));
    }

    pub fn fail(&mut self, topic: &str, detail: impl Display, fix: &str) {
        self.add(Level::Fail, topic, &detail.to_string(), Some(fix));
    }

    pub fn add(&mut self, level: Level, topic: &str, detail: &str, fix: Option<&str>) {
        match level {
            Level::Warn => self.warns += 1,
            Level::Fail => self.fails += 1,
            _ => {}
        }
        // Continuation lines (a config error's hint) are indented under
        // the finding, so every finding starts with its level.
        let detail = detail.trim_end().replace('\n', "\n      ");
        let mut text = format!("{:<4}  {topic}: {detail}\n", level.label());
        if let Some(fix) = fix {
            text.push_str(&format!("      fix: {fix}\n"));
        }
        // A closed stdout (`doctor | head`) must not turn into a panic.
        let _ = self.out.write_all(text.as_bytes());
        let _ = self.out.flush();
    }

    /// Prints the summary; true when nothing FAILed.
    pub fn finish(mut self) -> bool {
        let text = format!(
            "\n{} FAIL, {} WARN{}\n",
            self.fails,
            self.warns,
            if self.fails == 0 {
                ": serialmesh should work from here"
            } else {
                ""
            }
        );
        let _ = self.out.write_all(text.as_bytes());
        let _ = self.out.flush();
        self.fails == 0
    }
}
