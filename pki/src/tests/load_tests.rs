use super::{chmod, Pki};
use crate::{load_certs, load_key, Role};

#[test]
fn key_readable_by_others_is_refused_with_chmod_advice() {
    let pki = Pki::new();
    let files = pki.host(Role::Client, "c1");
    chmod(&files.key, 0o644);
    let err = load_key(&files.key).unwrap_err().to_string();
    let key = files.key.display();
    assert_eq!(
        err,
        format!(
            "private key {key} is readable by group or others (mode 0644); run `chmod 600 {key}`"
        )
    );
}

#[test]
fn key_readable_by_group_only_is_refused_too() {
    let pki = Pki::new();
    let files = pki.host(Role::Client, "c1");
    chmod(&files.key, 0o640);
    let err = load_key(&files.key).unwrap_err().to_string();
    assert!(err.contains("(mode 0640)"), "{err}");
}

#[test]
fn missing_certificate_says_how_to_create_it() {
    let pki = Pki::new();
    let path = pki.path("nope.pem");
    let err = load_certs(&path).unwrap_err().to_string();
    assert!(
        err.starts_with(&format!(
            "cannot read certificate {}: No such file or directory; ",
            path.display()
        )),
        "{err}"
    );
    assert!(err.contains("serialctl pki issue"), "{err}");
    assert!(!err.contains("os error"), "{err}");
}

#[test]
fn file_without_certificate_is_refused() {
    let pki = Pki::new();
    let files = pki.host(Role::Client, "c1");
    // A key file handed over where the certificate belongs.
    let err = load_certs(&files.key).unwrap_err().to_string();
    assert!(
        err.contains(&format!("{} holds no certificate", files.key.display())),
        "{err}"
    );
}

#[test]
fn certificate_given_as_key_is_refused() {
    let pki = Pki::new();
    let files = pki.host(Role::Client, "c1");
    // Private mode, so the content is what gets judged.
    chmod(&files.cert, 0o600);
    let err = load_key(&files.cert).unwrap_err().to_string();
    assert!(err.contains("holds no PEM private key"), "{err}");
}

#[test]
fn missing_key_names_the_file() {
    let pki = Pki::new();
    let path = pki.path("gone.key");
    let err = load_key(&path).unwrap_err().to_string();
    assert!(
        err.starts_with(&format!(
            "cannot read private key {}: No such file or directory",
            path.display()
        )),
        "{err}"
    );
}

#[test]
fn key_mode_rule_allows_only_owner_or_a_root_group_grant() {
    use crate::load::key_mode_acceptable as ok;
    // Private to its owner: fine for anyone who can open it.
    assert!(ok(0o600, 1000, 1000));
    assert!(ok(0o400, 0, 0));
    // Group-readable, root-owned, read by a non-root service (fsGroup).
    assert!(ok(0o440, 0, 65532));
    assert!(ok(0o640, 0, 65532));
    // ... but not group-writable, not for root itself, not for other owners.
    assert!(!ok(0o460, 0, 65532));
    assert!(!ok(0o640, 0, 0));
    assert!(!ok(0o640, 1000, 1000));
    // Others may never read it.
    assert!(!ok(0o444, 0, 65532));
    assert!(!ok(0o644, 1000, 1000));
}
