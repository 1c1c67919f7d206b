//! Requests: one call of a verb, answered exactly once.
//!
//! A [`Request`] is the unique right to reply. Replying consumes it; a second
//! reply is impossible by construction, and a reply arriving after the
//! request timed out is dropped and logged. Dropping a request that never
//! replied answers `not-replied` (or `internal-error` when dropped by a
//! panic). [`ReqHandle`] is a cheap shareable view (arguments, session,
//! events, calls) that never replies.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::ops::Deref;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::value::RawValue;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::api::{ApiEntry, ApiRef};
use crate::args::Args;
use crate::auth::Auth;
use crate::event::{Event, SubscribeError, Subscriber};
use crate::log::LogLevel;
use crate::observe::{ReqInfo, ReqState, Transport};
use crate::registry::{Call, Registry};
use crate::reply::Reply;
use crate::session::{ContextValue, Session};
use crate::status;
use crate::watch::ClientCancel;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Where a reply goes: the transport's side of a request.
pub trait ReplySink: Send + 'static {
    /// Delivers the reply (called at most once).
    fn reply(self: Box<Self>, reply: Reply);
}

impl<F: FnOnce(Reply) + Send + 'static> ReplySink for F {
    fn reply(self: Box<Self>, reply: Reply) {
        (*self)(reply)
    }
}

/// Peer credentials of a client, when the transport knows them: the
/// process of a unix-socket peer, the certificate of a TLS peer (mutual
/// TLS), or both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// User id ([`Credentials::UNKNOWN_ID`] when only a certificate is known).
    pub uid: u32,
    /// Group id ([`Credentials::UNKNOWN_ID`] when only a certificate is known).
    pub gid: u32,
    /// Process id (0: unknown).
    pub pid: u32,
    /// Security label, if any.
    pub label: Option<String>,
    /// The certificate the peer authenticated with over TLS, if any.
    pub cert: Option<Arc<CertIdentity>>,
}

/// The identity a TLS peer proved with its certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertIdentity {
    /// The certificate's subject (`CN=client1, O=Example`).
    pub subject: String,
    /// Its subject alternative names (`DNS:client1`, `IP:10.0.0.2`, ...).
    pub names: Vec<String>,
}

impl Credentials {
    /// The uid and gid of a peer whose process is unknown (what C writes
    /// `(uid_t)-1`).
    pub const UNKNOWN_ID: u32 = u32::MAX;

    /// The credentials of a peer: its process (uid, gid, pid) when the
    /// transport knows it (unix sockets), its certificate when it showed
    /// one (TLS); `None` when neither is known.
    pub fn of_peer(process: Option<(u32, u32, u32)>, cert: Option<CertIdentity>) -> Option<Credentials> {
        let cert = cert.map(Arc::new);
        match process {
            Some((uid, gid, pid)) => Some(Credentials {
                uid,
                gid,
                pid,
                label: None,
                cert,
            }),
            None => cert.map(|cert| Credentials {
                uid: Self::UNKNOWN_ID,
                gid: Self::UNKNOWN_ID,
                pid: 0,
                label: None,
                cert: Some(cert),
            }),
        }
    }

    /// Whether the peer's process (uid, gid, pid) is known.
    pub fn has_process(&self) -> bool {
        self.uid != Self::UNKNOWN_ID
    }
}

/// Who issues a request: its session, the token it presented, how it
/// receives events, its credentials and when it goes away.
#[derive(Clone)]
pub struct Client {
    /// The client's session.
    pub session: Arc<Session>,
    /// The token presented with the request.
    pub token: Option<Arc<str>>,
    /// How to subscribe this client to events (`None`: it cannot receive any).
    pub subscriber: Option<Arc<dyn Subscriber>>,
    /// Peer credentials.
    pub creds: Option<Arc<Credentials>>,
    /// Cancelled when the client goes away: its running requests are
    /// answered `disconnected`. One per client connection (it also watches
    /// the connection's requests waiting for an asynchronous reply).
    pub cancel: Option<ClientCancel>,
    /// The transport the client came through.
    pub transport: Transport,
    /// The address of the TCP connection the request came through (an
    /// HTTP or WebSocket client, a linked binder), if any. Informative
    /// only: never credentials, never passed on over links.
    pub remote: Option<std::net::SocketAddr>,
}

impl Client {
    /// A client of `session` with no token, no events, no credentials.
    pub fn new(session: Arc<Session>) -> Self {
        Client {
            session,
            token: None,
            subscriber: None,
            creds: None,
            cancel: None,
            transport: Transport::Internal,
            remote: None,
        }
    }

    /// Sets the remote address (TCP peers).
    pub fn with_remote(mut self, remote: Option<std::net::SocketAddr>) -> Self {
        self.remote = remote;
        self
    }

    /// Sets the transport.
    pub fn with_transport(mut self, t: Transport) -> Self {
        self.transport = t;
        self
    }

    /// Sets the presented token.
    pub fn with_token(mut self, token: Option<Arc<str>>) -> Self {
        self.token = token;
        self
    }

    /// Sets the subscriber.
    pub fn with_subscriber(mut self, s: Arc<dyn Subscriber>) -> Self {
        self.subscriber = Some(s);
        self
    }

    /// Sets the cancellation token (a new watcher: give clones of one
    /// [`ClientCancel`] to the requests of a connection with
    /// [`Client::with_client_cancel`]).
    pub fn with_cancel(mut self, c: CancellationToken) -> Self {
        self.cancel = Some(ClientCancel::new(c));
        self
    }

    /// Sets the connection's cancellation and watcher.
    pub fn with_client_cancel(mut self, c: ClientCancel) -> Self {
        self.cancel = Some(c);
        self
    }

    /// Sets the credentials.
    pub fn with_creds(mut self, c: Credentials) -> Self {
        self.creds = Some(Arc::new(c));
        self
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("session", &self.session.uuid())
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("events", &self.subscriber.is_some())
            .field("creds", &self.creds)
            .finish()
    }
}

/// The chain of APIs a call went through (to refuse self-calls into a busy
/// `noconcurrency` API instead of deadlocking).
#[derive(Debug)]
pub struct Chain {
    pub(crate) api: u32,
    pub(crate) parent: Option<Arc<Chain>>,
}

impl Chain {
    pub(crate) fn contains(&self, api: u32) -> bool {
        let mut c = Some(self);
        while let Some(link) = c {
            if link.api == api {
                return true;
            }
            c = link.parent.as_deref();
        }
        false
    }
}

pub(crate) struct ReplyState {
    done: AtomicBool,
    sink: Mutex<Option<Box<dyn ReplySink>>>,
    notify: Notify,
}

static NEXT_REQUEST_ID: AtomicU64 = AtomicU64::new(1);

/// When an observed request began: a reading of the observer's clock
/// ([`crate::Observer::ticks`]) or of the monotonic clock.
pub(crate) enum Began {
    Ticks(u64),
    Clock(tokio::time::Instant),
}

pub(crate) struct Shared {
    pub(crate) id: u64,
    pub(crate) registry: Arc<Registry>,
    pub(crate) api: Arc<ApiEntry>,
    pub(crate) verb: Box<str>,
    pub(crate) args: Args,
    pub(crate) client: Client,
    pub(crate) chain: Option<Arc<Chain>>,
    pub(crate) reply: ReplyState,
    renewed: Mutex<Option<Arc<str>>>,
    /// Set once `renewed` holds a token: the reply does not lock `renewed`
    /// when no verb renewed the token (the common case).
    has_renewed: AtomicBool,
    close_after: AtomicBool,
    extension: Mutex<Option<Box<dyn Any + Send>>>,
    /// When observed: when it began and the observer's state.
    pub(crate) observed: Option<(Began, Option<ReqState>)>,
}

impl Shared {
    pub(crate) fn new(
        registry: Arc<Registry>,
        api: Arc<ApiEntry>,
        verb: &str,
        args: Args,
        client: Client,
        chain: Option<Arc<Chain>>,
        sink: Box<dyn ReplySink>,
    ) -> Arc<Self> {
        let mut shared = Shared {
            id: NEXT_REQUEST_ID.fetch_add(1, Ordering::Relaxed),
            registry,
            api,
            verb: verb.into(),
            args,
            client,
            chain,
            reply: ReplyState {
                done: AtomicBool::new(false),
                sink: Mutex::new(Some(sink)),
                notify: Notify::new(),
            },
            renewed: Mutex::new(None),
            has_renewed: AtomicBool::new(false),
            close_after: AtomicBool::new(false),
            extension: Mutex::new(None),
            observed: None,
        };
        let observed = (shared.registry.hooks().get()).map(|o| {
            let began = match o.ticks() {
                Some(t) => Began::Ticks(t),
                None => Began::Clock(tokio::time::Instant::now()),
            };
            (began, o.begin(&shared.info()))
        });
        shared.observed = observed;
        Arc::new(shared)
    }

    /// What observers see of this request.
    pub(crate) fn info(&self) -> ReqInfo<'_> {
        ReqInfo {
            id: self.id,
            api: self.api.name(),
            api_id: self.api.id(),
            api_slot: &self.api.observed,
            verb: &self.verb,
            args: &self.args,
            client: &self.client,
        }
    }

    pub(crate) fn is_done(&self) -> bool {
        self.reply.done.load(Ordering::Acquire)
    }

    pub(crate) fn notified(&self) -> impl Future<Output = ()> + '_ {
        self.reply.notify.notified()
    }

    /// Delivers `reply` unless a reply was already given, in which case the
    /// reply is given back.
    pub(crate) fn try_finish(&self, mut reply: Reply) -> Result<(), Reply> {
        if self.reply.done.swap(true, Ordering::AcqRel) {
            return Err(reply);
        }
        if self.has_renewed.load(Ordering::Acquire) {
            if let Some(t) = lock(&self.renewed).take() {
                reply.token = Some(t);
            }
        }
        // The session's state for the API ends before the client can see
        // the reply (and send its next request).
        if self.close_after.load(Ordering::Acquire) {
            self.client.session.close_api(self.api.id());
        }
        if let Some((began, st)) = &self.observed {
            if let Some(o) = self.registry.hooks().get() {
                let elapsed = match began {
                    Began::Ticks(t) => o.since(*t),
                    Began::Clock(i) => i.elapsed(),
                };
                o.end(&self.info(), st.as_ref(), &reply, elapsed);
            }
        }
        let sink = lock(&self.reply.sink).take();
        if let Some(sink) = sink {
            sink.reply(reply);
        }
        self.registry.request_finished();
        self.reply.notify.notify_one();
        Ok(())
    }

    /// Delivers `reply` unless a reply was already given; returns whether it
    /// was delivered.
    pub(crate) fn finish(&self, reply: Reply) -> bool {
        self.try_finish(reply).is_ok()
    }

    /// Answers `timeout` in the verb's place (its deadline passed).
    pub(crate) fn time_out(&self) {
        if self.finish(Reply::error(status::TIMEOUT, Some("the request timed out".into()))) {
            tracing::info!(api = %self.api.name(), verb = %self.verb, "request timed out");
        }
    }

    /// Answers `disconnected` in the verb's place (the client went away).
    pub(crate) fn client_gone(&self) {
        self.finish(Reply::error(status::DISCONNECTED, Some("the client went away".into())));
    }

    fn late_reply(&self, reply: &Reply) {
        tracing::debug!(
            api = %self.api.name(),
            verb = %self.verb,
            status = %reply.status,
            "reply after the request was already answered (timeout or double reply): dropped"
        );
    }
}

/// A shareable view of a request: its arguments, session, client, and the
/// operations a verb performs (events, calls, context, LOA). It cannot reply.
#[derive(Clone)]
pub struct ReqHandle {
    pub(crate) shared: Arc<Shared>,
}

/// The unique right to reply to a request. See the module documentation.
pub struct Request {
    handle: ReqHandle,
}

impl Request {
    pub(crate) fn from_shared(shared: Arc<Shared>) -> Self {
        Request {
            handle: ReqHandle { shared },
        }
    }

    /// Replies. Returns false when the request was already answered
    /// (timeout): the reply is then dropped and logged at debug level.
    pub fn reply(self, reply: Reply) -> bool {
        match self.handle.shared.try_finish(reply) {
            Ok(()) => true,
            Err(reply) => {
                self.handle.shared.late_reply(&reply);
                false
            }
        }
    }

    /// Replies success with optional data and info.
    pub fn success(self, data: Option<Box<RawValue>>, info: Option<String>) -> bool {
        self.reply(Reply::success(data, info))
    }

    /// Replies an error status with optional info.
    pub fn fail(self, status: &str, info: Option<String>) -> bool {
        self.reply(Reply::error(status.to_owned(), info))
    }

    /// A shareable view of this request.
    pub fn handle(&self) -> ReqHandle {
        self.handle.clone()
    }
}

impl Deref for Request {
    type Target = ReqHandle;

    fn deref(&self) -> &ReqHandle {
        &self.handle
    }
}

impl Drop for Request {
    fn drop(&mut self) {
        let shared = &self.handle.shared;
        if shared.is_done() {
            return;
        }
        let reply = if std::thread::panicking() {
            Reply::error(status::INTERNAL_ERROR, Some("the verb panicked".into()))
        } else {
            Reply::error(status::NOT_REPLIED, Some("the verb did not reply".into()))
        };
        if shared.finish(reply) && !std::thread::panicking() {
            tracing::warn!(api = %shared.api.name(), verb = %shared.verb, "request dropped without reply: answered not-replied");
        }
    }
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.handle.fmt(f)
    }
}

impl fmt::Debug for ReqHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("id", &self.shared.id)
            .field("api", &self.shared.api.name())
            .field("verb", &self.shared.verb)
            .field("args", &self.shared.args)
            .field("client", &self.shared.client)
            .finish()
    }
}

impl ReqHandle {
    /// A number identifying the request in logs.
    pub fn id(&self) -> u64 {
        self.shared.id
    }

    /// The API called.
    pub fn api(&self) -> ApiRef {
        ApiRef::new(self.shared.api.clone())
    }

    /// The API's name.
    pub fn api_name(&self) -> &str {
        self.shared.api.name()
    }

    /// The verb called (as the client spelled it).
    pub fn verb(&self) -> &str {
        &self.shared.verb
    }

    /// The argument.
    pub fn args(&self) -> &Args {
        &self.shared.args
    }

    /// The client.
    pub fn client(&self) -> &Client {
        &self.shared.client
    }

    /// The client's session.
    pub fn session(&self) -> &Arc<Session> {
        &self.shared.client.session
    }

    /// The registry.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.shared.registry
    }

    /// Whether a reply was given (or the request timed out).
    pub fn is_replied(&self) -> bool {
        self.shared.is_done()
    }

    /// Checks and applies the session requirements of a verb: token, LOA,
    /// renewal (now) and close (after the reply). The error is the reply
    /// to give instead of running the verb.
    pub fn apply_auth(&self, auth: &Auth) -> Result<(), Reply> {
        let s = &self.shared;
        let session = &s.client.session;
        if auth.needs_token() && !session.check_token(s.client.token.as_deref()) {
            return Err(Reply::error(status::INVALID_TOKEN, Some("invalid token".into())));
        }
        if let Some(req) = auth.loa {
            let loa = session.loa(s.api.id());
            if !req.allows(loa) {
                return Err(Reply::error(
                    status::INSUFFICIENT_SCOPE,
                    Some(format!("{req} required, session has {loa}")),
                ));
            }
        }
        if auth.renew {
            *lock(&s.renewed) = Some(session.renew_token());
            s.has_renewed.store(true, Ordering::Release);
        }
        if auth.close {
            s.close_after.store(true, Ordering::Release);
        }
        Ok(())
    }

    /// The token renewed by this request, if any.
    pub fn renewed_token(&self) -> Option<Arc<str>> {
        lock(&self.shared.renewed).clone()
    }

    /// Asks that the session's state for this API be closed after the reply.
    pub fn close_session_after_reply(&self) {
        self.shared.close_after.store(true, Ordering::Release);
    }

    /// The session's LOA for this API.
    pub fn loa(&self) -> u8 {
        self.session().loa(self.shared.api.id())
    }

    /// Sets the session's LOA for this API (0..=7).
    pub fn set_loa(&self, loa: u32) -> Result<(), crate::session::SessionError> {
        self.session().set_loa(self.shared.api.id(), loa)
    }

    /// The context value this API stored in the session.
    pub fn context(&self) -> Option<ContextValue> {
        self.session().context(self.shared.api.id())
    }

    /// Stores (or clears) this API's context value in the session.
    pub fn set_context(&self, value: Option<ContextValue>) {
        self.session().set_context(self.shared.api.id(), value)
    }

    /// This API's context value, made by `make` when absent.
    pub fn context_or_insert_with(&self, make: impl FnOnce() -> ContextValue) -> ContextValue {
        self.session().context_or_insert_with(self.shared.api.id(), make)
    }

    /// Subscribes the client to `event`.
    pub fn subscribe(&self, event: &Event) -> Result<(), SubscribeError> {
        let r = match &self.shared.client.subscriber {
            Some(s) => s.subscribe(event),
            None => Err(SubscribeError::NoListener),
        };
        if let Some(o) = self.shared.registry.hooks().get() {
            o.subscribe(&self.shared.info(), event, false, r.is_ok());
        }
        r
    }

    /// Unsubscribes the client from `event`.
    pub fn unsubscribe(&self, event: &Event) -> Result<(), SubscribeError> {
        let r = match &self.shared.client.subscriber {
            Some(s) => s.unsubscribe(event),
            None => Err(SubscribeError::NoListener),
        };
        if let Some(o) = self.shared.registry.hooks().get() {
            o.subscribe(&self.shared.info(), event, true, r.is_ok());
        }
        r
    }

    fn child_chain(&self) -> Arc<Chain> {
        Arc::new(Chain {
            api: self.shared.api.id(),
            parent: self.shared.chain.clone(),
        })
    }

    /// Calls `api/verb` in the caller's session (a "subcall") and waits for
    /// the reply. Events the callee subscribes to reach this client.
    pub fn subcall(&self, api: &str, verb: &str, args: Args) -> impl Future<Output = Reply> + Send + 'static {
        if let Some(o) = self.shared.registry.hooks().get() {
            o.subcall(&self.shared.info(), api, verb, &args);
        }
        let client = self.shared.client.clone().with_transport(Transport::Internal);
        let call = Call::internal(api, verb, args, client, Some(self.child_chain()));
        self.shared.registry.clone().call(call)
    }

    /// Logs a message for this request's API (checked against its level).
    pub fn log(&self, level: LogLevel, args: fmt::Arguments<'_>) {
        self.api().log(level, args)
    }

    /// Keeps a transport- or binding-specific value with the request
    /// (dropped with the last handle).
    pub fn set_extension(&self, value: Box<dyn Any + Send>) {
        *lock(&self.shared.extension) = Some(value);
    }

    /// Runs `f` on the extension value, if any.
    pub fn with_extension<R>(&self, f: impl FnOnce(Option<&mut (dyn Any + Send)>) -> R) -> R {
        let mut g = lock(&self.shared.extension);
        f(g.as_deref_mut())
    }
}
