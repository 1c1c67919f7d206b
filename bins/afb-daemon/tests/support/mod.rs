//! Helpers of the robustness tests (`defects.rs`, `limits.rs`,
//! `security.rs`; the soak is `afb-bench soak`): a daemon in its own working directory, the
//! std-socket HTTP and WebSocket clients of the `afb-http` tests, a small
//! x-afb-ws-json1 client on top, and a raw wsapi peer (frames and messages
//! written by hand, as `docs/protocols/wsapi-v1.md` gives them).

#![allow(dead_code)]

#[path = "../../../../crates/http/tests/http_client/mod.rs"]
pub mod http_client;
#[path = "../../../../crates/http/tests/ws_support/std_ws.rs"]
pub mod std_ws;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use afb_testkit::{Daemon, DaemonOpts, TempDir};
use http_client::{Conn, Req, Resp};
use serde_json::Value;
use std_ws::{WsConn, WsMsg};

/// How long a test waits for an answer that must come.
pub const T: Duration = Duration::from_secs(10);

/// Tests that load the machine (many clients, large transfers, timing)
/// take this lock so that they do not run at the same time as each other.
pub fn heavy() -> MutexGuard<'static, ()> {
    static HEAVY: Mutex<()> = Mutex::new(());
    HEAVY.lock().unwrap_or_else(|p| p.into_inner())
}

/// A daemon working in its own temporary directory.
pub struct D {
    pub d: Daemon,
    pub dir: TempDir,
}

impl D {
    /// `afb-daemon --port FREE --workdir TMP ARGS...`.
    pub fn start(args: &[&str]) -> D {
        Self::start_opts(args, None)
    }

    /// Same, waiting for `wait_path` (a `--ws-server` socket) to exist.
    pub fn start_opts(args: &[&str], wait_path: Option<&Path>) -> D {
        let dir = TempDir::new("robust");
        Self::start_in(dir, args, wait_path)
    }

    /// Same, in a given directory.
    pub fn start_in(dir: TempDir, args: &[&str], wait_path: Option<&Path>) -> D {
        let mut all = vec!["--workdir".to_owned(), dir.path().display().to_string()];
        all.extend(args.iter().map(|s| s.to_string()));
        let d = Daemon::start_with(DaemonOpts {
            args: all,
            wait_path: wait_path.map(Path::to_path_buf),
            ..DaemonOpts::default()
        });
        D { d, dir }
    }

    /// A path in the daemon's directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A new HTTP connection.
    pub fn conn(&self) -> Conn {
        Conn::tcp(self.d.addr())
    }

    /// `GET target` on a new connection.
    pub fn get(&self, target: &str) -> Resp {
        self.conn().get(target)
    }

    /// A new x-afb-ws-json1 client.
    pub fn ws(&self) -> Ws {
        self.ws_q("")
    }

    /// A new x-afb-ws-json1 client whose upgrade has the query `q`.
    pub fn ws_q(&self, q: &str) -> Ws {
        Ws::connect(self.d.addr(), q).expect("WebSocket connection")
    }
}

/// `POST target` with a JSON body.
pub fn json_post<'a>(target: &'a str, body: &str) -> Req<'a> {
    Req::post(target, "application/json", body.as_bytes().to_vec())
}

/// An x-afb-ws-json1 client.
pub struct Ws {
    pub c: WsConn,
    /// Texts of the events received while waiting for replies.
    pub events: Vec<String>,
}

impl Ws {
    /// Connects to `/api?q` on `addr`.
    pub fn connect(addr: std::net::SocketAddr, q: &str) -> std::io::Result<Ws> {
        let path = if q.is_empty() {
            "/api".to_owned()
        } else {
            format!("/api?{q}")
        };
        let c = WsConn::connect(addr, &addr.to_string(), &path, Some("x-afb-ws-json1"))?;
        c.set_timeout(T);
        Ok(Ws { c, events: Vec::new() })
    }

    /// Sends a text message.
    pub fn send(&mut self, text: &str) {
        self.c.send_text(text).expect("send");
    }

    /// The next text message.
    pub fn recv_text(&mut self) -> String {
        loop {
            match self.c.recv().expect("a message in time") {
                WsMsg::Text(t) => return t,
                WsMsg::Ping(_) | WsMsg::Pong(_) => {}
                other => panic!("expected a text message, got {other:?}"),
            }
        }
    }

    /// The next text message as JSON (it must be valid JSON).
    pub fn recv(&mut self) -> Value {
        let t = self.recv_text();
        serde_json::from_str(&t).unwrap_or_else(|e| panic!("invalid JSON ({e}): {t}"))
    }

    /// The reply to call `id` (events met meanwhile are kept).
    pub fn reply_to(&mut self, id: &str) -> Value {
        loop {
            let t = self.recv_text();
            let m: Value = serde_json::from_str(&t).unwrap_or_else(|e| panic!("invalid JSON ({e}): {t}"));
            match m[0].as_u64() {
                Some(5) => self.events.push(t),
                Some(3 | 4) if m[1] == id => return m,
                _ => panic!("expected the reply to {id}, got {m}"),
            }
        }
    }

    /// Calls and waits for the reply.
    pub fn call(&mut self, id: &str, api_verb: &str, args: &str) -> Value {
        self.send(&format!(r#"[2,"{id}","{api_verb}",{args}]"#));
        self.reply_to(id)
    }

    /// Calls and asserts success.
    pub fn call_ok(&mut self, id: &str, api_verb: &str, args: &str) -> Value {
        let r = self.call(id, api_verb, args);
        assert_eq!(r[0], 3, "{api_verb} {args}: {r}");
        r
    }

    /// The next event (kept ones first), as JSON.
    pub fn event(&mut self) -> Value {
        if !self.events.is_empty() {
            let t = self.events.remove(0);
            return serde_json::from_str(&t).unwrap();
        }
        loop {
            let m = self.recv();
            if m[0] == 5 {
                return m;
            }
        }
    }

    /// The close code the server sends (messages before it are skipped);
    /// `None` when the connection ends without a close frame.
    pub fn close_code(&mut self) -> Option<u16> {
        loop {
            match self.c.recv() {
                Ok(WsMsg::Close(code, _)) => return code,
                Ok(_) => {}
                Err(_) => return None,
            }
        }
    }
}

/// `request.status` of a wsj1 reply `[3|4, id, envelope]`.
pub fn ws_status(r: &Value) -> &str {
    r[2]["request"]["status"].as_str().unwrap_or("")
}

/// The uid this process runs as.
pub fn my_uid() -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|l| l.split_whitespace().next())
                .and_then(|u| u.parse().ok())
        })
        .expect("uid in /proc/self/status")
}

/// Waits until `f` holds, up to `limit`.
pub fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if f() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ---- wsapi by hand ------------------------------------------------------------

/// wsapi message builders (`docs/protocols/wsapi-v1.md`).
pub mod wire {
    /// `string`: u32 length (with the NUL), bytes, NUL.
    pub fn s(text: &str) -> Vec<u8> {
        let mut v = ((text.len() + 1) as u32).to_le_bytes().to_vec();
        v.extend_from_slice(text.as_bytes());
        v.push(0);
        v
    }

    /// `V`: offers version 1.
    pub fn version_offer() -> Vec<u8> {
        vec![b'V', 0x09, 0x14, 0x4c, 0x17, 1, 1]
    }

    /// `S id uuid`.
    pub fn session(id: u16, uuid: &str) -> Vec<u8> {
        let mut v = vec![b'S'];
        v.extend_from_slice(&id.to_le_bytes());
        v.extend(s(uuid));
        v
    }

    /// `T id token`.
    pub fn token(id: u16, token: &str) -> Vec<u8> {
        let mut v = vec![b'T'];
        v.extend_from_slice(&id.to_le_bytes());
        v.extend(s(token));
        v
    }

    /// `K callid verb session token args` without credentials.
    pub fn call(callid: u16, verb: &str, session: u16, token: u16, args: &str) -> Vec<u8> {
        let mut v = vec![b'K'];
        v.extend_from_slice(&callid.to_le_bytes());
        v.extend(s(verb));
        v.extend_from_slice(&session.to_le_bytes());
        v.extend_from_slice(&token.to_le_bytes());
        v.extend(s(args));
        v.extend_from_slice(&0u32.to_le_bytes());
        v
    }

    /// `k callid error info reply` (a server's reply).
    pub fn reply(callid: u16, error: Option<&str>, info: Option<&str>, data: &str) -> Vec<u8> {
        let mut v = vec![b'k'];
        v.extend_from_slice(&callid.to_le_bytes());
        for ns in [error, info] {
            match ns {
                Some(t) => v.extend(s(t)),
                None => v.extend_from_slice(&0u32.to_le_bytes()),
            }
        }
        v.extend(s(data));
        v
    }

    /// `B name data uuid hop` (a server's broadcast).
    pub fn broadcast(name: &str, data: &str, uuid: [u8; 16], hop: u8) -> Vec<u8> {
        let mut v = vec![b'B'];
        v.extend(s(name));
        v.extend(s(data));
        v.extend_from_slice(&uuid);
        v.push(hop);
        v
    }

    /// A WebSocket frame header for `len` payload bytes (unmasked, as the
    /// C binders send).
    pub fn frame_header(opcode: u8, fin: bool, len: usize) -> Vec<u8> {
        let mut f = vec![if fin { 0x80 } else { 0 } | opcode];
        match len {
            n if n < 126 => f.push(n as u8),
            n if n <= 0xffff => {
                f.push(126);
                f.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                f.push(127);
                f.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        f
    }

    /// One binary frame holding `msg`.
    pub fn frame(msg: &[u8]) -> Vec<u8> {
        let mut f = frame_header(0x2, true, msg.len());
        f.extend_from_slice(msg);
        f
    }
}

/// What a raw wsapi peer receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsapiIn {
    /// A binary message.
    Msg(Vec<u8>),
    /// A close frame and its code.
    Close(Option<u16>),
    /// The stream ended (or broke, or timed out).
    End,
}

/// A wsapi peer over a unix socket, speaking bytes written by hand.
pub struct WsapiPeer {
    pub s: UnixStream,
}

impl WsapiPeer {
    /// Connects to a `--ws-server` unix socket.
    pub fn connect(path: &Path) -> std::io::Result<WsapiPeer> {
        let s = UnixStream::connect(path)?;
        s.set_read_timeout(Some(T))?;
        Ok(WsapiPeer { s })
    }

    /// Wraps an accepted stream (a fake server).
    pub fn from_stream(s: UnixStream) -> WsapiPeer {
        s.set_read_timeout(Some(T)).unwrap();
        WsapiPeer { s }
    }

    /// Sends one message in one binary frame.
    pub fn send(&mut self, msg: &[u8]) -> std::io::Result<()> {
        self.s.write_all(&wire::frame(msg))
    }

    /// Sends raw bytes.
    pub fn send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.s.write_all(bytes)
    }

    /// Offers version 1 and checks the answer `v 01`.
    pub fn hello(&mut self) {
        self.send(&wire::version_offer()).unwrap();
        assert_eq!(self.recv(), WsapiIn::Msg(vec![b'v', 1]));
    }

    /// The next message or close.
    pub fn recv(&mut self) -> WsapiIn {
        let mut msg: Vec<u8> = Vec::new();
        loop {
            let mut h = [0u8; 2];
            if self.s.read_exact(&mut h).is_err() {
                return WsapiIn::End;
            }
            let mut len = u64::from(h[1] & 0x7f);
            if len == 126 {
                let mut b = [0u8; 2];
                if self.s.read_exact(&mut b).is_err() {
                    return WsapiIn::End;
                }
                len = u64::from(u16::from_be_bytes(b));
            } else if len == 127 {
                let mut b = [0u8; 8];
                if self.s.read_exact(&mut b).is_err() {
                    return WsapiIn::End;
                }
                len = u64::from_be_bytes(b);
            }
            let mut mask = None;
            if h[1] & 0x80 != 0 {
                let mut m = [0u8; 4];
                if self.s.read_exact(&mut m).is_err() {
                    return WsapiIn::End;
                }
                mask = Some(m);
            }
            let mut p = vec![0u8; len as usize];
            if self.s.read_exact(&mut p).is_err() {
                return WsapiIn::End;
            }
            if let Some(m) = mask {
                for (i, b) in p.iter_mut().enumerate() {
                    *b ^= m[i % 4];
                }
            }
            match h[0] & 0x0f {
                0x8 => return WsapiIn::Close((p.len() >= 2).then(|| u16::from_be_bytes([p[0], p[1]]))),
                0x9 | 0xa => continue,
                _ => {
                    msg.extend_from_slice(&p);
                    if h[0] & 0x80 != 0 {
                        return WsapiIn::Msg(msg);
                    }
                }
            }
        }
    }

    /// The next message (it must come).
    pub fn msg(&mut self) -> Vec<u8> {
        match self.recv() {
            WsapiIn::Msg(m) => m,
            other => panic!("expected a wsapi message, got {other:?}"),
        }
    }

    /// Skips messages until the link closes; returns the close code.
    pub fn closed(&mut self) -> Option<u16> {
        loop {
            match self.recv() {
                WsapiIn::Msg(_) => {}
                WsapiIn::Close(c) => return c,
                WsapiIn::End => return None,
            }
        }
    }
}

/// A back daemon exporting `hello` on `unix:DIR/hello` (and HTTP).
pub fn back(extra: &[&str]) -> (D, PathBuf) {
    let dir = TempDir::new("back");
    let sock = dir.path().join("hello");
    let uri = format!("unix:{}", sock.display());
    let mut args = vec!["--ws-server", uri.as_str()];
    args.extend_from_slice(extra);
    let d = D::start_in(dir, &args, Some(&sock));
    (d, sock)
}

/// A front daemon importing `hello` from the socket `sock`.
pub fn front(sock: &Path, extra: &[&str]) -> D {
    let uri = format!("unix:{}", sock.display());
    let mut args = vec!["--ws-client", uri.as_str()];
    args.extend_from_slice(extra);
    D::start(&args)
}
