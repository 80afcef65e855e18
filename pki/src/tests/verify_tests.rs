//! The core check, called directly, so each refusal's reason can be read.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rcgen::ExtendedKeyUsagePurpose;
use rustls::server::danger::ClientCertVerifier;
use rustls::CertificateError;
use rustls_pki_types::{CertificateDer, UnixTime};
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time};

use super::{cert_der, Pki};
use crate::ca::{generate_key, SigningCa};
use crate::issue::leaf_params;
use crate::verifier::PeerVerifier;
use crate::verify::{check, Policy, Refusal, RefusalKind, TrustRoot};
use crate::{crypto_provider, DenyList, Fingerprint, Identity, Role};

fn run(
    pki: &Pki,
    cert: &CertificateDer<'_>,
    role: Role,
    deny: Option<&DenyList>,
    pinned: Option<Fingerprint>,
) -> Result<Identity, Refusal> {
    let root = TrustRoot::load(&pki.ca_pem()).expect("root");
    let policy = Policy { role, deny, pinned };
    check(
        &root,
        cert,
        &[],
        &policy,
        crypto_provider().signature_verification_algorithms.all,
    )
}

fn refused(result: Result<Identity, Refusal>) -> Refusal {
    match result {
        Ok(id) => panic!("accepted {id:?}"),
        Err(refusal) => refusal,
    }
}

fn utc(year: i32) -> OffsetDateTime {
    let date = Date::from_calendar_date(year, Month::January, 1).expect("date");
    PrimitiveDateTime::new(date, Time::MIDNIGHT).assume_utc()
}

/// A certificate from `pki`'s CA with whatever `tweak` does to the usual
/// parameters: for dates and contradictions `issue` would never produce.
fn custom_leaf(
    pki: &Pki,
    role: Role,
    tweak: impl FnOnce(&mut rcgen::CertificateParams),
) -> CertificateDer<'static> {
    let ca = SigningCa::load(&pki.ca_dir).expect("ca");
    let mut params = leaf_params(role, "custom", None).expect("params");
    tweak(&mut params);
    let key = generate_key("test key").expect("key");
    params
        .signed_by(&key, &ca.issuer, &ca.key)
        .expect("sign")
        .der()
        .clone()
}

#[test]
fn good_client_certificate_yields_its_identity() {
    let pki = Pki::new();
    let files = pki.host_in_zone(Role::Client, "c1", Some("z1"));
    let cert = cert_der(&files.cert);
    let id = run(&pki, &cert, Role::Client, None, None).expect("accepted");
    assert_eq!(id.name, "c1");
    assert_eq!(id.zone.as_deref(), Some("z1"));
    assert_eq!(id.fingerprint, Fingerprint::of_cert(&cert).unwrap());
}

#[test]
fn agent_certificate_is_refused_where_a_client_is_expected() {
    let pki = Pki::new();
    let cert = cert_der(&pki.host(Role::Agent, "a1").cert);
    let refusal = refused(run(&pki, &cert, Role::Client, None, None));
    assert_eq!(refusal.kind, RefusalKind::WrongRole);
    assert_eq!(
        refusal.reason,
        "it is an agent certificate, and only client certificates are accepted here"
    );
    assert_eq!(refusal.subject, "CN=a1, O=serialmesh, OU=agent");
}

#[test]
fn client_certificate_is_refused_where_an_agent_is_expected() {
    let pki = Pki::new();
    let cert = cert_der(&pki.host(Role::Client, "c1").cert);
    let refusal = refused(run(&pki, &cert, Role::Agent, None, None));
    assert_eq!(refusal.kind, RefusalKind::WrongRole);
    assert_eq!(
        refusal.reason,
        "it is a client certificate, and only agent certificates are accepted here"
    );
}

#[test]
fn certificate_of_another_ca_is_refused_as_unknown_issuer() {
    let pki = Pki::new();
    let other = Pki::new();
    let cert = cert_der(&other.host(Role::Client, "c1").cert);
    let refusal = refused(run(&pki, &cert, Role::Client, None, None));
    assert_eq!(refusal.kind, RefusalKind::UnknownIssuer);
    assert!(
        refusal
            .reason
            .starts_with("not issued by the pinned CA (it names issuer CN=serialmesh CA "),
        "{}",
        refusal.reason
    );
}

#[test]
fn denied_fingerprint_is_refused() {
    let pki = Pki::new();
    let cert = cert_der(&pki.host(Role::Client, "c1").cert);
    let deny = DenyList::new([Fingerprint::of_cert(&cert).unwrap()]);
    let refusal = refused(run(&pki, &cert, Role::Client, Some(&deny), None));
    assert_eq!(refusal.kind, RefusalKind::Denied);
    assert_eq!(refusal.reason, "its fingerprint is on the deny-list");
    assert_eq!(
        refusal.fingerprint,
        Some(Fingerprint::of_cert(&cert).unwrap())
    );
}

#[test]
fn pinned_fingerprint_mismatch_is_refused() {
    let pki = Pki::new();
    let cert = cert_der(&pki.host(Role::Agent, "a1").cert);
    let pinned = Fingerprint::of_cert(&cert_der(&pki.host(Role::Agent, "a2").cert)).unwrap();
    let refusal = refused(run(&pki, &cert, Role::Agent, None, Some(pinned)));
    assert_eq!(refusal.kind, RefusalKind::NotPinned);
    assert_eq!(
        refusal.reason,
        format!("it is not the pinned agent certificate (pinned fingerprint {pinned})")
    );
    run(
        &pki,
        &cert,
        Role::Agent,
        None,
        Some(Fingerprint::of_cert(&cert).unwrap()),
    )
    .expect("the pinned one is accepted");
}

#[test]
fn ca_certificate_is_refused_as_a_peer() {
    let pki = Pki::new();
    let refusal = refused(run(
        &pki,
        &cert_der(&pki.ca_pem()),
        Role::Client,
        None,
        None,
    ));
    assert_eq!(refusal.kind, RefusalKind::WrongRole);
    assert!(
        refusal.reason.contains("CA certificate"),
        "{}",
        refusal.reason
    );
}

#[test]
fn role_uri_contradicting_extended_key_usage_is_refused() {
    let pki = Pki::new();
    // Claims client by URI, but carries the agent's serverAuth usage.
    let cert = custom_leaf(&pki, Role::Client, |p| {
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth]
    });
    for expected in [Role::Agent, Role::Client] {
        let refusal = refused(run(&pki, &cert, expected, None, None));
        assert_eq!(refusal.kind, RefusalKind::WrongRole);
        assert!(
            refusal.reason.contains("its role URI says client but its extended key usage is serverAuth, which is for agents"),
            "{}",
            refusal.reason
        );
    }
}

#[test]
fn certificate_with_both_usages_is_refused() {
    let pki = Pki::new();
    let cert = custom_leaf(&pki, Role::Client, |p| {
        p.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ]
    });
    let refusal = refused(run(&pki, &cert, Role::Client, None, None));
    assert!(
        refusal
            .reason
            .contains("allows both serverAuth and clientAuth"),
        "{}",
        refusal.reason
    );
}

#[test]
fn dates_long_past_or_far_ahead_do_not_matter() {
    let pki = Pki::new();
    for (from, until) in [(1980, 1990), (2090, 2100), (2016, 2017)] {
        let cert = custom_leaf(&pki, Role::Client, |p| {
            p.not_before = utc(from);
            p.not_after = utc(until);
        });
        run(&pki, &cert, Role::Client, None, None)
            .unwrap_or_else(|r| panic!("{from}-{until}: {}", r.reason));
    }
}

#[test]
fn validity_outside_the_cas_is_refused() {
    let pki = Pki::new();
    // The CA is valid from 1970; this certificate ended before that.
    let cert = custom_leaf(&pki, Role::Client, |p| {
        p.not_before = utc(1950);
        p.not_after = utc(1960);
    });
    let refusal = refused(run(&pki, &cert, Role::Client, None, None));
    assert_eq!(refusal.kind, RefusalKind::Validity);
    assert!(
        refusal.reason.starts_with("its validity (1950-01-01T00:00:00Z to 1960-01-01T00:00:00Z) does not overlap that of the pinned CA"),
        "{}",
        refusal.reason
    );
}

#[test]
fn garbage_is_refused_as_malformed() {
    let pki = Pki::new();
    let junk = CertificateDer::from(vec![0x30, 0x03, 0x02, 0x01, 0x00]);
    let refusal = refused(run(&pki, &junk, Role::Client, None, None));
    assert_eq!(refusal.kind, RefusalKind::Malformed);
    assert_eq!(refusal.subject, "(unparseable)");
}

/// Collects formatted log output.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Capture {
        self.clone()
    }
}

#[test]
fn refusal_is_logged_with_subject_fingerprint_and_reason() {
    let pki = Pki::new();
    let other = Pki::new();
    let cert = cert_der(&other.host(Role::Client, "stranger").cert);
    let root = TrustRoot::load(&pki.ca_pem()).expect("root");
    let verifier = PeerVerifier::new(
        std::sync::Arc::new(root),
        Role::Client,
        DenyList::default(),
        None,
        crypto_provider(),
    );

    let capture = Capture::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(capture.clone())
        .with_ansi(false)
        .finish();
    // The time rustls passes is ignored: give it one no check would accept.
    let epoch = UnixTime::since_unix_epoch(Duration::ZERO);
    let result = tracing::subscriber::with_default(subscriber, || {
        verifier.verify_client_cert(&cert, &[], epoch)
    });

    assert_eq!(
        result.unwrap_err(),
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)
    );
    let log = String::from_utf8(capture.0.lock().expect("lock").clone()).expect("utf8");
    let fp = Fingerprint::of_cert(&cert).unwrap();
    assert!(log.contains("WARN"), "{log}");
    assert!(
        log.contains(&format!("refused client certificate CN=stranger, O=serialmesh, OU=client (fingerprint {fp}): not issued by the pinned CA")),
        "{log}"
    );
}
