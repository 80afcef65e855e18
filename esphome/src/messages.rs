//! The few messages of ESPHome's native API (`api.proto`) that a Z-Wave
//! proxy needs, with the field numbers and wire types `api.proto` gives
//! them: zwave-js parses DeviceInfoResponse strictly by wire type (a field
//! with another wire type drops the whole message, and zwave-js times out
//! after 5 s), so each field here is the protobuf type `api.proto` names.
//! The numeric message ids travel beside the message (`frame.rs`), not in
//! it.

/// Message ids, from `api.proto`'s `option (id)`.
pub mod id {
    pub const HELLO_REQUEST: u16 = 1;
    pub const HELLO_RESPONSE: u16 = 2;
    pub const CONNECT_REQUEST: u16 = 3;
    pub const CONNECT_RESPONSE: u16 = 4;
    pub const DISCONNECT_REQUEST: u16 = 5;
    pub const DISCONNECT_RESPONSE: u16 = 6;
    pub const PING_REQUEST: u16 = 7;
    pub const PING_RESPONSE: u16 = 8;
    pub const DEVICE_INFO_REQUEST: u16 = 9;
    pub const DEVICE_INFO_RESPONSE: u16 = 10;
    pub const LIST_ENTITIES_REQUEST: u16 = 11;
    pub const LIST_ENTITIES_DONE_RESPONSE: u16 = 19;
    pub const SUBSCRIBE_STATES_REQUEST: u16 = 20;
    pub const ZWAVE_PROXY_FRAME: u16 = 128;
    pub const ZWAVE_PROXY_REQUEST: u16 = 129;
}

/// `api.proto`'s API version this endpoint speaks (the Z-Wave proxy
/// messages came with 1.12).
pub const API_VERSION: (u32, u32) = (1, 12);

/// `zwave_proxy_feature_flags`: any value above zero tells zwave-js the
/// proxy is there; zero is how a busy or forbidden device is refused.
pub const ZWAVE_PROXY_ENABLED: u32 = 1;

#[derive(Clone, PartialEq, prost::Message)]
pub struct HelloRequest {
    #[prost(string, tag = "1")]
    pub client_info: String,
    #[prost(uint32, tag = "2")]
    pub api_version_major: u32,
    #[prost(uint32, tag = "3")]
    pub api_version_minor: u32,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct HelloResponse {
    #[prost(uint32, tag = "1")]
    pub api_version_major: u32,
    #[prost(uint32, tag = "2")]
    pub api_version_minor: u32,
    #[prost(string, tag = "3")]
    pub server_info: String,
    #[prost(string, tag = "4")]
    pub name: String,
}

/// The password check of older clients (`ConnectResponse`): there is no
/// password, the Noise key is the credential.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ConnectResponse {
    #[prost(bool, tag = "1")]
    pub invalid_password: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct DeviceInfoResponse {
    #[prost(bool, tag = "1")]
    pub uses_password: bool,
    #[prost(string, tag = "2")]
    pub name: String,
    #[prost(string, tag = "3")]
    pub mac_address: String,
    #[prost(string, tag = "4")]
    pub esphome_version: String,
    #[prost(string, tag = "6")]
    pub model: String,
    #[prost(string, tag = "12")]
    pub manufacturer: String,
    #[prost(string, tag = "13")]
    pub friendly_name: String,
    #[prost(bool, tag = "19")]
    pub api_encryption_supported: bool,
    #[prost(uint32, tag = "23")]
    pub zwave_proxy_feature_flags: u32,
    #[prost(uint32, tag = "24")]
    pub zwave_home_id: u32,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ZWaveProxyFrame {
    #[prost(bytes = "vec", tag = "1")]
    pub data: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ZWaveProxyRequest {
    #[prost(enumeration = "ZWaveProxyRequestType", tag = "1")]
    pub r#type: i32,
    #[prost(bytes = "vec", tag = "2")]
    pub data: Vec<u8>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, prost::Enumeration)]
#[repr(i32)]
pub enum ZWaveProxyRequestType {
    Subscribe = 0,
    Unsubscribe = 1,
    HomeIdChange = 2,
}

/// A message the endpoint acts on, decoded from its id and body.
#[derive(Debug, PartialEq)]
pub enum Incoming {
    Hello(HelloRequest),
    Connect,
    Disconnect,
    Ping,
    DeviceInfo,
    ListEntities,
    SubscribeStates,
    Frame(Vec<u8>),
    Subscribe,
    Unsubscribe,
    /// Answers to our own requests, and messages a Z-Wave proxy has no
    /// use for: ignored, as ESPHome ignores what it does not handle.
    Other(u16),
}

impl Incoming {
    pub fn decode(id: u16, body: &[u8]) -> Result<Incoming, prost::DecodeError> {
        use prost::Message;
        Ok(match id {
            id::HELLO_REQUEST => Incoming::Hello(HelloRequest::decode(body)?),
            id::CONNECT_REQUEST => Incoming::Connect,
            id::DISCONNECT_REQUEST => Incoming::Disconnect,
            id::PING_REQUEST => Incoming::Ping,
            id::DEVICE_INFO_REQUEST => Incoming::DeviceInfo,
            id::LIST_ENTITIES_REQUEST => Incoming::ListEntities,
            id::SUBSCRIBE_STATES_REQUEST => Incoming::SubscribeStates,
            id::ZWAVE_PROXY_FRAME => Incoming::Frame(ZWaveProxyFrame::decode(body)?.data),
            id::ZWAVE_PROXY_REQUEST => {
                let r = ZWaveProxyRequest::decode(body)?;
                match ZWaveProxyRequestType::try_from(r.r#type) {
                    Ok(ZWaveProxyRequestType::Subscribe) => Incoming::Subscribe,
                    Ok(ZWaveProxyRequestType::Unsubscribe) => Incoming::Unsubscribe,
                    _ => Incoming::Other(id),
                }
            }
            other => Incoming::Other(other),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn device_info_carries_the_feature_flags_as_varint_field_23_and_the_home_id_as_field_24() {
        let m = DeviceInfoResponse {
            zwave_proxy_feature_flags: 1,
            zwave_home_id: 0x7e57_0001,
            ..Default::default()
        };
        let bytes = m.encode_to_vec();
        // Tag (23 << 3 | 0) = 184 = varint b8 01, then 1.
        assert_eq!(&bytes[..3], &[0xb8, 0x01, 0x01]);
        // Tag (24 << 3 | 0) = 192 = c0 01, then the id as a varint.
        assert_eq!(&bytes[3..5], &[0xc0, 0x01]);
        assert_eq!(DeviceInfoResponse::decode(&*bytes).unwrap(), m);
    }

    #[test]
    fn device_info_strings_and_bools_have_the_wire_types_zwave_js_insists_on() {
        let m = DeviceInfoResponse {
            uses_password: true,
            name: "n".into(),
            mac_address: "m".into(),
            api_encryption_supported: true,
            ..Default::default()
        };
        let bytes = m.encode_to_vec();
        // 1: varint, 2 and 3: length-delimited, 19: varint (tag 152 = 98 01).
        assert_eq!(
            bytes,
            vec![0x08, 1, 0x12, 1, b'n', 0x1a, 1, b'm', 0x98, 0x01, 1]
        );
    }

    #[test]
    fn hello_response_fields_are_numbered_as_in_api_proto() {
        let m = HelloResponse {
            api_version_major: 1,
            api_version_minor: 12,
            server_info: "s".into(),
            name: "a".into(),
        };
        assert_eq!(
            m.encode_to_vec(),
            vec![0x08, 1, 0x10, 12, 0x1a, 1, b's', 0x22, 1, b'a']
        );
    }

    #[test]
    fn zwave_js_hello_and_subscribe_decode() {
        // As zwave-js writes them: client_info "zwave-js", version 1.0.
        let mut hello = vec![0x0a, 8];
        hello.extend_from_slice(b"zwave-js");
        hello.extend_from_slice(&[0x10, 1, 0x18, 0]);
        assert_eq!(
            Incoming::decode(id::HELLO_REQUEST, &hello).unwrap(),
            Incoming::Hello(HelloRequest {
                client_info: "zwave-js".into(),
                api_version_major: 1,
                api_version_minor: 0
            })
        );
        assert_eq!(
            Incoming::decode(id::ZWAVE_PROXY_REQUEST, &[0x08, 0]).unwrap(),
            Incoming::Subscribe
        );
        assert_eq!(
            Incoming::decode(id::ZWAVE_PROXY_REQUEST, &[0x08, 1]).unwrap(),
            Incoming::Unsubscribe
        );
    }

    #[test]
    fn a_proxy_frame_is_bytes_in_field_1() {
        let f = ZWaveProxyFrame {
            data: vec![0x01, 0x03, 0x00, 0x08, 0xf4],
        };
        let bytes = f.encode_to_vec();
        assert_eq!(bytes, vec![0x0a, 5, 0x01, 0x03, 0x00, 0x08, 0xf4]);
        assert_eq!(
            Incoming::decode(id::ZWAVE_PROXY_FRAME, &bytes).unwrap(),
            Incoming::Frame(f.data)
        );
    }

    #[test]
    fn a_malformed_body_is_an_error_not_a_message() {
        assert!(Incoming::decode(id::ZWAVE_PROXY_FRAME, &[0x0a, 9, 1]).is_err());
    }
}
