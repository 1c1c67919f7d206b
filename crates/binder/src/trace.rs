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

use afb_core::observe::{ReqInfo, ReqState};
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

const OTHER: u64 = 1;
const ALL: u64 = 1;

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
            ("abort_job", OTHER),
            ("add_alias", OTHER),
            ("all", ALL),
            ("api", OTHER),
            ("api_add_verb", OTHER),
            ("api_del_verb", OTHER),
            ("api_seal", OTHER),
            ("api_set_on_event", OTHER),
            ("api_set_on_init", OTHER),
            ("api_set_verbs", OTHER),
            ("call", OTHER),
            ("callsync", OTHER),
            ("class_provide", OTHER),
            ("class_require", OTHER),
            ("common", OTHER),
            ("delete_api", OTHER),
            ("event", OTHER),
            ("event_broadcast", OTHER),
            ("event_handler_add", OTHER),
            ("event_handler_del", OTHER),
            ("event_make", OTHER),
            ("extra", OTHER),
            ("get_event_loop", OTHER),
            ("get_system_bus", OTHER),
            ("get_user_bus", OTHER),
            ("new_api", OTHER),
            ("on_event", OTHER),
            ("on_event_handler", OTHER),
            ("post_job", OTHER),
            ("require_api", OTHER),
            ("rootdir_get_fd", OTHER),
            ("rootdir_open_locale", OTHER),
            ("settings", OTHER),
            ("start", OTHER),
            ("vverbose", OTHER),
        ],
        Kind::Global => &[("all", ALL), ("vverbose", OTHER)],
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

/// Flags of the `--trace*` options.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogFlags {
    /// Request flags.
    pub req: u64,
    /// Event flags.
    pub evt: u64,
    /// Session flags.
    pub ses: u64,
}

/// A trace added by `monitor/trace`.
struct Hook {
    tag: Arc<str>,
    event: Event,
    session: Weak<Session>,
    api: Option<String>,
    verb: Option<String>,
    req: u64,
}

impl Hook {
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
        })
    }

    /// Whether anything needs the hooks (metrics, log flags, traces).
    fn needed(&self) -> bool {
        self.metrics.is_some()
            || self.log.req != 0
            || self.log.evt != 0
            || self.log.ses != 0
            || !lock(&self.hooks).is_empty()
    }

    /// The metrics, when on.
    pub fn metrics(&self) -> Option<&Arc<Metrics>> {
        self.metrics.as_ref()
    }

    /// Turns the registry's hooks on when something needs them, off else.
    pub fn refresh(&self) {
        let n = lock(&self.hooks).len();
        self.hook_count.store(n, Ordering::Release);
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
    pub fn add(&self, mon: &afb_core::ApiRef, session: &Arc<Session>, spec: &Value) -> Result<Vec<Event>, String> {
        let mut errors = Vec::new();
        let mut added = Vec::new();
        self.add_one(mon, session, spec, &Desc::default(), &mut errors, &mut added);
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
                if kind != Kind::Request {
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
        if d.req == 0 {
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
}

impl Desc {
    fn add_flags(&mut self, kind: Kind, v: &Value, errors: &mut Vec<String>) {
        match v.as_str() {
            Some(s) => match flag(kind, s) {
                Ok(f) => self.req |= f,
                Err(e) => errors.push(e),
            },
            None => errors.push(format!("unexpected {} value {v}", kind.name())),
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
    fn begin(&self, req: &ReqInfo<'_>) -> Option<ReqState> {
        self.request(req, REQ_BEGIN, "begin", || {
            Some(json!({"params": [args_json(req.args)]}))
        });
        self.metrics.as_ref().and_then(|m| m.begin(req))
    }

    fn end(&self, req: &ReqInfo<'_>, state: Option<&ReqState>, reply: &Reply, elapsed: Duration) {
        if let Some(m) = &self.metrics {
            m.end(req, state, reply, elapsed);
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
