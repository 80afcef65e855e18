use std::collections::HashSet;

use crate::{DenyList, Fingerprint, Role};

#[test]
fn fingerprint_displays_as_64_lowercase_hex_and_parses_back() {
    let fp = Fingerprint::of(b"some certificate bytes");
    let text = fp.to_string();
    assert_eq!(text.len(), 64);
    assert!(
        text.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "{text}"
    );
    assert_eq!(text.parse::<Fingerprint>().expect("parse"), fp);
}

#[test]
fn fingerprint_parses_colon_separated_uppercase_form() {
    let fp = Fingerprint::of(b"x");
    let colons =
        fp.0.iter()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join(":");
    assert_eq!(colons.parse::<Fingerprint>().expect("parse"), fp);
}

#[test]
fn fingerprint_of_is_sha256_of_the_bytes() {
    // SHA-256("abc"), from FIPS 180-2.
    let expected = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    assert_eq!(Fingerprint::of(b"abc").to_string(), expected);
}

#[test]
fn short_fingerprint_is_refused_with_count() {
    let err = "abcd".parse::<Fingerprint>().unwrap_err().to_string();
    assert!(err.contains("invalid fingerprint \"abcd\""), "{err}");
    assert!(err.contains("4 hex digits, not 64"), "{err}");
    assert!(err.contains("serialctl pki show"), "{err}");
}

#[test]
fn non_hex_fingerprint_is_refused() {
    let bad = "g".repeat(64);
    let err = bad.parse::<Fingerprint>().unwrap_err().to_string();
    assert!(err.contains("characters other than 0-9 and a-f"), "{err}");
}

#[test]
fn irregular_colons_are_refused() {
    let fp = Fingerprint::of(b"x").to_string();
    let bad = format!("{}:{}", &fp[..10], &fp[10..]);
    let err = bad.parse::<Fingerprint>().unwrap_err().to_string();
    assert!(err.contains("32 pairs of hex digits"), "{err}");
}

#[test]
fn role_displays_and_parses() {
    for role in [Role::Agent, Role::Client] {
        assert_eq!(role.to_string().parse::<Role>().expect("parse"), role);
    }
    assert_eq!(Role::Agent.to_string(), "agent");
    assert_eq!(Role::Client.to_string(), "client");
}

#[test]
fn unknown_role_error_lists_valid_roles() {
    let err = "server".parse::<Role>().unwrap_err().to_string();
    assert_eq!(
        err,
        "invalid role \"server\": valid roles are \"agent\" and \"client\""
    );
}

#[test]
fn deny_list_replace_is_seen_by_clones() {
    let a = Fingerprint::of(b"a");
    let b = Fingerprint::of(b"b");
    let deny = DenyList::new([a]);
    let shared = deny.clone();
    assert!(shared.contains(&a));
    deny.replace(HashSet::from([b]));
    assert!(!shared.contains(&a));
    assert!(shared.contains(&b));
    assert!(!DenyList::default().contains(&a));
}
