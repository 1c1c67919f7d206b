//! Session and access security of the real daemon: tokens never logged,
//! session cookies, requests from other sites' pages, and who may attach
//! to a `--ws-server`. (Session ids and token checks: `defects.rs` rows
//! 3, 4 and 5; the wsapi allow-list over unix sockets: row 14.)

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use support::http_client::Req;
use support::*;

/// Every token a client or the daemon uses, on both daemons of a linked
/// pair running at debug level (`-vvv`): HTTP (`Authorization`, `x-afb-token`,
/// `?token=`, `?access_token=`), WebSocket (upgrade query, 5th element of a
/// call), wrong tokens, a renewed token, and tokens forwarded over wsapi
/// (`T` messages). None appears anywhere in either log.
#[test]
fn tokens_never_appear_in_logs_even_at_debug_level() {
    let good = "GoodTok-7f3a9c";
    let wrong = ["WrongTok-11aa", "WrongTok-22bb", "WrongTok-33cc", "WrongTok-44dd"];
    let (b, sock) = back(&["-vvv", "--token", good]);
    let f = front(&sock, &["-vvv", "--token", good]);
    let mut renewed = Vec::new();
    for d in [&b, &f] {
        let mut c = d.conn();
        for (i, t) in [good, wrong[0]].iter().enumerate() {
            let expect = if i == 0 { 200 } else { 401 };
            let r = c.request(&Req::get("/api/hello/checktok").header("authorization", format!("Bearer {t}")));
            assert_eq!(r.status, expect, "{}", r.text());
            let r = c.request(&Req::get("/api/hello/checktok").header("x-afb-token", *t));
            assert_eq!(r.status, expect);
            assert_eq!(c.get(&format!("/api/hello/checktok?token={t}")).status, expect);
            assert_eq!(c.get(&format!("/api/hello/checktok?access_token={t}")).status, expect);
        }
        let r = c.request(&Req::get("/api/hello/reftok").header("authorization", format!("Bearer {good}")));
        if let Some(t) = r.json()["request"]["token"].as_str() {
            renewed.push(t.to_owned());
        }
        let mut w = d.ws_q(&format!("x-afb-token={}", wrong[1]));
        assert_eq!(ws_status(&w.call("1", "hello/checktok", "null")), "invalid-token");
        w.send(&format!(r#"[2,"2","hello/checktok",null,"{good}"]"#));
        assert_eq!(w.reply_to("2")[0], 3);
        w.send(&format!(r#"[2,"3","hello/checktok",null,"{}"]"#, wrong[2]));
        w.reply_to("3");
        w.send(&format!(r#"[2,"4","hello/reftok",null,"{good}"]"#));
        let r = w.reply_to("4");
        if let Some(t) = r[2]["request"]["token"].as_str() {
            renewed.push(t.to_owned());
        }
        w.call("5", "hello/verbose", &format!(r#"{{"not":"{}"}}"#, "a token"));
    }
    // Straight to the back over wsapi with a declared token.
    let mut p = WsapiPeer::connect(&sock).unwrap();
    p.hello();
    p.send(&wire::token(1, wrong[3])).unwrap();
    p.send(&wire::call(1, "checktok", 0, 1, "null")).unwrap();
    assert_eq!(p.msg()[0], b'k');
    drop(p);
    assert!(!renewed.is_empty(), "renewed tokens seen");
    std::thread::sleep(Duration::from_millis(300));
    for (name, d) in [("back", &b), ("front", &f)] {
        let log = d.d.log();
        assert!(log.contains("<7>"), "{name}: debug lines are written");
        eprintln!("{name}: {} log lines checked", log.lines().count());
        if std::env::var_os("SHOW_LOG").is_some() {
            eprintln!("{log}");
        }
        for t in std::iter::once(good)
            .chain(wrong)
            .chain(renewed.iter().map(String::as_str))
        {
            assert!(!log.contains(t), "{name}'s log holds the token {t}:\n{log}");
        }
    }
}

/// `Set-Cookie` of REST replies and WebSocket upgrades: `HttpOnly`,
/// `SameSite=Lax`, `Path=/`, and no `Secure` (the daemon speaks plain HTTP;
/// a `Secure` cookie would never come back).
#[test]
fn session_cookies_are_httponly_samesite_lax() {
    let d = D::start(&[]);
    let r = d.get("/api/hello/ping");
    let mut cookies = vec![r.header("set-cookie").unwrap().to_owned()];
    let w = d.ws();
    let head = w.c.head.to_ascii_lowercase();
    let line = head
        .lines()
        .find(|l| l.starts_with("set-cookie:"))
        .expect("the upgrade answer sets the cookie");
    cookies.push(line["set-cookie:".len()..].trim().to_owned());
    for c in cookies {
        let attrs: Vec<String> = c.split(';').skip(1).map(|a| a.trim().to_ascii_lowercase()).collect();
        for want in ["httponly", "samesite=lax", "path=/"] {
            assert!(attrs.iter().any(|a| a == want), "{c} lacks {want}");
        }
        assert!(!attrs.iter().any(|a| a == "secure"), "{c}");
    }
}

fn raw_upgrade(d: &D, extra: &str) -> String {
    let mut s = TcpStream::connect(d.d.addr()).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    write!(
        s,
        "GET /api HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Protocol: x-afb-ws-json1\r\n{extra}\r\n",
        d.d.addr()
    )
    .unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if s.read_exact(&mut b).is_err() {
            break;
        }
        head.push(b[0]);
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// A page of another site cannot make the user's browser call APIs: REST
/// calls and WebSocket upgrades with a foreign `Origin`, or marked
/// `Sec-Fetch-Site: cross-site`, get 403; the daemon's own pages (same
/// origin), programs (no `Origin`), and `--allowed-origin` origins pass;
/// static files are not concerned.
#[test]
fn api_requests_from_other_sites_are_refused() {
    let d = D::start(&["--allowed-origin", "http://app.example:8080"]);
    let own = format!("http://{}", d.d.addr());
    let mut c = d.conn();
    let cases = [
        (Some(("origin", "http://evil.example".to_owned())), 403),
        (Some(("origin", "null".to_owned())), 403),
        (Some(("origin", format!("http://127.0.0.1:{}", d.d.port + 1))), 403),
        (Some(("sec-fetch-site", "cross-site".to_owned())), 403),
        (Some(("origin", own.clone())), 200),
        (Some(("origin", "http://app.example:8080".to_owned())), 200),
        (Some(("sec-fetch-site", "same-origin".to_owned())), 200),
        (None, 200),
    ];
    for (header, status) in &cases {
        let mut req = Req::post("/api/hello/ping", "application/x-www-form-urlencoded", "a=1");
        if let Some((k, v)) = header {
            req = req.header(k, v.clone());
        }
        let r = c.request(&req);
        assert_eq!(r.status, *status, "{header:?}: {}", r.text());
        if *status == 403 {
            assert_eq!(r.afb_status(), "forbidden");
        }
        let extra = header
            .as_ref()
            .map(|(k, v)| format!("{k}: {v}\r\n"))
            .unwrap_or_default();
        let head = raw_upgrade(&d, &extra);
        let want = if *status == 403 { "HTTP/1.1 403" } else { "HTTP/1.1 101" };
        assert!(head.starts_with(want), "{header:?}: {head}");
    }
    let r = c.request(&Req::get("/devtools/index.html").header("origin", "http://evil.example"));
    assert_eq!(r.status, 200, "static files are not API calls");
    let any = D::start(&["--allowed-origin", "*"]);
    let r = any
        .conn()
        .request(&Req::get("/api/hello/ping").header("origin", "http://evil.example"));
    assert_eq!(r.status, 200);
}

/// With `--wsapi-allow`, a TCP `--ws-server` refuses every peer (TCP
/// peers have no uid to check) and the daemon warns about it.
#[test]
fn wsapi_allow_list_refuses_tcp_peers() {
    let port = afb_testkit::free_port();
    let uri = format!("tcp:127.0.0.1:{port}/hello");
    let me = my_uid().to_string();
    let d = D::start(&["--ws-server", &uri, "--wsapi-allow", &me]);
    assert!(d
        .d
        .wait_log(T, |l| l.contains("TCP --ws-server exports refuse every peer"))
        .contains("refuse every peer"));
    // The warning is logged before the socket listens: wait until it does.
    assert!(
        eventually(T, || afb_testkit::accepts(port)),
        "the export never listened"
    );
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    let _ = s.write_all(&wire::frame(&wire::version_offer()));
    let mut buf = [0u8; 16];
    assert!(matches!(s.read(&mut buf), Ok(0) | Err(_)), "dropped without an answer");
}
