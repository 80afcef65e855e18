//! The series every serialmesh process exports whatever it does: what it
//! is (`serialmesh_build_info`) and what it costs (the standard `process_*`
//! series, read from /proc/self at scrape time).
//!
//! The `process_*` names and units are the ones Prometheus' own clients
//! export, so node dashboards and alerts written for them work here.
//! Linux only, as the agent is: elsewhere the files are missing and the
//! series are simply not updated.

use crate::{Kind, Metrics};

/// The commit the binary was built from (observe/build.rs).
pub const GIT_COMMIT: &str = env!("SERIALMESH_GIT_COMMIT");
/// The workspace version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

impl Metrics {
    /// A registry with build info for `binary` and the process series.
    pub fn for_process(binary: &'static str) -> Self {
        let m = Metrics::default();
        m.describe(
            "serialmesh_build_info",
            Kind::Gauge,
            "Always 1; the labels say which binary, version and git commit runs",
        );
        m.set_info(
            "serialmesh_build_info",
            &[("binary", binary)],
            &[("version", VERSION), ("commit", GIT_COMMIT)],
        );
        describe_process(&m);
        let cpu = m.float("process_cpu_seconds_total", Kind::Counter, &[]);
        let start = m.float("process_start_time_seconds", Kind::Gauge, &[]);
        let rss = m.float("process_resident_memory_bytes", Kind::Gauge, &[]);
        let vsize = m.float("process_virtual_memory_bytes", Kind::Gauge, &[]);
        let fds = m.gauge("process_open_fds", &[]);
        let max_fds = m.gauge("process_max_fds", &[]);
        if let Some(s) = Stat::read() {
            start.set(s.start_time);
        }
        m.on_render(move |_| {
            if let Some(s) = Stat::read() {
                cpu.set(s.cpu_seconds);
                rss.set(s.rss_bytes);
                vsize.set(s.vsize_bytes);
            }
            if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
                fds.set(dir.count() as i64);
            }
            if let Some(n) = max_open_files() {
                max_fds.set(n);
            }
        });
        m
    }
}

fn describe_process(m: &Metrics) {
    for (name, kind, help) in [
        (
            "process_cpu_seconds_total",
            Kind::Counter,
            "User and system CPU time spent, in seconds",
        ),
        (
            "process_start_time_seconds",
            Kind::Gauge,
            "Start time of the process since the Unix epoch, in seconds",
        ),
        (
            "process_resident_memory_bytes",
            Kind::Gauge,
            "Resident memory size, in bytes",
        ),
        (
            "process_virtual_memory_bytes",
            Kind::Gauge,
            "Virtual memory size, in bytes",
        ),
        ("process_open_fds", Kind::Gauge, "Open file descriptors"),
        (
            "process_max_fds",
            Kind::Gauge,
            "The soft limit on open file descriptors",
        ),
    ] {
        m.describe(name, kind, help);
    }
}

struct Stat {
    cpu_seconds: f64,
    start_time: f64,
    rss_bytes: f64,
    vsize_bytes: f64,
}

impl Stat {
    fn read() -> Option<Self> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        parse_stat(&stat, clock_ticks()?, page_size()?, boot_time()?)
    }
}

/// proc(5): fields after the command name, which is in parentheses and
/// may itself contain spaces and parentheses, hence the last `)`.
fn parse_stat(stat: &str, ticks: f64, page: f64, boot: f64) -> Option<Stat> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // f[0] is field 3 (state): field n is f[n - 3].
    let num = |n: usize| f.get(n - 3)?.parse::<f64>().ok();
    Some(Stat {
        cpu_seconds: (num(14)? + num(15)?) / ticks,
        start_time: boot + num(22)? / ticks,
        vsize_bytes: num(23)?,
        rss_bytes: num(24)? * page,
    })
}

fn boot_time() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    stat.lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()
}

fn max_open_files() -> Option<i64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn clock_ticks() -> Option<f64> {
    // SAFETY: sysconf takes an integer and returns one; it touches no
    // memory of ours.
    let n = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (n > 0).then_some(n as f64)
}

fn page_size() -> Option<f64> {
    // SAFETY: as for clock_ticks.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    (n > 0).then_some(n as f64)
}

/// Seconds since the epoch, for tests comparing start times.
#[cfg(test)]
fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_name_with_spaces_and_parentheses_does_not_shift_the_fields() {
        // pid (comm) state ppid ... utime(14)=250 stime(15)=50 ... starttime(22)=1000 vsize(23) rss(24)
        let mut fields: Vec<String> = (3..=30).map(|n| n.to_string()).collect();
        fields[14 - 3] = "250".into();
        fields[15 - 3] = "50".into();
        fields[22 - 3] = "1000".into();
        fields[23 - 3] = "8192000".into();
        fields[24 - 3] = "10".into();
        let stat = format!("42 (a) b (c)) {}", fields.join(" "));
        let s = parse_stat(&stat, 100.0, 4096.0, 1_700_000_000.0).unwrap();
        assert_eq!(s.cpu_seconds, 3.0);
        assert_eq!(s.start_time, 1_700_000_010.0);
        assert_eq!(s.vsize_bytes, 8_192_000.0);
        assert_eq!(s.rss_bytes, 40_960.0);
    }

    #[test]
    fn this_process_reads_as_started_in_the_past_with_memory_and_files_open() {
        let s = Stat::read().expect("/proc/self/stat");
        assert!(s.start_time > 1_600_000_000.0 && s.start_time <= now() + 1.0);
        assert!(s.rss_bytes > 0.0);
        let text = Metrics::for_process("test").render();
        assert!(text.contains("serialmesh_build_info{binary=\"test\","));
        assert!(text.contains("process_open_fds "));
        assert!(!text.contains("process_open_fds 0\n"));
    }
}
