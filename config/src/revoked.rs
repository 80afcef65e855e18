//! The revoked-keys file: one key fingerprint a line (`spki:` and 64 hex
//! digits, or 32 ':'-separated pairs; or `sha256//BASE64`), `#` starts a
//! comment, blank lines are ignored. A bare 64-digit value (a certificate
//! fingerprint, from before fingerprints named keys) is an error that says
//! how to convert it, never an entry that silently matches nothing. `serialctl pki revoke` writes it; agents read it to refuse
//! clients, clients to refuse agents.

use std::path::Path;

use serialmesh_pki::Fingerprint;
use toml::Spanned;

use crate::load::Ctx;

use crate::authz::REVOKE_HINT;
use crate::ConfigError;

/// Reads and parses a revoked file.
pub fn load_revoked(path: &Path) -> Result<Vec<Fingerprint>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Revoked {
        path: path.to_path_buf(),
        source,
    })?;
    parse_revoked(&text, path)
}

/// Parses a config's `revoked = [..]` list.
pub(crate) fn parse_list(
    ctx: &Ctx,
    list: Vec<Spanned<String>>,
) -> Result<Vec<Fingerprint>, ConfigError> {
    list.into_iter()
        .map(|r| {
            r.get_ref()
                .parse()
                .map_err(|e| ctx.at(r.span(), format!("revoked: {e}"), Some(REVOKE_HINT.into())))
        })
        .collect()
}

/// Parses the text of a revoked file; `path` is for messages.
pub fn parse_revoked(text: &str, path: &Path) -> Result<Vec<Fingerprint>, ConfigError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let content = line.split('#').next().unwrap_or("");
        let value = content.trim();
        if value.is_empty() {
            continue;
        }
        let column = content.find(value).unwrap_or(0) + 1;
        let fp: Fingerprint = value.parse().map_err(|e| ConfigError::At {
            path: path.to_path_buf(),
            line: i + 1,
            column,
            message: format!("{e}"),
            hint: Some(format!(
                "one fingerprint a line, '#' starts a comment; {REVOKE_HINT}"
            )),
        })?;
        out.push(fp);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_blank_lines_and_both_spellings() {
        let a = format!("spki:{}", "ab".repeat(32));
        let b = format!("SPKI:{}", vec!["CD"; 32].join(":"));
        let text = format!("# revoked\n\n{a}  # stolen laptop\n   {b}\n");
        let got = parse_revoked(&text, Path::new("r.txt")).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].to_string(), a);
        assert_eq!(got[1].to_string(), format!("spki:{}", "cd".repeat(32)));
    }

    #[test]
    fn a_certificate_fingerprint_from_before_key_fingerprints_is_refused_with_how_to_convert() {
        let old = "ab".repeat(32);
        let text = format!("# revoked\n{old}  # client 'gw'\n");
        let e = parse_revoked(&text, Path::new("/etc/r.txt"))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(&format!(
                "/etc/r.txt:2:1: fingerprint \"{old}\" names a whole certificate"
            )),
            "{e}"
        );
        assert!(e.contains("`serialctl pki revoke CERT.pem` adds it"), "{e}");
    }

    #[test]
    fn a_bad_line_is_named_with_line_and_column() {
        let text = format!("spki:{}\n  nothex # x\n", "ab".repeat(32));
        let e = parse_revoked(&text, Path::new("/etc/r.txt"))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("/etc/r.txt:2:3: invalid fingerprint \"nothex\""),
            "{e}"
        );
        assert!(e.contains("hint: one fingerprint a line"), "{e}");
    }
}
