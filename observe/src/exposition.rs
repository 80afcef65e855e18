//! The Prometheus text exposition format, version 0.0.4.
//!
//! One malformed line makes Prometheus reject the whole scrape, so every
//! label value and help text goes through the escapes here.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::metrics::{Family, LabelSet, Value};
use crate::sampled::Histogram;

/// Families in name order, series in label order, so consecutive scrapes
/// diff cleanly. Families without series are left out.
pub(crate) fn render(families: &BTreeMap<&'static str, Family>) -> String {
    let mut out = String::new();
    for (name, family) in families {
        if family.series.is_empty() {
            continue;
        }
        if let Some(help) = family.help {
            out.push_str("# HELP ");
            out.push_str(name);
            out.push(' ');
            escape_into(&mut out, help, false);
            out.push('\n');
        }
        out.push_str("# TYPE ");
        out.push_str(name);
        out.push(' ');
        out.push_str(family.kind.as_str());
        out.push('\n');
        for (labels, value) in &family.series {
            if let Value::Histogram(h) = value {
                render_histogram(&mut out, name, labels, h);
                continue;
            }
            out.push_str(name);
            let extra: &[(&'static str, String)] = match value {
                Value::Info(extra) => extra,
                _ => &[],
            };
            write_labels(&mut out, labels.iter().chain(extra));
            // Writing to a String cannot fail.
            let _ = match value {
                Value::Counter(c) => writeln!(out, " {}", c.get()),
                Value::Gauge(g) => writeln!(out, " {}", g.get()),
                Value::Info(_) => writeln!(out, " 1"),
                Value::Float(f) => writeln!(out, " {}", float(f.get())),
                Value::Histogram(_) => unreachable!("rendered above"),
            };
        }
    }
    out
}

/// `name_bucket{...,le="B"}` cumulative per bound and `+Inf`, then
/// `name_sum` and `name_count`.
fn render_histogram(out: &mut String, name: &str, labels: &LabelSet, h: &Histogram) {
    let snap = h.snapshot();
    let les = snap
        .cumulative
        .iter()
        .map(|&(bound, n)| (float(bound), n))
        .chain(std::iter::once(("+Inf".to_owned(), snap.count)));
    for (le, n) in les {
        out.push_str(name);
        out.push_str("_bucket");
        let le = [("le", le)];
        write_labels(out, labels.iter().chain(le.iter()));
        let _ = writeln!(out, " {n}");
    }
    for (suffix, v) in [
        ("_sum", float(snap.sum)),
        ("_count", snap.count.to_string()),
    ] {
        out.push_str(name);
        out.push_str(suffix);
        write_labels(out, labels.iter());
        let _ = writeln!(out, " {v}");
    }
}

/// Rust writes infinities as `inf`; the format wants `+Inf`/`-Inf`.
fn float(v: f64) -> String {
    if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else if v.is_nan() {
        "NaN".to_owned()
    } else {
        v.to_string()
    }
}

fn write_labels<'a>(out: &mut String, labels: impl Iterator<Item = &'a (&'static str, String)>) {
    let mut first = true;
    for (name, value) in labels {
        out.push(if first { '{' } else { ',' });
        first = false;
        out.push_str(name);
        out.push_str("=\"");
        escape_into(out, value, true);
        out.push('"');
    }
    if !first {
        out.push('}');
    }
}

/// Backslash and newline are escaped everywhere; the double quote only
/// inside label values (the format leaves it literal in help text).
fn escape_into(out: &mut String, s: &str, quote: bool) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if quote => out.push_str("\\\""),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::escape_into;

    fn escaped(s: &str, quote: bool) -> String {
        let mut out = String::new();
        escape_into(&mut out, s, quote);
        out
    }

    #[test]
    fn label_values_escape_backslash_quote_and_newline() {
        assert_eq!(escaped("a\\b\"c\nd", true), "a\\\\b\\\"c\\nd");
    }

    #[test]
    fn a_histogram_renders_cumulative_buckets_sum_and_count() {
        let m = crate::Metrics::default();
        static BOUNDS: &[f64] = &[0.5, 2.0];
        let h = m.histogram("wait_seconds", &[("endpoint", "z")], BOUNDS);
        h.observe(0.25);
        h.observe(1.0);
        h.observe(3.0);
        assert_eq!(
            m.render(),
            "# TYPE wait_seconds histogram\n\
             wait_seconds_bucket{endpoint=\"z\",le=\"0.5\"} 1\n\
             wait_seconds_bucket{endpoint=\"z\",le=\"2\"} 2\n\
             wait_seconds_bucket{endpoint=\"z\",le=\"+Inf\"} 3\n\
             wait_seconds_sum{endpoint=\"z\"} 4.25\n\
             wait_seconds_count{endpoint=\"z\"} 3\n"
        );
    }

    #[test]
    fn help_text_keeps_quotes_literal() {
        assert_eq!(escaped("say \"hi\"\n\\", false), "say \"hi\"\\n\\\\");
    }
}
