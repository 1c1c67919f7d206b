//! APIs: what the registry holds for each API name, the [`ApiImpl`] seam
//! behind which local verb tables, imported (remote) APIs and C bindings
//! sit, and [`LocalApi`], a verb table with session requirements.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard, Weak};

use hashbrown::HashMap;
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};

use crate::args::Args;
use crate::auth::{Auth, Loa};
use crate::event::Event;
use crate::log::{AtomicLevel, LogLevel};
use crate::name::{glob_match, validate_verb_name, CiKey, CiRef, NameError};
use crate::observe::ApiStep;
use crate::registry::{Call, Registry};
use crate::reply::Reply;
use crate::request::{Chain, Client, Request};
use crate::session::{ApiId, Session};
use crate::status;
use crate::typed::TypedList;

/// A boxed future, as the seams between crates use.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// A future already complete, of size zero: boxing it allocates nothing
/// (`std::future::ready(())` and `async {}` are one byte, so one allocation).
struct Done;

impl Future for Done {
    type Output = ();

    fn poll(self: Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        std::task::Poll::Ready(())
    }
}

/// A boxed future that is already complete, made without allocating: what
/// [`ApiImpl::process`] returns when it replied (or handed the request on)
/// before returning.
pub fn done() -> BoxFuture<()> {
    Box::pin(Done)
}

/// What an API does with requests. Implemented by [`LocalApi`] (verb
/// tables of bindings), by imported APIs (wsapi client) and by C bindings.
pub trait ApiImpl: Send + Sync + 'static {
    /// Runs a request. The returned future is driven by the core's request driver, which
    /// enforces the timeout, catches panics and cancels it when the client
    /// goes away. Synchronous work may reply before returning a ready future.
    fn process(&self, req: Request) -> BoxFuture<()>;

    /// Starts the API (its `init`), after the APIs it requires.
    fn start(&self, _api: ApiRef) -> BoxFuture<Result<(), String>> {
        Box::pin(async { Ok(()) })
    }

    /// A JSON description of the API (OpenAPI-like), if it has one.
    fn describe(&self, _api: &ApiRef) -> BoxFuture<Option<Value>> {
        Box::pin(async { None })
    }

    /// Whether the API wants events (handlers by name pattern).
    fn wants_events(&self) -> bool {
        false
    }

    /// An event reached the API (a broadcast matching its handlers, or a
    /// push of an event it subscribed to).
    fn on_event(&self, _api: &ApiRef, _event: &str, _data: &RawValue) {}

    /// [`ApiImpl::on_event`] with the typed form of the data when it has
    /// one (`data` is then its JSON rendering); the default ignores it.
    fn on_event_typed(&self, api: &ApiRef, event: &str, data: &RawValue, _typed: Option<&TypedList>) {
        self.on_event(api, event, data)
    }
}

/// State of an API in its life cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ApiState {
    /// Registered, `init` not run yet.
    Declared = 0,
    /// `init` running.
    Starting = 1,
    /// Serving.
    Ready = 2,
    /// `init` failed.
    Failed = 3,
}

impl ApiState {
    fn from_u8(v: u8) -> Self {
        match v {
            0 => ApiState::Declared,
            1 => ApiState::Starting,
            2 => ApiState::Ready,
            _ => ApiState::Failed,
        }
    }
}

/// Everything needed to register an API.
pub struct ApiDecl {
    /// The API name.
    pub name: String,
    /// Short description.
    pub info: String,
    /// The implementation.
    pub imp: Arc<dyn ApiImpl>,
    /// Verbs run one at a time.
    pub noconcurrency: bool,
    /// APIs that must be started before this one.
    pub requires: Vec<String>,
    /// Classes this API provides.
    pub provides_classes: Vec<String>,
    /// Classes whose providers must be started before this one.
    pub requires_classes: Vec<String>,
    /// Other names for the API.
    pub aliases: Vec<String>,
    /// Reachable only by other APIs, not by clients, whatever its name (an
    /// import declared private).
    pub private: bool,
}

impl ApiDecl {
    /// A declaration with defaults (concurrent, no requirements).
    pub fn new(name: impl Into<String>, imp: Arc<dyn ApiImpl>) -> Self {
        ApiDecl {
            name: name.into(),
            info: String::new(),
            imp,
            noconcurrency: false,
            requires: Vec::new(),
            provides_classes: Vec::new(),
            requires_classes: Vec::new(),
            aliases: Vec::new(),
            private: false,
        }
    }
}

/// An API as the registry holds it.
pub struct ApiEntry {
    pub(crate) id: ApiId,
    pub(crate) name: Arc<str>,
    pub(crate) info: String,
    pub(crate) imp: Arc<dyn ApiImpl>,
    pub(crate) noconcurrency: bool,
    pub(crate) nc_lock: tokio::sync::Mutex<()>,
    pub(crate) requires: Vec<String>,
    pub(crate) provides_classes: Vec<String>,
    pub(crate) requires_classes: Vec<String>,
    pub(crate) state: AtomicU8,
    /// Woken when the state leaves `Starting` (for a caller that found
    /// another one running the init).
    pub(crate) start_done: tokio::sync::Notify,
    pub(crate) level: AtomicLevel,
    pub(crate) own_session: OnceLock<Arc<Session>>,
    pub(crate) registry: Weak<Registry>,
    pub(crate) private: bool,
    /// What the registry's observer keeps for this API (see
    /// [`ReqInfo::api_slot`](crate::observe::ReqInfo::api_slot)).
    pub(crate) observed: crate::observe::ApiSlot,
}

impl ApiEntry {
    /// Numeric id (keys the API's state in sessions).
    pub fn id(&self) -> ApiId {
        self.id
    }

    /// The name as declared.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Short description.
    pub fn info(&self) -> &str {
        &self.info
    }

    /// Whether the API is private (name starting with `.`, or declared so).
    pub fn is_private(&self) -> bool {
        self.private || self.name.starts_with('.')
    }

    /// Whether its verbs run one at a time.
    pub fn is_noconcurrency(&self) -> bool {
        self.noconcurrency
    }

    /// Life-cycle state.
    pub fn state(&self) -> ApiState {
        ApiState::from_u8(self.state.load(Ordering::Acquire))
    }

    pub(crate) fn set_state(&self, s: ApiState) {
        self.state.store(s as u8, Ordering::Release);
        if matches!(s, ApiState::Ready | ApiState::Failed) {
            self.start_done.notify_waiters();
        }
    }

    /// Moves the state from `Declared` to `Starting`: whoever does runs the
    /// init. Otherwise, the state found.
    pub(crate) fn begin_start(&self) -> Result<(), ApiState> {
        self.state
            .compare_exchange(
                ApiState::Declared as u8,
                ApiState::Starting as u8,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .map(drop)
            .map_err(ApiState::from_u8)
    }

    /// Waits until the state is no longer `Starting`; returns it.
    pub(crate) async fn started(&self) -> ApiState {
        loop {
            let done = self.start_done.notified();
            tokio::pin!(done);
            done.as_mut().enable();
            match self.state() {
                ApiState::Starting => done.await,
                s => return s,
            }
        }
    }

    /// The implementation.
    pub fn imp(&self) -> &Arc<dyn ApiImpl> {
        &self.imp
    }

    /// The API's log level.
    pub fn log_level(&self) -> LogLevel {
        self.level.get()
    }

    /// Sets the API's log level.
    pub fn set_log_level(&self, l: LogLevel) {
        self.level.set(l)
    }
}

impl fmt::Debug for ApiEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiEntry")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

/// A binding's handle on its API: events, broadcasts, calls in the API's
/// own session, logging, settings.
#[derive(Clone)]
pub struct ApiRef {
    entry: Arc<ApiEntry>,
}

impl ApiRef {
    pub(crate) fn new(entry: Arc<ApiEntry>) -> Self {
        ApiRef { entry }
    }

    /// The registry entry.
    pub fn entry(&self) -> &Arc<ApiEntry> {
        &self.entry
    }

    /// The API's name.
    pub fn name(&self) -> &str {
        &self.entry.name
    }

    /// The registry, while it exists.
    pub fn registry(&self) -> Option<Arc<Registry>> {
        self.entry.registry.upgrade()
    }

    /// Whether messages of `level` pass the API's level.
    pub fn log_enabled(&self, level: LogLevel) -> bool {
        self.entry.level.enabled(level)
    }

    /// Logs a message if the API's level lets it through.
    pub fn log(&self, level: LogLevel, args: fmt::Arguments<'_>) {
        if self.entry.level.enabled(level) {
            crate::log::emit(&self.entry.name, level, args)
        }
    }

    /// Makes the event `API/name`.
    pub fn new_event(&self, name: &str) -> Result<Event, NameError> {
        match self.registry() {
            Some(r) => r.events().new_api_event(&self.entry, name),
            None => Err(NameError {
                kind: "event",
                name: name.to_owned(),
                reason: "the binder is shutting down".into(),
            }),
        }
    }

    /// Broadcasts `API/name` with `data` to every listener; returns whether
    /// it was sent.
    pub fn broadcast(&self, name: &str, data: Option<&RawValue>) -> bool {
        match self.registry() {
            Some(r) => {
                let full = format!("{}/{}", self.entry.name, name);
                r.events().broadcast(&full, data, None)
            }
            None => false,
        }
    }

    /// The API's own session (for calls made in its own name).
    pub fn own_session(&self) -> Arc<Session> {
        self.entry.own_session.get_or_init(|| Session::detached(None)).clone()
    }

    /// Calls `api/verb` in this API's own session.
    pub fn call(&self, api: &str, verb: &str, args: Args) -> impl Future<Output = Reply> + Send + 'static {
        let registry = self.registry();
        let chain = Arc::new(Chain {
            api: self.entry.id,
            parent: None,
        });
        let observer = registry.as_ref().and_then(|r| r.hooks().get().cloned());
        if let Some(o) = &observer {
            o.api_step(&self.entry.name, ApiStep::Call { api, verb, args: &args });
        }
        let call = Call::internal(api, verb, args, Client::new(self.own_session()), Some(chain));
        let reply = registry.map(|r| r.call(call));
        let name = observer.as_ref().map(|_| self.entry.name.clone());
        async move {
            let r = match reply {
                Some(reply) => reply.await,
                None => Reply::error(status::NOT_AVAILABLE, Some("the binder is shutting down".into())),
            };
            if let (Some(o), Some(name)) = (observer, name) {
                o.api_step(&name, ApiStep::CallResult(&r));
            }
            r
        }
    }

    /// The settings given to this API (`--set`), merged with those for all
    /// APIs (`*`); an empty object when none.
    pub fn settings(&self) -> Value {
        self.registry()
            .map(|r| r.settings_for(&self.entry.name))
            .unwrap_or_else(|| Value::Object(Map::new()))
    }

    /// Subscribes the API itself to an event (its handlers receive pushes).
    pub fn subscribe_event(&self, event: &Event) -> bool {
        match self.registry() {
            Some(r) => r
                .events()
                .api_listener(&self.entry)
                .map(|l| event.add_listener(&l))
                .unwrap_or(false),
            None => false,
        }
    }
}

impl fmt::Debug for ApiRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiRef({})", self.entry.name)
    }
}

/// A verb's implementation: runs a request.
pub trait VerbHandler: Send + Sync + 'static {
    /// Runs the request; the future is driven by the core's request driver.
    fn call(&self, req: Request) -> BoxFuture<()>;
}

impl<F, Fut> VerbHandler for F
where
    F: Fn(Request) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    fn call(&self, req: Request) -> BoxFuture<()> {
        Box::pin(self(req))
    }
}

/// A verb of a [`LocalApi`].
pub struct Verb {
    /// Name as declared.
    pub name: String,
    /// Short description.
    pub info: String,
    /// Session requirements.
    pub auth: Auth,
    /// Access rule checked before the verb runs (after the session's).
    pub rule: Option<Arc<crate::access::AuthRule>>,
    /// Implementation.
    pub handler: Arc<dyn VerbHandler>,
}

impl Verb {
    /// A verb with no description and no session requirement.
    pub fn new(name: impl Into<String>, handler: impl VerbHandler) -> Self {
        Verb {
            name: name.into(),
            info: String::new(),
            auth: Auth::NONE,
            rule: None,
            handler: Arc::new(handler),
        }
    }

    /// Sets the access rule.
    pub fn rule(mut self, rule: crate::access::AuthRule) -> Self {
        self.rule = Some(Arc::new(rule));
        self
    }

    /// Sets the description.
    pub fn info(mut self, info: impl Into<String>) -> Self {
        self.info = info.into();
        self
    }

    /// Sets the session requirements.
    pub fn auth(mut self, auth: Auth) -> Self {
        self.auth = auth;
        self
    }
}

/// Starts an API: receives the API handle.
pub type InitFn = Box<dyn Fn(ApiRef) -> BoxFuture<Result<(), String>> + Send + Sync>;
/// Receives an event: API handle, event name, data.
pub type EventFn = Arc<dyn Fn(&ApiRef, &str, &RawValue) + Send + Sync>;

/// Why a verb could not be added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerbError {
    /// Bad name.
    Name(NameError),
    /// Same name (ignoring case) already there.
    Duplicate(String),
    /// The API is sealed.
    Sealed,
}

impl fmt::Display for VerbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerbError::Name(e) => e.fmt(f),
            VerbError::Duplicate(v) => write!(f, "verb {v:?} declared twice"),
            VerbError::Sealed => f.write_str("the API is sealed: no verb can be added or removed"),
        }
    }
}

impl std::error::Error for VerbError {}

/// A table of verbs with session requirements: the API implementation of
/// bindings. Verbs may be added and removed until the API is sealed.
#[derive(Default)]
pub struct LocalApi {
    verbs: RwLock<HashMap<CiKey, Arc<Verb>>>,
    order: RwLock<Vec<String>>,
    init: Option<InitFn>,
    handlers: RwLock<Vec<(String, EventFn)>>,
    sealed: AtomicBool,
    spec: RwLock<Option<String>>,
}

fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|p| p.into_inner())
}

fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|p| p.into_inner())
}

impl LocalApi {
    /// An empty verb table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the `init` function.
    pub fn with_init(mut self, init: InitFn) -> Self {
        self.init = Some(init);
        self
    }

    /// Adds a verb.
    pub fn add_verb(&self, verb: Verb) -> Result<(), VerbError> {
        if self.sealed.load(Ordering::Acquire) {
            return Err(VerbError::Sealed);
        }
        validate_verb_name(&verb.name).map_err(VerbError::Name)?;
        let mut verbs = write(&self.verbs);
        let key = CiKey::new(&verb.name);
        if verbs.contains_key(&key) {
            return Err(VerbError::Duplicate(verb.name));
        }
        write(&self.order).push(verb.name.clone());
        verbs.insert(key, Arc::new(verb));
        Ok(())
    }

    /// Removes a verb; returns whether it existed.
    pub fn remove_verb(&self, name: &str) -> Result<bool, VerbError> {
        if self.sealed.load(Ordering::Acquire) {
            return Err(VerbError::Sealed);
        }
        let removed = write(&self.verbs).remove(&CiRef(name)).is_some();
        write(&self.order).retain(|v| !v.eq_ignore_ascii_case(name));
        Ok(removed)
    }

    /// Forbids further verb changes.
    pub fn seal(&self) {
        self.sealed.store(true, Ordering::Release)
    }

    /// Adds an event handler for names matching `pattern` (`*`, `?`).
    pub fn add_event_handler(&self, pattern: impl Into<String>, f: EventFn) {
        write(&self.handlers).push((pattern.into(), f));
    }

    /// Removes the handlers of `pattern`.
    pub fn remove_event_handler(&self, pattern: &str) {
        write(&self.handlers).retain(|(p, _)| p != pattern);
    }

    /// Finds a verb (case-insensitively).
    pub fn verb(&self, name: &str) -> Option<Arc<Verb>> {
        read(&self.verbs).get(&CiRef(name)).cloned()
    }

    /// The verbs in declaration order.
    pub fn verbs(&self) -> Vec<Arc<Verb>> {
        let verbs = read(&self.verbs);
        read(&self.order)
            .iter()
            .filter_map(|n| verbs.get(&CiRef(n)).cloned())
            .collect()
    }

    /// The AGL OpenAPI-3-like description (`describe`).
    pub fn openapi(&self, name: &str, info: &str) -> Value {
        let mut paths = Map::new();
        for v in self.verbs() {
            let mut get = Map::new();
            if let Some(perm) = permissions_json(&v.auth) {
                get.insert("x-permissions".into(), perm);
            }
            if let Some(r) = &v.rule {
                get.insert("x-auth".into(), r.to_json());
            }
            get.insert("responses".into(), json!({"200": {"description": v.info}}));
            paths.insert(format!("/{}", v.name), json!({ "get": Value::Object(get) }));
        }
        json!({
            "openapi": "3.0.0",
            "info": {"title": name, "description": info, "version": "0.0"},
            "x-binding-c-generator": {"api": name},
            "paths": Value::Object(paths),
        })
    }

    /// Declares the API's specification: what `info` answers (when the
    /// API has no verb of that name) instead of the generated description.
    /// Refused once the API is sealed.
    pub fn set_specification(&self, spec: Option<String>) -> Result<(), VerbError> {
        if self.sealed.load(Ordering::Acquire) {
            return Err(VerbError::Sealed);
        }
        *write(&self.spec) = spec;
        Ok(())
    }

    /// The declared specification.
    pub fn specification(&self) -> Option<String> {
        read(&self.spec).clone()
    }

    /// What `info` answers (see [`crate::info`]).
    pub fn info_reply(&self, name: &str, info: &str) -> Reply {
        let verbs: Vec<crate::info::VerbInfo> = self
            .verbs()
            .iter()
            .map(|v| crate::info::VerbInfo {
                name: v.name.clone(),
                info: v.info.clone(),
                auth: v.auth,
                rule: v.rule.as_deref().cloned(),
                ..Default::default()
            })
            .collect();
        crate::info::reply(read(&self.spec).as_deref(), name, info, &verbs)
    }
}

/// Session requirements as AGL descriptions show them, `None` when none.
pub fn permissions_json(auth: &Auth) -> Option<Value> {
    let mut p = Map::new();
    match auth.loa {
        Some(Loa::AtLeast(n)) => {
            p.insert("LOA".into(), json!(n));
        }
        Some(Loa::AtMost(n)) => {
            p.insert("LOA".into(), json!(format!("<={n}")));
        }
        Some(Loa::Exactly(n)) => {
            p.insert("LOA".into(), json!(format!("=={n}")));
        }
        None => {}
    }
    if auth.check {
        p.insert("session".into(), json!("check"));
    }
    if auth.close {
        p.insert("session".into(), json!("close"));
    }
    if auth.renew {
        p.insert("token".into(), json!("refresh"));
    }
    (!p.is_empty()).then_some(Value::Object(p))
}

impl ApiImpl for LocalApi {
    fn process(&self, req: Request) -> BoxFuture<()> {
        let verb = match self.verb(req.verb()) {
            Some(v) => v,
            None => {
                let name = req.verb();
                if name.eq_ignore_ascii_case("describe") {
                    let api = req.shared.api.clone();
                    req.reply(Reply::success_json(&self.openapi(api.name(), api.info())));
                } else if name.eq_ignore_ascii_case(crate::info::VERB) {
                    let api = req.shared.api.clone();
                    req.reply(self.info_reply(api.name(), api.info()));
                } else {
                    let info = format!("verb {} unknown within api {}", name, req.api_name());
                    req.reply(Reply::error(status::UNKNOWN_VERB, Some(info)));
                }
                return done();
            }
        };
        if let Err(reply) = req.apply_auth(&verb.auth) {
            req.reply(reply);
            return done();
        }
        match &verb.rule {
            None => verb.handler.call(req),
            Some(rule) => {
                let check = crate::access::check_rule(&req, rule);
                Box::pin(async move {
                    match check.await {
                        Ok(()) => verb.handler.call(req).await,
                        Err(reply) => {
                            req.reply(reply);
                        }
                    }
                })
            }
        }
    }

    fn start(&self, api: ApiRef) -> BoxFuture<Result<(), String>> {
        match &self.init {
            Some(init) => init(api),
            None => Box::pin(async { Ok(()) }),
        }
    }

    fn describe(&self, api: &ApiRef) -> BoxFuture<Option<Value>> {
        let v = self.openapi(api.name(), api.entry().info());
        Box::pin(async move { Some(v) })
    }

    fn wants_events(&self) -> bool {
        !read(&self.handlers).is_empty()
    }

    fn on_event(&self, api: &ApiRef, event: &str, data: &RawValue) {
        let matching: Vec<EventFn> = read(&self.handlers)
            .iter()
            .filter(|(p, _)| glob_match(p, event))
            .map(|(_, f)| f.clone())
            .collect();
        for f in matching {
            f(api, event, data);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn done_is_complete_and_boxes_without_allocating() {
        // A zero-sized value is boxed without a call to the allocator.
        assert_eq!(std::mem::size_of::<Done>(), 0);
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        let mut f = done();
        assert!(f.as_mut().poll(&mut cx).is_ready());
        assert!(f.as_mut().poll(&mut cx).is_ready(), "polled again, still complete");
    }
}
