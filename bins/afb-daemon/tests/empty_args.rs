//! A request without arguments reaches the verb as the empty object `{}`
//! (both C binders do so; a binding checking for an object must not get
//! `null`): HTTP `GET` without query or with `?` alone, `POST` with an empty
//! form (urlencoded, chunked, multipart) or an empty JSON body; for SDK
//! verbs and for C bindings of ABIs v1 to v4. Over x-afb-ws-json1 and wsapi
//! the value the client sends is passed as sent (`null` stays `null`).

mod support;

use std::path::{Path, PathBuf};

use afb_testkit::cws::{CClient, CMsg};
use afb_testkit::TempDir;
use serde_json::{json, Value};
use support::http_client::{multipart, Req};
use support::{wire, WsapiPeer, D, T};

/// The ways of sending no arguments over HTTP, each on a new connection:
/// (what, the verb's `response` and `request.info`).
fn no_args_over_http(d: &D, api_verb: &str) -> Vec<(String, Value)> {
    let target = format!("/api/{api_verb}");
    let q = format!("{target}?");
    let (mp_type, mp_body) = multipart(&[], &[]);
    let reqs: Vec<(&str, Req<'_>)> = vec![
        ("GET", Req::get(&target)),
        ("GET with ? alone", Req::get(&q)),
        (
            "POST without body",
            Req::post(&target, "application/x-www-form-urlencoded", ""),
        ),
        ("POST empty JSON body", Req::post(&target, "application/json", "  ")),
        ("POST empty multipart form", Req::post(&target, &mp_type, mp_body)),
    ];
    let mut out = Vec::new();
    for (what, req) in reqs {
        let r = d.conn().request(&req);
        assert_eq!(r.status, 200, "{what}: {}", r.text());
        out.push((what.to_owned(), r.json()));
    }
    // An empty urlencoded form sent chunked (a body that has no bytes).
    let mut c = d.conn();
    let raw = format!(
        "POST {target} HTTP/1.1\r\nhost: {}\r\ncontent-type: application/x-www-form-urlencoded\r\n\
         transfer-encoding: chunked\r\n\r\n0\r\n\r\n",
        c.host
    );
    c.write_raw(raw.as_bytes()).unwrap();
    let r = c.read_response(false).unwrap();
    assert_eq!(r.status, 200, "chunked empty form: {}", r.text());
    out.push(("POST chunked empty form".into(), r.json()));
    out
}

#[test]
fn sdk_verbs_get_an_empty_object_over_http() {
    let d = D::start(&[]);
    for (what, r) in no_args_over_http(&d, "hello/ping") {
        let info = r["request"]["info"].as_str().unwrap_or_default();
        assert!(info.ends_with("query={ }"), "{what}: {r}");
    }
    // Arguments given are kept: the query, a JSON body, a JSON null.
    let r = d.get("/api/hello/ping?a=1").json();
    assert!(
        r["request"]["info"]
            .as_str()
            .unwrap()
            .ends_with(r#"query={ "a": "1" }"#),
        "{r}"
    );
    let r = d
        .conn()
        .request(&Req::post("/api/hello/ping", "application/json", "null"))
        .json();
    assert!(r["request"]["info"].as_str().unwrap().ends_with("query=null"), "{r}");
    // An empty JSON body with a query: the query.
    let r = d
        .conn()
        .request(&Req::post("/api/hello/ping?b=2", "application/json", ""))
        .json();
    assert!(
        r["request"]["info"]
            .as_str()
            .unwrap()
            .ends_with(r#"query={ "b": "2" }"#),
        "{r}"
    );
    // The session context stored without arguments is {} too.
    let mut c = d.conn();
    let cookie = c.get("/api/hello/setctx").header("set-cookie").unwrap().to_owned();
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let r = c
        .request(&Req::get("/api/hello/getctx").header("cookie", cookie))
        .json();
    assert_eq!(r["response"], json!({}), "{r}");
}

#[test]
fn json_websocket_passes_the_value_as_sent() {
    let d = D::start(&[]);
    let mut w = d.ws();
    let info = |r: &Value| r[2]["request"]["info"].as_str().unwrap_or_default().to_owned();
    assert!(info(&w.call_ok("1", "hello/ping", "null")).ends_with("query=null"));
    assert!(info(&w.call_ok("2", "hello/ping", "{}")).ends_with("query={ }"));
    // The C client library writes `null` when it has no object.
    let mut c = CClient::connect(d.d.addr(), "/api").unwrap();
    match c.call_sync("hello", "ping", None).unwrap() {
        CMsg::Reply { ok: true, object, .. } => assert!(object.contains("query=null"), "{object}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn wsapi_passes_the_value_as_sent_and_http_gives_the_empty_object_to_the_back() {
    let dir = TempDir::new("emptyargs-back");
    let sock = dir.path().join("hello");
    let uri = format!("unix:{}", sock.display());
    let back = D::start_opts(&["--ws-server", &uri], Some(&sock));
    let mut p = WsapiPeer::connect(&sock).unwrap();
    p.hello();
    for (id, args, want) in [(1, "null", "query=null"), (2, "{}", "query={ }")] {
        p.send(&wire::call(id, "ping", 0, 0, args)).unwrap();
        let m = String::from_utf8_lossy(&p.msg()).into_owned();
        assert!(m.contains(want), "{args}: {m:?}");
    }
    // A front binder importing the API: HTTP without arguments gives {}
    // to the back's verb.
    let front = D::start(&["--ws-client", &uri]);
    let r = front.get("/api/hello/ping").json();
    assert!(
        r["request"]["info"].as_str().unwrap_or_default().ends_with("query={ }"),
        "{r}"
    );
    drop(back);
}

/// Compiles `crates/cbinding/tests/c/<src>` into `<dir>/<src>.so`.
fn build(dir: &Path, src: &str) -> PathBuf {
    afb_testkit::c_test_binding(dir, src, src.trim_end_matches(".c"), &[])
}

#[test]
fn c_bindings_of_every_abi_get_an_empty_object_over_http() {
    let dir = TempDir::new("emptyargs-c");
    let mut args: Vec<String> = Vec::new();
    for src in ["hello1.c", "hello2.c", "hello3.c", "hello4.c"] {
        args.push("--binding".into());
        args.push(build(dir.path(), src).display().to_string());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let d = D::start(&args);

    // v3: afb_req_json() is {}, which json-c prints "{ }".
    for (what, r) in no_args_over_http(&d, "hello3/echo") {
        assert_eq!(r["response"], json!({}), "v3 echo, {what}: {r}");
    }
    for (what, r) in no_args_over_http(&d, "hello3/ping") {
        let info = r["request"]["info"].as_str().unwrap_or_default();
        assert!(info.ends_with("query={ }"), "v3 ping, {what}: {r}");
    }
    // v4: the parameter is the JSON {}.
    for (what, r) in no_args_over_http(&d, "hello4/echo") {
        assert_eq!(r["response"], json!({}), "v4 echo, {what}: {r}");
    }
    // v1 and v2: `push` sends the request's JSON as the event's data, seen
    // by a subscribed (libafbwsc-like) WebSocket client.
    let mut c = CClient::connect(d.d.addr(), "/api").unwrap();
    c.set_timeout(T);
    for api in ["hello1", "hello2"] {
        match c.call_sync(api, "subscribe", None).unwrap() {
            CMsg::Reply { ok: true, .. } => {}
            other => panic!("{api}/subscribe: {other:?}"),
        }
        let r = d.get(&format!("/api/{api}/push"));
        assert_eq!(r.status, 200, "{}", r.text());
        match c.event().unwrap() {
            CMsg::Event { name, object } => {
                assert_eq!(name, format!("{api}/ev"));
                let ev: Value = serde_json::from_str(&object).unwrap();
                assert_eq!(ev["data"], json!({}), "{api}: {ev}");
            }
            other => panic!("{other:?}"),
        }
    }
    // Over the JSON WebSocket, null stays null for a C binding too.
    let mut w = d.ws();
    assert_eq!(w.call_ok("1", "hello4/echo", "null")[2]["response"], Value::Null);
    assert_eq!(w.call_ok("2", "hello3/echo", "null")[2]["response"], Value::Null);
}
