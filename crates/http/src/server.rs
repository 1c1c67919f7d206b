//! The server: one accept loop per listener (any `afb-endpoint` listener:
//! TCP, unix socket, socket passed by systemd, and TLS over them for
//! HTTPS, see [`alpn_protocols`]), one hyper connection task per client
//! (HTTP/1.1 keep-alive and upgrades; HTTP/2 too with the `http2` cargo
//! feature), the router, and the graceful shutdown.
//!
//! Router (see `route`):
//! 1. request target longer than `max_url` -> 414; an API request (2, 3)
//!    coming from another site's page -> 403 ([`crate::origin`]);
//!    A `GET` of a generated document (metrics, OpenAPI catalogue, see
//!    [`Documents`]) is answered at once;
//! 2. `GET {rootapi}` or `{rootapi}/` with `Upgrade: websocket` ->
//!    [`crate::ws::handle_upgrade`] with the session and token resolved as
//!    for REST calls (the response gets the session cookie);
//! 3. `{rootapi}/...` -> [`crate::rest`];
//! 4. anything else -> [`crate::statics`].
//!
//! Shutdown: [`HttpServer::shutdown`] stops the accept loops, asks every
//! connection to finish its current request and close, waits up to the
//! grace period, then cancels what is still running (the core answers
//! those requests `disconnected`) and waits briefly for those answers.

use std::convert::Infallible;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use afb_core::session::SessionError;
use afb_core::{Args, CertIdentity, Credentials, Registry};
use afb_endpoint::Listener;
use http::header::{HeaderValue, CONNECTION, SET_COOKIE, UPGRADE};
use http::{Request, Response, StatusCode};
use http_body_util::Either;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::statics::Statics;
use crate::upgrade::{RpcMode, RpcUpgrade};
use crate::ws::{WsClientInit, WsConfig};
use crate::{full, lookup, query, rest, Body, HttpConfig, Limits};

/// A configuration error of the HTTP server.
#[derive(Debug, Clone)]
pub struct HttpError(pub String);

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for HttpError {}

/// What every request handler shares.
pub(crate) struct State {
    pub(crate) registry: Arc<Registry>,
    pub(crate) rootapi: String,
    pub(crate) cookie_name: String,
    cookie_prefix: String,
    cookie_suffix: String,
    pub(crate) limits: Limits,
    pub(crate) upload_dir: std::path::PathBuf,
    pub(crate) ws: WsConfig,
    origins: crate::origin::OriginPolicy,
    statics: Statics,
    /// RPC v3 on upgraded connections, once installed.
    rpc: std::sync::OnceLock<Arc<dyn RpcUpgrade>>,
    /// Generated documents (metrics, API catalogue), once installed.
    documents: std::sync::OnceLock<Arc<dyn Documents>>,
}

/// A generated document: its content type and bytes.
pub type Document = (&'static str, Vec<u8>);

/// Documents the daemon generates on `GET` (the metrics, the OpenAPI
/// catalogue), looked up by exact path before anything else.
pub trait Documents: Send + Sync + 'static {
    /// The document at `path`, or `None` when the path is not one of them.
    fn get(&self, path: &str) -> Option<std::pin::Pin<Box<dyn std::future::Future<Output = Document> + Send>>>;
}

impl State {
    /// `Set-Cookie: x-afb-uuid-PORT=UUID; Path=/; Max-Age=TIMEOUT; HttpOnly; SameSite=Lax`
    /// (and `; Secure` over HTTPS).
    pub(crate) fn session_cookie(&self, uuid: &str) -> Option<HeaderValue> {
        rest::cookie_value(&self.cookie_prefix, uuid, &self.cookie_suffix)
    }
}

/// What the requests of one connection share.
pub(crate) struct ConnCtx {
    /// Peer credentials (unix sockets).
    pub(crate) creds: Option<Arc<Credentials>>,
    /// The TCP peer's address.
    pub(crate) remote: Option<std::net::SocketAddr>,
    /// Cancelled when the connection ends or at the end of the shutdown
    /// grace period: the registry then answers its requests `disconnected`.
    /// It also watches the connection's requests answered asynchronously.
    pub(crate) client_cancel: afb_core::ClientCancel,
    /// The server's tasks (WebSocket connections join them).
    pub(crate) tracker: TaskTracker,
}

/// The HTTP/1.1 connection settings (one request head at a time, 30 s to
/// send it, bounded head size).
#[cfg(not(feature = "http2"))]
type ConnBuilder = hyper::server::conn::http1::Builder;
/// HTTP/1.1 and cleartext HTTP/2 (prior knowledge), told apart by the
/// connection's first bytes.
#[cfg(feature = "http2")]
type ConnBuilder = hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor>;

#[cfg(not(feature = "http2"))]
fn conn_builder(limits: &Limits) -> ConnBuilder {
    let mut b = hyper::server::conn::http1::Builder::new();
    b.keep_alive(true)
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(limits.max_header.max(8192));
    b
}

#[cfg(feature = "http2")]
fn conn_builder(limits: &Limits) -> ConnBuilder {
    let mut b = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
    b.http1()
        .keep_alive(true)
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(limits.max_header.max(8192));
    b.http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(limits.max_header).unwrap_or(u32::MAX));
    b
}

/// The ALPN protocols an HTTPS listener offers: `h2` then `http/1.1` with
/// the `http2` feature, `http/1.1` alone otherwise. (WebSocket upgrades
/// stay on HTTP/1.1: browsers open an HTTP/1.1 connection for them, the
/// server announcing no WebSocket over HTTP/2.)
pub fn alpn_protocols() -> Vec<Vec<u8>> {
    let mut v = Vec::new();
    if cfg!(feature = "http2") {
        v.push(b"h2".to_vec());
    }
    v.push(b"http/1.1".to_vec());
    v
}

struct Inner {
    state: Arc<State>,
    builder: ConnBuilder,
    tracker: TaskTracker,
    stop: CancellationToken,
    abort: CancellationToken,
}

/// The HTTP server. Cheap to clone; every clone serves the same state.
#[derive(Clone)]
pub struct HttpServer {
    inner: Arc<Inner>,
}

impl fmt::Debug for HttpServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpServer")
            .field("rootapi", &self.inner.state.rootapi)
            .field("connections", &self.inner.tracker.len())
            .finish()
    }
}

/// Normalises a URL prefix: leading `/`, no trailing `/`.
fn prefix(p: &str, what: &str) -> Result<String, HttpError> {
    let t = p.trim_end_matches('/');
    if !t.starts_with('/') || t.bytes().any(|b| b <= b' ' || b == b'?' || b == b'#') {
        return Err(HttpError(format!(
            "{what} {p:?}: expected an absolute URL path such as /api"
        )));
    }
    Ok(t.to_owned())
}

impl HttpServer {
    /// A server for `registry` with `config`. Fails on a missing static
    /// directory or a bad prefix.
    pub fn new(registry: Arc<Registry>, config: HttpConfig) -> Result<Self, HttpError> {
        let rootapi = prefix(&config.rootapi, "--rootapi")?;
        let mut config = config;
        config.rootbase = prefix(&config.rootbase, "--rootbase")?;
        let statics = Statics::new(&config).map_err(HttpError)?;
        let cookie_name = format!("x-afb-uuid-{}", config.port);
        let timeout = registry.sessions().config().timeout.as_secs();
        let limits = config.limits.clone();
        let abort = CancellationToken::new();
        if config.ws.drain_until.is_none() {
            config.ws.drain_until = Some(abort.clone());
        }
        let builder = conn_builder(&limits);
        let state = State {
            registry,
            rootapi,
            cookie_prefix: format!("{cookie_name}="),
            cookie_suffix: format!(
                "; Path=/; Max-Age={timeout}; HttpOnly; SameSite=Lax{}",
                if config.secure_cookie { "; Secure" } else { "" }
            ),
            cookie_name,
            limits,
            upload_dir: config.upload_dir,
            ws: config.ws,
            origins: config.origins,
            statics,
            rpc: std::sync::OnceLock::new(),
            documents: std::sync::OnceLock::new(),
        };
        Ok(HttpServer {
            inner: Arc::new(Inner {
                state: Arc::new(state),
                builder,
                tracker: TaskTracker::new(),
                stop: CancellationToken::new(),
                abort,
            }),
        })
    }

    /// Serves the connections of `listener` until shutdown; requests on a
    /// unix socket carry the peer's credentials, requests over TLS the
    /// certificate the client showed (HTTPS with client certificates).
    pub fn serve(&self, listener: Listener) {
        let me = self.clone();
        let stop = self.inner.stop.clone();
        self.inner.tracker.spawn(async move {
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    r = listener.accept() => match r {
                        Ok((stream, peer)) => {
                            let creds = Credentials::of_peer(
                                peer.cred().map(|c| (c.uid, c.gid, c.pid.unwrap_or(0))),
                                peer.certificate().map(|c| CertIdentity {
                                    subject: c.subject.clone(),
                                    names: c.names.clone(),
                                }),
                            )
                            .map(|mut c| {
                                c.label = peer.label().map(str::to_owned);
                                c
                            });
                            me.serve_io(stream, creds, peer.remote_addr());
                        }
                        Err(e) => accept_failed(e).await,
                    },
                }
            }
        });
    }

    /// Serves the connections of a TCP listener until shutdown.
    pub fn serve_tcp(&self, listener: TcpListener) {
        self.serve(Listener::from(listener));
    }

    /// Serves one connection (any byte stream) of a peer with `creds`
    /// (unix sockets, TLS certificates) at `remote` (TCP).
    pub fn serve_io<I>(&self, io: I, creds: Option<Credentials>, remote: Option<std::net::SocketAddr>)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let inner = self.inner.clone();
        let cancel = inner.abort.child_token();
        let ctx = Arc::new(ConnCtx {
            creds: creds.map(Arc::new),
            remote,
            client_cancel: afb_core::ClientCancel::new(cancel.clone()),
            tracker: inner.tracker.clone(),
        });
        self.inner.tracker.spawn(async move {
            let _cancel_requests_on_close = cancel.drop_guard();
            let state = inner.state.clone();
            let svc = service_fn(move |req| {
                // Routed in hyper's call, before anything waits: see `route`.
                let routed = route(&state, &ctx, req);
                let state = state.clone();
                let ctx = ctx.clone();
                async move { Ok::<_, Infallible>(finish(&state, &ctx, routed).await) }
            });
            #[cfg(not(feature = "http2"))]
            let conn = inner.builder.serve_connection(TokioIo::new(io), svc).with_upgrades();
            #[cfg(feature = "http2")]
            let conn = inner.builder.serve_connection_with_upgrades(TokioIo::new(io), svc);
            tokio::pin!(conn);
            let result = tokio::select! {
                r = conn.as_mut() => r,
                _ = inner.stop.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = result {
                tracing::debug!("HTTP connection ended: {e}");
            }
        });
    }

    /// Serves RPC v3 on the API root with `handler` (`Upgrade: x-afb-rpc`
    /// and the WebSocket subprotocol `x-afb-ws-rpc`); once only, false when
    /// one is installed already.
    pub fn set_rpc_upgrade(&self, handler: Arc<dyn RpcUpgrade>) -> bool {
        self.inner.state.rpc.set(handler).is_ok()
    }

    /// Serves the generated `documents` on `GET`; once only, false when
    /// some are installed already.
    pub fn set_documents(&self, documents: Arc<dyn Documents>) -> bool {
        self.inner.state.documents.set(documents).is_ok()
    }

    /// Number of connections and accept loops running.
    pub fn tasks(&self) -> usize {
        self.inner.tracker.len()
    }

    /// Stops accepting, lets running requests finish for up to `grace`,
    /// then cancels the rest (answered `disconnected`). Returns whether
    /// everything finished within the grace period.
    pub async fn shutdown(&self, grace: Duration) -> bool {
        let inner = &self.inner;
        inner.stop.cancel();
        inner.state.ws.shutdown.cancel();
        inner.tracker.close();
        if tokio::time::timeout(grace, inner.tracker.wait()).await.is_ok() {
            return true;
        }
        tracing::info!(
            "{} HTTP connection(s) still busy after the {grace:?} grace period: cancelling their requests",
            inner.tracker.len()
        );
        inner.abort.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(2), inner.tracker.wait()).await;
        false
    }
}

async fn accept_failed(e: std::io::Error) {
    // Out of file descriptors and the like: wait instead of spinning.
    tracing::warn!("accept failed: {e}");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

fn plain(code: StatusCode, msg: &'static str) -> Response<Body> {
    let mut r = Response::new(full(msg));
    *r.status_mut() = code;
    r
}

fn is_websocket_upgrade<B>(req: &Request<B>) -> bool {
    let has = |name, token: &str| {
        req.headers()
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    };
    has(UPGRADE, "websocket") && has(CONNECTION, "upgrade")
}

/// Size of the request head as sent: request line and `NAME: VALUE\r\n`
/// lines (within a few bytes of the original spacing).
fn head_len<B>(req: &Request<B>, target: usize) -> usize {
    let request_line = req.method().as_str().len() + target + 12;
    req.headers()
        .iter()
        .fold(request_line + 2, |n, (k, v)| n + k.as_str().len() + v.len() + 4)
}

/// Where [`route`] sent a request.
pub(crate) enum Routed {
    /// Answered.
    Now(Response<Body>),
    /// A REST call dispatched, its reply to wait for.
    Reply(rest::Pending),
    /// A REST call with a body to read.
    RestBody(Request<Incoming>),
    /// A generated document being made.
    Document(std::pin::Pin<Box<dyn std::future::Future<Output = Document> + Send>>),
    /// A static file (or a 404).
    Statics(Request<Incoming>),
}

/// Routes one request (see the module documentation) as far as it goes
/// without waiting. It runs in hyper's call of the service, so that a REST
/// call without a body is dispatched, and its request head dropped, before
/// hyper reads the connection again (see [`rest::start`]).
pub(crate) fn route(state: &State, conn: &ConnCtx, req: Request<Incoming>) -> Routed {
    let target = req.uri().path_and_query().map_or(0, |p| p.as_str().len());
    if target > state.limits.max_url {
        return Routed::Now(plain(StatusCode::URI_TOO_LONG, "URI too long\n"));
    }
    // hyper bounds its read buffer with `max_header`, but a head that
    // arrives in a few large reads can exceed it: measure the parsed head.
    if head_len(&req, target) > state.limits.max_header {
        return Routed::Now(plain(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "request header too large\n",
        ));
    }
    if req.method() == http::Method::GET {
        if let Some(doc) = state.documents.get().and_then(|d| d.get(req.uri().path())) {
            return Routed::Document(doc);
        }
    }
    let under_api = req
        .uri()
        .path()
        .strip_prefix(state.rootapi.as_str())
        .map(|rest| (rest.is_empty() || rest.starts_with('/'), rest.is_empty(), rest == "/"));
    if let Some((api, exact, slash)) = under_api {
        if api {
            if let Err(why) = state.origins.check(req.headers(), req.uri()) {
                tracing::info!("{why}");
                return Routed::Now(rest::error_response(
                    StatusCode::FORBIDDEN,
                    afb_core::status::FORBIDDEN,
                    &why,
                    None,
                ));
            }
        }
        let req = match state.rpc.get().filter(|_| exact) {
            Some(handler) => match rpc_upgrade(state, conn, req, handler) {
                Ok(upgraded) => return Routed::Now(upgraded),
                Err(req) => req,
            },
            None => req,
        };
        if (exact || slash) && is_websocket_upgrade(&req) {
            return Routed::Now(websocket(state, conn, req, &conn.tracker));
        }
        if api {
            return match rest::start(state, conn, req) {
                rest::Started::Now(r) => Routed::Now(r),
                rest::Started::Pending(p) => Routed::Reply(p),
                rest::Started::Body(req) => Routed::RestBody(req),
            };
        }
        return Routed::Statics(req);
    }
    Routed::Statics(req)
}

/// Answers what [`route`] routed.
pub(crate) async fn finish(state: &State, conn: &ConnCtx, routed: Routed) -> Response<Body> {
    match routed {
        Routed::Now(r) => r,
        Routed::Reply(pending) => pending.finish(state).await,
        Routed::RestBody(req) => rest::handle_body(state, conn, req).await,
        Routed::Document(doc) => {
            let (ctype, body) = doc.await;
            let mut r = Response::new(full(body));
            r.headers_mut()
                .insert(http::header::CONTENT_TYPE, HeaderValue::from_static(ctype));
            r.headers_mut()
                .insert(http::header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        Routed::Statics(req) => state.statics.handle(req).await,
    }
}

/// Answers an RPC upgrade request on the API root (`x-afb-rpc`, or a
/// WebSocket upgrade whose first known subprotocol is `x-afb-ws-rpc`);
/// gives any other request back.
#[allow(clippy::result_large_err)]
fn rpc_upgrade(
    state: &State,
    conn: &ConnCtx,
    req: Request<Incoming>,
    handler: &Arc<dyn RpcUpgrade>,
) -> Result<Response<Body>, Request<Incoming>> {
    let (mode, response) = if crate::upgrade::is_rpc_upgrade(&req) {
        (RpcMode::Raw, crate::upgrade::raw_response())
    } else if req.method() == http::Method::GET && is_websocket_upgrade(&req) {
        let both = [crate::ws::PROTOCOL, crate::ws::RPC_PROTOCOL];
        match crate::ws::check_handshake_for(req.headers(), &both) {
            Ok(a)
                if a.protocol
                    .as_deref()
                    .is_some_and(|p| p.eq_ignore_ascii_case(crate::ws::RPC_PROTOCOL)) =>
            {
                (RpcMode::WebSocket, a.response().map(Either::Left))
            }
            _ => return Err(req),
        }
    } else {
        return Err(req);
    };
    Ok(match upgrade_client(state, conn, &req) {
        Ok((client, _cookie)) => crate::upgrade::switch(req, response, handler.clone(), mode, client, &conn.tracker),
        Err(refusal) => refusal,
    })
}

/// The session, token and credentials of an upgrade request (as for REST
/// calls), and the cookie naming its session; `Err`: the refusal.
#[allow(clippy::result_large_err)]
fn upgrade_client(
    state: &State,
    conn: &ConnCtx,
    req: &Request<Incoming>,
) -> Result<(WsClientInit, Option<HeaderValue>), Response<Body>> {
    let args = match req.uri().query().filter(|q| !q.is_empty()) {
        Some(q) => Args::from_value(Value::Object(query::parse(q))),
        None => Args::null(),
    };
    let token = lookup::token(req.headers(), &args).map(|t| Arc::<str>::from(&*t));
    let found = lookup::session_uuid(req.headers(), &args, &state.cookie_name).map(|c| c.into_owned());
    let session = match lookup::resolve_session(state.registry.sessions(), found.as_deref()) {
        Ok((s, _)) => s,
        Err(e @ SessionError::Full { .. }) => {
            return Err(rest::error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                afb_core::status::NOT_AVAILABLE,
                &e.to_string(),
                None,
            ))
        }
        Err(e) => {
            return Err(rest::error_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                afb_core::status::INTERNAL_ERROR,
                &e.to_string(),
                None,
            ))
        }
    };
    let cookie = state.session_cookie(session.uuid());
    let init = WsClientInit {
        session,
        token,
        creds: conn.creds.as_deref().cloned(),
        remote: conn.remote,
    };
    Ok((init, cookie))
}

fn websocket(state: &State, conn: &ConnCtx, req: Request<Incoming>, tracker: &TaskTracker) -> Response<Body> {
    let (init, cookie) = match upgrade_client(state, conn, &req) {
        Ok(c) => c,
        Err(refusal) => return refusal,
    };
    let mut r = crate::ws::handle_upgrade_tracked(req, state.registry.clone(), init, state.ws.clone(), tracker)
        .map(Either::Left);
    if r.status() == StatusCode::SWITCHING_PROTOCOLS {
        if let Some(c) = cookie {
            r.headers_mut().insert(SET_COOKIE, c);
        }
    }
    r
}
