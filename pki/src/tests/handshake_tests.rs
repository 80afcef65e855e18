//! Real TLS handshakes over an in-memory pipe.

use std::io;
use std::sync::Arc;

use rustls::version::TLS12;
use rustls::{AlertDescription, CertificateError, ClientConfig, ServerConfig};
use rustls_pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use super::{cert_der, Pki};
use crate::tls::{client_config_with, server_config_with};
use crate::verifier::PeerVerifier;
use crate::verify::TrustRoot;
use crate::{
    client_config, crypto_provider, load_certs, load_key, server_config, DenyList, Fingerprint,
    Role, TlsFiles,
};

struct Outcome {
    server: io::Result<()>,
    client: io::Result<()>,
}

/// Runs one connection: the agent accepts and says "ok", the client reads it.
/// Reading matters: in TLS 1.3 the client finishes its handshake before the
/// agent has judged the client certificate.
async fn connect(server: ServerConfig, client: ClientConfig) -> Outcome {
    let (client_io, server_io) = tokio::io::duplex(64 * 1024);
    let acceptor = TlsAcceptor::from(Arc::new(server));
    let connector = TlsConnector::from(Arc::new(client));
    let server = async move {
        let mut tls = acceptor.accept(server_io).await?;
        tls.write_all(b"ok").await?;
        tls.shutdown().await
    };
    let client = async move {
        // Any name: the verifier ignores it.
        let name = ServerName::try_from("serialmesh").expect("name");
        let mut tls = connector.connect(name, client_io).await?;
        let mut buf = [0u8; 2];
        tls.read_exact(&mut buf).await?;
        assert_eq!(&buf, b"ok");
        Ok(())
    };
    let (server, client) = tokio::join!(server, client);
    Outcome { server, client }
}

fn rustls_error(result: &io::Result<()>) -> rustls::Error {
    let err = result.as_ref().expect_err("handshake should fail");
    match err
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(e) => e.clone(),
        None => panic!("not a rustls error: {err}"),
    }
}

/// A client config presenting whatever certificate it is given, bypassing
/// the load-time checks, to play a misbehaving or misissued peer.
fn rogue_client(presented: &TlsFiles, trusted_ca: &std::path::Path) -> ClientConfig {
    let root = TrustRoot::load(trusted_ca).expect("root");
    let verifier = PeerVerifier::new(
        std::sync::Arc::new(root),
        Role::Agent,
        DenyList::default(),
        None,
        crypto_provider(),
    );
    ClientConfig::builder_with_provider(crypto_provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_client_auth_cert(
            load_certs(&presented.cert).expect("certs"),
            load_key(&presented.key).expect("key"),
        )
        .expect("config")
}

/// A server config presenting whatever certificate it is given.
fn rogue_server(presented: &TlsFiles, trusted_ca: &std::path::Path) -> ServerConfig {
    let root = TrustRoot::load(trusted_ca).expect("root");
    let verifier = PeerVerifier::new(
        std::sync::Arc::new(root),
        Role::Client,
        DenyList::default(),
        None,
        crypto_provider(),
    );
    ServerConfig::builder_with_provider(crypto_provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_client_cert_verifier(Arc::new(verifier))
        .with_single_cert(
            load_certs(&presented.cert).expect("certs"),
            load_key(&presented.key).expect("key"),
        )
        .expect("config")
}

#[tokio::test]
async fn good_pair_connects_over_tls13() {
    let pki = Pki::new();
    // Underscores are allowed in names though not in DNS; nothing may trip on them.
    let agent = pki.host_in_zone(Role::Agent, "bench_1", Some("lab_2"));
    let client = pki.host(Role::Client, "ci_runner");
    let outcome = connect(
        server_config(&agent, DenyList::default()).expect("server"),
        client_config(&client, DenyList::default(), None).expect("client"),
    )
    .await;
    outcome.server.expect("server side");
    outcome.client.expect("client side");
}

#[tokio::test]
async fn an_agent_refuses_a_client_that_offers_only_tls12() {
    let pki = Pki::new();
    let agent = pki.host(Role::Agent, "a1");
    let client = pki.host(Role::Client, "c1");
    let outcome = connect(
        server_config(&agent, DenyList::default()).expect("server"),
        client_config_with(&client, DenyList::default(), None, &[&TLS12]).expect("client"),
    )
    .await;
    let err = outcome
        .server
        .expect_err("TLS 1.2 must be refused")
        .to_string();
    assert!(
        err.contains("incompatible") || err.contains("ProtocolVersion"),
        "{err}"
    );
}

#[tokio::test]
async fn a_client_refuses_an_agent_that_offers_only_tls12() {
    let pki = Pki::new();
    let agent = pki.host(Role::Agent, "a1");
    let client = pki.host(Role::Client, "c1");
    let outcome = connect(
        server_config_with(&agent, DenyList::default(), &[&TLS12])
            .expect("server")
            .0,
        client_config(&client, DenyList::default(), None).expect("client"),
    )
    .await;
    let err = outcome
        .client
        .expect_err("TLS 1.2 must be refused")
        .to_string();
    assert!(
        err.contains("incompatible") || err.contains("ProtocolVersion"),
        "{err}"
    );
}

#[tokio::test]
async fn pinned_agent_connects() {
    let pki = Pki::new();
    let agent = pki.host(Role::Agent, "a1");
    let client = pki.host(Role::Client, "c1");
    let pin = Fingerprint::of_cert(&cert_der(&agent.cert)).unwrap();
    let outcome = connect(
        server_config(&agent, DenyList::default()).expect("server"),
        client_config(&client, DenyList::default(), Some(pin)).expect("client"),
    )
    .await;
    outcome.client.expect("client side");
}

#[tokio::test]
async fn agent_certificate_used_as_client_is_refused_by_the_agent() {
    let pki = Pki::new();
    let agent = pki.host(Role::Agent, "a1");
    let impostor = pki.host(Role::Agent, "a2");
    let outcome = connect(
        server_config(&agent, DenyList::default()).expect("server"),
        rogue_client(&impostor, &pki.ca_pem()),
    )
    .await;
    assert_eq!(
        rustls_error(&outcome.server),
        rustls::Error::InvalidCertificate(CertificateError::InvalidPurpose)
    );
    assert_eq!(
        rustls_error(&outcome.client),
        rustls::Error::AlertReceived(AlertDescription::UnsupportedCertificate)
    );
}

#[tokio::test]
async fn client_certificate_used_as_agent_is_refused_by_the_client() {
    let pki = Pki::new();
    let impostor = pki.host(Role::Client, "c2");
    let client = pki.host(Role::Client, "c1");
    let outcome = connect(
        rogue_server(&impostor, &pki.ca_pem()),
        client_config(&client, DenyList::default(), None).expect("client"),
    )
    .await;
    assert_eq!(
        rustls_error(&outcome.client),
        rustls::Error::InvalidCertificate(CertificateError::InvalidPurpose)
    );
    assert_eq!(
        rustls_error(&outcome.server),
        rustls::Error::AlertReceived(AlertDescription::UnsupportedCertificate)
    );
}

#[tokio::test]
async fn client_of_another_ca_is_refused_by_the_agent() {
    let pki = Pki::new();
    let other = Pki::new();
    let agent = pki.host(Role::Agent, "a1");
    let stranger = other.host(Role::Client, "c1");
    // The stranger trusts our CA, so only the agent's check can stop it.
    let outcome = connect(
        server_config(&agent, DenyList::default()).expect("server"),
        rogue_client(&stranger, &pki.ca_pem()),
    )
    .await;
    assert_eq!(
        rustls_error(&outcome.server),
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)
    );
    assert_eq!(
        rustls_error(&outcome.client),
        rustls::Error::AlertReceived(AlertDescription::UnknownCA)
    );
}

#[tokio::test]
async fn agent_of_another_ca_is_refused_by_the_client() {
    let pki = Pki::new();
    let other = Pki::new();
    let stranger = other.host(Role::Agent, "a1");
    let client = pki.host(Role::Client, "c1");
    let outcome = connect(
        server_config(&stranger, DenyList::default()).expect("server"),
        client_config(&client, DenyList::default(), None).expect("client"),
    )
    .await;
    assert_eq!(
        rustls_error(&outcome.client),
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)
    );
    assert_eq!(
        rustls_error(&outcome.server),
        rustls::Error::AlertReceived(AlertDescription::UnknownCA)
    );
}

#[tokio::test]
async fn denied_client_is_refused_even_after_the_config_was_built() {
    let pki = Pki::new();
    let agent = pki.host(Role::Agent, "a1");
    let client = pki.host(Role::Client, "c1");
    let deny = DenyList::default();
    let server = server_config(&agent, deny.clone()).expect("server");
    // A reload replaces the set; the config already built must see it.
    deny.replace([Fingerprint::of_cert(&cert_der(&client.cert)).unwrap()].into());
    let outcome = connect(
        server,
        client_config(&client, DenyList::default(), None).expect("client"),
    )
    .await;
    assert_eq!(
        rustls_error(&outcome.server),
        rustls::Error::InvalidCertificate(CertificateError::Revoked)
    );
    assert_eq!(
        rustls_error(&outcome.client),
        rustls::Error::AlertReceived(AlertDescription::CertificateRevoked)
    );
}

#[tokio::test]
async fn denied_agent_is_refused_by_the_client() {
    let pki = Pki::new();
    let agent = pki.host(Role::Agent, "a1");
    let client = pki.host(Role::Client, "c1");
    let deny = DenyList::new([Fingerprint::of_cert(&cert_der(&agent.cert)).unwrap()]);
    let outcome = connect(
        server_config(&agent, DenyList::default()).expect("server"),
        client_config(&client, deny, None).expect("client"),
    )
    .await;
    assert_eq!(
        rustls_error(&outcome.client),
        rustls::Error::InvalidCertificate(CertificateError::Revoked)
    );
}

#[tokio::test]
async fn pinned_agent_mismatch_is_refused_by_the_client() {
    let pki = Pki::new();
    let agent = pki.host(Role::Agent, "a1");
    let expected = pki.host(Role::Agent, "a2");
    let client = pki.host(Role::Client, "c1");
    let pin = Fingerprint::of_cert(&cert_der(&expected.cert)).unwrap();
    let outcome = connect(
        server_config(&agent, DenyList::default()).expect("server"),
        client_config(&client, DenyList::default(), Some(pin)).expect("client"),
    )
    .await;
    assert_eq!(
        rustls_error(&outcome.client),
        rustls::Error::InvalidCertificate(CertificateError::ApplicationVerificationFailure)
    );
    assert_eq!(
        rustls_error(&outcome.server),
        rustls::Error::AlertReceived(AlertDescription::AccessDenied)
    );
}

#[test]
fn agent_configured_with_a_client_certificate_fails_at_load() {
    let pki = Pki::new();
    let client = pki.host(Role::Client, "c1");
    let err = server_config(&client, DenyList::default())
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        format!(
            "certificate {} cannot be used by an agent: it is a client certificate, and only agent \
             certificates are accepted here; issue a new certificate with `serialctl pki issue --role agent`",
            client.cert.display()
        )
    );
}

#[test]
fn client_configured_with_an_agent_certificate_fails_at_load() {
    let pki = Pki::new();
    let agent = pki.host(Role::Agent, "a1");
    let err = client_config(&agent, DenyList::default(), None)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(&format!(
            "certificate {} cannot be used by a client: it is an agent certificate",
            agent.cert.display()
        )),
        "{err}"
    );
    assert!(err.contains("--role client"), "{err}");
}

#[test]
fn own_certificate_from_another_ca_fails_at_load() {
    let pki = Pki::new();
    let other = Pki::new();
    let mut files = other.host(Role::Client, "c1");
    files.ca = pki.ca_pem();
    let err = client_config(&files, DenyList::default(), None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("cannot be used by a client: not issued by the pinned CA"),
        "{err}"
    );
    assert!(
        err.contains("set the CA to the one that issued it"),
        "{err}"
    );
}

#[test]
fn key_of_another_certificate_fails_at_load() {
    let pki = Pki::new();
    let mut files = pki.host(Role::Agent, "a1");
    files.key = pki.host(Role::Agent, "a2").key;
    let err = server_config(&files, DenyList::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(&format!(
            "private key {} does not belong to certificate {}",
            files.key.display(),
            files.cert.display()
        )),
        "{err}"
    );
}

#[test]
fn host_certificate_given_as_ca_fails_at_load() {
    let pki = Pki::new();
    let mut files = pki.host(Role::Agent, "a1");
    files.ca = files.cert.clone();
    let err = server_config(&files, DenyList::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(&format!(
            "CA certificate {} is not usable: CN=a1",
            files.cert.display()
        )),
        "{err}"
    );
    assert!(err.contains("is not a CA certificate"), "{err}");
}
