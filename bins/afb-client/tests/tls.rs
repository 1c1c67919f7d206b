//! `afb-client` over TLS against the real daemon: `wss://` and `https://`
//! URLs checked with `--cacert`, client certificates with `--cert` and
//! `--key`, and `tls+`/`mtls+` wsapi URIs with `-d`; refusals give exit
//! code 5 and the reason.

mod common;

use afb_testkit::certs::TestPki;
use afb_testkit::{free_port, Daemon, DaemonOpts};
use common::{run, In};

fn s(p: &std::path::Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn wss_and_https_urls_with_cacert_cert_and_key() {
    let pki = TestPki::new("client-wss");
    let ca = s(&pki.ca.cert);
    let d = Daemon::start(&[
        "--https",
        "--tls-cert",
        s(&pki.server.cert),
        "--tls-key",
        s(&pki.server.key),
        "--https-client-auth",
        "optional",
        "--tls-trust",
        ca,
    ]);
    let port = d.port;
    for url in [
        format!("wss://localhost:{port}/api"),
        format!("https://127.0.0.1:{port}/api"),
    ] {
        let r = run(&["--cacert", ca, &url, "hello", "ping", "true"], In::Null);
        assert_eq!(r.code, 0, "{url}: {r:?}");
        assert!(r.stdout.contains("Some String"), "{url}: {r:?}");
    }
    // The client certificate reaches the verb.
    let r = run(
        &[
            "--cacert",
            ca,
            "--cert",
            s(&pki.client.cert),
            "--key",
            s(&pki.client.key),
            &format!("wss://localhost:{port}/api"),
            "hello",
            "info",
        ],
        In::Null,
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("CN=client1"), "{r:?}");
    // The system store does not know the test CA; another CA neither.
    for args in [vec![], vec!["--cacert", s(&pki.other_ca.cert)]] {
        let mut all = args.clone();
        let url = format!("wss://localhost:{port}/api");
        all.extend([url.as_str(), "hello", "ping"]);
        let r = run(&all, In::Null);
        assert_eq!(r.code, 5, "{args:?}: {r:?}");
        assert!(r.stderr.contains("UnknownIssuer"), "{args:?}: {r:?}");
    }
    // The name in the URL must be the certificate's.
    let r = run(
        &["--cacert", ca, &format!("wss://127.0.0.2:{port}/api"), "hello", "ping"],
        In::Null,
    );
    assert_ne!(r.code, 0, "{r:?}");
    // ws:// to an HTTPS port fails.
    let r = run(&[&format!("ws://localhost:{port}/api"), "hello", "ping"], In::Null);
    assert_eq!(r.code, 5, "{r:?}");
}

#[test]
fn tls_and_mtls_wsapi_uris_with_d() {
    let pki = TestPki::new("client-d");
    let ca = s(&pki.ca.cert);
    let port = free_port();
    let d = Daemon::start_with(DaemonOpts {
        args: [
            "--ws-server",
            &format!("mtls+tcp:127.0.0.1:{port}/hello"),
            "--tls-cert",
            s(&pki.server.cert),
            "--tls-key",
            s(&pki.server.key),
            "--tls-trust",
            ca,
        ]
        .iter()
        .map(|a| a.to_string())
        .collect(),
        ..DaemonOpts::default()
    });
    d.wait_log(std::time::Duration::from_secs(10), |l| {
        l.contains("exporting API hello")
    });
    let uri = format!("mtls+tcp:localhost:{port}/hello");
    let client = ["--cert", s(&pki.client.cert), "--key", s(&pki.client.key)];
    let mut args = vec!["-d", "--cacert", ca];
    args.extend(client);
    args.extend([uri.as_str(), "info"]);
    let r = run(&args, In::Null);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("CN=client1"), "{r:?}");
    // The URI's own material.
    let with_query = format!(
        "mtls+tcp:localhost:{port}/hello?trust={ca}&cert={}&key={}",
        s(&pki.client.cert),
        s(&pki.client.key)
    );
    let r = run(&["-d", &with_query, "ping"], In::Null);
    assert_eq!(r.code, 0, "{r:?}");
    // mtls+ without a certificate: refused before connecting.
    let r = run(&["-d", "--cacert", ca, &uri, "ping"], In::Null);
    assert_eq!(r.code, 4, "{r:?}");
    assert!(r.stderr.contains("needs a certificate"), "{r:?}");
    // tls+ without a certificate to an mTLS server: the server refuses.
    let r = run(
        &["-d", "--cacert", ca, &format!("tls+tcp:localhost:{port}/hello"), "ping"],
        In::Null,
    );
    assert_ne!(r.code, 0, "{r:?}");
}
