//! `seriald`: shares the serial devices of one host over mutual TLS.

pub mod addr_watch;
pub mod admission;
pub mod authz;
pub mod browse;
pub mod check;
pub mod demo;
pub mod discovery;
pub mod esphome;
pub mod handler;
pub mod hold;
pub mod hotplug;
pub mod identity;
pub mod line_control;
pub mod mdns;
pub mod mesh;
pub mod registry;
pub mod renewal;
pub mod run;
pub mod serial;
pub mod server;
pub mod session;
pub mod telemetry;
pub mod throttle;
