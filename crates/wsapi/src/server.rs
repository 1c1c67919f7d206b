//! The server stub (`--ws-server`): one link per connected peer binder, each
//! exporting one local API. The link declares the peer's sessions and tokens
//! (`S`/`s`, `T`/`t`), turns calls (`K`) into [`Registry::dispatch`] and
//! replies (`k`), answers descriptions (`D`/`d`), and, as an event
//! [`Listener`], forwards the events its calls subscribed to (`E`, `X`, `x`,
//! `P`, `e`) and the broadcasts (`B`, with one hop less).

// Keys are ids and addresses this binder or its peer picks (bounded by the
// protocol to 16 bits for ids): the fast hasher is safe here.
use hashbrown::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use afb_core::event::{BroadcastMsg, PushMsg, WeakEvent};
use afb_core::{Args, Call, ClientCancel, Event, Listener, Registry, Reply, SubscribeError};
use afb_wsapi_codec::message::{choose_version, forward_hop};
use afb_wsapi_codec::{encode_framed, object_to_json, Direction, Message};
use serde_json::value::RawValue;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use afb_link::call::{Admit, CallSide, Inflight, PeerCall};
use afb_link::ids::{DeclareError, Declared, Unusable};
use afb_link::{Outbox, Peer};

use crate::link::{self, Handler, SendMsg};
use crate::{clean, WsapiOptions};

/// Longest session uuid a peer may declare.
pub(crate) const MAX_SESSION_UUID: usize = 256;
/// Longest token a peer may declare.
pub(crate) const MAX_TOKEN: usize = 4096;
/// Bytes of session uuids and tokens a peer may keep declared at once.
const MAX_DECLARED_BYTES: usize = 4 << 20;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

struct State {
    version: Option<u8>,
    declared: Declared,
    /// Events announced on this link: core event id -> wire id.
    ev_ids: HashMap<u64, u16>,
    /// Wire id -> event.
    ev_wire: HashMap<u16, WeakEvent>,
    next_ev: u16,
    /// Calls and descriptions in progress.
    inflight: Inflight,
}

/// One connected peer of an exported API.
pub(crate) struct ServerLink {
    me: Weak<ServerLink>,
    registry: Arc<Registry>,
    api: Arc<str>,
    out: Outbox,
    /// Cancelled when the link ends: the peer's running calls are answered
    /// `disconnected` (with the watcher of those replied asynchronously).
    gone: ClientCancel,
    peer: Peer,
    /// Distinct events relayed at once.
    max_events: usize,
    st: Mutex<State>,
}

impl ServerLink {
    fn arc(&self) -> Option<Arc<ServerLink>> {
        self.me.upgrade()
    }

    fn listener(&self) -> Option<Arc<dyn Listener>> {
        self.arc().map(|a| a as Arc<dyn Listener>)
    }

    fn weak_listener(&self) -> Weak<dyn Listener> {
        let w: Weak<dyn Listener> = self.me.clone();
        w
    }

    fn reply_raw(&self, callid: u16, error: Option<&str>, info: Option<&str>, reply: &str) {
        let error = error.map(clean);
        let info = info.map(clean);
        let _ = self.out.send(&Message::Reply {
            callid,
            error: error.as_deref(),
            info: info.as_deref(),
            reply,
        });
    }

    fn finished(&self) {
        lock(&self.st).inflight.done();
    }

    /// Sends the reply of call `callid`.
    fn reply(&self, callid: u16, r: Reply) {
        self.finished();
        let error = (!r.is_success()).then_some(&*r.status);
        self.reply_raw(callid, error, r.info.as_deref(), r.data_json().unwrap_or("null"));
    }

    fn on_version(&self, versions: &[u8]) -> Result<(), String> {
        match choose_version(versions) {
            Some(v) => {
                let first = lock(&self.st).version.replace(v).is_none();
                let _ = self.out.send(&Message::VersionSet(v));
                if first {
                    // Broadcasts go to links that completed their handshake only.
                    if let Some(l) = self.listener() {
                        self.registry.events().add_listener(&l);
                    }
                }
                Ok(())
            }
            None => Err(format!("no common wsapi version (offered {versions:?}, supported [1])")),
        }
    }

    fn declare_session(&self, id: u16, uuid: &str) -> Result<(), String> {
        if id == 0 {
            return Err("session id 0 declared (0 means none)".into());
        }
        if uuid.is_empty() || uuid.len() > MAX_SESSION_UUID {
            return Err(format!("session uuid of {} bytes (1..={MAX_SESSION_UUID})", uuid.len()));
        }
        let mut st = lock(&self.st);
        let replaced = st.declared.has_session(id);
        match st.declared.declare_session(&self.registry, id, uuid, true) {
            Err(DeclareError::TooMuch) => return Err("too many sessions and tokens declared".into()),
            Err(DeclareError::Duplicate) => {}
            Ok(Ok(())) if replaced => {
                tracing::debug!(api = %self.api, peer = %self.peer.label, id, "session id declared again: replaced")
            }
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(api = %self.api, peer = %self.peer.label, id, "session declared by a linked binder not made yet ({e}): each call naming it tries again");
            }
        }
        Ok(())
    }

    fn forget_session(&self, id: u16) {
        if !lock(&self.st).declared.forget_session(id) {
            tracing::info!(api = %self.api, peer = %self.peer.label, id, "forgetting undeclared session id: ignored")
        }
    }

    fn declare_token(&self, id: u16, token: &str) -> Result<(), String> {
        if id == 0 {
            return Err("token id 0 declared (0 means none)".into());
        }
        if token.len() > MAX_TOKEN {
            return Err(format!("token of {} bytes (at most {MAX_TOKEN})", token.len()));
        }
        match lock(&self.st).declared.declare_token(id, token, true) {
            Err(DeclareError::TooMuch) => Err("too many sessions and tokens declared".into()),
            _ => Ok(()),
        }
    }

    fn forget_token(&self, id: u16) {
        if !lock(&self.st).declared.forget_token(id) {
            tracing::info!(api = %self.api, peer = %self.peer.label, id, "forgetting undeclared token id: ignored")
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn on_call(
        &self,
        callid: u16,
        verb: &str,
        sessionid: u16,
        tokenid: u16,
        args: &str,
        user_creds: Option<&str>,
    ) -> Result<(), String> {
        let Some(me) = self.arc() else {
            return Ok(());
        };
        let (session, token) = {
            let mut st = lock(&self.st);
            if let Admit::Busy(info) = st.inflight.admit(true)? {
                drop(st);
                self.reply_raw(callid, Some(afb_core::status::NOT_AVAILABLE), Some(&info), "null");
                return Ok(());
            }
            let session = match st.declared.session_for(&self.registry, sessionid) {
                Ok(s) => s,
                Err(why) => {
                    st.inflight.done();
                    drop(st);
                    match why {
                        Unusable::Store(e) => {
                            self.reply_raw(callid, Some("not-available"), Some(&e.to_string()), "null")
                        }
                        Unusable::Unknown => {
                            tracing::info!(api = %self.api, peer = %self.peer.label, sessionid, "call with an undeclared session id: refused");
                            self.reply_raw(callid, Some("unknown-session"), None, "null");
                        }
                    }
                    return Ok(());
                }
            };
            let token = match tokenid {
                0 => None,
                id => st.declared.token(id).cloned(),
            };
            (session, token)
        };
        let args = match RawValue::from_string(args.to_owned()) {
            Ok(raw) => Args::from_raw(raw),
            Err(_) => match RawValue::from_string(object_to_json(args).into_owned()) {
                Ok(raw) => Args::from_raw(raw),
                Err(_) => Args::null(),
            },
        };
        // Credentials passed for a client of the peer (on behalf) are
        // taken from a peer running as root or as us, or one the permission
        // backend grants `urn:redpesk:permission:*:partner:on-behalf-credentials`;
        // any other peer's call is refused, as the C binders do.
        let passed = match user_creds {
            None => None,
            Some(text) => match afb_link::parse_creds(text) {
                Some(c) => Some(Arc::new(c)),
                None => {
                    lock(&self.st).inflight.done();
                    self.reply_raw(
                        callid,
                        Some(afb_core::status::INVALID_REQUEST),
                        Some("unreadable credentials"),
                        "null",
                    );
                    return Ok(());
                }
            },
        };
        match passed {
            None => {
                let (client, sink) = PeerCall::client(&me, callid, session, token, self.peer.creds.clone(), &self.gone);
                let client = client.with_transport(afb_core::Transport::Wsapi);
                self.registry
                    .dispatch(Call::external(&self.api, verb, args, client), sink);
            }
            Some(c) if self.peer.trusted => {
                let (client, sink) = PeerCall::client(&me, callid, session, token, Some(c), &self.gone);
                let client = client.with_transport(afb_core::Transport::Wsapi);
                self.registry
                    .dispatch(Call::external(&self.api, verb, args, client), sink);
            }
            Some(c) => {
                let ask = afb_core::access::may_act_on_behalf(&self.registry, self.peer.creds.clone());
                let verb = verb.to_owned();
                tokio::spawn(async move {
                    if ask.await {
                        let (client, sink) = PeerCall::client(&me, callid, session, token, Some(c), &me.gone);
                        let client = client.with_transport(afb_core::Transport::Wsapi);
                        me.registry.dispatch(Call::external(&me.api, &verb, args, client), sink);
                    } else {
                        tracing::info!(api = %me.api, peer = %me.peer.label, "call on behalf of another client from a peer without the permission: refused");
                        lock(&me.st).inflight.done();
                        me.reply_raw(
                            callid,
                            Some(afb_core::status::INSUFFICIENT_SCOPE),
                            Some("this peer may not call on behalf of others"),
                            "null",
                        );
                    }
                });
            }
        }
        Ok(())
    }

    fn on_describe(&self, descid: u16) -> Result<(), String> {
        let Some(me) = self.arc() else {
            return Ok(());
        };
        lock(&self.st).inflight.admit(false)?;
        tokio::spawn(async move {
            let d = me.registry.describe(&me.api).await;
            me.finished();
            let text = d.map(|v| v.to_string());
            let _ = me.out.send(&Message::Description {
                descid,
                description: text.as_deref().unwrap_or("null"),
            });
        });
        Ok(())
    }

    /// The peer does not know event `wid`: stop sending it.
    fn on_unexpected(&self, wid: u16) {
        let mut st = lock(&self.st);
        let Some(weak) = st.ev_wire.remove(&wid) else {
            tracing::info!(api = %self.api, peer = %self.peer.label, eventid = wid, "unexpected event id unknown here: ignored");
            return;
        };
        st.ev_ids.remove(&weak.id());
        let _ = self.out.send(&Message::EventRemove(wid));
        drop(st);
        if let Some(ev) = weak.upgrade() {
            ev.remove_listener(&self.weak_listener());
        }
    }

    /// The wire id of `event` on this link, announcing it with `E` first.
    fn event_id(&self, st: &mut State, event: &Event) -> Result<u16, SubscribeError> {
        if let Some(&wid) = st.ev_ids.get(&event.id()) {
            return Ok(wid);
        }
        let limit = self.max_events.min(usize::from(u16::MAX));
        if st.ev_wire.len() >= limit {
            return Err(SubscribeError::Limit(limit));
        }
        let mut wid = st.next_ev;
        while wid == 0 || st.ev_wire.contains_key(&wid) {
            wid = wid.wrapping_add(1);
        }
        st.next_ev = wid.wrapping_add(1);
        let name = clean(event.name());
        self.out
            .send(&Message::EventCreate {
                eventid: wid,
                name: &name,
            })
            .map_err(|_| SubscribeError::Refused("link closed".into()))?;
        st.ev_ids.insert(event.id(), wid);
        st.ev_wire.insert(wid, event.downgrade());
        if let Some(l) = self.listener() {
            event.add_listener(&l);
        }
        Ok(wid)
    }

    /// Ends the link's hold on everything: listeners, events, sessions, calls.
    fn cleanup(&self) {
        self.gone.token().cancel();
        self.out.shut();
        if let Some(l) = self.listener() {
            self.registry.events().remove_listener(&l);
        }
        let (events, declared) = {
            let mut st = lock(&self.st);
            st.ev_ids.clear();
            (
                std::mem::take(&mut st.ev_wire),
                std::mem::replace(&mut st.declared, Declared::new(0)),
            )
        };
        let weak = self.weak_listener();
        for ev in events.values().filter_map(WeakEvent::upgrade) {
            ev.remove_listener(&weak);
        }
        drop(declared);
    }
}

impl Listener for ServerLink {
    fn push(&self, msg: &PushMsg<'_>) {
        let st = lock(&self.st);
        if let Some(&eventid) = st.ev_ids.get(&msg.event.id()) {
            let _ = self.out.send(&Message::Push {
                eventid,
                data: msg.data.get(),
            });
        }
    }

    fn broadcast(&self, msg: &BroadcastMsg<'_>) {
        let Some(hop) = forward_hop(msg.hop) else {
            return;
        };
        let frame: BroadcastFrame = msg.cache.get_or_compute(|| {
            let name = clean(msg.name);
            let mut v = Vec::new();
            encode_framed(
                &Message::Broadcast {
                    name: &name,
                    data: msg.data.get(),
                    uuid: msg.uuid,
                    hop,
                },
                &mut v,
            );
            BroadcastFrame(v.into())
        });
        let _ = self.out.send_raw(&frame.0);
    }

    fn event_removed(&self, event_id: u64, _name: &str) {
        let mut st = lock(&self.st);
        if let Some(wid) = st.ev_ids.remove(&event_id) {
            st.ev_wire.remove(&wid);
            let _ = self.out.send(&Message::EventRemove(wid));
        }
    }
}

/// A broadcast encoded once for every wsapi link.
#[derive(Clone)]
struct BroadcastFrame(Arc<[u8]>);

impl CallSide for ServerLink {
    fn remote(&self) -> Option<std::net::SocketAddr> {
        self.peer.remote
    }

    fn reply(&self, callid: u16, reply: Reply) {
        ServerLink::reply(self, callid, reply)
    }

    /// `E` (first time), then `X callid eventid`.
    fn subscribe(&self, callid: u16, event: &Event) -> Result<(), SubscribeError> {
        let mut st = lock(&self.st);
        let eventid = self.event_id(&mut st, event)?;
        self.out
            .send(&Message::Subscribe { callid, eventid })
            .map_err(|_| SubscribeError::Refused("link closed".into()))
    }

    fn unsubscribe(&self, callid: u16, event: &Event) -> Result<(), SubscribeError> {
        let st = lock(&self.st);
        if let Some(&eventid) = st.ev_ids.get(&event.id()) {
            self.out
                .send(&Message::Unsubscribe { callid, eventid })
                .map_err(|_| SubscribeError::Refused("link closed".into()))?;
        }
        Ok(())
    }
}

struct ServerHandler {
    link: Arc<ServerLink>,
    hello_deadline: Option<Instant>,
}

impl Handler for ServerHandler {
    fn on_message(&mut self, msg: Message<'_>) -> Result<(), String> {
        let link = &self.link;
        if let Message::VersionOffer { versions } = msg {
            self.hello_deadline = None;
            return link.on_version(versions);
        }
        if lock(&link.st).version.is_none() {
            return Err(format!(
                "message '{}' before the version offer 'V'",
                char::from(msg.code())
            ));
        }
        if msg.direction() != Direction::ClientToServer {
            return Err(format!(
                "message '{}' is sent by servers, not by clients",
                char::from(msg.code())
            ));
        }
        match msg {
            Message::SessionCreate { id, uuid } => link.declare_session(id, uuid),
            Message::SessionRemove(id) => {
                link.forget_session(id);
                Ok(())
            }
            Message::TokenCreate { id, token } => link.declare_token(id, token),
            Message::TokenRemove(id) => {
                link.forget_token(id);
                Ok(())
            }
            Message::Call {
                callid,
                verb,
                sessionid,
                tokenid,
                args,
                user_creds,
            } => link.on_call(callid, verb, sessionid, tokenid, args, user_creds),
            Message::Describe { descid } => link.on_describe(descid),
            Message::Unexpected { eventid } => {
                link.on_unexpected(eventid);
                Ok(())
            }
            other => Err(format!("unexpected message '{}'", char::from(other.code()))),
        }
    }

    fn next_timer(&self) -> Option<Instant> {
        self.hello_deadline
    }

    fn on_timer(&mut self) -> Result<(), String> {
        Err("no version offer received in time".into())
    }
}

/// Serves one accepted connection until it ends.
pub(crate) async fn serve_link<R, W>(
    rd: R,
    wr: W,
    registry: Arc<Registry>,
    api: Arc<str>,
    peer: Peer,
    opts: &WsapiOptions,
    stop: &CancellationToken,
) where
    R: tokio::io::AsyncRead + Unpin,
    W: tokio::io::AsyncWrite + Unpin,
{
    let _observed = registry.hooks().connection(afb_core::Transport::Wsapi);
    let link = Arc::new_cyclic(|me| ServerLink {
        me: me.clone(),
        registry: registry.clone(),
        api,
        out: Outbox::new(opts.max_queued, stop.child_token(), "wsapi link")
            .observed(registry.hooks().clone(), afb_core::Transport::Wsapi),
        gone: ClientCancel::new(CancellationToken::new()),
        peer,

        max_events: opts.max_events,
        st: Mutex::new(State {
            version: None,
            declared: Declared::new(MAX_DECLARED_BYTES),
            ev_ids: HashMap::new(),
            ev_wire: HashMap::new(),
            next_ev: 1,
            inflight: Inflight::new(opts.max_inflight),
        }),
    });
    tracing::debug!(api = %link.api, peer = %link.peer.label, "wsapi link opened");
    let mut handler = ServerHandler {
        link: link.clone(),
        hello_deadline: opts.hello_timeout.map(|t| Instant::now() + t),
    };
    let end = link::run(rd, wr, &link.out, opts.max_message, &mut handler).await;
    if end.is_error() {
        tracing::warn!(api = %link.api, peer = %link.peer.label, "wsapi link closed: {end}");
    } else {
        tracing::info!(api = %link.api, peer = %link.peer.label, "wsapi link closed: {end}");
    }
    link.cleanup();
}
