//! Minimal, fast client protocol code for the load generator: an HTTP/1.1 response reader
//! (keep-alive, Content-Length or chunked bodies, `Set-Cookie`; over TCP or TLS), the WebSocket client
//! handshake, masked text frames, and wsapi endpoints (`afb-endpoint` socket URIs).

use std::io;
use std::net::SocketAddr;

use afb_endpoint::tls::TlsClient;
use afb_endpoint::{Connector, SocketUri, Stream};
use afb_wsapi_codec::frame::{self, FrameDecoder, FrameEvent, OpCode};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// Largest response head or message the clients accept.
pub const MAX_MESSAGE: usize = 16 << 20;

fn bad(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

/// Forgets the socket's read readiness without a system call, so that the next read waits
/// for the poller instead of first trying a `read` that would fail with `EWOULDBLOCK`.
///
/// Only for a socket known to be drained with no answer due (a response fully read, nothing
/// requested since): tokio would otherwise keep the readiness of the last successful read. If
/// bytes did arrive meanwhile, they are read with the next ones (the answer to the next
/// request makes the socket ready again), so nothing hangs. This saves one failing system
/// call per request in the request/response loads, keeping the load generator cheap.
pub fn clear_read_ready(s: &TcpStream) {
    let _ = s.try_io(tokio::io::Interest::READABLE, || {
        Err::<(), _>(io::Error::from(io::ErrorKind::WouldBlock))
    });
}

/// Connects with `TCP_NODELAY` set.
pub async fn connect_tcp(addr: SocketAddr) -> io::Result<TcpStream> {
    let s = TcpStream::connect(addr).await?;
    s.set_nodelay(true)?;
    Ok(s)
}

/// A `GET path` request with `Host`, and a `Cookie` header when given.
pub fn get_request(path: &str, host: &str, cookie: Option<&str>) -> Vec<u8> {
    let mut r = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n");
    if let Some(c) = cookie {
        r.push_str("Cookie: ");
        r.push_str(c);
        r.push_str("\r\n");
    }
    r.push_str("\r\n");
    r.into_bytes()
}

/// What the reader keeps of a response.
#[derive(Debug, Default)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Body length.
    pub body_len: usize,
    /// The `NAME=VALUE` part of the first `Set-Cookie`, when asked for.
    pub cookie: Option<String>,
    /// The server will close the connection after this response.
    pub close: bool,
    /// With [`HttpConn::afb_status`]: the status of an afb reply other than
    /// `success` (`None` for a success or a body that is no afb reply).
    pub afb_error: Option<String>,
}

/// Connects to `addr` with `TCP_NODELAY`, then does the TLS handshake of `tls` if given.
pub async fn connect_http(addr: SocketAddr, tls: Option<&TlsClient>) -> io::Result<Stream> {
    let s = Stream::Tcp(connect_tcp(addr).await?);
    match tls {
        Some(t) => t.handshake(s).await,
        None => Ok(s),
    }
}

/// An HTTP/1.1 client connection (cleartext or TLS) reading responses from a reused buffer.
pub struct HttpConn {
    /// The socket.
    pub stream: Stream,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Read the afb status of each response body ([`Response::afb_error`]).
    pub afb_status: bool,
}

impl HttpConn {
    /// Wraps a connected socket.
    pub fn new(stream: TcpStream) -> Self {
        Self::from_stream(Stream::Tcp(stream))
    }

    /// Wraps a connected stream (TCP or TLS).
    pub fn from_stream(stream: Stream) -> Self {
        HttpConn {
            stream,
            buf: vec![0; 16 * 1024],
            start: 0,
            end: 0,
            afb_status: false,
        }
    }

    /// Declares the socket drained when every byte read so far was used (see
    /// [`clear_read_ready`]; TCP only: a TLS session may hold bytes of its own).
    pub fn idle(&mut self) {
        if self.start == self.end {
            if let Stream::Tcp(s) = &self.stream {
                clear_read_ready(s);
            }
        }
    }

    /// Reads more bytes into the buffer (compacting or growing it first when full).
    async fn fill(&mut self) -> io::Result<()> {
        if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else if self.buf.len() < MAX_MESSAGE {
                let n = self.buf.len() * 2;
                self.buf.resize(n, 0);
            } else {
                return Err(bad("response too large"));
            }
        }
        let n = self.stream.read(&mut self.buf[self.end..]).await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed by the server",
            ));
        }
        self.end += n;
        Ok(())
    }

    /// Reads until `len` unread bytes are buffered.
    async fn need(&mut self, len: usize) -> io::Result<()> {
        if len > MAX_MESSAGE {
            return Err(bad("response too large"));
        }
        while self.end - self.start < len {
            if self.start + len > self.buf.len() {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
                if len > self.buf.len() {
                    self.buf.resize(len, 0);
                }
            }
            self.fill().await?;
        }
        Ok(())
    }

    /// Reads a line ending in CRLF (returned without it).
    async fn line(&mut self) -> io::Result<Vec<u8>> {
        loop {
            if let Some(i) = find(&self.buf[self.start..self.end], b"\r\n") {
                let l = self.buf[self.start..self.start + i].to_vec();
                self.start += i + 2;
                return Ok(l);
            }
            if self.end - self.start > 64 * 1024 {
                return Err(bad("line too long"));
            }
            self.fill().await?;
        }
    }

    /// Reads one whole response (head and body); keeps the `Set-Cookie` value when
    /// `want_cookie`.
    pub async fn read_response(&mut self, want_cookie: bool) -> io::Result<Response> {
        let head_len = loop {
            if let Some(i) = find(&self.buf[self.start..self.end], b"\r\n\r\n") {
                break i + 4;
            }
            if self.end - self.start > 64 * 1024 {
                return Err(bad("response head too long"));
            }
            self.fill().await?;
        };
        let head = &self.buf[self.start..self.start + head_len];
        let mut resp = Response::default();
        let mut lines = head.split(|&b| b == b'\n').map(|l| l.strip_suffix(b"\r").unwrap_or(l));
        let status_line = lines.next().unwrap_or_default();
        let version_http10 = status_line.starts_with(b"HTTP/1.0");
        resp.status = status_line
            .split(|&b| b == b' ')
            .nth(1)
            .and_then(|s| std::str::from_utf8(s).ok())
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad(format!("bad status line {:?}", String::from_utf8_lossy(status_line))))?;
        let mut content_length = None;
        let mut chunked = false;
        resp.close = version_http10;
        for l in lines {
            let Some(colon) = l.iter().position(|&b| b == b':') else {
                continue;
            };
            let (name, value) = (&l[..colon], trim(&l[colon + 1..]));
            if name.eq_ignore_ascii_case(b"content-length") {
                content_length = std::str::from_utf8(value).ok().and_then(|v| v.parse::<usize>().ok());
            } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
                chunked = contains_ci(value, b"chunked");
            } else if name.eq_ignore_ascii_case(b"connection") {
                if contains_ci(value, b"close") {
                    resp.close = true;
                } else if contains_ci(value, b"keep-alive") {
                    resp.close = false;
                }
            } else if want_cookie && resp.cookie.is_none() && name.eq_ignore_ascii_case(b"set-cookie") {
                let v = value.split(|&b| b == b';').next().unwrap_or_default();
                resp.cookie = Some(String::from_utf8_lossy(v).into_owned());
            }
        }
        self.start += head_len;
        if chunked {
            loop {
                let l = self.line().await?;
                let size_text = l.split(|&b| b == b';').next().unwrap_or_default();
                let size = std::str::from_utf8(trim(size_text))
                    .ok()
                    .and_then(|s| usize::from_str_radix(s, 16).ok())
                    .ok_or_else(|| bad("bad chunk size"))?;
                if size == 0 {
                    // Trailers, then an empty line.
                    while !self.line().await?.is_empty() {}
                    break;
                }
                self.need(size + 2).await?;
                if self.afb_status && resp.afb_error.is_none() {
                    resp.afb_error = afb_error(&self.buf[self.start..self.start + size]);
                }
                self.start += size + 2;
                resp.body_len += size;
            }
        } else if let Some(n) = content_length {
            self.need(n).await?;
            if self.afb_status {
                resp.afb_error = afb_error(&self.buf[self.start..self.start + n]);
            }
            self.start += n;
            resp.body_len = n;
        } else if resp.status >= 200 && resp.status != 204 && resp.status != 304 {
            // Body until the connection closes.
            loop {
                match self.fill().await {
                    Ok(()) => {
                        resp.body_len += self.end - self.start;
                        self.start = self.end;
                    }
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
                    Err(e) => return Err(e),
                }
            }
            resp.close = true;
        }
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        Ok(resp)
    }
}

/// The `"status"` of an afb reply body when it is not `success`.
fn afb_error(body: &[u8]) -> Option<String> {
    let key = b"\"status\":\"";
    let at = find(body, key)? + key.len();
    let rest = &body[at..];
    let len = rest.iter().position(|&b| b == b'"')?;
    let st = &rest[..len];
    (st != b"success").then(|| String::from_utf8_lossy(st).into_owned())
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

fn contains_ci(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w.eq_ignore_ascii_case(needle))
}

/// Position of `needle` in `hay`.
pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Opens a WebSocket: sends the upgrade request for `path` (with the subprotocol and cookie
/// when given), checks the `101` answer, and returns the socket with the bytes already read
/// after the response head.
pub async fn ws_connect(
    addr: SocketAddr,
    path: &str,
    protocol: Option<&str>,
    cookie: Option<&str>,
) -> io::Result<(TcpStream, Vec<u8>)> {
    let mut s = connect_tcp(addr).await?;
    let mut req = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: YWZiLWJlbmNoLWtleS0wMQ==\r\nSec-WebSocket-Version: 13\r\n"
    );
    if let Some(p) = protocol {
        req.push_str(&format!("Sec-WebSocket-Protocol: {p}\r\n"));
    }
    if let Some(c) = cookie {
        req.push_str(&format!("Cookie: {c}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).await?;
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let head_len = loop {
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > 64 * 1024 {
            return Err(bad("upgrade response head too long"));
        }
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed during the WebSocket handshake",
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let first = buf.split(|&b| b == b'\r').next().unwrap_or_default();
    if !first.starts_with(b"HTTP/1.1 101") {
        return Err(bad(format!(
            "WebSocket upgrade refused: {}",
            String::from_utf8_lossy(first)
        )));
    }
    Ok((s, buf.split_off(head_len)))
}

/// A mask key that differs between connections (the masking work is the same for any key).
pub fn mask_key(seed: u64) -> [u8; 4] {
    let x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17) as u32;
    (x | 0x0101_0101).to_le_bytes()
}

/// Appends `text` as one masked text frame (client to server).
pub fn masked_text(text: &[u8], mask: [u8; 4], out: &mut Vec<u8>) {
    frame::encode_frame(OpCode::Text, true, text, Some(mask), out);
}

/// Sends one wsj1 call and waits for its reply (events and other replies before it are
/// skipped); returns whether it succeeded and the reply's text.
pub async fn wsj1_call_once<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    dec: &mut FrameDecoder,
    pending: &mut Vec<u8>,
    mask: [u8; 4],
    id: &str,
    api_verb: &str,
    args: &str,
) -> io::Result<(bool, String)> {
    let raw: &afb_wsj1::RawValue = afb_wsj1::serde_json::from_str(args).map_err(|e| bad(format!("args: {e}")))?;
    let mut text = Vec::new();
    afb_wsj1::write_call(&mut text, id, api_verb, raw, None);
    let mut out = Vec::new();
    masked_text(&text, mask, &mut out);
    s.write_all(&out).await?;
    let mut chunk = vec![0u8; 8192];
    loop {
        let mut input: &[u8] = pending;
        while let Some(ev) = dec.decode(&mut input).map_err(|e| bad(format!("framing: {e:?}")))? {
            if let FrameEvent::Text(t) = ev {
                if let Ok(afb_wsj1::Message::Reply(r)) = afb_wsj1::decode(&t) {
                    if r.id == id {
                        let ok = r.success;
                        pending.clear();
                        return Ok((ok, t.clone()));
                    }
                }
            } else if let FrameEvent::Close(c) = ev {
                return Err(bad(format!("closed by the server: {c:?}")));
            }
        }
        pending.clear();
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed"));
        }
        pending.extend_from_slice(&chunk[..n]);
    }
}

/// The wsapi endpoint of a socket URI (`unix:/path/API`, `unix:@abstract/API`,
/// `tcp:HOST:PORT/API`, `HOST:PORT/API`).
pub fn wsapi_endpoint(uri: &str) -> Result<Connector, String> {
    let u = SocketUri::parse(uri).map_err(|e| e.to_string())?;
    Connector::new(&u).map_err(|e| e.to_string())
}

/// Whether a blocking `GET path` on `addr` answers a reply whose status is `success` (for
/// waiting until a daemon serves an API).
pub fn http_ping(addr: SocketAddr, path: &str) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(2)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(std::time::Duration::from_secs(10)));
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if s.write_all(req.as_bytes()).is_err() {
        return false;
    }
    let mut out = Vec::new();
    let _ = s.take(1 << 20).read_to_end(&mut out);
    find(&out, b"\"status\":\"success\"").is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn afb_error_reads_the_status_of_an_afb_reply() {
        let ok = br#"{"jtype":"afb-reply","request":{"status":"success","code":0}}"#;
        assert_eq!(afb_error(ok), None);
        let gone = br#"{"jtype":"afb-reply","request":{"status":"disconnected","info":"binder b1 left"}}"#;
        assert_eq!(afb_error(gone).as_deref(), Some("disconnected"));
        assert_eq!(afb_error(b"hello"), None, "not an afb reply");
        assert_eq!(afb_error(br#"{"status":"unterminated"#), None);
    }

    /// Serves `chunks` (with a pause between them) on a loopback socket and reads responses.
    async fn read_all(chunks: Vec<&'static [u8]>, n: usize) -> Vec<Response> {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            for c in chunks {
                s.write_all(c).await.unwrap();
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        });
        let mut c = HttpConn::new(connect_tcp(addr).await.unwrap());
        let mut out = Vec::new();
        for _ in 0..n {
            out.push(c.read_response(true).await.unwrap());
        }
        server.await.unwrap();
        out
    }

    #[tokio::test]
    async fn responses_with_length_chunked_and_split_heads() {
        let r = read_all(
            vec![
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nSet-Cookie: x-afb-uuid-1=abc; Path=/\r\n\r\nhel",
                b"loHTTP/1.1 404 Not Found\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n",
                b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 0\r\n\r\n",
            ],
            3,
        )
        .await;
        assert_eq!((r[0].status, r[0].body_len, r[0].close), (200, 5, false));
        assert_eq!(r[0].cookie.as_deref(), Some("x-afb-uuid-1=abc"));
        assert_eq!((r[1].status, r[1].body_len, r[1].cookie.is_none()), (404, 5, true));
        assert_eq!((r[2].status, r[2].body_len, r[2].close), (200, 0, true));
    }

    #[tokio::test]
    async fn a_body_until_close() {
        let r = read_all(vec![b"HTTP/1.0 200 OK\r\n\r\nsome", b" body"], 1).await;
        assert_eq!((r[0].status, r[0].body_len, r[0].close), (200, 9, true));
    }

    #[test]
    fn wsapi_uris() {
        let at = |u: &str| wsapi_endpoint(u).map(|c| c.address().to_string());
        assert_eq!(at("unix:/tmp/x/hello").as_deref(), Ok("unix:/tmp/x/hello"));
        assert_eq!(at("tcp:127.0.0.1:9000/hello").as_deref(), Ok("tcp:127.0.0.1:9000"));
        assert_eq!(at("localhost:9/api").as_deref(), Ok("tcp:localhost:9"));
        assert!(at("tcp:/api").is_err());
    }
}
