//! One `x-afb-ws-json1` connection: a single task reads the client's frames,
//! dispatches its calls, and writes what the outgoing queue holds (replies,
//! events, calls to the client) in batches, flushing once per batch.
//!
//! Everything that produces output for the client (reply sinks, event
//! pushes, broadcasts, server-to-client calls) only `try_send`s an encoded
//! text frame into the connection's bounded queue and never waits: when the
//! queue is full the client is considered stuck and the connection is
//! dropped, so a slow reader never slows anybody else.

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use afb_core::event::{BroadcastMsg, PushMsg};
use afb_core::status::{DISCONNECTED, INVALID_REQUEST, NOT_AVAILABLE};
use afb_core::{Args, Call, Client, Listener, ListenerSubscriber, Registry, Reply, ReplySink, Session};
use afb_wsj1::envelope::ReplyEnvelope;
use afb_wsj1::{RawValue, WriteJson};
use futures_util::{FutureExt, SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::error::Error as WsError;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use super::outbox::{Outbox, PushError};
use super::{WsClientInit, WsConfig};

/// Most server-to-client calls waiting for their answer on one connection.
const MAX_CLIENT_CALLS: usize = 1024;
/// Most messages taken from the queue at once before writing them.
const BATCH: usize = 64;
/// Messages already received handled in a row before writing the replies.
const READ_BATCH: usize = 64;
/// Rounds of "take, write" before flushing and reading again.
const WRITE_ROUNDS: usize = 8;
/// Bytes read from the socket at once, and what an idle connection keeps
/// allocated for reading. tungstenite zero-fills this much before every
/// read attempt: at 8 KiB that was ~45 % of the instructions of a
/// `hello/ping` round trip. 1 KiB still holds 16 pipelined `hello/ping`
/// calls (~40 bytes each); a larger frame grows the buffer for itself.
const READ_BUFFER: usize = 1024;
/// How long a closing handshake may take.
const CLOSE_WAIT: Duration = Duration::from_secs(2);
/// After closing on a broken stream, stop draining input after this much silence.
const DRAIN_IDLE: Duration = Duration::from_millis(200);

thread_local! {
    /// While a connection task dispatches a call on this thread: that
    /// connection (its address) and the task's outgoing batch.
    static INLINE: RefCell<Option<(usize, Vec<Utf8Bytes>)>> = const { RefCell::new(None) };
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The state of a connection shared with reply sinks, event sources and
/// [`super::WsPeer`] handles.
pub(crate) struct Conn {
    /// The outgoing queue, emptied by the connection's task.
    outbox: Outbox<Utf8Bytes>,
    /// Most messages kept in the task's own batch during one dispatch.
    inline_max: usize,
    /// Cancelled on daemon shutdown (it is a child of `WsConfig::shutdown`)
    /// or when the client is stuck.
    stop: CancellationToken,
    stuck: AtomicBool,
    open: AtomicBool,
    token: Mutex<Option<Arc<str>>>,
    inflight: AtomicUsize,
    session: Arc<Session>,
    /// Calls made to the client, waiting for its `[3]`/`[4]`.
    calls: Mutex<HashMap<Box<str>, oneshot::Sender<Reply>>>,
    next_call: AtomicU64,
    hooks: Arc<afb_core::Hooks>,
}

impl Conn {
    /// Queues a frame; never waits. A full queue marks the client stuck and
    /// stops the connection. Returns whether the frame was queued.
    fn send(&self, m: Utf8Bytes) -> bool {
        // Produced by the connection's own task while it dispatches a call
        // (a verb replying at once, pushing to its caller): straight into the
        // task's batch, no channel, no wake-up.
        let me = self as *const Conn as usize;
        let m = match INLINE.with(|slot| match slot.try_borrow_mut() {
            Ok(mut slot) => match slot.as_mut() {
                Some((conn, out)) if *conn == me && out.len() < self.inline_max => {
                    out.push(m);
                    None
                }
                _ => Some(m),
            },
            Err(_) => Some(m),
        }) {
            None => return true,
            Some(m) => m,
        };
        match self.outbox.try_push(m) {
            Ok(()) => true,
            Err(PushError::Full) => {
                if !self.stuck.swap(true, Ordering::AcqRel) {
                    tracing::warn!(
                        session = %self.session.uuid(),
                        "WebSocket client does not read: its send queue is full, closing the connection"
                    );
                    if let Some(o) = self.hooks.get() {
                        o.overflow(afb_core::Transport::WsJson);
                    }
                }
                self.stop.cancel();
                false
            }
            Err(PushError::Closed) => false,
        }
    }

    /// Queues an encoded text message (JSON written by `afb-wsj1`, always UTF-8).
    fn send_text(&self, buf: Vec<u8>) -> bool {
        match String::from_utf8(buf) {
            Ok(s) => self.send(s.into()),
            Err(e) => {
                tracing::error!("WebSocket: encoder produced invalid UTF-8 ({e}); message dropped");
                false
            }
        }
    }

    fn send_error(&self, id: &str, status: &str, info: &str) {
        let mut buf = Vec::with_capacity(96 + id.len() + info.len());
        afb_wsj1::write_reply_message(&mut buf, id, &ReplyEnvelope::error(status, Some(info)));
        self.send_text(buf);
    }

    fn token(&self) -> Option<Arc<str>> {
        lock(&self.token).clone()
    }

    fn set_token(&self, t: Arc<str>) {
        *lock(&self.token) = Some(t);
    }

    pub(crate) fn session(&self) -> &Arc<Session> {
        &self.session
    }

    pub(crate) fn is_open(&self) -> bool {
        self.open.load(Ordering::Acquire)
    }

    /// Calls `api_verb` on the client: sends `[2,"sN","API/VERB",ARGS]` and
    /// resolves with the client's `[3]`/`[4]` answer, or `disconnected` when
    /// the connection ends first, or `not-available` when too many calls
    /// wait. Dropping the future forgets the call.
    pub(crate) fn call_client(self: &Arc<Self>, api_verb: &str, args: &RawValue) -> impl Future<Output = Reply> + Send {
        let (tx, rx) = oneshot::channel();
        let id = format!("s{}", self.next_call.fetch_add(1, Ordering::Relaxed) + 1);
        let refused = {
            let mut calls = lock(&self.calls);
            if !self.is_open() {
                Some(Reply::error(
                    DISCONNECTED,
                    Some("the WebSocket connection is closed".into()),
                ))
            } else if calls.len() >= MAX_CLIENT_CALLS {
                Some(Reply::error(
                    NOT_AVAILABLE,
                    Some("too many calls waiting for this client".into()),
                ))
            } else {
                calls.insert(id.as_str().into(), tx);
                None
            }
        };
        let refused = refused.or_else(|| {
            let mut buf = Vec::with_capacity(32 + api_verb.len() + args.get().len());
            afb_wsj1::write_call(&mut buf, &id, api_verb, args, None);
            (!self.send_text(buf)).then(|| Reply::error(DISCONNECTED, Some("the WebSocket client is gone".into())))
        });
        let guard = ForgetCall {
            conn: self.clone(),
            id: id.into_boxed_str(),
        };
        async move {
            let _guard = guard;
            if let Some(r) = refused {
                return r;
            }
            rx.await
                .unwrap_or_else(|_| Reply::error(DISCONNECTED, Some("the WebSocket client went away".into())))
        }
    }

    /// The connection ended: nobody will answer the calls made to the client.
    fn close_calls(&self) {
        let calls = {
            let mut c = lock(&self.calls);
            self.open.store(false, Ordering::Release);
            std::mem::take(&mut *c)
        };
        drop(calls);
    }
}

/// Removes a server-to-client call from the waiting table when its future
/// is dropped (answered, or given up by the caller).
struct ForgetCall {
    conn: Arc<Conn>,
    id: Box<str>,
}

impl Drop for ForgetCall {
    fn drop(&mut self) {
        lock(&self.conn.calls).remove(&self.id);
    }
}

/// An event encoded once per message for every connection receiving it
/// (stored in the message's `EncodedCache`; the newtype keeps other
/// transports' cached values apart from ours).
#[derive(Clone)]
struct EncodedEvent(Option<Utf8Bytes>);

impl EncodedEvent {
    fn new(name: &str, data: &RawValue) -> Self {
        let mut buf = Vec::with_capacity(2 * name.len() + data.get().len() + 64);
        afb_wsj1::write_event_message(&mut buf, name, Some(&data));
        match String::from_utf8(buf) {
            Ok(s) => EncodedEvent(Some(s.into())),
            Err(e) => {
                tracing::error!("WebSocket: event encoder produced invalid UTF-8 ({e})");
                EncodedEvent(None)
            }
        }
    }
}

impl Listener for Conn {
    fn push(&self, msg: &PushMsg<'_>) {
        let ev = msg
            .cache
            .get_or_compute(|| EncodedEvent::new(msg.event.name(), msg.data));
        if let Some(t) = ev.0 {
            self.send(t);
        }
    }

    fn broadcast(&self, msg: &BroadcastMsg<'_>) {
        let ev = msg.cache.get_or_compute(|| EncodedEvent::new(msg.name, msg.data));
        if let Some(t) = ev.0 {
            self.send(t);
        }
    }
}

/// Where the reply to one call goes: encoded at once into the queue.
struct CallSink {
    conn: Arc<Conn>,
    id: Box<str>,
}

impl ReplySink for CallSink {
    fn reply(self: Box<Self>, reply: Reply) {
        if let Some(t) = &reply.token {
            self.conn.set_token(t.clone());
        }
        let envelope = ReplyEnvelope {
            status: &reply.status,
            code: reply.code,
            info: reply.info.as_deref(),
            reqid: None,
            uuid: None,
            token: reply.token.as_deref(),
            response: reply.data.as_ref().map(|d| d as &dyn WriteJson),
        };
        let size = 96
            + self.id.len()
            + reply.info.as_ref().map_or(0, String::len)
            + reply.data.as_ref().map_or(0, |d| d.get().len());
        let mut buf = Vec::with_capacity(size);
        afb_wsj1::write_reply_message(&mut buf, &self.id, &envelope);
        self.conn.send_text(buf);
    }
}

impl Drop for CallSink {
    fn drop(&mut self) {
        self.conn.inflight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// How the read/write loop ended.
enum End {
    /// The peer closed (handshake done) or the stream ended.
    Closed,
    /// We close, the stream is intact: close frame, then wait for the peer's.
    Close(CloseCode, &'static str),
    /// We close after a read error: close frame, then discard input a little
    /// while so that the peer can read the close frame.
    Broken(CloseCode, &'static str),
    /// Just drop the socket.
    Drop(&'static str),
}

fn end_of_error(e: WsError) -> End {
    use tokio_tungstenite::tungstenite::error::ProtocolError;
    match e {
        WsError::Capacity(_) => End::Broken(CloseCode::Size, "message too big"),
        WsError::Utf8(_) => End::Broken(CloseCode::Invalid, "text message is not valid UTF-8"),
        WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => End::Drop("reset by the peer"),
        WsError::Protocol(_) => End::Broken(CloseCode::Protocol, "WebSocket protocol error"),
        WsError::ConnectionClosed | WsError::AlreadyClosed => End::Closed,
        _ => End::Drop("I/O error"),
    }
}

/// What the task needs to handle the client's messages.
struct Ctx {
    conn: Arc<Conn>,
    registry: Arc<Registry>,
    /// The client of every call (its token is replaced per call).
    client: Client,
    max_inflight: usize,
}

impl Ctx {
    /// Handles what the stream gave; `Some` ends the connection.
    fn on_item(&self, item: Option<Result<Message, WsError>>, out: &mut Vec<Utf8Bytes>) -> Option<End> {
        match item {
            None => Some(End::Closed),
            Some(Ok(Message::Text(text))) => self.on_text(text.as_str(), out),
            Some(Ok(Message::Binary(_))) => {
                Some(End::Close(CloseCode::Unsupported, "binary messages are not accepted"))
            }
            // Pings are answered by tungstenite (the pong goes with the next
            // read or flush); a close is answered the same way and the next
            // read ends the stream.
            Some(Ok(_)) => None,
            Some(Err(e)) => Some(end_of_error(e)),
        }
    }

    /// Handles one text message; `Some` ends the connection.
    fn on_text(&self, text: &str, out: &mut Vec<Utf8Bytes>) -> Option<End> {
        match afb_wsj1::decode(text) {
            Ok(afb_wsj1::Message::Call(call)) => {
                self.on_call(call, out);
                None
            }
            Ok(afb_wsj1::Message::Reply(reply)) => {
                self.on_reply(reply);
                None
            }
            Ok(afb_wsj1::Message::Event(_)) => {
                Some(End::Close(CloseCode::Policy, "events are sent by the server only"))
            }
            Err(e) => match e.id() {
                Some(id) => {
                    tracing::debug!("WebSocket: {e}");
                    self.conn.send_error(id, INVALID_REQUEST, &e.to_string());
                    None
                }
                None => {
                    tracing::info!("WebSocket: {e}; closing with 1008");
                    Some(End::Close(CloseCode::Policy, e.kind().as_str()))
                }
            },
        }
    }

    fn on_call(&self, call: afb_wsj1::Call<'_>, out: &mut Vec<Utf8Bytes>) {
        let conn = &self.conn;
        if let Some(t) = &call.token {
            conn.set_token(Arc::from(t.as_ref()));
        }
        if conn.inflight.load(Ordering::Acquire) >= self.max_inflight {
            let info = format!("too many calls in progress on this connection ({})", self.max_inflight);
            conn.send_error(&call.id, NOT_AVAILABLE, &info);
            return;
        }
        conn.inflight.fetch_add(1, Ordering::AcqRel);
        let args = match &call.args {
            afb_wsj1::Args::Json(raw) => Args::from_raw((*raw).to_owned()),
            afb_wsj1::Args::Text(text) => Args::from_value(serde_json::Value::String(text.to_string())),
        };
        let mut client = self.client.clone();
        client.token = conn.token();
        let sink = Box::new(CallSink {
            conn: conn.clone(),
            id: call.id.as_ref().into(),
        });
        let (api, verb) = call.split();
        let me = Arc::as_ptr(conn) as usize;
        INLINE.with(|slot| *slot.borrow_mut() = Some((me, std::mem::take(out))));
        self.registry.dispatch(Call::external(api, verb, args, client), sink);
        if let Some((_, batch)) = INLINE.with(|slot| slot.borrow_mut().take()) {
            *out = batch;
        }
    }

    fn on_reply(&self, reply: afb_wsj1::Reply<'_>) {
        let waiter = lock(&self.conn.calls).remove(reply.id.as_ref());
        match waiter {
            Some(tx) => {
                let _ = tx.send(reply_from_wire(&reply));
            }
            None => {
                tracing::info!(id = %reply.id, "WebSocket: reply to a call id the server never sent");
                self.conn.send_error(
                    &reply.id,
                    INVALID_REQUEST,
                    "no call with this id is waiting for a reply",
                );
            }
        }
    }
}

/// The client's answer to a server-to-client call, as a core [`Reply`].
fn reply_from_wire(r: &afb_wsj1::Reply<'_>) -> Reply {
    match r.envelope() {
        Ok(env) => {
            let mut reply = if r.success {
                Reply::success(None, None)
            } else {
                Reply::error(env.status.into_owned(), None).with_code(env.code)
            };
            reply.info = env.info.map(|i| i.into_owned());
            reply.data = env.response.map(|d| d.to_owned());
            reply
        }
        // Not an afb-reply envelope: the whole body is the data.
        Err(_) if r.success => Reply::success(Some(r.body.to_owned()), None),
        Err(_) => Reply::error("failed", None).with_data(Some(r.body.to_owned())),
    }
}

/// A connection registered before its upgrade completes: it is a broadcast
/// listener (and a peer of its session) from the moment the `101` is
/// answered, so a client that has seen its WebSocket open receives every
/// broadcast made afterwards; what arrives before the task runs waits in the
/// connection's queue. Dropping it unregisters everything.
pub(crate) struct Attached {
    conn: Arc<Conn>,
    listener: Arc<dyn Listener>,
    subscriber: Arc<ListenerSubscriber>,
    registry: Arc<Registry>,
    init: WsClientInit,
    config: WsConfig,
    _connected: afb_core::session::ConnectionGuard,
    _observed: afb_core::observe::ConnectionObserved,
}

impl Attached {
    /// Creates the connection's state and registers it.
    pub(crate) fn new(registry: Arc<Registry>, init: WsClientInit, config: WsConfig) -> Attached {
        let capacity = config.send_queue.max(1);
        let conn = Arc::new(Conn {
            outbox: Outbox::new(capacity),
            inline_max: capacity,
            stop: config.shutdown.child_token(),
            stuck: AtomicBool::new(false),
            open: AtomicBool::new(true),
            token: Mutex::new(init.token.clone()),
            inflight: AtomicUsize::new(0),
            session: init.session.clone(),
            calls: Mutex::new(HashMap::new()),
            next_call: AtomicU64::new(0),
            hooks: registry.hooks().clone(),
        });
        let listener: Arc<dyn Listener> = conn.clone();
        let subscriber = Arc::new(ListenerSubscriber::new(&listener, config.max_subscriptions));
        registry.events().add_listener(&listener);
        super::peers::register(&conn);
        let _connected = init.session.connect();
        let _observed = registry.hooks().connection(afb_core::Transport::WsJson);
        Attached {
            conn,
            listener,
            subscriber,
            registry,
            init,
            config,
            _connected,
            _observed,
        }
    }
}

impl Drop for Attached {
    fn drop(&mut self) {
        self.conn.close_calls();
        self.conn.outbox.close();
        super::peers::unregister(&self.conn);
        self.registry.events().remove_listener(&self.listener);
        self.subscriber.unsubscribe_all();
    }
}

/// Runs a connection on an upgraded stream until it ends.
pub(crate) async fn run<S>(stream: S, mut attached: Attached)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let config = attached.config.clone();
    let conn = attached.conn.clone();
    let rx = &conn.outbox;
    // tungstenite zero-fills its whole read buffer before every read
    // attempt (128 KiB by default, a measurable share of a round trip).
    // The C client library (libafbwsc: AGL afb-client-demo, redpesk
    // afb-client, native apps) sends its frames unmasked: accept them as
    // the C binders do, or every native client is hung up on (1002). Our
    // own frames stay unmasked, as a server's must.
    let wsconf = WebSocketConfig::default()
        .accept_unmasked_frames(true)
        .read_buffer_size(READ_BUFFER)
        .max_message_size(Some(config.max_message))
        .max_frame_size(Some(config.max_message));
    let mut ws = WebSocketStream::from_raw_socket(stream, Role::Server, Some(wsconf)).await;
    let capacity = conn.inline_max;
    let stop = conn.stop.clone();
    let cancel = CancellationToken::new();
    let mut client = Client::new(attached.init.session.clone())
        .with_subscriber(attached.subscriber.clone())
        .with_cancel(cancel.clone())
        .with_transport(afb_core::Transport::WsJson)
        .with_remote(attached.init.remote);
    if let Some(c) = attached.init.creds.take() {
        client = client.with_creds(c);
    }
    let ctx = Ctx {
        conn: conn.clone(),
        registry: attached.registry.clone(),
        client,
        max_inflight: config.max_inflight.max(1),
    };
    let threshold = (capacity / 2).clamp(1, BATCH);
    // Grows on first use (to BATCH at most, then kept): an idle connection holds none.
    let mut batch: Vec<Utf8Bytes> = Vec::new();
    let stopped = stop.clone().cancelled_owned();
    tokio::pin!(stopped);
    let stop_end = || {
        if config.shutdown.is_cancelled() {
            End::Close(CloseCode::Away, "server shutting down")
        } else {
            End::Drop("client does not read")
        }
    };

    let end = loop {
        tokio::select! {
            biased;
            () = &mut stopped => break stop_end(),
            item = ws.next() => {
                // Handle what else has already arrived (no waiting), then
                // write the replies produced meanwhile with one flush. The
                // messages of one pass share one clock reading.
                let end = afb_core::clock::batch(|| {
                    if let Some(end) = ctx.on_item(item, &mut batch) {
                        return Some(end);
                    }
                    let mut more = 0;
                    loop {
                        if more == READ_BATCH || rx.len() + batch.len() >= threshold {
                            break None;
                        }
                        match ws.next().now_or_never() {
                            Some(item) => {
                                if let Some(end) = ctx.on_item(item, &mut batch) {
                                    break Some(end);
                                }
                                more += 1;
                            }
                            None => break None,
                        }
                    }
                });
                if let Some(end) = end {
                    break end;
                }
                if !batch.is_empty() || !rx.is_empty() {
                    match write_out(&mut ws, rx, &mut batch, stopped.as_mut()).await {
                        Ok(()) => {}
                        Err(None) => break stop_end(),
                        Err(Some(e)) => break end_of_error(e),
                    }
                }
            },
            _ = rx.recv_many(&mut batch, BATCH) => {
                match write_out(&mut ws, rx, &mut batch, stopped.as_mut()).await {
                    Ok(()) => {}
                    Err(None) => break stop_end(),
                    Err(Some(e)) => break end_of_error(e),
                }
            }
        }
    };

    // Shutdown: the running calls get the grace period, and their replies
    // (or `disconnected`) are written before the close frame.
    if matches!(end, End::Close(CloseCode::Away, _)) {
        if let Some(until) = &config.drain_until {
            // Boxed, as the closing futures below: the end of a connection must not
            // enlarge the state every idle connection's task keeps.
            Box::pin(drain_calls(&mut ws, rx, &mut batch, &conn, &cancel, until)).await;
        }
    }
    // Running calls are cancelled (the core answers them `disconnected`,
    // into a queue nobody reads any more), subscriptions dropped.
    cancel.cancel();
    drop(attached);
    match end {
        End::Closed => {}
        End::Drop(why) => tracing::debug!(session = %conn.session.uuid(), "WebSocket dropped: {why}"),
        End::Close(code, reason) => {
            tracing::debug!(session = %conn.session.uuid(), "WebSocket closing: {code} {reason}");
            let _ = Box::pin(tokio::time::timeout(CLOSE_WAIT, async {
                if ws.close(Some(close_frame(code, reason))).await.is_ok() {
                    while let Some(Ok(_)) = ws.next().await {}
                }
            }))
            .await;
        }
        End::Broken(code, reason) => {
            tracing::debug!(session = %conn.session.uuid(), "WebSocket closing: {code} {reason}");
            let _ = Box::pin(tokio::time::timeout(CLOSE_WAIT, async {
                if ws.close(Some(close_frame(code, reason))).await.is_ok() {
                    drain(ws.get_mut()).await;
                }
            }))
            .await;
        }
    }
}

fn close_frame(code: CloseCode, reason: &'static str) -> CloseFrame {
    CloseFrame {
        code,
        reason: Utf8Bytes::from_static(reason),
    }
}

/// Writes the batch and whatever else is queued (a few rounds at most),
/// then flushes once. `Err(None)`: the connection was stopped meanwhile.
async fn write_out<S>(
    ws: &mut WebSocketStream<S>,
    rx: &Outbox<Utf8Bytes>,
    batch: &mut Vec<Utf8Bytes>,
    stopped: Pin<&mut WaitForCancellationFutureOwned>,
) -> Result<(), Option<WsError>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let work = async {
        for round in 0..WRITE_ROUNDS {
            for m in batch.drain(..) {
                ws.feed(Message::Text(m)).await?;
            }
            if round + 1 == WRITE_ROUNDS || rx.is_empty() {
                break;
            }
            rx.recv_many(batch, BATCH).await;
        }
        ws.flush().await
    };
    tokio::select! {
        biased;
        r = work => r.map_err(Some),
        () = stopped => Err(None),
    }
}

/// Writes what is queued, then flushes.
async fn write_queued<S>(
    ws: &mut WebSocketStream<S>,
    rx: &Outbox<Utf8Bytes>,
    batch: &mut Vec<Utf8Bytes>,
) -> Result<(), WsError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    rx.take(batch, usize::MAX);
    for m in batch.drain(..) {
        ws.feed(Message::Text(m)).await?;
    }
    ws.flush().await
}

/// At shutdown: waits for the connection's running calls and writes their
/// replies until `until` is cancelled (the end of the grace period); then
/// cancels the rest, which the core answers `disconnected`, and writes
/// those answers too (for at most [`CLOSE_WAIT`]). Nothing new is read.
async fn drain_calls<S>(
    ws: &mut WebSocketStream<S>,
    rx: &Outbox<Utf8Bytes>,
    batch: &mut Vec<Utf8Bytes>,
    conn: &Conn,
    cancel: &CancellationToken,
    until: &CancellationToken,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let running = || conn.inflight.load(Ordering::Acquire) > 0;
    let mut grace_over = false;
    loop {
        let wrote = tokio::select! {
            biased;
            r = write_queued(ws, rx, batch) => r,
            () = until.cancelled(), if !grace_over => Ok(()),
        };
        if wrote.is_err() {
            return; // the client is gone
        }
        if !running() && rx.is_empty() {
            return;
        }
        if grace_over {
            break;
        }
        // A reply is queued just before its call stops counting as
        // running: look again shortly rather than only on new messages.
        tokio::select! {
            biased;
            () = until.cancelled() => grace_over = true,
            _ = rx.recv_many(batch, BATCH) => {}
            () = tokio::time::sleep(Duration::from_millis(20)) => {}
        }
    }
    cancel.cancel();
    let _ = tokio::time::timeout(CLOSE_WAIT, async {
        while running() || !rx.is_empty() || !batch.is_empty() {
            if write_queued(ws, rx, batch).await.is_err() {
                return;
            }
            tokio::select! {
                _ = rx.recv_many(batch, BATCH) => {}
                () = tokio::time::sleep(Duration::from_millis(20)) => {}
            }
        }
    })
    .await;
}

/// Reads and discards input until the peer is silent for a moment or
/// closes, so that it gets to read our close frame.
async fn drain<S: AsyncRead + Unpin>(io: &mut S) {
    let mut buf = vec![0u8; 16 * 1024];
    while let Ok(Ok(n)) = tokio::time::timeout(DRAIN_IDLE, io.read(&mut buf)).await {
        if n == 0 {
            break;
        }
    }
}
