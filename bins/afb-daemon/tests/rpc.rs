//! Daemons linked by RPC v3 (`--rpc-server` / `--rpc-client`): a back serving the hello
//! sample on every transport (unix socket, abstract socket, TCP, `ws+`, and its HTTP API root
//! through both upgrades), a front importing it once per transport under another name, driven
//! by HTTP and x-afb-ws-json1 clients (std sockets, no client library); the back restarted
//! under the front; a ring of three daemons and a broadcast.

mod support;

use std::path::Path;
use std::time::Duration;

use afb_testkit::{free_port, TempDir};
use serde_json::{json, Value};
use support::*;

/// The front's local names of the back's hello, one per transport.
const NAMES: [&str; 6] = ["h_unix", "h_abstract", "h_tcp", "h_ws", "h_http", "h_wsrpc"];

/// A back serving hello on every transport, and a front importing it through each.
struct Pair {
    back: D,
    front: D,
}

impl Pair {
    fn start() -> Pair {
        let dir = TempDir::new("rpc-back");
        let unix = dir.path().join("hello");
        let ws = dir.path().join("ws");
        let abs = format!("afb-rpc-test-{}-{}", std::process::id(), free_port());
        let tcp = free_port();
        let servers = [
            format!("unix:{}", unix.display()),
            format!("unix:@{abs}/hello"),
            format!("tcp:127.0.0.1:{tcp}/hello"),
            format!("ws+unix:{}?export=hello", ws.display()),
        ];
        let mut args: Vec<&str> = vec!["--samples"];
        for s in &servers {
            args.extend(["--rpc-server", s.as_str()]);
        }
        let back = D::start_in(dir, &args, Some(&ws));
        let port = back.d.port;
        let clients = [
            format!("unix:{}?import=h_unix@hello", unix.display()),
            format!("unix:@{abs}/hello?import=h_abstract@hello"),
            format!("tcp:127.0.0.1:{tcp}/hello?import=h_tcp@hello"),
            format!("ws+unix:{}?import=h_ws@hello", ws.display()),
            format!("http://127.0.0.1:{port}/api?import=h_http@hello"),
            format!("ws://127.0.0.1:{port}/api?import=h_wsrpc@hello"),
        ];
        let mut args = Vec::new();
        for c in &clients {
            args.extend(["--rpc-client", c.as_str()]);
        }
        let front = D::start(&args);
        Pair { back, front }
    }
}

fn status(v: &Value) -> &str {
    v["request"]["status"].as_str().unwrap_or("")
}

#[test]
fn http_and_websocket_clients_through_each_transport() {
    let p = Pair::start();
    let mut ws = p.front.ws();
    for (n, api) in NAMES.iter().enumerate() {
        // HTTP: JSON in and out, errors with their HTTP codes
        let r = p
            .front
            .conn()
            .request(&json_post(&format!("/api/{api}/ping"), r#"{"a":1}"#));
        assert_eq!(r.status, 200, "{api}: {}", r.text());
        let body = r.json();
        assert_eq!(
            (status(&body), &body["response"]),
            ("success", &json!("Some String")),
            "{api}"
        );
        let r = p.front.get(&format!("/api/{api}/nosuchverb"));
        assert_eq!((r.status, status(&r.json())), (404, "unknown-verb"), "{api}");
        let r = p.front.get(&format!("/api/{api}/pingfail"));
        assert_eq!(status(&r.json()), "failed", "{api}");
        // x-afb-ws-json1: the back sees the front client's session, LOA applies there
        let info = ws.call_ok(&format!("i{n}"), &format!("{api}/info"), "null");
        let uuid = info[2]["response"]["uuid"].clone();
        assert!(uuid.is_string(), "{info}");
        if n == 0 {
            ws.call_ok("loa", "h_unix/set-loa", "1");
        }
        let r = ws.call(&format!("l{n}"), &format!("{api}/has-loa-1"), "null");
        assert_eq!(ws_status(&r), "success", "{api}: the LOA set through h_unix: {r}");
        // events: declared, subscribed, pushed through this transport
        let tag = format!(r#"{{"tag":"t{n}","name":"ev{n}"}}"#);
        ws.call_ok(&format!("a{n}"), &format!("{api}/eventadd"), &tag);
        ws.call_ok(
            &format!("s{n}"),
            &format!("{api}/eventsub"),
            &format!(r#"{{"tag":"t{n}"}}"#),
        );
        let push = format!(r#"{{"tag":"t{n}","data":{{"n":{n}}}}}"#);
        ws.call_ok(&format!("p{n}"), &format!("{api}/eventpush"), &push);
        let e = ws.event();
        assert_eq!(
            (&e[1], &e[2]["data"]),
            (&json!(format!("hello/ev{n}")), &json!({"n": n})),
            "{api}: {e}"
        );
    }
    // every transport saw the same session on the back
    let uuids: Vec<Value> = (0..NAMES.len())
        .map(|n| ws.call_ok(&format!("u{n}"), &format!("{}/info", NAMES[n]), "null")[2]["response"]["uuid"].clone())
        .collect();
    assert!(uuids.windows(2).all(|w| w[0] == w[1]), "{uuids:?}");
    // a broadcast of the back reaches the front's client once, whatever the links
    ws.call_ok("b", "h_tcp/pingevent", r#"{"b":1}"#);
    let e = ws.event();
    assert_eq!((&e[1], &e[2]["data"]), (&json!("hello/event"), &json!({"b": 1})), "{e}");
    ws.c.set_timeout(Duration::from_millis(500));
    assert!(ws.c.recv().is_err(), "the broadcast came twice");
    drop(p.back);
}

#[test]
fn several_apis_on_one_link_with_renaming() {
    let dir = TempDir::new("rpc-many");
    let sock = dir.path().join("many");
    let server = format!("unix:{}?export=hello@remhello,hello@,monitor", sock.display());
    let back = D::start_in(dir, &["--samples", "--rpc-server", &server], Some(&sock));
    let client = format!("unix:{}?import=h1@remhello,h2@,mon@monitor,nope@auth", sock.display());
    let front = D::start(&["--rpc-client", &client]);
    for api in ["h1", "h2"] {
        let r = front.get(&format!("/api/{api}/ping"));
        assert_eq!(status(&r.json()), "success", "{api}: {}", r.text());
    }
    let r = front.get("/api/mon/get?apis=true");
    assert_eq!(status(&r.json()), "success", "{}", r.text());
    let r = front.get("/api/nope/ping");
    assert_eq!(status(&r.json()), "unauthorized", "auth is not exported: {}", r.text());
    assert_eq!(status(&front.get("/api/h1/ping").json()), "success", "the link stays");
    drop(back);
}

/// Waits until the front reaches the back's hello through `api`.
fn reaches(front: &D, api: &str) -> bool {
    eventually(T, || {
        status(&front.get(&format!("/api/{api}/ping")).json()) == "success"
    })
}

#[test]
fn the_back_restarts_under_the_front() {
    let dir = TempDir::new("rpc-restart");
    let sock = dir.path().join("hello");
    let server = format!("unix:{}", sock.display());
    let front = D::start(&["--rpc-client", &format!("unix:{}", sock.display())]);
    // absent at start: declared anyway, answered at once
    let t0 = std::time::Instant::now();
    let r = front.get("/api/hello/ping");
    assert_eq!(status(&r.json()), "not-available", "{}", r.text());
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    let back = D::start_in(
        TempDir::new("rpc-restart-back"),
        &["--samples", "--rpc-server", &server],
        Some(&sock),
    );
    assert!(reaches(&front, "hello"));
    let mut ws = front.ws();
    ws.call_ok("1", "hello/set-loa", "2");
    drop(back);
    assert!(eventually(T, || status(&front.get("/api/hello/ping").json()) == "not-available"));
    let back = D::start_in(
        TempDir::new("rpc-restart-back2"),
        &["--samples", "--rpc-server", &server],
        Some(&sock),
    );
    assert!(reaches(&front, "hello"));
    // a new back: the session is declared again (its LOA is gone with the old back)
    let r = ws.call("2", "hello/has-loa-1", "null");
    assert_eq!(ws_status(&r), "insufficient-scope", "{r}");
    ws.call_ok("3", "hello/set-loa", "1");
    ws.call_ok("4", "hello/has-loa-1", "null");
    drop(back);
}

fn ring_member(dir: &Path, n: usize) -> D {
    let me = format!("unix:{}?export=hello", dir.join(format!("r{n}")).display());
    let next = format!(
        "unix:{}?import=next@hello",
        dir.join(format!("r{}", (n + 1) % 3)).display()
    );
    D::start_opts(
        &["--samples", "--rpc-server", &me, "--rpc-client", &next],
        Some(&dir.join(format!("r{n}"))),
    )
}

#[test]
fn a_ring_of_three_daemons_gets_a_broadcast_once() {
    let dir = TempDir::new("rpc-ring");
    let ring: Vec<D> = (0..3).map(|n| ring_member(dir.path(), n)).collect();
    for d in &ring {
        assert!(reaches(d, "next"), "the ring is linked");
    }
    let mut clients: Vec<Ws> = ring.iter().map(D::ws).collect();
    clients[2].call_ok("b", "hello/pingevent", r#"{"ring":3}"#);
    for (n, c) in clients.iter_mut().enumerate() {
        let e = c.event();
        assert_eq!(
            (&e[1], &e[2]["data"]),
            (&json!("hello/event"), &json!({"ring": 3})),
            "daemon {n}"
        );
        c.c.set_timeout(Duration::from_millis(500));
        assert!(c.c.recv().is_err(), "daemon {n} got it again");
    }
}

/// `GET PATH` with `headers` on a new connection; the answer head, and the stream.
fn upgrade(d: &D, path: &str, headers: &[&str]) -> (String, std::net::TcpStream) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(d.d.addr()).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    for h in headers {
        req.push_str(h);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut head = Vec::new();
    let mut b = [0u8];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut b).expect("an answer head");
        head.push(b[0]);
    }
    (String::from_utf8_lossy(&head).to_lowercase(), s)
}

/// Exactly `n` bytes of the stream.
fn bytes(s: &mut std::net::TcpStream, n: usize) -> Vec<u8> {
    use std::io::Read;
    let mut v = vec![0; n];
    s.read_exact(&mut v).expect("bytes in time");
    v
}

#[test]
fn upgrades_on_the_api_root() {
    use std::io::Write;
    let d = D::start(&["--samples"]);
    let raw = ["Connection: Upgrade", "Upgrade: x-afb-rpc"];
    // only on the API root exactly
    let (head, _) = upgrade(&d, "/api/", &raw);
    assert!(head.starts_with("http/1.1 404"), "{head}");
    let (head, mut s) = upgrade(&d, "/api?x-afb-uuid=ignored", &raw);
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(
        head.contains("connection: upgrade") && head.contains("upgrade: x-afb-rpc"),
        "{head}"
    );
    // then RPC as on a socket: the C client's offer, our answer
    s.write_all(&[0x56, 0x09, 0x14, 0x4c, 0x17, 0x03, 0x03, 0x00, 0x00])
        .unwrap();
    assert_eq!(bytes(&mut s, 4), [0x76, 0x03, 0x04, 0x00]);
    // a call without API: no default API here (-6); with API hello: served
    let call = |callid: u8, api: Option<&str>| {
        let v = [afb_rpc_codec::Value::json("{}")];
        let mut c = afb_rpc_codec::CallRequest::new(u16::from(callid), afb_rpc_codec::Verb::name("ping"));
        c.api = api.map(afb_rpc_codec::Text::from);
        c.values = afb_rpc_codec::Values::new(&v);
        afb_rpc_codec::encode_to_vec(&afb_rpc_codec::Message::CallRequest(c), 1).unwrap()
    };
    s.write_all(&call(1, None)).unwrap();
    let h = bytes(&mut s, 16);
    assert_eq!((h[8], &h[12..16]), (1, &(-6i32).to_le_bytes()[..]), "{h:02x?}");
    let len = u32::from_le_bytes([h[4], h[5], h[6], h[7]]) as usize;
    bytes(&mut s, len.div_ceil(8) * 8 - 16);
    s.write_all(&call(2, Some("hello"))).unwrap();
    let h = bytes(&mut s, 16);
    assert_eq!((h[8], &h[12..16]), (2, &[0u8; 4][..]), "{h:02x?}");
    // WebSocket: the first known subprotocol of the client's list wins
    let ws = |protocols: &str| {
        let p = format!("Sec-WebSocket-Protocol: {protocols}");
        upgrade(
            &d,
            "/api",
            &[
                "Connection: Upgrade",
                "Upgrade: websocket",
                "Sec-WebSocket-Version: 13",
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
                &p,
            ],
        )
        .0
    };
    let head = ws("chat, x-afb-ws-rpc, x-afb-ws-json1");
    assert!(
        head.starts_with("http/1.1 101") && head.contains("sec-websocket-protocol: x-afb-ws-rpc"),
        "{head}"
    );
    let head = ws("x-afb-ws-json1, x-afb-ws-rpc");
    assert!(head.contains("sec-websocket-protocol: x-afb-ws-json1"), "{head}");
    assert!(ws("chat").starts_with("http/1.1 412"));
}

#[test]
fn rpc_server_on_a_socket_passed_by_systemd() {
    let Some(tool) = afb_testkit::require_tool("systemd-socket-activate") else {
        return;
    };
    let work = TempDir::new("rpc-sd");
    let sock = work.path().join("hello");
    let mut cmd = std::process::Command::new(tool);
    cmd.arg("-l")
        .arg(&sock)
        .arg("--fdname=hello")
        .arg(afb_testkit::bin_path("afb-daemon"))
        .args([
            "--port",
            &free_port().to_string(),
            "--samples",
            "--rpc-server",
            "sd:hello",
        ])
        .arg("--workdir")
        .arg(work.path())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let _back = afb_testkit::KillOnDrop(cmd.spawn().expect("spawn systemd-socket-activate"));
    assert!(eventually(T, || sock.exists()));
    let front = D::start(&["--rpc-client", &format!("unix:{}", sock.display())]);
    assert!(reaches(&front, "hello"), "through the socket systemd passed");
}
