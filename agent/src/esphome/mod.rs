//! ESPHome's native API, served for one shared device per `[[esphome]]`:
//! zwave-js (inside zwave-js-ui and Home Assistant's Z-Wave JS) connects to
//! `esphome://HOST:6053?key=BASE64` natively, so a stick on any agent is one
//! encrypted hop away with no `serialctl` beside the gateway.
//!
//! The outside constraints: zwave-js speaks only what ESPHome's
//! `zwave_proxy` serves (Noise frames, `api.proto` messages, ZWaveProxyFrame
//! both ways) and reports nothing but "closed" or "no Z-Wave support" when
//! something is wrong, so refusals are DeviceInfo with feature flags 0 and
//! a log line here; it reconnects only 10 times, 1 s apart, so the endpoint
//! must answer again within seconds of an agent restart; ESPHome has one
//! key per device, while an agent tells its clients apart by their keys.

pub mod frame;
pub mod messages;
pub mod noise;
