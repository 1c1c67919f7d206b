//! A small blocking HTTP/1.1 client for tests: one persistent connection
//! (TCP or unix socket) on which requests are written byte for byte and
//! responses read (Content-Length, chunked, or until close), so tests can
//! check keep-alive, send malformed requests and see every header.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// A byte stream the client can use.
pub trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

/// A response.
#[derive(Debug, Clone)]
pub struct Resp {
    /// Status code.
    pub status: u16,
    /// Headers in order, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// Body (empty for HEAD, 1xx, 204, 304).
    pub body: Vec<u8>,
}

impl Resp {
    /// The first header `name` (lower-case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// `request.status` of an afb-reply envelope.
    pub fn afb_status(&self) -> String {
        self.json()["request"]["status"].as_str().unwrap_or_default().to_owned()
    }

    /// The session uuid of the `Set-Cookie` header.
    pub fn cookie_uuid(&self) -> Option<String> {
        let c = self.header("set-cookie")?;
        let first = c.split(';').next()?;
        first.split_once('=').map(|(_, v)| v.to_owned())
    }
}

/// One client connection.
pub struct Conn {
    r: BufReader<Box<dyn Stream>>,
    /// The `Host` header sent.
    pub host: String,
    /// The local address of a TCP connection.
    pub local: Option<SocketAddr>,
}

/// A request to send.
#[derive(Debug, Clone, Default)]
pub struct Req<'a> {
    /// Method.
    pub method: &'a str,
    /// Target (path and query).
    pub target: &'a str,
    /// Extra headers.
    pub headers: Vec<(&'a str, String)>,
    /// Body (a Content-Length is added when non-empty or when the method is POST).
    pub body: Vec<u8>,
}

impl<'a> Req<'a> {
    /// `GET target`.
    pub fn get(target: &'a str) -> Self {
        Req {
            method: "GET",
            target,
            ..Default::default()
        }
    }

    /// `POST target` with a body of `content_type`.
    pub fn post(target: &'a str, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        Req {
            method: "POST",
            target,
            headers: vec![("content-type", content_type.to_owned())],
            body: body.into(),
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &'a str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// Sets the method.
    pub fn method(mut self, m: &'a str) -> Self {
        self.method = m;
        self
    }
}

impl Conn {
    /// Connects to a TCP address.
    pub fn tcp(addr: SocketAddr) -> Conn {
        let s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        s.set_nodelay(true).unwrap();
        let local = s.local_addr().ok();
        Conn {
            r: BufReader::new(Box::new(s)),
            host: addr.to_string(),
            local,
        }
    }

    /// Connects to a unix socket.
    pub fn unix(path: &Path) -> Conn {
        let s = UnixStream::connect(path).unwrap_or_else(|e| panic!("connect {}: {e}", path.display()));
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        Conn {
            r: BufReader::new(Box::new(s)),
            host: "localhost".into(),
            local: None,
        }
    }

    /// Writes raw bytes.
    pub fn write_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let s = self.r.get_mut();
        s.write_all(bytes)?;
        s.flush()
    }

    /// Sends a request (HTTP/1.1, keep-alive).
    pub fn send(&mut self, req: &Req<'_>) {
        let mut out = format!("{} {} HTTP/1.1\r\nhost: {}\r\n", req.method, req.target, self.host).into_bytes();
        for (k, v) in &req.headers {
            out.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
        }
        if !req.body.is_empty() || req.method == "POST" {
            out.extend_from_slice(format!("content-length: {}\r\n", req.body.len()).as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&req.body);
        self.write_raw(&out).expect("write request");
    }

    /// Sends a request and reads its response.
    pub fn request(&mut self, req: &Req<'_>) -> Resp {
        self.send(req);
        self.read_response(req.method == "HEAD")
            .unwrap_or_else(|e| panic!("{} {}: {e}", req.method, req.target))
    }

    /// `GET target`.
    pub fn get(&mut self, target: &str) -> Resp {
        self.request(&Req::get(target))
    }

    /// Reads one response (`head`: the request was a HEAD, no body follows).
    pub fn read_response(&mut self, head: bool) -> std::io::Result<Resp> {
        let mut line = String::new();
        if self.r.read_line(&mut line)? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed",
            ));
        }
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
        let mut headers = Vec::new();
        loop {
            line.clear();
            self.r.read_line(&mut line)?;
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
            }
        }
        let mut resp = Resp {
            status,
            headers,
            body: Vec::new(),
        };
        if head || status < 200 || status == 204 || status == 304 {
            return Ok(resp);
        }
        if let Some(n) = resp.header("content-length") {
            let n: usize = n.parse().map_err(std::io::Error::other)?;
            let mut body = vec![0; n];
            self.r.read_exact(&mut body)?;
            resp.body = body;
        } else if resp
            .header("transfer-encoding")
            .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
        {
            loop {
                line.clear();
                self.r.read_line(&mut line)?;
                let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
                    .map_err(std::io::Error::other)?;
                if size == 0 {
                    line.clear();
                    self.r.read_line(&mut line)?;
                    break;
                }
                let mut chunk = vec![0; size + 2];
                self.r.read_exact(&mut chunk)?;
                resp.body.extend_from_slice(&chunk[..size]);
            }
        } else {
            self.r.read_to_end(&mut resp.body)?;
        }
        Ok(resp)
    }

    /// Waits until the server closes the connection (EOF or reset, within
    /// the 30 s read timeout); false if data came instead or time ran out.
    pub fn wait_closed(&mut self) -> bool {
        let mut b = [0u8; 1];
        match self.r.read(&mut b) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
        }
    }
}

/// A multipart/form-data body with text fields and files: returns the
/// Content-Type value and the body.
pub fn multipart(texts: &[(&str, &str)], files: &[(&str, &str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "----afbtestboundary7MA4YWxkTrZu0gW";
    let mut b = Vec::new();
    for (name, value) in texts {
        b.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes(),
        );
    }
    for (name, filename, content) in files {
        b.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        b.extend_from_slice(content);
        b.extend_from_slice(b"\r\n");
    }
    b.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), b)
}
