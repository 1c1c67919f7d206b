//! The importing side: the live replicas of each API (from liveliness),
//! the imported APIs that call them (a session sticks to its replica while
//! it lives), and the local mirrors of remote events.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use afb_core::session::ApiId;
use afb_core::{status, ApiDecl, ApiImpl, BoxFuture, Event, Registry, Reply, Request, Session};
use serde_json::value::RawValue;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use zenoh::key_expr::KeyExpr;
use zenoh::query::{ConsolidationMode, QueryTarget};
use zenoh::sample::SampleKind;
use zenoh::Wait;

use crate::wire::{self, CallAtt, ErrorPayload, ReplyAtt};
use crate::{lock, Shared};

/// APIs imported with `*` at most (names come from foreign peers).
const MAX_IMPORTED: usize = 1024;
/// Distinct remote events mirrored at most.
const MAX_MIRRORS: usize = 4096;
/// How long a call waits without a call timeout.
const NO_TIMEOUT: Duration = Duration::from_secs(600);

/// One live binder serving an API.
#[derive(Clone)]
pub(crate) struct Replica {
    pub(crate) bid: Arc<str>,
    /// Cancelled when its liveliness token goes.
    pub(crate) gone: CancellationToken,
    /// Its calls waiting for their reply (answered `disconnected` when it goes).
    inflight: Arc<Inflight>,
}

/// The calls in flight on one replica, and the call keys declared for it.
#[derive(Default)]
struct Inflight {
    next: std::sync::atomic::AtomicU64,
    calls: Mutex<HashMap<u64, Arc<Pending>>>,
    /// Verb -> its call key, declared to Zenoh (which then keeps the key's
    /// query route instead of parsing and matching the text at each call).
    keys: Mutex<HashMap<Box<str>, KeyExpr<'static>>>,
}

/// Verbs per replica whose call key is declared; the calls of others use the
/// key's text (the verbs come from clients: the table stays bounded).
const MAX_DECLARED_VERBS: usize = 128;

impl Inflight {
    /// The call key of `verb` of `api` on replica `bid`.
    fn key(&self, shared: &Shared, api: &str, bid: &str, verb: &str) -> zenoh::Result<KeyExpr<'static>> {
        let mut keys = lock(&self.keys);
        if let Some(k) = keys.get(verb) {
            return Ok(k.clone());
        }
        let text = shared.keys.call(api, bid, verb);
        if keys.len() >= MAX_DECLARED_VERBS {
            return KeyExpr::try_from(text);
        }
        let k = shared.session.declare_keyexpr(text).wait()?;
        keys.insert(verb.into(), k.clone());
        Ok(k)
    }

    /// Undeclares the keys of a replica that left.
    fn undeclare(&self, session: &zenoh::Session) {
        let keys: Vec<_> = lock(&self.keys).drain().map(|(_, k)| k).collect();
        for k in keys {
            if let Err(e) = session.undeclare(k).wait() {
                tracing::debug!("undeclaring a call key: {e}");
            }
        }
    }
}

/// A call sent, until its reply, its query's end, or its replica's.
struct Pending {
    req: Mutex<Option<Request>>,
}

impl Pending {
    fn take(&self) -> Option<Request> {
        lock(&self.req).take()
    }
}

/// Owned by the query's reply callback: when Zenoh drops the callback (the
/// query is over) without a reply having come, the call fails.
struct QueryEnd {
    pending: Arc<Pending>,
    inflight: Arc<Inflight>,
    id: u64,
    bid: Arc<str>,
    started: tokio::time::Instant,
    timeout: Duration,
    /// The binder's runtime: what the reply spawns runs there, not in
    /// Zenoh's (the callback and this drop run on Zenoh's threads).
    runtime: tokio::runtime::Handle,
}

impl Drop for QueryEnd {
    fn drop(&mut self) {
        let _here = self.runtime.enter();
        lock(&self.inflight.calls).remove(&self.id);
        if let Some(req) = self.pending.take() {
            if self.started.elapsed() >= self.timeout {
                req.fail(status::TIMEOUT, Some("the remote API did not answer in time".into()));
            } else {
                req.fail(
                    status::DISCONNECTED,
                    Some(format!("binder {} did not answer", self.bid)),
                );
            }
        }
    }
}

#[derive(Default)]
struct ApiReplicas {
    live: Vec<Replica>,
    next: usize,
}

/// The live replicas of every API seen.
#[derive(Default)]
pub(crate) struct Replicas {
    apis: Mutex<HashMap<String, ApiReplicas>>,
    changed: Notify,
}

/// The replica a session sticks to, kept in the session as the imported
/// API's context value.
struct Affinity(Mutex<Option<Arc<str>>>);

impl Replicas {
    fn appeared(&self, api: &str, bid: &str) {
        let mut apis = lock(&self.apis);
        let r = apis.entry(api.to_ascii_lowercase()).or_default();
        if !r.live.iter().any(|x| &*x.bid == bid) {
            r.live.push(Replica {
                bid: bid.into(),
                gone: CancellationToken::new(),
                inflight: Arc::default(),
            });
        }
        drop(apis);
        self.changed.notify_waiters();
    }

    fn disappeared(&self, api: &str, bid: &str, session: &zenoh::Session) {
        let mut gone = Vec::new();
        let mut apis = lock(&self.apis);
        if let Some(r) = apis.get_mut(&api.to_ascii_lowercase()) {
            r.live.retain(|x| {
                if &*x.bid == bid {
                    x.gone.cancel();
                    gone.push(x.clone());
                    false
                } else {
                    true
                }
            });
        }
        drop(apis);
        // Cancelled first: a call registering after this drain sees it.
        for x in gone {
            x.inflight.undeclare(session);
            let calls: Vec<_> = lock(&x.inflight.calls).drain().map(|(_, p)| p).collect();
            for p in calls {
                if let Some(req) = p.take() {
                    req.fail(
                        status::DISCONNECTED,
                        Some(format!("binder {} serving {api} left", x.bid)),
                    );
                }
            }
        }
    }

    /// The replica of `session` for `api`: the one it sticks to while it
    /// lives, else the next one in turn (then it sticks to it).
    fn try_pick(&self, api: &str, session: &Arc<Session>, api_id: ApiId) -> Option<Replica> {
        let ctx = session.context_or_insert_with(api_id, || {
            let a: afb_core::session::ContextValue = Arc::new(Affinity(Mutex::new(None)));
            a
        });
        let aff = ctx.downcast_ref::<Affinity>()?;
        let mut apis = lock(&self.apis);
        let r = apis.get_mut(&api.to_ascii_lowercase())?;
        if r.live.is_empty() {
            return None;
        }
        let mut stuck = lock(&aff.0);
        if let Some(bid) = stuck.as_deref() {
            if let Some(x) = r.live.iter().find(|x| &*x.bid == bid) {
                return Some(x.clone());
            }
        }
        let x = r.live[r.next % r.live.len()].clone();
        r.next = r.next.wrapping_add(1);
        *stuck = Some(x.bid.clone());
        Some(x)
    }

    /// Like [`Replicas::try_pick`], waiting up to `wait` for a replica to appear.
    async fn pick(&self, api: &str, session: &Arc<Session>, api_id: ApiId, wait: Duration) -> Option<Replica> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(r) = self.try_pick(api, session, api_id) {
                return Some(r);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return None;
            }
        }
    }
}

/// Registers the imported API `spec`: `API`, or `LOCAL@API` to serve the
/// network's API `API` under the local name `LOCAL`.
pub(crate) fn register(shared: &Arc<Shared>, registry: &Arc<Registry>, spec: &str) -> Result<(), String> {
    let (name, remote) = spec.split_once('@').unwrap_or((spec, spec));
    if remote.is_empty() {
        return Err("no API name after @".into());
    }
    let mut decl = ApiDecl::new(
        name,
        Arc::new(ImportedApi {
            shared: shared.clone(),
            api: remote.into(),
        }),
    );
    decl.info = format!("{remote} imported over Zenoh");
    registry.add_api(decl).map_err(|e| e.to_string())?;
    lock(&shared.imported).insert(name.to_ascii_lowercase());
    Ok(())
}

/// Follows the liveliness of the APIs of the namespace.
pub(crate) async fn watch(shared: &Arc<Shared>, stop: CancellationToken) -> zenoh::Result<()> {
    let sub = shared
        .session
        .liveliness()
        .declare_subscriber(shared.keys.live_apis())
        .history(true)
        .await?;
    let all = shared.opts.import.iter().any(|n| n == "*");
    let shared = shared.clone();
    tokio::spawn(async move {
        loop {
            let sample = tokio::select! {
                _ = stop.cancelled() => break,
                s = sub.recv_async() => match s { Ok(s) => s, Err(_) => break },
            };
            let key = sample.key_expr().as_str();
            let Some((api, bid)) = shared.keys.live_api_of(key) else {
                tracing::warn!(key, "malformed Zenoh liveliness key: ignored");
                continue;
            };
            if bid == shared.keys.bid {
                continue;
            }
            match sample.kind() {
                SampleKind::Put => {
                    tracing::info!(api = %api, binder = %bid, "API replica appeared on Zenoh");
                    if all {
                        import_new(&shared, &api);
                    }
                    shared.replicas.appeared(&api, &bid);
                }
                SampleKind::Delete => {
                    tracing::info!(api = %api, binder = %bid, "API replica disappeared from Zenoh");
                    shared.replicas.disappeared(&api, &bid, &shared.session);
                }
            }
        }
    });
    Ok(())
}

/// With `--zenoh-import '*'`: imports an API seen for the first time
/// unless a local API has that name.
fn import_new(shared: &Arc<Shared>, api: &str) {
    let Some(registry) = shared.registry.upgrade() else {
        return;
    };
    if registry.get_api(api).is_some() {
        return;
    }
    if lock(&shared.imported).len() >= MAX_IMPORTED {
        tracing::warn!(api, "more than {MAX_IMPORTED} APIs imported over Zenoh: not imported");
        return;
    }
    match register(shared, &registry, api) {
        Ok(()) => tracing::info!(api, "API imported over Zenoh"),
        Err(e) => tracing::warn!(api, "API seen on Zenoh not imported: {e}"),
    }
}

/// JSON text as raw data: `None` for an empty payload or `null`.
pub(crate) fn json_of(bytes: &[u8]) -> Result<Option<Box<RawValue>>, String> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let text = std::str::from_utf8(bytes).map_err(|_| "payload not UTF-8".to_owned())?;
    let raw = RawValue::from_string(text.to_owned()).map_err(|e| format!("payload not JSON: {e}"))?;
    Ok((raw.get() != "null").then_some(raw))
}

/// An API served by other binders.
struct ImportedApi {
    shared: Arc<Shared>,
    api: Arc<str>,
}

impl ApiImpl for ImportedApi {
    fn process(&self, req: Request) -> BoxFuture<()> {
        let shared = self.shared.clone();
        let api = self.api.clone();
        Box::pin(async move { call(shared, api, req).await })
    }
}

async fn call(shared: Arc<Shared>, api: Arc<str>, req: Request) {
    let session = req.session().clone();
    let api_id = req.api().entry().id();
    let Some(replica) = shared
        .replicas
        .pick(&api, &session, api_id, shared.opts.discovery_wait)
        .await
    else {
        req.fail(
            status::NOT_AVAILABLE,
            Some(format!("no binder serves API {api} on Zenoh")),
        );
        return;
    };
    let att = CallAtt {
        session: Some(session.uuid().to_owned()),
        token: req.client().token.as_deref().map(str::to_owned),
        loa: Some(session.loa(api_id)),
        creds: req.client().creds.as_deref().map(afb_link::export_creds),
    };
    let att = serde_json::to_vec(&att).unwrap_or_default();
    let key = match replica.inflight.key(&shared, &api, &replica.bid, req.verb()) {
        Ok(k) => k,
        Err(e) => {
            req.fail(status::NOT_AVAILABLE, Some(format!("the call cannot be sent: {e}")));
            return;
        }
    };
    let timeout = shared.opts.call_timeout.unwrap_or(NO_TIMEOUT);
    let (payload, encoding) = crate::payload_of(Some(req.args().json_text()), req.args().typed());
    // The reply is handled on the Zenoh thread that receives it (a callback,
    // not a channel to this task: one thread hand-over less per call).
    let pending = Arc::new(Pending {
        req: Mutex::new(Some(req)),
    });
    let inflight = replica.inflight.clone();
    let id = inflight.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    lock(&inflight.calls).insert(id, pending.clone());
    if replica.gone.is_cancelled() {
        lock(&inflight.calls).remove(&id);
        if let Some(req) = pending.take() {
            req.fail(
                status::DISCONNECTED,
                Some(format!("binder {} serving {api} left", replica.bid)),
            );
        }
        return;
    }
    let end = QueryEnd {
        pending: pending.clone(),
        inflight,
        id,
        bid: replica.bid.clone(),
        started: tokio::time::Instant::now(),
        timeout,
        runtime: tokio::runtime::Handle::current(),
    };
    let (bid, on_shared) = (replica.bid.clone(), shared.clone());
    let sent = shared
        .session
        .get(key)
        .payload(payload)
        .encoding(encoding)
        .attachment(att)
        .target(QueryTarget::All)
        .consolidation(ConsolidationMode::None)
        .timeout(timeout)
        .callback(move |reply| {
            let _here = end.runtime.enter();
            if let Some(req) = end.pending.take() {
                on_reply(&on_shared, &bid, &session, api_id, req, &reply);
            }
        })
        .wait();
    if let Err(e) = sent {
        if let Some(req) = pending.take() {
            req.fail(status::NOT_AVAILABLE, Some(format!("the call cannot be sent: {e}")));
        }
    }
}

fn bad_reply(req: Request, bid: &str, why: String) {
    tracing::warn!(binder = bid, "malformed Zenoh reply: {why}");
    req.fail(
        status::INTERNAL_ERROR,
        Some(format!("malformed reply from binder {bid}: {why}")),
    );
}

fn on_reply(
    shared: &Arc<Shared>,
    bid: &str,
    session: &Arc<Session>,
    api_id: ApiId,
    req: Request,
    reply: &zenoh::query::Reply,
) {
    let sample = match reply.result() {
        Ok(s) => s,
        Err(e) => {
            let p = e.payload().to_bytes();
            match wire::parse::<ErrorPayload>(&p).and_then(|ep| ep.check().map(|()| ep)) {
                Ok(ep) => {
                    req.fail(&ep.status, ep.info);
                }
                Err(e) => bad_reply(req, bid, format!("unreadable error reply: {e}")),
            }
            return;
        }
    };
    let att: ReplyAtt = match sample.attachment().map(|a| wire::parse::<ReplyAtt>(&a.to_bytes())) {
        Some(Ok(a)) => match a.check() {
            Ok(()) => a,
            Err(e) => return bad_reply(req, bid, e),
        },
        Some(Err(e)) => return bad_reply(req, bid, e),
        None => return bad_reply(req, bid, "no attachment".into()),
    };
    let (data, typed) = match crate::data_of(&sample.payload().to_bytes(), Some(sample.encoding())) {
        Ok(d) => d,
        Err(e) => return bad_reply(req, bid, e),
    };
    if let Some(l) = att.loa {
        if l != session.loa(api_id) {
            let _ = session.set_loa(api_id, u32::from(l));
        }
    }
    for name in &att.subscribe {
        if let Some(ev) = mirror(shared, bid, name) {
            if let Err(e) = req.subscribe(&ev) {
                tracing::info!(event = %name, "subscription relayed from Zenoh failed: {e}");
            }
        }
    }
    for name in &att.unsubscribe {
        if let Some(ev) = existing_mirror(shared, bid, name) {
            let _ = req.unsubscribe(&ev);
        }
    }
    let r = if att.status == status::SUCCESS {
        Reply::success(data, att.info)
    } else {
        Reply::error(att.status, att.info).with_data(data).with_code(att.code)
    };
    let r = r.with_typed(typed);
    req.reply(r);
}

/// The local mirror of a remote event of one binder, kept while the binder
/// runs (local subscribers hold events weakly).
pub(crate) struct Mirror {
    ev: Event,
}

fn existing_mirror(shared: &Shared, bid: &str, name: &str) -> Option<Event> {
    lock(&shared.mirrors)
        .get(&(bid.to_owned(), name.to_owned()))
        .map(|m| m.ev.clone())
}

/// The local event mirroring event `name` of binder `bid` (made, and its
/// publications followed, the first time).
fn mirror(shared: &Arc<Shared>, bid: &str, name: &str) -> Option<Event> {
    let registry = shared.registry.upgrade()?;
    if !name.contains('/') || name.len() > 1024 {
        tracing::warn!(event = name, "malformed event name from Zenoh: ignored");
        return None;
    }
    let mut m = lock(&shared.mirrors);
    if let Some(mi) = m.get(&(bid.to_owned(), name.to_owned())) {
        return Some(mi.ev.clone());
    }
    if m.len() >= MAX_MIRRORS {
        tracing::warn!(
            event = name,
            "more than {MAX_MIRRORS} remote events mirrored: not subscribed"
        );
        return None;
    }
    let sub = match shared.session.declare_subscriber(shared.keys.event(bid, name)).wait() {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(event = name, "cannot follow the event on Zenoh: {e}");
            return None;
        }
    };
    let ev = registry.events().new_event_raw(name);
    m.insert((bid.to_owned(), name.to_owned()), Arc::new(Mirror { ev: ev.clone() }));
    drop(m);
    let weak = ev.downgrade();
    let name = name.to_owned();
    tokio::spawn(async move {
        while let Ok(sample) = sub.recv_async().await {
            let Some(ev) = weak.upgrade() else { break };
            match crate::data_of(&sample.payload().to_bytes(), Some(sample.encoding())) {
                Ok((d, t)) => {
                    ev.push_typed(d.as_deref(), t.as_ref());
                }
                Err(e) => tracing::warn!(event = %name, "Zenoh event push ignored: {e}"),
            }
        }
    });
    Some(ev)
}
