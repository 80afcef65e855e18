//! A rogue agent: a raw TLS server that presents a valid agent
//! certificate and says whatever a test wants (another name, peers, text
//! in its inventory). Since a rogue is not bound to run our `seriald`, the
//! tests of what clients believe play it with this, over real rustls and
//! the real wire protocol.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use rustls::{ServerConnection, StreamOwned};
use serialmesh_pki::{DenyList, TlsFiles};
use serialmesh_proto::{
    CloseReason, CloseReasonKind, DeviceInfo, DeviceState, Frame, Hello, Inventory, LineSettings,
    Opened, ALPN, PROTOCOL_VERSION,
};

use crate::pki::TlsPaths;

const T: Duration = Duration::from_secs(20);

/// A raw agent presenting `tls` and saying it is `claims` (name and zone),
/// with a device `zwave`. Records whether anyone opened it.
pub struct Rogue {
    pub addr: SocketAddr,
    /// Set once a client asked it to open the device.
    pub opened: Arc<AtomicBool>,
}

impl Rogue {
    pub fn start(tls: &TlsPaths, claims: &str) -> Rogue {
        Rogue::saying(tls, claims, Says::default())
    }

    /// A rogue whose inventory lists `peers`.
    pub fn reporting_peers(tls: &TlsPaths, claims: &str, peers: &[String]) -> Rogue {
        let says = Says {
            peers: peers.to_vec(),
            ..Says::default()
        };
        Rogue::saying(tls, claims, says)
    }

    pub fn saying(tls: &TlsPaths, claims: &str, says: Says) -> Rogue {
        let files = TlsFiles {
            cert: tls.cert.clone(),
            key: tls.key.clone(),
            ca: tls.ca.clone(),
        };
        let mut config = serialmesh_pki::server_config(&files, DenyList::default()).unwrap();
        config.alpn_protocols = vec![ALPN.to_vec()];
        let config = Arc::new(config);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let opened = Arc::new(AtomicBool::new(false));
        let (flag, claims) = (opened.clone(), claims.to_string());
        // Detached: it serves until the test process exits.
        std::thread::spawn(move || {
            for tcp in listener.incoming().flatten() {
                let (config, flag, claims, says) =
                    (config.clone(), flag.clone(), claims.clone(), says.clone());
                std::thread::spawn(move || serve(tcp, config, &claims, &says, &flag));
            }
        });
        Rogue { addr, opened }
    }
}

/// What a rogue puts in its inventory beyond its claimed name.
#[derive(Clone, Default)]
pub struct Says {
    pub peers: Vec<String>,
    /// The device's USB serial number, as shown by `serialctl ls`.
    pub serial: Option<String>,
    /// Refuse every open with this kind, and this message followed by a
    /// number that grows with each open (a different text every time).
    pub refuse: Option<(CloseReasonKind, String)>,
    /// Refusals sent so far (clones of `Says` share it).
    pub refused: Arc<AtomicU64>,
}

fn serve(
    tcp: TcpStream,
    config: Arc<rustls::ServerConfig>,
    claims: &str,
    says: &Says,
    opened: &AtomicBool,
) {
    tcp.set_read_timeout(Some(T)).unwrap();
    let mut s = StreamOwned::new(ServerConnection::new(config).unwrap(), tcp);
    let mut buf = BytesMut::new();
    while let Some(frame) = next_frame(&mut s, &mut buf) {
        let reply = match frame {
            Frame::Hello(_) => Frame::Hello(Hello {
                version: PROTOCOL_VERSION,
                software: "rogue".into(),
                name: claims.into(),
                zone: claims.into(),
                features: Vec::new(),
                time: None,
            }),
            Frame::List => Frame::Inventory(Inventory {
                agent: claims.into(),
                zone: claims.into(),
                devices: vec![DeviceInfo {
                    name: "zwave".into(),
                    address: format!("zwave@{claims}"),
                    path: "/dev/ttyUSB0".into(),
                    profile: None,
                    usb_id: None,
                    serial: says.serial.clone(),
                    product: None,
                    settings: LineSettings::default(),
                    state: DeviceState::Free,
                }],
                peers: says.peers.clone(),
                ..Inventory::default()
            }),
            Frame::Open(_) => match &says.refuse {
                Some((kind, message)) => {
                    let n = says.refused.fetch_add(1, Ordering::SeqCst);
                    Frame::Close(CloseReason::new(*kind, format!("{message} #{n}")))
                }
                None => {
                    opened.store(true, Ordering::SeqCst);
                    Frame::Opened(Opened {
                        device: "zwave".into(),
                        agent: claims.into(),
                        zone: claims.into(),
                        settings: LineSettings::default(),
                        serial: says.serial.clone(),
                    })
                }
            },
            _ => continue,
        };
        if s.write_all(&reply.to_bytes().unwrap()).is_err() {
            return;
        }
    }
}

fn next_frame(
    s: &mut StreamOwned<ServerConnection, TcpStream>,
    buf: &mut BytesMut,
) -> Option<Frame> {
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(f) = Frame::decode(buf).ok()? {
            return Some(f);
        }
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}
