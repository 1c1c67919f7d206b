//! Tracing as the C binders do it: the `--trace*` options (and `AFB_TRACE*`
//! variables) print records as structured log lines, and `monitor/trace`
//! (`add` / `drop`) sends them as events to the caller.
//!
//! A record is the C binder's object: `{"time": SECONDS, "tag": TAG,
//! "type": KIND, "id": N, KIND: {...}, "data": {...}}` where KIND is
//! `request`, `event` or `session`. Traces added through `monitor/trace`
//! are bound to the caller's session: they see only that session's
//! requests, and only request traces are allowed (as for the C binder's
//! bound traces).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use afb_core::observe::{ApiStep, ReqInfo, ReqState};
use afb_core::{Args, Client, Event, Observer, Registry, Reply, Session, Transport};
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};

use crate::metrics::Metrics;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The kinds of traces, with their flag names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Requests (`--tracereq`, `"request"`).
    Request,
    /// APIs (`--traceapi`, `"api"`).
    Api,
    /// Events (`--traceevt`, `"event"`).
    Event,
    /// Sessions (`--traceses`, `"session"`).
    Session,
    /// Globals (`--traceglob`, `"global"`).
    Global,
}

// Request flags (the C names); those without a bit here are accepted and
// never produce a record (the model has no such point).
const REQ_BEGIN: u64 = 1 << 0;
const REQ_END: u64 = 1 << 1;
const REQ_REPLY: u64 = 1 << 2;
const REQ_SUBCALL: u64 = 1 << 3;
const REQ_SUBSCRIBE: u64 = 1 << 4;
const REQ_UNSUBSCRIBE: u64 = 1 << 5;
const REQ_OTHER: u64 = 1 << 6;
const REQ_ALL: u64 = (1 << 7) - 1;
const REQ_COMMON: u64 = REQ_ALL;

const EVT_CREATE: u64 = 1 << 0;
const EVT_PUSH_BEFORE: u64 = 1 << 1;
const EVT_PUSH_AFTER: u64 = 1 << 2;
const EVT_BROADCAST_BEFORE: u64 = 1 << 3;
const EVT_BROADCAST_AFTER: u64 = 1 << 4;
const EVT_OTHER: u64 = 1 << 5;
const EVT_COMMON: u64 = EVT_CREATE | EVT_PUSH_BEFORE | EVT_BROADCAST_BEFORE;
const EVT_ALL: u64 = (1 << 6) - 1;

const SES_CREATE: u64 = 1 << 0;
const SES_CLOSE: u64 = 1 << 1;
const SES_OTHER: u64 = 1 << 2;
const SES_COMMON: u64 = SES_CREATE | SES_CLOSE;
const SES_ALL: u64 = (1 << 3) - 1;

// API flags: `start` (start_before, start_after), `call` and `callsync`
// (call, call_result), `event_make`, `event_broadcast` (before, after) and
// `vverbose` (the API's log messages) produce records.
const API_START: u64 = 1 << 0;
const API_CALL: u64 = 1 << 1;
const API_EVENT_MAKE: u64 = 1 << 2;
const API_EVENT_BROADCAST: u64 = 1 << 3;
const API_VVERBOSE: u64 = 1 << 4;
const API_OTHER: u64 = 1 << 5;
const API_ALL: u64 = (1 << 6) - 1;
const API_COMMON: u64 = API_START | API_CALL | API_EVENT_MAKE | API_EVENT_BROADCAST;

// Global flags: `vverbose` (the binder's own log messages).
const GLOB_VVERBOSE: u64 = 1 << 0;
const GLOB_ALL: u64 = GLOB_VVERBOSE;

fn table(kind: Kind) -> &'static [(&'static str, u64)] {
    match kind {
        Kind::Request => &[
            ("addref", REQ_OTHER),
            ("all", REQ_ALL),
            ("args", REQ_OTHER),
            ("begin", REQ_BEGIN),
            ("common", REQ_COMMON),
            ("context", REQ_OTHER),
            ("context_drop", REQ_OTHER),
            ("context_get", REQ_OTHER),
            ("context_getinit", REQ_OTHER),
            ("context_make", REQ_OTHER),
            ("context_set", REQ_OTHER),
            ("end", REQ_END),
            ("event", REQ_SUBSCRIBE | REQ_UNSUBSCRIBE),
            ("extra", REQ_ALL),
            ("get", REQ_OTHER),
            ("get_application_id", REQ_OTHER),
            ("get_client_info", REQ_OTHER),
            ("get_uid", REQ_OTHER),
            ("has_permission", REQ_OTHER),
            ("interface", REQ_OTHER),
            ("json", REQ_OTHER),
            ("life", REQ_BEGIN | REQ_END),
            ("ref", REQ_OTHER),
            ("reply", REQ_REPLY),
            ("security", REQ_OTHER),
            ("session", REQ_OTHER),
            ("session_close", REQ_OTHER),
            ("session_get_loa", REQ_OTHER),
            ("session_set_loa", REQ_OTHER),
            ("subcall", REQ_SUBCALL),
            ("subcall_result", REQ_OTHER),
            ("subcalls", REQ_SUBCALL),
            ("subcallsync", REQ_SUBCALL),
            ("subcallsync_result", REQ_OTHER),
            ("subscribe", REQ_SUBSCRIBE),
            ("unref", REQ_OTHER),
            ("unsubscribe", REQ_UNSUBSCRIBE),
            ("userdata", REQ_OTHER),
            ("vverbose", REQ_OTHER),
        ],
        Kind::Event => &[
            ("addref", EVT_OTHER),
            ("all", EVT_ALL),
            ("broadcast_after", EVT_BROADCAST_AFTER),
            ("broadcast_before", EVT_BROADCAST_BEFORE),
            ("common", EVT_COMMON),
            ("create", EVT_CREATE),
            ("extra", EVT_ALL),
            ("name", EVT_OTHER),
            ("push_after", EVT_PUSH_AFTER),
            ("push_before", EVT_PUSH_BEFORE),
            ("unref", EVT_OTHER),
        ],
        Kind::Session => &[
            ("addref", SES_OTHER),
            ("all", SES_ALL),
            ("close", SES_CLOSE),
            ("common", SES_COMMON),
            ("create", SES_CREATE),
            ("destroy", SES_OTHER),
            ("unref", SES_OTHER),
        ],
        Kind::Api => &[
            ("abort_job", API_OTHER),
            ("add_alias", API_OTHER),
            ("all", API_ALL),
            ("api", API_OTHER),
            ("api_add_verb", API_OTHER),
            ("api_del_verb", API_OTHER),
            ("api_seal", API_OTHER),
            ("api_set_on_event", API_OTHER),
            ("api_set_on_init", API_OTHER),
            ("api_set_verbs", API_OTHER),
            ("call", API_CALL),
            ("callsync", API_CALL),
            ("class_provide", API_OTHER),
            ("class_require", API_OTHER),
            ("common", API_COMMON),
            ("delete_api", API_OTHER),
            ("event", API_EVENT_MAKE | API_EVENT_BROADCAST),
            ("event_broadcast", API_EVENT_BROADCAST),
            ("event_handler_add", API_OTHER),
            ("event_handler_del", API_OTHER),
            ("event_make", API_EVENT_MAKE),
            ("extra", API_ALL),
            ("get_event_loop", API_OTHER),
            ("get_system_bus", API_OTHER),
            ("get_user_bus", API_OTHER),
            ("new_api", API_OTHER),
            ("on_event", API_OTHER),
            ("on_event_handler", API_OTHER),
            ("post_job", API_OTHER),
            ("require_api", API_OTHER),
            ("rootdir_get_fd", API_OTHER),
            ("rootdir_open_locale", API_OTHER),
            ("settings", API_OTHER),
            ("start", API_START),
            ("vverbose", API_VVERBOSE),
        ],
        Kind::Global => &[("all", GLOB_ALL), ("vverbose", GLOB_VVERBOSE)],
    }
}

impl Kind {
    /// The kind's name in records and in `monitor/trace`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Request => "request",
            Kind::Api => "api",
            Kind::Event => "event",
            Kind::Session => "session",
            Kind::Global => "global",
        }
    }
}

/// Parses one flag name (case and `-`/`_` ignored; `*` is `all`; `no` and
/// `none` are nothing).
pub fn flag(kind: Kind, name: &str) -> Result<u64, String> {
    let norm = |s: &str| s.to_ascii_lowercase().replace('-', "_");
    let n = if name == "*" { "all".to_owned() } else { norm(name) };
    if n == "no" || n == "none" {
        return Ok(0);
    }
    table(kind)
        .iter()
        .find(|(k, _)| *k == n)
        .map(|(_, v)| *v)
        .ok_or_else(|| format!("unknown {} name {name}", kind.name()))
}

/// Parses a list of flags separated by spaces, tabs or commas.
pub fn flags(kind: Kind, text: &str) -> Result<u64, String> {
    text.split([' ', '\t', ','])
        .filter(|s| !s.is_empty())
        .try_fold(0, |acc, f| flag(kind, f).map(|v| acc | v))
}

/// The tracer that log messages go to (`vverbose` records), and whether
/// any trace wants them (checked first by the log layer: one load).
static LOG_SINK: Mutex<Option<Weak<Tracer>>> = Mutex::new(None);
static LOGS_ARMED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

thread_local! {
    /// Set while a log message is being traced (a message logged meanwhile
    /// is not traced again).
    static IN_LOG_TRACE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether log messages are traced now.
#[inline]
pub(crate) fn logs_armed() -> bool {
    LOGS_ARMED.load(Ordering::Relaxed)
}

/// A log message for the `vverbose` traces (of `api`, else global).
pub(crate) fn log_message(api: Option<&str>, level: u8, message: &str, file: Option<&str>, line: Option<u32>) {
    if IN_LOG_TRACE.with(|f| f.replace(true)) {
        return;
    }
    let sink = lock(&LOG_SINK).as_ref().and_then(Weak::upgrade);
    if let Some(t) = sink {
        t.log_message(api, level, message, file, line);
    }
    IN_LOG_TRACE.with(|f| f.set(false));
}

/// Flags of the `--trace*` options.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogFlags {
    /// Request flags.
    pub req: u64,
    /// Event flags.
    pub evt: u64,
    /// Session flags.
    pub ses: u64,
    /// API flags.
    pub api: u64,
    /// Global flags.
    pub glob: u64,
}

/// A trace added by `monitor/trace`.
struct Hook {
    tag: Arc<str>,
    event: Event,
    session: Weak<Session>,
    api: Option<String>,
    verb: Option<String>,
    req: u64,
    /// API flags (only for callers allowed to trace beyond their session).
    apif: u64,
    /// Global flags (same).
    glob: u64,
}

impl Hook {
    fn matches_api(&self, api: &str, bit: u64) -> bool {
        self.apif & bit != 0 && self.api.as_deref().is_none_or(|a| a.eq_ignore_ascii_case(api))
    }

    fn matches(&self, r: &ReqInfo<'_>, bit: u64) -> bool {
        self.req & bit != 0
            && self
                .session
                .upgrade()
                .is_some_and(|s| Arc::ptr_eq(&s, &r.client.session))
            && self.api.as_deref().is_none_or(|a| a.eq_ignore_ascii_case(r.api))
            && self.verb.as_deref().is_none_or(|v| v.eq_ignore_ascii_case(r.verb))
    }
}

/// The tracer and the metrics, as the registry's one observer.
pub struct Tracer {
    registry: Weak<Registry>,
    log: LogFlags,
    hooks: Mutex<Vec<Hook>>,
    /// How many hooks there are (read without the lock on every request).
    hook_count: std::sync::atomic::AtomicUsize,
    metrics: Option<Arc<Metrics>>,
    next_id: AtomicU64,
    /// Whether log messages make records (API or global `vverbose`).
    logs_traced: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for Tracer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracer").field("log", &self.log).finish_non_exhaustive()
    }
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs_f64()
}

fn args_json(a: &Args) -> Value {
    a.value().clone()
}

fn raw_json(r: &RawValue) -> Value {
    serde_json::from_str(r.get()).unwrap_or(Value::Null)
}

fn creds_json(c: &Client) -> Option<Value> {
    let cr = c.creds.as_ref()?;
    let mut o = Map::new();
    if cr.has_process() {
        o.insert("uid".into(), json!(cr.uid));
        o.insert("gid".into(), json!(cr.gid));
        o.insert("pid".into(), json!(cr.pid));
    }
    if let Some(l) = &cr.label {
        o.insert("label".into(), json!(l));
    }
    if let Some(cert) = &cr.cert {
        o.insert("id".into(), json!(cert.subject));
    }
    Some(Value::Object(o))
}

/// The numeric status of a reply, as the C binders report it: 0 for
/// success, the standard code of an error status, else -1.
fn reply_code(r: &Reply) -> i64 {
    i64::from(r.code)
}

impl Tracer {
    /// The observer of `registry`: the `--trace*` flags and the metrics, if any.
    pub fn new(registry: &Arc<Registry>, log: LogFlags, metrics: Option<Arc<Metrics>>) -> Arc<Self> {
        Arc::new(Tracer {
            registry: Arc::downgrade(registry),
            log,
            hooks: Mutex::new(Vec::new()),
            hook_count: std::sync::atomic::AtomicUsize::new(0),
            metrics,
            next_id: AtomicU64::new(1),
            logs_traced: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Whether anything needs the hooks (metrics, log flags, traces).
    fn needed(&self) -> bool {
        self.metrics.is_some()
            || self.log.req != 0
            || self.log.evt != 0
            || self.log.ses != 0
            || self.log.api != 0
            || self.log.glob != 0
            || !lock(&self.hooks).is_empty()
    }

    /// Makes this tracer the one that log messages go to.
    pub fn receive_logs(self: &Arc<Self>) {
        *lock(&LOG_SINK) = Some(Arc::downgrade(self));
        self.refresh();
    }

    /// The metrics, when on.
    pub fn metrics(&self) -> Option<&Arc<Metrics>> {
        self.metrics.as_ref()
    }

    /// Turns the registry's hooks on when something needs them, off else.
    pub fn refresh(&self) {
        let (n, logs) = {
            let hooks = lock(&self.hooks);
            let logs = hooks.iter().any(|h| h.apif & API_VVERBOSE != 0 || h.glob != 0);
            (hooks.len(), logs)
        };
        self.hook_count.store(n, Ordering::Release);
        let logs = logs || self.log.api & API_VVERBOSE != 0 || self.log.glob != 0;
        self.logs_traced.store(logs, Ordering::Release);
        LOGS_ARMED.store(logs, Ordering::Relaxed);
        if let Some(r) = self.registry.upgrade() {
            r.hooks().set_on(self.needed());
        }
    }

    fn record(&self, tag: &str, kind: Kind, id: u64, what: Value, data: Option<Value>) -> Value {
        let mut o = Map::new();
        o.insert("time".into(), json!(now()));
        o.insert("tag".into(), json!(tag));
        o.insert("type".into(), json!(kind.name()));
        o.insert("id".into(), json!(id & 0x7fff_ffff));
        o.insert(kind.name().into(), what);
        if let Some(d) = data {
            o.insert("data".into(), d);
        }
        Value::Object(o)
    }

    fn request(&self, r: &ReqInfo<'_>, bit: u64, action: &str, data: impl Fn() -> Option<Value>) {
        let to_log = self.log.req & bit != 0;
        if !to_log && self.hook_count.load(Ordering::Acquire) == 0 {
            return;
        }
        let events: Vec<(Arc<str>, Event)> = {
            let hooks = lock(&self.hooks);
            hooks
                .iter()
                .filter(|h| h.matches(r, bit))
                .map(|h| (h.tag.clone(), h.event.clone()))
                .collect()
        };
        if !to_log && events.is_empty() {
            return;
        }
        let mut what = Map::new();
        what.insert("index".into(), json!(r.id));
        what.insert("api".into(), json!(r.api));
        what.insert("verb".into(), json!(r.verb));
        what.insert("action".into(), json!(action));
        if let Some(c) = creds_json(r.client) {
            what.insert("credentials".into(), c);
        }
        what.insert("session".into(), json!(r.client.session.uuid()));
        let what = Value::Object(what);
        let data = data();
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        if to_log {
            let rec = self.record("trace", Kind::Request, id, what.clone(), data.clone());
            tracing::info!(target: "afb_trace", kind = "request", api = r.api, verb = r.verb, action, transport = r.client.transport.as_str(), "{rec}");
        }
        for (tag, ev) in events {
            let rec = self.record(&tag, Kind::Request, id, what.clone(), data.clone());
            push(&ev, &rec);
        }
    }

    /// An `api` record of `api`'s `action`, logged and pushed to the hooks
    /// that want it.
    fn api(&self, api: &str, bit: u64, action: &str, data: impl Fn() -> Option<Value>) {
        self.api_record(api, bit, action, data, false)
    }

    /// [`Tracer::api`]; `defer`: push the records from a task (the caller
    /// is the log layer, which may run under any lock).
    fn api_record(&self, api: &str, bit: u64, action: &str, data: impl Fn() -> Option<Value>, defer: bool) {
        let to_log = self.log.api & bit != 0;
        if !to_log && self.hook_count.load(Ordering::Acquire) == 0 {
            return;
        }
        let events: Vec<(Arc<str>, Event)> = lock(&self.hooks)
            .iter()
            .filter(|h| h.matches_api(api, bit))
            .map(|h| (h.tag.clone(), h.event.clone()))
            .collect();
        if !to_log && events.is_empty() {
            return;
        }
        let what = json!({"api": api, "action": action});
        let data = data();
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        if to_log {
            let rec = self.record("trace", Kind::Api, id, what.clone(), data.clone());
            tracing::info!(target: "afb_trace", kind = "api", api, action, "{rec}");
        }
        let recs = events
            .into_iter()
            .map(|(tag, ev)| (ev, self.record(&tag, Kind::Api, id, what.clone(), data.clone())))
            .collect();
        push_all(recs, defer);
    }

    /// A `global` record of `action` (pushed from a task: see
    /// [`Tracer::api_record`]).
    fn global(&self, bit: u64, action: &str, data: Option<Value>) {
        let to_log = self.log.glob & bit != 0;
        let events: Vec<(Arc<str>, Event)> = if self.hook_count.load(Ordering::Acquire) == 0 {
            Vec::new()
        } else {
            lock(&self.hooks)
                .iter()
                .filter(|h| h.glob & bit != 0)
                .map(|h| (h.tag.clone(), h.event.clone()))
                .collect()
        };
        if !to_log && events.is_empty() {
            return;
        }
        let what = json!({"action": action});
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        if to_log {
            let rec = self.record("trace", Kind::Global, id, what.clone(), data.clone());
            tracing::info!(target: "afb_trace", kind = "global", action, "{rec}");
        }
        let recs = events
            .into_iter()
            .map(|(tag, ev)| (ev, self.record(&tag, Kind::Global, id, what.clone(), data.clone())))
            .collect();
        push_all(recs, true);
    }

    /// A log message (of `api`, or of the binder when `None`): a
    /// `vverbose` record of the API or global kind when traced.
    pub fn log_message(&self, api: Option<&str>, level: u8, message: &str, file: Option<&str>, line: Option<u32>) {
        if !self.logs_traced.load(Ordering::Acquire) {
            return;
        }
        let data = || {
            let mut d = Map::new();
            d.insert("level".into(), json!(level));
            d.insert("type".into(), json!(afb_core::LogLevel::from_syslog(level).name()));
            d.insert("message".into(), json!(message));
            if let Some(f) = file {
                let mut pos = Map::new();
                pos.insert("file".into(), json!(f));
                pos.insert("line".into(), json!(line.unwrap_or(0)));
                d.insert("position".into(), Value::Object(pos));
            }
            Some(Value::Object(d))
        };
        match api {
            Some(a) => self.api_record(a, API_VVERBOSE, "vverbose", data, true),
            None => self.global(GLOB_VVERBOSE, "vverbose", data()),
        }
    }

    fn is_trace_event(&self, e: &Event) -> bool {
        lock(&self.hooks).iter().any(|h| h.event.id() == e.id())
    }

    fn event(&self, bit: u64, name: &str, evid: u64, action: &str, data: Option<Value>) {
        if self.log.evt & bit == 0 {
            return;
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let what = json!({"id": evid, "name": name, "action": action});
        let rec = self.record("trace", Kind::Event, id, what, data);
        tracing::info!(target: "afb_trace", kind = "event", event = name, action, "{rec}");
    }

    /// `monitor/trace` `add` for the caller's `session`: a flag list (of
    /// request flags) or objects `{name, tag, apiname, verbname, uuid,
    /// pattern, request, event, session, api, global, for}`. Returns the
    /// events to subscribe the caller to.
    ///
    /// `wide`: the caller may trace beyond its session (API and global
    /// traces); else those are refused as the C binder refuses them to a
    /// trace bound to a session.
    pub fn add(
        &self,
        mon: &afb_core::ApiRef,
        session: &Arc<Session>,
        spec: &Value,
        wide: bool,
    ) -> Result<Vec<Event>, String> {
        let mut errors = Vec::new();
        let mut added = Vec::new();
        let top = Desc {
            wide,
            ..Desc::default()
        };
        self.add_one(mon, session, spec, &top, &mut errors, &mut added);
        if !errors.is_empty() {
            return Err(errors.join("\n"));
        }
        let mut events: Vec<Event> = Vec::new();
        {
            let mut hooks = lock(&self.hooks);
            for h in added {
                if !events.iter().any(|e| e.id() == h.event.id()) {
                    events.push(h.event.clone());
                }
                hooks.push(h);
            }
        }
        self.refresh();
        Ok(events)
    }

    #[allow(clippy::too_many_arguments)]
    fn add_one(
        &self,
        mon: &afb_core::ApiRef,
        session: &Arc<Session>,
        spec: &Value,
        parent: &Desc,
        errors: &mut Vec<String>,
        added: &mut Vec<Hook>,
    ) {
        let mut d = parent.clone();
        let obj = match spec {
            Value::Object(o) => o,
            Value::Array(a) if a.iter().all(|v| v.is_string()) => {
                for v in a {
                    d.add_flags(Kind::Request, v, errors);
                }
                self.make(mon, session, &d, errors, added);
                return;
            }
            Value::Array(a) => {
                for v in a {
                    self.add_one(mon, session, v, parent, errors, added);
                }
                return;
            }
            Value::String(_) => {
                d.add_flags(Kind::Request, spec, errors);
                self.make(mon, session, &d, errors, added);
                return;
            }
            other => {
                errors.push(format!("unexpected trace specification {other}"));
                return;
            }
        };
        let text = |k: &str| obj.get(k).and_then(Value::as_str).map(str::to_owned);
        let star = |v: Option<String>| v.filter(|s| s != "*");
        if let Some(v) = text("name") {
            d.name = Some(v);
        }
        if let Some(v) = text("tag") {
            d.tag = Some(v);
        }
        if let Some(v) = text("apiname") {
            d.api = star(Some(v));
        }
        if let Some(v) = text("verbname") {
            d.verb = star(Some(v));
        }
        if let Some(v) = star(text("uuid")) {
            errors.push(format!("setting session is forbidden (uuid {v})"));
        }
        for (key, kind) in [
            ("request", Kind::Request),
            ("api", Kind::Api),
            ("event", Kind::Event),
            ("session", Kind::Session),
            ("global", Kind::Global),
        ] {
            if let Some(v) = obj.get(key) {
                let allowed = kind == Kind::Request || (d.wide && matches!(kind, Kind::Api | Kind::Global));
                if !allowed {
                    errors.push(format!("tracing {} is forbidden", kind.name()));
                    continue;
                }
                match v {
                    Value::Array(a) => {
                        for f in a {
                            d.add_flags(kind, f, errors);
                        }
                    }
                    f => d.add_flags(kind, f, errors),
                }
            }
        }
        match obj.get("for") {
            Some(Value::Array(a)) => {
                for v in a {
                    self.add_one(mon, session, v, &d, errors, added);
                }
            }
            Some(v) => self.add_one(mon, session, v, &d, errors, added),
            None => self.make(mon, session, &d, errors, added),
        }
    }

    fn make(
        &self,
        mon: &afb_core::ApiRef,
        session: &Arc<Session>,
        d: &Desc,
        errors: &mut Vec<String>,
        added: &mut Vec<Hook>,
    ) {
        if d.req == 0 && d.apif == 0 && d.glob == 0 {
            return;
        }
        let name = d.name.clone().unwrap_or_else(|| "trace".into());
        let existing = lock(&self.hooks)
            .iter()
            .chain(added.iter())
            .find(|h| h.event.name().split_once('/').is_some_and(|(_, n)| n == name))
            .map(|h| h.event.clone());
        let event = match existing {
            Some(e) => e,
            None => match mon.new_event(&name) {
                Ok(e) => e,
                Err(e) => {
                    errors.push(format!("cannot make the event {name}: {e}"));
                    return;
                }
            },
        };
        added.push(Hook {
            tag: d.tag.as_deref().unwrap_or("trace").into(),
            event,
            session: Arc::downgrade(session),
            api: d.api.clone(),
            verb: d.verb.clone(),
            req: d.req,
            apif: d.apif,
            glob: d.glob,
        });
    }

    /// `monitor/trace` `drop` for the caller's `session`: `true` drops
    /// every trace of the session, `{"tag"|"event"|"uuid": NAME(S)}` those
    /// named.
    pub fn drop_traces(&self, session: &Arc<Session>, spec: &Value) -> Result<(), String> {
        let mine = |h: &Hook| h.session.upgrade().is_some_and(|s| Arc::ptr_eq(&s, session));
        let names = |v: Option<&Value>| -> Vec<String> {
            match v {
                Some(Value::String(s)) => vec![s.clone()],
                Some(Value::Array(a)) => a.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect(),
                _ => Vec::new(),
            }
        };
        let result = match spec {
            Value::Bool(true) => {
                lock(&self.hooks).retain(|h| !mine(h));
                Ok(())
            }
            Value::Bool(false) => Ok(()),
            Value::Object(o) if o.contains_key("tag") || o.contains_key("event") || o.contains_key("uuid") => {
                let tags = names(o.get("tag"));
                let events = names(o.get("event"));
                let uuids = names(o.get("uuid"));
                let mut hooks = lock(&self.hooks);
                let mut errors = Vec::new();
                for t in &tags {
                    if !hooks.iter().any(|h| mine(h) && &*h.tag == t) {
                        errors.push(format!("tag {t} not found"));
                    }
                }
                for e in &events {
                    if !hooks
                        .iter()
                        .any(|h| mine(h) && h.event.name().split_once('/').is_some_and(|(_, n)| n == e))
                    {
                        errors.push(format!("event {e} not found"));
                    }
                }
                for u in &uuids {
                    if u != session.uuid() {
                        errors.push(format!("session {u} not found"));
                    }
                }
                hooks.retain(|h| {
                    !(mine(h)
                        && (tags.iter().any(|t| &*h.tag == t)
                            || events
                                .iter()
                                .any(|e| h.event.name().split_once('/').is_some_and(|(_, n)| n == e))
                            || uuids.iter().any(|u| u == session.uuid())))
                });
                if errors.is_empty() {
                    Ok(())
                } else {
                    Err(errors.join("\n"))
                }
            }
            _ => Err("bad drop arguments".to_owned()),
        };
        self.refresh();
        result
    }
}

#[derive(Debug, Clone, Default)]
struct Desc {
    name: Option<String>,
    tag: Option<String>,
    api: Option<String>,
    verb: Option<String>,
    req: u64,
    apif: u64,
    glob: u64,
    /// Whether API and global traces are allowed.
    wide: bool,
}

impl Desc {
    fn add_flags(&mut self, kind: Kind, v: &Value, errors: &mut Vec<String>) {
        match v.as_str() {
            Some(s) => match flag(kind, s) {
                Ok(f) => match kind {
                    Kind::Api => self.apif |= f,
                    Kind::Global => self.glob |= f,
                    _ => self.req |= f,
                },
                Err(e) => errors.push(e),
            },
            None => errors.push(format!("unexpected {} value {v}", kind.name())),
        }
    }
}

/// Pushes each record on its event, from a task when `defer` and a runtime
/// is there.
fn push_all(recs: Vec<(Event, Value)>, defer: bool) {
    if recs.is_empty() {
        return;
    }
    match tokio::runtime::Handle::try_current() {
        Ok(h) if defer => {
            h.spawn(async move {
                for (ev, rec) in recs {
                    push(&ev, &rec);
                }
            });
        }
        _ => {
            for (ev, rec) in recs {
                push(&ev, &rec);
            }
        }
    }
}

fn push(ev: &Event, rec: &Value) {
    match serde_json::value::to_raw_value(rec) {
        Ok(raw) => {
            ev.push(Some(&raw));
        }
        Err(e) => tracing::warn!("trace record: {e}"),
    }
}

impl Observer for Tracer {
    fn ticks(&self) -> Option<u64> {
        self.metrics.as_ref().map(|m| m.ticks())
    }

    fn since(&self, began: u64) -> Duration {
        self.metrics.as_ref().map_or(Duration::ZERO, |m| m.since(began))
    }

    fn begin(&self, req: &ReqInfo<'_>) -> Option<ReqState> {
        self.request(req, REQ_BEGIN, "begin", || {
            Some(json!({"params": [args_json(req.args)]}))
        });
        // The metrics resolve their counters at the end (no state).
        None
    }

    fn end(&self, req: &ReqInfo<'_>, state: Option<&ReqState>, reply: &Reply, elapsed: Duration) {
        if let Some(m) = &self.metrics {
            m.end(req, state, reply, elapsed);
        }
        if self.log.req & (REQ_REPLY | REQ_END) == 0 && self.hook_count.load(Ordering::Acquire) == 0 {
            return;
        }
        self.request(req, REQ_REPLY, "reply", || {
            let data = reply.data.as_deref().map(raw_json).unwrap_or(Value::Null);
            let mut d = json!({"status": reply_code(reply), "reply": [data]});
            if let Some(o) = d.as_object_mut() {
                o.insert("error".into(), json!(reply.status));
                if let Some(i) = &reply.info {
                    o.insert("info".into(), json!(i));
                }
            }
            Some(d)
        });
        self.request(req, REQ_END, "end", || None);
    }

    fn refused(&self, client: &Client, status: &'static str) {
        if let Some(m) = &self.metrics {
            m.refused(client, status);
        }
    }

    fn subcall(&self, req: &ReqInfo<'_>, api: &str, verb: &str, args: &Args) {
        self.request(req, REQ_SUBCALL, "subcall", || {
            Some(json!({"api": api, "verb": verb, "params": [args_json(args)]}))
        });
    }

    fn subscribe(&self, req: &ReqInfo<'_>, event: &Event, unsubscribe: bool, ok: bool) {
        let (bit, action) = if unsubscribe {
            (REQ_UNSUBSCRIBE, "unsubscribe")
        } else {
            (REQ_SUBSCRIBE, "subscribe")
        };
        self.request(req, bit, action, || {
            Some(json!({"event": {"name": event.name(), "id": event.id()}, "result": if ok { 0 } else { -1 }}))
        });
    }

    fn event_created(&self, event: &Event) {
        if let Some(m) = &self.metrics {
            m.event_created(event);
        }
        self.event(EVT_CREATE, event.name(), event.id(), "create", None);
        if let Some((api, name)) = event.name().split_once('/') {
            self.api(api, API_EVENT_MAKE, "event_make", || {
                Some(json!({"name": name, "event": event.name(), "id": event.id()}))
            });
        }
    }

    fn api_step(&self, api: &str, step: ApiStep<'_>) {
        match step {
            ApiStep::StartBefore => self.api(api, API_START, "start_before", || None),
            ApiStep::StartAfter(result) => self.api(api, API_START, "start_after", || Some(json!({"result": result}))),
            ApiStep::Call { api: to, verb, args } => self.api(api, API_CALL, "call", || {
                Some(json!({"api": to, "verb": verb, "params": [args_json(args)]}))
            }),
            ApiStep::CallResult(reply) => self.api(api, API_CALL, "call_result", || {
                let data = reply.data.as_deref().map(raw_json).unwrap_or(Value::Null);
                Some(json!({"status": reply_code(reply), "reply": [data]}))
            }),
        }
    }

    fn push(&self, event: &Event, data: &RawValue, delivered: usize) {
        if let Some(m) = &self.metrics {
            m.push(event, data, delivered);
        }
        if self.log.evt & (EVT_PUSH_BEFORE | EVT_PUSH_AFTER) != 0 && !self.is_trace_event(event) {
            self.event(
                EVT_PUSH_BEFORE,
                event.name(),
                event.id(),
                "push_before",
                Some(json!({"data": [raw_json(data)]})),
            );
            self.event(
                EVT_PUSH_AFTER,
                event.name(),
                event.id(),
                "push_after",
                Some(json!({"data": [raw_json(data)], "result": delivered})),
            );
        }
    }

    fn broadcast(&self, name: &str, data: &RawValue, listeners: usize) {
        if let Some(m) = &self.metrics {
            m.broadcast(name, data, listeners);
        }
        if let Some((api, short)) = name.split_once('/') {
            self.api(api, API_EVENT_BROADCAST, "event_broadcast_before", || {
                Some(json!({"name": short, "data": [raw_json(data)]}))
            });
            self.api(api, API_EVENT_BROADCAST, "event_broadcast_after", || {
                Some(json!({"name": short, "data": [raw_json(data)], "result": listeners}))
            });
        }
        self.event(
            EVT_BROADCAST_BEFORE,
            name,
            0,
            "broadcast_before",
            Some(json!({"data": [raw_json(data)]})),
        );
        self.event(
            EVT_BROADCAST_AFTER,
            name,
            0,
            "broadcast_after",
            Some(json!({"data": [raw_json(data)], "result": listeners})),
        );
    }

    fn overflow(&self, transport: Transport) {
        if let Some(m) = &self.metrics {
            m.overflow(transport);
        }
    }

    fn link(&self, transport: Transport, peer: &str, up: bool) {
        if let Some(m) = &self.metrics {
            m.link(transport, peer, up);
        }
    }

    fn connection(&self, transport: Transport, opened: bool) {
        if let Some(m) = &self.metrics {
            m.connection(transport, opened);
        }
    }

    fn session(&self, session: &Session, created: bool) {
        let (bit, action) = if created {
            (SES_CREATE, "create")
        } else {
            (SES_CLOSE, "close")
        };
        if !created {
            let before = {
                let mut hooks = lock(&self.hooks);
                let n = hooks.len();
                hooks.retain(|h| h.session.upgrade().is_some_and(|s| s.uuid() != session.uuid()));
                n != hooks.len()
            };
            if before {
                self.refresh();
            }
        }
        if self.log.ses & bit != 0 {
            let id = self.next_id.fetch_add(1, Ordering::Relaxed);
            let rec = self.record(
                "trace",
                Kind::Session,
                id,
                json!({"uuid": session.uuid(), "action": action}),
                None,
            );
            tracing::info!(target: "afb_trace", kind = "session", uuid = session.uuid(), action, "{rec}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_names_and_groups() {
        assert_eq!(flags(Kind::Request, "begin,end").unwrap(), REQ_BEGIN | REQ_END);
        assert_eq!(flags(Kind::Request, "no").unwrap(), 0);
        assert_eq!(flags(Kind::Request, "*").unwrap(), REQ_ALL);
        assert_eq!(
            flags(Kind::Request, "LIFE reply").unwrap(),
            REQ_BEGIN | REQ_END | REQ_REPLY
        );
        assert_eq!(flags(Kind::Request, "session-set-LOA").unwrap(), REQ_OTHER);
        assert_eq!(flags(Kind::Event, "common").unwrap(), EVT_COMMON);
        assert_eq!(flags(Kind::Session, "create close").unwrap(), SES_COMMON);
        assert!(flags(Kind::Request, "begin,bogus").unwrap_err().contains("bogus"));
        assert!(flags(Kind::Global, "vverbose").is_ok());
        assert!(flags(Kind::Api, "start").is_ok());
    }
}
