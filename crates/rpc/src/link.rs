//! One RPC v3 connection, both ways: as **caller** it sends the calls of
//! the APIs imported through it (declaring sessions and tokens first) and
//! mirrors the events the callee announces; as **callee** it serves the
//! calls of the peer to the APIs it exports (sessions and tokens the peer
//! declared, events announced and pushed, descriptions), and it relays
//! broadcasts with one hop less.
//!
//! Ids: sessions, tokens and types named in a message are the sender's,
//! events are the callee's, callids the caller's. Every table is bounded
//! (see [`crate::limits`]); what breaks the protocol is returned as an error
//! that ends the link.

// Keys are ids and addresses this binder or its peer picks (bounded by the
// protocol to 16 bits for ids): the fast hasher is safe here.
use hashbrown::HashMap;
use std::borrow::Cow;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use afb_core::event::{BroadcastMsg, PushMsg, WeakEvent};
use afb_core::{status, Call, ClientCancel, Event, Listener, Registry, Reply, ReqHandle, Request, SubscribeError};
use afb_link::call::{Admit, CallSide, Inflight, PeerCall};
use afb_link::caller::{start_call, Caller, Declare, Prepared, Waiting};
use afb_link::ids::{alloc_id, DeclareError, Declared, Unusable};
use afb_link::{parse_creds, End, Outbox, Peer};
use afb_rpc_codec::message::forward_hop;
use afb_rpc_codec::types::type_id;
use afb_rpc_codec::wire::special_verb;
use afb_rpc_codec::{
    status as rpc_status, CallReply, CallRequest, EventBroadcast, EventPush, Message, ResourceKind, Text, Value,
    Values, Verb,
};
use serde_json::Value as Json;
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::convert::{self, nul_free};
use crate::framing::{self, Framing};
use crate::limits;
use crate::spec::{Exports, Target};
use crate::RpcOptions;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// What a description request waits for.
type Describe = oneshot::Sender<Option<Json>>;

/// One of our events announced to the peer.
struct Announced {
    event: WeakEvent,
    /// Subscriptions made through the link minus unsubscriptions.
    subscriptions: u32,
}

struct State {
    // ---- caller side
    caller: Caller<Describe>,
    /// The peer's events (its ids) mirrored here.
    mirrors: HashMap<u16, Event>,
    // ---- callee side
    declared: Option<Declared>,
    /// Types the peer declared (its ids): afb names (static) and the names
    /// of bindings' types.
    types: HashMap<u16, Cow<'static, str>>,
    /// Our events announced: core event id -> wire id.
    ev_ids: HashMap<u64, u16>,
    ev_wire: HashMap<u16, Announced>,
    next_ev: u16,
    /// Calls of the peer in progress.
    inflight: Inflight,
}

impl State {
    fn declared(&mut self) -> &mut Declared {
        self.declared
            .get_or_insert_with(|| Declared::new(limits::MAX_DECLARED_BYTES))
    }

    /// The afb name of a declared type id (bindings' names are not JSON-able).
    fn type_name(&self) -> impl Fn(u16) -> Option<&'static str> + '_ {
        |id| match self.types.get(&id) {
            Some(Cow::Borrowed(n)) => Some(*n),
            _ => None,
        }
    }

    /// The name of any declared type id.
    fn any_type_name<'s>(&'s self) -> impl Fn(u16) -> Option<&'s str> + 's {
        |id| self.types.get(&id).map(|n| &**n)
    }
}

/// What a link starts with.
pub(crate) struct LinkSetup {
    /// For logs: the URI or the peer's address.
    pub(crate) label: String,
    pub(crate) framing: Framing,
    pub(crate) peer: Peer,
    pub(crate) exports: Arc<Exports>,
    /// The default session and token of calls that name none (an HTTP
    /// upgrade's); `None`: a session made at first need, no token.
    pub(crate) session: Option<Arc<afb_core::Session>>,
    pub(crate) token: Option<Arc<str>>,
}

/// One connection.
pub(crate) struct Link {
    me: Weak<Link>,
    registry: Weak<Registry>,
    pub(crate) out: Outbox,
    framing: Framing,
    seq: AtomicU32,
    pub(crate) label: String,
    peer: Peer,
    exports: Arc<Exports>,
    default_token: Option<Arc<str>>,
    /// Cancelled when the link ends: the peer's running calls are answered
    /// `disconnected`.
    gone: ClientCancel,
    opts: Arc<RpcOptions>,
    st: Mutex<State>,
    /// Types we declared to the peer (name -> our id); the lock is held
    /// while a declaration is sent, so that no value overtakes it.
    out_types: Mutex<HashMap<String, u16>>,
}

impl Link {
    pub(crate) fn new(
        registry: &Arc<Registry>,
        setup: LinkSetup,
        opts: Arc<RpcOptions>,
        close: tokio_util::sync::CancellationToken,
    ) -> Arc<Link> {
        let mut st = State {
            caller: Caller::new(opts.call_timeout, limits::MAX_TOKENS),
            mirrors: HashMap::new(),
            declared: None,
            types: HashMap::new(),
            ev_ids: HashMap::new(),
            ev_wire: HashMap::new(),
            next_ev: 1,
            inflight: Inflight::new(opts.max_inflight),
        };
        if let Some(s) = &setup.session {
            st.declared().set_anonymous(s);
        }
        Arc::new_cyclic(|me| Link {
            me: me.clone(),
            registry: Arc::downgrade(registry),
            out: Outbox::new(opts.max_queued, close, "RPC link")
                .observed(registry.hooks().clone(), afb_core::Transport::Rpc),
            framing: setup.framing,
            seq: AtomicU32::new(0),
            label: setup.label,
            peer: setup.peer,
            exports: setup.exports,
            default_token: setup.token,
            gone: ClientCancel::new(tokio_util::sync::CancellationToken::new()),
            opts,
            st: Mutex::new(st),
            out_types: Mutex::new(HashMap::new()),
        })
    }

    /// How long its calls wait for the peer.
    pub(crate) fn call_timeout(&self) -> Option<std::time::Duration> {
        self.opts.call_timeout
    }

    /// Whether the link still works.
    pub(crate) fn is_alive(&self) -> bool {
        !lock(&self.st).caller.is_dead() && !self.out.is_closed()
    }

    fn listener(&self) -> Option<Arc<dyn Listener>> {
        self.me.upgrade().map(|a| a as Arc<dyn Listener>)
    }

    fn weak_listener(&self) -> Weak<dyn Listener> {
        let w: Weak<dyn Listener> = self.me.clone();
        w
    }

    /// Starts receiving broadcasts (once the version is agreed).
    pub(crate) fn opened(&self) {
        if let (Some(r), Some(l)) = (self.registry.upgrade(), self.listener()) {
            r.events().add_listener(&l);
        }
    }

    /// Sends `msg`; `Err(None)`: the link is closed; `Err(Some)`: it cannot be encoded.
    fn send(&self, msg: &Message<'_>) -> Result<(), Option<afb_rpc_codec::EncodeError>> {
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        // Chunks are numbered 1..=65535 (receivers ignore the number).
        let seqno = u16::try_from(n % 65535 + 1).unwrap_or(1);
        framing::send(&self.out, self.framing, msg, seqno)
    }

    /// RESOURCE-CREATE of `kind` `id` as `text`, or RESOURCE-DESTROY without text.
    fn declare(&self, kind: ResourceKind, id: u16, text: Option<&str>) {
        match text {
            Some(t) => self.post(&Message::ResourceCreate {
                kind,
                id,
                text: Text::from(&*nul_free(t)),
            }),
            None => self.post(&Message::ResourceDestroy { kind, id }),
        }
    }

    /// Our id of type `name` on this link, declared (RESOURCE-CREATE TYPE)
    /// at its first use; `None` beyond [`limits::MAX_TYPES`] types.
    fn type_id(&self, name: &str) -> Option<u16> {
        let mut types = lock(&self.out_types);
        if let Some(&id) = types.get(name) {
            return Some(id);
        }
        let id = u16::try_from(types.len() + 1)
            .ok()
            .filter(|_| types.len() < limits::MAX_TYPES)?;
        self.declare(ResourceKind::Type, id, Some(name));
        types.insert(name.to_owned(), id);
        Some(id)
    }

    /// Sends, ignoring failures (a closed link, or a message that cannot
    /// be encoded: logged).
    fn post(&self, msg: &Message<'_>) {
        if let Err(Some(e)) = self.send(msg) {
            tracing::warn!(link = %self.label, "RPC message not sent: {e}");
        }
    }

    // ==== caller side ========================================================

    /// Sends the call of `req` to API `api` of the peer (`None`: its default
    /// API). Gives the request back when the link is dead.
    pub(crate) fn start_call(&self, req: Request, api: Option<&str>) -> Result<(), Request> {
        let send = |ids: Prepared, req: &Request, creds: Option<&str>| {
            let creds = creds.map(nul_free);
            let verb = nul_free(req.verb());
            let api = api.map(nul_free);
            let typed: Vec<Value<'_>>;
            let json = [Value::json(req.args().json_text())];
            let args: &[Value<'_>] = match req.args().typed() {
                Some(list) => {
                    typed = list
                        .iter()
                        .map(|v| convert::wire_value(v, &mut |n| self.type_id(n)))
                        .collect();
                    &typed
                }
                None => &json,
            };
            self.send(&Message::CallRequest(CallRequest {
                callid: ids.callid,
                api: api.as_deref().map(Text::from),
                verb: Verb::name(&verb),
                session: ids.session,
                token: ids.token,
                creds: creds.as_deref().map(Text::from),
                timeout: None,
                values: Values::new(args),
            }))
            .map_err(|e| e.map(|e| e.to_string()))
        };
        start_call(&self.st, |st| &mut st.caller, self, req, send)
    }

    /// Asks the peer for the description of API `api`.
    pub(crate) fn start_describe(&self, api: Option<&str>) -> Option<oneshot::Receiver<Option<Json>>> {
        let mut st = lock(&self.st);
        if st.caller.is_dead() {
            return None;
        }
        let callid = st.caller.new_id()?;
        let api = api.map(nul_free);
        let mut msg = CallRequest::new(callid, Verb::Special(special_verb::DESCRIBE));
        msg.api = api.as_deref().map(Text::from);
        self.send(&Message::CallRequest(msg)).ok()?;
        let (tx, rx) = oneshot::channel();
        st.caller.insert(callid, Waiting::Other(tx));
        Some(rx)
    }

    fn on_reply(&self, reply: CallReply<'_>) -> Result<(), String> {
        let mut st = lock(&self.st);
        let Some(waiting) = st.caller.take(reply.callid) else {
            return Err(format!("reply to call {}, which is not pending", reply.callid));
        };
        match waiting {
            Waiting::Answered => {
                tracing::debug!(link = %self.label, callid = reply.callid, "late reply of a call that timed out: dropped");
            }
            Waiting::Call(req) => {
                let r = convert::reply_of_typed(reply.status, &reply.values, &st.type_name(), &st.any_type_name())?;
                drop(st);
                req.reply(r);
            }
            Waiting::Other(tx) => {
                drop(st);
                let _ = tx.send(description_of(&reply));
            }
        }
        Ok(())
    }

    /// The request of pending call `callid` and the mirror of the peer's
    /// event `eventid`; both must exist. `Ok(None)`: the call was answered
    /// here already.
    fn call_and_event(&self, callid: u16, eventid: u16) -> Result<Option<(ReqHandle, Event)>, String> {
        let st = lock(&self.st);
        let req = match st.caller.get(callid) {
            Some(Waiting::Call(r)) => Some(r.handle()),
            Some(Waiting::Answered) => None,
            Some(Waiting::Other(_)) | None => {
                return Err(format!("(un)subscription for call {callid}, which is not pending"))
            }
        };
        let ev = st
            .mirrors
            .get(&eventid)
            .cloned()
            .ok_or_else(|| format!("(un)subscription to event {eventid}, which is not declared"))?;
        Ok(req.map(|r| (r, ev)))
    }

    fn on_push(&self, push: EventPush<'_>) -> Result<(), String> {
        let (ev, data, typed) = {
            let st = lock(&self.st);
            let ev = st.mirrors.get(&push.eventid).cloned();
            let (data, typed) = match &ev {
                Some(_) if convert::needs_typed(&push.values) => {
                    let (typed, json) = convert::typed_and_json(&push.values, &st.type_name(), &st.any_type_name())?;
                    (json, Some(typed))
                }
                Some(_) => (convert::values_json(&push.values, &st.type_name())?, None),
                None => (None, None),
            };
            (ev, data, typed)
        };
        let reached = ev.map_or(0, |ev| ev.push_typed(data.as_deref(), typed.as_ref()));
        if reached == 0 {
            // Nobody here wants it (or it is unknown): tell the owner.
            self.post(&Message::EventUnexpected { eventid: push.eventid });
        }
        Ok(())
    }

    fn on_broadcast(&self, b: EventBroadcast<'_>) -> Result<(), String> {
        let (data, typed) = {
            let st = lock(&self.st);
            if convert::needs_typed(&b.values) {
                let (typed, json) = convert::typed_and_json(&b.values, &st.type_name(), &st.any_type_name())?;
                (json, Some(typed))
            } else {
                (convert::values_json(&b.values, &st.type_name())?, None)
            }
        };
        let Ok(name) = b.name.to_str() else {
            tracing::info!(link = %self.label, "broadcast with a name that is not UTF-8: ignored");
            return Ok(());
        };
        if let Some(r) = self.registry.upgrade() {
            r.events()
                .broadcast_typed(name, data.as_deref(), typed.as_ref(), Some((b.uuid, b.hop)));
        }
        Ok(())
    }

    // ==== resources ==========================================================

    fn on_create(&self, kind: ResourceKind, id: u16, text: Text<'_>) -> Result<(), String> {
        if !kind.is_known() {
            tracing::debug!(link = %self.label, kind = kind.code(), "creation of a resource of unknown kind: ignored");
            return Ok(());
        }
        if id == 0 {
            return Err(format!("{kind:?} id 0 declared (0 means none)"));
        }
        let text = text
            .to_str()
            .map_err(|_| format!("{kind:?} {id} declared with a text that is not UTF-8"))?;
        let Some(registry) = self.registry.upgrade() else {
            return Ok(());
        };
        let mut st = lock(&self.st);
        match kind {
            ResourceKind::Session => {
                if text.is_empty() || text.len() > limits::MAX_SESSION_UUID {
                    return Err(format!(
                        "session uuid of {} bytes (1..={})",
                        text.len(),
                        limits::MAX_SESSION_UUID
                    ));
                }
                match st.declared().declare_session(&registry, id, text, false) {
                    Err(DeclareError::Duplicate) => return Err(format!("session {id} declared twice")),
                    Err(DeclareError::TooMuch) => return Err("too many sessions and tokens declared".into()),
                    Ok(Err(e)) => tracing::warn!(
                        link = %self.label,
                        id,
                        "session declared by the peer not made yet ({e}): each call naming it tries again"
                    ),
                    Ok(Ok(())) => {}
                }
            }
            ResourceKind::Token => {
                if text.len() > limits::MAX_TOKEN {
                    return Err(format!("token of {} bytes (at most {})", text.len(), limits::MAX_TOKEN));
                }
                match st.declared().declare_token(id, text, false) {
                    Err(DeclareError::Duplicate) => return Err(format!("token {id} declared twice")),
                    Err(DeclareError::TooMuch) => return Err("too many sessions and tokens declared".into()),
                    Ok(()) => {}
                }
            }
            ResourceKind::Event => {
                if text.is_empty() || text.len() > limits::MAX_EVENT_NAME {
                    return Err(format!(
                        "event name of {} bytes (1..={})",
                        text.len(),
                        limits::MAX_EVENT_NAME
                    ));
                }
                if st.mirrors.contains_key(&id) {
                    return Err(format!("event {id} declared twice"));
                }
                if st.mirrors.len() >= self.opts.max_events {
                    return Err(format!("more than {} events declared", self.opts.max_events));
                }
                st.mirrors.insert(id, registry.events().new_event_raw(text));
            }
            ResourceKind::Type => {
                // An afb name (`#...`) must be known; a binding's type is
                // taken by name (its values keep their bytes).
                let name = match convert::known_type(text) {
                    Some(n) => Cow::Borrowed(n),
                    None if !text.starts_with('#') && !text.is_empty() && text.len() <= limits::MAX_TYPE_NAME => {
                        Cow::Owned(text.to_owned())
                    }
                    None => return Err(format!("unknown type {text:?} declared")),
                };
                if st.types.contains_key(&id) {
                    return Err(format!("type {id} declared twice"));
                }
                if st.types.len() >= limits::MAX_TYPES {
                    return Err(format!("more than {} types declared", limits::MAX_TYPES));
                }
                st.types.insert(id, name);
            }
            // The decoder refuses the other kinds of the table.
            other => return Err(format!("creation of a resource of kind {other:?}")),
        }
        Ok(())
    }

    fn on_destroy(&self, kind: ResourceKind, id: u16) -> Result<(), String> {
        let mut st = lock(&self.st);
        let live = match kind {
            ResourceKind::Session => st.declared().forget_session(id),
            ResourceKind::Token => st.declared().forget_token(id),
            ResourceKind::Event => st.mirrors.remove(&id).is_some(),
            ResourceKind::Type => st.types.remove(&id).is_some(),
            other if !other.is_known() => return Ok(()),
            other => return Err(format!("destruction of a resource of kind {other:?}")),
        };
        if live {
            Ok(())
        } else {
            Err(format!("destruction of {kind:?} {id}, which is not declared"))
        }
    }

    // ==== callee side ========================================================

    /// Answers call `callid` with `status` and an optional info text.
    fn refuse(&self, callid: u16, code: i32, info: Option<&str>) {
        let v = info.map(|i| Value::stringz(Some(i)));
        self.post(&Message::CallReply(CallReply {
            callid,
            status: code,
            values: Values::new(v.as_slice()),
        }));
    }

    fn on_call(&self, c: CallRequest<'_>) -> Result<(), String> {
        let Some(me) = self.me.upgrade() else {
            return Ok(());
        };
        let Some(registry) = self.registry.upgrade() else {
            return Ok(());
        };
        let callid = c.callid;
        if let Verb::Special(id) = c.verb {
            if id != special_verb::DESCRIBE {
                return Err(format!("special verb 0x{id:04x} is not implemented"));
            }
        }
        // Values are checked whatever becomes of the call (as C decodes them first).
        let args = {
            let st = lock(&self.st);
            let args = convert::args_of(&c.values, &st.type_name(), &st.any_type_name())?;
            args
        };
        let api = match c.api.map(|a| a.to_str()) {
            None => None,
            Some(Ok(a)) => Some(a),
            Some(Err(_)) => {
                self.refuse(callid, rpc_status::UNAUTHORIZED, Some("API name not UTF-8"));
                return Ok(());
            }
        };
        let Some(target) = self.exports.resolve(api) else {
            tracing::info!(link = %self.label, api = api.unwrap_or(""), "call of an API not exported on this link: refused");
            let info = match api {
                Some(a) => format!("API {a} is not exported here"),
                None => "no default API here".to_owned(),
            };
            self.refuse(callid, rpc_status::UNAUTHORIZED, Some(&info));
            return Ok(());
        };
        let verb = match c.verb {
            Verb::Special(_) => return self.on_describe(callid, target),
            Verb::Name(v) => match v.to_str() {
                Ok(v) => v,
                Err(_) => {
                    self.refuse(callid, rpc_status::UNKNOWN_VERB, Some("verb name not UTF-8"));
                    return Ok(());
                }
            },
        };
        let (session, token) = {
            let mut st = lock(&self.st);
            if let Admit::Busy(info) = st.inflight.admit(true)? {
                drop(st);
                self.refuse(callid, rpc_status::NOT_AVAILABLE, Some(&info));
                return Ok(());
            }
            let session = st.declared().session_for(&registry, c.session);
            let token = match c.token {
                0 => Ok(self.default_token.clone()),
                id => st.declared().token(id).cloned().map(Some).ok_or(Unusable::Unknown),
            };
            match (session, token) {
                (Ok(s), Ok(t)) => (s, t),
                (Err(Unusable::Store(e)), _) => {
                    st.inflight.done();
                    drop(st);
                    self.refuse(callid, rpc_status::NOT_AVAILABLE, Some(&e.to_string()));
                    return Ok(());
                }
                (s, _) => {
                    st.inflight.done();
                    drop(st);
                    let what = if s.is_err() { "session" } else { "token" };
                    tracing::info!(link = %self.label, "call with an undeclared {what} id: refused");
                    self.refuse(callid, rpc_status::INVALID_REQUEST, Some(&format!("unknown {what} id")));
                    return Ok(());
                }
            }
        };
        // Credentials passed on behalf of a client of the peer: taken from
        // a peer running as root or as us, or one the permission backend
        // grants `urn:redpesk:permission:*:partner:on-behalf-credentials`.
        let (creds, on_behalf) = match c.creds {
            None => (self.peer.creds.clone(), false),
            Some(text) => match text.to_str().ok().and_then(parse_creds) {
                Some(c) => (Some(Arc::new(c)), !self.peer.trusted),
                None => {
                    self.reply(
                        callid,
                        Reply::error(status::INTERNAL_ERROR, Some("unreadable credentials".into())),
                    );
                    return Ok(());
                }
            },
        };
        let (local, external) = match target {
            Target::Named(l) => (l, false),
            Target::Public(l) => (l, true),
        };
        let (client, sink) = PeerCall::client(&me, callid, session, token, creds, &self.gone);
        let client = client.with_transport(afb_core::Transport::Rpc);
        let call = Call {
            api: local,
            verb,
            args,
            client,
            external,
            chain: None,
        };
        if !on_behalf {
            registry.dispatch(call, sink);
            return Ok(());
        }
        let ask = afb_core::access::may_act_on_behalf(&registry, self.peer.creds.clone());
        let (api, verb) = (call.api.to_owned(), call.verb.to_owned());
        let (args, client) = (call.args, call.client);
        tokio::spawn(async move {
            if ask.await {
                let call = Call {
                    api: &api,
                    verb: &verb,
                    args,
                    client,
                    external,
                    chain: None,
                };
                registry.dispatch(call, sink);
            } else {
                tracing::info!(link = %me.label, "call on behalf of another client from a peer without the permission: refused");
                sink.reply(Reply::error(
                    status::INSUFFICIENT_SCOPE,
                    Some("this peer may not call on behalf of others".into()),
                ));
            }
        });
        Ok(())
    }

    /// DESCRIBE: our description as JSON text in an untyped value (empty
    /// without description), as soon as the API gives it.
    fn on_describe(&self, callid: u16, target: Target<'_>) -> Result<(), String> {
        let (Some(me), Some(registry)) = (self.me.upgrade(), self.registry.upgrade()) else {
            return Ok(());
        };
        let (name, external) = match target {
            Target::Named(n) => (n.to_owned(), false),
            Target::Public(n) => (n.to_owned(), true),
        };
        match registry.get_api(&name) {
            Some(e) if !(external && e.is_private()) => {}
            _ => {
                self.refuse(callid, rpc_status::UNKNOWN_API, Some(&format!("api {name} not found")));
                return Ok(());
            }
        }
        lock(&self.st).inflight.admit(false)?;
        tokio::spawn(async move {
            let d = registry.describe(&name).await;
            let mut text = d.map(|v| v.to_string().into_bytes()).unwrap_or_default();
            if !text.is_empty() {
                text.push(0);
            }
            lock(&me.st).inflight.done();
            let value = [Value::Untyped(&text)];
            let sent = me.send(&Message::CallReply(CallReply {
                callid,
                status: rpc_status::SUCCESS,
                values: Values::new(&value),
            }));
            if let Err(Some(e)) = sent {
                tracing::warn!(link = %me.label, "description not sent: {e}");
                me.refuse(
                    callid,
                    rpc_status::INTERNAL_ERROR,
                    Some("the description cannot be sent over RPC"),
                );
            }
        });
        Ok(())
    }

    /// The peer has no use for our event `wid`: stop sending it.
    fn on_unexpected(&self, wid: u16) {
        let mut st = lock(&self.st);
        let Some(a) = st.ev_wire.remove(&wid) else {
            tracing::debug!(link = %self.label, eventid = wid, "unexpected event id unknown here: ignored");
            return;
        };
        st.ev_ids.remove(&a.event.id());
        self.post(&Message::ResourceDestroy {
            kind: ResourceKind::Event,
            id: wid,
        });
        drop(st);
        if let Some(ev) = a.event.upgrade() {
            ev.remove_listener(&self.weak_listener());
        }
    }

    /// The wire id of our `event`, announcing it first.
    fn event_id(&self, st: &mut State, event: &Event) -> Result<u16, SubscribeError> {
        if let Some(&wid) = st.ev_ids.get(&event.id()) {
            return Ok(wid);
        }
        let limit = self.opts.max_events.min(usize::from(u16::MAX));
        if st.ev_wire.len() >= limit {
            return Err(SubscribeError::Limit(limit));
        }
        let State { ev_wire, next_ev, .. } = st;
        let wid = alloc_id(next_ev, |id| ev_wire.contains_key(&id));
        let name = nul_free(event.name());
        self.send(&Message::ResourceCreate {
            kind: ResourceKind::Event,
            id: wid,
            text: Text::from(&*name),
        })
        .map_err(|_| SubscribeError::Refused("link closed".into()))?;
        st.ev_ids.insert(event.id(), wid);
        st.ev_wire.insert(
            wid,
            Announced {
                event: event.downgrade(),
                subscriptions: 0,
            },
        );
        if let Some(l) = self.listener() {
            event.add_listener(&l);
        }
        Ok(wid)
    }

    // ==== both ===============================================================

    /// A message of the peer; an error ends the link.
    pub(crate) fn on_message(&self, msg: Message<'_>) -> Result<(), String> {
        match msg {
            Message::CallRequest(c) => self.on_call(c),
            Message::CallReply(r) => self.on_reply(r),
            Message::EventPush(p) => self.on_push(p),
            Message::EventSubscribe { callid, eventid } => {
                if let Some((req, ev)) = self.call_and_event(callid, eventid)? {
                    match req.subscribe(&ev) {
                        Ok(()) => {}
                        Err(SubscribeError::NoListener) => {
                            tracing::debug!(link = %self.label, event = ev.name(), "subscription for a client that takes no events: ignored")
                        }
                        Err(e) => {
                            tracing::info!(link = %self.label, event = ev.name(), "subscription relayed from the peer failed: {e}")
                        }
                    }
                }
                Ok(())
            }
            Message::EventUnsubscribe { callid, eventid } => {
                if let Some((req, ev)) = self.call_and_event(callid, eventid)? {
                    let _ = req.unsubscribe(&ev);
                }
                Ok(())
            }
            Message::EventUnexpected { eventid } => {
                self.on_unexpected(eventid);
                Ok(())
            }
            Message::EventBroadcast(b) => self.on_broadcast(b),
            Message::ResourceCreate { kind, id, text } => self.on_create(kind, id, text),
            Message::ResourceDestroy { kind, id } => self.on_destroy(kind, id),
            Message::VersionOffer { .. } | Message::VersionSet { .. } => {
                Err("version message after the version exchange".into())
            }
        }
    }

    /// The timer: calls past their timeout are answered `timeout`, gone
    /// sessions are forgotten. An error ends the link.
    pub(crate) fn on_tick(&self, now: Instant) -> Result<(), String> {
        let expired = lock(&self.st).caller.tick(now, self);
        for req in expired.calls {
            req.fail(status::TIMEOUT, Some("the remote binder did not answer in time".into()));
        }
        if expired.wedged {
            return Err("the peer leaves too many calls unanswered".into());
        }
        Ok(())
    }

    /// The link ended: calls waiting for the peer get `disconnected`,
    /// mirrored events vanish, the peer's running calls are cancelled, and
    /// everything the link held is released.
    pub(crate) fn ended(&self, end: &End) {
        self.gone.token().cancel();
        self.out.shut();
        self.out.close.cancel();
        if let (Some(r), Some(l)) = (self.registry.upgrade(), self.listener()) {
            r.events().remove_listener(&l);
        }
        let (calls, mirrors, announced, declared) = {
            let mut st = lock(&self.st);
            st.ev_ids.clear();
            st.types.clear();
            (
                st.caller.close(),
                std::mem::take(&mut st.mirrors),
                std::mem::take(&mut st.ev_wire),
                st.declared.take(),
            )
        };
        if end.is_error() {
            tracing::warn!(link = %self.label, "RPC link closed: {end}");
        } else {
            tracing::info!(link = %self.label, "RPC link closed: {end}");
        }
        for w in calls {
            if let Waiting::Call(req) = w {
                req.fail(
                    status::DISCONNECTED,
                    Some(format!("the link to {} was lost", self.label)),
                );
            }
        }
        let weak = self.weak_listener();
        for ev in announced.values().filter_map(|a| a.event.upgrade()) {
            ev.remove_listener(&weak);
        }
        drop(mirrors);
        drop(declared);
    }
}

/// The JSON of a DESCRIBE reply: an untyped value or a JSON value holding
/// JSON text (empty: no description).
fn description_of(reply: &CallReply<'_>) -> Option<Json> {
    if reply.status < 0 {
        return None;
    }
    let text = match reply.values.first()? {
        Value::Untyped(bytes) => bytes,
        Value::Typed {
            type_id: type_id::JSON | type_id::STRINGZ,
            bytes,
        } => bytes,
        _ => return None,
    };
    let end = text.iter().position(|&b| b == 0).unwrap_or(text.len());
    serde_json::from_slice::<Json>(text.get(..end)?)
        .ok()
        .filter(|v| !v.is_null())
}

impl Listener for Link {
    fn push(&self, msg: &PushMsg<'_>) {
        let st = lock(&self.st);
        if let Some(&eventid) = st.ev_ids.get(&msg.event.id()) {
            let json = [Value::json(msg.data.get())];
            let typed: Vec<Value<'_>>;
            let data: &[Value<'_>] = match msg.typed {
                Some(list) => {
                    typed = list
                        .iter()
                        .map(|v| convert::wire_value(v, &mut |n| self.type_id(n)))
                        .collect();
                    &typed
                }
                None => &json,
            };
            self.post(&Message::EventPush(EventPush {
                eventid,
                values: Values::new(data),
            }));
        }
    }

    fn broadcast(&self, msg: &BroadcastMsg<'_>) {
        let Some(hop) = forward_hop(msg.hop) else {
            return;
        };
        let framing = self.framing;
        if let Some(list) = msg.typed {
            // Typed: the ids of named types are this link's own.
            let name = nul_free(msg.name);
            let data: Vec<Value<'_>> = list
                .iter()
                .map(|v| convert::wire_value(v, &mut |n| self.type_id(n)))
                .collect();
            self.post(&Message::EventBroadcast(EventBroadcast {
                name: Text::from(&*name),
                uuid: msg.uuid,
                hop,
                values: Values::new(&data),
            }));
            return;
        }
        if framing == Framing::WsMasked {
            // Masked per frame: nothing to share with other links.
            let name = nul_free(msg.name);
            let data = [Value::json(msg.data.get())];
            self.post(&Message::EventBroadcast(EventBroadcast {
                name: Text::from(&*name),
                uuid: msg.uuid,
                hop,
                values: Values::new(&data),
            }));
            return;
        }
        let encoded: Encoded = msg.cache.get_or_compute(|| {
            let name = nul_free(msg.name);
            let data = [Value::json(msg.data.get())];
            let b = Message::EventBroadcast(EventBroadcast {
                name: Text::from(&*name),
                uuid: msg.uuid,
                hop,
                values: Values::new(&data),
            });
            let mut raw = Vec::new();
            let mut ws = Vec::new();
            let ok = framing::encode_into(Framing::Raw, &b, 1, &mut raw).is_ok()
                && framing::encode_into(Framing::Ws, &b, 1, &mut ws).is_ok();
            if !ok {
                tracing::warn!(event = msg.name, "broadcast too large for RPC links: not relayed");
            }
            Encoded {
                raw: raw.into(),
                ws: ws.into(),
            }
        });
        let bytes = match framing {
            Framing::Raw => &encoded.raw,
            Framing::Ws | Framing::WsMasked => &encoded.ws,
        };
        if !bytes.is_empty() {
            let _ = self.out.send_raw(bytes);
        }
    }

    fn event_removed(&self, event_id: u64, _name: &str) {
        let mut st = lock(&self.st);
        if let Some(wid) = st.ev_ids.remove(&event_id) {
            st.ev_wire.remove(&wid);
            self.post(&Message::ResourceDestroy {
                kind: ResourceKind::Event,
                id: wid,
            });
        }
    }
}

/// A broadcast encoded once for every RPC link, in both framings.
#[derive(Clone)]
struct Encoded {
    raw: Arc<[u8]>,
    ws: Arc<[u8]>,
}

impl Declare for Link {
    fn session(&self, id: u16, uuid: &str) {
        self.declare(ResourceKind::Session, id, Some(uuid))
    }

    fn forget_session(&self, id: u16) {
        self.declare(ResourceKind::Session, id, None)
    }

    fn token(&self, id: u16, token: &str) {
        self.declare(ResourceKind::Token, id, Some(token))
    }

    fn forget_token(&self, id: u16) {
        self.declare(ResourceKind::Token, id, None)
    }
}

/// The calls of the peer: their replies, and RESOURCE-CREATE EVENT (the
/// first time) then EVENT-SUBSCRIBE when they subscribe the peer's client.
impl CallSide for Link {
    fn remote(&self) -> Option<std::net::SocketAddr> {
        self.peer.remote
    }

    /// The reply as [`convert::reply_values`] makes it, or `internal-error`
    /// when it cannot be encoded.
    fn reply(&self, callid: u16, reply: Reply) {
        lock(&self.st).inflight.done();
        let sent = match (&reply.typed, &reply.info) {
            // A v4 binding's typed reply: its code and values as they are.
            (Some(list), None) => {
                let values: Vec<Value<'_>> = list
                    .iter()
                    .map(|v| convert::wire_value(v, &mut |n| self.type_id(n)))
                    .collect();
                let code = if reply.is_success() {
                    reply.code.max(0)
                } else {
                    reply.code.min(-1)
                };
                self.send(&Message::CallReply(CallReply {
                    callid,
                    status: code,
                    values: Values::new(&values),
                }))
            }
            _ => convert::reply_values(&reply, |code, values| {
                self.send(&Message::CallReply(CallReply {
                    callid,
                    status: code,
                    values: Values::new(values),
                }))
            }),
        };
        if let Err(Some(e)) = sent {
            tracing::warn!(link = %self.label, callid, "reply not sent: {e}; internal-error sent instead");
            self.refuse(
                callid,
                rpc_status::INTERNAL_ERROR,
                Some("the reply cannot be sent over RPC"),
            );
        }
    }

    fn subscribe(&self, callid: u16, event: &Event) -> Result<(), SubscribeError> {
        let closed = |_| SubscribeError::Refused("link closed".into());
        let mut guard = lock(&self.st);
        let st = &mut *guard;
        let eventid = self.event_id(st, event)?;
        self.send(&Message::EventSubscribe { callid, eventid })
            .map_err(closed)?;
        if let Some(a) = st.ev_wire.get_mut(&eventid) {
            a.subscriptions = a.subscriptions.saturating_add(1);
        }
        Ok(())
    }

    fn unsubscribe(&self, callid: u16, event: &Event) -> Result<(), SubscribeError> {
        let mut st = lock(&self.st);
        let Some(&eventid) = st.ev_ids.get(&event.id()) else {
            return Ok(());
        };
        self.send(&Message::EventUnsubscribe { callid, eventid })
            .map_err(|_| SubscribeError::Refused("link closed".into()))?;
        let unused = st.ev_wire.get_mut(&eventid).is_some_and(|a| {
            a.subscriptions = a.subscriptions.saturating_sub(1);
            a.subscriptions == 0
        });
        if unused {
            // Nothing on this link listens any more: forget the event here and there.
            st.ev_wire.remove(&eventid);
            st.ev_ids.remove(&event.id());
            self.post(&Message::ResourceDestroy {
                kind: ResourceKind::Event,
                id: eventid,
            });
            drop(st);
            event.remove_listener(&self.weak_listener());
        }
        Ok(())
    }
}
