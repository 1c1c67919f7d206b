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
use afb_core::{ApiImpl, ApiRef, BoxFuture, Event, Registry, Reply, ReqHandle, Request};
use afb_endpoint::Connector;
use afb_wsapi_codec::message::SUPPORTED_VERSIONS;
use afb_wsapi_codec::{object_to_json, Direction, Message, MAX_PENDING, VERSION_1};
use serde_json::value::RawValue;
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use afb_core::api::BoxFuture as Boxed;
use afb_link::caller::{start_call, Caller, Declare, Ticker, Waiting};
use afb_link::lazy::{call_through, connect, Connects, Lazy};
use afb_link::{End, Outbox};

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

/// What a description request waits for.
type Describe = oneshot::Sender<Option<Value>>;

struct ConnState {
    caller: Caller<Describe>,
    events: HashMap<u16, Event>,
}

/// One connection to the remote binder.
pub(crate) struct ClientConn {
    out: Outbox,
    st: Mutex<ConnState>,
}

impl Declare for ClientConn {
    fn session(&self, id: u16, uuid: &str) {
        let _ = self.out.send(&Message::SessionCreate { id, uuid: &clean(uuid) });
    }

    fn forget_session(&self, id: u16) {
        let _ = self.out.send(&Message::SessionRemove(id));
    }

    fn token(&self, id: u16, token: &str) {
        let _ = self.out.send(&Message::TokenCreate {
            id,
            token: &clean(token),
        });
    }

    fn forget_token(&self, id: u16) {
        let _ = self.out.send(&Message::TokenRemove(id));
    }
}

impl ClientConn {
    /// Sends a call; gives the request back when the link is dead.
    fn start_call(&self, req: Request) -> Result<(), Request> {
        start_call(
            &self.st,
            |st| &mut st.caller,
            self,
            req,
            |ids, req, creds| {
                let (verb, creds) = (clean(req.verb()), creds.map(clean));
                let msg = Message::Call {
                    callid: ids.callid,
                    verb: &verb,
                    sessionid: ids.session,
                    tokenid: ids.token,
                    args: req.args().json_text(),
                    user_creds: creds.as_deref(),
                };
                self.out.send(&msg).map_err(|_| None)
            },
        )
    }

    /// Asks for the description; `None` when the link is dead or busy.
    fn start_describe(&self) -> Option<oneshot::Receiver<Option<Value>>> {
        let mut st = lock(&self.st);
        if st.caller.is_dead() {
            return None;
        }
        let descid = st.caller.new_id()?;
        self.out.send(&Message::Describe { descid }).ok()?;
        let (tx, rx) = oneshot::channel();
        st.caller.insert(descid, Waiting::Other(tx));
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

impl Connects for ClientCore {
    type Link = ClientConn;

    fn lazy(&self) -> &Lazy<ClientConn> {
        &self.conn
    }

    fn open(self: Arc<Self>) -> Boxed<Result<Arc<ClientConn>, String>> {
        Box::pin(async move { self.open_link().await })
    }
}

impl ClientCore {
    fn current(&self) -> Option<Arc<ClientConn>> {
        self.conn.current()
    }

    /// Connects, offers the version and starts the link.
    async fn open_link(self: &Arc<Self>) -> Result<Arc<ClientConn>, String> {
        let r = self.open_link_inner().await;
        self.link_state(r.is_ok());
        r
    }

    /// Tells the registry's observer the link is up or down.
    fn link_state(&self, up: bool) {
        if let Some(reg) = self.registry.upgrade() {
            if let Some(o) = reg.hooks().get() {
                o.link(afb_core::Transport::Wsapi, &self.text, up);
            }
        }
    }

    async fn open_link_inner(self: &Arc<Self>) -> Result<Arc<ClientConn>, String> {
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
        let mut out = Outbox::new(self.opts.max_queued, CancellationToken::new(), "wsapi link");
        if let Some(reg) = self.registry.upgrade() {
            out = out.observed(reg.hooks().clone(), afb_core::Transport::Wsapi);
        }
        let conn = Arc::new(ClientConn {
            out,
            st: Mutex::new(ConnState {
                caller: Caller::new(self.opts.call_timeout, MAX_TOKENS),
                events: HashMap::new(),
            }),
        });
        let _ = conn.out.send(&Message::VersionOffer {
            versions: SUPPORTED_VERSIONS,
        });
        tracing::info!(api = %self.api, "connected to {}", self.text);
        let core = Arc::downgrade(self);
        let link_conn = conn.clone();
        let registry = self.registry.clone();
        let max_message = self.opts.max_message;
        let ticker = Ticker::new(self.opts.call_timeout);
        let (api, text) = (self.api.clone(), self.text.clone());
        tokio::spawn(async move {
            let (rd, wr) = stream.into_split();
            let mut handler = ClientHandler {
                conn: link_conn.clone(),
                registry,
                ticker,
            };
            let end = link::run(rd, wr, &link_conn.out, max_message, &mut handler).await;
            if let Some(core) = core.upgrade() {
                core.conn.forget(&link_conn);
                core.link_state(false);
            }
            link_conn.disconnected(&api, &text, &end);
        });
        Ok(conn)
    }
}

impl ClientConn {
    /// Whether the link still works.
    fn is_alive(&self) -> bool {
        !lock(&self.st).caller.is_dead()
    }

    /// The link ended: every waiting call gets `disconnected` and mirrored
    /// events are deleted.
    fn disconnected(&self, api: &str, text: &str, end: &End) {
        let (waits, events) = {
            let mut st = lock(&self.st);
            (st.caller.close(), std::mem::take(&mut st.events))
        };
        self.out.shut();
        tracing::warn!(api, "disconnected from {text}: {end}");
        for w in waits {
            if let Waiting::Call(req) = w {
                req.fail(status::DISCONNECTED, Some(format!("the link to {text} was lost")));
            }
        }
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
                conn: Lazy::new(ClientConn::is_alive, text),
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
        call_through(
            &self.core,
            req,
            &(),
            |conn, _, req| conn.start_call(req),
            status::DISCONNECTED,
        )
    }

    fn describe(&self, _api: &ApiRef) -> BoxFuture<Option<Value>> {
        let core = self.core.clone();
        // The description waits as long as a call (then its sender is dropped).
        Box::pin(async move { connect(&core).await.ok()?.start_describe()?.await.ok()? })
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
    ticker: Ticker,
}

impl ClientHandler {
    fn on_reply(&self, callid: u16, error: Option<&str>, info: Option<&str>, reply: &str) {
        let req = {
            let mut st = lock(&self.conn.st);
            match st.caller.take(callid) {
                Some(Waiting::Call(r)) => r,
                Some(Waiting::Answered) => {
                    tracing::debug!(callid, "late reply of a call that timed out: dropped");
                    return;
                }
                Some(Waiting::Other(_)) | None => {
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
        let req = match st.caller.get(callid) {
            Some(Waiting::Call(r)) => Some(r.handle()),
            _ => None,
        };
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
                        v.insert(registry.events().new_event_raw(name));
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
                        Ok(raw) => registry.events().broadcast(name, Some(raw), Some((uuid, hop))),
                        Err(_) => registry
                            .events()
                            .broadcast(name, Some(&raw_json(data)), Some((uuid, hop))),
                    };
                }
            }
            Message::Description { descid, description } => {
                let tx = lock(&self.conn.st).caller.take(descid);
                match tx {
                    Some(Waiting::Other(tx)) => {
                        let v = serde_json::from_str::<Value>(&object_to_json(description))
                            .ok()
                            .filter(|v| !v.is_null());
                        let _ = tx.send(v);
                    }
                    _ => tracing::warn!(descid, "description for an unknown request: ignored"),
                }
            }
            other => return Err(format!("unexpected message '{}'", char::from(other.code()))),
        }
        Ok(())
    }

    fn next_timer(&self) -> Option<Instant> {
        Some(self.ticker.at())
    }

    fn on_timer(&mut self) -> Result<(), String> {
        let now = self.ticker.fire();
        let expired = lock(&self.conn.st).caller.tick(now, &*self.conn);
        for req in expired.calls {
            req.fail(status::TIMEOUT, Some("the remote API did not answer in time".into()));
        }
        if expired.wedged {
            return Err(format!(
                "the remote API left more than {} calls unanswered",
                MAX_PENDING / 2
            ));
        }
        Ok(())
    }
}
