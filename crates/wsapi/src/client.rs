//! The client stub (`--ws-client`): an imported API is an [`ApiImpl`] whose
//! requests travel to the remote binder. The link is opened by the first
//! call (offering version 1 with `V`), and again by the first call after it
//! was lost: never in the background. Each local session is declared once
//! per link with its own uuid (`S`), so the remote API sees the same session;
//! tokens likewise (`T`). Replies (`k`) complete the local requests; events
//! the remote verbs subscribe to (`E`, `X`) become local events of the same
//! name the local clients are subscribed to, and pushes (`P`) and broadcasts
//! (`B`) are replayed locally.

// Keys are ids and addresses this binder or its peer picks (bounded by the
// protocol to 16 bits for ids): the fast hasher is safe here.
use hashbrown::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use afb_core::status;
use afb_core::{ApiImpl, ApiRef, BoxFuture, Event, Registry, Reply, ReqHandle, Request, Session};
use afb_endpoint::Connector;
use afb_wsapi_codec::message::SUPPORTED_VERSIONS;
use afb_wsapi_codec::{object_to_json, Direction, Message, MAX_PENDING, VERSION_1};
use serde_json::value::RawValue;
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use afb_link::ids::{alloc_id, SessionIds, TokenIds};
use afb_link::lazy::Lazy;
use afb_link::{export_creds, End, Outbox};

use crate::link::{self, Handler, SendMsg};
use crate::{clean, WsapiOptions};

/// Distinct tokens a link keeps declared; beyond, the least recently used is forgotten (`t`).
const MAX_TOKENS: usize = 1024;
/// Longest event name accepted from a server.
const MAX_EVENT_NAME: usize = 1024;
/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A call sent and not answered yet.
struct Pending {
    /// `None` once answered locally (timed out): the id stays reserved until
    /// the remote reply arrives, so that it cannot answer a later call.
    req: Option<Request>,
    deadline: Option<Instant>,
}

struct ConnState {
    dead: bool,
    next_id: u16,
    calls: HashMap<u16, Pending>,
    zombies: usize,
    describes: HashMap<u16, oneshot::Sender<Option<Value>>>,
    sessions: SessionIds,
    tokens: TokenIds,
    events: HashMap<u16, Event>,
}

impl ConnState {
    fn new() -> Self {
        ConnState {
            dead: false,
            next_id: 1,
            calls: HashMap::new(),
            zombies: 0,
            describes: HashMap::new(),
            sessions: SessionIds::default(),
            tokens: TokenIds::new(MAX_TOKENS),
            events: HashMap::new(),
        }
    }

    fn outstanding(&self) -> usize {
        self.calls.len() + self.describes.len()
    }

    fn new_id(&mut self) -> u16 {
        let (calls, describes) = (&self.calls, &self.describes);
        alloc_id(&mut self.next_id, |id| {
            calls.contains_key(&id) || describes.contains_key(&id)
        })
    }

    /// The id of `session` on this link, declaring it first; `None` when all ids are taken.
    fn session_id(&mut self, session: &Arc<Session>, out: &Outbox) -> Option<u16> {
        self.sessions.id_of(
            session,
            |id, uuid| {
                let _ = out.send(&Message::SessionCreate { id, uuid: &clean(uuid) });
            },
            |id| {
                let _ = out.send(&Message::SessionRemove(id));
            },
        )
    }

    /// Forgets (`s`) the sessions that are gone or closed.
    fn sweep_sessions(&mut self, out: &Outbox) {
        self.sessions.sweep(|id| {
            let _ = out.send(&Message::SessionRemove(id));
        });
    }

    /// The id of `token` on this link, declaring it first.
    fn token_id(&mut self, token: &Arc<str>, out: &Outbox) -> u16 {
        self.tokens.id_of(
            token,
            |id, text| {
                let _ = out.send(&Message::TokenCreate {
                    id,
                    token: &clean(text),
                });
            },
            |id| {
                let _ = out.send(&Message::TokenRemove(id));
            },
        )
    }
}

/// One connection to the remote binder.
struct ClientConn {
    out: Outbox,
    st: Mutex<ConnState>,
    call_timeout: Option<Duration>,
}

impl ClientConn {
    /// Sends a call; gives the request back when the link is dead.
    fn start_call(&self, req: Request) -> Result<(), Request> {
        let mut st = lock(&self.st);
        if st.dead {
            return Err(req);
        }
        if st.outstanding() >= MAX_PENDING {
            drop(st);
            req.fail(
                status::NOT_AVAILABLE,
                Some(format!("busy: {MAX_PENDING} calls already wait for the remote API")),
            );
            return Ok(());
        }
        let Some(sessionid) = st.session_id(req.session(), &self.out) else {
            drop(st);
            req.fail(
                status::NOT_AVAILABLE,
                Some("busy: too many sessions on the link to the remote API".into()),
            );
            return Ok(());
        };
        let tokenid = match &req.client().token {
            Some(t) => st.token_id(t, &self.out),
            None => 0,
        };
        let callid = st.new_id();
        let creds = req.client().creds.as_deref().map(export_creds);
        let verb = clean(req.verb());
        let sent = self.out.send(&Message::Call {
            callid,
            verb: &verb,
            sessionid,
            tokenid,
            args: req.args().json_text(),
            user_creds: creds.as_deref().map(clean).as_deref(),
        });
        if sent.is_err() {
            return Err(req);
        }
        st.calls.insert(
            callid,
            Pending {
                req: Some(req),
                deadline: self.call_timeout.map(|t| Instant::now() + t),
            },
        );
        Ok(())
    }

    /// Asks for the description; `None` when the link is dead or busy.
    fn start_describe(&self) -> Option<oneshot::Receiver<Option<Value>>> {
        let mut st = lock(&self.st);
        if st.dead || st.outstanding() >= MAX_PENDING {
            return None;
        }
        let descid = st.new_id();
        self.out.send(&Message::Describe { descid }).ok()?;
        let (tx, rx) = oneshot::channel();
        st.describes.insert(descid, tx);
        Some(rx)
    }
}

/// The state of an imported API, shared by its requests and its link.
pub(crate) struct ClientCore {
    api: String,
    connector: Connector,
    text: String,
    opts: WsapiOptions,
    registry: Weak<Registry>,
    conn: Lazy<ClientConn>,
}

impl ClientCore {
    fn current(&self) -> Option<Arc<ClientConn>> {
        self.conn.current()
    }

    /// The live connection, connecting when there is none. Callers that
    /// waited while another one tried and failed get that failure.
    async fn connect(self: &Arc<Self>) -> Result<Arc<ClientConn>, String> {
        self.conn.connect(|| self.open()).await
    }

    /// Connects, offers the version and starts the link.
    async fn open(self: &Arc<Self>) -> Result<Arc<ClientConn>, String> {
        let stream = match tokio::time::timeout(CONNECT_TIMEOUT, self.connector.connect()).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                let e = format!("cannot connect to {}: {e}", self.text);
                tracing::warn!(api = %self.api, "{e}");
                return Err(e);
            }
            Err(_) => {
                let e = format!("cannot connect to {}: timed out", self.text);
                tracing::warn!(api = %self.api, "{e}");
                return Err(e);
            }
        };
        let conn = Arc::new(ClientConn {
            out: Outbox::new(self.opts.max_queued, CancellationToken::new(), "wsapi link"),
            st: Mutex::new(ConnState::new()),
            call_timeout: self.opts.call_timeout,
        });
        let _ = conn.out.send(&Message::VersionOffer {
            versions: SUPPORTED_VERSIONS,
        });
        tracing::info!(api = %self.api, "connected to {}", self.text);
        let core = Arc::downgrade(self);
        let link_conn = conn.clone();
        let registry = self.registry.clone();
        let max_message = self.opts.max_message;
        let tick = self
            .opts
            .call_timeout
            .map(|t| (t / 4).clamp(Duration::from_millis(10), Duration::from_secs(1)))
            .unwrap_or(Duration::from_secs(1));
        let (api, text) = (self.api.clone(), self.text.clone());
        tokio::spawn(async move {
            let (rd, wr) = stream.into_split();
            let mut handler = ClientHandler {
                conn: link_conn.clone(),
                registry,
                tick,
                next_tick: Instant::now() + tick,
            };
            let end = link::run(rd, wr, &link_conn.out, max_message, &mut handler).await;
            if let Some(core) = core.upgrade() {
                core.conn.forget(&link_conn);
            }
            link_conn.disconnected(&api, &text, &end);
        });
        Ok(conn)
    }
}

impl ClientConn {
    /// Whether the link still works.
    fn is_alive(&self) -> bool {
        !lock(&self.st).dead
    }

    /// The link ended: every waiting call gets `disconnected` and mirrored
    /// events are deleted.
    fn disconnected(&self, api: &str, text: &str, end: &End) {
        let (calls, describes, events) = {
            let mut st = lock(&self.st);
            st.dead = true;
            (
                std::mem::take(&mut st.calls),
                std::mem::take(&mut st.describes),
                std::mem::take(&mut st.events),
            )
        };
        self.out.shut();
        tracing::warn!(api, "disconnected from {text}: {end}");
        for p in calls.into_values() {
            if let Some(req) = p.req {
                req.fail(status::DISCONNECTED, Some(format!("the link to {text} was lost")));
            }
        }
        drop(describes);
        drop(events);
    }
}

/// An API imported from a remote binder.
pub(crate) struct ImportedApi {
    core: Arc<ClientCore>,
}

impl ImportedApi {
    pub(crate) fn new(
        registry: &Arc<Registry>,
        api: String,
        connector: Connector,
        text: &str,
        opts: WsapiOptions,
    ) -> Self {
        ImportedApi {
            core: Arc::new(ClientCore {
                api,
                connector,
                text: text.to_owned(),
                opts,
                registry: Arc::downgrade(registry),
                conn: Lazy::new(ClientConn::is_alive),
            }),
        }
    }
}

impl Drop for ImportedApi {
    /// The API is gone from the registry: close its link.
    fn drop(&mut self) {
        if let Some(conn) = self.core.current() {
            conn.out.close.cancel();
        }
    }
}

impl ApiImpl for ImportedApi {
    fn process(&self, req: Request) -> BoxFuture<()> {
        let req = match self.core.current() {
            Some(conn) => match conn.start_call(req) {
                Ok(()) => return Box::pin(std::future::ready(())),
                Err(req) => req,
            },
            None => req,
        };
        let core = self.core.clone();
        Box::pin(async move {
            match core.connect().await {
                Ok(conn) => {
                    if let Err(req) = conn.start_call(req) {
                        req.fail(
                            status::DISCONNECTED,
                            Some(format!("the link to {} was lost", core.text)),
                        );
                    }
                }
                Err(e) => {
                    req.fail(status::DISCONNECTED, Some(e));
                }
            }
        })
    }

    fn describe(&self, _api: &ApiRef) -> BoxFuture<Option<Value>> {
        let core = self.core.clone();
        Box::pin(async move {
            let conn = core.connect().await.ok()?;
            let rx = conn.start_describe()?;
            match core.opts.call_timeout {
                Some(t) => tokio::time::timeout(t, rx).await.ok()?.ok()?,
                None => rx.await.ok()?,
            }
        })
    }
}

/// JSON text received in an `object` field, as a raw value (invalid JSON
/// becomes a JSON string).
fn raw_json(text: &str) -> Box<RawValue> {
    match RawValue::from_string(text.to_owned()) {
        Ok(r) => r,
        Err(_) => {
            RawValue::from_string(object_to_json(text).into_owned()).unwrap_or_else(|_| RawValue::NULL.to_owned())
        }
    }
}

struct ClientHandler {
    conn: Arc<ClientConn>,
    registry: Weak<Registry>,
    tick: Duration,
    next_tick: Instant,
}

impl ClientHandler {
    fn on_reply(&self, callid: u16, error: Option<&str>, info: Option<&str>, reply: &str) {
        let req = {
            let mut st = lock(&self.conn.st);
            match st.calls.remove(&callid) {
                Some(Pending { req: Some(r), .. }) => r,
                Some(Pending { req: None, .. }) => {
                    st.zombies = st.zombies.saturating_sub(1);
                    tracing::debug!(callid, "late reply of a call that timed out: dropped");
                    return;
                }
                None => {
                    tracing::warn!(callid, "reply to an unknown call id: ignored");
                    return;
                }
            }
        };
        let data = (reply != "null").then(|| raw_json(reply));
        let info = info.map(str::to_owned);
        let r = match error {
            None => Reply::success(data, info),
            Some(e) => Reply::error(e.to_owned(), info).with_data(data),
        };
        req.reply(r);
    }

    /// The request of a running call and a mirrored event, for (un)subscribing.
    fn call_and_event(&self, callid: u16, eventid: u16) -> Option<(ReqHandle, Event)> {
        let st = lock(&self.conn.st);
        let req = st.calls.get(&callid).and_then(|p| p.req.as_ref()).map(Request::handle);
        let ev = st.events.get(&eventid).cloned();
        match (req, ev) {
            (Some(r), Some(e)) => Some((r, e)),
            (None, _) => {
                tracing::warn!(callid, eventid, "(un)subscription for a call not in progress: ignored");
                None
            }
            (_, None) => {
                tracing::warn!(callid, eventid, "(un)subscription to an unknown event: ignored");
                None
            }
        }
    }

    fn on_push(&self, eventid: u16, data: &str) {
        let ev = lock(&self.conn.st).events.get(&eventid).cloned();
        let reached = match ev {
            Some(ev) => match serde_json::from_str::<&RawValue>(data) {
                Ok(raw) => ev.push(Some(raw)),
                Err(_) => ev.push(Some(&raw_json(data))),
            },
            None => 0,
        };
        if reached == 0 {
            // Nobody here wants it (or it is unknown): tell the server to stop.
            let _ = self.conn.out.send(&Message::Unexpected { eventid });
        }
    }
}

impl Handler for ClientHandler {
    fn on_message(&mut self, msg: Message<'_>) -> Result<(), String> {
        if msg.direction() != Direction::ServerToClient {
            return Err(format!(
                "message '{}' is sent by clients, not by servers",
                char::from(msg.code())
            ));
        }
        match msg {
            Message::VersionSet(v) => {
                if v != VERSION_1 {
                    return Err(format!("the server chose wsapi version {v}, which was not offered"));
                }
            }
            Message::Reply {
                callid,
                error,
                info,
                reply,
            } => self.on_reply(callid, error, info, reply),
            Message::EventCreate { eventid, name } => {
                if eventid == 0 || name.len() > MAX_EVENT_NAME {
                    return Err(format!(
                        "bad event declaration (id {eventid}, name of {} bytes)",
                        name.len()
                    ));
                }
                let Some(registry) = self.registry.upgrade() else {
                    return Ok(());
                };
                let mut st = lock(&self.conn.st);
                match st.events.entry(eventid) {
                    hashbrown::hash_map::Entry::Occupied(_) => {
                        tracing::warn!(eventid, name, "event id declared twice: the first declaration is kept")
                    }
                    hashbrown::hash_map::Entry::Vacant(v) => {
                        v.insert(registry.new_event_raw(name));
                    }
                }
            }
            Message::EventRemove(eventid) => {
                let ev = lock(&self.conn.st).events.remove(&eventid);
                if ev.is_none() {
                    tracing::debug!(eventid, "removal of an unknown event: ignored");
                }
                drop(ev);
            }
            Message::Subscribe { callid, eventid } => {
                if let Some((req, ev)) = self.call_and_event(callid, eventid) {
                    if let Err(e) = req.subscribe(&ev) {
                        tracing::info!(
                            event = ev.name(),
                            "subscription relayed from the remote API failed: {e}"
                        );
                    }
                }
            }
            Message::Unsubscribe { callid, eventid } => {
                if let Some((req, ev)) = self.call_and_event(callid, eventid) {
                    let _ = req.unsubscribe(&ev);
                }
            }
            Message::Push { eventid, data } => self.on_push(eventid, data),
            Message::Broadcast { name, data, uuid, hop } => {
                if let Some(registry) = self.registry.upgrade() {
                    match serde_json::from_str::<&RawValue>(data) {
                        Ok(raw) => registry.broadcast(name, Some(raw), Some((uuid, hop))),
                        Err(_) => registry.broadcast(name, Some(&raw_json(data)), Some((uuid, hop))),
                    };
                }
            }
            Message::Description { descid, description } => {
                let tx = lock(&self.conn.st).describes.remove(&descid);
                match tx {
                    Some(tx) => {
                        let v = serde_json::from_str::<Value>(&object_to_json(description))
                            .ok()
                            .filter(|v| !v.is_null());
                        let _ = tx.send(v);
                    }
                    None => tracing::warn!(descid, "description for an unknown request: ignored"),
                }
            }
            other => return Err(format!("unexpected message '{}'", char::from(other.code()))),
        }
        Ok(())
    }

    fn next_timer(&self) -> Option<Instant> {
        Some(self.next_tick)
    }

    fn on_timer(&mut self) -> Result<(), String> {
        let now = Instant::now();
        self.next_tick = now + self.tick;
        let (expired, wedged) = {
            let mut st = lock(&self.conn.st);
            let mut expired = Vec::new();
            for p in st.calls.values_mut() {
                if p.req.is_some() && p.deadline.is_some_and(|d| d <= now) {
                    expired.extend(p.req.take());
                }
            }
            st.zombies += expired.len();
            st.sweep_sessions(&self.conn.out);
            (expired, st.zombies > MAX_PENDING / 2)
        };
        for req in expired {
            req.fail(status::TIMEOUT, Some("the remote API did not answer in time".into()));
        }
        if wedged {
            return Err(format!(
                "the remote API left more than {} calls unanswered",
                MAX_PENDING / 2
            ));
        }
        Ok(())
    }
}
