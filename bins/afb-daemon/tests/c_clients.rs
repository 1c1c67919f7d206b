//! The daemon against clients that behave as the C programs and AGL web
//! pages do on the wire, rather than as our own clients:
//!
//! * the C client library `libafbwsc` (AGL `afb-client-demo`, redpesk
//!   `afb-client`, native apps): its upgrade request ends with
//!   `Content-Length: 0` and its frames are unmasked (`afb_testkit::cws`);
//!   calls, success and error replies, events pushed and broadcast, a token
//!   renewal (reply of 4 items), big messages, its close and its hang-up;
//! * AGL's `AFB.js`: it learns a renewed token only from the 4th item of a
//!   reply and sends its token as the 5th item of every call;
//! * AGL's monitor page: `monitor/get` keys (`""` is the common level,
//!   every other key an API) and the `monitor/set` forms it sends.

#[path = "../../../crates/http/tests/ws_support/std_ws.rs"]
mod std_ws;

use std::time::Duration;

use afb_testkit::cws::{self, CClient, CMsg};
use afb_testkit::{Daemon, TempDir};
use serde_json::{json, Value};
use std_ws::{WsConn, WsMsg};

const T: Duration = Duration::from_secs(10);

/// A daemon working in its own temporary directory.
struct D {
    d: Daemon,
    _dir: TempDir,
}

impl D {
    fn start(args: &[&str]) -> D {
        let dir = TempDir::new("cclients");
        let wd = dir.path().to_str().unwrap().to_owned();
        let mut all = vec!["--workdir", wd.as_str()];
        all.extend_from_slice(args);
        D {
            d: Daemon::start(&all),
            _dir: dir,
        }
    }

    /// A libafbwsc-like client on `/api` (with `query` when not empty).
    fn c_client(&self, query: &str) -> CClient {
        let path = if query.is_empty() {
            "/api".to_owned()
        } else {
            format!("/api?{query}")
        };
        let c = CClient::connect(self.d.addr(), &path).unwrap_or_else(|e| panic!("libafbwsc-like connection: {e}"));
        c.set_timeout(T);
        c
    }
}

/// A reply of the C client: (ok, the afb-reply object, the 4th item).
fn reply_parts(m: CMsg) -> (bool, Value, Option<String>) {
    match m {
        CMsg::Reply { ok, object, fourth, .. } => (
            ok,
            serde_json::from_str(&object).unwrap_or_else(|e| panic!("reply object is not JSON ({e}): {object}")),
            fourth,
        ),
        other => panic!("expected a reply, got {other:?}"),
    }
}

fn event_parts(m: CMsg) -> (String, Value) {
    match m {
        CMsg::Event { name, object } => (name, serde_json::from_str(&object).unwrap()),
        other => panic!("expected an event, got {other:?}"),
    }
}

#[test]
fn libafbwsc_upgrade_and_unmasked_calls_get_their_replies() {
    let d = D::start(&[]);
    let mut c = d.c_client("");
    assert!(c.head.starts_with("HTTP/1.1 101"), "{}", c.head);
    // The measured first call: 81 1e 5b 32 2c ...
    let id = c.next_id();
    assert_eq!(id, "999999");
    let text = cws::call_text(&id, "hello", "ping", Some("true"));
    let frame = cws::frame(0x1, text.as_bytes());
    assert_eq!(&frame[..5], &[0x81, 0x1e, 0x5b, 0x32, 0x2c]);
    c.send_raw(&frame).unwrap();
    let (ok, r, fourth) = reply_parts(c.reply(&id).unwrap());
    assert!(ok);
    assert_eq!(r["request"]["status"], "success");
    assert_eq!(r["response"], "Some String");
    assert_eq!(fourth, None, "no token renewed: 3 items");
    // An error reply is [4,...]; the ids count down.
    let (ok, r, _) = reply_parts(c.call_sync("hello", "pingfail", None).unwrap());
    assert!(!ok);
    assert_eq!(r["request"]["status"], "failed");
    let (ok, r, _) = reply_parts(c.call_sync("hello", "nosuchverb", Some("{}")).unwrap());
    assert!(!ok);
    assert_eq!(r["request"]["status"], "unknown-verb");
    // Many calls in flight, replies by id.
    let ids: Vec<String> = (0..20)
        .map(|i| c.call("hello", "pingJson", Some(&format!("{{\"i\":{i}}}"))).unwrap())
        .collect();
    assert_eq!(ids[0], "999996");
    let mut seen = Vec::new();
    for _ in 0..20 {
        match c.recv().unwrap() {
            CMsg::Reply { ok: true, id, .. } => seen.push(id),
            other => panic!("{other:?}"),
        }
    }
    seen.sort();
    let mut want = ids.clone();
    want.sort();
    assert_eq!(seen, want);
    // Messages of 16-bit and 64-bit lengths, unmasked as well.
    for size in [300usize, 70_000] {
        let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(size));
        let (ok, r, _) = reply_parts(c.call_sync("hello", "ping", Some(&big)).unwrap());
        assert!(ok, "{r}");
    }
}

#[test]
fn libafbwsc_receives_pushed_and_broadcast_events() {
    let d = D::start(&[]);
    let mut c = d.c_client("");
    let mut other = d.c_client("");
    for (verb, args) in [
        ("eventadd", r#"{"tag":"t1","name":"ev1"}"#),
        ("eventsub", r#"{"tag":"t1"}"#),
    ] {
        let (ok, r, _) = reply_parts(c.call_sync("hello", verb, Some(args)).unwrap());
        assert!(ok, "{verb}: {r}");
    }
    let (ok, r, _) = reply_parts(
        c.call_sync("hello", "eventpush", Some(r#"{"tag":"t1","data":{"v":42}}"#))
            .unwrap(),
    );
    assert!(ok, "{r}");
    assert_eq!(r["response"], 1, "one subscriber");
    let (name, ev) = event_parts(c.event().unwrap());
    assert_eq!(name, "hello/ev1");
    assert_eq!(ev, json!({"jtype":"afb-event","event":"hello/ev1","data":{"v":42}}));
    // A broadcast reaches both clients, with one wrapper.
    let (ok, r, _) = reply_parts(
        other
            .call_sync("hello", "broadcast", Some(r#"{"name":"news","data":[1,2]}"#))
            .unwrap(),
    );
    assert!(ok, "{r}");
    for cl in [&mut c, &mut other] {
        let (name, ev) = event_parts(cl.event().unwrap());
        assert_eq!(name, "hello/news");
        assert_eq!(ev, json!({"jtype":"afb-event","event":"hello/news","data":[1,2]}));
    }
}

#[test]
fn libafbwsc_close_and_hang_up() {
    let d = D::start(&[]);
    // The library's close frame (88 02 03 e8): answered with 1000, then the
    // connection ends.
    let mut c = d.c_client("");
    reply_parts(c.call_sync("hello", "ping", None).unwrap());
    assert_eq!(c.close(1000).unwrap(), Some(1000));
    c.wait_eof().unwrap();
    // An empty close frame (88 00).
    let mut c = d.c_client("");
    c.send_raw(&[0x88, 0x00]).unwrap();
    assert!(matches!(c.wait_close(), Ok(None) | Ok(Some(1000) | Some(1005))));
    // A ping from the client, unmasked: answered by a pong; then the
    // client just goes away (as when the process exits).
    let mut c = d.c_client("");
    c.send_raw(&[0x89, 0x02, b'h', b'i']).unwrap();
    let (ok, _, _) = reply_parts(c.call_sync("hello", "ping", None).unwrap());
    assert!(ok);
    drop(c);
    // The daemon still serves.
    let mut c = d.c_client("");
    let (ok, _, _) = reply_parts(c.call_sync("hello", "ping", None).unwrap());
    assert!(ok);
}

#[test]
fn libafbwsc_reads_the_reply_of_a_token_renewal() {
    let d = D::start(&["--token", "SECRET"]);
    let mut c = d.c_client("x-afb-token=SECRET");
    let (ok, r, fourth) = reply_parts(c.call_sync("auth", "connect", None).unwrap());
    assert!(ok, "{r}");
    let token = r["request"]["token"].as_str().expect("request.token").to_owned();
    assert_eq!(fourth, Some(format!("\"{token}\"")), "the 4th item is the new token");
    // The library never sends a token with its calls: the connection's
    // token is the renewed one.
    let (ok, r, fourth) = reply_parts(c.call_sync("auth", "check", None).unwrap());
    assert!(ok, "{r}");
    assert_eq!(fourth, None);
}

/// A client doing what AGL's `AFB.js` does: the token goes in the upgrade
/// query (`x-afb-token`, then `x-afb-uuid` if known) and as the 5th item of
/// every call; ids are "1", "2", ...; on every message the 4th item, when
/// it is a non-empty string, becomes the token.
struct AfbJs {
    c: WsConn,
    counter: u32,
    token: Option<String>,
    /// Whether the 4th item is read (false: a client that never learns).
    learns: bool,
}

impl AfbJs {
    fn connect(d: &D, token: &str, learns: bool) -> AfbJs {
        let addr = d.d.addr();
        let c = WsConn::connect(
            addr,
            &addr.to_string(),
            &format!("/api?x-afb-token={token}"),
            Some("x-afb-ws-json1"),
        )
        .expect("WebSocket");
        c.set_timeout(T);
        AfbJs {
            c,
            counter: 0,
            token: Some(token.to_owned()),
            learns,
        }
    }

    /// `ws.call(method, request)`: resolves (Ok) on `[3]`, rejects (Err) on `[4]`.
    fn call(&mut self, method: &str, request: Value) -> Result<Value, Value> {
        self.counter = (self.counter + 1) & 4095;
        let id = self.counter.to_string();
        let mut arr = vec![json!(2), json!(id), json!(method), request];
        if let Some(t) = &self.token {
            arr.push(json!(t));
        }
        self.c.send_text(&Value::Array(arr).to_string()).expect("send");
        loop {
            let WsMsg::Text(t) = self.c.recv().expect("a message") else {
                continue;
            };
            let obj: Value = serde_json::from_str(&t).unwrap();
            // AFB_context.token = obj[3] (its setter ignores falsy values)
            if self.learns {
                if let Some(tok) = obj.get(3).and_then(Value::as_str).filter(|t| !t.is_empty()) {
                    self.token = Some(tok.to_owned());
                }
            }
            if obj[1] == json!(id) {
                return match obj[0].as_u64() {
                    Some(3) => Ok(obj[2].clone()),
                    Some(4) => Err(obj[2].clone()),
                    _ => panic!("{t}"),
                };
            }
        }
    }
}

#[test]
fn afb_js_learns_the_renewed_token_from_the_fourth_item() {
    let d = D::start(&["--token", "SECRET"]);
    let mut js = AfbJs::connect(&d, "SECRET", true);
    js.call("hello/checktok", json!(true)).expect("initial token accepted");
    let r = js.call("auth/connect", json!({})).expect("connect");
    let renewed = r["request"]["token"].as_str().unwrap().to_owned();
    assert_ne!(renewed, "SECRET");
    assert_eq!(js.token.as_deref(), Some(renewed.as_str()), "learned from the 4th item");
    // Its next calls carry the new token as 5th item, and succeed.
    let r = js.call("auth/check", json!(true)).expect("check with the new token");
    assert_eq!(r["response"], json!({"isvalid": true}));
    js.call("hello/checktok", json!(true)).expect("checktok");
    let r = js.call("auth/refresh", json!(true)).expect("refresh");
    let again = r["request"]["token"].as_str().unwrap().to_owned();
    assert_eq!(js.token.as_deref(), Some(again.as_str()));
    js.call("auth/check", json!(true)).expect("check after refresh");

    // A client that keeps sending the old token is refused, as before.
    let mut old = AfbJs::connect(&d, "SECRET", false);
    old.call("auth/connect", json!({})).expect("connect");
    let e = old.call("auth/check", json!(true)).expect_err("old token");
    assert_eq!(e["request"]["status"], "invalid-token");
}

/// What AGL's monitor page does with `monitor/get {apis:true,verbosity:true}`:
/// the common level under `""`, every other key (but `monitor`) must be an
/// API of the `apis` part.
fn monitor_page_reads(levels: &Value, apis: &Value) -> Result<Value, String> {
    let mut shown = serde_json::Map::new();
    for (name, level) in levels.as_object().ok_or("verbosity is not an object")? {
        if name == "monitor" {
            continue;
        }
        if !name.is_empty() && apis.get(name).is_none() {
            return Err(format!("apis[{name:?}] is undefined: TypeError"));
        }
        shown.insert(
            if name.is_empty() { "common".into() } else { name.clone() },
            level.clone(),
        );
    }
    Ok(Value::Object(shown))
}

#[test]
fn monitor_keys_as_agl_monitor_page_uses_them() {
    let d = D::start(&[]);
    let mut js = AfbJs::connect(&d, "HELLO", true);
    let r = js
        .call("monitor/get", json!({"apis": true, "verbosity": true}))
        .expect("monitor/get");
    let shown = monitor_page_reads(&r["response"]["verbosity"], &r["response"]["apis"]).unwrap();
    assert_eq!(shown["common"], "warning", "{shown}");
    assert_eq!(shown["hello"], "warning", "{shown}");
    // The page's menus: the common level, then every API at once.
    js.call("monitor/set", json!({"verbosity": {"": "info"}}))
        .expect("set the common level");
    let r = js.call("monitor/get", json!({"verbosity": true})).unwrap();
    assert_eq!(r["response"]["verbosity"][""], "info");
    assert_eq!(r["response"]["verbosity"]["hello"], "warning", "APIs unchanged");
    js.call("monitor/set", json!({"verbosity": {"hello": "error"}}))
        .unwrap();
    js.call("monitor/set", json!({"verbosity": "debug"}))
        .expect("set everything");
    let r = js.call("monitor/get", json!({"verbosity": true})).unwrap();
    let levels = r["response"]["verbosity"].as_object().unwrap();
    assert!(levels.len() > 3, "{levels:?}");
    assert!(levels.values().all(|l| l == "debug"), "{levels:?}");
    // "*" as a key is still accepted.
    js.call("monitor/set", json!({"verbosity": {"*": "notice"}})).unwrap();
    let r = js.call("monitor/get", json!({"verbosity": ["", "hello"]})).unwrap();
    assert_eq!(r["response"]["verbosity"], json!({"": "notice", "hello": "notice"}));
}
