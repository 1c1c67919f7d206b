//! TLS of the real daemon, over loopback sockets, with certificates made at
//! test time: HTTPS REST and `wss://` x-afb-ws-json1 with the test CA; a
//! wrong CA, an expired certificate and a wrong host refused with the
//! right error on both sides; client certificates reaching `hello/info`;
//! `tls+` and `mtls+` wsapi links between two daemons (the mTLS server
//! refusing a client without certificate); SIGHUP switching the served
//! certificate while an open connection goes on; garbage, truncated and
//! stalled handshakes while others are served; start-up errors naming the
//! file; where the HTTPS files come from.

use std::path::Path;
use std::time::Duration;

use afb_endpoint::tls::{ClientSettings, TlsClient};
use afb_endpoint::{Address, Connector, Host, Stream};
use afb_testkit::certs::{Issued, TestPki};
use afb_testkit::{free_port, Daemon, DaemonOpts, TempDir};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;

const T: Duration = Duration::from_secs(10);

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn p(path: &Path) -> String {
    path.display().to_string()
}

/// A daemon serving HTTPS with `server`'s certificate, and `more` options.
fn https_daemon(server: &Issued, more: &[&str]) -> Daemon {
    let mut args = vec![
        "--https",
        "--tls-cert",
        server.cert.to_str().unwrap(),
        "--tls-key",
        server.key.to_str().unwrap(),
    ];
    args.extend_from_slice(more);
    Daemon::start(&args)
}

/// A TLS client of 127.0.0.1:`port` that checks `name` against `trust`,
/// showing `client` when asked.
fn tls_to(port: u16, name: &str, trust: &Path, client: Option<&Issued>) -> Connector {
    let mut s = ClientSettings::new(format!("https://{name}:{port}"), Some(name.to_owned()));
    s.trust = vec![trust.to_path_buf()];
    s.alpn = vec![b"http/1.1".to_vec()];
    if let Some(c) = client {
        s.cert = Some(c.cert.clone());
        s.key = Some(c.key.clone());
    }
    Connector::to(Address::Tcp {
        host: Host::Name("127.0.0.1".into()),
        port,
    })
    .unwrap()
    .with_tls(TlsClient::new(s).unwrap())
}

/// One HTTP/1.1 GET on `s` (kept alive): status and body.
async fn get(s: &mut Stream, target: &str) -> Result<(u16, String), String> {
    get_full(s, target).await.map(|(status, _, body)| (status, body))
}

/// One HTTP/1.1 GET on `s` (kept alive): status, head and body.
async fn get_full(s: &mut Stream, target: &str) -> Result<(u16, String, String), String> {
    let req = format!("GET {target} HTTP/1.1\r\nHost: localhost\r\n\r\n");
    s.write_all(req.as_bytes()).await.map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let work = async {
        loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).to_string();
                let len: usize = head
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse().ok())?
                    })
                    .unwrap_or(0);
                if buf.len() >= end + 4 + len {
                    let status = head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
                    let body = String::from_utf8_lossy(&buf[end + 4..end + 4 + len]).to_string();
                    return Ok((status, head, body));
                }
            }
            match s.read(&mut chunk).await {
                Ok(0) => return Err("connection closed".to_owned()),
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e) => return Err(e.to_string()),
            }
        }
    };
    tokio::time::timeout(T, work)
        .await
        .map_err(|_| "no answer".to_owned())?
}

/// Connects and GETs `target`: Ok((status, body)) or the client's error.
async fn https_get(c: &Connector, target: &str) -> Result<(u16, String), String> {
    let mut s = tokio::time::timeout(T, c.connect())
        .await
        .map_err(|_| "connect: timeout".to_owned())?
        .map_err(|e| e.to_string())?;
    get(&mut s, target).await
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[test]
fn https_rest_and_wss_wsj1_with_the_test_ca() {
    let pki = TestPki::new("https");
    let d = https_daemon(&pki.server, &["-vv"]);
    let log = d.wait_log(T, |l| l.contains("HTTPS listening on"));
    assert!(
        log.contains(&format!("HTTPS listening on tcp:127.0.0.1:{} (TLS)", d.port)),
        "{log}"
    );
    rt().block_on(async {
        let c = tls_to(d.port, "localhost", &pki.ca.cert, None);
        let (status, body) = https_get(&c, "/api/hello/ping?x=1").await.unwrap();
        assert_eq!(status, 200, "{body}");
        assert_eq!(json(&body)["request"]["status"], "success", "{body}");
        // The address works as a name too (the certificate has it).
        let c = tls_to(d.port, "127.0.0.1", &pki.ca.cert, None);
        let mut s = c.connect().await.unwrap();
        assert_eq!(s.alpn_protocol(), Some(&b"http/1.1"[..]), "ALPN");
        let (_, head, _) = get_full(&mut s, "/api/hello/ping").await.unwrap();
        let cookie = head
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
            .unwrap();
        assert!(
            cookie.ends_with("; Secure"),
            "the session cookie is Secure over HTTPS: {cookie}"
        );
        for _ in 0..3 {
            let (status, _) = get(&mut s, "/api/hello/ping").await.unwrap();
            assert_eq!(status, 200, "keep-alive over TLS");
        }
        // Without client certificate, hello/info has no certificate subject.
        let (_, body) = get(&mut s, "/api/hello/info").await.unwrap();
        assert!(json(&body)["response"].get("subject").is_none(), "{body}");

        // wss:// x-afb-ws-json1 on the same port.
        let stream = c.connect().await.unwrap();
        let mut req = format!("wss://127.0.0.1:{}/api", d.port).into_client_request().unwrap();
        req.headers_mut()
            .insert("Sec-WebSocket-Protocol", HeaderValue::from_static("x-afb-ws-json1"));
        let (mut ws, resp) = tokio_tungstenite::client_async(req, stream).await.unwrap();
        assert_eq!(resp.headers()["sec-websocket-protocol"], "x-afb-ws-json1");
        ws.send(Message::text(r#"[2,"7","hello/ping",{"over":"wss"}]"#))
            .await
            .unwrap();
        let reply = tokio::time::timeout(T, ws.next()).await.unwrap().unwrap().unwrap();
        let reply = json(reply.to_text().unwrap());
        assert_eq!((reply[0].as_i64(), reply[1].as_str()), (Some(3), Some("7")), "{reply}");
        assert_eq!(reply[2]["request"]["status"], "success", "{reply}");
        // Cleartext HTTP to the HTTPS port is no HTTP answer.
        let mut plain = TcpStream::connect(("127.0.0.1", d.port)).await.unwrap();
        plain
            .write_all(b"GET /api/hello/ping HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut got = Vec::new();
        let _ = tokio::time::timeout(T, plain.read_to_end(&mut got)).await.unwrap();
        assert!(!got.starts_with(b"HTTP/"), "{:?}", String::from_utf8_lossy(&got));
    });
    d.wait_log(T, |l| l.contains("with tcp peer 127.0.0.1:") && l.contains("failed"));
}

#[test]
fn wrong_ca_expired_and_wrong_host_are_refused_on_both_sides() {
    let pki = TestPki::new("https-refusals");
    rt().block_on(async {
        // The client trusts another CA.
        let d = https_daemon(&pki.server, &[]);
        let e = https_get(
            &tls_to(d.port, "localhost", &pki.other_ca.cert, None),
            "/api/hello/ping",
        )
        .await
        .unwrap_err();
        assert!(e.contains("UnknownIssuer"), "{e}");
        let log = d.wait_log(T, |l| l.contains("UnknownCA"));
        let line = log.lines().find(|l| l.contains("UnknownCA")).unwrap();
        assert!(
            line.contains("TLS handshake on tcp:127.0.0.1:") && line.contains("with tcp peer 127.0.0.1:"),
            "{line}"
        );
        assert!(
            line.contains(&p(&pki.server.cert)),
            "the line names our certificate: {line}"
        );
        // An expired server certificate.
        let d = https_daemon(&pki.expired, &[]);
        let e = https_get(&tls_to(d.port, "localhost", &pki.ca.cert, None), "/api/hello/ping")
            .await
            .unwrap_err();
        assert!(e.contains("expired"), "{e}");
        d.wait_log(T, |l| l.contains("failed: received fatal alert: CertificateExpired"));
        // A certificate for another host.
        let d = https_daemon(&pki.other_host, &[]);
        let e = https_get(&tls_to(d.port, "localhost", &pki.ca.cert, None), "/api/hello/ping")
            .await
            .unwrap_err();
        assert!(e.contains("not valid for name") && e.contains("localhost"), "{e}");
        d.wait_log(T, |l| l.contains("failed: received fatal alert: BadCertificate"));
    });
}

#[test]
fn client_certificates_reach_the_verb() {
    let pki = TestPki::new("https-clients");
    let ca = p(&pki.ca.cert);
    let d = https_daemon(&pki.server, &["--https-client-auth", "required", "--tls-trust", &ca]);
    rt().block_on(async {
        let c = tls_to(d.port, "localhost", &pki.ca.cert, Some(&pki.client));
        let (status, body) = https_get(&c, "/api/hello/info").await.unwrap();
        assert_eq!(status, 200, "{body}");
        let info = &json(&body)["response"];
        assert!(info["subject"].as_str().unwrap().contains("CN=client1"), "{info}");
        assert_eq!(info["san"], serde_json::json!(["DNS:client1"]), "{info}");
        assert!(info.get("uid").is_none(), "no process known over TCP: {info}");
        // Over wss too.
        let stream = c.connect().await.unwrap();
        let mut req = format!("wss://localhost:{}/api", d.port).into_client_request().unwrap();
        req.headers_mut()
            .insert("Sec-WebSocket-Protocol", HeaderValue::from_static("x-afb-ws-json1"));
        let (mut ws, _) = tokio_tungstenite::client_async(req, stream).await.unwrap();
        ws.send(Message::text(r#"[2,"1","hello/info",null]"#)).await.unwrap();
        let reply = tokio::time::timeout(T, ws.next()).await.unwrap().unwrap().unwrap();
        let reply = json(reply.to_text().unwrap());
        assert!(
            reply[2]["response"]["subject"].as_str().unwrap().contains("CN=client1"),
            "{reply}"
        );
        // Without a certificate: refused.
        let e = https_get(&tls_to(d.port, "localhost", &pki.ca.cert, None), "/api/hello/info")
            .await
            .unwrap_err();
        assert!(e.contains("CertificateRequired") || e.contains("closed"), "{e}");
        d.wait_log(T, |l| {
            l.contains("client certificates checked against") && l.contains(&ca)
        });
    });
    // Optional: both kinds of clients are served.
    let d = https_daemon(&pki.server, &["--https-client-auth", "optional", "--tls-trust", &ca]);
    rt().block_on(async {
        let with = tls_to(d.port, "localhost", &pki.ca.cert, Some(&pki.client));
        let (_, body) = https_get(&with, "/api/hello/info").await.unwrap();
        assert!(json(&body)["response"]["subject"].is_string(), "{body}");
        let without = tls_to(d.port, "localhost", &pki.ca.cert, None);
        let (status, body) = https_get(&without, "/api/hello/info").await.unwrap();
        assert_eq!(status, 200);
        assert!(json(&body)["response"].get("subject").is_none(), "{body}");
    });
}

/// A daemon exporting `hello` on `uri` over wsapi, with `args`.
fn ws_server(uri: &str, args: &[&str]) -> Daemon {
    let mut all = vec!["--ws-server".to_owned(), uri.to_owned()];
    all.extend(args.iter().map(|s| s.to_string()));
    let d = Daemon::start_with(DaemonOpts {
        args: all,
        ..DaemonOpts::default()
    });
    d.wait_log(T, |l| l.contains("exporting API hello over wsapi"));
    d
}

/// A daemon importing `hello` from `uri`, with `args`.
fn ws_client(uri: &str, args: &[&str]) -> Daemon {
    let mut all = vec!["--ws-client", uri];
    all.extend_from_slice(args);
    Daemon::start(&all)
}

/// GET over cleartext HTTP on the daemon's port.
fn http_get(d: &Daemon, target: &str) -> Value {
    rt().block_on(async {
        let mut s = Stream::Tcp(TcpStream::connect(("127.0.0.1", d.port)).await.unwrap());
        let (_, body) = get(&mut s, target).await.unwrap();
        json(&body)
    })
}

#[test]
fn tls_and_mtls_wsapi_links_between_two_daemons() {
    let pki = TestPki::new("links");
    let ca = p(&pki.ca.cert);
    let (server, server_key) = (p(&pki.server.cert), p(&pki.server.key));
    let (client, client_key) = (p(&pki.client.cert), p(&pki.client.key));

    // tls+: the server authenticates itself; the client checks the name.
    let port = free_port();
    let s = ws_server(
        &format!("tls+tcp:127.0.0.1:{port}/hello"),
        &["--tls-cert", &server, "--tls-key", &server_key],
    );
    let c = ws_client(&format!("tls+tcp:localhost:{port}/hello"), &["--tls-trust", &ca]);
    let r = http_get(&c, "/api/hello/ping?over=tls");
    assert_eq!(r["request"]["status"], "success", "{r}");
    let r = http_get(&c, "/api/hello/info");
    assert!(r["response"].get("subject").is_none(), "{r}");
    // A client trusting another CA cannot call.
    let bad = ws_client(
        &format!("tls+tcp:localhost:{port}/hello"),
        &["--tls-trust", &p(&pki.other_ca.cert)],
    );
    let r = http_get(&bad, "/api/hello/ping");
    assert_eq!(r["request"]["status"], "disconnected", "{r}");
    assert!(r["request"]["info"].as_str().unwrap().contains("UnknownIssuer"), "{r}");
    bad.wait_log(T, |l| {
        l.contains("cannot connect to tls+tcp:localhost") && l.contains("UnknownIssuer")
    });
    s.wait_log(T, |l| l.contains("failed: received fatal alert: UnknownCA"));
    drop((s, c, bad));

    // mtls+: the client's certificate reaches the verb on the server.
    let port = free_port();
    let s = ws_server(
        &format!("mtls+tcp:127.0.0.1:{port}/hello"),
        &["--tls-cert", &server, "--tls-key", &server_key, "--tls-trust", &ca],
    );
    let c = ws_client(
        &format!("mtls+tcp:localhost:{port}/hello"),
        &["--tls-cert", &client, "--tls-key", &client_key, "--tls-trust", &ca],
    );
    let r = http_get(&c, "/api/hello/info");
    assert_eq!(r["request"]["status"], "success", "{r}");
    assert!(r["response"]["subject"].as_str().unwrap().contains("CN=client1"), "{r}");
    assert_eq!(r["response"]["san"], serde_json::json!(["DNS:client1"]), "{r}");
    // The same with the material in the URI.
    let c2 = ws_client(
        &format!("mtls+tcp:localhost:{port}/hello?cert={client}&key={client_key}&trust={ca}"),
        &[],
    );
    let r = http_get(&c2, "/api/hello/info");
    assert!(r["response"]["subject"].as_str().unwrap().contains("CN=client1"), "{r}");
    // A client without certificate is refused by the mTLS server.
    let nocert = ws_client(&format!("tls+tcp:localhost:{port}/hello"), &["--tls-trust", &ca]);
    let r = http_get(&nocert, "/api/hello/ping");
    assert_ne!(r["request"]["status"], "success", "{r}");
    s.wait_log(T, |l| {
        l.contains("TLS handshake on") && l.contains("client certificates checked against")
    });
    // An mtls+ client without certificate does not start.
    let out = std::process::Command::new(afb_testkit::bin_path("afb-daemon"))
        .args([
            "--port",
            &free_port().to_string(),
            "--ws-client",
            &format!("mtls+tcp:localhost:{port}/hello"),
        ])
        .env_remove("AFB_TLS_CERT")
        .env_remove("AFB_TLS_KEY")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("needs a certificate"), "{err}");
}

/// A daemon exporting `hello` on `uri` over RPC v3, with `args`.
fn rpc_server(uri: &str, args: &[&str]) -> Daemon {
    let mut all = vec![
        "--rpc-server".to_owned(),
        uri.to_owned(),
        "-v".to_owned(),
        "-v".to_owned(),
    ];
    all.extend(args.iter().map(|s| s.to_string()));
    let d = Daemon::start_with(DaemonOpts {
        args: all,
        ..DaemonOpts::default()
    });
    d.wait_log(T, |l| l.contains("over RPC on"));
    d
}

#[test]
fn tls_and_mtls_rpc_links_between_two_daemons() {
    let pki = TestPki::new("rpc-links");
    let ca = p(&pki.ca.cert);
    let (server, server_key) = (p(&pki.server.cert), p(&pki.server.key));
    let (client, client_key) = (p(&pki.client.cert), p(&pki.client.key));

    // tls+: calls go through; a client trusting another CA gets no answer.
    let port = free_port();
    let s = rpc_server(
        &format!("tls+tcp:127.0.0.1:{port}/hello"),
        &["--tls-cert", &server, "--tls-key", &server_key],
    );
    let c = Daemon::start(&[
        "--rpc-client",
        &format!("tls+tcp:localhost:{port}/hello"),
        "--tls-trust",
        &ca,
    ]);
    let r = http_get(&c, "/api/hello/ping?over=rpc-tls");
    assert_eq!(r["request"]["status"], "success", "{r}");
    let bad = Daemon::start(&[
        "--rpc-client",
        &format!("tls+tcp:localhost:{port}/hello"),
        "--tls-trust",
        &p(&pki.other_ca.cert),
    ]);
    let r = http_get(&bad, "/api/hello/ping");
    assert_ne!(r["request"]["status"], "success", "{r}");
    s.wait_log(T, |l| l.contains("UnknownCA"));
    drop((s, c, bad));

    // mtls+: the client certificate reaches the verb behind the link; a
    // client without certificate is refused.
    let port = free_port();
    let s = rpc_server(
        &format!("mtls+tcp:127.0.0.1:{port}/hello"),
        &["--tls-cert", &server, "--tls-key", &server_key, "--tls-trust", &ca],
    );
    let c = Daemon::start(&[
        "--rpc-client",
        &format!("mtls+tcp:localhost:{port}/hello?cert={client}&key={client_key}&trust={ca}"),
    ]);
    let r = http_get(&c, "/api/hello/ping?over=rpc-mtls");
    assert_eq!(r["request"]["status"], "success", "{r}");
    let r = http_get(&c, "/api/hello/info");
    assert!(
        r["response"]["subject"].as_str().unwrap_or("").contains("CN=client1"),
        "{r}"
    );
    let nocert = Daemon::start(&[
        "--rpc-client",
        &format!("tls+tcp:localhost:{port}/hello"),
        "--tls-trust",
        &ca,
    ]);
    let r = http_get(&nocert, "/api/hello/ping");
    assert_ne!(r["request"]["status"], "success", "{r}");
    s.wait_log(T, |l| l.contains("TLS handshake on"));
}

#[test]
fn mtls_wsapi_over_a_unix_socket() {
    let pki = TestPki::new("links-unix");
    let dir = TempDir::new("links-unix");
    let sock = dir.path().join("hello");
    let ca = p(&pki.ca.cert);
    let uri = format!("mtls+unix:{}", p(&sock));
    let s = Daemon::start_with(DaemonOpts {
        args: vec![
            "--ws-server".into(),
            uri.clone(),
            "--tls-cert".into(),
            p(&pki.server.cert),
            "--tls-key".into(),
            p(&pki.server.key),
            "--tls-trust".into(),
            ca.clone(),
        ],
        wait_path: Some(sock.clone()),
        ..DaemonOpts::default()
    });
    let c = ws_client(
        &uri,
        &[
            "--tls-cert",
            &p(&pki.client.cert),
            "--tls-key",
            &p(&pki.client.key),
            "--tls-trust",
            &ca,
        ],
    );
    let r = http_get(&c, "/api/hello/info");
    let info = &r["response"];
    assert!(info["subject"].as_str().unwrap().contains("CN=client1"), "{r}");
    assert!(info["uid"].is_u64(), "a unix peer has its process too: {r}");
    drop(s);
}

#[test]
fn sighup_switches_the_certificate_of_new_connections() {
    let pki = TestPki::new("reload");
    let dir = TempDir::new("reload");
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::copy(&pki.server.cert, &cert).unwrap();
    std::fs::copy(&pki.server.key, &key).unwrap();
    let d = Daemon::start(&[
        "--https",
        "--https-cert",
        cert.to_str().unwrap(),
        "--https-key",
        key.to_str().unwrap(),
    ]);
    let served = |s: &Stream| match s {
        Stream::Tls(t) => t.get_ref().1.peer_certificates().unwrap()[0].to_vec(),
        other => panic!("{other:?}"),
    };
    rt().block_on(async {
        let c = tls_to(d.port, "localhost", &pki.ca.cert, None);
        let mut open = c.connect().await.unwrap();
        assert_eq!(served(&open), pki.server.der);
        assert_eq!(get(&mut open, "/api/hello/ping").await.unwrap().0, 200);
        std::fs::copy(&pki.server2.cert, &cert).unwrap();
        std::fs::copy(&pki.server2.key, &key).unwrap();
        d.signal("HUP");
        d.wait_log(T, |l| l.contains("SIGHUP: TLS material of --https reloaded"));
        let mut new = c.connect().await.unwrap();
        assert_eq!(served(&new), pki.server2.der, "new connections get the new certificate");
        assert_eq!(get(&mut new, "/api/hello/ping").await.unwrap().0, 200);
        assert_eq!(
            get(&mut open, "/api/hello/ping").await.unwrap().0,
            200,
            "the open connection goes on"
        );
        // A bad file: the reload fails, the material in use stays.
        std::fs::write(&cert, "not a certificate").unwrap();
        d.signal("HUP");
        let log = d.wait_log(T, |l| l.contains("not reloaded"));
        assert!(
            log.contains("not reloaded, the old one stays: ") && log.contains(&p(&cert)),
            "{log}"
        );
        let new = c.connect().await.unwrap();
        assert_eq!(served(&new), pki.server2.der);
    });
}

#[test]
fn garbage_truncated_and_stalled_handshakes_while_others_are_served() {
    let pki = TestPki::new("stall");
    let d = https_daemon(&pki.server, &["--tls-handshake-timeout", "1"]);
    rt().block_on(async {
        let c = tls_to(d.port, "localhost", &pki.ca.cert, None);
        https_get(&c, "/api/hello/ping").await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let fds = d.fd_count().unwrap();
        let mut silent = Vec::new();
        for _ in 0..20 {
            silent.push(TcpStream::connect(("127.0.0.1", d.port)).await.unwrap());
        }
        let mut truncated = TcpStream::connect(("127.0.0.1", d.port)).await.unwrap();
        truncated
            .write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03])
            .await
            .unwrap();
        let mut garbage = TcpStream::connect(("127.0.0.1", d.port)).await.unwrap();
        let bytes: Vec<u8> = (0..4096u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let _ = garbage.write_all(&bytes).await;
        for _ in 0..5 {
            let (status, _) = https_get(&c, "/api/hello/ping").await.unwrap();
            assert_eq!(status, 200, "served while others stall");
        }
        // The stalled ones are dropped after the (1 s) timeout.
        for s in silent.iter_mut().chain([&mut truncated, &mut garbage]) {
            let mut buf = [0u8; 256];
            let end = tokio::time::timeout(T, async {
                loop {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(_) => continue,
                    }
                }
            })
            .await;
            assert!(end.is_ok(), "a stalled connection is dropped");
        }
        let dropped = |l: &str| {
            l.lines()
                .filter(|l| l.contains("not done within 1 s, connection dropped"))
                .count()
        };
        let log = d.wait_log(T, |l| dropped(l) >= 21);
        assert!(dropped(&log) >= 21, "one line per stalled handshake: {log}");
        drop(silent);
        // No descriptor is kept for them.
        let back = (0..100).any(|_| {
            std::thread::sleep(Duration::from_millis(50));
            d.fd_count().is_some_and(|n| n <= fds)
        });
        assert!(back, "descriptors: {:?}, before: {fds}", d.fd_count());
        https_get(&c, "/api/hello/ping").await.unwrap();
    });
}

#[test]
fn https_files_come_from_the_options_the_environment_or_the_prefix() {
    let pki = TestPki::new("files");
    let check = |d: &Daemon, want: &[u8]| {
        rt().block_on(async {
            let s = tls_to(d.port, "localhost", &pki.ca.cert, None).connect().await.unwrap();
            match &s {
                Stream::Tls(t) => assert_eq!(t.get_ref().1.peer_certificates().unwrap()[0].as_ref(), want),
                other => panic!("{other:?}"),
            }
        })
    };
    let start = |args: &[&str], env: &[(&str, &str)]| {
        Daemon::start_with(DaemonOpts {
            args: args.iter().map(|s| s.to_string()).collect(),
            env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            ..DaemonOpts::default()
        })
    };
    let (s1, k1) = (p(&pki.server.cert), p(&pki.server.key));
    let (s2, k2) = (p(&pki.server2.cert), p(&pki.server2.key));
    // --https-cert wins over --tls-cert.
    let d = start(
        &[
            "--https",
            "--https-cert",
            &s2,
            "--https-key",
            &k2,
            "--tls-cert",
            &s1,
            "--tls-key",
            &k1,
        ],
        &[],
    );
    check(&d, &pki.server2.der);
    // AFB_HTTPS_CERT/KEY, then AFB_TLS_CERT/KEY.
    let d = start(
        &["--https"],
        &[
            ("AFB_HTTPS_CERT", &s2),
            ("AFB_HTTPS_KEY", &k2),
            ("AFB_TLS_CERT", &s1),
            ("AFB_TLS_KEY", &k1),
        ],
    );
    check(&d, &pki.server2.der);
    let d = start(&["--https"], &[("AFB_TLS_CERT", &s1), ("AFB_TLS_KEY", &k1)]);
    check(&d, &pki.server.der);
    // $AFB_HTTPS_PREFIX/cert.pem and key.pem.
    let prefix = TempDir::new("https-prefix");
    std::fs::copy(&pki.server2.cert, prefix.path().join("cert.pem")).unwrap();
    std::fs::copy(&pki.server2.key, prefix.path().join("key.pem")).unwrap();
    let d = start(&["--https"], &[("AFB_HTTPS_PREFIX", prefix.path().to_str().unwrap())]);
    check(&d, &pki.server2.der);
    // Missing or bad files: a start-up error naming the file.
    let missing = pki.dir().join("nothing.pem");
    let bad = pki.dir().join("bad.pem");
    std::fs::write(&bad, "-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----\n").unwrap();
    for (args, file) in [
        (
            vec!["--https", "--https-cert", missing.to_str().unwrap(), "--https-key", &k1],
            p(&missing),
        ),
        (
            vec!["--https", "--https-cert", bad.to_str().unwrap(), "--https-key", &k1],
            p(&bad),
        ),
        (vec!["--https", "--https-cert", &s1, "--https-key", &k2], k2.clone()),
    ] {
        let out = std::process::Command::new(afb_testkit::bin_path("afb-daemon"))
            .args(["--port", &free_port().to_string()])
            .args(&args)
            .env_remove("AFB_HTTPS_CERT")
            .env_remove("AFB_HTTPS_KEY")
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&file) && err.contains("--https"), "{args:?}: {err}");
    }
}
