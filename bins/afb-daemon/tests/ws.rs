//! x-afb-ws-json1 against the real daemon (`afb-daemon` on a free loopback
//! port, sample APIs), with a WebSocket client written over std sockets:
//! the spec's examples, ids, tokens, sessions, events and broadcasts, many
//! calls in flight, size limits (`--ws-maxlen`), bad input and its close
//! codes, handshakes, a client that stops reading, and shutdown.

#[path = "../../../crates/http/tests/ws_support/std_ws.rs"]
mod std_ws;

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use afb_testkit::{Daemon, TempDir};
use serde_json::{json, Value};
use std_ws::{op, WsConn, WsMsg};

const T: Duration = Duration::from_secs(10);

/// A daemon working in its own temporary directory.
struct D {
    d: Daemon,
    _dir: TempDir,
}

impl D {
    fn start(args: &[&str]) -> D {
        let dir = TempDir::new("ws");
        let wd = dir.path().to_str().unwrap().to_owned();
        let mut all = vec!["--workdir", wd.as_str()];
        all.extend_from_slice(args);
        D {
            d: Daemon::start(&all),
            _dir: dir,
        }
    }

    fn client(&self) -> C {
        self.client_q("")
    }

    /// A client whose upgrade has the query `q` (`x-afb-token=…&x-afb-uuid=…`).
    fn client_q(&self, q: &str) -> C {
        let addr = self.d.addr();
        let path = if q.is_empty() {
            "/api".to_owned()
        } else {
            format!("/api?{q}")
        };
        let c = WsConn::connect(addr, &addr.to_string(), &path, Some("x-afb-ws-json1")).expect("WebSocket connection");
        assert!(
            c.head
                .to_ascii_lowercase()
                .contains("\r\nsec-websocket-protocol: x-afb-ws-json1\r\n"),
            "{}",
            c.head
        );
        c.set_timeout(T);
        C { c, events: Vec::new() }
    }
}

/// A client: raw texts and JSON.
struct C {
    c: WsConn,
    /// Texts of the events received while waiting for replies.
    events: Vec<String>,
}

impl C {
    fn send(&mut self, text: &str) {
        self.c.send_text(text).expect("send");
    }

    fn recv_text(&mut self) -> String {
        loop {
            match self.c.recv().expect("a message in time") {
                WsMsg::Text(t) => return t,
                WsMsg::Ping(_) | WsMsg::Pong(_) => {}
                other => panic!("expected a text message, got {other:?}"),
            }
        }
    }

    fn recv(&mut self) -> Value {
        let t = self.recv_text();
        serde_json::from_str(&t).unwrap_or_else(|e| panic!("invalid JSON ({e}): {t}"))
    }

    fn reply_to(&mut self, id: &str) -> Value {
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

    fn call(&mut self, id: &str, api_verb: &str, args: &str) -> Value {
        self.send(&format!(r#"[2,"{id}","{api_verb}",{args}]"#));
        self.reply_to(id)
    }

    fn call_ok(&mut self, id: &str, api_verb: &str, args: &str) -> Value {
        let r = self.call(id, api_verb, args);
        assert_eq!(r[0], 3, "{api_verb} {args}: {r}");
        r
    }

    /// The close code the server sends (texts before it are skipped).
    fn close_code(&mut self) -> Option<u16> {
        loop {
            match self.c.recv() {
                Ok(WsMsg::Close(code, _)) => return code,
                Ok(_) => {}
                Err(e) => panic!("expected a close frame: {e}"),
            }
        }
    }
}

fn status(r: &Value) -> &str {
    r[2]["request"]["status"].as_str().unwrap_or("")
}

#[test]
fn spec_examples_ids_and_events() {
    let d = D::start(&[]);
    let mut c = d.client();
    c.send(r#"[2,"1","hello/ping",{"a":1}]"#);
    let t = c.recv_text();
    assert!(
        t.starts_with(r#"[3,"1",{"jtype":"afb-reply","request":{"status":"success","code":0,"info":"Ping Binder Daemon tag=pingSample count="#),
        "{t}"
    );
    assert!(t.ends_with(r#""response":"Some String"}]"#), "{t}");
    c.send(r#"[2,"2","hello/pingfail",null]"#);
    assert_eq!(
        c.recv_text(),
        r#"[4,"2",{"jtype":"afb-reply","request":{"status":"failed","code":-1,"info":"Ping Binder Daemon fails"}}]"#
    );
    c.call_ok("5", "hello/eventadd", r#"{"tag":"t1","name":"ev1"}"#);
    c.send(r#"[2,"6","hello/eventsub",{"tag":"t1"}]"#);
    assert_eq!(
        c.recv_text(),
        r#"[3,"6",{"jtype":"afb-reply","request":{"status":"success","code":0}}]"#
    );
    c.call_ok("7", "hello/eventpush", r#"{"tag":"t1","data":{"v":42}}"#);
    assert_eq!(
        c.events,
        [r#"[5,"hello/ev1",{"jtype":"afb-event","event":"hello/ev1","data":{"v":42}}]"#]
    );
    c.events.clear();
    c.call_ok("8", "hello/eventunsub", r#"{"tag":"t1"}"#);
    c.call_ok("9", "hello/eventpush", r#"{"tag":"t1","data":1}"#);
    assert!(c.events.is_empty(), "no event after unsubscribe");

    // Ids: numbers come back as strings, special characters escaped.
    c.send(r#"[2,4,"hello/pingnull",null]"#);
    assert!(c.recv_text().starts_with(r#"[3,"4","#));
    c.send(r#"[2,"q\"uo\\te","hello/pingnull",null]"#);
    assert_eq!(c.recv()[1], "q\"uo\\te");
    // Arguments that are not JSON are a string.
    assert_eq!(
        c.call_ok("s", "hello/setctx", "plain text")[2]["response"],
        "plain text"
    );
}

#[test]
fn broadcasts_reach_every_connection_with_one_wrapper() {
    let d = D::start(&[]);
    let mut a = d.client();
    let mut b = d.client();
    a.call_ok("1", "hello/broadcast", r#"{"name":"bc","data":{"x":1}}"#);
    let expected = r#"[5,"hello/bc",{"jtype":"afb-event","event":"hello/bc","data":{"x":1}}]"#;
    let from_a = a.events.pop().unwrap_or_else(|| a.recv_text());
    assert_eq!(from_a, expected);
    assert_eq!(b.recv_text(), expected);
}

#[test]
fn tokens_and_sessions() {
    let d = D::start(&["--token", "SECRET"]);
    let mut bad = d.client_q("x-afb-token=WRONG");
    assert_eq!(status(&bad.call("1", "hello/checktok", "null")), "invalid-token");
    // The 5th element replaces the connection's token from then on.
    bad.send(r#"[2,"2","hello/checktok",null,"SECRET"]"#);
    assert_eq!(bad.reply_to("2")[0], 3);
    assert_eq!(bad.call("3", "hello/checktok", "null")[0], 3);

    let mut c = d.client_q("x-afb-token=SECRET");
    c.call_ok("1", "hello/checktok", "null");
    let r = c.call_ok("2", "hello/reftok", "null");
    let new = r[2]["request"]["token"].as_str().expect("renewed token").to_owned();
    assert_ne!(new, "SECRET");
    c.call_ok("3", "hello/checktok", "null");
    // The session is the connection's: another connection joins it by uuid.
    let uuid = c.call_ok("4", "monitor/session", "null")[2]["response"]["uuid"]
        .as_str()
        .unwrap()
        .to_owned();
    c.call_ok("5", "hello/setctx", r#"{"shared":true}"#);
    let mut same = d.client_q(&format!("x-afb-uuid={uuid}&x-afb-token={new}"));
    assert_eq!(
        same.call_ok("1", "hello/getctx", "null")[2]["response"],
        json!({"shared":true})
    );
    same.call_ok("2", "hello/checktok", "null");
    // A uuid the daemon never issued gets a new session.
    let mut other = d.client_q("x-afb-uuid=00000000-0000-4000-8000-000000000000&x-afb-token=SECRET");
    let u2 = other.call_ok("1", "monitor/session", "null")[2]["response"]["uuid"].clone();
    assert_ne!(u2, "00000000-0000-4000-8000-000000000000");
    assert_ne!(u2, json!(uuid));
}

#[test]
fn a_thousand_calls_in_flight() {
    let d = D::start(&[]);
    let mut c = d.client();
    c.call_ok("new", "tictactoe/new", "null");
    for i in 0..1000 {
        c.send(&format!(r#"[2,"w{i}","tictactoe/wait",null]"#));
    }
    // A ping answers while the waits run (completion order); one move releases them all.
    assert_eq!(c.call("p", "hello/ping", "null")[0], 3);
    c.send(r#"[2,"m","tictactoe/move",{"index":4}]"#);
    let mut seen = HashSet::new();
    while seen.len() < 1001 {
        let m = c.recv();
        match m[0].as_u64() {
            Some(5) => {}
            Some(3) => assert!(seen.insert(m[1].as_str().unwrap().to_owned()), "one reply per id: {m}"),
            _ => panic!("unexpected {m}"),
        }
    }
    assert!(seen.contains("m") && (0..1000).all(|i| seen.contains(&format!("w{i}"))));
}

fn padded_call(id: &str, total: usize) -> String {
    let head = format!(r#"[2,"{id}","hello/pingnull",""#);
    format!("{head}{}\"]", "x".repeat(total - head.len() - 2))
}

#[test]
fn ws_maxlen_bounds_whole_messages_and_fragments() {
    let d = D::start(&["--ws-maxlen", "1000"]);
    let mut other = d.client();
    let mut c = d.client();
    c.send(&padded_call("ok", 1000));
    assert_eq!(c.reply_to("ok")[0], 3);
    c.send(&padded_call("big", 1001));
    assert_eq!(c.close_code(), Some(1009));
    other.call_ok("a", "hello/ping", "null");

    let mut c = d.client();
    let text = padded_call("frag", 1200).into_bytes();
    let parts: Vec<&[u8]> = text.chunks(400).collect();
    for (i, p) in parts.iter().enumerate() {
        let opcode = if i == 0 { op::TEXT } else { op::CONT };
        c.c.writer.send_frame(opcode, i == parts.len() - 1, p).unwrap();
    }
    assert_eq!(c.close_code(), Some(1009));
    other.call_ok("b", "hello/ping", "null");
}

#[test]
fn bad_input_close_codes_and_error_replies() {
    let d = D::start(&[]);
    let mut other = d.client();
    for (i, text) in [r#""not an array""#, "{}", "[9,1]", r#"[2,{"id":1},"hello/ping",null]"#]
        .iter()
        .enumerate()
    {
        let mut c = d.client();
        c.send(text);
        assert_eq!(c.close_code(), Some(1008), "{text}");
        other.call_ok(&format!("o{i}"), "hello/ping", "null");
    }
    let mut c = d.client();
    for (text, id) in [
        (r#"[2,"7","hello",null]"#, "7"),
        (r#"[2,"8","hello/ping"]"#, "8"),
        (
            r#"[3,"9",{"jtype":"afb-reply","request":{"status":"success","code":0}}]"#,
            "9",
        ),
    ] {
        c.send(text);
        let r = c.recv();
        assert_eq!(
            (r[0].as_u64(), r[1].as_str(), status(&r)),
            (Some(4), Some(id), "invalid-request"),
            "{text}"
        );
    }
    c.call_ok("after", "hello/ping", "null");

    let mut c = d.client();
    c.c.writer
        .send_frame(op::BINARY, true, b"[2,\"1\",\"hello/ping\",null]")
        .unwrap();
    assert_eq!(c.close_code(), Some(1003));
    let mut c = d.client();
    c.c.writer.send_frame(op::TEXT, true, &[b'[', 0xff, b']']).unwrap();
    assert_eq!(c.close_code(), Some(1007));
    other.call_ok("last", "hello/ping", "null");

    // Ping is answered with pong.
    other.c.writer.send_frame(op::PING, true, b"hi").unwrap();
    assert_eq!(other.c.recv().unwrap(), WsMsg::Pong(b"hi".to_vec()));
}

fn raw_handshake(d: &D, extra: &str) -> String {
    let mut s = TcpStream::connect(d.d.addr()).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    write!(
        s,
        "GET /api HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{extra}\r\n",
        d.d.addr()
    )
    .unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut b).unwrap();
        head.push(b[0]);
    }
    String::from_utf8_lossy(&head).to_lowercase()
}

#[test]
fn handshakes_426_412_and_default_protocol() {
    let d = D::start(&[]);
    let r = raw_handshake(
        &d,
        "Sec-WebSocket-Version: 8\r\nSec-WebSocket-Protocol: x-afb-ws-json1\r\n",
    );
    assert!(r.starts_with("http/1.1 426"), "{r}");
    assert!(r.contains("\r\nsec-websocket-version: 13\r\n"), "{r}");
    let r = raw_handshake(&d, "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: chat\r\n");
    assert!(r.starts_with("http/1.1 412"), "{r}");
    let addr = d.d.addr();
    let mut c = WsConn::connect(addr, &addr.to_string(), "/api", None).unwrap();
    assert!(
        !c.head.to_ascii_lowercase().contains("sec-websocket-protocol"),
        "{}",
        c.head
    );
    c.set_timeout(T);
    c.send_text(r#"[2,"1","hello/ping",null]"#).unwrap();
    match c.recv().unwrap() {
        WsMsg::Text(t) => assert!(t.starts_with(r#"[3,"1","#), "{t}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_client_that_stops_reading_is_dropped_and_slows_nobody() {
    let d = D::start(&[]);
    let mut stuck = d.client();
    stuck.call_ok("1", "hello/eventadd", r#"{"tag":"flood","name":"flood"}"#);
    stuck.call_ok("2", "hello/eventsub", r#"{"tag":"flood"}"#);
    let mut pusher = d.client();
    let data = "y".repeat(32 * 1024);
    let mut worst = Duration::ZERO;
    let mut pushed = 0;
    // With the default queue (1024 messages) the stuck client is dropped after
    // about 1024 events plus what the sockets buffer.
    for round in 0..120 {
        let t0 = Instant::now();
        for i in 0..25 {
            pusher.send(&format!(
                r#"[2,"p{round}-{i}","hello/eventpush",{{"tag":"flood","data":"{data}"}}]"#
            ));
        }
        for i in 0..25 {
            assert_eq!(pusher.reply_to(&format!("p{round}-{i}"))[0], 3);
        }
        pushed += 25;
        worst = worst.max(t0.elapsed());
    }
    assert!(
        worst < Duration::from_secs(5),
        "pushing never waits for the stuck client ({worst:?})"
    );
    let t0 = Instant::now();
    pusher.call_ok("after", "hello/ping", "null");
    assert!(t0.elapsed() < Duration::from_secs(5));
    let mut received = 0;
    loop {
        match stuck.c.recv() {
            Ok(WsMsg::Text(_)) => received += 1,
            Ok(WsMsg::Close(..)) | Err(_) => break,
            Ok(_) => {}
        }
    }
    assert!(
        received < pushed,
        "the stuck client was dropped ({received} of {pushed} events)"
    );
}

#[test]
fn sigterm_closes_websockets_with_1001() {
    let d = D::start(&["--shutdown-grace", "1"]);
    let mut c = d.client();
    c.call_ok("p", "hello/ping", "null");
    c.send(r#"[2,"w","tictactoe/wait",null]"#);
    std::thread::sleep(Duration::from_millis(200));
    d.d.signal("TERM");
    loop {
        match c.c.recv() {
            Ok(WsMsg::Text(t)) => {
                let m: Value = serde_json::from_str(&t).unwrap();
                assert_eq!((m[1].as_str(), status(&m)), (Some("w"), "disconnected"), "{m}");
            }
            Ok(WsMsg::Close(code, _)) => {
                assert_eq!(code, Some(1001));
                break;
            }
            Ok(_) => {}
            Err(e) => panic!("expected a close frame: {e}"),
        }
    }
}
