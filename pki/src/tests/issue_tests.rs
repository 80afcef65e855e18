use super::{cert_der, chmod, mode_of, Pki};
use crate::{identity_of, init_ca, inspect, issue, load_certs, load_key, Fingerprint, Role};

#[test]
fn init_ca_writes_certificate_and_owner_only_key() {
    let pki = Pki::new();
    assert_eq!(mode_of(&pki.ca_dir.join("ca.key")), 0o600);
    assert_eq!(mode_of(&pki.ca_dir), 0o700);
    let info = inspect(&pki.ca_pem()).expect("inspect");
    assert!(info.is_ca);
    assert!(
        info.subject.starts_with("CN=serialmesh CA "),
        "{}",
        info.subject
    );
    assert!(info.subject.contains("O=serialmesh"), "{}", info.subject);
}

#[test]
fn init_ca_refuses_an_existing_ca() {
    let pki = Pki::new();
    let err = init_ca(&pki.ca_dir).unwrap_err().to_string();
    let key = pki.ca_dir.join("ca.key");
    assert!(
        err.starts_with(&format!("CA key {} already exists", key.display())),
        "{err}"
    );
    assert!(err.contains("never overwritten"), "{err}");
    assert!(err.contains("serialctl pki issue --dir"), "{err}");
}

#[test]
fn init_ca_refuses_a_directory_holding_a_ca_copy() {
    let pki = Pki::new();
    let files = pki.host(Role::Agent, "a1");
    let host_dir = files.ca.parent().expect("parent");
    let err = init_ca(host_dir).unwrap_err().to_string();
    assert!(
        err.starts_with(&format!(
            "CA certificate {} already exists",
            files.ca.display()
        )),
        "{err}"
    );
}

#[test]
fn issue_and_load_round_trip() {
    let pki = Pki::new();
    let out = pki.path("out");
    let issued = issue(&pki.ca_dir, Role::Agent, "bench-1", Some("lab_2"), &out).expect("issue");
    assert_eq!(issued.cert, out.join("bench-1.pem"));
    assert_eq!(issued.key, out.join("bench-1.key"));
    assert_eq!(issued.ca, out.join("ca.pem"));

    let certs = load_certs(&issued.cert).expect("load_certs");
    assert_eq!(certs.len(), 1);
    assert_eq!(Fingerprint::of_cert(&certs[0]).unwrap(), issued.fingerprint);
    load_key(&issued.key).expect("load_key");
    assert_eq!(
        std::fs::read(&issued.ca).expect("read copy"),
        std::fs::read(pki.ca_pem()).expect("read ca")
    );

    let id = identity_of(&certs[0]).expect("identity_of");
    assert_eq!(id.role, Role::Agent);
    assert_eq!(id.name, "bench-1");
    assert_eq!(id.zone.as_deref(), Some("lab_2"));
    assert_eq!(id.fingerprint, issued.fingerprint);
}

#[test]
fn issued_key_is_mode_0600_on_disk() {
    let pki = Pki::new();
    let files = pki.host(Role::Client, "c1");
    assert_eq!(mode_of(&files.key), 0o600);
    assert_eq!(mode_of(&files.cert), 0o644);
}

#[test]
fn issue_refuses_to_replace_an_existing_key() {
    let pki = Pki::new();
    let files = pki.host(Role::Client, "c1");
    let out = files.key.parent().expect("parent");
    let err = issue(&pki.ca_dir, Role::Client, "c1", None, out)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(&format!(
            "private key {} already exists",
            files.key.display()
        )),
        "{err}"
    );
    assert!(err.contains("delete it"), "{err}");
    assert!(err.contains("choose another --name"), "{err}");
}

#[test]
fn issue_into_the_ca_directory_keeps_the_ca_certificate() {
    let pki = Pki::new();
    let before = std::fs::read(pki.ca_pem()).expect("read");
    issue(&pki.ca_dir, Role::Agent, "a1", None, &pki.ca_dir).expect("issue");
    assert_eq!(std::fs::read(pki.ca_pem()).expect("read"), before);
}

#[test]
fn issue_refuses_to_replace_another_cas_copy() {
    let pki = Pki::new();
    let other = Pki::new();
    let out = pki.path("shared");
    issue(&other.ca_dir, Role::Agent, "a1", None, &out).expect("issue");
    let err = issue(&pki.ca_dir, Role::Agent, "a2", None, &out)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!(
            "CA certificate {} already exists",
            out.join("ca.pem").display()
        )),
        "{err}"
    );
    assert!(err.contains("is not the CA in"), "{err}");
    assert!(!out.join("a2.key").exists(), "nothing written when refused");
}

#[test]
fn invalid_names_are_refused_with_the_rule() {
    let pki = Pki::new();
    let out = pki.path("out");
    let long = "x".repeat(64);
    for bad in ["", "has space", "dot.ted", "sl/ash", "ünï", long.as_str()] {
        let err = issue(&pki.ca_dir, Role::Client, bad, None, &out)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            format!(
                "invalid name {bad:?}: must be 1 to 63 characters of A-Z, a-z, 0-9, '_' and '-'"
            )
        );
    }
    let max = "y".repeat(63);
    issue(&pki.ca_dir, Role::Client, &max, None, &out).expect("63 characters are fine");
}

#[test]
fn invalid_zone_is_refused_with_the_rule() {
    let pki = Pki::new();
    let err = issue(
        &pki.ca_dir,
        Role::Agent,
        "a1",
        Some("lab 1"),
        &pki.path("out"),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with("invalid zone \"lab 1\": must be 1 to 63 characters"),
        "{err}"
    );
}

#[test]
fn name_ca_is_reserved() {
    let pki = Pki::new();
    let err = issue(&pki.ca_dir, Role::Agent, "ca", None, &pki.path("out"))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("invalid name \"ca\": it is reserved"),
        "{err}"
    );
}

#[test]
fn issue_from_a_missing_ca_says_where_it_looked() {
    let pki = Pki::new();
    let nowhere = pki.path("no-ca");
    let err = issue(&nowhere, Role::Agent, "a1", None, &pki.path("out"))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(&format!(
            "cannot read CA certificate {}: No such file or directory",
            nowhere.join("ca.pem").display()
        )),
        "{err}"
    );
    assert!(err.contains("serialctl pki init --dir"), "{err}");
}

#[test]
fn issue_refuses_a_ca_key_readable_by_others() {
    let pki = Pki::new();
    let key = pki.ca_dir.join("ca.key");
    chmod(&key, 0o644);
    let err = issue(&pki.ca_dir, Role::Agent, "a1", None, &pki.path("out"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!("run `chmod 600 {}`", key.display())),
        "{err}"
    );
}

#[test]
fn issue_refuses_mismatched_ca_key() {
    let pki = Pki::new();
    let other = Pki::new();
    std::fs::copy(other.ca_dir.join("ca.key"), pki.ca_dir.join("ca.key")).expect("copy");
    let err = issue(&pki.ca_dir, Role::Agent, "a1", None, &pki.path("out"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("does not belong to certificate"), "{err}");
    assert!(err.contains("same `serialctl pki init`"), "{err}");
}

#[test]
fn inspect_shows_role_name_zone_and_unchecked_validity() {
    let pki = Pki::new();
    let files = pki.host_in_zone(Role::Agent, "bench-1", Some("lab2"));
    let info = inspect(&files.cert).expect("inspect");
    assert_eq!(info.role, Some(Role::Agent));
    assert_eq!(info.name.as_deref(), Some("bench-1"));
    assert_eq!(info.zone.as_deref(), Some("lab2"));
    assert_eq!(
        info.fingerprint,
        Fingerprint::of_cert(&cert_der(&files.cert)).unwrap()
    );
    assert!(!info.is_ca);
    assert_eq!(info.subject, "CN=bench-1, O=serialmesh, OU=agent");
    assert_eq!(info.not_before, "1970-01-01T00:00:00Z");
    assert_eq!(info.not_after, "9999-12-31T23:59:59Z");
    // 16 bytes, printed as colon-separated pairs.
    assert_eq!(info.serial.len(), 16 * 3 - 1, "{}", info.serial);

    let text = info.to_string();
    assert!(text.contains("role:        agent\n"), "{text}");
    assert!(text.contains("name:        bench-1\n"), "{text}");
    assert!(text.contains("zone:        lab2\n"), "{text}");
    assert!(
        text.contains(&format!("fingerprint: {}\n", info.fingerprint)),
        "{text}"
    );
    assert!(
        text.contains("validity:    1970-01-01T00:00:00Z to 9999-12-31T23:59:59Z (not checked by serialmesh)\n"),
        "{text}"
    );
}

#[test]
fn inspect_shows_none_for_a_client_without_zone() {
    let pki = Pki::new();
    let files = pki.host(Role::Client, "c1");
    let text = inspect(&files.cert).expect("inspect").to_string();
    assert!(text.contains("role:        client\n"), "{text}");
    assert!(text.contains("zone:        (none)\n"), "{text}");
    assert!(text.contains("CA:          no\n"), "{text}");
}

#[test]
fn identity_of_a_ca_certificate_explains_what_is_missing() {
    let pki = Pki::new();
    let err = identity_of(&cert_der(&pki.ca_pem()))
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("certificate CN=serialmesh CA "), "{err}");
    assert!(
        err.contains(
            "carries no usable serialmesh identity: it has no urn:serialmesh:role:<role> URI"
        ),
        "{err}"
    );
}
