//! The `x-afb-ws-json1` WebSocket server: upgrade on the API root, then one
//! connection task per client running calls, replies and events.
//!
//! STATUS: interface only; the implementation is being written.

use std::sync::Arc;

use afb_core::{Credentials, Registry, Session};
use bytes::Bytes;
use http_body_util::Full;
use tokio_util::sync::CancellationToken;

/// Settings of WebSocket connections.
#[derive(Debug, Clone)]
pub struct WsConfig {
    /// Largest message accepted, all fragments together (`--ws-maxlen`);
    /// bigger closes the connection with 1009.
    pub max_message: usize,
    /// Outgoing messages queued per connection before the client is
    /// considered stuck and the connection closed.
    pub send_queue: usize,
    /// Calls in flight per connection; beyond, calls are refused.
    pub max_inflight: usize,
    /// Cancelled when the daemon shuts down: connections close.
    pub shutdown: CancellationToken,
}

impl Default for WsConfig {
    fn default() -> Self {
        WsConfig {
            max_message: 1_048_500,
            send_queue: 1024,
            max_inflight: 4096,
            shutdown: CancellationToken::new(),
        }
    }
}

/// Who the connection belongs to, as resolved from the upgrade request
/// (cookie, headers, query) by the HTTP layer.
#[derive(Debug, Clone)]
pub struct WsClientInit {
    /// The connection's session.
    pub session: Arc<Session>,
    /// The token presented at upgrade.
    pub token: Option<Arc<str>>,
    /// Peer credentials (unix sockets).
    pub creds: Option<Credentials>,
}

/// Answers a WebSocket upgrade request on the API root: checks version and
/// subprotocol (426 / 412), answers 101 and spawns the connection task.
pub fn handle_upgrade(
    _req: hyper::Request<hyper::body::Incoming>,
    _registry: Arc<Registry>,
    _init: WsClientInit,
    _config: WsConfig,
) -> http::Response<Full<Bytes>> {
    let mut r = http::Response::new(Full::new(Bytes::from_static(b"WebSocket not implemented yet")));
    *r.status_mut() = http::StatusCode::NOT_IMPLEMENTED;
    r
}
