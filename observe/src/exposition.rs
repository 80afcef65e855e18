//! The Prometheus text exposition format, version 0.0.4.
//!
//! One malformed line makes Prometheus reject the whole scrape, so every
//! label value and help text goes through the escapes here.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::metrics::{Family, Value};

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
            };
        }
    }
    out
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
    fn help_text_keeps_quotes_literal() {
        assert_eq!(escaped("say \"hi\"\n\\", false), "say \"hi\"\\n\\\\");
    }
}
