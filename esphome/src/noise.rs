//! The Noise handshake ESPHome's API uses, as the responder:
//! `Noise_NNpsk0_25519_ChaChaPoly_SHA256` with the prologue "NoiseAPIInit",
//! the client hello's length (16-bit big-endian) and the client hello
//! itself (zwave-js and aioesphomeapi send an empty one, so the prologue is
//! "NoiseAPIInit\0\0"). The pre-shared key is mixed in before anything
//! else, so the first handshake message's tag only verifies under the key
//! the client holds: trying each configured key on it tells the clients
//! apart, costs a hash and an AEAD check per key (no Diffie-Hellman), and a
//! client with no valid key learns only that its key is wrong.

use sha2::{Digest, Sha256};
use snow::{HandshakeState, TransportState};

use crate::frame;

pub const PATTERN: &str = "Noise_NNpsk0_25519_ChaChaPoly_SHA256";
const PROLOGUE_PREFIX: &[u8] = b"NoiseAPIInit";
/// The server hello's first byte: the one protocol ESPHome defines (Noise).
const PROTOCOL_NOISE: u8 = 0x01;
/// Status byte of a handshake answer.
const HANDSHAKE_OK: u8 = 0x00;
const HANDSHAKE_REJECT: u8 = 0x01;

/// A client's key, as its `key_file` holds it (base64 of 32 bytes).
#[derive(Clone)]
pub struct ClientKey {
    pub name: String,
    pub key: [u8; 32],
}

impl ClientKey {
    /// What names the key in `revoked` and in logs without revealing it: a
    /// SHA-256 over a label and the key (a key is not a certificate's
    /// public key, so the label keeps the two kinds of fingerprint apart).
    pub fn digest(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(b"serialmesh esphome key\0");
        h.update(self.key);
        h.finalize().into()
    }
}

impl std::fmt::Debug for ClientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientKey")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    #[error("handshake message does not start with 0x00 (got {0:?})")]
    BadStatus(Option<u8>),
    #[error("no configured key verifies the handshake (wrong or revoked key)")]
    NoKey,
    #[error("noise: {0}")]
    Noise(#[source] snow::Error),
}

pub fn prologue(client_hello: &[u8]) -> Vec<u8> {
    let mut p = PROLOGUE_PREFIX.to_vec();
    p.extend_from_slice(&(client_hello.len() as u16).to_be_bytes());
    p.extend_from_slice(client_hello);
    p
}

/// The server hello: the protocol byte, then the node name and its MAC
/// address, each ended by a zero byte.
pub fn server_hello(name: &str, mac: &str) -> Vec<u8> {
    let mut m = vec![PROTOCOL_NOISE];
    m.extend(name.bytes().filter(|&b| b != 0));
    m.push(0);
    m.extend(mac.bytes().filter(|&b| b != 0));
    m.push(0);
    m
}

/// ESPHome's explicit refusal: status 0x01 and a reason.
pub fn reject(reason: &str) -> Vec<u8> {
    let mut m = vec![HANDSHAKE_REJECT];
    m.extend_from_slice(reason.as_bytes());
    m
}

fn params() -> snow::params::NoiseParams {
    // A constant that parses: checked by the tests.
    PATTERN.parse().expect("noise pattern")
}

/// Tries each key on the client's first handshake message (with its status
/// byte); on a match returns which key and the handshake, ready to answer.
/// Every key is tried whichever matches, so the time taken does not say
/// where in the list a key is (or, for a revoked key, that it is there).
pub fn accept(
    prologue: &[u8],
    message: &[u8],
    keys: &[ClientKey],
) -> Result<(usize, HandshakeState), HandshakeError> {
    let Some((&HANDSHAKE_OK, body)) = message.split_first() else {
        return Err(HandshakeError::BadStatus(message.first().copied()));
    };
    let mut scratch = [0u8; frame::MAX_HANDSHAKE_FRAME];
    let mut matched = None;
    for (i, k) in keys.iter().enumerate() {
        let mut hs = snow::Builder::new(params())
            .prologue(prologue)
            .psk(0, &k.key)
            .build_responder()
            .map_err(HandshakeError::Noise)?;
        if hs.read_message(body, &mut scratch).is_ok() && matched.is_none() {
            matched = Some((i, hs));
        }
    }
    matched.ok_or(HandshakeError::NoKey)
}

/// The second handshake message (with its status byte) and the transport.
pub fn respond(mut hs: HandshakeState) -> Result<(Vec<u8>, Transport), HandshakeError> {
    let mut out = vec![0u8; 1 + frame::MAX_HANDSHAKE_FRAME];
    let n = hs
        .write_message(&[], &mut out[1..])
        .map_err(HandshakeError::Noise)?;
    out[0] = HANDSHAKE_OK;
    out.truncate(1 + n);
    let state = hs.into_transport_mode().map_err(HandshakeError::Noise)?;
    Ok((out, Transport { state }))
}

/// One connection's ciphers after the handshake.
pub struct Transport {
    state: TransportState,
}

/// AEAD tag length of ChaChaPoly.
const TAG: usize = 16;

impl Transport {
    /// Appends message `id` with `body`, encrypted, as one frame.
    pub fn seal(&mut self, id: u16, body: &[u8], out: &mut Vec<u8>) -> Result<(), snow::Error> {
        let plain = frame::message(id, body);
        let mut sealed = vec![0u8; plain.len() + TAG];
        let n = self.state.write_message(&plain, &mut sealed)?;
        frame::put(out, &sealed[..n]);
        Ok(())
    }

    /// Decrypts one frame's payload.
    pub fn open(&mut self, payload: &[u8]) -> Result<Vec<u8>, snow::Error> {
        let mut plain = vec![0u8; payload.len()];
        let n = self.state.read_message(payload, &mut plain)?;
        plain.truncate(n);
        Ok(plain)
    }
}

/// The client's side, for tests and the benchmark: the first handshake
/// message (with its status byte) for `key`.
pub fn initiate(
    key: &[u8; 32],
    client_hello: &[u8],
) -> Result<(Vec<u8>, HandshakeState), snow::Error> {
    let mut hs = snow::Builder::new(params())
        .prologue(&prologue(client_hello))
        .psk(0, key)
        .build_initiator()?;
    let mut out = vec![0u8; 1 + frame::MAX_HANDSHAKE_FRAME];
    let n = hs.write_message(&[], &mut out[1..])?;
    out[0] = HANDSHAKE_OK;
    out.truncate(1 + n);
    Ok((out, hs))
}

/// The client's side: reads the server's answer (with its status byte).
pub fn finish(mut hs: HandshakeState, answer: &[u8]) -> Result<Transport, String> {
    match answer.split_first() {
        Some((&HANDSHAKE_OK, body)) => {
            let mut scratch = [0u8; frame::MAX_HANDSHAKE_FRAME];
            hs.read_message(body, &mut scratch)
                .map_err(|e| e.to_string())?;
            let state = hs.into_transport_mode().map_err(|e| e.to_string())?;
            Ok(Transport { state })
        }
        Some((_, reason)) => Err(String::from_utf8_lossy(reason).into_owned()),
        None => Err("empty handshake answer".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str, b: u8) -> ClientKey {
        ClientKey {
            name: name.into(),
            key: [b; 32],
        }
    }

    #[test]
    fn the_prologue_of_an_empty_client_hello_is_noise_api_init_and_two_zero_bytes() {
        assert_eq!(prologue(&[]), b"NoiseAPIInit\0\0".to_vec());
        assert_eq!(prologue(&[7]), b"NoiseAPIInit\0\x01\x07".to_vec());
    }

    #[test]
    fn the_server_hello_is_protocol_one_name_and_mac_each_zero_terminated() {
        assert_eq!(server_hello("shed", ""), b"\x01shed\0\0".to_vec());
    }

    #[test]
    fn the_key_a_client_holds_picks_its_name_and_both_sides_then_talk() {
        let keys = [key("a", 1), key("b", 2), key("c", 3)];
        let (m1, client) = initiate(&[2; 32], &[]).unwrap();
        assert_eq!(m1.len(), 1 + 32 + 16, "status, ephemeral key, tag");
        let (which, hs) = accept(&prologue(&[]), &m1, &keys).unwrap();
        assert_eq!(keys[which].name, "b");
        let (m2, mut server) = respond(hs).unwrap();
        let mut client = finish(client, &m2).unwrap();

        let mut wire = Vec::new();
        server.seal(128, b"frame", &mut wire).unwrap();
        let mut buf = bytes::BytesMut::from(&wire[..]);
        let payload = frame::take(&mut buf, frame::MAX_FRAME).unwrap().unwrap();
        let plain = client.open(&payload).unwrap();
        assert_eq!(frame::split_message(&plain).unwrap(), (128, &b"frame"[..]));
    }

    #[test]
    fn a_wrong_key_matches_no_client() {
        let keys = [key("a", 1), key("b", 2)];
        let (m1, _) = initiate(&[9; 32], &[]).unwrap();
        assert!(matches!(
            accept(&prologue(&[]), &m1, &keys),
            Err(HandshakeError::NoKey)
        ));
    }

    #[test]
    fn a_different_client_hello_changes_the_prologue_and_fails_the_handshake() {
        let keys = [key("a", 1)];
        let (m1, _) = initiate(&[1; 32], b"x").unwrap();
        assert!(accept(&prologue(&[]), &m1, &keys).is_err());
    }

    #[test]
    fn a_handshake_without_the_zero_status_byte_is_refused() {
        let keys = [key("a", 1)];
        let (mut m1, _) = initiate(&[1; 32], &[]).unwrap();
        m1[0] = 1;
        assert!(matches!(
            accept(&prologue(&[]), &m1, &keys),
            Err(HandshakeError::BadStatus(Some(1)))
        ));
    }

    #[test]
    fn a_refusal_reaches_the_client_as_its_reason() {
        let (_, hs) = initiate(&[1; 32], &[]).unwrap();
        let e = finish(hs, &reject("Handshake MAC failure")).err().unwrap();
        assert_eq!(e, "Handshake MAC failure");
    }

    #[test]
    fn a_key_digest_is_stable_and_differs_per_key() {
        assert_eq!(key("a", 1).digest(), key("other", 1).digest());
        assert_ne!(key("a", 1).digest(), key("a", 2).digest());
    }
}
