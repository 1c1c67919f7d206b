//! The registry: APIs by name, sessions, the events part ([`Events`]), and
//! the admission of requests ([`Registry::dispatch`]: argument depth, API
//! lookup, state, `noconcurrency` self-calls, in-flight limit). An admitted
//! request goes to the `driver` module, which runs the verb to its reply.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard, Weak};
use std::time::Duration;

use hashbrown::HashMap;
use serde_json::{Map, Value};
use tokio::sync::{oneshot, watch};

use crate::api::{ApiDecl, ApiEntry, ApiRef, ApiState};
use crate::args::Args;
use crate::driver::{self, panic_message, AssertUnwindSafeFuture};
use crate::events::Events;
use crate::log::{AtomicLevel, LogLevel};
use crate::name::{validate_api_name, CiKey, CiRef, NameError};
use crate::observe::{ApiStep, Hooks};
use crate::reply::Reply;
use crate::request::{Chain, Client, ReplySink};
use crate::session::{SessionConfig, SessionStore};
use crate::status;

fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|p| p.into_inner())
}

fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|p| p.into_inner())
}

/// Settings of the registry.
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    /// Wall-clock timeout of a request (`--apitimeout`); `None`: no timeout.
    pub api_timeout: Option<Duration>,
    /// Sessions.
    pub sessions: SessionConfig,
    /// Maximum number of requests in progress; beyond, new requests are
    /// refused at once with `not-available` (never queued without bound).
    pub jobs_max: usize,
    /// Settings for APIs (`--set`): API name (or `*` for all) -> object.
    pub settings: Map<String, Value>,
    /// Initial log level of the binder and of every API.
    pub log_level: LogLevel,
    /// Maximum number of live events an API may create.
    pub events_per_api: usize,
    /// Deepest nesting of arrays and objects accepted in a request's
    /// argument (`--json-max-depth`); deeper is answered `invalid-request`
    /// before any verb runs.
    pub json_max_depth: usize,
}

/// Default of [`RegistryConfig::json_max_depth`].
pub const DEFAULT_JSON_MAX_DEPTH: usize = 64;

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig {
            api_timeout: Some(Duration::from_secs(20)),
            sessions: SessionConfig::default(),
            jobs_max: 65_536,
            settings: Map::new(),
            log_level: LogLevel::Warning,
            events_per_api: 4096,
            json_max_depth: DEFAULT_JSON_MAX_DEPTH,
        }
    }
}

/// Why an API could not be registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegisterError {
    /// Bad API or alias name.
    Name(NameError),
    /// The name (ignoring case) is taken.
    Duplicate(String),
    /// An alias names an API that does not exist.
    NoTarget(String),
}

impl fmt::Display for RegisterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegisterError::Name(e) => e.fmt(f),
            RegisterError::Duplicate(n) => write!(f, "API {n:?} is already declared"),
            RegisterError::NoTarget(n) => write!(f, "no API {n:?} to alias"),
        }
    }
}

impl std::error::Error for RegisterError {}

/// A start-up failure, naming the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartError {
    /// The API that could not start.
    pub api: String,
    /// Why.
    pub reason: String,
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "API {} failed to start: {}", self.api, self.reason)
    }
}

impl std::error::Error for StartError {}

/// Finds APIs that are not registered yet (`--auto-api`).
pub trait ApiResolver: Send + Sync + 'static {
    /// Returns a declaration for `name`, or `None`. The API is registered
    /// and served at once, without running an `init`.
    fn resolve(&self, registry: &Arc<Registry>, name: &str) -> Option<ApiDecl>;
}

/// One call of `api/verb`, as given to [`Registry::dispatch`]: what is
/// called, with which argument, by whom (the [`Client`]: session, token,
/// credentials, event subscriber, cancellation), and through which APIs.
#[derive(Debug)]
pub struct Call<'a> {
    /// Target API.
    pub api: &'a str,
    /// Target verb.
    pub verb: &'a str,
    /// Argument.
    pub args: Args,
    /// Who calls.
    pub client: Client,
    /// Whether it comes from outside (private APIs are then unknown).
    pub external: bool,
    /// The APIs the call went through.
    pub chain: Option<Arc<Chain>>,
}

impl<'a> Call<'a> {
    /// A call received by a transport: external (private APIs are
    /// unknown), through no API.
    pub fn external(api: &'a str, verb: &'a str, args: Args, client: Client) -> Self {
        Call {
            api,
            verb,
            args,
            client,
            external: true,
            chain: None,
        }
    }

    /// A call made from inside the binder (private APIs are visible),
    /// through the APIs of `chain`.
    pub fn internal(api: &'a str, verb: &'a str, args: Args, client: Client, chain: Option<Arc<Chain>>) -> Self {
        Call {
            api,
            verb,
            args,
            client,
            external: false,
            chain,
        }
    }
}

/// The binder's registry. See the module documentation.
pub struct Registry {
    me: Weak<Registry>,
    apis: RwLock<HashMap<CiKey, Arc<ApiEntry>>>,
    order: RwLock<Vec<Arc<ApiEntry>>>,
    next_api_id: AtomicU32,
    sessions: SessionStore,
    events: Events,
    config: RegistryConfig,
    inflight: AtomicUsize,
    resolver: RwLock<Option<Arc<dyn ApiResolver>>>,
    level: AtomicLevel,
    started: AtomicBool,
    exit: watch::Sender<Option<i32>>,
    access: crate::access::AccessControl,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("apis", &self.api_names())
            .field("sessions", &self.sessions)
            .finish_non_exhaustive()
    }
}

impl Registry {
    /// A registry with the given settings.
    pub fn new(config: RegistryConfig) -> Arc<Self> {
        let (exit, _) = watch::channel(None);
        Arc::new_cyclic(|me| Registry {
            me: me.clone(),
            apis: RwLock::new(HashMap::new()),
            order: RwLock::new(Vec::new()),
            next_api_id: AtomicU32::new(1),
            sessions: SessionStore::new(config.sessions.clone()),
            events: Events::new(me.clone(), config.events_per_api),
            level: AtomicLevel::new(config.log_level),
            config,
            inflight: AtomicUsize::new(0),
            resolver: RwLock::new(None),
            started: AtomicBool::new(false),
            exit,
            access: crate::access::AccessControl::default(),
        })
    }

    /// Access control: the permission backend.
    pub fn access(&self) -> &crate::access::AccessControl {
        &self.access
    }

    /// The settings.
    pub fn config(&self) -> &RegistryConfig {
        &self.config
    }

    /// The sessions.
    pub fn sessions(&self) -> &SessionStore {
        &self.sessions
    }

    /// The observation hooks (shared with the sessions and the events).
    pub fn hooks(&self) -> &Arc<Hooks> {
        self.sessions.hooks()
    }

    /// The events part: listeners of broadcasts, broadcasts, events.
    pub fn events(&self) -> &Events {
        &self.events
    }

    /// Number of requests in progress.
    pub fn inflight(&self) -> usize {
        self.inflight.load(Ordering::Relaxed)
    }

    pub(crate) fn request_finished(&self) {
        self.inflight.fetch_sub(1, Ordering::AcqRel);
    }

    /// Installs the resolver of unknown APIs.
    pub fn set_resolver(&self, r: Arc<dyn ApiResolver>) {
        *write(&self.resolver) = Some(r);
    }

    // ---- APIs ---------------------------------------------------------

    /// Registers an API (and its aliases). If the registry is already
    /// started, the API is served at once without running its `init`; use
    /// [`Registry::add_and_start`] to run it.
    pub fn add_api(&self, decl: ApiDecl) -> Result<Arc<ApiEntry>, RegisterError> {
        self.register(decl, true)
    }

    /// Registers an API; it is served at once when `serve_if_started` and
    /// the registry is started, else it stays declared.
    fn register(&self, decl: ApiDecl, serve_if_started: bool) -> Result<Arc<ApiEntry>, RegisterError> {
        validate_api_name(&decl.name).map_err(RegisterError::Name)?;
        for a in &decl.aliases {
            validate_api_name(a).map_err(RegisterError::Name)?;
        }
        let entry = Arc::new(ApiEntry {
            id: self.next_api_id.fetch_add(1, Ordering::Relaxed),
            name: decl.name.as_str().into(),
            info: decl.info,
            imp: decl.imp,
            noconcurrency: decl.noconcurrency,
            nc_lock: tokio::sync::Mutex::new(()),
            requires: decl.requires,
            provides_classes: decl.provides_classes,
            requires_classes: decl.requires_classes,
            state: std::sync::atomic::AtomicU8::new(ApiState::Declared as u8),
            start_done: tokio::sync::Notify::new(),
            level: AtomicLevel::new(self.level.get()),
            own_session: std::sync::OnceLock::new(),
            registry: self.me.clone(),
            private: decl.private,
            observed: Default::default(),
        });
        {
            let mut apis = write(&self.apis);
            for n in std::iter::once(&decl.name).chain(&decl.aliases) {
                if apis.contains_key(&CiRef(n)) {
                    return Err(RegisterError::Duplicate(n.clone()));
                }
            }
            for n in std::iter::once(&decl.name).chain(&decl.aliases) {
                apis.insert(CiKey::new(n), entry.clone());
            }
        }
        write(&self.order).push(entry.clone());
        if serve_if_started && self.started.load(Ordering::Acquire) {
            entry.set_state(ApiState::Ready);
        }
        Ok(entry)
    }

    /// Registers an API and runs its `init` (for APIs added after start).
    pub async fn add_and_start(&self, decl: ApiDecl) -> Result<Arc<ApiEntry>, StartError> {
        let name = decl.name.clone();
        let entry = self.register(decl, false).map_err(|e| StartError {
            api: name,
            reason: e.to_string(),
        })?;
        self.start_one(&entry, &mut Vec::new()).await?;
        // A `start` running meanwhile may have taken the init first.
        match entry.started().await {
            ApiState::Failed => Err(StartError {
                api: entry.name().to_owned(),
                reason: "its init failed".into(),
            }),
            _ => Ok(entry),
        }
    }

    /// Adds another name for an existing API.
    pub fn add_alias(&self, alias: &str, api: &str) -> Result<(), RegisterError> {
        validate_api_name(alias).map_err(RegisterError::Name)?;
        let mut apis = write(&self.apis);
        let target = apis
            .get(&CiRef(api))
            .cloned()
            .ok_or_else(|| RegisterError::NoTarget(api.to_owned()))?;
        if apis.contains_key(&CiRef(alias)) {
            return Err(RegisterError::Duplicate(alias.to_owned()));
        }
        apis.insert(CiKey::new(alias), target);
        Ok(())
    }

    /// Removes an API and its aliases (an imported API whose link is gone
    /// for good, a dynamic API deleted by its binding).
    pub fn remove_api(&self, name: &str) -> bool {
        let mut apis = write(&self.apis);
        let Some(entry) = apis.get(&CiRef(name)).cloned() else {
            return false;
        };
        apis.retain(|_, e| !Arc::ptr_eq(e, &entry));
        write(&self.order).retain(|e| !Arc::ptr_eq(e, &entry));
        self.events.forget_api(entry.id);
        true
    }

    /// Finds an API by name or alias, case-insensitively.
    pub fn get_api(&self, name: &str) -> Option<Arc<ApiEntry>> {
        read(&self.apis).get(&CiRef(name)).cloned()
    }

    /// A binding-side handle on an API.
    pub fn api_ref(&self, name: &str) -> Option<ApiRef> {
        self.get_api(name).map(ApiRef::new)
    }

    /// Finds an API, asking the resolver for unknown names.
    pub fn find_api(&self, name: &str) -> Option<Arc<ApiEntry>> {
        if let Some(e) = self.get_api(name) {
            return Some(e);
        }
        let resolver = read(&self.resolver).clone()?;
        let me = self.me.upgrade()?;
        let decl = resolver.resolve(&me, name)?;
        match self.add_api(decl) {
            Ok(e) => {
                e.set_state(ApiState::Ready);
                Some(e)
            }
            // Lost a race with another resolution of the same name.
            Err(RegisterError::Duplicate(_)) => self.get_api(name),
            Err(e) => {
                tracing::warn!("resolving API {name:?}: {e}");
                None
            }
        }
    }

    /// Every API in registration order (aliases not repeated).
    pub fn apis(&self) -> Vec<Arc<ApiEntry>> {
        read(&self.order).clone()
    }

    /// The names of the public APIs, in registration order.
    pub fn api_names(&self) -> Vec<String> {
        read(&self.order)
            .iter()
            .filter(|e| !e.is_private())
            .map(|e| e.name().to_owned())
            .collect()
    }

    /// The description of an API (its `describe`).
    pub async fn describe(&self, name: &str) -> Option<Value> {
        let e = self.get_api(name)?;
        let api = ApiRef::new(e.clone());
        e.imp.describe(&api).await
    }

    /// Settings for an API: `--set` values for `*` then for the API.
    pub fn settings_for(&self, api: &str) -> Value {
        let mut merged = Map::new();
        for key in ["*", api] {
            let found = self
                .config
                .settings
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v);
            if let Some(Value::Object(o)) = found {
                for (k, v) in o {
                    merged.insert(k.clone(), v.clone());
                }
            }
        }
        Value::Object(merged)
    }

    // ---- start --------------------------------------------------------

    /// Starts every API: each `init` runs after those of the APIs and
    /// classes it requires. The first failure stops and is returned.
    pub async fn start(&self) -> Result<(), StartError> {
        let apis = self.apis();
        for e in &apis {
            self.start_one(e, &mut Vec::new()).await?;
        }
        self.started.store(true, Ordering::Release);
        // An API added while the ones above started (by an init, or an
        // import found on the network meanwhile) saw `started` false and
        // stayed declared; one added from now on is served at once. The
        // list is read under its lock after the store: it holds them all.
        for e in self.apis() {
            if e.state() == ApiState::Declared {
                self.start_one(&e, &mut Vec::new()).await?;
            }
        }
        Ok(())
    }

    fn start_one<'a>(
        &'a self,
        e: &'a Arc<ApiEntry>,
        stack: &'a mut Vec<String>,
    ) -> Pin<Box<dyn Future<Output = Result<(), StartError>> + Send + 'a>> {
        Box::pin(async move {
            let err = |reason: String| StartError {
                api: e.name().to_owned(),
                reason,
            };
            // Only the caller that moves it out of `Declared` runs the init.
            match e.begin_start() {
                Ok(()) => {}
                Err(ApiState::Ready) => return Ok(()),
                Err(ApiState::Failed) => return Err(err("its init failed earlier".into())),
                // Started by another top-level caller at the same time
                // (`start` and `add_and_start` from another task): that
                // one runs the init and reports how it went.
                Err(_) if stack.is_empty() => return Ok(()),
                Err(_) => {
                    stack.push(e.name().to_owned());
                    return Err(err(format!("circular requirement: {}", stack.join(" -> "))));
                }
            }
            stack.push(e.name().to_owned());
            for req in &e.requires {
                let dep = self
                    .find_api(req)
                    .ok_or_else(|| err(format!("it requires API {req:?}, which does not exist")))?;
                if let Err(mut de) = self.start_one(&dep, stack).await {
                    e.set_state(ApiState::Failed);
                    if de.api != e.name() {
                        de.reason = format!("{} (required by {})", de.reason, e.name());
                    }
                    return Err(de);
                }
            }
            for class in &e.requires_classes {
                let providers: Vec<_> = self
                    .apis()
                    .into_iter()
                    .filter(|p| p.provides_classes.iter().any(|c| c.eq_ignore_ascii_case(class)))
                    .collect();
                if providers.is_empty() {
                    e.set_state(ApiState::Failed);
                    return Err(err(format!("it requires class {class:?}, which no API provides")));
                }
                for p in providers {
                    if Arc::ptr_eq(&p, e) {
                        continue;
                    }
                    self.start_one(&p, stack)
                        .await
                        .inspect_err(|_| e.set_state(ApiState::Failed))?;
                }
            }
            stack.pop();
            let api = ApiRef::new(e.clone());
            if let Some(o) = self.hooks().get() {
                o.api_step(e.name(), ApiStep::StartBefore);
            }
            let result = match AssertUnwindSafeFuture(e.imp.start(api)).await {
                Ok(Ok(())) => {
                    e.set_state(ApiState::Ready);
                    Ok(())
                }
                Ok(Err(reason)) => {
                    e.set_state(ApiState::Failed);
                    Err(err(reason))
                }
                Err(p) => {
                    e.set_state(ApiState::Failed);
                    Err(err(format!("init panicked: {}", panic_message(&*p))))
                }
            };
            if let Some(o) = self.hooks().get() {
                o.api_step(e.name(), ApiStep::StartAfter(if result.is_ok() { 0 } else { -1 }));
            }
            result
        })
    }

    // ---- requests -----------------------------------------------------

    /// Dispatches `call`; the reply goes to `sink`, exactly once (at once
    /// when the call is refused: argument too deep, unknown or private API,
    /// API not started, `noconcurrency` self-call, too many requests).
    pub fn dispatch(&self, call: Call<'_>, sink: Box<dyn ReplySink>) {
        let refuse = |sink: Box<dyn ReplySink>, st: &'static str, info: String| {
            if let Some(o) = self.hooks().get() {
                o.refused(&call.client, st);
            }
            sink.reply(Reply::error(st, Some(info)));
        };
        if let Some(raw) = call.args.raw() {
            if crate::args::nesting_exceeds(raw.get().as_bytes(), self.config.json_max_depth) {
                return refuse(
                    sink,
                    status::INVALID_REQUEST,
                    format!("argument nested more than {} levels deep", self.config.json_max_depth),
                );
            }
        }
        let entry = match self.find_api(call.api) {
            Some(e) if !(call.external && e.is_private()) => e,
            _ => return refuse(sink, status::UNKNOWN_API, format!("api {} not found", call.api)),
        };
        if entry.state() != ApiState::Ready {
            return refuse(
                sink,
                status::BAD_API_STATE,
                format!("api {} is not started ({:?})", entry.name(), entry.state()),
            );
        }
        if entry.noconcurrency && call.chain.as_ref().is_some_and(|c| c.contains(entry.id)) {
            return refuse(
                sink,
                status::BAD_STATE,
                format!(
                    "self-locked: api {} is noconcurrency and already runs this call chain",
                    entry.name()
                ),
            );
        }
        if self.inflight.fetch_add(1, Ordering::AcqRel) >= self.config.jobs_max {
            self.inflight.fetch_sub(1, Ordering::AcqRel);
            return refuse(
                sink,
                status::NOT_AVAILABLE,
                format!("too many requests in progress ({})", self.config.jobs_max),
            );
        }
        let Some(me) = self.me.upgrade() else {
            self.inflight.fetch_sub(1, Ordering::AcqRel);
            return refuse(sink, status::NOT_AVAILABLE, "the binder is shutting down".into());
        };
        let deadline = self.config.api_timeout.map(|t| crate::clock::now() + t);
        driver::run(me, entry, call, sink, deadline);
    }

    /// Calls and waits for the reply.
    pub fn call(self: Arc<Self>, call: Call<'_>) -> impl Future<Output = Reply> + Send + 'static {
        let (tx, rx) = oneshot::channel();
        self.dispatch(
            call,
            Box::new(move |r: Reply| {
                let _ = tx.send(r);
            }),
        );
        async move {
            rx.await
                .unwrap_or_else(|_| Reply::error(status::INTERNAL_ERROR, Some("reply lost".into())))
        }
    }

    // ---- logging and exit -------------------------------------------------

    /// The binder's log level.
    pub fn log_level(&self) -> LogLevel {
        self.level.get()
    }

    /// Sets the binder's log level and that of every API.
    pub fn set_log_level(&self, l: LogLevel) {
        self.level.set(l);
        for e in self.apis() {
            e.set_log_level(l);
        }
    }

    /// Asks the daemon to exit with `code` (the `hello/exit` verb).
    pub fn request_exit(&self, code: i32) {
        self.exit.send_replace(Some(code));
    }

    /// Watches exit requests.
    pub fn exit_requests(&self) -> watch::Receiver<Option<i32>> {
        self.exit.subscribe()
    }
}
