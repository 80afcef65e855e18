//! Memory and CPU of relay processes, from /proc.
//!
//! A relay is a process tree: socat forks a child per connection, serialmesh
//! is two processes. Resident memory is summed over the live tree; CPU adds
//! each process's own time and the time of children it already reaped
//! (cutime/cstime), so socat's finished per-connection children still count.

use std::fs;

use anyhow::{Context, Result};

/// Resident memory and CPU time of a set of process trees.
#[derive(Clone, Copy, Debug, Default)]
pub struct Usage {
    /// Sum of VmRSS over every live process in the trees.
    pub rss_kib: u64,
    /// utime + stime (+ reaped children's), in milliseconds, since start.
    pub cpu_ms: f64,
    /// How many processes were alive and counted.
    pub processes: usize,
}

/// Usage of `roots` and all their descendants.
pub fn usage(roots: &[u32]) -> Result<Usage> {
    let ticks = clock_ticks();
    let mut total = Usage::default();
    for &root in roots {
        let root = root as i32;
        let stat = read_stat(root).with_context(|| format!("relay process {root}"))?;
        let rss = read_rss_kib(root).with_context(|| format!("relay process {root}"))?;
        total.add(&stat, rss, ticks);
        // A per-connection child may exit between listing and reading; it
        // then shows up in its parent's cutime/cstime instead.
        for pid in descendants(root) {
            if let (Ok(stat), Ok(rss)) = (read_stat(pid), read_rss_kib(pid)) {
                total.add(&stat, rss, ticks);
            }
        }
    }
    Ok(total)
}

impl Usage {
    fn add(&mut self, stat: &Stat, rss_kib: u64, ticks: u64) {
        let t = stat.utime + stat.stime + stat.cutime + stat.cstime;
        self.cpu_ms += t as f64 * 1000.0 / ticks as f64;
        self.rss_kib += rss_kib;
        self.processes += 1;
    }
}

/// Every live process whose ancestry leads to `pid` (not `pid` itself).
pub fn descendants(pid: i32) -> Vec<i32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let parents: Vec<(i32, i32)> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|p| Some((p, read_stat(p).ok()?.ppid)))
        .collect();
    let mut found = Vec::new();
    let mut frontier = vec![pid];
    while let Some(parent) = frontier.pop() {
        for &(child, ppid) in &parents {
            if ppid == parent && !found.contains(&child) {
                found.push(child);
                frontier.push(child);
            }
        }
    }
    found
}

struct Stat {
    ppid: i32,
    utime: u64,
    stime: u64,
    cutime: u64,
    cstime: u64,
}

fn read_stat(pid: i32) -> Result<Stat> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat"))?;
    parse_stat(&text).with_context(|| format!("unexpected /proc/{pid}/stat: {text}"))
}

/// The command name (field 2) is in parentheses and may hold spaces or
/// parentheses itself, so fields are counted from the last ')'.
fn parse_stat(text: &str) -> Option<Stat> {
    let rest = &text[text.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // f[0] is field 3 (state); field N is f[N - 3].
    let num = |field: usize| f.get(field - 3)?.parse::<u64>().ok();
    Some(Stat {
        ppid: f.get(1)?.parse().ok()?,
        utime: num(14)?,
        stime: num(15)?,
        cutime: num(16)?,
        cstime: num(17)?,
    })
}

fn read_rss_kib(pid: i32) -> Result<u64> {
    let text = fs::read_to_string(format!("/proc/{pid}/status"))?;
    // Zombies have no VmRSS line; they hold no memory.
    Ok(text
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0))
}

fn clock_ticks() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_from_the_last_parenthesis() {
        let line = "42 (a (weird) name) S 7 42 42 0 -1 4194560 100 0 0 0 11 22 33 44 20 0 1 0";
        let s = parse_stat(line).expect("test: parse");
        assert_eq!(
            (s.ppid, s.utime, s.stime, s.cutime, s.cstime),
            (7, 11, 22, 33, 44)
        );
    }

    #[test]
    fn own_process_has_memory() {
        let u = usage(&[std::process::id()]).expect("test: usage of self");
        assert!(u.rss_kib > 0 && u.processes >= 1);
    }
}
