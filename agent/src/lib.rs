//! `seriald`: shares the serial devices of one host over mutual TLS.
//!
//! Four clusters, each a folder, and the start-up that wires them:
//! `listener/` (accept, admit, handshake, then Hello and a request),
//! `port/` (one client on one shared device, from claim to close),
//! `mesh/` (this agent on mDNS, and the other agents it reports), and
//! `usb/` (which serial devices this host has, kept in the registry).
//! `docs/architecture.md` has the map.

pub mod authz;
pub mod check;
pub mod demo;
pub mod esphome;
pub mod failure;
pub mod identity;
pub mod listener;
pub mod mesh;
pub mod port;
pub mod registry;
pub mod renewal;
pub mod run;
pub mod telemetry;
pub mod usb;
