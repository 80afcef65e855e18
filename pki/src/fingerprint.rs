//! Certificate fingerprints: what deny-lists and pins are written in.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

use crate::PkiError;

/// SHA-256 of a certificate's DER encoding.
///
/// Displayed as 64 lowercase hex digits; parsed from that or from the
/// colon-separated form other tools print, in either case.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    pub fn of(der: &[u8]) -> Self {
        Fingerprint(Sha256::digest(der).into())
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

// Hex rather than a byte array, so test failures and logs are readable.
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
        let digits: String = if trimmed.contains(':') {
            // Only the regular "aa:bb:..." form: a stray colon more likely
            // means two fingerprints were glued together than a typo.
            let pairs: Vec<&str> = trimmed.split(':').collect();
            if pairs.len() != 32 || pairs.iter().any(|p| p.len() != 2) {
                return Err(invalid(
                    "with ':' separators it must be 32 pairs of hex digits",
                ));
            }
            pairs.concat()
        } else {
            trimmed.to_string()
        };
        if digits.len() != 64 {
            return Err(invalid(&format!(
                "it has {} hex digits, not 64",
                digits.len()
            )));
        }
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(digits.to_ascii_lowercase(), &mut bytes)
            .map_err(|_| invalid("it contains characters other than 0-9 and a-f"))?;
        Ok(Fingerprint(bytes))
    }
}
