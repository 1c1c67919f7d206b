//! The REST transport in process: an `HttpServer` on a free loopback port
//! with a test API that replies any status, driven by a real HTTP/1.1
//! client. Guards every row of the status table end to end (statuses no
//! sample API produces, such as `unauthorized` or `out-of-memory`), the
//! upload guard on a slow verb whose client goes away, and the graceful
//! shutdown of the server itself.

mod http_client;

use std::net::SocketAddr;
use std::time::Duration;

use afb_core::{Registry, RegistryConfig, Reply};
use afb_http::{HttpConfig, HttpServer};
use afb_sdk::prelude::*;
use http_client::{multipart, Conn, Req as HttpReq};

/// A server running on its own runtime thread.
struct Server {
    addr: SocketAddr,
    server: HttpServer,
    rt: Option<tokio::runtime::Runtime>,
}

impl Server {
    fn start(config: HttpConfig) -> Server {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let (addr, server) = rt.block_on(async move {
            let registry = Registry::new(RegistryConfig::default());
            test_api().register(&registry).unwrap();
            registry.start().await.unwrap();
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let server = HttpServer::new(registry, config).unwrap();
            server.serve_tcp(listener);
            (addr, server)
        });
        Server {
            addr,
            server,
            rt: Some(rt),
        }
    }

    fn conn(&self) -> Conn {
        Conn::tcp(self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            let s = self.server.clone();
            rt.block_on(async move { s.shutdown(Duration::from_millis(100)).await });
            rt.shutdown_timeout(Duration::from_secs(1));
        }
    }
}

/// `t/status?s=STATUS` replies that status; `t/sleep` replies after 300 ms
/// with the paths of its uploaded files still present or not.
fn test_api() -> ApiBuilder {
    ApiBuilder::new("t")
        .verb(Verb::new("status", |req: Req, _: ()| async move {
            let s = req.value("s").map(|s| s.into_owned()).unwrap_or_default();
            if s == "success" {
                Reply::success(None, None)
            } else {
                Reply::error(s, Some("as asked".into()))
            }
        }))
        .verb(Verb::new("sleep", |req: Req, _: ()| async move {
            let paths: Vec<_> = req.args().files().iter().map(|f| f.path.clone()).collect();
            tokio::time::sleep(Duration::from_millis(300)).await;
            let exist: Vec<bool> = paths.iter().map(|p| p.exists()).collect();
            Ok::<_, Error>(json!({ "exist": exist }))
        }))
}

#[test]
fn every_status_of_the_table_gets_its_http_status_over_the_wire() {
    let s = Server::start(HttpConfig::default());
    let mut c = s.conn();
    let table: &[(&str, u16, Option<&str>)] = &[
        ("unknown-api", 404, None),
        ("unknown-verb", 404, None),
        ("invalid-token", 401, Some("error=\"invalid_token\"")),
        ("unauthorized", 401, Some("error=\"invalid_token\"")),
        ("insufficient-scope", 403, Some("error=\"insufficient_scope\"")),
        ("forbidden", 403, None),
        ("bad-api-state", 403, None),
        ("internal-error", 500, None),
        ("out-of-memory", 500, None),
        ("not-available", 501, None),
        ("invalid-request", 400, None),
        ("timeout", 504, None),
        ("success", 200, None),
        ("failed", 200, None),
        ("disconnected", 200, None),
    ];
    for (status, code, challenge) in table {
        let r = c.get(&format!("/api/t/status?s={status}"));
        assert_eq!(r.status, *code, "{status}: {}", r.text());
        assert_eq!(r.header("www-authenticate"), *challenge, "{status}");
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.afb_status(), *status);
        assert_eq!(r.json()["jtype"], "afb-reply");
    }
    // The real unknown API and verb, through the registry.
    assert_eq!(c.get("/api/nosuchapi/x").status, 404);
    assert_eq!(c.get("/api/t/nosuchverb").status, 404);
}

#[test]
fn uploads_are_removed_when_the_client_goes_away_mid_request() {
    let dir = std::env::temp_dir().join(format!("afb-http-upload-gone-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let s = Server::start(HttpConfig {
        upload_dir: dir.clone(),
        ..HttpConfig::default()
    });
    let (ct, body) = multipart(&[], &[("f", "a.bin", b"0123456789")]);
    let mut c = s.conn();
    c.send(&HttpReq::post("/api/t/sleep", &ct, body));
    // The file exists while the verb runs...
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while std::fs::read_dir(&dir).unwrap().count() == 0 {
        assert!(std::time::Instant::now() < deadline, "upload never stored");
        std::thread::sleep(Duration::from_millis(5));
    }
    // ...and goes when the client does, before the verb replies.
    drop(c);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while std::fs::read_dir(&dir).unwrap().count() != 0 {
        assert!(std::time::Instant::now() < deadline, "upload left behind");
        std::thread::sleep(Duration::from_millis(5));
    }
    // A client that stays sees its file during the verb and not after.
    let (ct, body) = multipart(&[], &[("f", "a.bin", b"0123456789")]);
    let r = s.conn().request(&HttpReq::post("/api/t/sleep", &ct, body));
    assert_eq!(r.json()["response"]["exist"], json!([true]));
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn shutdown_lets_running_requests_finish_and_then_refuses_connections() {
    let s = Server::start(HttpConfig::default());
    let mut c = s.conn();
    c.send(&HttpReq::get("/api/t/sleep"));
    std::thread::sleep(Duration::from_millis(50));
    let server = s.server.clone();
    let rt = s.rt.as_ref().unwrap();
    let finished = rt.block_on(async move { server.shutdown(Duration::from_secs(5)).await });
    assert!(finished, "the sleeping request finished within the grace period");
    let r = c.read_response(false).unwrap();
    assert_eq!(r.status, 200);
    assert!(std::net::TcpStream::connect(s.addr).is_err(), "listener closed");
}
