//! Typed data between two v4 C bindings in two daemons linked by RPC v3
//! (unix, TCP and `ws+unix`): a `#bytearray` of the 256 byte values,
//! `#double` values JSON renders badly (0.1+0.2, -0.0, subnormals),
//! `#i64`/`#u64` beyond 2^53 and a binding's named type arrive bit-exact,
//! as call parameters, replies and broadcasts (`typed4.c` compares the bytes);
//! HTTP and x-afb-ws-json1 clients of the same verbs get the JSON rendering.

mod support;

use std::path::{Path, PathBuf};

use afb_testkit::{free_port, TempDir};
use serde_json::value::RawValue;
use serde_json::{json, Value};
use support::*;

/// Compiles `crates/cbinding/tests/c/<src>` into `<dir>/<out>.so`.
fn build(dir: &Path, src: &str, out: &str) -> PathBuf {
    afb_testkit::c_test_binding(dir, src, out, &[])
}

fn status(v: &Value) -> &str {
    v["request"]["status"].as_str().unwrap_or("")
}

/// The doubles of `typed4.c`'s list, in order.
fn doubles() -> [f64; 5] {
    [
        0.1 + 0.2,
        -0.0,
        f64::from_bits(1),
        f64::from_bits(0x000f_ffff_ffff_ffff),
        f64::MAX,
    ]
}

/// Checks the JSON rendering of `typed4.c`'s list, reading numbers from
/// their text (so that no JSON parser rounds them).
fn check_rendering(text: &str, what: &str) {
    let items: Vec<&RawValue> = serde_json::from_str(text).unwrap_or_else(|e| panic!("{what}: {e}: {text}"));
    assert_eq!(items.len(), 10, "{what}: {text}");
    let bytes: Vec<u8> = serde_json::from_str(items[0].get()).unwrap();
    assert_eq!(bytes, (0..=255u8).collect::<Vec<u8>>(), "{what}");
    for (k, d) in doubles().iter().enumerate() {
        let got: f64 = items[1 + k]
            .get()
            .parse()
            .unwrap_or_else(|e| panic!("{what}: {e}: {}", items[1 + k]));
        assert_eq!(got.to_bits(), d.to_bits(), "{what}: double {k}: {}", items[1 + k]);
    }
    assert_eq!(items[6].get(), "9007199254740993", "{what}");
    assert_eq!(items[7].get(), "18446744073709551615", "{what}");
    assert_eq!(items[8].get(), "-9007199254740993", "{what}");
    assert_eq!(items[9].get(), "null", "{what}: a named type has no JSON form");
}

/// The raw text of field `key` of a JSON object.
fn raw_field(body: &str, key: &str) -> String {
    let e: std::collections::BTreeMap<String, &RawValue> =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    e.get(key)
        .unwrap_or_else(|| panic!("no {key}: {body}"))
        .get()
        .to_owned()
}

/// The `response` of an HTTP reply, as its raw text.
fn raw_response(body: &str) -> String {
    raw_field(body, "response")
}

#[test]
fn typed_data_crosses_rpc_links_bit_exact() {
    let dir = TempDir::new("typed-back");
    let so = build(dir.path(), "typed4.c", "typed4");
    let unix = dir.path().join("typed");
    let ws = dir.path().join("ws");
    let tcp = free_port();
    let servers = [
        format!("unix:{}", unix.display()),
        format!("tcp:127.0.0.1:{tcp}/typed"),
        format!("ws+unix:{}?export=typed", ws.display()),
    ];
    let so_arg = so.display().to_string();
    let mut args: Vec<&str> = vec!["--binding", &so_arg];
    for s in &servers {
        args.extend(["--rpc-server", s.as_str()]);
    }
    let back = D::start_in(dir, &args, Some(&ws));
    let clients = [
        format!("unix:{}?import=t_unix@typed", unix.display()),
        format!("tcp:127.0.0.1:{tcp}/typed?import=t_tcp@typed"),
        format!("ws+unix:{}?import=t_ws@typed", ws.display()),
    ];
    let mut args: Vec<&str> = vec!["--binding", &so_arg];
    for c in &clients {
        args.extend(["--rpc-client", c.as_str()]);
    }
    let front = D::start(&args);
    for api in ["t_unix", "t_tcp", "t_ws"] {
        assert!(
            eventually(T, || status(&front.get(&format!("/api/{api}/gen")).json()) == "success"),
            "{api} not reached: {}",
            front.get(&format!("/api/{api}/gen")).text()
        );
    }
    // the back's own binding checks its local list (the test of the test)
    let r = back.get("/api/typed/run?api=typed").json();
    assert_eq!((status(&r), &r["response"]), ("success", &json!("ok")), "{r}");

    let mut wsc = front.ws();
    for (n, api) in ["t_unix", "t_tcp", "t_ws"].iter().enumerate() {
        // v4 to v4 through the link: parameters and replies bit-exact
        let r = front.get(&format!("/api/typed/run?api={api}")).json();
        assert_eq!((status(&r), &r["response"]), ("success", &json!("ok")), "{api}: {r}");
        let r = wsc.call(&format!("r{n}"), "typed/run", &format!(r#"{{"api":"{api}"}}"#));
        assert_eq!(
            (ws_status(&r), &r[2]["response"]),
            ("success", &json!("ok")),
            "{api}: {r}"
        );
        // JSON clients of the same verb: the JSON rendering
        let body = front.get(&format!("/api/{api}/gen")).text();
        check_rendering(&raw_response(&body), &format!("HTTP {api}/gen"));
        wsc.send(&format!(r#"[2,"g{n}","{api}/gen",null]"#));
        let text = loop {
            let t = wsc.recv_text();
            if t.starts_with(&format!(r#"[3,"g{n}""#)) {
                break t;
            }
            assert!(!t.starts_with("[4"), "{t}");
        };
        let reply: Vec<&RawValue> = serde_json::from_str(&text).unwrap();
        check_rendering(&raw_response(reply[2].get()), &format!("wsj1 {api}/gen"));
        // a JSON call of the typed check is answered with the difference (one JSON value)
        let r = front.get(&format!("/api/{api}/check")).json();
        assert_ne!(status(&r), "success", "{api}: {r}");
        assert!(
            r.to_string().contains("values instead of 10"),
            "{api}: the back saw one JSON value: {r}"
        );
    }
    // a typed broadcast of the back's binding reaches the front's binding typed, and the
    // front's wsj1 client as JSON
    let r = back.get("/api/typed/bcast").json();
    assert_eq!(status(&r), "success", "{r}");
    let seen = || front.get("/api/typed/seen").json()["response"].clone();
    assert!(eventually(T, || seen() == json!("ok")), "front binding saw: {}", seen());
    let event = loop {
        let t = wsc.recv_text();
        if t.starts_with(r#"[5,"typed/tbc""#) {
            break t;
        }
    };
    let parts: Vec<&RawValue> = serde_json::from_str(&event).unwrap();
    check_rendering(&raw_field(parts[2].get(), "data"), "wsj1 broadcast");
}
