//! Test support for the WebSocket tests: a minimal hyper server on a free
//! loopback port routing `GET /api` upgrades to `afb_http::ws::handle_upgrade`
//! with a real registry holding the sample APIs, and a tokio-tungstenite
//! client speaking x-afb-ws-json1.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use afb_core::{Registry, RegistryConfig, Session};
use afb_http::ws::{handle_upgrade, WsClientInit, WsConfig};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;

/// How long a test waits for anything.
pub const WAIT: Duration = Duration::from_secs(10);

/// A hyper server with the WebSocket endpoint on `/api`.
pub struct Server {
    pub addr: SocketAddr,
    pub registry: Arc<Registry>,
    /// `WsConfig::shutdown` of every connection.
    pub shutdown: CancellationToken,
    stop: CancellationToken,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.cancel();
        self.shutdown.cancel();
    }
}

/// The sample APIs, started.
pub async fn registry() -> Arc<Registry> {
    let registry = Registry::new(RegistryConfig::default());
    for api in [
        afb_sample_hello::api(),
        afb_sample_tictactoe::api(),
        afb_sample_auth::api(),
    ] {
        api.register(&registry).expect("register sample API");
    }
    registry.start().await.expect("start the sample APIs");
    registry
}

fn query_value(query: &str, key: &str) -> Option<String> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v.to_owned())
}

impl Server {
    /// A server with the default WebSocket settings.
    pub async fn start() -> Server {
        Self::start_with(WsConfig::default()).await
    }

    /// A server with these WebSocket settings (its `shutdown` is replaced
    /// by the server's own token).
    pub async fn start_with(config: WsConfig) -> Server {
        let registry = registry().await;
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
        let addr = listener.local_addr().expect("local address");
        let shutdown = CancellationToken::new();
        let stop = CancellationToken::new();
        let config = WsConfig {
            shutdown: shutdown.clone(),
            ..config
        };
        let reg = registry.clone();
        let stop2 = stop.clone();
        tokio::spawn(async move {
            loop {
                let (tcp, _) = tokio::select! {
                    r = listener.accept() => match r { Ok(x) => x, Err(_) => continue },
                    () = stop2.cancelled() => return,
                };
                let _ = tcp.set_nodelay(true);
                let reg = reg.clone();
                let config = config.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        let reg = reg.clone();
                        let config = config.clone();
                        async move {
                            let resp = route(req, reg, config);
                            Ok::<_, std::convert::Infallible>(resp)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), svc)
                        .with_upgrades()
                        .await;
                });
            }
        });
        Server {
            addr,
            registry,
            shutdown,
            stop,
        }
    }

    /// `ws://ADDR/api`.
    pub fn url(&self) -> String {
        format!("ws://{}/api", self.addr)
    }

    /// A client on a new session.
    pub async fn client(&self) -> Client {
        Client::connect(&self.url()).await
    }

    /// A client on an existing session, presenting `token`.
    pub async fn client_of(&self, session: &Session, token: Option<&str>) -> Client {
        let mut url = format!("{}?x-afb-uuid={}", self.url(), session.uuid());
        if let Some(t) = token {
            url.push_str(&format!("&x-afb-token={t}"));
        }
        Client::connect(&url).await
    }

    /// A new session in the registry.
    pub fn new_session(&self) -> Arc<Session> {
        self.registry.sessions().create().expect("create a session")
    }

    /// Waits until `f` holds (polling), panicking after [`WAIT`].
    pub async fn wait_until(&self, what: &str, f: impl Fn() -> bool) {
        let t0 = tokio::time::Instant::now();
        while !f() {
            assert!(t0.elapsed() < WAIT, "timed out waiting until {what}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// What the daemon's HTTP layer does for upgrades, minimally: session from
/// the `x-afb-uuid` query argument (a new one when unknown), token from
/// `x-afb-token`.
fn route(
    req: hyper::Request<hyper::body::Incoming>,
    registry: Arc<Registry>,
    config: WsConfig,
) -> http::Response<Full<Bytes>> {
    if req.uri().path() != "/api" || !req.headers().contains_key(http::header::UPGRADE) {
        let mut r = http::Response::new(Full::new(Bytes::from_static(b"not found")));
        *r.status_mut() = http::StatusCode::NOT_FOUND;
        return r;
    }
    let query = req.uri().query().unwrap_or("").to_owned();
    let session = query_value(&query, "x-afb-uuid")
        .and_then(|u| registry.sessions().get(&u))
        .unwrap_or_else(|| registry.sessions().create().expect("create a session"));
    let token = query_value(&query, "x-afb-token").map(Arc::from);
    let init = WsClientInit {
        session,
        token,
        creds: None,
        remote: None,
    };
    handle_upgrade(req, registry, init, config)
}

/// A tokio-tungstenite client speaking x-afb-ws-json1.
pub struct Client {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// Events received while waiting for replies (their text).
    pub events: Vec<String>,
}

impl Client {
    /// Connects offering `x-afb-ws-json1`.
    pub async fn connect(url: &str) -> Client {
        let mut req = url.into_client_request().expect("client request");
        req.headers_mut().insert(
            "sec-websocket-protocol",
            "x-afb-ws-json1".parse().expect("header value"),
        );
        let (ws, resp) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(req))
            .await
            .expect("connect in time")
            .expect("WebSocket handshake");
        assert_eq!(resp.status(), 101);
        assert_eq!(resp.headers()["sec-websocket-protocol"], "x-afb-ws-json1");
        Client { ws, events: Vec::new() }
    }

    /// Sends a text message.
    pub async fn send(&mut self, text: &str) {
        self.ws.send(Message::text(text)).await.expect("send a text message");
    }

    /// Sends several text messages with one flush.
    pub async fn send_all(&mut self, texts: impl IntoIterator<Item = String>) {
        for t in texts {
            self.ws.feed(Message::text(t)).await.expect("queue a text message");
        }
        self.ws.flush().await.expect("flush");
    }

    /// The next message of any kind (`None`: the stream ended), within [`WAIT`].
    pub async fn next(&mut self) -> Option<Result<Message, tokio_tungstenite::tungstenite::Error>> {
        tokio::time::timeout(WAIT, self.ws.next())
            .await
            .expect("a message in time")
    }

    /// The next text message, as text.
    pub async fn recv_text(&mut self) -> String {
        loop {
            match self.next().await {
                Some(Ok(Message::Text(t))) => return t.to_string(),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                other => panic!("expected a text message, got {other:?}"),
            }
        }
    }

    /// The next text message, parsed.
    pub async fn recv(&mut self) -> Value {
        let t = self.recv_text().await;
        serde_json::from_str(&t).unwrap_or_else(|e| panic!("invalid JSON from the server ({e}): {t}"))
    }

    /// Waits for the reply to `id` (`[3|4,"id",…]`), keeping events in
    /// `self.events`; panics on a reply to another id.
    pub async fn reply_to(&mut self, id: &str) -> Value {
        loop {
            let t = self.recv_text().await;
            let m: Value = serde_json::from_str(&t).unwrap_or_else(|e| panic!("invalid JSON ({e}): {t}"));
            match m[0].as_u64() {
                Some(5) => self.events.push(t),
                Some(3 | 4) if m[1] == id => return m,
                _ => panic!("expected the reply to {id}, got {m}"),
            }
        }
    }

    /// Calls `api_verb` with `args` (JSON text) and returns the reply message.
    pub async fn call(&mut self, id: &str, api_verb: &str, args: &str) -> Value {
        self.send(&format!(r#"[2,"{id}","{api_verb}",{args}]"#)).await;
        self.reply_to(id).await
    }

    /// Calls and asserts success; returns the reply message.
    pub async fn call_ok(&mut self, id: &str, api_verb: &str, args: &str) -> Value {
        let r = self.call(id, api_verb, args).await;
        assert_eq!(r[0], 3, "{api_verb} {args} failed: {r}");
        r
    }

    /// Waits for the close frame the server sends (after any text
    /// messages, which are returned), and returns its code.
    pub async fn expect_close(&mut self) -> (Option<CloseCode>, Vec<String>) {
        let mut texts = Vec::new();
        loop {
            match self.next().await {
                Some(Ok(Message::Close(frame))) => return (frame.map(|f: CloseFrame| f.code), texts),
                Some(Ok(Message::Text(t))) => texts.push(t.to_string()),
                Some(Ok(_)) => {}
                Some(Err(e)) => panic!("expected a close frame, got the error {e}"),
                None => panic!("expected a close frame, the stream ended"),
            }
        }
    }
}

/// The `request.status` of a reply message.
pub fn status(reply: &Value) -> &str {
    reply[2]["request"]["status"].as_str().unwrap_or("")
}
