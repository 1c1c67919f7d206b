//! Resource limits of the real daemon, each set by an option (and the
//! config-file key of the same name) and checked at a small value: what
//! happens at the limit, and that the daemon keeps serving. Also the
//! fault containment of linked binders: a stuck remote binder cannot hold
//! local clients longer than the wsapi call timeout.
//!
//! Covered elsewhere: `--ws-maxlen` (`ws.rs`, and `defects.rs` row 9),
//! `--session-max` (`rest.rs`, `defects.rs` row 6), `--ws-send-queue`
//! (`defects.rs` row 10), `--http-max-body` at 413 (`rest.rs`).

mod support;

use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::http_client::{multipart, Req};
use support::*;

fn nested(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

#[test]
fn limit_http_body_upload_header_and_url_sizes() {
    let d = D::start(&[
        "--http-max-body",
        "1000",
        "--http-max-upload",
        "4000",
        "--http-max-header",
        "8192",
        "--http-max-url",
        "200",
    ]);
    let mut c = d.conn();
    let body = |n: usize| format!("\"{}\"", "x".repeat(n - 2));
    assert_eq!(c.request(&json_post("/api/hello/ping", &body(1000))).status, 200);
    assert_eq!(d.conn().request(&json_post("/api/hello/ping", &body(1001))).status, 413);
    let (ct, small) = multipart(&[], &[("f", "a.bin", &[1u8; 3000])]);
    assert_eq!(c.request(&Req::post("/api/hello/ping", &ct, small)).status, 200);
    let (ct, big) = multipart(&[], &[("f", "a.bin", &[1u8; 4000])]);
    assert_eq!(d.conn().request(&Req::post("/api/hello/ping", &ct, big)).status, 413);
    let (ct, field) = multipart(&[("t", &"x".repeat(1001))], &[]);
    assert_eq!(
        d.conn().request(&Req::post("/api/hello/ping", &ct, field)).status,
        413,
        "text field over --http-max-body"
    );
    let r = d
        .conn()
        .request(&Req::get("/api/hello/ping").header("x-big", "h".repeat(9000)));
    assert_eq!(r.status, 431);
    let url = |n: usize| format!("/api/hello/ping?x={}", "a".repeat(n - 18));
    assert_eq!(c.get(&url(200)).status, 200);
    assert_eq!(d.get(&url(201)).status, 414);
    assert_eq!(c.get("/api/hello/ping").status, 200, "still serving");
}

#[test]
fn limit_json_depth_over_http_websocket_and_wsapi() {
    let (d, sock) = back(&["--json-max-depth", "8"]);
    let mut c = d.conn();
    let r = c.request(&json_post("/api/hello/ping", &nested(8)));
    assert_eq!(r.status, 200, "{}", r.text());
    let r = c.request(&json_post("/api/hello/ping", &nested(9)));
    assert_eq!((r.status, r.afb_status().as_str()), (400, "invalid-request"));
    assert!(r.json()["request"]["info"].as_str().unwrap().contains("8 levels"));
    let mut w = d.ws();
    w.call_ok("ok", "hello/ping", &nested(8));
    let r = w.call("deep", "hello/ping", &format!("{{\"a\":{}}}", nested(8)));
    assert_eq!((r[0].as_u64(), ws_status(&r)), (Some(4), "invalid-request"), "{r}");
    let mut p = WsapiPeer::connect(&sock).unwrap();
    p.hello();
    p.send(&wire::call(1, "ping", 0, 0, &nested(9))).unwrap();
    let m = p.msg();
    assert_eq!(&m[..3], &[b'k', 1, 0]);
    assert!(String::from_utf8_lossy(&m).contains("invalid-request"), "{m:?}");
    w.call_ok("after", "hello/ping", "null");
}

#[test]
fn limit_json_depth_default_is_64_and_huge_nesting_is_harmless() {
    let d = D::start(&[]);
    let mut c = d.conn();
    assert_eq!(c.request(&json_post("/api/hello/ping", &nested(64))).status, 200);
    assert_eq!(c.request(&json_post("/api/hello/ping", &nested(65))).status, 400);
    // 500 000 levels in one WebSocket message and in one HTTP body.
    let mut w = d.ws();
    let r = w.call("huge", "hello/ping", &nested(500_000));
    assert_eq!(
        ws_status(&r),
        "invalid-request",
        "{}",
        &r.to_string()[..200.min(r.to_string().len())]
    );
    assert_eq!(c.request(&json_post("/api/hello/ping", &nested(500_000))).status, 400);
    w.call_ok("after", "hello/ping", "null");
}

#[test]
fn limit_ws_calls_in_flight() {
    let d = D::start(&["--ws-max-inflight", "2", "--apitimeout", "2"]);
    let mut w = d.ws();
    w.send(r#"[2,"w1","tictactoe/wait",null]"#);
    w.send(r#"[2,"w2","tictactoe/wait",null]"#);
    let r = w.call("p", "hello/ping", "null");
    assert_eq!(ws_status(&r), "not-available", "{r}");
    assert!(r[2]["request"]["info"].as_str().unwrap().contains("(2)"), "{r}");
    let mut other = d.ws();
    other.call_ok("o", "hello/ping", "null");
    let mut ends: Vec<(String, String)> = (0..2)
        .map(|_| {
            let m = w.recv();
            (m[1].as_str().unwrap().to_owned(), ws_status(&m).to_owned())
        })
        .collect();
    ends.sort();
    assert_eq!(ends, [("w1".into(), "timeout".into()), ("w2".into(), "timeout".into())]);
    w.call_ok("p2", "hello/ping", "null");
}

#[test]
fn limit_jobs_max() {
    let d = D::start(&["-j", "2", "--apitimeout", "3"]);
    let waits: Vec<_> = (0..2)
        .map(|_| {
            let mut c = d.conn();
            c.send(&Req::get("/api/tictactoe/wait"));
            c
        })
        .collect();
    thread::sleep(Duration::from_millis(300));
    let t = Instant::now();
    let r = d.get("/api/hello/ping");
    assert_eq!((r.status, r.afb_status().as_str()), (501, "not-available"));
    assert!(t.elapsed() < Duration::from_secs(5), "refused at once, not queued");
    for mut c in waits {
        assert_eq!(c.read_response(false).unwrap().afb_status(), "timeout");
    }
    assert_eq!(d.get("/api/hello/ping").status, 200);
}

#[test]
fn limit_events_per_api() {
    let d = D::start(&["--events-max", "2"]);
    let mut w = d.ws();
    w.call_ok("1", "hello/eventadd", r#"{"tag":"a","name":"a"}"#);
    w.call_ok("2", "hello/eventadd", r#"{"tag":"b","name":"b"}"#);
    let r = w.call("3", "hello/eventadd", r#"{"tag":"c","name":"c"}"#);
    assert_eq!(r[0], 4, "{r}");
    assert!(
        r[2]["request"]["info"].as_str().unwrap().contains("too many events"),
        "{r}"
    );
    w.call_ok("4", "hello/eventdel", r#"{"tag":"a"}"#);
    w.call_ok("5", "hello/eventadd", r#"{"tag":"c","name":"c"}"#);
}

#[test]
fn limit_subscriptions_per_websocket_and_per_wsapi_link() {
    let (d, sock) = back(&["--subscriptions-max", "2"]);
    let mut w = d.ws();
    for t in ["a", "b", "c"] {
        w.call_ok(t, "hello/eventadd", &json!({"tag": t, "name": t}).to_string());
    }
    w.call_ok("s1", "hello/eventsub", r#"{"tag":"a"}"#);
    w.call_ok("s2", "hello/eventsub", r#"{"tag":"b"}"#);
    let r = w.call("s3", "hello/eventsub", r#"{"tag":"c"}"#);
    assert_eq!(r[0], 4, "{r}");
    assert!(
        r[2]["request"]["info"]
            .as_str()
            .unwrap()
            .contains("too many subscriptions"),
        "{r}"
    );
    w.call_ok("u1", "hello/eventunsub", r#"{"tag":"a"}"#);
    w.call_ok("s4", "hello/eventsub", r#"{"tag":"c"}"#);

    // A wsapi link relays at most 2 distinct events.
    let mut p = WsapiPeer::connect(&sock).unwrap();
    p.hello();
    let mut replies = Vec::new();
    for (i, t) in ["a", "b", "c"].iter().enumerate() {
        let callid = 10 + i as u16;
        p.send(&wire::call(callid, "eventsub", 0, 0, &json!({"tag": t}).to_string()))
            .unwrap();
        loop {
            let m = p.msg();
            if m[0] == b'k' {
                replies.push(m);
                break;
            }
        }
    }
    let failed: Vec<bool> = replies.iter().map(|m| m[3..7] != [0, 0, 0, 0]).collect();
    assert_eq!(failed, vec![false, false, true], "third subscription refused");
}

#[test]
fn limit_wsapi_calls_in_flight() {
    let (d, sock) = back(&["--wsapi-max-inflight", "2", "--apitimeout", "2"]);
    let mut p = WsapiPeer::connect(&sock).unwrap();
    p.hello();
    let wait = r#"{"api":"tictactoe","verb":"wait"}"#;
    p.send(&wire::call(1, "call", 0, 0, wait)).unwrap();
    p.send(&wire::call(2, "call", 0, 0, wait)).unwrap();
    p.send(&wire::call(3, "ping", 0, 0, "null")).unwrap();
    let t = Instant::now();
    let m = p.msg();
    assert_eq!(&m[..3], &[b'k', 3, 0], "{m:?}");
    assert!(String::from_utf8_lossy(&m).contains("not-available"), "{m:?}");
    assert!(t.elapsed() < Duration::from_secs(5), "refused at once, not queued");
    let mut ids: Vec<u8> = (0..2).map(|_| p.msg()[1]).collect();
    ids.sort();
    assert_eq!(ids, vec![1, 2], "the running calls end (timeout) and the link stays");
    p.send(&wire::call(4, "ping", 0, 0, "null")).unwrap();
    assert_eq!(&p.msg()[..7], &[b'k', 4, 0, 0, 0, 0, 0]);
    drop(d);
}

#[test]
fn limit_wsapi_send_queue_drops_a_peer_that_does_not_read() {
    let _h = heavy();
    let (d, sock) = back(&["--wsapi-send-queue", "65536"]);
    let mut w = d.ws();
    w.call_ok("1", "hello/eventadd", r#"{"tag":"f","name":"f"}"#);
    let mut p = WsapiPeer::connect(&sock).unwrap();
    p.hello();
    p.send(&wire::call(1, "eventsub", 0, 0, r#"{"tag":"f"}"#)).unwrap();
    while p.msg()[0] != b'k' {}
    // The peer stops reading; 200 pushes of 32 KiB follow.
    let data = "z".repeat(32 * 1024);
    let mut worst = Duration::ZERO;
    for i in 0..200 {
        let t = Instant::now();
        w.call_ok(
            &format!("p{i}"),
            "hello/eventpush",
            &format!(r#"{{"tag":"f","data":"{data}"}}"#),
        );
        worst = worst.max(t.elapsed());
    }
    assert!(worst < Duration::from_secs(5), "pushing waited for the peer: {worst:?}");
    let log = d.d.wait_log(T, |l| l.contains("does not read its messages"));
    assert!(log.contains("does not read its messages"), "{log}");
    let mut got = 0;
    while let WsapiIn::Msg(_) = p.recv() {
        got += 1;
    }
    assert!(got < 200, "the link was closed ({got} messages of 200)");
}

#[test]
fn limits_are_config_file_keys_and_bad_values_are_refused() {
    let dir = afb_testkit::TempDir::new("limits-cfg");
    let cfg = dir.path().join("limits.json");
    let conf = json!({
        "json-max-depth": 9, "ws-max-inflight": 3, "ws-send-queue": 5, "subscriptions-max": 6,
        "events-max": 7, "wsapi-max-inflight": 8, "wsapi-send-queue": 100000, "wsapi-timeout": 4,
        "wsapi-allow": [0, 12], "ws-server-mode": "0660", "allowed-origin": ["http://a.example"],
        "http-max-body": 11, "http-max-upload": 12, "http-max-header": 9000, "http-max-url": 13,
        "session-max": 14, "jobs-max": 15, "ws-maxlen": 16, "apitimeout": 17, "shutdown-grace": 1.5
    });
    std::fs::write(&cfg, conf.to_string()).unwrap();
    let out = std::process::Command::new(afb_testkit::bin_path("afb-daemon"))
        .args(["--config", cfg.to_str().unwrap(), "--dump-config"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let dumped: Value = serde_json::from_slice(&out.stdout).unwrap();
    for (k, v) in conf.as_object().unwrap() {
        assert_eq!(&dumped[k], v, "{k}");
    }
    for bad in [
        json!({"json-max-depth": 0}),
        json!({"json-max-depth": 200}),
        json!({"wsapi-max-inflight": 5000}),
        json!({"ws-server-mode": "rwx"}),
        json!({"wsapi-allow": "me"}),
        json!({"ws-send-queue": 0}),
    ] {
        std::fs::write(&cfg, bad.to_string()).unwrap();
        let out = std::process::Command::new(afb_testkit::bin_path("afb-daemon"))
            .args(["--config", cfg.to_str().unwrap(), "--dump-config"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad} accepted");
    }
}

// ---- fault containment of linked binders ---------------------------------------

/// A back binder stopped dead (SIGSTOP) with its link open: clients of the
/// front get `timeout` after `--wsapi-timeout` (1 s), each of them, and the
/// front keeps serving its other APIs; once the back runs again, calls go
/// through again.
#[test]
fn fault_a_stuck_remote_binder_cannot_hold_local_clients() {
    let _h = heavy();
    let (b, sock) = back(&[]);
    let f = front(&sock, &["--wsapi-timeout", "1"]);
    let mut w = f.ws();
    w.call_ok("1", "hello/ping", "null");
    b.d.signal("STOP");
    let t = Instant::now();
    let r = w.call("2", "hello/ping", "null");
    let e = t.elapsed();
    assert_eq!(ws_status(&r), "timeout", "{r}");
    assert!(e >= Duration::from_millis(900) && e < Duration::from_secs(10), "{e:?}");
    let t = Instant::now();
    let r = f.get("/api/hello/ping");
    assert_eq!((r.status, r.afb_status().as_str()), (504, "timeout"));
    assert!(t.elapsed() < Duration::from_secs(10));
    let r = w.call("3", "monitor/get", r#"{"apis":true}"#);
    assert_eq!(r[0], 3, "the front's own APIs answer at once: {r}");
    b.d.signal("CONT");
    assert!(
        eventually(T, || f.get("/api/hello/ping").status == 200),
        "calls go through once the back runs again"
    );
}

/// Without `--wsapi-timeout`, the front's `--apitimeout` bounds the wait.
#[test]
fn fault_a_stuck_remote_binder_is_bounded_by_the_api_timeout() {
    let _h = heavy();
    let (b, sock) = back(&[]);
    let f = front(&sock, &["--apitimeout", "1"]);
    assert_eq!(f.get("/api/hello/ping").status, 200);
    b.d.signal("STOP");
    let t = Instant::now();
    let r = f.get("/api/hello/ping");
    assert_eq!(r.afb_status(), "timeout");
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    b.d.signal("CONT");
}
