//! Text from certificates nobody has verified, made safe for log lines.
//!
//! A refused certificate's subject and issuer are chosen by whoever made
//! it. In the text log format a newline there starts what looks like a
//! new log line (a forged "accepted client certificate", say), and other
//! control characters can rewrite a terminal. Such text is logged only
//! through [`untrusted`], which keeps printable ASCII and escapes the rest.

/// `s` with every character outside printable ASCII (and the backslash
/// that escapes start with) written as a Rust escape (`\n`, `\u{202e}`).
pub fn untrusted(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c == '\\' || !(c == ' ' || c.is_ascii_graphic()) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::untrusted;

    #[test]
    fn printable_ascii_is_kept() {
        assert_eq!(untrusted("CN=gw-1, O=home"), "CN=gw-1, O=home");
    }

    #[test]
    fn newlines_and_controls_are_escaped_so_no_line_can_be_forged() {
        let forged = "CN=x\n2026-01-01T00:00:00Z  INFO accepted client certificate\x1b[2K";
        let safe = untrusted(forged);
        assert!(!safe.contains('\n') && !safe.contains('\x1b'), "{safe}");
        assert!(safe.starts_with("CN=x\\n2026"), "{safe}");
        assert!(safe.ends_with("\\u{1b}[2K"), "{safe}");
    }

    #[test]
    fn non_ascii_and_backslashes_are_escaped() {
        assert_eq!(untrusted("a\u{202e}b\\"), "a\\u{202e}b\\\\");
    }
}
