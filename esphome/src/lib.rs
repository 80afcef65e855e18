//! ESPHome's native API, the part that is wire protocol: the frame layer,
//! the Noise handshake and transport, and the `api.proto` messages a Z-Wave
//! proxy exchanges with zwave-js, plus a small blocking client of the same
//! protocol (the benchmark's ESPHome row and the tests drive the agent's
//! endpoint with it).
//!
//! It depends on no crate of ours: the agent's endpoint
//! (`agent/src/esphome/`) builds on it, as the mutual-TLS path builds on
//! `serialmesh-proto`, and a client of the protocol needs nothing else.

pub mod client;
pub mod frame;
pub mod messages;
pub mod noise;
