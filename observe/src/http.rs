//! Just enough HTTP/1.1 for probes and scrapers: read one request head,
//! write one response, close.
//!
//! Headers are never interpreted (no keep-alive, no bodies, no Host routing),
//! so the only parsing is the request line. Generic over the stream so it is
//! unit-tested over `tokio::io::duplex`.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// What the router needs from a request.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Request {
    pub(crate) method: String,
    /// The target without its query string.
    pub(crate) path: String,
}

#[derive(Debug)]
pub(crate) enum HeadError {
    /// No end of head within the limit: answer 431.
    TooLarge,
    /// Not an HTTP/1.x request line: answer 400.
    Malformed,
    /// The peer closed or the socket failed before a whole head arrived:
    /// nobody to answer.
    Io(io::Error),
}

/// Reads up to the blank line that ends the head, and parses its first line.
/// Bytes after the head (a body, a pipelined request) are left unread.
pub(crate) async fn read_head<R: AsyncRead + Unpin>(
    r: &mut R,
    max_bytes: usize,
) -> Result<Request, HeadError> {
    let mut buf = Vec::with_capacity(1024.min(max_bytes));
    let mut chunk = [0u8; 1024];
    loop {
        // Never hold more than max_bytes, however the peer splits its writes.
        let want = chunk.len().min(max_bytes - buf.len());
        if want == 0 {
            return Err(HeadError::TooLarge);
        }
        let n = r.read(&mut chunk[..want]).await.map_err(HeadError::Io)?;
        if n == 0 {
            return Err(HeadError::Io(io::ErrorKind::UnexpectedEof.into()));
        }
        // Resume the search a little before the new bytes: the terminator
        // may straddle two reads.
        let from = buf.len().saturating_sub(3);
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = head_end(&buf[from..]) {
            return parse_request_line(&buf[..from + end]);
        }
    }
}

/// Offset of the end of the head: the first empty line, CRLF or bare LF
/// (RFC 9112 lets servers accept bare LF, and hand-typed requests use it).
fn head_end(buf: &[u8]) -> Option<usize> {
    (0..buf.len())
        .find(|&i| buf[i] == b'\n' && matches!(&buf[i + 1..], [b'\n', ..] | [b'\r', b'\n', ..]))
}

fn parse_request_line(head: &[u8]) -> Result<Request, HeadError> {
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let line = std::str::from_utf8(line).map_err(|_| HeadError::Malformed)?;
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(HeadError::Malformed);
    };
    let token = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic());
    if !token(method) || !token(target) || !matches!(version, "HTTP/1.0" | "HTTP/1.1") {
        return Err(HeadError::Malformed);
    }
    let path = target.split('?').next().unwrap_or(target);
    Ok(Request {
        method: method.to_owned(),
        path: path.to_owned(),
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    Ok,
    BadRequest,
    NotFound,
    MethodNotAllowed,
    HeaderFieldsTooLarge,
    ServiceUnavailable,
}

impl Status {
    fn line(self) -> &'static str {
        match self {
            Status::Ok => "200 OK",
            Status::BadRequest => "400 Bad Request",
            Status::NotFound => "404 Not Found",
            Status::MethodNotAllowed => "405 Method Not Allowed",
            Status::HeaderFieldsTooLarge => "431 Request Header Fields Too Large",
            Status::ServiceUnavailable => "503 Service Unavailable",
        }
    }
}

pub(crate) struct Response {
    pub(crate) status: Status,
    pub(crate) content_type: &'static str,
    pub(crate) body: String,
}

pub(crate) const TEXT_PLAIN: &str = "text/plain; charset=utf-8";

impl Response {
    pub(crate) fn text(status: Status, body: impl Into<String>) -> Self {
        Self {
            status,
            content_type: TEXT_PLAIN,
            body: body.into(),
        }
    }
}

/// Writes the whole response in one go. `Connection: close` because we serve
/// one request per connection: it keeps the server free of idle sockets.
pub(crate) async fn write_response<W: AsyncWrite + Unpin>(
    w: &mut W,
    resp: &Response,
) -> io::Result<()> {
    let allow = if resp.status == Status::MethodNotAllowed {
        "Allow: GET\r\n"
    } else {
        ""
    };
    let head = format!(
        "HTTP/1.1 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n{allow}Connection: close\r\n\r\n",
        resp.status.line(),
        resp.content_type,
        resp.body.len(),
    );
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(resp.body.as_bytes());
    w.write_all(&bytes).await?;
    w.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn head_of(bytes: &[u8], max: usize) -> Result<Request, HeadError> {
        let (mut client, mut server) = tokio::io::duplex(64 * 1024);
        client.write_all(bytes).await.unwrap();
        drop(client);
        read_head(&mut server, max).await
    }

    #[tokio::test]
    async fn request_line_gives_method_and_path_without_query() {
        let req = head_of(b"GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\n\r\n", 8192)
            .await
            .unwrap();
        assert_eq!(req.method, "GET");
        assert_eq!(req.path, "/metrics");
    }

    #[tokio::test]
    async fn bare_lf_ends_the_head() {
        let req = head_of(b"GET /healthz HTTP/1.0\n\n", 8192).await.unwrap();
        assert_eq!(req.path, "/healthz");
    }

    #[tokio::test]
    async fn terminator_split_across_reads_is_found() {
        let (mut client, mut server) = tokio::io::duplex(64);
        let reader = tokio::spawn(async move { read_head(&mut server, 8192).await });
        for piece in [&b"GET / HTTP/1.1\r"[..], b"\n\r", b"\n"] {
            client.write_all(piece).await.unwrap();
            tokio::task::yield_now().await;
        }
        assert_eq!(reader.await.unwrap().unwrap().path, "/");
    }

    #[tokio::test]
    async fn head_longer_than_the_limit_is_too_large() {
        let mut req = b"GET / HTTP/1.1\r\nX: ".to_vec();
        req.resize(200, b'a');
        req.extend_from_slice(b"\r\n\r\n");
        assert!(matches!(head_of(&req, 100).await, Err(HeadError::TooLarge)));
    }

    #[tokio::test]
    async fn garbage_is_malformed_not_a_panic() {
        for junk in [
            &b"\x00\xff\xfe\r\n\r\n"[..],
            b"GET\r\n\r\n",
            b"GET / HTTP/2.0\r\n\r\n",
            b"GET  / HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1 extra\r\n\r\n",
            b"\r\n\r\n",
            b"\n\n",
        ] {
            assert!(
                matches!(head_of(junk, 8192).await, Err(HeadError::Malformed)),
                "{junk:?}"
            );
        }
    }

    #[tokio::test]
    async fn eof_before_the_end_of_head_is_io() {
        assert!(matches!(
            head_of(b"GET / HTTP/1.1\r\n", 8192).await,
            Err(HeadError::Io(_))
        ));
    }

    #[tokio::test]
    async fn response_carries_length_and_close() {
        let (mut client, mut server) = tokio::io::duplex(4096);
        write_response(&mut server, &Response::text(Status::Ok, "ok\n"))
            .await
            .unwrap();
        drop(server);
        let mut out = String::new();
        client.read_to_string(&mut out).await.unwrap();
        assert_eq!(
            out,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n\
             Content-Length: 3\r\nConnection: close\r\n\r\nok\n"
        );
    }
}
