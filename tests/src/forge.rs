//! Certificates an attacker (or another CA tool) makes from ones we
//! issued, with software nobody here wrote: Python's `cryptography` for the
//! ECDSA twin, the `openssl` command line for a certificate re-issued for
//! an existing key, or for a new key as cert-manager would issue one.
//!
//! Both keep the key of the original, so a deny-list or pin that names the
//! key must treat them as the original; one that names the certificate's
//! encoding would not.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::pki::{Pki, Role, TlsPaths};
use crate::proc::ProcBuilder;
use crate::tools::{repo_root, require};

const TOOL_TIMEOUT: Duration = Duration::from_secs(60);

/// The twin of `tls.cert`: the CA's ECDSA signature `(r, s)` replaced by
/// `(r, n - s)`, which every verifier accepts, with another SHA-256 of its
/// DER. Same key file, same CA.
///
/// # Panics
/// If python3 or its `cryptography` package is missing (`.ci/run` installs
/// python3-cryptography), with the tool's output.
pub fn ecdsa_twin(tls: &TlsPaths) -> TlsPaths {
    let out = sibling(&tls.cert, "twin");
    run(
        ProcBuilder::new(require("python3", "apt-get install python3"))
            .arg(repo_root().join("tests/py/twin_cert.py"))
            .arg(&tls.cert)
            .arg(&out),
        "twin_cert.py",
    );
    TlsPaths {
        cert: out,
        ..tls.clone()
    }
}

/// A new certificate for the key of `tls`, issued by `pki`'s CA with
/// `openssl x509 -req` (another serial number, other dates, other
/// extension order: a different certificate in every byte but the key), for
/// `role` and `name`.
///
/// # Panics
/// If openssl is missing or fails, with its output.
pub fn reissued_by_openssl(pki: &Pki, tls: &TlsPaths, role: Role, name: &str) -> TlsPaths {
    let openssl = require("openssl", "apt-get install openssl");
    let csr = sibling(&tls.cert, "csr");
    let ext = sibling(&tls.cert, "ext");
    let out = sibling(&tls.cert, "reissued");
    run(
        ProcBuilder::new(&openssl)
            .args(["req", "-new", "-subj"])
            .arg(format!("/CN={name}/O=elsewhere"))
            .arg("-key")
            .arg(&tls.key)
            .arg("-out")
            .arg(&csr),
        "openssl req",
    );
    let usage = match role {
        Role::Agent => "serverAuth",
        Role::Client => "clientAuth",
    };
    std::fs::write(
        &ext,
        format!(
            "extendedKeyUsage = {usage}\nsubjectAltName = URI:urn:serialmesh:role:{}, URI:urn:serialmesh:name:{name}\n",
            role.as_str()
        ),
    )
    .expect("write openssl extensions");
    run(
        ProcBuilder::new(&openssl)
            .args(["x509", "-req", "-days", "30", "-in"])
            .arg(&csr)
            .arg("-CA")
            .arg(pki.ca_cert())
            .arg("-CAkey")
            .arg(pki.ca_dir().join("ca.key"))
            .args(["-set_serial", "4242", "-extfile"])
            .arg(&ext)
            .arg("-out")
            .arg(&out),
        "openssl x509 -req",
    );
    TlsPaths {
        cert: out,
        ..tls.clone()
    }
}

/// A new ECDSA P-256 key (SEC1 PEM, cert-manager's default encoding for
/// ECDSA) in `dir`, and a certificate for it issued by `pki`'s CA with
/// `openssl x509 -req`, with subject CN `cn` and the openssl extension
/// lines `extensions` (keyUsage, extendedKeyUsage, subjectAltName): a
/// certificate made the way another CA tool makes one.
///
/// # Panics
/// If openssl is missing or fails, with its output.
pub fn issued_by_openssl(pki: &Pki, dir: &Path, cn: &str, extensions: &str) -> TlsPaths {
    let ca = TlsPaths {
        cert: pki.ca_cert(),
        key: pki.ca_dir().join("ca.key"),
        ca: pki.ca_cert(),
    };
    issued_by_openssl_under(&ca, dir, cn, extensions)
}

/// As [`issued_by_openssl`], issued by the CA `issuer` (its certificate
/// and key; its `ca` is the trust anchor the result names). A certificate
/// issued by an intermediate (`issuer` made by this function with
/// `basicConstraints = critical,CA:TRUE`) holds the intermediate after
/// the leaf in its PEM, as cert-manager writes `tls.crt`.
pub fn issued_by_openssl_under(
    issuer: &TlsPaths,
    dir: &Path,
    cn: &str,
    extensions: &str,
) -> TlsPaths {
    let openssl = require("openssl", "apt-get install openssl");
    let key = dir.join(format!("{cn}.key"));
    let csr = dir.join(format!("{cn}.csr"));
    let ext = dir.join(format!("{cn}.ext"));
    let cert = dir.join(format!("{cn}.pem"));
    run(
        ProcBuilder::new(&openssl)
            .args([
                "ecparam",
                "-name",
                "prime256v1",
                "-genkey",
                "-noout",
                "-out",
            ])
            .arg(&key),
        "openssl ecparam",
    );
    run(
        ProcBuilder::new(&openssl)
            .args(["req", "-new", "-subj"])
            .arg(format!("/CN={cn}"))
            .arg("-key")
            .arg(&key)
            .arg("-out")
            .arg(&csr),
        "openssl req",
    );
    std::fs::write(&ext, extensions).expect("write openssl extensions");
    run(
        ProcBuilder::new(&openssl)
            .args(["x509", "-req", "-days", "365", "-in"])
            .arg(&csr)
            .arg("-CA")
            .arg(&issuer.cert)
            .arg("-CAkey")
            .arg(&issuer.key)
            .args(["-set_serial", "4343", "-extfile"])
            .arg(&ext)
            .arg("-out")
            .arg(&cert),
        "openssl x509 -req",
    );
    if issuer.cert != issuer.ca {
        // The chain: the leaf, then the intermediate(s) that issued it.
        let mut pem = std::fs::read(&cert).expect("read the new certificate");
        pem.extend(std::fs::read(&issuer.cert).expect("read the issuer's chain"));
        std::fs::write(&cert, pem).expect("write the chain");
    }
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .expect("key mode 0600");
    TlsPaths {
        cert,
        key,
        ca: issuer.ca.clone(),
    }
}

/// The SHA-256 of the certificate's SubjectPublicKeyInfo as openssl
/// computes it, in the `spki:HEX` form serialmesh prints.
pub fn openssl_key_fingerprint(cert: &Path) -> String {
    let script = format!(
        "openssl x509 -in '{}' -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -r",
        cert.display()
    );
    let (code, out, err) = ProcBuilder::new("/bin/sh")
        .args(["-c", &script])
        .label("openssl-spki")
        .run_to_end(TOOL_TIMEOUT);
    assert_eq!(code, 0, "{script}: {out}{err}");
    let hex = out.split_whitespace().next().unwrap_or_default();
    format!("spki:{hex}")
}

/// A self-signed certificate (not of any serialmesh CA) whose subject CN is
/// `mallory`, a newline and `tail`: text shaped to look like a log line of
/// its own when a refusal logs the subject. Made by Python's `cryptography`.
pub fn forged_subject(dir: &Path, tail: &str) -> TlsPaths {
    let (cert, key) = (dir.join("forged.pem"), dir.join("forged.key"));
    run(
        ProcBuilder::new(require("python3", "apt-get install python3"))
            .arg(repo_root().join("tests/py/forged_subject_cert.py"))
            .arg(tail)
            .arg(&cert)
            .arg(&key),
        "forged_subject_cert.py",
    );
    TlsPaths {
        ca: cert.clone(),
        cert,
        key,
    }
}

/// What `openssl s_client` says of a handshake with `addr` as the client
/// `tls`, offering only TLS `version` ("1.2" or "1.3") and serialmesh's
/// ALPN: its exit status and everything it printed.
pub fn openssl_handshake(
    addr: std::net::SocketAddr,
    tls: &TlsPaths,
    version: &str,
) -> (i32, String) {
    let script = format!(
        "openssl s_client -connect {addr} -tls{} -alpn serialmesh/1 -cert '{}' -key '{}' -CAfile '{}' -verify_return_error </dev/null 2>&1",
        version.replace('.', "_"),
        tls.cert.display(),
        tls.key.display(),
        tls.ca.display(),
    );
    let (code, out, err) = ProcBuilder::new("/bin/sh")
        .args(["-c", &script])
        .label("openssl-s_client")
        .run_to_end(TOOL_TIMEOUT);
    (code, out + &err)
}

fn sibling(cert: &Path, what: &str) -> PathBuf {
    let stem = cert.file_stem().and_then(|s| s.to_str()).unwrap_or("cert");
    cert.with_file_name(format!("{stem}.{what}.pem"))
}

fn run(builder: ProcBuilder, what: &str) {
    let (code, out, err) = builder.label(what).run_to_end(TOOL_TIMEOUT);
    assert_eq!(code, 0, "{what} failed: {out}{err}");
}
