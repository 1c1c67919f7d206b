//! The baselines: what the binder is compared with, with no binder logic at all.
//!
//! - `serve-hyper`: a plain hyper HTTP/1.1 server answering every request with fixed bytes,
//!   those of the daemon's `hello/ping` reply (same headers: JSON content type, session
//!   cookie; same body size); with `--cert`/`--key`, over tokio-rustls (the HTTPS baseline).
//! - `serve-echo`: a plain tokio-tungstenite WebSocket server (subprotocol `x-afb-ws-json1`
//!   accepted) answering each text message with the same text, one `send` (write and flush)
//!   per message; with `--batch`, replies are queued without a flush while more messages are
//!   already buffered, then flushed once (fewer write system calls under pipelined load).
//!
//! Both run on a current-thread runtime by default (the server is pinned to one CPU), or on a
//! multi-thread runtime with `--workers N`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::{FutureExt, SinkExt, StreamExt};
use http_body_util::Full;
use hyper::{Request, Response};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::handshake::server::{Request as WsRequest, Response as WsResponse};
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;

/// The body of the daemon's reply to `GET /api/hello/ping` in a known session, as it is once
/// the call counter has six digits (the size the daemon's replies have during a run).
pub const PING_REPLY: &str = r#"{"jtype":"afb-reply","request":{"status":"success","code":0,"info":"Ping Binder Daemon tag=pingSample count=100000 query=null"},"response":"Some String"}"#;

fn runtime(workers: usize) -> std::io::Result<tokio::runtime::Runtime> {
    if workers <= 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build()
    }
}

/// A plain rustls server configuration (ring, TLS 1.3 and 1.2, ALPN `http/1.1`) from PEM
/// files: the TLS of the HTTPS baseline, built without any code of the binder.
fn rustls_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|i| i.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{}: {e}", cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{}: {e}", key.display()))?;
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut c = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| e.to_string())?;
    c.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(c))
}

/// Runs the hyper baseline on `127.0.0.1:port` until killed; over TLS (tokio-rustls) with
/// `tls` = (certificate, key).
pub fn serve_hyper(port: u16, workers: usize, tls: Option<(&Path, &Path)>) -> Result<(), String> {
    let rt = runtime(workers).map_err(|e| e.to_string())?;
    let acceptor = match tls {
        Some((cert, key)) => Some(tokio_rustls::TlsAcceptor::from(rustls_config(cert, key)?)),
        None => None,
    };
    rt.block_on(async move {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port)))
            .await
            .map_err(|e| format!("bind port {port}: {e}"))?;
        let cookie = HeaderValue::from_str(&format!(
            "x-afb-uuid-{port}=6f2b1d9e-5a0c-4c1e-9a57-0d1f3b2c4e5f; Path=/; Max-Age=32000000; HttpOnly; SameSite=Lax"
        ))
        .map_err(|e| e.to_string())?;
        loop {
            let (sock, _) = match listener.accept().await {
                Ok(a) => a,
                Err(e) => {
                    eprintln!("serve-hyper: accept: {e}");
                    continue;
                }
            };
            let _ = sock.set_nodelay(true);
            let cookie = cookie.clone();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |_req: Request<hyper::body::Incoming>| {
                    let cookie = cookie.clone();
                    async move {
                        let mut r = Response::new(Full::new(Bytes::from_static(PING_REPLY.as_bytes())));
                        let h = r.headers_mut();
                        h.insert(
                            hyper::header::CONTENT_TYPE,
                            HeaderValue::from_static("application/json"),
                        );
                        h.insert(hyper::header::SET_COOKIE, cookie);
                        Ok::<_, Infallible>(r)
                    }
                });
                let http = hyper::server::conn::http1::Builder::new();
                match acceptor {
                    Some(a) => {
                        if let Ok(s) = a.accept(sock).await {
                            let _ = http.serve_connection(hyper_util::rt::TokioIo::new(s), svc).await;
                        }
                    }
                    None => {
                        let _ = http.serve_connection(hyper_util::rt::TokioIo::new(sock), svc).await;
                    }
                }
            });
        }
    })
}

/// Runs the WebSocket echo baseline on `127.0.0.1:port` until killed.
// The handshake callback's error type is tungstenite's (a whole HTTP response).
#[allow(clippy::result_large_err)]
pub fn serve_echo(port: u16, workers: usize, batch: bool) -> Result<(), String> {
    let rt = runtime(workers).map_err(|e| e.to_string())?;
    rt.block_on(async move {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port)))
            .await
            .map_err(|e| format!("bind port {port}: {e}"))?;
        loop {
            let (sock, _) = match listener.accept().await {
                Ok(a) => a,
                Err(e) => {
                    eprintln!("serve-echo: accept: {e}");
                    continue;
                }
            };
            let _ = sock.set_nodelay(true);
            tokio::spawn(async move {
                let pick = |req: &WsRequest, mut resp: WsResponse| {
                    let wants = req
                        .headers()
                        .get_all("sec-websocket-protocol")
                        .iter()
                        .filter_map(|v| v.to_str().ok())
                        .flat_map(|v| v.split(','))
                        .any(|p| p.trim() == "x-afb-ws-json1");
                    if wants {
                        resp.headers_mut()
                            .insert("sec-websocket-protocol", HeaderValue::from_static("x-afb-ws-json1"));
                    }
                    Ok(resp)
                };
                let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(sock, pick).await else {
                    return;
                };
                if !batch {
                    while let Some(Ok(msg)) = ws.next().await {
                        let reply = match msg {
                            Message::Text(_) | Message::Binary(_) => msg,
                            Message::Close(_) => return,
                            _ => continue,
                        };
                        if ws.send(reply).await.is_err() {
                            return;
                        }
                    }
                    return;
                }
                while let Some(Ok(msg)) = ws.next().await {
                    let mut msg = msg;
                    loop {
                        let reply = match msg {
                            Message::Text(_) | Message::Binary(_) => Some(msg),
                            Message::Close(_) => return,
                            // Pings are answered by tungstenite itself.
                            _ => None,
                        };
                        if let Some(reply) = reply {
                            if ws.feed(reply).await.is_err() {
                                return;
                            }
                        }
                        // More messages already buffered: answer them before flushing.
                        match ws.next().now_or_never() {
                            Some(Some(Ok(m))) => msg = m,
                            Some(_) => return,
                            None => break,
                        }
                    }
                    if ws.flush().await.is_err() {
                        return;
                    }
                }
            });
        }
    })
}
