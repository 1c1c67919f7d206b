//! The API of a C binding, whatever its ABI version: its verb table (C
//! callbacks with their data and session requirements), its event
//! handlers, its `init`, its registration in the registry, and the
//! [`ApiImpl`] that runs its verbs on tokio's blocking pool (C verbs are
//! synchronous and may block: they never run on the async workers).
//!
//! This module knows no ABI: the ABI modules give it their C callbacks
//! wrapped in closures ([`VerbFn`], [`InitFn`], [`EventFn`],
//! [`HandlerFn`]) and the v3 function table's address when the loader
//! makes a binding's root API.
//!
//! A `CApi` is leaked when made: C code keeps its address for the life of
//! the process (shared objects are never unloaded), so it is `'static`.

use std::cell::UnsafeCell;
use std::ffi::{c_char, c_int, c_void, CString};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock, Weak};

use afb_core::api::{done, permissions_json, ApiDecl, ApiImpl, ApiRef, ApiState, BoxFuture};
use afb_core::info::{AuthRule, VerbInfo};
use afb_core::name::glob_match;
use afb_core::{status, Auth, LogLevel, Registry, Reply, Request};
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};

use crate::errno::{BAD_STATE, INTERNAL_ERROR, INVALID_REQUEST, NO_ITEM};
use crate::jsonc::JsonObj;
use crate::util::{self, cstr, lock, Label, SendPtr};

pub(crate) use afb_binding_so::abi::AfbAuth;

/// Which ABI the API was declared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// `afbBindingV1Register`.
    V1,
    /// `afbBindingV2`.
    V2,
    /// `afbBindingV3` / `afbBindingV3entry`.
    V3,
    /// `afbBindingV4` / `afbBindingV4entry`.
    V4,
}

/// Calls a verb's C callback with a request (made by the ABI module that
/// read the verb; it gets the verb for its data).
pub(crate) type VerbFn = Box<dyn Fn(&'static CApi, &CVerb, Request) + Send + Sync>;
/// Calls an API's `init`; its status.
pub(crate) type InitFn = Arc<dyn Fn(&'static CApi) -> c_int + Send + Sync>;
/// Receives an event no handler took: (API, event name, data as JSON text).
pub(crate) type EventFn = Arc<dyn Fn(&'static CApi, &str, &str) + Send + Sync>;
/// Calls an event handler: (API, its closure, event name, data as JSON text).
pub(crate) type HandlerFn = Arc<dyn Fn(&'static CApi, SendPtr, &str, &str, Option<&afb_core::TypedList>) + Send + Sync>;

/// One verb of a C API.
pub(crate) struct CVerb {
    pub name: String,
    pub info: String,
    pub call: VerbFn,
    pub vcbdata: SendPtr,
    pub auth: Auth,
    /// The binding's `struct afb_auth` tree, read once when the verb is declared (an unknown
    /// node or a tree deeper than 32 levels is `No`, as C refuses them).
    pub rule: Option<Arc<AuthRule>>,
    pub glob: bool,
}

impl CVerb {
    /// The access rule of a C auth tree.
    ///
    /// # Safety
    /// `cauth` is NULL or a valid tree of `struct afb_auth` (the binding's
    /// static data).
    pub(crate) unsafe fn rule_of(cauth: SendPtr) -> Option<Arc<AuthRule>> {
        if cauth.0.is_null() {
            return None;
        }
        // SAFETY: per the contract.
        Some(Arc::new(
            unsafe { auth_rule(cauth.0.cast(), 0) }.unwrap_or(AuthRule::No),
        ))
    }
}

/// An event handler of an API (`event_handler_add`).
pub(crate) struct Handler {
    pub pattern: String,
    pub call: HandlerFn,
    pub closure: SendPtr,
}

/// What is collected about an API before it is registered.
#[derive(Default)]
pub(crate) struct Pending {
    pub info: String,
    pub noconcurrency: bool,
    pub requires: Vec<String>,
    pub provides: Vec<String>,
    pub requires_classes: Vec<String>,
    pub aliases: Vec<String>,
}

/// The part of an API that C code of ABI v3 (and v1, v2 through their
/// closures) sees as `struct afb_api_x3`: its fields are read and written
/// directly by the header's inline functions.
#[repr(C)]
pub struct ApiX3 {
    /// The v3 function table (`v3::api_itf`); the binder never calls
    /// through it.
    pub itf: *const c_void,
    /// The API name.
    pub apiname: *const c_char,
    /// The binding's data (`afb_api_set_userdata`).
    pub userdata: *mut c_void,
    /// Syslog mask of the wanted log levels.
    pub logmask: c_int,
}

/// An API provided by a C binding. Its address is the `afb_api_t` given to
/// C code (for v3, the first field is the C-visible `struct afb_api_x3`).
#[repr(C)]
pub struct CApi {
    x3: UnsafeCell<ApiX3>,
    pub(crate) name: String,
    cname: CString,
    pub(crate) flavor: Flavor,
    pub(crate) path: String,
    pub(crate) registry: Weak<Registry>,
    pub(crate) root: bool,
    verbs: RwLock<Vec<Arc<CVerb>>>,
    sealed: AtomicBool,
    handlers: RwLock<Vec<Handler>>,
    init: Mutex<Option<InitFn>>,
    onevent: Mutex<Option<EventFn>>,
    entry: OnceLock<ApiRef>,
    pending: Mutex<Option<Pending>>,
    settings: OnceLock<JsonObj>,
    pub(crate) config: Option<JsonObj>,
    /// The specification `info` answers (v4 `api_set_specification`, or
    /// the `specification` of `afbBindingV4`).
    spec: Mutex<Option<String>>,
    /// Whether its settings also hold `path` (the API a v4 binding
    /// describes, or its root API: the one its configuration is for).
    primary: AtomicBool,
    /// Names the binding in the fatal-signal line.
    pub(crate) label: Label,
}

// SAFETY: the only non-thread-safe part is `x3`, the C-visible struct.
// Its `userdata` is written by C code only (as in the C binders, whose
// bindings are multi-threaded too), `logmask` is an int rewritten with
// volatile stores, and `itf`/`apiname` never change after creation.
unsafe impl Sync for CApi {}
// SAFETY: see `Sync`; every other field is thread-safe.
unsafe impl Send for CApi {}

impl CApi {
    /// Makes (and leaks) the root API of a binding (named after its file),
    /// not registered: `x3_itf` is the v3 function table its `struct
    /// afb_api_x3` shows, and that of every API made from it.
    pub(crate) fn new_root(
        name: &str,
        flavor: Flavor,
        path: &str,
        registry: &Arc<Registry>,
        config: Option<JsonObj>,
        x3_itf: *const c_void,
    ) -> &'static CApi {
        Self::new(name, flavor, path, registry, true, config, x3_itf)
    }

    /// Makes (and leaks) an API of the same binding as `self`, not
    /// registered yet.
    pub(crate) fn new_child(&'static self, name: &str, flavor: Flavor, registry: &Arc<Registry>) -> &'static CApi {
        // SAFETY: `itf` never changes after creation (see `Sync`).
        let x3_itf = unsafe { (*self.x3.get()).itf };
        Self::new(name, flavor, &self.path, registry, false, None, x3_itf)
    }

    fn new(
        name: &str,
        flavor: Flavor,
        path: &str,
        registry: &Arc<Registry>,
        root: bool,
        config: Option<JsonObj>,
        x3_itf: *const c_void,
    ) -> &'static CApi {
        let cname = util::cstring(name);
        let api = Box::leak(Box::new(CApi {
            x3: UnsafeCell::new(ApiX3 {
                itf: x3_itf,
                apiname: std::ptr::null(),
                userdata: std::ptr::null_mut(),
                logmask: util::logmask(registry.log_level()),
            }),
            name: name.to_owned(),
            cname,
            flavor,
            path: path.to_owned(),
            registry: Arc::downgrade(registry),
            root,
            verbs: RwLock::new(Vec::new()),
            sealed: AtomicBool::new(false),
            handlers: RwLock::new(Vec::new()),
            init: Mutex::new(None),
            onevent: Mutex::new(None),
            entry: OnceLock::new(),
            pending: Mutex::new(Some(Pending::default())),
            settings: OnceLock::new(),
            config,
            spec: Mutex::new(None),
            primary: AtomicBool::new(false),
            label: Label::leak(if root {
                format!("binding {path}")
            } else {
                format!("binding {path} (API {name})")
            }),
        }));
        // SAFETY: no other reference to `x3` exists yet; `cname` lives as
        // long as the leaked API.
        unsafe { (*api.x3.get()).apiname = api.cname.as_ptr() };
        api
    }

    /// The address given to C code.
    pub(crate) fn as_c(&'static self) -> *mut ApiX3 {
        self.x3.get()
    }

    /// The API behind an address given to C code.
    ///
    /// # Safety
    /// `p` is NULL or an address returned by [`CApi::as_c`].
    pub(crate) unsafe fn from_c(p: *const ApiX3) -> Option<&'static CApi> {
        // SAFETY: `x3` is the first field of the `repr(C)` `CApi` and
        // `UnsafeCell` is transparent, so the addresses are equal; API
        // objects are leaked, hence `'static`.
        unsafe { p.cast::<CApi>().as_ref() }
    }

    /// The API's name.
    pub(crate) fn cname(&self) -> *const c_char {
        self.cname.as_ptr()
    }

    /// The binding's user data.
    pub(crate) fn userdata(&self) -> *mut c_void {
        // SAFETY: a plain read of a pointer-sized field (see `Sync`).
        unsafe { std::ptr::read_volatile(&(*self.x3.get()).userdata) }
    }

    /// Sets the binding's user data; returns the previous one.
    pub(crate) fn set_userdata(&self, v: *mut c_void) -> *mut c_void {
        // SAFETY: see `userdata`.
        unsafe {
            let p = &mut (*self.x3.get()).userdata;
            let old = std::ptr::read_volatile(p);
            std::ptr::write_volatile(p, v);
            old
        }
    }

    /// The current log level of the API.
    pub(crate) fn level(&self) -> LogLevel {
        match self.entry.get() {
            Some(e) => e.entry().log_level(),
            None => self
                .registry
                .upgrade()
                .map(|r| r.log_level())
                .unwrap_or(LogLevel::Warning),
        }
    }

    /// The syslog mask of the API's level (refreshed in the C struct).
    pub(crate) fn logmask(&self) -> c_int {
        let m = util::logmask(self.level());
        // SAFETY: see `Sync`: a volatile int store, read by C inline code.
        unsafe { std::ptr::write_volatile(&mut (*self.x3.get()).logmask, m) };
        m
    }

    /// Logs a `printf`-style message of C code for this API (the body of
    /// every ABI's `vverbose`), if its level lets the message through.
    ///
    /// # Safety
    /// `file` and `func` are NULL or C strings; `fmt` is NULL or a format
    /// string and `args` its `va_list`, not yet consumed.
    pub(crate) unsafe fn log_va(
        &self,
        level: c_int,
        file: *const c_char,
        line: c_int,
        func: *const c_char,
        fmt: *const c_char,
        args: *mut c_void,
    ) {
        // SAFETY: per the contract.
        let (msg, file, func) = unsafe { (util::format_va(fmt, args), cstr(file), cstr(func)) };
        let l = util::level_of(level);
        if l <= self.level() {
            util::c_log(&self.name, l, file.as_deref(), line, func.as_deref(), &msg);
        }
    }

    /// The registry entry, once registered.
    pub(crate) fn api_ref(&self) -> Option<&ApiRef> {
        self.entry.get()
    }

    /// The registry.
    pub(crate) fn registry(&self) -> Option<Arc<Registry>> {
        self.registry.upgrade()
    }

    /// The settings as a json-c object owned by the API: the `--set`
    /// values for `*` and for the API, `binding-path` (the shared object),
    /// and for the binding's main API `path` (the same) unless `--set`
    /// gave one, as the C binder fills them.
    pub(crate) fn settings(&self) -> *mut crate::jsonc::JsonObject {
        self.settings
            .get_or_init(|| {
                let mut v = self
                    .registry()
                    .map(|r| r.settings_for(&self.name))
                    .unwrap_or_else(|| Value::Object(Map::new()));
                if let Value::Object(o) = &mut v {
                    o.insert("binding-path".into(), Value::String(self.path.clone()));
                    if self.primary.load(Ordering::Acquire) {
                        o.entry("path").or_insert_with(|| Value::String(self.path.clone()));
                    }
                }
                JsonObj::parse(&v.to_string())
            })
            .as_ptr()
    }

    /// Marks the API as its binding's main one (its settings hold `path`).
    pub(crate) fn set_primary(&self) {
        self.primary.store(true, Ordering::Release)
    }

    /// Sets (or clears) the specification; `false` once the API is sealed.
    pub(crate) fn set_specification(&self, spec: Option<String>) -> bool {
        if self.sealed.load(Ordering::Acquire) {
            return false;
        }
        *lock(&self.spec) = spec;
        true
    }

    /// Sets (or clears) the API's `init`.
    pub(crate) fn set_init(&self, init: Option<InitFn>) {
        *lock(&self.init) = init;
    }

    /// Sets (or clears) what receives the events no handler took.
    pub(crate) fn set_onevent(&self, onevent: Option<EventFn>) {
        *lock(&self.onevent) = onevent;
    }

    /// Runs `f` on the pending declaration; `false` when already registered.
    pub(crate) fn with_pending(&self, f: impl FnOnce(&mut Pending)) -> bool {
        match lock(&self.pending).as_mut() {
            Some(p) => {
                f(p);
                true
            }
            None => false,
        }
    }

    // ---- verbs -------------------------------------------------------------

    /// Adds a verb; an error code (negative) when impossible.
    pub(crate) fn add_verb(&self, verb: CVerb) -> Result<(), c_int> {
        if self.sealed.load(Ordering::Acquire) {
            return Err(BAD_STATE);
        }
        if afb_core::name::validate_verb_name(&verb.name).is_err() && !verb.glob {
            return Err(INVALID_REQUEST);
        }
        let mut verbs = self.verbs.write().unwrap_or_else(|p| p.into_inner());
        if verbs.iter().any(|v| v.name.eq_ignore_ascii_case(&verb.name)) {
            return Err(BAD_STATE);
        }
        verbs.push(Arc::new(verb));
        Ok(())
    }

    /// Removes a verb; gives back its data.
    pub(crate) fn del_verb(&self, name: &str) -> Result<SendPtr, c_int> {
        if self.sealed.load(Ordering::Acquire) {
            return Err(BAD_STATE);
        }
        let mut verbs = self.verbs.write().unwrap_or_else(|p| p.into_inner());
        match verbs.iter().position(|v| v.name.eq_ignore_ascii_case(name)) {
            Some(i) => Ok(verbs.remove(i).vcbdata),
            None => Err(NO_ITEM),
        }
    }

    /// Forbids verb changes.
    pub(crate) fn seal(&self) {
        self.sealed.store(true, Ordering::Release)
    }

    fn find_verb(&self, name: &str) -> Option<Arc<CVerb>> {
        let verbs = self.verbs.read().unwrap_or_else(|p| p.into_inner());
        verbs
            .iter()
            .find(|v| !v.glob && v.name.eq_ignore_ascii_case(name))
            .or_else(|| verbs.iter().find(|v| v.glob && glob_match(&v.name, name)))
            .cloned()
    }

    // ---- events ------------------------------------------------------------

    pub(crate) fn add_handler(&self, h: Handler) {
        self.handlers.write().unwrap_or_else(|p| p.into_inner()).push(h);
    }

    /// Removes the handler of `pattern`; gives back its closure.
    pub(crate) fn del_handler(&self, pattern: &str) -> Option<SendPtr> {
        let mut hs = self.handlers.write().unwrap_or_else(|p| p.into_inner());
        let i = hs.iter().position(|h| h.pattern == pattern)?;
        Some(hs.remove(i).closure)
    }

    /// Delivers an event to the API's handlers (on the blocking pool).
    fn deliver_event(&'static self, name: &str, data: &RawValue, typed: Option<&afb_core::TypedList>) {
        let matching: Vec<(HandlerFn, SendPtr)> = self
            .handlers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|h| glob_match(&h.pattern, name))
            .map(|h| (h.call.clone(), h.closure))
            .collect();
        let onevent = lock(&self.onevent).clone();
        let name = name.to_owned();
        let data = data.get().to_owned();
        let typed = typed.cloned();
        let run = move || {
            if matching.is_empty() {
                if let Some(orphan) = &onevent {
                    orphan(self, &name, &data);
                }
            }
            for (call, closure) in &matching {
                call(self, *closure, &name, &data, typed.as_ref());
            }
        };
        let label = self.label;
        match util::runtime() {
            Some(rt) => {
                rt.spawn_blocking(move || util::guard("event handler", (), || label.run(run)));
            }
            None => label.run(run),
        }
    }

    // ---- registration ----------------------------------------------------------

    /// Registers the API in the registry with what was declared. When the
    /// registry already serves (an API made at run time), its `init` runs
    /// now, on the calling thread.
    pub(crate) fn register(&'static self) -> Result<(), String> {
        let registry = self.registry().ok_or("the binder is shutting down")?;
        let pending = lock(&self.pending).take().unwrap_or_default();
        let mut decl = ApiDecl::new(self.name.clone(), Arc::new(CApiImpl(self)));
        decl.info = pending.info;
        decl.noconcurrency = pending.noconcurrency;
        decl.requires = pending.requires;
        decl.provides_classes = pending.provides;
        decl.requires_classes = pending.requires_classes;
        decl.aliases = pending.aliases;
        let entry = registry
            .add_api(decl)
            .map_err(|e| format!("binding {}: API {}: {e}", self.path, self.name))?;
        if let Some(r) = registry.api_ref(&self.name) {
            let _ = self.entry.set(r);
        }
        if entry.state() == ApiState::Ready {
            let rc = self.run_init();
            if rc < 0 {
                registry.remove_api(&self.name);
                return Err(format!("binding {}: API {}: init failed ({rc})", self.path, self.name));
            }
        }
        Ok(())
    }

    /// Runs the API's `init` on the current thread; returns its status.
    pub(crate) fn run_init(&'static self) -> c_int {
        let init = lock(&self.init).clone();
        self.label.run(|| init.map_or(0, |init| init(self)))
    }

    /// What `info` answers (the API has no verb of that name).
    fn info_reply(&self) -> Reply {
        let verbs: Vec<VerbInfo> = self
            .verbs
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|v| VerbInfo {
                name: v.name.clone(),
                info: v.info.clone(),
                glob: v.glob,
                auth: v.auth,
                rule: v.rule.as_deref().cloned(),
            })
            .collect();
        let info = self.api_ref().map(|a| a.entry().info().to_owned()).unwrap_or_default();
        afb_core::info::reply(lock(&self.spec).as_deref(), &self.name, &info, &verbs)
    }

    fn describe_json(&self) -> Value {
        let mut paths = Map::new();
        for v in self.verbs.read().unwrap_or_else(|p| p.into_inner()).iter() {
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
        let info = self.api_ref().map(|a| a.entry().info().to_owned()).unwrap_or_default();
        json!({
            "openapi": "3.0.0",
            "info": {"title": self.name, "description": info, "version": "0.0"},
            "x-binding-c-generator": {"api": self.name},
            "paths": Value::Object(paths),
        })
    }
}

/// A `struct afb_auth` tree as a rule for descriptions (`None`: NULL, or
/// deeper than 32 levels, or of an unknown kind).
///
/// # Safety
/// `auth` is NULL or a valid tree of `struct afb_auth` (the binding's
/// static data).
unsafe fn auth_rule(auth: *const AfbAuth, depth: u32) -> Option<AuthRule> {
    if depth > 32 {
        return None;
    }
    // SAFETY: per the contract.
    let a = unsafe { auth.as_ref() }?;
    let child = |p: usize| p as *const AfbAuth;
    // SAFETY: children of a valid tree are valid trees; a permission's
    // text is a string of the binding.
    unsafe {
        Some(match a.kind {
            0 => AuthRule::No,
            1 => AuthRule::Token,
            2 => AuthRule::Loa((a.u & 0xffff_ffff) as u32),
            3 => AuthRule::Permission(util::cstr(child(a.u).cast())?.into_owned()),
            4 => AuthRule::Or(
                Box::new(auth_rule(child(a.u), depth + 1)?),
                Box::new(auth_rule(a.next, depth + 1)?),
            ),
            5 => AuthRule::And(
                Box::new(auth_rule(child(a.u), depth + 1)?),
                Box::new(auth_rule(a.next, depth + 1)?),
            ),
            6 => AuthRule::Not(Box::new(auth_rule(child(a.u), depth + 1)?)),
            7 => AuthRule::Yes,
            _ => return None,
        })
    }
}

/// The registry-facing side of a [`CApi`].
pub(crate) struct CApiImpl(pub &'static CApi);

impl ApiImpl for CApiImpl {
    fn process(&self, req: Request) -> BoxFuture<()> {
        let api = self.0;
        api.logmask();
        let Some(verb) = api.find_verb(req.verb()) else {
            let name = req.verb();
            if name.eq_ignore_ascii_case("describe") {
                req.reply(Reply::success_json(&api.describe_json()));
            } else if name.eq_ignore_ascii_case(afb_core::info::VERB) {
                req.reply(api.info_reply());
            } else {
                let info = format!("verb {} unknown within api {}", name, req.api_name());
                req.reply(Reply::error(status::UNKNOWN_VERB, Some(info)));
            }
            return done();
        };
        if let Err(reply) = req.apply_auth(&verb.auth) {
            req.reply(reply);
            return done();
        }
        let Some(rt) = util::runtime() else {
            req.reply(Reply::error(status::INTERNAL_ERROR, Some("no runtime".into())));
            return done();
        };
        let Some(rule) = verb.rule.clone() else {
            let job = rt.spawn_blocking(move || call_verb(api, verb, req));
            return Box::pin(async move {
                let _ = job.await;
            });
        };
        let check = afb_core::access::check_rule(&req, &rule);
        Box::pin(async move {
            match check.await {
                Ok(()) => {
                    let _ = rt.spawn_blocking(move || call_verb(api, verb, req)).await;
                }
                Err(reply) => {
                    req.reply(reply);
                }
            }
        })
    }

    fn start(&self, _api: ApiRef) -> BoxFuture<Result<(), String>> {
        let api = self.0;
        let Some(rt) = util::runtime() else {
            return Box::pin(async { Err("no runtime".to_owned()) });
        };
        let job = rt.spawn_blocking(move || util::guard("init", INTERNAL_ERROR, || api.run_init()));
        Box::pin(async move {
            match job.await {
                Ok(rc) if rc >= 0 => Ok(()),
                Ok(rc) => Err(format!("the init of binding {} returned {rc}", api.path)),
                Err(e) => Err(format!("the init of binding {} failed: {e}", api.path)),
            }
        })
    }

    fn describe(&self, _api: &ApiRef) -> BoxFuture<Option<Value>> {
        let v = self.0.describe_json();
        Box::pin(async move { Some(v) })
    }

    fn wants_events(&self) -> bool {
        !self.0.handlers.read().unwrap_or_else(|p| p.into_inner()).is_empty() || lock(&self.0.onevent).is_some()
    }

    fn on_event(&self, _api: &ApiRef, event: &str, data: &RawValue) {
        self.0.deliver_event(event, data, None)
    }

    fn on_event_typed(&self, _api: &ApiRef, event: &str, data: &RawValue, typed: Option<&afb_core::TypedList>) {
        self.0.deliver_event(event, data, typed)
    }
}

/// Runs one verb's C callback (on a blocking-pool thread).
fn call_verb(api: &'static CApi, verb: Arc<CVerb>, req: Request) {
    util::guard("verb", (), || api.label.run(|| (verb.call)(api, &verb, req)))
}
