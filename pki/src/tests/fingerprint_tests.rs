use std::collections::HashSet;

use crate::{DenyList, Fingerprint, Role};

fn some() -> Fingerprint {
    Fingerprint::of_key(b"some key")
}

#[test]
fn fingerprint_displays_as_spki_and_64_lowercase_hex_and_parses_back() {
    let fp = some();
    let text = fp.to_string();
    let hex = text.strip_prefix("spki:").expect(&text);
    assert_eq!(hex.len(), 64);
    assert!(
        hex.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "{text}"
    );
    assert_eq!(text.parse::<Fingerprint>().expect("parse"), fp);
}

#[test]
fn fingerprint_parses_colon_separated_uppercase_form() {
    let fp = some();
    let colons =
        fp.0.iter()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join(":");
    assert_eq!(
        format!("SPKI:{colons}")
            .parse::<Fingerprint>()
            .expect("parse"),
        fp
    );
}

#[test]
fn fingerprint_parses_curls_base64_pin_form() {
    use base64::Engine as _;
    let fp = some();
    let b64 = base64::engine::general_purpose::STANDARD.encode(fp.0);
    assert_eq!(
        format!("sha256//{b64}")
            .parse::<Fingerprint>()
            .expect("parse"),
        fp
    );
    let err = "sha256//AAAA"
        .parse::<Fingerprint>()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("decodes to 3 bytes, not the 32 of a SHA-256"),
        "{err}"
    );
    let err = "sha256//not base64!"
        .parse::<Fingerprint>()
        .unwrap_err()
        .to_string();
    assert!(err.contains("after 'sha256//' it is not base64"), "{err}");
}

#[test]
fn fingerprint_of_key_is_sha256_of_the_bytes() {
    // SHA-256("abc"), from FIPS 180-2.
    let expected = "spki:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    assert_eq!(Fingerprint::of_key(b"abc").to_string(), expected);
}

#[test]
fn a_bare_hex_fingerprint_is_refused_as_naming_a_certificate_with_how_to_convert() {
    let bare = "ab".repeat(32);
    let err = bare.parse::<Fingerprint>().unwrap_err().to_string();
    assert!(
        err.contains(&format!("fingerprint \"{bare}\" names a whole certificate")),
        "{err}"
    );
    assert!(err.contains("serialctl pki show CERT.pem"), "{err}");
    assert!(err.contains("serialctl pki revoke CERT.pem"), "{err}");
    // Also in the colon form other tools print.
    let colons = vec!["AB"; 32].join(":");
    let err = colons.parse::<Fingerprint>().unwrap_err().to_string();
    assert!(err.contains("names a whole certificate"), "{err}");
}

#[test]
fn short_fingerprint_is_refused_with_count() {
    let err = "abcd".parse::<Fingerprint>().unwrap_err().to_string();
    assert!(err.contains("invalid fingerprint \"abcd\""), "{err}");
    assert!(err.contains("4 hex digits, not 64"), "{err}");
    assert!(err.contains("serialctl pki show"), "{err}");
    let err = "spki:abcd".parse::<Fingerprint>().unwrap_err().to_string();
    assert!(err.contains("4 hex digits, not 64"), "{err}");
}

#[test]
fn non_hex_fingerprint_is_refused() {
    let bad = format!("spki:{}", "g".repeat(64));
    let err = bad.parse::<Fingerprint>().unwrap_err().to_string();
    assert!(err.contains("characters other than 0-9 and a-f"), "{err}");
}

#[test]
fn irregular_colons_are_refused() {
    let fp = some().to_string();
    let bad = format!("{}:{}", &fp[..15], &fp[15..]);
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
    let a = Fingerprint::of_key(b"a");
    let b = Fingerprint::of_key(b"b");
    let deny = DenyList::new([a]);
    let shared = deny.clone();
    assert!(shared.contains(&a));
    deny.replace(HashSet::from([b]));
    assert!(!shared.contains(&a));
    assert!(shared.contains(&b));
    assert!(!DenyList::default().contains(&a));
}
