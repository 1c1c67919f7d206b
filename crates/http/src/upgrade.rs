//! RPC v3 on the API root: an HTTP/1.1 `GET {rootapi}` (exactly, a query
//! allowed) upgraded with `Connection: Upgrade` and `Upgrade: x-afb-rpc`
//! (the raw RPC stream follows the `101`), or a WebSocket upgrade whose
//! first known subprotocol is `x-afb-ws-rpc` (RPC inside binary messages).
//! The HTTP layer answers the upgrade and hands the connection, with the
//! session and token of the request, to the [`RpcUpgrade`] installed with
//! [`crate::HttpServer::set_rpc_upgrade`]; without one, these requests are
//! not upgrades (the raw one gets 404 at `{rootapi}`).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use http::header::{HeaderMap, HeaderValue, CONNECTION, UPGRADE};
use http::{Method, Request, Response, StatusCode, Version};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::task::TaskTracker;

use crate::ws::WsClientInit;
use crate::{empty, Body};

/// The `Upgrade` value of RPC on a raw stream.
pub const RPC_UPGRADE: &str = "x-afb-rpc";

/// An upgraded HTTP connection.
pub trait UpgradedIo: AsyncRead + AsyncWrite + Send + Unpin + 'static {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> UpgradedIo for T {}

/// How RPC runs on an upgraded connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RpcMode {
    /// `Upgrade: x-afb-rpc`: the raw stream.
    Raw,
    /// The WebSocket subprotocol `x-afb-ws-rpc`: binary messages.
    WebSocket,
}

/// What serves RPC on upgraded connections (the daemon installs the RPC
/// transport).
pub trait RpcUpgrade: Send + Sync + 'static {
    /// Serves one connection until it ends; `client` holds the session and
    /// token of the upgrade request.
    fn serve(
        &self,
        io: Box<dyn UpgradedIo>,
        mode: RpcMode,
        client: WsClientInit,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>>;
}

/// The comma/space/tab-separated tokens of every occurrence of a header.
fn has_token(headers: &HeaderMap, name: &http::header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split([',', ' ', '\t']))
        .any(|t| t.eq_ignore_ascii_case(token))
}

/// Whether `req` asks for the raw RPC upgrade: GET, HTTP/1.1, `Connection`
/// holding `Upgrade`, `Upgrade` whose whole value is `x-afb-rpc`.
pub fn is_rpc_upgrade<B>(req: &Request<B>) -> bool {
    req.method() == Method::GET
        && req.version() == Version::HTTP_11
        && has_token(req.headers(), &CONNECTION, "upgrade")
        && req
            .headers()
            .get(UPGRADE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case(RPC_UPGRADE))
}

/// Answers `101` with `Connection: Upgrade` and the `Upgrade` given, and
/// serves the connection with `handler` once hyper hands it over.
pub(crate) fn switch(
    req: Request<Incoming>,
    mut response: Response<Body>,
    handler: Arc<dyn RpcUpgrade>,
    mode: RpcMode,
    client: WsClientInit,
    tracker: &TaskTracker,
) -> Response<Body> {
    tracker.spawn(async move {
        match hyper::upgrade::on(req).await {
            Ok(upgraded) => handler.serve(Box::new(TokioIo::new(upgraded)), mode, client).await,
            Err(e) => tracing::debug!("RPC upgrade did not complete: {e}"),
        }
    });
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    response
}

/// The `101` of the raw upgrade (no body).
pub(crate) fn raw_response() -> Response<Body> {
    let mut r = Response::new(empty());
    r.headers_mut().insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    r.headers_mut().insert(UPGRADE, HeaderValue::from_static(RPC_UPGRADE));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: &str, version: Version, headers: &[(&str, &str)]) -> Request<()> {
        let mut b = Request::builder().method(method).uri("/api").version(version);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap()
    }

    #[test]
    fn conditions_of_the_raw_upgrade() {
        let h11 = Version::HTTP_11;
        assert!(is_rpc_upgrade(&req(
            "GET",
            h11,
            &[("connection", "Upgrade"), ("upgrade", "x-afb-rpc")]
        )));
        assert!(is_rpc_upgrade(&req(
            "GET",
            h11,
            &[("connection", "keep-alive,\tUPGRADE"), ("upgrade", "X-AFB-RPC")]
        )));
        for (m, v, h) in [
            ("POST", h11, [("connection", "Upgrade"), ("upgrade", "x-afb-rpc")]),
            (
                "GET",
                Version::HTTP_10,
                [("connection", "Upgrade"), ("upgrade", "x-afb-rpc")],
            ),
            ("GET", h11, [("connection", "keep-alive"), ("upgrade", "x-afb-rpc")]),
            (
                "GET",
                h11,
                [("connection", "Upgrade"), ("upgrade", "x-afb-rpc, websocket")],
            ),
            ("GET", h11, [("connection", "Upgrade"), ("upgrade", "websocket")]),
        ] {
            assert!(!is_rpc_upgrade(&req(m, v, &h)), "{m} {v:?} {h:?}");
        }
    }
}
