//! A WebSocket client that behaves on the wire as the C client library
//! `libafbwsc` does (the library behind AGL `afb-client-demo`, redpesk
//! `afb-client` and the native C/C++ applications of both platforms), for
//! tests that must prove the daemon serves those clients:
//!
//! * the upgrade request has the library's header order and values,
//!   `Host` as `IPV4:PORT` and a final `Content-Length: 0`
//!   ([`upgrade_request`]); the answer is checked as the library checks it
//!   (`HTTP/1.1 101`, `Sec-WebSocket-Accept`, `Upgrade: websocket` spelled
//!   exactly, a `Sec-WebSocket-Protocol` naming `x-afb-ws-json1`);
//! * every frame it sends is **unmasked** (the first bytes of a call are
//!   `81 1e 5b 32 2c ...`), a ping is answered by an unmasked pong, and its
//!   close frame is `88 02` plus the code;
//! * calls are written as the library writes them: `[2,"ID","API/VERB",OBJ]`
//!   with compact JSON, `null` when there is no object, and ids counting
//!   down from `"999999"`;
//! * what the server sends is split as the library splits it (top-level
//!   items of the array, at most 10, strings unquoted without unescaping):
//!   replies must have 3 or 4 items, events exactly 3, calls 4 or 5; any
//!   other text is an error here where the library would close the
//!   connection with 1008 (policy violation). Frames from the server must be
//!   unmasked.
//!
//! Blocking std sockets, no dependencies: JSON parts are handed back as text.

use std::io::{self, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// The subprotocol the library offers.
pub const PROTOCOL: &str = "x-afb-ws-json1";

/// A `Sec-WebSocket-Key` and the `Sec-WebSocket-Accept` it must get (the
/// library also sends fixed keys with precomputed answers; these pairs are
/// ours: RFC 6455's example, and the key of bytes 0 to 15).
pub const KEYS: [(&str, &str); 2] = [
    ("dGhlIHNhbXBsZSBub25jZQ==", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
    ("AAECAwQFBgcICQoLDA0ODw==", "Bz3qJYTGdOe8gUSpLosEdiLKDrk="),
];

/// Frame opcodes.
mod op {
    pub const CONT: u8 = 0x0;
    pub const TEXT: u8 = 0x1;
    pub const BINARY: u8 = 0x2;
    pub const CLOSE: u8 = 0x8;
    pub const PING: u8 = 0x9;
    pub const PONG: u8 = 0xa;
}

/// The upgrade request the library writes for `path` on `host`
/// (`IPV4:PORT`), byte for byte.
pub fn upgrade_request(path: &str, host: &str, key: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\n\
         Host: {host}\r\n\
         Upgrade: websocket\r\n\
         Connection: Upgrade\r\n\
         Sec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: {key}\r\n\
         Sec-WebSocket-Protocol: {PROTOCOL}\r\n\
         Content-Length: 0\r\n\
         \r\n"
    )
}

/// A call as the library writes it: `[2,"ID","API/VERB",OBJ]`, `OBJ` being
/// `null` when `object` is `None`.
pub fn call_text(id: &str, api: &str, verb: &str, object: Option<&str>) -> String {
    format!("[2,\"{id}\",\"{api}/{verb}\",{}]", object.unwrap_or("null"))
}

/// One frame as the library writes it: FIN set, no mask, the shortest
/// length form.
pub fn frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(payload.len() + 10);
    f.push(0x80 | opcode);
    match payload.len() {
        n if n < 126 => f.push(n as u8),
        n if n < 65536 => {
            f.push(126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(payload);
    f
}

/// A message from the server, as the library sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CMsg {
    /// `[3|4,ID,OBJ]` or `[3|4,ID,OBJ,TOKEN]`.
    Reply {
        /// `true` for `[3,...]`.
        ok: bool,
        /// The id, its quotes removed.
        id: String,
        /// The reply object, as JSON text.
        object: String,
        /// The 4th item, as text (quotes kept): the library accepts it
        /// and does not use it.
        fourth: Option<String>,
    },
    /// `[5,NAME,OBJ]`.
    Event {
        /// The event name, its quotes removed.
        name: String,
        /// The event object, as JSON text.
        object: String,
    },
    /// `[2,ID,"API/VERB",OBJ]` (a call from the server).
    Call {
        /// The id, its quotes removed.
        id: String,
        /// `API/VERB`, its quotes removed.
        api_verb: String,
        /// The arguments, as JSON text.
        object: String,
    },
    /// A close frame: its code when it has one.
    Close(Option<u16>),
}

/// Splits `[a,b,...]` into its top-level items as the library does
/// (spaces only around items, at most 10 items); `None` where the library
/// gives up.
pub fn scan(text: &str) -> Option<Vec<&str>> {
    let b = text.as_bytes();
    let mut pos = 0;
    let skip = |pos: &mut usize| {
        while b.get(*pos) == Some(&b' ') {
            *pos += 1;
        }
    };
    skip(&mut pos);
    if b.get(pos) != Some(&b'[') {
        return None;
    }
    pos += 1;
    skip(&mut pos);
    let mut items = Vec::new();
    if b.get(pos) != Some(&b']') {
        loop {
            if items.len() == 10 {
                return None;
            }
            let beg = pos;
            let mut depth = 0usize;
            loop {
                let c = *b.get(pos)?;
                if depth == 0 && (c == b',' || c == b']') {
                    break;
                }
                pos += 1;
                match c {
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => depth = depth.checked_sub(1)?,
                    b'"' => loop {
                        match *b.get(pos)? {
                            b'\\' => pos += 2,
                            b'"' => {
                                pos += 1;
                                break;
                            }
                            _ => pos += 1,
                        }
                    },
                    _ => {}
                }
            }
            let item = text.get(beg..pos)?.trim_end_matches(' ');
            items.push(item);
            if b.get(pos) == Some(&b']') {
                break;
            }
            pos += 1;
            skip(&mut pos);
        }
    }
    pos += 1;
    skip(&mut pos);
    (pos == b.len()).then_some(items)
}

/// A string item without its quotes (no unescaping), as the library reads ids
/// and names.
fn unquote(item: &str) -> String {
    if item.len() > 1 && item.starts_with('"') {
        item.get(1..item.len() - 1).unwrap_or_default().to_owned()
    } else {
        item.to_owned()
    }
}

/// Reads one text message as the library does; `Err` where it would close
/// with 1008.
pub fn parse(text: &str) -> Result<CMsg, String> {
    let bad = |why: &str| Err(format!("libafbwsc would refuse {text:?} ({why}) and close with 1008"));
    let Some(items) = scan(text) else {
        return bad("not an array it can split");
    };
    let n = items.len();
    match items.first().copied() {
        Some("2") if n == 4 || n == 5 => {
            let api_verb = unquote(items[2]);
            match api_verb.split_once('/') {
                Some((_, verb)) if !verb.is_empty() && !verb.starts_with('/') => Ok(CMsg::Call {
                    id: unquote(items[1]),
                    api_verb,
                    object: items[3].to_owned(),
                }),
                _ => bad("no verb"),
            }
        }
        Some(k @ ("3" | "4")) if n == 3 || n == 4 => Ok(CMsg::Reply {
            ok: k == "3",
            id: unquote(items[1]),
            object: items[2].to_owned(),
            fourth: items.get(3).map(|s| (*s).to_owned()),
        }),
        Some("5") if n == 3 => Ok(CMsg::Event {
            name: unquote(items[1]),
            object: items[2].to_owned(),
        }),
        _ => bad("wrong kind or number of items"),
    }
}

/// A connection made and used as `libafbwsc` does.
pub struct CClient {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    genid: u32,
    /// The server's answer to the upgrade (status line and headers).
    pub head: String,
    /// Events received while waiting for a reply, in order.
    pub events: Vec<CMsg>,
}

fn err(why: String) -> io::Error {
    io::Error::other(why)
}

impl CClient {
    /// Connects to `addr` (IPv4) and upgrades on `path` (e.g. `/api` or
    /// `/api?x-afb-token=T`), with the first key of [`KEYS`].
    pub fn connect(addr: SocketAddr, path: &str) -> io::Result<CClient> {
        Self::connect_with_key(addr, path, 0)
    }

    /// [`CClient::connect`] with the key `KEYS[key]`.
    pub fn connect_with_key(addr: SocketAddr, path: &str, key: usize) -> io::Result<CClient> {
        let (key, accept) = KEYS[key % KEYS.len()];
        let s = TcpStream::connect(addr)?;
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut writer = s.try_clone()?;
        let host = format!("{}:{}", addr.ip(), addr.port());
        writer.write_all(upgrade_request(path, &host, key).as_bytes())?;
        let mut reader = BufReader::new(s);
        // Line by line, as the library reads the answer.
        let mut lines = Vec::new();
        loop {
            let mut line = Vec::new();
            let mut byte = [0u8; 1];
            while !line.ends_with(b"\r\n") {
                reader.read_exact(&mut byte)?;
                line.push(byte[0]);
                if line.len() > 4096 {
                    return Err(err("an answer line longer than 4096 bytes".into()));
                }
            }
            line.truncate(line.len() - 2);
            if line.is_empty() {
                break;
            }
            lines.push(String::from_utf8_lossy(&line).into_owned());
        }
        let head = lines.join("\r\n");
        let status = lines.first().cloned().unwrap_or_default();
        let mut parts = status.split(' ').filter(|p| !p.is_empty());
        if parts.next() != Some("HTTP/1.1") || parts.next() != Some("101") {
            return Err(err(format!("upgrade refused: {head}")));
        }
        let (mut accept_ok, mut protocol_ok, mut upgrade_ok) = (false, false, true);
        let mut content_length = 0usize;
        for l in lines.iter().skip(1) {
            let Some((name, value)) = l.split_once(':') else {
                continue;
            };
            // The library keeps the first word of the value.
            let value = value
                .trim_start_matches([' ', ','])
                .split([' ', ','])
                .next()
                .unwrap_or("");
            if name.eq_ignore_ascii_case("Sec-WebSocket-Accept") {
                accept_ok = value == accept;
            } else if name.eq_ignore_ascii_case("Sec-WebSocket-Protocol") {
                protocol_ok = value == PROTOCOL;
            } else if name.eq_ignore_ascii_case("Upgrade") {
                upgrade_ok &= value == "websocket";
            } else if name.eq_ignore_ascii_case("Content-Length") {
                content_length = value.parse().unwrap_or(0);
            }
        }
        if !(accept_ok && protocol_ok && upgrade_ok) {
            return Err(err(format!(
                "libafbwsc would refuse this answer (accept {accept_ok}, protocol {protocol_ok}, upgrade {upgrade_ok}): {head}"
            )));
        }
        let mut skip = vec![0u8; content_length.min(1 << 16)];
        reader.read_exact(&mut skip)?;
        Ok(CClient {
            reader,
            writer,
            genid: 0,
            head,
            events: Vec::new(),
        })
    }

    /// Sets how long a receive may wait.
    pub fn set_timeout(&self, t: Duration) {
        let _ = self.reader.get_ref().set_read_timeout(Some(t));
    }

    /// The next call id, as the library makes them: `"999999"`, `"999998"`, ...
    pub fn next_id(&mut self) -> String {
        if self.genid == 0 {
            self.genid = 999_999;
        }
        let id = self.genid.to_string();
        self.genid -= 1;
        id
    }

    /// Writes raw bytes on the socket.
    pub fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.writer.write_all(bytes)
    }

    /// Sends a text message in one unmasked frame.
    pub fn send_text(&mut self, text: &str) -> io::Result<()> {
        self.send_raw(&frame(op::TEXT, text.as_bytes()))
    }

    /// Sends a call (`object` is compact JSON text, `None` for `null`) and
    /// returns its id.
    pub fn call(&mut self, api: &str, verb: &str, object: Option<&str>) -> io::Result<String> {
        let id = self.next_id();
        self.send_text(&call_text(&id, api, verb, object))?;
        Ok(id)
    }

    /// Sends a call and waits for its reply (events received meanwhile go to
    /// [`CClient::events`]).
    pub fn call_sync(&mut self, api: &str, verb: &str, object: Option<&str>) -> io::Result<CMsg> {
        let id = self.call(api, verb, object)?;
        self.reply(&id)
    }

    /// Waits for the reply to `id`.
    pub fn reply(&mut self, id: &str) -> io::Result<CMsg> {
        loop {
            match self.recv()? {
                m @ CMsg::Event { .. } => self.events.push(m),
                m @ CMsg::Reply { .. } if matches!(&m, CMsg::Reply { id: i, .. } if i == id) => return Ok(m),
                other => return Err(err(format!("expected the reply to {id}, got {other:?}"))),
            }
        }
    }

    /// Waits for the next event (or takes the oldest one already received).
    pub fn event(&mut self) -> io::Result<CMsg> {
        if !self.events.is_empty() {
            return Ok(self.events.remove(0));
        }
        match self.recv()? {
            m @ CMsg::Event { .. } => Ok(m),
            other => Err(err(format!("expected an event, got {other:?}"))),
        }
    }

    /// Sends the library's close frame (`88 02` and the code, unmasked) and
    /// returns the code of the server's close frame.
    pub fn close(&mut self, code: u16) -> io::Result<Option<u16>> {
        self.send_raw(&frame(op::CLOSE, &code.to_be_bytes()))?;
        self.wait_close()
    }

    /// Waits for the server's close frame (messages before it are skipped)
    /// and returns its code.
    pub fn wait_close(&mut self) -> io::Result<Option<u16>> {
        loop {
            if let CMsg::Close(code) = self.recv()? {
                return Ok(code);
            }
        }
    }

    /// Whether the server closed the TCP connection (reads until end of
    /// stream, discarding what comes).
    pub fn wait_eof(&mut self) -> io::Result<()> {
        let mut buf = [0u8; 4096];
        loop {
            if self.reader.read(&mut buf)? == 0 {
                return Ok(());
            }
        }
    }

    fn read_frame(&mut self) -> io::Result<(bool, u8, Vec<u8>)> {
        let mut h = [0u8; 2];
        self.reader.read_exact(&mut h)?;
        if h[1] & 0x80 != 0 {
            return Err(err("the server sent a masked frame".into()));
        }
        let len = match h[1] & 0x7f {
            126 => {
                let mut l = [0u8; 2];
                self.reader.read_exact(&mut l)?;
                u64::from(u16::from_be_bytes(l))
            }
            127 => {
                let mut l = [0u8; 8];
                self.reader.read_exact(&mut l)?;
                u64::from_be_bytes(l)
            }
            n => u64::from(n),
        };
        if len > 64 << 20 {
            return Err(err(format!("a frame of {len} bytes")));
        }
        let mut payload = vec![0u8; len as usize];
        self.reader.read_exact(&mut payload)?;
        Ok((h[0] & 0x80 != 0, h[0] & 0x0f, payload))
    }

    /// The next message (pings are answered with unmasked pongs; pongs are
    /// skipped). A text the library would refuse is an error.
    pub fn recv(&mut self) -> io::Result<CMsg> {
        let mut text: Option<Vec<u8>> = None;
        loop {
            let (fin, opcode, payload) = self.read_frame()?;
            match opcode {
                op::PING => self.send_raw(&frame(op::PONG, &payload))?,
                op::PONG => {}
                op::CLOSE => {
                    let code = payload.get(..2).map(|c| u16::from_be_bytes([c[0], c[1]]));
                    return Ok(CMsg::Close(code));
                }
                op::TEXT if text.is_none() => text = Some(payload),
                op::CONT if text.is_some() => {
                    if let Some(t) = text.as_mut() {
                        t.extend_from_slice(&payload);
                    }
                }
                op::BINARY => return Err(err("a binary message from the server".into())),
                other => return Err(err(format!("unexpected frame opcode {other}"))),
            }
            if fin {
                if let Some(t) = text.take() {
                    let t = String::from_utf8(t).map_err(|_| err("a text message not in UTF-8".into()))?;
                    return parse(&t).map_err(err);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_call_frame_bytes_are_the_measured_ones() {
        let f = frame(op::TEXT, call_text("999999", "hello", "ping", Some("true")).as_bytes());
        assert_eq!(&f[..5], &[0x81, 0x1e, 0x5b, 0x32, 0x2c]);
        assert_eq!(frame(op::CLOSE, &1000u16.to_be_bytes()), [0x88, 0x02, 0x03, 0xe8]);
        assert_eq!(&frame(op::TEXT, &[b'x'; 126])[..4], &[0x81, 126, 0, 126]);
        assert_eq!(
            &frame(op::TEXT, &vec![b'x'; 65536])[..10],
            &[0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0]
        );
    }

    #[test]
    fn scan_splits_as_the_library() {
        assert_eq!(
            scan(r#"[3,"1",{"a":[1,"]"]},"tok"]"#).unwrap(),
            ["3", "\"1\"", r#"{"a":[1,"]"]}"#, "\"tok\""]
        );
        assert_eq!(scan("[ 5 , \"e\" , {} ]").unwrap(), ["5", "\"e\"", "{}"]);
        assert_eq!(scan("[]").unwrap(), Vec::<&str>::new());
        assert!(scan("[1,2").is_none());
        assert!(scan("[1] x").is_none());
        assert!(scan("[1,2,3,4,5,6,7,8,9,10,11]").is_none());
        assert!(scan("\n[1]").is_none(), "only spaces are skipped");
        assert!(scan(r#"["\"]"#).is_none());
    }

    #[test]
    fn parse_accepts_what_the_library_accepts() {
        assert_eq!(
            parse(r#"[3,"7",{"x":1},"T"]"#).unwrap(),
            CMsg::Reply {
                ok: true,
                id: "7".into(),
                object: r#"{"x":1}"#.into(),
                fourth: Some("\"T\"".into())
            }
        );
        assert!(matches!(parse(r#"[4,"7",null]"#), Ok(CMsg::Reply { ok: false, .. })));
        assert!(matches!(parse(r#"[5,"a/b",{}]"#), Ok(CMsg::Event { .. })));
        assert!(parse(r#"[5,"a/b",{},"x"]"#).is_err(), "an event has exactly 3 items");
        assert!(parse(r#"[3,"7"]"#).is_err());
        assert!(parse(r#"[2,"1","api",null]"#).is_err());
        assert!(parse(r#"[6,"1",null]"#).is_err());
        assert!(parse(r#"[33,"1",null]"#).is_err());
    }

    #[test]
    fn upgrade_request_has_the_library_header_order() {
        assert_eq!(
            upgrade_request("/api", "127.0.0.1:1234", KEYS[0].0),
            "GET /api HTTP/1.1\r\nHost: 127.0.0.1:1234\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Protocol: x-afb-ws-json1\r\nContent-Length: 0\r\n\r\n"
        );
    }
}
