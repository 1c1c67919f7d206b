//! `tls+` and `mtls+` on the listener and the connector, over real sockets
//! with certificates made at test time: round trips over TCP and unix
//! sockets, client certificates and their identity, refusals (wrong CA,
//! expired, wrong host, no client certificate) with their messages on both
//! sides, the name rules (`host=`, common name), PEM and DER files, trust
//! directories, reloading, and garbage, truncated or stalled handshakes
//! that must not stop the listener from serving others.

use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use afb_endpoint::tls::{reload_all, ClientSettings, ServerSettings, TlsClient, TlsServer};
use afb_endpoint::{Address, Connector, Host, ListenOptions, Listener, PeerInfo, SocketUri, Stream};
use afb_testkit::certs::TestPki;
use afb_testkit::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const T: Duration = Duration::from_secs(10);

/// What the endpoint logs (handshake failures), for every test of this file.
fn log() -> Arc<Mutex<String>> {
    static LOG: OnceLock<Arc<Mutex<String>>> = OnceLock::new();
    LOG.get_or_init(|| {
        let log = Arc::new(Mutex::new(String::new()));
        let sink = log.clone();
        let writer = move || Writer(sink.clone());
        let _ = tracing_subscriber::fmt()
            .with_writer(writer)
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .try_init();
        log
    })
    .clone()
}

struct Writer(Arc<Mutex<String>>);

impl std::io::Write for Writer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push_str(&String::from_utf8_lossy(buf));
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Waits until a log line holds every piece of `parts`; returns it.
async fn log_line(parts: &[&str]) -> String {
    let log = log();
    let deadline = tokio::time::Instant::now() + T;
    loop {
        let text = log.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some(l) = text.lines().find(|l| parts.iter().all(|p| l.contains(p))) {
            return l.to_owned();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no log line with {parts:?} in:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn uri(text: &str) -> SocketUri {
    SocketUri::parse(text).unwrap_or_else(|e| panic!("{e}"))
}

fn p(path: &Path) -> String {
    path.display().to_string()
}

async fn bind(text: &str) -> Listener {
    log();
    Listener::bind(&uri(text), &ListenOptions::default())
        .await
        .unwrap_or_else(|e| panic!("bind {text}: {e}"))
}

/// A TLS listener on 127.0.0.1 with `cert`/`key` (and `query` added).
async fn server(pki: &TestPki, prefix: &str, query: &str) -> (Listener, u16) {
    let l = bind(&format!(
        "{prefix}tcp:127.0.0.1:0?cert={}&key={}{query}",
        p(&pki.server.cert),
        p(&pki.server.key)
    ))
    .await;
    let port = l.port().expect("a port");
    (l, port)
}

async fn connect(text: &str) -> Result<Stream, String> {
    let c = Connector::new(&uri(text)).map_err(|e| e.to_string())?;
    tokio::time::timeout(T, c.connect())
        .await
        .map_err(|_| "connect: timeout".to_owned())?
        .map_err(|e| e.to_string())
}

/// Connects to `target` while `l` accepts; sends a line each way. Ok:
/// what the listener knows of the peer. Err: the client's error.
async fn exchange(l: &Listener, target: &str) -> Result<PeerInfo, String> {
    let accept = async { tokio::time::timeout(T, l.accept()).await };
    let (client, accepted) = tokio::join!(connect(target), accept);
    let mut client = client?;
    let (mut server, peer) = accepted.expect("accepted in time").expect("accept");
    client.write_all(b"ping\n").await.unwrap();
    let mut buf = [0u8; 5];
    server.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"ping\n");
    server.write_all(b"pong\n").await.unwrap();
    client.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"pong\n");
    assert!(client.is_tls() && server.is_tls());
    Ok(peer)
}

/// Connects to `target`: the client must fail; its message is returned.
/// The listener must not hand the connection out.
async fn refused(l: &Listener, target: &str) -> String {
    let c = connect(target).await;
    let e = match c {
        Err(e) => e,
        // TLS 1.3: a client completes its side before the server judged
        // its certificate; the refusal comes with the first read.
        Ok(mut s) => {
            let mut buf = [0u8; 1];
            match tokio::time::timeout(T, s.read(&mut buf)).await {
                Ok(Ok(0)) => "end of stream".to_owned(),
                Ok(Ok(_)) => panic!("{target}: data from a server that should refuse"),
                Ok(Err(e)) => e.to_string(),
                Err(_) => panic!("{target}: neither refused nor served"),
            }
        }
    };
    let nothing = tokio::time::timeout(Duration::from_millis(300), l.accept()).await;
    assert!(
        nothing.is_err(),
        "{target}: the listener handed out a refused connection"
    );
    e
}

#[tokio::test]
async fn tls_over_tcp_checks_the_server_name_and_chain() {
    let pki = TestPki::new("ep-tls-tcp");
    let ca = p(&pki.ca.cert);
    let (l, port) = server(&pki, "tls+", "").await;
    assert!(l.to_string().ends_with("(TLS)"), "{l}");
    for target in [
        format!("tls+tcp:localhost:{port}/api?trust={ca}"),
        format!("tls+tcp:127.0.0.1:{port}/api?trust={ca}"),
        format!("tls+tcp:127.0.0.1:{port}/api?trust={ca}&host=localhost"),
        format!("tls+tcp:127.0.0.1:{port}/api?trust={ca}&host="),
    ] {
        let peer = exchange(&l, &target).await.unwrap_or_else(|e| panic!("{target}: {e}"));
        assert!(peer.is_tls() && peer.certificate().is_none(), "{peer}");
        assert!(peer.remote_addr().is_some_and(|a| a.ip().is_loopback()), "{peer}");
        assert!(peer.to_string().ends_with("(TLS)"), "{peer}");
    }
    // The name of host= must be in the certificate.
    let e = refused(
        &l,
        &format!("tls+tcp:127.0.0.1:{port}/api?trust={ca}&host=other.example"),
    )
    .await;
    assert!(e.contains("not valid for name") && e.contains("other.example"), "{e}");
    let line = log_line(&[&format!(":{port}"), "TLS handshake on", "failed"]).await;
    assert!(line.contains("alert") && line.contains(&p(&pki.server.cert)), "{line}");
}

#[tokio::test]
async fn wrong_ca_expired_and_other_host_are_refused_with_their_reason() {
    let pki = TestPki::new("ep-refusals");
    let ca = p(&pki.ca.cert);
    let (l, port) = server(&pki, "tls+", "").await;
    // Client trusting another CA.
    let e = refused(
        &l,
        &format!("tls+tcp:localhost:{port}/x?trust={}", p(&pki.other_ca.cert)),
    )
    .await;
    assert!(e.contains("UnknownIssuer") && e.contains("localhost"), "{e}");
    assert!(e.contains(&p(&pki.other_ca.cert)), "the message names the trust: {e}");
    let line = log_line(&[&format!("127.0.0.1:{port}"), "UnknownCA"]).await;
    assert!(line.contains("tcp peer 127.0.0.1:"), "the line names the peer: {line}");
    // Servers with an expired certificate, a certificate for another host,
    // and one of an unknown CA.
    for (issued, why) in [
        (&pki.expired, "expired"),
        (&pki.other_host, "not valid for name"),
        (&pki.untrusted, "UnknownIssuer"),
    ] {
        let l = bind(&format!(
            "tls+tcp:127.0.0.1:0?cert={}&key={}",
            p(&issued.cert),
            p(&issued.key)
        ))
        .await;
        let port = l.port().unwrap();
        let e = refused(&l, &format!("tls+tcp:localhost:{port}/x?trust={ca}")).await;
        assert!(
            e.contains(why) && e.contains("TLS handshake with tls+tcp:localhost"),
            "{why}: {e}"
        );
        log_line(&[&format!("127.0.0.1:{port}"), "TLS handshake on", "alert"]).await;
    }
    // The system store does not know the test CA.
    let e = refused(&l, &format!("tls+tcp:localhost:{port}/x")).await;
    assert!(e.contains("UnknownIssuer") || e.contains("system trust store"), "{e}");
}

#[tokio::test]
async fn mutual_tls_gives_the_client_identity_and_refuses_clients_without_certificate() {
    let pki = TestPki::new("ep-mtls");
    let ca = p(&pki.ca.cert);
    let (l, port) = server(&pki, "mtls+", &format!("&trust={ca}")).await;
    assert!(l.to_string().ends_with("(mTLS)"), "{l}");
    let client = format!("cert={}&key={}", p(&pki.client.cert), p(&pki.client.key));
    let peer = exchange(&l, &format!("mtls+tcp:localhost:{port}/x?trust={ca}&{client}"))
        .await
        .unwrap();
    let cert = peer.certificate().expect("the client's certificate");
    assert!(cert.subject.contains("CN=client1"), "{cert}");
    assert_eq!(cert.names, ["DNS:client1"]);
    assert!(peer.to_string().contains("(TLS, certificate CN=client1"), "{peer}");
    // A tls+ client holding a certificate shows it when asked.
    let peer = exchange(&l, &format!("tls+tcp:localhost:{port}/x?trust={ca}&{client}"))
        .await
        .unwrap();
    assert!(peer.certificate().is_some());
    // Without a certificate: refused by the server.
    let e = refused(&l, &format!("tls+tcp:localhost:{port}/x?trust={ca}")).await;
    assert!(!e.is_empty());
    let line = log_line(&[
        &format!("127.0.0.1:{port}"),
        "failed",
        "client certificates checked against",
    ])
    .await;
    assert!(line.contains(&ca), "{line}");
    // A certificate of another CA: refused too.
    let other = format!("cert={}&key={}", p(&pki.untrusted.cert), p(&pki.untrusted.key));
    refused(&l, &format!("mtls+tcp:localhost:{port}/x?trust={ca}&{other}")).await;
    // An mtls+ client must hold a certificate.
    let e = connect(&format!("mtls+tcp:localhost:{port}/x?trust={ca}"))
        .await
        .unwrap_err();
    assert!(e.contains("needs a certificate"), "{e}");
}

#[tokio::test]
async fn an_mtls_server_checks_the_client_name_only_when_told() {
    let pki = TestPki::new("ep-mtls-name");
    let ca = p(&pki.ca.cert);
    let client = format!("cert={}&key={}", p(&pki.client.cert), p(&pki.client.key));
    // Unlike the C binders, the server's own host name is not asked of clients.
    let (l, port) = server(&pki, "mtls+", &format!("&trust={ca}")).await;
    exchange(&l, &format!("mtls+tcp:localhost:{port}/x?trust={ca}&{client}"))
        .await
        .unwrap();
    let (l, port) = server(&pki, "mtls+", &format!("&trust={ca}&host=client1")).await;
    exchange(&l, &format!("mtls+tcp:localhost:{port}/x?trust={ca}&{client}"))
        .await
        .unwrap();
    let (l, port) = server(&pki, "mtls+", &format!("&trust={ca}&host=client2")).await;
    refused(&l, &format!("mtls+tcp:localhost:{port}/x?trust={ca}&{client}")).await;
    let line = log_line(&[&format!("127.0.0.1:{port}"), "and the name client2"]).await;
    assert!(line.contains("not valid for name"), "{line}");
}

#[tokio::test]
async fn unix_sockets_check_the_chain_and_the_name_of_host_only() {
    let pki = TestPki::new("ep-unix");
    let dir = TempDir::new("ep-tls-unix");
    let ca = p(&pki.ca.cert);
    let sock = dir.path().join("some").join("api");
    std::fs::create_dir_all(sock.parent().unwrap()).unwrap();
    let l = bind(&format!(
        "tls+unix:{}?cert={}&key={}",
        p(&sock),
        p(&pki.server.cert),
        p(&pki.server.key)
    ))
    .await;
    assert!(l.is_unix());
    let peer = exchange(&l, &format!("tls+unix:{}?trust={ca}", p(&sock)))
        .await
        .unwrap();
    assert!(peer.cred().is_some(), "unix credentials under TLS: {peer}");
    exchange(&l, &format!("tls+unix:{}?trust={ca}&host=localhost", p(&sock)))
        .await
        .unwrap();
    let e = refused(&l, &format!("tls+unix:{}?trust={ca}&host=some", p(&sock))).await;
    assert!(e.contains("not valid for name"), "{e}");
    let e = refused(&l, &format!("tls+unix:{}?trust={}", p(&sock), p(&pki.other_ca.cert))).await;
    assert!(e.contains("UnknownIssuer"), "{e}");
    drop(l);
    assert!(!sock.exists(), "the socket file goes with the listener");
}

#[tokio::test]
async fn common_name_der_files_and_trust_directories() {
    let pki = TestPki::new("ep-files");
    let dir = pki.dir();
    // A certificate without alternative names is matched on its CN.
    let cn_only = pki.ca.issue("cn-only", "localhost", &[], false);
    let l = bind(&format!(
        "tls+tcp:127.0.0.1:0?cert={}&key={}",
        p(&cn_only.cert),
        p(&cn_only.key)
    ))
    .await;
    let port = l.port().unwrap();
    let ca = p(&pki.ca.cert);
    exchange(&l, &format!("tls+tcp:localhost:{port}/x?trust={ca}"))
        .await
        .unwrap();
    let e = refused(&l, &format!("tls+tcp:127.0.0.1:{port}/x?trust={ca}")).await;
    assert!(e.contains("not valid for name"), "{e}");
    // DER certificate, key and trust.
    use rustls::pki_types::pem::PemObject;
    let key = rustls::pki_types::PrivateKeyDer::from_pem_file(&pki.server.key).unwrap();
    let ca_der = rustls::pki_types::CertificateDer::from_pem_file(&pki.ca.cert).unwrap();
    std::fs::write(dir.join("server.der"), &pki.server.der).unwrap();
    std::fs::write(dir.join("server.key.der"), key.secret_der()).unwrap();
    std::fs::write(dir.join("ca.der"), ca_der.as_ref()).unwrap();
    let l = bind(&format!(
        "tls+tcp:127.0.0.1:0?cert={}&key={}",
        p(&dir.join("server.der")),
        p(&dir.join("server.key.der"))
    ))
    .await;
    let port = l.port().unwrap();
    exchange(
        &l,
        &format!("tls+tcp:localhost:{port}/x?trust={}", p(&dir.join("ca.der"))),
    )
    .await
    .unwrap();
    // A directory of PEM files (with other files beside) as trust.
    let trust = TempDir::new("ep-trust-dir");
    std::fs::copy(&pki.ca.cert, trust.path().join("a.pem")).unwrap();
    std::fs::write(trust.path().join("README"), "not a certificate").unwrap();
    exchange(&l, &format!("tls+tcp:localhost:{port}/x?trust={}", p(trust.path())))
        .await
        .unwrap();
    // Several trust= add up.
    exchange(
        &l,
        &format!(
            "tls+tcp:localhost:{port}/x?trust={}&trust={}",
            p(&pki.other_ca.cert),
            p(&dir.join("ca.der"))
        ),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn missing_or_bad_files_are_errors_naming_them() {
    let pki = TestPki::new("ep-bad-files");
    let missing = pki.dir().join("missing.pem");
    let garbage = pki.dir().join("garbage.pem");
    std::fs::write(&garbage, "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n").unwrap();
    let listen = |q: String| async move { Listener::bind(&uri(&q), &ListenOptions::default()).await };
    for (q, file) in [
        (
            format!("tls+tcp:127.0.0.1:0?cert={}&key={}", p(&missing), p(&pki.server.key)),
            &missing,
        ),
        (
            format!("tls+tcp:127.0.0.1:0?cert={}&key={}", p(&garbage), p(&pki.server.key)),
            &garbage,
        ),
        (
            format!("tls+tcp:127.0.0.1:0?cert={}&key={}", p(&pki.server.cert), p(&missing)),
            &missing,
        ),
        (
            format!(
                "mtls+tcp:127.0.0.1:0?cert={}&key={}&trust={}",
                p(&pki.server.cert),
                p(&pki.server.key),
                p(&missing)
            ),
            &missing,
        ),
    ] {
        let e = listen(q.clone()).await.unwrap_err().to_string();
        assert!(e.contains(&p(file)), "{q}: {e}");
    }
    // A key that is not the certificate's.
    let e = listen(format!(
        "tls+tcp:127.0.0.1:0?cert={}&key={}",
        p(&pki.server.cert),
        p(&pki.client.key)
    ))
    .await
    .unwrap_err()
    .to_string();
    assert!(e.contains(&p(&pki.client.key)) && e.contains("cannot serve"), "{e}");
    // No certificate at all.
    let e = listen("tls+tcp:127.0.0.1:0".into()).await.unwrap_err().to_string();
    assert!(e.contains("needs a certificate"), "{e}");
    let e = Connector::new(&uri(&format!("tls+tcp:h:1/x?trust={}", p(&missing))))
        .unwrap_err()
        .to_string();
    assert!(e.contains(&p(&missing)), "{e}");
}

/// A raw TLS listener with a short handshake timeout.
async fn short_timeout_server(pki: &TestPki) -> (Listener, u16) {
    log();
    let mut s = ServerSettings::for_uri(&uri(&format!(
        "tls+tcp:127.0.0.1:0?cert={}&key={}",
        p(&pki.server.cert),
        p(&pki.server.key)
    )))
    .unwrap();
    s.handshake_timeout = Duration::from_secs(1);
    let tls = TlsServer::new(s).unwrap();
    let raw = Listener::bind_address(
        &Address::Tcp {
            host: Host::Name("127.0.0.1".into()),
            port: 0,
        },
        &ListenOptions::default(),
    )
    .await
    .unwrap();
    let port = raw.port().unwrap();
    (raw.into_tls(tls), port)
}

/// Whether the server closed `s` (end of stream or reset) within `limit`.
async fn closed_within(s: &mut TcpStream, limit: Duration) -> bool {
    let mut buf = [0u8; 512];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue, // an alert
        }
    }
}

#[tokio::test]
async fn stalled_truncated_and_garbage_handshakes_do_not_stop_the_listener() {
    let pki = TestPki::new("ep-stall");
    let (l, port) = short_timeout_server(&pki).await;
    let ca = p(&pki.ca.cert);
    // A silent client, and one that sends half a ClientHello.
    let mut silent = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let mut truncated = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    truncated
        .write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03])
        .await
        .unwrap();
    // Garbage.
    let mut garbage = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    garbage.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    // Others are served meanwhile.
    for _ in 0..3 {
        exchange(&l, &format!("tls+tcp:localhost:{port}/x?trust={ca}"))
            .await
            .unwrap();
    }
    assert!(closed_within(&mut garbage, T).await, "garbage is answered by closing");
    // The stalled ones are dropped once the (1 s) handshake timeout passed.
    assert!(closed_within(&mut silent, T).await, "a silent client is dropped");
    assert!(closed_within(&mut truncated, T).await, "a truncated hello is dropped");
    log_line(&[&format!("127.0.0.1:{port}"), "not done within 1 s"]).await;
    exchange(&l, &format!("tls+tcp:localhost:{port}/x?trust={ca}"))
        .await
        .unwrap();
}

#[tokio::test]
async fn reload_switches_new_connections_and_keeps_open_ones() {
    let pki = TestPki::new("ep-reload");
    let dir = TempDir::new("ep-reload-files");
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::copy(&pki.server.cert, &cert).unwrap();
    std::fs::copy(&pki.server.key, &key).unwrap();
    let l = bind(&format!("tls+tcp:127.0.0.1:0?cert={}&key={}", p(&cert), p(&key))).await;
    let port = l.port().unwrap();
    let target = format!("tls+tcp:localhost:{port}/x?trust={}", p(&pki.ca.cert));
    let served = |s: &Stream| match s {
        Stream::Tls(t) => t.get_ref().1.peer_certificates().unwrap()[0].to_vec(),
        other => panic!("{other:?}"),
    };
    let (c, a) = tokio::join!(connect(&target), l.accept());
    let (mut open_client, mut open_server) = (c.unwrap(), a.unwrap().0);
    assert_eq!(served(&open_client), pki.server.der);
    // New files, reload.
    std::fs::copy(&pki.server2.cert, &cert).unwrap();
    std::fs::copy(&pki.server2.key, &key).unwrap();
    let mine = |r: &afb_endpoint::tls::Reloaded| {
        r.what.contains(&format!("cert={}", p(&cert)).replace('/', "%2F")) || r.what.contains(&p(&cert))
    };
    let outcome: Vec<_> = reload_all().into_iter().filter(|r| mine(r)).collect();
    assert_eq!(outcome.len(), 1, "{outcome:?}");
    assert_eq!(outcome[0].result, Ok(()));
    let (c, a) = tokio::join!(connect(&target), l.accept());
    let (c, _a) = (c.unwrap(), a.unwrap());
    assert_eq!(served(&c), pki.server2.der, "new connections get the new certificate");
    // The open connection goes on.
    open_client.write_all(b"still\n").await.unwrap();
    let mut buf = [0u8; 6];
    open_server.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"still\n");
    // A failed reload keeps the material in use.
    std::fs::write(&cert, "garbage").unwrap();
    let outcome: Vec<_> = reload_all().into_iter().filter(|r| mine(r)).collect();
    let why = outcome[0].result.clone().unwrap_err();
    assert!(why.contains(&p(&cert)), "{why}");
    let (c, a) = tokio::join!(connect(&target), l.accept());
    a.unwrap();
    assert_eq!(served(&c.unwrap()), pki.server2.der);
}

#[tokio::test]
async fn client_settings_made_by_hand() {
    let pki = TestPki::new("ep-client-hand");
    let (l, port) = server(&pki, "tls+", "").await;
    let mut s = ClientSettings::new("test", Some("localhost".into()));
    s.trust = vec![pki.ca.cert.clone()];
    s.alpn = vec![b"http/1.1".to_vec()];
    s.resumption = false;
    let c = Connector::to(Address::Tcp {
        host: Host::Name("127.0.0.1".into()),
        port,
    })
    .unwrap()
    .with_tls(TlsClient::new(s).unwrap());
    let (c, a) = tokio::join!(c.connect(), l.accept());
    let (c, a) = (c.unwrap(), a.unwrap());
    assert!(c.is_tls() && a.0.is_tls());
    assert_eq!(c.alpn_protocol(), None, "the server offers no ALPN");
}

mod garbage {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
        /// Any bytes sent to a TLS listener: the connection is closed, never
        /// handed out, and the listener goes on serving.
        #[test]
        fn any_bytes_then_a_good_client(bytes in proptest::collection::vec(any::<u8>(), 0..2048), tls_record in any::<bool>()) {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                let pki = pki();
                let (l, port) = short_timeout_server(pki).await;
                let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
                let mut sent = Vec::new();
                if tls_record {
                    // A handshake record header, then the random bytes.
                    sent.extend_from_slice(&[0x16, 0x03, 0x03]);
                    sent.extend_from_slice(&u16::try_from(bytes.len()).unwrap().to_be_bytes());
                }
                sent.extend_from_slice(&bytes);
                let _ = s.write_all(&sent).await;
                let target = format!("tls+tcp:localhost:{port}/x?trust={}", p(&pki.ca.cert));
                exchange(&l, &target).await.unwrap();
                assert!(closed_within(&mut s, T).await);
            });
        }
    }

    fn pki() -> &'static TestPki {
        static PKI: OnceLock<TestPki> = OnceLock::new();
        PKI.get_or_init(|| TestPki::new("ep-prop"))
    }
}

/// A writer that hands rustls more than the socket takes, then only reads
/// (as the wsapi link does: writes without flush, then waits reading): what
/// rustls still holds must go out anyway.
#[tokio::test]
async fn data_left_in_rustls_is_sent_while_the_writer_reads() {
    let pki = TestPki::new("ep-backpressure");
    let (l, port) = server(&pki, "tls+", "").await;
    let target = format!("tls+tcp:localhost:{port}/x?trust={}", p(&pki.ca.cert));
    let (c, a) = tokio::join!(connect(&target), l.accept());
    let (mut client, (server, _)) = (c.unwrap(), a.unwrap());
    const SIZE: usize = 8 << 20;
    let writer = tokio::spawn(async move {
        let (mut rd, mut wr) = server.into_split();
        let big = vec![0x5a_u8; SIZE];
        let mut off = 0;
        while off < SIZE {
            off += wr.write(&big[off..]).await.unwrap();
        }
        // No flush: wait for the peer's answer.
        let mut ok = [0u8; 2];
        rd.read_exact(&mut ok).await.unwrap();
        ok
    });
    let mut got = 0;
    let mut buf = vec![0u8; 16 * 1024];
    let read_all = async {
        while got < SIZE {
            let n = client.read(&mut buf).await.unwrap();
            assert!(n > 0, "end of stream after {got} bytes");
            got += n;
            // A slow reader: the writer's socket stays full, so its last
            // write leaves bytes in rustls.
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    };
    tokio::time::timeout(T, read_all).await.expect("every byte arrives");
    client.write_all(b"ok").await.unwrap();
    client.flush().await.unwrap();
    assert_eq!(&tokio::time::timeout(T, writer).await.unwrap().unwrap(), b"ok");
}
