//! A Prometheus scrape of a real binary's admin endpoint, parsed into
//! samples, and what the tests ask of it: a series' value, the metric
//! names it exports, and what `promtool` says about it.
//!
//! The parser reads the text format the binaries write (0.0.4: one sample
//! per line, `name{label="value",...} value`), label values escaped with
//! `\\`, `\"` and `\n`; it panics on anything else, so a malformed scrape
//! fails the test that read it.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::process::{Command, Stdio};

use crate::http::http_get;
use crate::tools::require;

#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

pub struct Scrape {
    pub text: String,
    pub samples: Vec<Sample>,
    /// Family name to its `# TYPE`.
    pub types: BTreeMap<String, String>,
}

impl Scrape {
    /// `GET /metrics` on 127.0.0.1:`port`.
    ///
    /// # Panics
    /// On a status other than 200 or a line that does not parse.
    pub fn of(port: u16) -> Scrape {
        let (code, text) = http_get(port, "/metrics");
        assert_eq!(code, 200, "/metrics: {text}");
        Scrape::parse(text)
    }

    pub fn parse(text: String) -> Scrape {
        let mut samples = Vec::new();
        let mut types = BTreeMap::new();
        for line in text.lines() {
            if let Some(t) = line.strip_prefix("# TYPE ") {
                let (name, kind) = t.split_once(' ').expect("# TYPE name kind");
                types.insert(name.to_owned(), kind.to_owned());
            } else if !line.starts_with('#') && !line.is_empty() {
                samples.push(parse_sample(line));
            }
        }
        Scrape {
            text,
            samples,
            types,
        }
    }

    /// The value of the one sample `name` whose labels include `labels`.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let found: Vec<&Sample> = self.matching(name, labels).collect();
        assert!(found.len() <= 1, "{name}{labels:?} is ambiguous: {found:?}");
        found.first().map(|s| s.value)
    }

    pub fn matching<'a>(
        &'a self,
        name: &'a str,
        labels: &'a [(&str, &str)],
    ) -> impl Iterator<Item = &'a Sample> + 'a {
        self.samples.iter().filter(move |s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
    }

    /// Every metric name a query may use: the families, and for a
    /// histogram its `_bucket`, `_sum` and `_count` series.
    pub fn names(&self) -> BTreeSet<String> {
        let mut names: BTreeSet<String> = self.samples.iter().map(|s| s.name.clone()).collect();
        names.extend(self.types.keys().cloned());
        names
    }

    /// Each series as `name{labels}` without its value: what grows when
    /// label values do.
    pub fn series(&self) -> BTreeSet<String> {
        self.samples
            .iter()
            .map(|s| format!("{}{:?}", s.name, s.labels))
            .collect()
    }
}

fn parse_sample(line: &str) -> Sample {
    let bad = || -> ! { panic!("malformed sample line: {line:?}") };
    let name_end = line.find(['{', ' ']).unwrap_or_else(|| bad());
    let name = line[..name_end].to_owned();
    let mut labels = BTreeMap::new();
    let mut rest = &line[name_end..];
    if let Some(mut l) = rest.strip_prefix('{') {
        loop {
            if let Some(after) = l.strip_prefix('}') {
                rest = after;
                break;
            }
            let (key, after) = l.split_once("=\"").unwrap_or_else(|| bad());
            let mut value = String::new();
            let mut chars = after.char_indices();
            let end = loop {
                match chars.next() {
                    Some((_, '\\')) => match chars.next() {
                        Some((_, 'n')) => value.push('\n'),
                        Some((_, c @ ('\\' | '"'))) => value.push(c),
                        _ => bad(),
                    },
                    Some((i, '"')) => break i,
                    Some((_, c)) => value.push(c),
                    None => bad(),
                }
            };
            labels.insert(key.to_owned(), value);
            l = &after[end + 1..];
            l = l.strip_prefix(',').unwrap_or(l);
        }
    }
    let value = match rest.trim() {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().unwrap_or_else(|_| bad()),
    };
    Sample {
        name,
        labels,
        value,
    }
}

/// The metric names a PromQL expression selects: identifiers that are not
/// functions, keywords, label names (in `{...}` matchers or the lists of
/// `by`, `without`, `on`, `ignoring`, `group_left`, `group_right`),
/// strings, durations, numbers or Grafana variables (`$__rate_interval`).
pub fn promql_metrics(expr: &str) -> BTreeSet<String> {
    const GROUPING: &[&str] = &[
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
    ];
    // Aggregations may be followed by `by (...)` rather than `(`.
    const KEYWORDS: &[&str] = &[
        "bool",
        "and",
        "or",
        "unless",
        "offset",
        "inf",
        "nan",
        "sum",
        "min",
        "max",
        "avg",
        "group",
        "stddev",
        "stdvar",
        "count",
        "count_values",
        "bottomk",
        "topk",
        "quantile",
    ];
    let c: Vec<char> = expr.chars().collect();
    let ident = |ch: char| ch.is_ascii_alphanumeric() || ch == '_' || ch == ':';
    // The index just past the bracket closing the one at `i`, skipping
    // quoted strings inside.
    let close = |mut i: usize, end: char| {
        while i < c.len() && c[i] != end {
            if c[i] == '"' || c[i] == '\'' {
                let q = c[i];
                i += 1;
                while i < c.len() && c[i] != q {
                    i += if c[i] == '\\' { 2 } else { 1 };
                }
            }
            i += 1;
        }
        i + 1
    };
    let mut names = BTreeSet::new();
    let mut i = 0;
    while i < c.len() {
        match c[i] {
            '"' | '\'' => i = close(i + 1, c[i]),
            '{' => i = close(i + 1, '}'),
            '[' => i = close(i + 1, ']'),
            '$' => {
                i += 1;
                while i < c.len() && ident(c[i]) {
                    i += 1;
                }
            }
            ch if ch.is_ascii_digit() || ch == '.' => {
                while i < c.len() && (ident(c[i]) || c[i] == '.') {
                    i += 1;
                }
            }
            ch if ident(ch) => {
                let start = i;
                while i < c.len() && ident(c[i]) {
                    i += 1;
                }
                let word: String = c[start..i].iter().collect();
                let mut next = i;
                while next < c.len() && c[next].is_whitespace() {
                    next += 1;
                }
                let call = c.get(next) == Some(&'(');
                if GROUPING.contains(&word.as_str()) {
                    if call {
                        i = close(next + 1, ')');
                    }
                } else if !call && !KEYWORDS.contains(&word.to_ascii_lowercase().as_str()) {
                    names.insert(word);
                }
            }
            _ => i += 1,
        }
    }
    names
}

/// `promtool` (Debian package `prometheus`; scripts/install-test-deps.sh).
pub fn promtool() -> std::path::PathBuf {
    require("promtool", "apt-get install prometheus")
}

/// `promtool ARGS` with `stdin` fed in: exit code and both outputs.
pub fn promtool_run(args: &[&str], stdin: &str) -> (i32, String) {
    let mut child = Command::new(promtool())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_with_escaped_label_values_parse() {
        let s = Scrape::parse(
            "# TYPE a counter\na{x=\"q\\\"\\n\\\\\",y=\"2\"} 3\nb 1.5\nc_bucket{le=\"+Inf\"} 4\n"
                .into(),
        );
        assert_eq!(s.value("a", &[("x", "q\"\n\\")]), Some(3.0));
        assert_eq!(s.value("b", &[]), Some(1.5));
        assert_eq!(s.value("c_bucket", &[("le", "+Inf")]), Some(4.0));
        assert!(s.names().contains("a"));
    }

    #[test]
    fn promql_metrics_are_the_selected_names_only() {
        let names = |e: &str| -> Vec<String> { promql_metrics(e).into_iter().collect() };
        assert_eq!(
            names("histogram_quantile(0.95, sum by (le, endpoint) (rate(x_bucket{a=\"b}\",le!=\"1\"}[$__rate_interval])))"),
            ["x_bucket"]
        );
        assert_eq!(
            names("(max_over_time(a[1d]) == 1) unless on (instance, device) (b == 1) and on(instance) up offset 5m"),
            ["a", "b", "up"]
        );
        assert_eq!(
            names("rate(c_total[5m]) * on (job) group_left (binary) info"),
            ["c_total", "info"]
        );
        assert_eq!(names("time() - 1e3"), Vec::<String>::new());
    }
}
