//! The client's side of the protocol, blocking: what zwave-js does, for the
//! benchmark's ESPHome row and for tests that need to go where zwave-js
//! cannot (many handshakes at once, a client that stops half-way). It
//! opens as zwave-js opens: empty client hello, wait for the server hello,
//! handshake, HelloRequest, DeviceInfoRequest, subscribe.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use prost::Message;

use crate::frame::{self, MAX_FRAME, MAX_HANDSHAKE_FRAME};
use crate::messages::{self as m, id};
use crate::noise::{self, Transport};

pub struct BlockingClient {
    stream: TcpStream,
    buf: BytesMut,
    /// Shared by a reader and a writer clone ([`BlockingClient::try_clone`]):
    /// each direction has its own cipher and nonce inside.
    transport: Arc<Mutex<Transport>>,
    /// Z-Wave bytes received and not yet read.
    pending: Vec<u8>,
    /// What the endpoint said in its DeviceInfoResponse.
    pub device_info: m::DeviceInfoResponse,
}

fn bad(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

impl BlockingClient {
    /// Connects, proves `key`, and asks for the device; subscribes only if
    /// the endpoint offers the Z-Wave proxy (feature flags above zero).
    pub fn connect(addr: SocketAddr, key: &[u8; 32], timeout: Duration) -> io::Result<Self> {
        let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        frame::put(&mut out, &[]);
        stream.write_all(&out)?;
        let hello = read_frame(&mut stream, &mut buf, MAX_HANDSHAKE_FRAME)?;
        if hello.first() != Some(&1) {
            return Err(bad("server hello is not protocol 1"));
        }
        let (first, hs) = noise::initiate(key, &[]).map_err(|e| bad(e.to_string()))?;
        out.clear();
        frame::put(&mut out, &first);
        stream.write_all(&out)?;
        let answer = read_frame(&mut stream, &mut buf, MAX_HANDSHAKE_FRAME)?;
        let transport = noise::finish(hs, &answer).map_err(|reason| {
            io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!("handshake refused: {reason}"),
            )
        })?;
        let mut c = BlockingClient {
            stream,
            buf,
            transport: Arc::new(Mutex::new(transport)),
            pending: Vec::new(),
            device_info: m::DeviceInfoResponse::default(),
        };
        let hello = m::HelloRequest {
            client_info: "serialmesh-bench".into(),
            api_version_major: 1,
            api_version_minor: 0,
        };
        c.send(id::HELLO_REQUEST, &hello.encode_to_vec())?;
        c.wait_for(id::HELLO_RESPONSE)?;
        c.send(id::DEVICE_INFO_REQUEST, &[])?;
        let info = c.wait_for(id::DEVICE_INFO_RESPONSE)?;
        c.device_info = m::DeviceInfoResponse::decode(&*info).map_err(|e| bad(e.to_string()))?;
        if c.device_info.zwave_proxy_feature_flags > 0 {
            let sub = m::ZWaveProxyRequest {
                r#type: m::ZWaveProxyRequestType::Subscribe as i32,
                data: Vec::new(),
            };
            c.send(id::ZWAVE_PROXY_REQUEST, &sub.encode_to_vec())?;
        }
        Ok(c)
    }

    /// A second handle on the same connection, for a writer thread: one
    /// handle writes, the other reads.
    pub fn try_clone(&self) -> io::Result<Self> {
        Ok(BlockingClient {
            stream: self.stream.try_clone()?,
            buf: BytesMut::new(),
            transport: self.transport.clone(),
            pending: Vec::new(),
            device_info: self.device_info.clone(),
        })
    }

    fn cipher(&self) -> std::sync::MutexGuard<'_, Transport> {
        self.transport.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the endpoint gave this client the device.
    pub fn has_device(&self) -> bool {
        self.device_info.zwave_proxy_feature_flags > 0
    }

    fn send(&mut self, msg_id: u16, body: &[u8]) -> io::Result<()> {
        let mut out = Vec::new();
        self.cipher()
            .seal(msg_id, body, &mut out)
            .map_err(|e| bad(e.to_string()))?;
        self.stream.write_all(&out)
    }

    /// The next message: its id and body.
    pub fn receive(&mut self) -> io::Result<(u16, Vec<u8>)> {
        let payload = read_frame(&mut self.stream, &mut self.buf, MAX_FRAME)?;
        let plain = self
            .cipher()
            .open(&payload)
            .map_err(|e| bad(e.to_string()))?;
        let (msg_id, body) = frame::split_message(&plain).map_err(|e| bad(e.to_string()))?;
        Ok((msg_id, body.to_vec()))
    }

    fn wait_for(&mut self, want: u16) -> io::Result<Vec<u8>> {
        loop {
            let (msg_id, body) = self.receive()?;
            if msg_id == want {
                return Ok(body);
            }
        }
    }
}

impl Read for BlockingClient {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pending.is_empty() {
            let (msg_id, body) = self.receive()?;
            match msg_id {
                id::ZWAVE_PROXY_FRAME => {
                    let f = m::ZWaveProxyFrame::decode(&*body).map_err(|e| bad(e.to_string()))?;
                    self.pending = f.data;
                }
                id::DISCONNECT_REQUEST => return Ok(0),
                _ => {}
            }
        }
        let n = buf.len().min(self.pending.len());
        buf[..n].copy_from_slice(&self.pending[..n]);
        self.pending.drain(..n);
        Ok(n)
    }
}

impl Write for BlockingClient {
    /// One ZWaveProxyFrame per write, as zwave-js sends one per frame.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(4096);
        let body = m::ZWaveProxyFrame {
            data: buf[..n].to_vec(),
        }
        .encode_to_vec();
        self.send(id::ZWAVE_PROXY_FRAME, &body)?;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl BlockingClient {
    /// Says goodbye as zwave-js does, half-closes and waits for the close.
    pub fn close(mut self) {
        let _ = self.send(id::DISCONNECT_REQUEST, &[]);
        let _ = self.stream.shutdown(std::net::Shutdown::Write);
        let mut scratch = [0u8; 1024];
        while matches!(self.stream.read(&mut scratch), Ok(n) if n > 0) {}
    }
}

fn read_frame(
    stream: &mut TcpStream,
    buf: &mut BytesMut,
    limit: usize,
) -> io::Result<bytes::Bytes> {
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(f) = frame::take(buf, limit).map_err(|e| bad(e.to_string()))? {
            return Ok(f);
        }
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed",
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}
