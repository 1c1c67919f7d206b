//! Linked daemons (`--ws-server` / `--ws-client`): real `afb-daemon`
//! processes on loopback, a back exporting the hello sample on a unix socket
//! and on TCP, fronts importing it, and HTTP and WebSocket clients of the
//! fronts (written by hand over std sockets: no client library involved).

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use afb_testkit::{free_port, Daemon, DaemonOpts, TempDir};
use serde_json::{json, Value};

const T: Duration = Duration::from_secs(10);

fn daemon(args: &[String], wait_path: Option<&Path>) -> Daemon {
    Daemon::start_with(DaemonOpts {
        args: args.to_vec(),
        wait_path: wait_path.map(Path::to_path_buf),
        ..DaemonOpts::default()
    })
}

fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

// ---- a minimal HTTP/1.1 client --------------------------------------------

struct HttpReply {
    code: u16,
    headers: Vec<(String, String)>,
    body: Value,
}

impl HttpReply {
    fn status(&self) -> &str {
        self.body["request"]["status"].as_str().unwrap_or("")
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn http(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: Option<&str>) -> HttpReply {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to the daemon");
    s.set_read_timeout(Some(T)).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(b) = body {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            b.len()
        ));
    }
    req.push_str("\r\n");
    if let Some(b) = body {
        req.push_str(b);
    }
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read the reply");
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("end of headers");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut body = raw[split + 4..].to_vec();
    let mut lines = head.lines();
    let code = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .expect("status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    if headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"))
    {
        body = dechunk(&body);
    }
    let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
    HttpReply { code, headers, body }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = b.windows(2).position(|w| w == b"\r\n") {
        let n = usize::from_str_radix(String::from_utf8_lossy(&b[..eol]).trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + n]);
        b = &b[eol + 2 + n + 2..];
    }
    out
}

/// An HTTP client keeping its session (the `x-afb-uuid` header).
struct HttpClient {
    port: u16,
    uuid: Option<String>,
}

impl HttpClient {
    fn new(port: u16) -> Self {
        HttpClient { port, uuid: None }
    }

    fn call(&mut self, api_verb: &str, args: Value) -> HttpReply {
        let mut headers = Vec::new();
        let uuid = self.uuid.clone();
        if let Some(u) = &uuid {
            headers.push(("x-afb-uuid", u.as_str()));
        }
        let body = args.to_string();
        let r = http(self.port, "POST", &format!("/api/{api_verb}"), &headers, Some(&body));
        if let Some(u) = r.body["request"]["uuid"].as_str() {
            self.uuid = Some(u.to_owned());
        }
        if self.uuid.is_none() {
            let cookie = r.header("set-cookie").unwrap_or("");
            if let Some(v) = cookie.split(';').next().and_then(|c| c.split_once('=')) {
                self.uuid = Some(v.1.to_owned());
            }
        }
        r
    }
}

// ---- a minimal x-afb-ws-json1 client ----------------------------------------

struct Ws {
    s: TcpStream,
    next: u32,
    events: VecDeque<Value>,
}

impl Ws {
    fn connect(port: u16) -> Ws {
        let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(T)).unwrap();
        let req = format!(
            "GET /api HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Protocol: x-afb-ws-json1\r\n\r\n"
        );
        s.write_all(req.as_bytes()).unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            s.read_exact(&mut byte).expect("handshake reply");
            head.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&head);
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        Ws {
            s,
            next: 1,
            events: VecDeque::new(),
        }
    }

    fn send_text(&mut self, text: &str) {
        let p = text.as_bytes();
        let mut f = vec![0x81];
        match p.len() {
            n if n < 126 => f.push(0x80 | n as u8),
            n if n < 65536 => {
                f.push(0x80 | 126);
                f.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                f.push(0x80 | 127);
                f.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        let key = [0x12, 0x34, 0x56, 0x78];
        f.extend_from_slice(&key);
        f.extend(p.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        self.s.write_all(&f).unwrap();
    }

    /// The next text message, `None` on timeout or close.
    fn recv(&mut self, timeout: Duration) -> Option<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            self.s
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .unwrap();
            let mut h = [0u8; 2];
            self.s.read_exact(&mut h).ok()?;
            let mut len = u64::from(h[1] & 0x7f);
            if len == 126 {
                let mut b = [0u8; 2];
                self.s.read_exact(&mut b).ok()?;
                len = u64::from(u16::from_be_bytes(b));
            } else if len == 127 {
                let mut b = [0u8; 8];
                self.s.read_exact(&mut b).ok()?;
                len = u64::from_be_bytes(b);
            }
            let mut p = vec![0u8; len as usize];
            self.s.read_exact(&mut p).ok()?;
            match h[0] & 0x0f {
                0x1 => return serde_json::from_slice(&p).ok(),
                0x8 => return None,
                _ => {}
            }
        }
    }

    /// Calls and waits for the reply (events received meanwhile are kept).
    fn call(&mut self, api_verb: &str, args: Value) -> Value {
        let id = self.next.to_string();
        self.next += 1;
        self.send_text(&json!([2, id, api_verb, args]).to_string());
        loop {
            let m = self.recv(T).unwrap_or_else(|| panic!("no reply to {api_verb}"));
            match m[0].as_u64() {
                Some(3) | Some(4) if m[1] == json!(id) => return m[2].clone(),
                Some(5) => self.events.push_back(m),
                _ => {}
            }
        }
    }

    /// The next event (`[5, name, {"jtype":"afb-event",...}]`).
    fn event(&mut self, timeout: Duration) -> Option<Value> {
        if let Some(e) = self.events.pop_front() {
            return Some(e);
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            let m = self.recv(left)?;
            if m[0] == json!(5) {
                return Some(m);
            }
        }
    }
}

fn status(reply: &Value) -> &str {
    reply["request"]["status"].as_str().unwrap_or("")
}

// ---- tests ------------------------------------------------------------------

#[test]
fn fronts_over_unix_and_tcp_serve_http_and_websocket_clients() {
    let dir = TempDir::new("wsapi-link");
    let sock = dir.path().join("hello");
    let port = free_port();
    let back = daemon(
        &args(&[
            "--ws-server",
            &format!("unix:{}", sock.display()),
            "--ws-server",
            &format!("tcp:127.0.0.1:{port}/hello"),
        ]),
        Some(&sock),
    );
    let front_unix = daemon(&args(&["--ws-client", &format!("unix:{}", sock.display())]), None);
    let front_tcp = daemon(&args(&["--ws-client", &format!("tcp:127.0.0.1:{port}/hello")]), None);
    for front in [&front_unix, &front_tcp] {
        let mut h = HttpClient::new(front.port);
        let r = h.call("hello/ping", json!({"a": 1}));
        assert_eq!((r.code, r.status()), (200, "success"), "{}", r.body);
        assert_eq!(r.body["response"], json!("Some String"));
        let r = h.call("hello/pingfail", Value::Null);
        assert_eq!(r.status(), "failed", "{}", r.body);
        let r = h.call("hello/nosuchverb", Value::Null);
        assert_eq!((r.code, r.status()), (404, "unknown-verb"));
        let mut ws = Ws::connect(front.port);
        let r = ws.call("hello/ping", json!({"a": 1}));
        assert_eq!(status(&r), "success", "{r}");
        assert_eq!(r["response"], json!("Some String"));
    }
    // the front does not serve the samples itself: tictactoe is unknown there
    let r = HttpClient::new(front_unix.port).call("tictactoe/new", Value::Null);
    assert_eq!((r.code, r.status()), (404, "unknown-api"));
    drop(back);
}

#[test]
fn session_uuid_and_loa_are_the_same_on_the_back() {
    let dir = TempDir::new("wsapi-session");
    let sock = dir.path().join("hello");
    let back = daemon(
        &args(&["--ws-server", &format!("unix:{}", sock.display())]),
        Some(&sock),
    );
    let front = daemon(&args(&["--ws-client", &format!("unix:{}", sock.display())]), None);
    let mut h = HttpClient::new(front.port);
    let r = h.call("hello/info", Value::Null);
    assert_eq!(r.status(), "success", "{}", r.body);
    let uuid = h.uuid.clone().expect("session uuid");
    assert_eq!(r.body["response"]["uuid"], json!(uuid));
    assert_eq!(r.body["response"]["LOA"], json!(0));
    assert_eq!(h.call("hello/has-loa-1", Value::Null).status(), "insufficient-scope");
    let r = h.call("hello/set-loa", json!(1));
    assert_eq!(r.status(), "success", "{}", r.body);
    assert_eq!(h.call("hello/has-loa-1", Value::Null).status(), "success");
    // a WebSocket client of the front has its own session
    let mut ws = Ws::connect(front.port);
    let r = ws.call("hello/info", Value::Null);
    assert_ne!(r["response"]["uuid"], json!(uuid));
    assert_eq!(r["response"]["LOA"], json!(0));
    // the back knows that session, with its LOA for hello
    let mut direct = HttpClient::new(back.port);
    direct.uuid = Some(uuid.clone());
    let r = direct.call("hello/info", Value::Null);
    assert_eq!(r.body["response"]["uuid"], json!(uuid), "{}", r.body);
    assert_eq!(r.body["response"]["LOA"], json!(1));
}

#[test]
fn events_and_broadcasts_reach_websocket_clients_of_the_front() {
    let dir = TempDir::new("wsapi-events");
    let sock = dir.path().join("hello");
    let back = daemon(
        &args(&["--ws-server", &format!("unix:{}", sock.display())]),
        Some(&sock),
    );
    let front = daemon(&args(&["--ws-client", &format!("unix:{}", sock.display())]), None);
    let mut a = Ws::connect(front.port);
    let mut b = Ws::connect(front.port);
    let mut on_back = Ws::connect(back.port);
    assert_eq!(
        status(&a.call("hello/eventadd", json!({"tag": "t", "name": "ev"}))),
        "success"
    );
    assert_eq!(status(&a.call("hello/eventsub", json!({"tag": "t"}))), "success");
    let r = b.call("hello/eventpush", json!({"tag": "t", "data": {"v": 42}}));
    assert_eq!(status(&r), "success", "{r}");
    let e = a.event(T).expect("pushed event");
    assert_eq!(e[1], json!("hello/ev"));
    assert_eq!(
        e[2],
        json!({"jtype": "afb-event", "event": "hello/ev", "data": {"v": 42}})
    );
    assert!(b.event(Duration::from_millis(300)).is_none(), "b is not subscribed");
    // broadcast: every client of the front and of the back, once
    let r = b.call("hello/pingevent", json!({"b": 1}));
    assert_eq!(status(&r), "success");
    for ws in [&mut a, &mut b, &mut on_back] {
        let e = ws.event(T).expect("broadcast");
        assert_eq!(
            e[2],
            json!({"jtype": "afb-event", "event": "hello/event", "data": {"b": 1}})
        );
        assert!(ws.event(Duration::from_millis(300)).is_none(), "exactly once");
    }
}

#[test]
fn back_killed_gives_disconnected_then_restart_works() {
    let dir = TempDir::new("wsapi-restart");
    let sock = dir.path().join("hello");
    let back_args = args(&["--ws-server", &format!("unix:{}", sock.display())]);
    let mut back = daemon(&back_args, Some(&sock));
    let front = daemon(&args(&["--ws-client", &format!("unix:{}", sock.display())]), None);
    let mut h = HttpClient::new(front.port);
    assert_eq!(h.call("hello/ping", Value::Null).status(), "success");
    let mut ws = Ws::connect(front.port);
    assert_eq!(status(&ws.call("hello/ping", Value::Null)), "success");
    back.kill();
    let _ = std::fs::remove_file(&sock);
    let r = h.call("hello/ping", Value::Null);
    assert_eq!(r.status(), "disconnected", "{}", r.body);
    assert_eq!(status(&ws.call("hello/ping", Value::Null)), "disconnected");
    let _back = daemon(&back_args, Some(&sock));
    let r = h.call("hello/ping", Value::Null);
    assert_eq!(r.status(), "success", "after restart: {}", r.body);
    assert_eq!(status(&ws.call("hello/ping", Value::Null)), "success");
}

#[test]
fn ring_of_three_daemons_gets_one_broadcast_per_client() {
    let dir = TempDir::new("wsapi-ring");
    let sock = |n: usize| dir.path().join(format!("h{n}"));
    // daemon N serves its hello on hN and imports hello of daemon N-1 as `up`
    let mut daemons = Vec::new();
    for n in 1..=3usize {
        let prev = if n == 1 { 3 } else { n - 1 };
        daemons.push(daemon(
            &args(&[
                "--samples",
                "--ws-server",
                &format!("unix:{}?as-api=hello", sock(n).display()),
                "--ws-client",
                &format!("unix:{}?as-api=up", sock(prev).display()),
            ]),
            Some(&sock(n)),
        ));
    }
    let mut clients: Vec<Ws> = daemons.iter().map(|d| Ws::connect(d.port)).collect();
    for c in clients.iter_mut() {
        assert_eq!(status(&c.call("up/ping", Value::Null)), "success", "links up");
    }
    assert_eq!(
        status(&clients[0].call("hello/pingevent", json!({"ring": 1}))),
        "success"
    );
    for (i, c) in clients.iter_mut().enumerate() {
        let e = c
            .event(T)
            .unwrap_or_else(|| panic!("daemon {} got no broadcast", i + 1));
        assert_eq!(e[2]["data"], json!({"ring": 1}));
        assert!(
            c.event(Duration::from_millis(500)).is_none(),
            "daemon {} got it twice",
            i + 1
        );
    }
}
