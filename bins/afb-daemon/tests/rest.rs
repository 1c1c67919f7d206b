//! REST calls against the real daemon (`afb-daemon` on a free loopback
//! port) with a real HTTP/1.1 client: status table, argument shapes,
//! sessions and cookies, tokens, LOA, uploads, limits, keep-alive, session
//! exhaustion, IPv6 and unix-socket listeners, WebSocket upgrade routing.

#[path = "../../../crates/http/tests/http_client/mod.rs"]
mod http_client;

use std::time::{Duration, Instant};

use afb_testkit::{free_port, Daemon, TempDir};
use http_client::{multipart, Conn, Req, Resp};
use serde_json::{json, Value};

/// A daemon working in its own temporary directory.
struct D {
    d: Daemon,
    _dir: TempDir,
}

impl D {
    fn start(args: &[&str]) -> D {
        let dir = TempDir::new("rest");
        let wd = dir.path().to_str().unwrap().to_owned();
        let mut all = vec!["--workdir", wd.as_str()];
        all.extend_from_slice(args);
        D {
            d: Daemon::start(&all),
            _dir: dir,
        }
    }

    fn conn(&self) -> Conn {
        Conn::tcp(self.d.addr())
    }

    fn get(&self, target: &str) -> Resp {
        self.conn().get(target)
    }
}

fn json_post<'a>(target: &'a str, body: &str) -> Req<'a> {
    Req::post(target, "application/json", body.as_bytes().to_vec())
}

fn cookie_header(r: &Resp, port: u16) -> String {
    format!("x-afb-uuid-{port}={}", r.cookie_uuid().expect("a session cookie"))
}

#[test]
fn status_rows_reachable_with_the_sample_apis_map_to_their_http_status() {
    let d = D::start(&["--token", "SECRET", "--apitimeout", "1"]);
    let mut c = d.conn();
    let cases: &[(&str, u16, &str, Option<&str>)] = &[
        ("/api/hello/ping", 200, "success", None),
        ("/api/hello/pingfail", 200, "failed", None),
        ("/api/nosuchapi/ping", 404, "unknown-api", None),
        ("/api/hello/nosuchverb", 404, "unknown-verb", None),
        (
            "/api/hello/checktok",
            401,
            "invalid-token",
            Some("error=\"invalid_token\""),
        ),
        (
            "/api/hello/has-loa-1?token=SECRET",
            403,
            "insufficient-scope",
            Some("error=\"insufficient_scope\""),
        ),
        ("/api/monitor/trace", 501, "not-available", None),
        ("/api/hello/set-loa?x=1", 400, "invalid-request", None),
        ("/api/tictactoe/wait", 504, "timeout", None),
    ];
    for (target, code, status, challenge) in cases {
        let r = c.get(target);
        assert_eq!(r.status, *code, "{target}: {}", r.text());
        assert_eq!(r.afb_status(), *status, "{target}");
        assert_eq!(r.header("www-authenticate"), *challenge, "{target}");
        assert_eq!(r.header("content-type"), Some("application/json"), "{target}");
        assert!(
            r.header("set-cookie").is_some(),
            "{target}: every API reply sets the cookie"
        );
    }
    // API and verb lookups are case-insensitive; repeated slashes are skipped.
    assert_eq!(c.get("/api//HELLO///PING").status, 200);
}

#[test]
fn envelope_shape_and_keep_alive_over_one_connection() {
    let d = D::start(&[]);
    let mut c = d.conn();
    for i in 1..=5 {
        let r = c.get("/api/hello/ping");
        assert_eq!(r.status, 200);
        assert_ne!(r.header("connection"), Some("close"));
        let v = r.json();
        assert_eq!(v["jtype"], "afb-reply");
        assert_eq!(v["request"]["status"], "success");
        assert_eq!(v["request"]["code"], 0);
        assert_eq!(v["response"], "Some String");
        assert!(v["request"]["info"].as_str().unwrap().contains(&format!("count={i}")));
    }
    // The same TCP connection answered all five: it is still usable.
    assert_eq!(c.get("/api/hello/pingnull").json().get("response"), None);
}

#[test]
fn arguments_query_json_urlencoded_multipart_and_query_fallback() {
    let d = D::start(&[]);
    let mut c = d.conn();
    // Query: object of strings, last repeated key wins, bare key is null.
    let r = c.get("/api/hello/setctx?a=1&a=2&flag&n=%7B%7D&s=x+y");
    assert_eq!(r.json()["response"], json!({"a":"2","flag":null,"n":"{}","s":"x y"}));
    // JSON body: any JSON value.
    for body in [r#"{"k":[1,2,{"z":null}]}"#, "[1,2]", "\"text\"", "42"] {
        let r = c.request(&json_post("/api/hello/setctx", body));
        assert_eq!(r.status, 200, "{body}");
        assert_eq!(
            r.json()["response"],
            serde_json::from_str::<Value>(body).unwrap(),
            "{body}"
        );
    }
    // urlencoded body.
    let r = c.request(&Req::post(
        "/api/hello/setctx",
        "application/x-www-form-urlencoded",
        "a=1&b=x+y&c=%26",
    ));
    assert_eq!(r.json()["response"], json!({"a":"1","b":"x y","c":"&"}));
    // Multipart text fields arrive as strings.
    let (ct, body) = multipart(&[("t1", "one"), ("t2", "two")], &[]);
    let r = c.request(&Req::post("/api/hello/setctx", &ct, body));
    assert_eq!(r.json()["response"], json!({"t1":"one","t2":"two"}));
    // Body and query: the body is the argument, the query the by-name
    // fallback (subcall reads api, verb, args by name).
    let r = c.request(&json_post(
        "/api/hello/subcall?verb=setctx&api=ignored",
        r#"{"api":"hello","args":{"k":1}}"#,
    ));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["response"], json!({"k":1}));
}

#[test]
fn reqid_is_echoed_from_argument_or_header() {
    let d = D::start(&[]);
    let mut c = d.conn();
    assert_eq!(c.get("/api/hello/ping?reqid=r1").json()["request"]["reqid"], "r1");
    assert_eq!(c.get("/api/hello/ping?x-afb-reqid=r2").json()["request"]["reqid"], "r2");
    let r = c.request(&Req::get("/api/hello/ping").header("x-afb-reqid", "r3"));
    assert_eq!(r.json()["request"]["reqid"], "r3");
    let r = c.request(&json_post("/api/hello/ping", r#"{"reqid":"r4"}"#));
    assert_eq!(r.json()["request"]["reqid"], "r4");
    assert!(c.get("/api/hello/ping").json()["request"].get("reqid").is_none());
}

#[test]
fn cookie_keeps_the_session_and_uuid_is_sent_only_on_creation() {
    let d = D::start(&[]);
    let port = d.d.port;
    let mut c = d.conn();
    let first = c.get("/api/hello/setctx?value=kept");
    let uuid = first.json()["request"]["uuid"]
        .as_str()
        .expect("uuid on creation")
        .to_owned();
    assert_eq!(first.cookie_uuid().as_deref(), Some(uuid.as_str()));
    let set_cookie = first.header("set-cookie").unwrap();
    assert!(
        set_cookie.starts_with(&format!("x-afb-uuid-{port}={uuid}")),
        "{set_cookie}"
    );
    for attr in ["Path=/", "Max-Age=32000000", "HttpOnly", "SameSite=Lax"] {
        assert!(set_cookie.contains(attr), "{set_cookie} lacks {attr}");
    }
    let cookie = cookie_header(&first, port);
    let again = c.request(&Req::get("/api/hello/getctx").header("cookie", cookie.clone()));
    assert_eq!(again.json()["response"], json!({"value":"kept"}));
    assert!(
        again.json()["request"].get("uuid").is_none(),
        "no uuid when the session exists"
    );
    assert_eq!(again.cookie_uuid().as_deref(), Some(uuid.as_str()));
    // The uuid also works as a header or an argument.
    let r = c.request(&Req::get("/api/hello/getctx").header("x-afb-uuid", uuid.clone()));
    assert_eq!(r.json()["response"], json!({"value":"kept"}));
    let r = c.get(&format!("/api/hello/getctx?uuid={uuid}"));
    assert_eq!(r.json()["response"], json!({"value":"kept"}));
    // Without it: a new session without the context.
    let fresh = c.get("/api/hello/getctx");
    assert!(fresh.json().get("response").is_none());
    assert_ne!(fresh.cookie_uuid().as_deref(), Some(uuid.as_str()));
}

#[test]
fn unknown_uuid_gets_a_new_server_generated_session() {
    let d = D::start(&[]);
    let chosen = "00000000-0000-4000-8000-000000000001";
    let r = d
        .conn()
        .request(&Req::get("/api/hello/info").header("x-afb-uuid", chosen));
    let uuid = r.json()["request"]["uuid"].as_str().unwrap().to_owned();
    assert_ne!(uuid, chosen, "a client never chooses its session id");
    assert_eq!(r.json()["response"]["uuid"], uuid.as_str());
}

#[test]
fn token_check_and_renewal_over_http() {
    let d = D::start(&["--token", "SECRET"]);
    let port = d.d.port;
    let mut c = d.conn();
    assert_eq!(c.get("/api/hello/checktok").status, 401);
    let ok = c.request(&Req::get("/api/hello/checktok").header("authorization", "Bearer SECRET"));
    assert_eq!(ok.status, 200, "{}", ok.text());
    let cookie = cookie_header(&ok, port);
    // Other token inputs.
    assert_eq!(c.get("/api/hello/checktok?access_token=SECRET").status, 200);
    assert_eq!(c.get("/api/hello/checktok?token=SECRET").status, 200);
    let r = c.request(&Req::get("/api/hello/checktok").header("x-afb-token", "SECRET"));
    assert_eq!(r.status, 200);
    assert_eq!(c.get("/api/hello/checktok?token=SECRE").status, 401, "no prefix match");
    // Renew: the reply carries the new token; the old one stops working.
    let renewed = c.request(
        &Req::get("/api/hello/reftok")
            .header("authorization", "Bearer SECRET")
            .header("cookie", cookie.clone()),
    );
    assert_eq!(renewed.status, 200, "{}", renewed.text());
    let new_token = renewed.json()["request"]["token"]
        .as_str()
        .expect("renewed token")
        .to_owned();
    assert_ne!(new_token, "SECRET");
    let r = c.request(
        &Req::get("/api/hello/checktok")
            .header("authorization", format!("Bearer {new_token}"))
            .header("cookie", cookie.clone()),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.json()["request"].get("token").is_none(), "token only when renewed");
    let r = c.request(
        &Req::get("/api/hello/checktok")
            .header("authorization", "Bearer SECRET")
            .header("cookie", cookie),
    );
    assert_eq!(r.status, 401);
    assert_eq!(r.header("www-authenticate"), Some("error=\"invalid_token\""));
}

#[test]
fn loa_is_kept_between_requests_of_a_session() {
    let d = D::start(&[]);
    let port = d.d.port;
    let mut c = d.conn();
    let set = c.request(&json_post("/api/hello/set-loa", "1"));
    assert_eq!(set.status, 200, "{}", set.text());
    assert_eq!(set.json()["request"]["info"], "LOA set to 1");
    let cookie = cookie_header(&set, port);
    let r = c.request(&Req::get("/api/hello/has-loa-1").header("cookie", cookie.clone()));
    assert_eq!(r.status, 200, "{}", r.text());
    let r = c.request(&Req::get("/api/hello/has-loa-2").header("cookie", cookie));
    assert_eq!(r.status, 403);
    assert_eq!(r.header("www-authenticate"), Some("error=\"insufficient_scope\""));
    assert_eq!(c.get("/api/hello/has-loa-1").status, 403, "another session has LOA 0");
}

#[test]
fn uploaded_file_is_an_argument_and_is_removed_after_the_reply() {
    let up = TempDir::new("uploads");
    let d = D::start(&["--uploaddir", up.path().to_str().unwrap()]);
    let content = b"uploaded bytes\x00\x01\xff";
    let (ct, body) = multipart(&[("note", "hi")], &[("file", "report.bin", content)]);
    let r = d.conn().request(&Req::post("/api/hello/setctx", &ct, body));
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json()["response"].clone();
    assert_eq!(v["note"], "hi");
    assert_eq!(v["file"]["file"], "report.bin");
    let path = std::path::PathBuf::from(v["file"]["path"].as_str().unwrap());
    assert!(path.starts_with(up.path()), "{} under the upload dir", path.display());
    assert!(!path.exists(), "removed when the request ended");
    assert_eq!(
        std::fs::read_dir(up.path()).unwrap().count(),
        0,
        "upload dir left empty"
    );
    // Several files, each in its own new file.
    let (ct, body) = multipart(&[], &[("a", "a.txt", b"A"), ("b", "b.txt", b"B")]);
    let r = d.conn().request(&Req::post("/api/hello/setctx", &ct, body));
    let v = r.json()["response"].clone();
    assert_ne!(v["a"]["path"], v["b"]["path"]);
    assert_eq!(std::fs::read_dir(up.path()).unwrap().count(), 0);
}

#[test]
fn malformed_json_gets_400_at_once() {
    let d = D::start(&[]);
    let mut c = d.conn();
    let t = Instant::now();
    let r = c.request(&json_post("/api/hello/ping", r#"{"a":"#));
    assert_eq!(r.status, 400);
    assert_eq!(r.afb_status(), "invalid-request");
    assert!(t.elapsed() < Duration::from_secs(5), "answered at once");
    // The connection is still usable.
    assert_eq!(c.get("/api/hello/ping").status, 200);
}

#[test]
fn limits_413_414_415_431() {
    let d = D::start(&["--http-max-body", "1000"]);
    let mut c = d.conn();
    let big = format!("\"{}\"", "x".repeat(2000));
    let r = c.request(&json_post("/api/hello/ping", &big));
    assert_eq!(r.status, 413, "{}", r.text());
    // Declared too large: refused before the body is sent.
    let mut c = d.conn();
    c.write_raw(b"POST /api/hello/ping HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 999999999\r\n\r\n")
        .unwrap();
    let r = c.read_response(false).unwrap();
    assert_eq!(r.status, 413);
    // URL too long.
    let long = format!("/api/hello/ping?x={}", "a".repeat(9000));
    assert_eq!(d.get(&long).status, 414);
    // Unsupported content type.
    let r = d.conn().request(&Req::post("/api/hello/ping", "text/plain", "hello"));
    assert_eq!(r.status, 415);
    // Header too large.
    let r = d
        .conn()
        .request(&Req::get("/api/hello/ping").header("x-big", "h".repeat(40 * 1024)));
    assert_eq!(r.status, 431);
    // Other methods on the API.
    let r = d.conn().request(&Req::get("/api/hello/ping").method("DELETE"));
    assert_eq!(r.status, 405);
}

#[test]
fn ten_thousand_cookieless_requests_never_exhaust_sessions() {
    let d = D::start(&["--session-max", "200"]);
    let mut c = d.conn();
    for i in 0..10_000 {
        let r = c.get("/api/hello/ping");
        assert_eq!(r.status, 200, "request {i}: {}", r.text());
    }
    // A new client still gets a working session.
    let port = d.d.port;
    let mut c2 = d.conn();
    let set = c2.get("/api/hello/setctx?still=works");
    assert_eq!(set.status, 200);
    let r = c2.request(&Req::get("/api/hello/getctx").header("cookie", cookie_header(&set, port)));
    assert_eq!(r.json()["response"], json!({"still":"works"}));
}

#[test]
fn full_session_table_with_every_session_busy_answers_503() {
    let d = D::start(&["--session-max", "2"]);
    // Two cookie-less waits hold two sessions busy.
    let mut w1 = d.conn();
    let mut w2 = d.conn();
    w1.send(&Req::get("/api/tictactoe/wait"));
    w2.send(&Req::get("/api/tictactoe/wait"));
    std::thread::sleep(Duration::from_millis(300));
    let r = d.get("/api/hello/ping");
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(r.afb_status(), "not-available");
    drop(w1);
    drop(w2);
    // Once the waits are gone their sessions are idle and can be evicted.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let r = d.get("/api/hello/ping");
        if r.status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "sessions never freed: {}", r.text());
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn ipv6_and_unix_socket_listeners() {
    let dir = TempDir::new("sock");
    let sock = dir.path().join("http.sock");
    let p6 = free_port();
    let v6 = format!("tcp:[::1]:{p6}");
    let unix = format!("unix:{}", sock.display());
    let d = D::start(&["--interface", &v6, "--interface", &unix]);
    let r = Conn::tcp(format!("[::1]:{p6}").parse().unwrap()).get("/api/hello/ping");
    assert_eq!(r.status, 200);
    let r = Conn::unix(&sock).get("/api/hello/info");
    assert_eq!(r.status, 200);
    let info = r.json()["response"].clone();
    assert_eq!(
        info["pid"],
        std::process::id(),
        "peer credentials of the unix client: {info}"
    );
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let uid: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|u| u.parse().ok())
        .unwrap();
    assert_eq!(info["uid"], uid);
    // The default listener is loopback only, on IPv4 and IPv6.
    assert_eq!(d.get("/api/hello/ping").status, 200);
    let r = Conn::tcp(format!("[::1]:{}", d.d.port).parse().unwrap()).get("/api/hello/ping");
    assert_eq!(r.status, 200);
}

#[test]
fn websocket_upgrade_on_the_api_root_is_routed_with_the_session_cookie() {
    let d = D::start(&[]);
    let mut c = d.conn();
    let r = c.request(
        &Req::get("/api")
            .header("connection", "Upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-version", "13")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
            .header("sec-websocket-protocol", "x-afb-ws-json1"),
    );
    assert_eq!(r.status, 101, "{}", r.text());
    assert_eq!(r.header("sec-websocket-accept"), Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
    assert!(
        r.cookie_uuid().is_some(),
        "the upgrade answer carries the session cookie"
    );
}
