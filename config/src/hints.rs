//! Hints for parser errors: what serde and the TOML parser report says what
//! is wrong; the hint says what to write instead.

/// The hint for a parser message (`raw`, as the parser gave it), where
/// `key` is the key of the line the error points at, if any.
pub(crate) fn hint_for(raw: &str, key: Option<&str>) -> Option<String> {
    let k = key.unwrap_or("this key");
    if let Some(rest) = raw.strip_prefix("unknown field `") {
        return Some(nearest(rest).map_or_else(
            || "remove it, or use one of the keys listed".to_string(),
            |c| format!("did you mean `{c}`?"),
        ));
    }
    if let Some(rest) = raw.strip_prefix("unknown variant `") {
        return Some(nearest(rest).map_or_else(
            || format!("give `{k}` one of the values listed"),
            |c| format!("did you mean \"{c}\"?"),
        ));
    }
    if let Some(field) = raw
        .strip_prefix("missing field `")
        .and_then(|r| r.split('`').next())
    {
        return Some(format!("add `{field} = ...` to this table"));
    }
    if raw.starts_with("duplicate key") {
        return Some("each key may appear once per table; remove one of them".into());
    }
    if raw.starts_with("invalid type:") || raw.starts_with("invalid value:") {
        let expected = raw.rsplit_once(", expected ").map_or("", |(_, e)| e);
        return Some(type_hint(k, expected, raw.starts_with("invalid value:")));
    }
    if raw.starts_with("wanted string or table") {
        return Some(format!(
            "`{k}` takes one of its values in double quotes, e.g. {k} = \"none\""
        ));
    }
    if raw.starts_with("invalid string") {
        return Some(format!(
            "text values need double quotes, e.g. {k} = \"shed\""
        ));
    }
    if raw.starts_with("invalid table header") {
        return Some("write a table header as [name] or [[name]] on a line of its own".into());
    }
    // Other syntax errors are "what\nexpected what" from the TOML parser;
    // our own validation messages are one line and explain themselves.
    raw.contains('\n')
        .then(|| "this is not valid TOML; see https://toml.io for the syntax".into())
}

fn type_hint(k: &str, expected: &str, value: bool) -> String {
    match expected {
        "a string" | "path string" => {
            format!("`{k}` takes text in double quotes, e.g. {k} = \"...\"")
        }
        "a boolean" => format!("`{k}` takes true or false, without quotes"),
        "a sequence" => format!("`{k}` takes a list in brackets, e.g. {k} = [\"...\"]"),
        "f64" => format!("`{k}` takes a number of seconds without quotes, e.g. {k} = 5 or 0.5"),
        e if e.starts_with('u') && value => {
            format!("`{k}` takes a whole number of 0 or more, without quotes")
        }
        "u8" | "u16" | "u32" | "u64" | "usize" | "i64" => {
            format!("`{k}` takes a whole number without quotes")
        }
        e if e.starts_with("struct ") || e == "a map" => {
            format!("`{k}` is a table: write [{k}] on a line of its own, its keys below it")
        }
        _ => format!("see the config reference in README.md for what `{k}` takes"),
    }
}

/// The key of the `key = value` line around byte `offset` of `text`.
pub(crate) fn key_at(text: &str, offset: usize) -> Option<String> {
    let offset = offset.min(text.len());
    let start = text
        .get(..offset)
        .and_then(|t| t.rfind('\n'))
        .map_or(0, |i| i + 1);
    let line = text.get(start..)?.lines().next()?;
    let (key, _) = line.split_once('=')?;
    let key = key.trim().trim_matches('"');
    let valid = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    valid.then(|| key.to_string())
}

/// serde says "unknown field `lisen`, expected one of `name`, `listen`"
/// (or "unknown variant ..."); `rest` is what follows the first backtick.
/// The nearest valid name, if it is near enough to be the one meant.
fn nearest(rest: &str) -> Option<String> {
    let (bad, rest) = rest.split_once('`')?;
    let candidates: Vec<&str> = rest.split('`').skip(1).step_by(2).collect();
    // Spellings from other tools ("baudrate", "databits") are caught by
    // comparing without underscores and allowing a shared prefix.
    let plain = |s: &str| s.replace('_', "").to_ascii_lowercase();
    let best = candidates
        .iter()
        .map(|c| {
            let (b, k) = (plain(bad), plain(c));
            let prefix = k.len() >= 3 && (b.starts_with(&k) || k.starts_with(&b));
            (if prefix { 0 } else { edit_distance(&b, &k) }, *c)
        })
        .min()?;
    (best.0 <= 3).then(|| best.1.to_string())
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}
