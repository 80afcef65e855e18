//! Key fingerprints: what deny-lists and pins are written in.
//!
//! A fingerprint names a key, not one encoding of a certificate. The
//! SHA-256 of a certificate's whole DER would not do: ECDSA signatures are
//! malleable (replacing `s` by `n - s` gives a second valid signature), so
//! anyone holding a certificate can make a twin that every verifier accepts
//! and that hashes differently, and a CA can re-issue a certificate for the
//! same key. A deny-list of certificate hashes can therefore be walked
//! around with the very certificate it lists. The SHA-256 of the
//! certificate's SubjectPublicKeyInfo (the DER the certificate carries for
//! its public key, algorithm included) is the same in every certificate of
//! that key, and a key is what a thief holds.
//!
//! Text form: `spki:` and 64 lowercase hex digits. Parsed also from 32
//! `:`-separated pairs after `spki:`, in either case, and from curl's pin
//! form `sha256//BASE64` (the base64 SHA-256 of the SubjectPublicKeyInfo,
//! which `openssl x509 -pubkey | openssl pkey -pubin -outform der | openssl
//! dgst -sha256 -binary | base64` prints). A bare 64-digit hex value is
//! what serialmesh printed when fingerprints named certificates; it is
//! refused with a message saying how to get the key fingerprint, never
//! silently reread as a key (a revoked-file entry that quietly matched
//! nothing would let the certificate it was meant to keep out back in).

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

use crate::PkiError;

/// The text before the hex digits.
pub const PREFIX: &str = "spki:";
/// curl's `--pinnedpubkey` prefix for a base64 SHA-256 of the key.
const CURL_PREFIX: &str = "sha256//";

/// SHA-256 of a SubjectPublicKeyInfo's DER encoding.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    /// The fingerprint of a DER SubjectPublicKeyInfo.
    pub fn of_key(spki_der: &[u8]) -> Self {
        Fingerprint(Sha256::digest(spki_der).into())
    }

    /// The fingerprint of the key a DER certificate carries.
    pub fn of_cert(cert_der: &[u8]) -> Result<Self, PkiError> {
        let (_, x509) = x509_parser::parse_x509_certificate(cert_der).map_err(|e| {
            PkiError::NotACertificate {
                detail: e.to_string(),
            }
        })?;
        Ok(Self::of_key(x509.public_key().raw))
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PREFIX}{}", hex::encode(self.0))
    }
}

// The text form rather than a byte array, so test failures and logs are
// readable.
impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

impl FromStr for Fingerprint {
    type Err = PkiError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = |reason: &str| PkiError::InvalidFingerprint {
            value: s.to_string(),
            reason: reason.to_string(),
        };
        let trimmed = s.trim();
        if let Some(b64) = trimmed.strip_prefix(CURL_PREFIX) {
            return from_base64(b64)
                .map(Fingerprint)
                .map_err(|reason| invalid(&reason));
        }
        let (digits, prefixed) = match strip_prefix_ignore_case(trimmed, PREFIX) {
            Some(rest) => (rest, true),
            None => (trimmed, false),
        };
        let bytes = from_hex(digits).map_err(|reason| invalid(&reason))?;
        if !prefixed {
            return Err(PkiError::CertificateFingerprint {
                value: s.to_string(),
            });
        }
        Ok(Fingerprint(bytes))
    }
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

fn from_hex(text: &str) -> Result<[u8; 32], String> {
    let digits: String = if text.contains(':') {
        // Only the regular "aa:bb:..." form: a stray colon more likely
        // means two fingerprints were glued together than a typo.
        let pairs: Vec<&str> = text.split(':').collect();
        if pairs.len() != 32 || pairs.iter().any(|p| p.len() != 2) {
            return Err("with ':' separators it must be 32 pairs of hex digits".into());
        }
        pairs.concat()
    } else {
        text.to_string()
    };
    if digits.len() != 64 {
        return Err(format!("it has {} hex digits, not 64", digits.len()));
    }
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(digits.to_ascii_lowercase(), &mut bytes)
        .map_err(|_| "it contains characters other than 0-9 and a-f".to_string())?;
    Ok(bytes)
}

fn from_base64(text: &str) -> Result<[u8; 32], String> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| format!("after 'sha256//' it is not base64 ({e})"))?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
        format!(
            "after 'sha256//' it decodes to {} bytes, not the 32 of a SHA-256",
            bytes.len()
        )
    })
}

/// SHA-256 of a certificate's whole DER, 64 hex digits: what serialmesh
/// called a fingerprint before fingerprints named keys. Only for the mDNS
/// TXT `fp` that older clients pin; never for a decision here.
pub fn legacy_certificate_hash(cert_der: &[u8]) -> String {
    hex::encode(Sha256::digest(cert_der))
}
