use std::future::poll_fn;

use tokio::io::AsyncReadExt;

use super::*;

/// A connection holding `data`, answering each read with as much as the
/// reader has room for, and counting the reads.
struct Source {
    data: Vec<u8>,
    at: usize,
    reads: usize,
}

impl Source {
    fn new(len: usize) -> Self {
        Self {
            data: (0..len).map(|i| (i % 251) as u8).collect(),
            at: 0,
            reads: 0,
        }
    }
}

impl AsyncRead for Source {
    fn poll_read(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.reads += 1;
        let n = out.remaining().min(this.data.len() - this.at);
        out.put_slice(&this.data[this.at..this.at + n]);
        this.at += n;
        Poll::Ready(Ok(()))
    }
}

/// Reads everything in 4 KiB asks, as rustls does.
async fn drain(r: &mut ReadAhead<Source>) -> Vec<u8> {
    let mut got = Vec::new();
    let mut ask = [0u8; 4096];
    loop {
        let n = r.read(&mut ask).await.unwrap();
        if n == 0 {
            return got;
        }
        got.extend_from_slice(&ask[..n]);
    }
}

#[tokio::test]
async fn reads_pass_straight_through_until_enabled() {
    let mut r = ReadAhead::new(Source::new(40 * 1024));
    let got = drain(&mut r).await;
    assert_eq!(got, r.get_ref().data);
    // Ten 4 KiB asks and the one that finds the end.
    assert_eq!(r.get_ref().reads, 11);
}

#[tokio::test]
async fn once_enabled_one_read_serves_many_asks_and_every_byte_arrives() {
    let mut r = ReadAhead::new(Source::new(40 * 1024 + 7));
    r.enable();
    let got = drain(&mut r).await;
    assert!(got == r.get_ref().data, "bytes differ");
    // 32 KiB, the remaining 8 KiB + 7, then the end of file.
    assert_eq!(r.get_ref().reads, 3);
}

#[tokio::test]
async fn a_small_ask_gets_what_is_buffered_first() {
    let mut r = ReadAhead::new(Source::new(100));
    r.enable();
    let mut small = [0u8; 30];
    assert_eq!(r.read(&mut small).await.unwrap(), 30);
    let mut rest = [0u8; 200];
    assert_eq!(r.read(&mut rest).await.unwrap(), 70);
    assert_eq!(&rest[..70], &r.get_ref().data[30..]);
    assert_eq!(r.get_ref().reads, 1, "the 70 came from the first read");
    assert_eq!(r.read(&mut rest).await.unwrap(), 0, "end of file");
}

#[tokio::test]
async fn writes_go_through_untouched_and_stay_vectored() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (client, accepted) = tokio::join!(tokio::net::TcpStream::connect(addr), listener.accept());
    let mut w = ReadAhead::new(client.unwrap());
    w.enable();
    // rustls hands its records over as one writev; losing that would
    // split every record into several system calls.
    assert!(w.is_write_vectored());
    let parts = [IoSlice::new(b"head"), IoSlice::new(b"-tail")];
    let n = poll_fn(|cx| Pin::new(&mut w).poll_write_vectored(cx, &parts))
        .await
        .unwrap();
    assert_eq!(n, 9, "one call, both slices");
    let (mut far, _) = accepted.unwrap();
    let mut got = [0u8; 9];
    far.read_exact(&mut got).await.unwrap();
    assert_eq!(&got, b"head-tail");
}
