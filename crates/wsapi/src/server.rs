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
use afb_core::session::ConnectionGuard;
use afb_core::{
    Args, Client, ClientCancel, Credentials, Event, Listener, Registry, Reply, ReplySink, SubscribeError, Subscriber,
};
use afb_wsapi_codec::message::{choose_version, forward_hop};
use afb_wsapi_codec::{encode_framed, object_to_json, Direction, Message, MAX_PENDING};
use serde_json::value::RawValue;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::link::{self, Handler};
use crate::outbox::Outbox;
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

/// What the accepting side knows of a peer.
pub(crate) struct Peer {
    /// For logs: the peer's address or the socket path.
    pub(crate) label: String,
    /// Peer credentials (unix sockets).
    pub(crate) creds: Option<Arc<Credentials>>,
    /// Whether the peer may speak for its own clients (`user_creds`).
    pub(crate) trusted: bool,
}

struct State {
    version: Option<u8>,
    sessions: HashMap<u16, ConnectionGuard>,
    anonymous: Option<ConnectionGuard>,
    tokens: HashMap<u16, Arc<str>>,
    declared_bytes: usize,
    /// Events announced on this link: core event id -> wire id.
    ev_ids: HashMap<u64, u16>,
    /// Wire id -> event.
    ev_wire: HashMap<u16, WeakEvent>,
    next_ev: u16,
    /// Calls and descriptions in progress.
    inflight: usize,
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
    /// Calls run at once before `not-available` (at most `MAX_PENDING`).
    max_inflight: usize,
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
        let mut st = lock(&self.st);
        st.inflight = st.inflight.saturating_sub(1);
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
                        self.registry.add_listener(&l);
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
        if st.declared_bytes + uuid.len() > MAX_DECLARED_BYTES {
            return Err("too many sessions and tokens declared".into());
        }
        match self.registry.sessions().get_or_create(uuid) {
            Ok((session, _created)) => {
                st.declared_bytes += uuid.len();
                if let Some(old) = st.sessions.insert(id, session.connect()) {
                    st.declared_bytes = st.declared_bytes.saturating_sub(old.session().uuid().len());
                    tracing::debug!(api = %self.api, peer = %self.peer.label, id, "session id declared again: replaced");
                }
            }
            Err(e) => {
                if let Some(old) = st.sessions.remove(&id) {
                    st.declared_bytes = st.declared_bytes.saturating_sub(old.session().uuid().len());
                }
                tracing::warn!(api = %self.api, peer = %self.peer.label, id, "session declared by a linked binder refused: {e}");
            }
        }
        Ok(())
    }

    fn forget_session(&self, id: u16) {
        let mut st = lock(&self.st);
        match st.sessions.remove(&id) {
            Some(g) => st.declared_bytes = st.declared_bytes.saturating_sub(g.session().uuid().len()),
            None => {
                tracing::info!(api = %self.api, peer = %self.peer.label, id, "forgetting undeclared session id: ignored")
            }
        }
    }

    fn declare_token(&self, id: u16, token: &str) -> Result<(), String> {
        if id == 0 {
            return Err("token id 0 declared (0 means none)".into());
        }
        if token.len() > MAX_TOKEN {
            return Err(format!("token of {} bytes (at most {MAX_TOKEN})", token.len()));
        }
        let mut st = lock(&self.st);
        if st.declared_bytes + token.len() > MAX_DECLARED_BYTES {
            return Err("too many sessions and tokens declared".into());
        }
        st.declared_bytes += token.len();
        if let Some(old) = st.tokens.insert(id, token.into()) {
            st.declared_bytes = st.declared_bytes.saturating_sub(old.len());
        }
        Ok(())
    }

    fn forget_token(&self, id: u16) {
        let mut st = lock(&self.st);
        match st.tokens.remove(&id) {
            Some(t) => st.declared_bytes = st.declared_bytes.saturating_sub(t.len()),
            None => {
                tracing::info!(api = %self.api, peer = %self.peer.label, id, "forgetting undeclared token id: ignored")
            }
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
            if st.inflight >= MAX_PENDING {
                return Err(format!("more than {MAX_PENDING} calls in progress"));
            }
            if st.inflight >= self.max_inflight {
                drop(st);
                let info = format!("too many calls in progress on this link ({})", self.max_inflight);
                self.reply_raw(callid, Some(afb_core::status::NOT_AVAILABLE), Some(&info), "null");
                return Ok(());
            }
            let session = if sessionid == 0 {
                match &st.anonymous {
                    Some(g) => g.session().clone(),
                    None => match self.registry.sessions().create() {
                        Ok(s) => {
                            st.anonymous = Some(s.connect());
                            s
                        }
                        Err(e) => {
                            drop(st);
                            self.reply_raw(callid, Some("not-available"), Some(&e.to_string()), "null");
                            return Ok(());
                        }
                    },
                }
            } else {
                match st.sessions.get(&sessionid) {
                    Some(g) => g.session().clone(),
                    None => {
                        drop(st);
                        tracing::info!(api = %self.api, peer = %self.peer.label, sessionid, "call with an undeclared session id: refused");
                        self.reply_raw(callid, Some("unknown-session"), None, "null");
                        return Ok(());
                    }
                }
            };
            let token = match tokenid {
                0 => None,
                id => st.tokens.get(&id).cloned(),
            };
            st.inflight += 1;
            (session, token)
        };
        let args = match RawValue::from_string(args.to_owned()) {
            Ok(raw) => Args::from_raw(raw),
            Err(_) => match RawValue::from_string(object_to_json(args).into_owned()) {
                Ok(raw) => Args::from_raw(raw),
                Err(_) => Args::null(),
            },
        };
        let creds = match user_creds.filter(|_| self.peer.trusted).and_then(parse_creds) {
            Some(c) => Some(Arc::new(c)),
            None => self.peer.creds.clone(),
        };
        let client = Client {
            session,
            token,
            subscriber: Some(Arc::new(CallSubscriber {
                link: me.clone(),
                callid,
            })),
            creds,
            cancel: Some(self.gone.clone()),
        };
        self.registry
            .dispatch(&self.api, verb, args, client, Box::new(CallReply { link: me, callid }));
        Ok(())
    }

    fn on_describe(&self, descid: u16) -> Result<(), String> {
        let Some(me) = self.arc() else {
            return Ok(());
        };
        {
            let mut st = lock(&self.st);
            if st.inflight >= MAX_PENDING {
                return Err(format!("more than {MAX_PENDING} calls in progress"));
            }
            st.inflight += 1;
        }
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
            self.registry.remove_listener(&l);
        }
        let (events, sessions, anonymous) = {
            let mut st = lock(&self.st);
            st.ev_ids.clear();
            st.tokens.clear();
            (
                std::mem::take(&mut st.ev_wire),
                std::mem::take(&mut st.sessions),
                st.anonymous.take(),
            )
        };
        let weak = self.weak_listener();
        for ev in events.values().filter_map(WeakEvent::upgrade) {
            ev.remove_listener(&weak);
        }
        drop(sessions);
        drop(anonymous);
    }
}

/// Parses `user_creds` as the C binders export them: `UID:GID:PID-LABEL`, hexadecimal.
pub(crate) fn parse_creds(text: &str) -> Option<Credentials> {
    let (ids, label) = text.split_once('-')?;
    let mut it = ids.split(':').map(|x| u32::from_str_radix(x, 16).ok());
    let (uid, gid, pid) = (it.next()??, it.next()??, it.next()??);
    if it.next().is_some() {
        return None;
    }
    Some(Credentials {
        uid,
        gid,
        pid,
        label: (!label.is_empty()).then(|| label.to_owned()),
        cert: None,
    })
}

/// Formats credentials as the C binders export them.
pub(crate) fn export_creds(c: &Credentials) -> String {
    format!(
        "{:x}:{:x}:{:x}-{}",
        c.uid,
        c.gid,
        c.pid,
        c.label.as_deref().unwrap_or("NoLabel")
    )
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

/// Where the reply of one call goes.
struct CallReply {
    link: Arc<ServerLink>,
    callid: u16,
}

impl ReplySink for CallReply {
    fn reply(self: Box<Self>, reply: Reply) {
        self.link.reply(self.callid, reply)
    }
}

/// How a call subscribes the peer's client: `E` (first time), then `X callid eventid`.
struct CallSubscriber {
    link: Arc<ServerLink>,
    callid: u16,
}

impl Subscriber for CallSubscriber {
    fn subscribe(&self, event: &Event) -> Result<(), SubscribeError> {
        let link = &self.link;
        let mut st = lock(&link.st);
        let eventid = link.event_id(&mut st, event)?;
        link.out
            .send(&Message::Subscribe {
                callid: self.callid,
                eventid,
            })
            .map_err(|_| SubscribeError::Refused("link closed".into()))
    }

    fn unsubscribe(&self, event: &Event) -> Result<(), SubscribeError> {
        let link = &self.link;
        let st = lock(&link.st);
        if let Some(&eventid) = st.ev_ids.get(&event.id()) {
            link.out
                .send(&Message::Unsubscribe {
                    callid: self.callid,
                    eventid,
                })
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
    let link = Arc::new_cyclic(|me| ServerLink {
        me: me.clone(),
        registry: registry.clone(),
        api,
        out: Outbox::new(opts.max_queued, stop.child_token()),
        gone: ClientCancel::new(CancellationToken::new()),
        peer,
        max_inflight: opts.max_inflight.min(MAX_PENDING),
        max_events: opts.max_events,
        st: Mutex::new(State {
            version: None,
            sessions: HashMap::new(),
            anonymous: None,
            tokens: HashMap::new(),
            declared_bytes: 0,
            ev_ids: HashMap::new(),
            ev_wire: HashMap::new(),
            next_ev: 1,
            inflight: 0,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creds_round_trip() {
        let c = Credentials {
            uid: 1000,
            gid: 100,
            pid: 4242,
            label: Some("User::App".into()),
            cert: None,
        };
        let s = export_creds(&c);
        assert_eq!(s, "3e8:64:1092-User::App");
        assert_eq!(parse_creds(&s), Some(c));
        assert_eq!(parse_creds("1:2-x"), None);
        assert_eq!(parse_creds("1:2:3:4-x"), None);
        assert_eq!(parse_creds("zz:2:3-x"), None);
        assert_eq!(parse_creds("1:2:3").map(|c| c.uid), None);
        assert_eq!(parse_creds("1:2:3-").map(|c| c.label), Some(None));
    }
}
