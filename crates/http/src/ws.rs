//! The `x-afb-ws-json1` WebSocket server: upgrade on the API root, then one
//! connection task per client running calls, replies and events.
//!
//! * [`handle_upgrade`] answers the upgrade request (`101`, or `426`/`412`/`400`)
//!   and spawns the connection once hyper hands the upgraded stream over.
//! * [`serve_socket`] runs a connection on any stream whose handshake is done.
//! * [`WsPeer`] / [`peers_of_session`]: calls from the server to a client
//!   (`[2,"sN","API/VERB",ARGS]`, answered by the client's `[3]`/`[4]`); the
//!   core has no hook for this yet, so code that wants it finds the open
//!   connections of a session here.
//!
//! Protocol behaviour (see `docs/protocols/wsj1.md`): every call is dispatched at
//! once (many in flight, replies in completion order); ids are echoed as JSON
//! strings; the optional 5th element of a call, and a renewed token in a
//! reply, replace the connection's token; pushed and broadcast events are
//! written `[5,"API/EVENT",{"jtype":"afb-event","event":…,"data":…}]` (one
//! wrapper), encoded once per event for all connections. Bad input: an error
//! reply `invalid-request` when an id can be read (also for a `[3]`/`[4]`
//! answering an id the server never sent), else close 1008; an event sent by
//! the client: 1008; binary frames: 1003; invalid UTF-8: 1007; client frames
//! are accepted masked or unmasked (the C client library does not mask); a message over
//! [`WsConfig::max_message`] (all fragments together): 1009; protocol errors:
//! 1002; daemon shutdown: 1001 (once the running calls are answered, or
//! answered `disconnected` at the end of the grace period). A client whose queue of
//! [`WsConfig::send_queue`] outgoing messages fills up is disconnected.
//! When a connection ends its running calls are cancelled.

mod conn;
mod handshake;
mod outbox;

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, Weak};

use afb_core::{Credentials, Registry, Reply, Session};
use bytes::Bytes;
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::sync::CancellationToken;

pub use handshake::{check as check_handshake, check_for as check_handshake_for, Accepted, PROTOCOL, RPC_PROTOCOL};

use conn::Conn;

/// Settings of WebSocket connections.
#[derive(Debug, Clone)]
pub struct WsConfig {
    /// Largest message accepted, all fragments together (`--ws-maxlen`);
    /// bigger closes the connection with 1009.
    pub max_message: usize,
    /// Outgoing messages queued per connection before the client is
    /// considered stuck and the connection closed.
    pub send_queue: usize,
    /// Calls in flight per connection; beyond, calls are refused
    /// `not-available` (`--ws-max-inflight`).
    pub max_inflight: usize,
    /// Events one connection may be subscribed to at once; beyond, a
    /// subscription fails (`--subscriptions-max`).
    pub max_subscriptions: usize,
    /// Cancelled when the daemon shuts down: connections stop reading and
    /// close (1001), after their running calls, see `drain_until`.
    pub shutdown: CancellationToken,
    /// When set, a connection being shut down first lets its running calls
    /// finish and writes their replies, until this is cancelled (the end of
    /// the grace period); the calls still running are then answered
    /// `disconnected`. `None`: close at once. [`crate::HttpServer`] sets it.
    pub drain_until: Option<CancellationToken>,
}

impl Default for WsConfig {
    fn default() -> Self {
        WsConfig {
            max_message: 1_048_500,
            send_queue: 1024,
            max_inflight: 4096,
            max_subscriptions: 4096,
            shutdown: CancellationToken::new(),
            drain_until: None,
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
    /// The TCP peer's address.
    pub remote: Option<std::net::SocketAddr>,
}

/// Answers a WebSocket upgrade request on the API root: checks version and
/// subprotocol (426 / 412, 400 for a malformed handshake), answers 101 and
/// spawns the connection task, which starts when hyper completes the upgrade
/// (the HTTP connection must be served `with_upgrades`). Must be called
/// within a tokio runtime.
pub fn handle_upgrade(
    req: hyper::Request<hyper::body::Incoming>,
    registry: Arc<Registry>,
    init: WsClientInit,
    config: WsConfig,
) -> http::Response<Full<Bytes>> {
    let accepted = match handshake::check(req.headers()) {
        Ok(a) => a,
        Err(refusal) => return refusal,
    };
    let attached = conn::Attached::new(registry, init, config);
    tokio::spawn(upgraded(req, attached));
    accepted.response()
}

/// [`handle_upgrade`] whose connection task is tracked by `tracker` (the
/// HTTP server waits for it at shutdown).
pub(crate) fn handle_upgrade_tracked(
    req: hyper::Request<hyper::body::Incoming>,
    registry: Arc<Registry>,
    init: WsClientInit,
    config: WsConfig,
    tracker: &tokio_util::task::TaskTracker,
) -> http::Response<Full<Bytes>> {
    let accepted = match handshake::check(req.headers()) {
        Ok(a) => a,
        Err(refusal) => return refusal,
    };
    let attached = conn::Attached::new(registry, init, config);
    tracker.spawn(upgraded(req, attached));
    accepted.response()
}

async fn upgraded(req: hyper::Request<hyper::body::Incoming>, attached: conn::Attached) {
    match hyper::upgrade::on(req).await {
        Ok(upgraded) => conn::run(TokioIo::new(upgraded), attached).await,
        Err(e) => tracing::debug!("WebSocket upgrade did not complete: {e}"),
    }
}

/// Runs one `x-afb-ws-json1` connection on a stream whose opening handshake
/// is done, until it ends.
pub async fn serve_socket<S>(stream: S, registry: Arc<Registry>, init: WsClientInit, config: WsConfig)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    conn::run(stream, conn::Attached::new(registry, init, config)).await
}

/// A handle on an open connection, to call its client.
#[derive(Clone)]
pub struct WsPeer(Arc<Conn>);

impl WsPeer {
    /// The connection's session.
    pub fn session(&self) -> &Arc<Session> {
        self.0.session()
    }

    /// Whether the connection is still open.
    pub fn is_open(&self) -> bool {
        self.0.is_open()
    }

    /// Calls `api_verb` (`"API/VERB"`) on the client with `args`: sends
    /// `[2,"sN","API/VERB",ARGS]` and resolves with the client's answer
    /// (`[3]` gives a success reply, `[4]` an error reply, both read from the
    /// `afb-reply` envelope), with `disconnected` if the connection ends (or
    /// its queue is full) before, or `not-available` when 1024 calls already
    /// wait on this connection. There is no timeout: wrap the future in one;
    /// dropping it forgets the call (a late answer then gets an
    /// `invalid-request` error reply, as any answer to an unknown id).
    pub fn call(&self, api_verb: &str, args: &afb_wsj1::RawValue) -> impl Future<Output = Reply> + Send + 'static {
        self.0.call_client(api_verb, args)
    }
}

impl std::fmt::Debug for WsPeer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsPeer")
            .field("session", &self.session().uuid())
            .field("open", &self.is_open())
            .finish()
    }
}

/// The open WebSocket connections of the session `uuid`, oldest first.
pub fn peers_of_session(uuid: &str) -> Vec<WsPeer> {
    peers::of_session(uuid)
}

/// The table of open connections by session uuid (process-wide: uuids are
/// random, so sessions of several registries never mix).
mod peers {
    use super::*;

    type Table = HashMap<Arc<str>, Vec<Weak<Conn>>>;

    static PEERS: LazyLock<Mutex<Table>> = LazyLock::new(Mutex::default);

    fn table() -> MutexGuard<'static, Table> {
        PEERS.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn register(c: &Arc<Conn>) {
        table()
            .entry(c.session().uuid_arc())
            .or_default()
            .push(Arc::downgrade(c));
    }

    pub(super) fn unregister(c: &Arc<Conn>) {
        let mut t = table();
        let uuid = c.session().uuid();
        if let Some(list) = t.get_mut(uuid) {
            let me = Arc::downgrade(c);
            list.retain(|w| w.strong_count() > 0 && !Weak::ptr_eq(w, &me));
            if list.is_empty() {
                t.remove(uuid);
            }
        }
    }

    pub(super) fn of_session(uuid: &str) -> Vec<WsPeer> {
        table()
            .get(uuid)
            .map(|l| {
                l.iter()
                    .filter_map(Weak::upgrade)
                    .filter(|c| c.is_open())
                    .map(WsPeer)
                    .collect()
            })
            .unwrap_or_default()
    }
}
