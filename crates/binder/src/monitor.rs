//! The built-in `monitor` API (written with the SDK), with the keys of the
//! C binders (AGL's monitor web page relies on them):
//!
//! - `get {"verbosity":X,"apis":Y}`: X `true` gives the binder's common
//!   level under the empty name `""` and the level of every API; X a name,
//!   a list of names or an object whose keys are names gives those (`""`:
//!   the common level, `"*"`: every API). Y `true` gives the description of
//!   every public API, Y a name or a list those APIs'. Reply
//!   `{"verbosity":{...},"apis":{...}}` with the keys asked.
//! - `set {"verbosity":"debug"}` (a plain level) sets the common level and
//!   every API's; `{"verbosity":{"":"info"}}` sets the common level only,
//!   `{"verbosity":{"hello":"debug"}}` one API's, and `"*"` as a key every
//!   API's (and, as it always did here, the common level too); `"*"` is
//!   applied first, then `""`, then the APIs named.
//! - `session`: `{"uuid","timeout","remain"}` of the caller's session (seconds).
//! - `trace`: `add` and `drop` request traces of the caller's session,
//!   delivered as events (see [`crate::trace`]).

use std::sync::Arc;

use afb_core::{LogLevel, Registry};

use crate::trace::Tracer;
use afb_sdk::prelude::*;
use serde_json::Map;

fn registry(req: &Req) -> Result<Arc<Registry>, Error> {
    req.api()
        .registry()
        .ok_or_else(|| Error::not_available("the binder is shutting down"))
}

/// The names a selector asks for: `true` -> `all`, a string -> it, an
/// array of strings -> them, an object -> its keys.
fn names(sel: &Value, all: impl FnOnce() -> Vec<String>) -> Result<Option<Vec<String>>, Error> {
    match sel {
        Value::Null | Value::Bool(false) => Ok(None),
        Value::Bool(true) => Ok(Some(all())),
        Value::String(s) => Ok(Some(vec![s.clone()])),
        Value::Array(a) => a
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| Error::invalid_request("expected API names"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Value::Object(o) => Ok(Some(o.keys().cloned().collect())),
        _ => Err(Error::invalid_request(
            "expected true, an API name or a list of API names",
        )),
    }
}

fn arg(req: &Req, name: &str) -> Value {
    req.value_json(name).unwrap_or(Value::Null)
}

/// The name of the binder's common level in `get` and `set`.
const COMMON: &str = "";
/// The name standing for every API in `get` and `set`.
const EVERY_API: &str = "*";

async fn get(req: Req, _: ()) -> Result<Value, Error> {
    let reg = registry(&req)?;
    let mut out = Map::new();
    if let Some(list) = names(&arg(&req, "verbosity"), || {
        vec![COMMON.to_owned(), EVERY_API.to_owned()]
    })? {
        let mut levels = Map::new();
        for n in list {
            if n == COMMON {
                levels.insert(n, json!(reg.log_level().name()));
            } else if n == EVERY_API {
                for e in reg.apis().into_iter().filter(|e| !e.is_private()) {
                    levels.insert(e.name().to_owned(), json!(e.log_level().name()));
                }
            } else {
                match reg.get_api(&n).filter(|e| !e.is_private()) {
                    Some(e) => {
                        levels.insert(n, json!(e.log_level().name()));
                    }
                    None => return Err(Error::new("unknown-api", format!("no API {n:?}"))),
                }
            }
        }
        out.insert("verbosity".into(), Value::Object(levels));
    }
    if let Some(list) = names(&arg(&req, "apis"), || reg.api_names())? {
        let mut apis = Map::new();
        for n in list {
            if reg.get_api(&n).is_none_or(|e| e.is_private()) {
                return Err(Error::new("unknown-api", format!("no API {n:?}")));
            }
            let d = reg.describe(&n).await.unwrap_or(Value::Null);
            apis.insert(n, d);
        }
        out.insert("apis".into(), Value::Object(apis));
    }
    Ok(Value::Object(out))
}

fn level(v: &Value) -> Result<LogLevel, Error> {
    let text = match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return Err(Error::invalid_request("a level is a name or a number")),
    };
    text.parse::<LogLevel>()
        .map_err(|e| Error::invalid_request(e.to_string()))
}

/// Sets the binder's common level and no API's.
fn set_common_level(reg: &Registry, l: LogLevel) {
    // The registry sets its level with every API's: put the APIs' back.
    let apis: Vec<_> = reg.apis().into_iter().map(|e| (e.log_level(), e)).collect();
    reg.set_log_level(l);
    for (level, e) in apis {
        e.set_log_level(level);
    }
}

async fn set(req: Req, _: ()) -> Result<(), Error> {
    let reg = registry(&req)?;
    match arg(&req, "verbosity") {
        Value::Null => Err(Error::invalid_request(
            "expected {\"verbosity\":LEVEL or {\"\":LEVEL,\"*\":LEVEL,API:LEVEL}}",
        )),
        Value::Object(per_api) => {
            // Validate everything before changing anything.
            let (mut every, mut common, mut apis) = (None, None, Vec::new());
            for (name, l) in &per_api {
                let l = level(l)?;
                if name == EVERY_API {
                    every = Some(l);
                } else if name == COMMON {
                    common = Some(l);
                } else {
                    let e = reg
                        .get_api(name)
                        .filter(|e| !e.is_private())
                        .ok_or_else(|| Error::new("unknown-api", format!("no API {name:?}")))?;
                    apis.push((e, l));
                }
            }
            if let Some(l) = every {
                reg.set_log_level(l);
            }
            if let Some(l) = common {
                set_common_level(&reg, l);
            }
            for (e, l) in apis {
                e.set_log_level(l);
            }
            crate::logging::levels_changed();
            Ok(())
        }
        v => {
            reg.set_log_level(level(&v)?);
            crate::logging::levels_changed();
            Ok(())
        }
    }
}

async fn session(req: Req, _: ()) -> Result<Value, Error> {
    let s = req.core().session();
    Ok(json!({
        "uuid": s.uuid(),
        "timeout": s.timeout().as_secs(),
        "remain": s.remaining().as_secs(),
    }))
}

/// The permission that lets a `monitor/trace` client add API and global
/// traces (which see beyond its session).
pub const TRACE_WIDE_PERMISSION: &str = "urn:afb:permission:monitor:trace-all";

/// `trace {"add": SPEC, "drop": SPEC}`: request traces bound to the
/// caller's session, delivered as `monitor/NAME` events (see
/// [`crate::trace`]).
async fn trace(req: Req, args: Value, tracer: Option<Arc<Tracer>>) -> Result<(), Error> {
    let Some(tracer) = tracer else {
        return Err(Error::not_available("tracing is not available"));
    };
    let session = req.core().session().clone();
    if let Some(spec) = args.get("drop") {
        tracer
            .drop_traces(&session, spec)
            .map_err(|e| Error::new("error-detected", e))?;
    }
    if let Some(spec) = args.get("add") {
        if req.core().client().subscriber.is_none() {
            return Err(Error::not_available(
                "this client cannot receive events: trace over a WebSocket or a link",
            ));
        }
        let wide = req.check_permission(TRACE_WIDE_PERMISSION).await;
        let events = tracer
            .add(&req.core().api(), &session, spec, wide)
            .map_err(|e| Error::new("error-detected", e))?;
        for e in events {
            req.core()
                .subscribe(&e)
                .map_err(|e| Error::bad_state(format!("cannot subscribe to the trace event: {e}")))?;
        }
    }
    Ok(())
}

/// Declares the `monitor` API; `trace` works when a tracer is given.
pub fn api(tracer: Option<Arc<Tracer>>) -> ApiBuilder {
    let trace_verb = move |req: Req, args: Value| trace(req, args, tracer.clone());
    ApiBuilder::new("monitor")
        .info("Monitoring of the binder: log levels, API descriptions, session")
        .verb(Verb::new("get", get).info(
            "levels ({\"verbosity\":true|API|[APIs]}, \"\" is the common level) and descriptions ({\"apis\":...})",
        ))
        .verb(
            Verb::new("set", set)
                .info("sets levels: {\"verbosity\":LEVEL} (all) or {\"verbosity\":{\"\":LEVEL,\"*\":LEVEL,API:LEVEL}}"),
        )
        .verb(Verb::new("session", session).info("uuid, timeout and remaining time of the caller's session"))
        .verb(Verb::new("trace", trace_verb).info(
            "traces of the caller's requests as monitor/trace events: {\"add\":{\"request\":\"common\"}}, {\"drop\":true}",
        ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use afb_sdk::testing::{data, TestBinder};

    /// The monitor API and another one, `hello`.
    async fn binder() -> TestBinder {
        let hello = ApiBuilder::new("hello").verb(Verb::new("ping", || async { Ok::<_, Error>(()) }));
        TestBinder::start(vec![api(None), hello]).await.unwrap()
    }

    #[tokio::test]
    async fn get_verbosity_and_apis() {
        let b = binder().await;
        let c = b.client();
        let r = c.call("monitor", "get", &json!({"verbosity": true})).await;
        assert!(r.is_success(), "{r:?}");
        let v = data(&r);
        assert_eq!(v["verbosity"][""], "warning");
        assert_eq!(v["verbosity"]["hello"], "warning");
        assert!(v["verbosity"].get("*").is_none(), "{v}");
        assert!(v.get("apis").is_none());
        let r = c.call("monitor", "get", &json!({"apis": ["hello"]})).await;
        let v = data(&r);
        assert!(v["apis"]["hello"].is_object(), "{v}");
        assert!(v["apis"].get("monitor").is_none());
        let r = c.call("monitor", "get", &json!({"apis": true})).await;
        let v = data(&r);
        assert!(
            v["apis"]["monitor"].is_object() && v["apis"]["hello"].is_object(),
            "{v}"
        );
        let r = c.call("monitor", "get", &json!({"apis": "nope"})).await;
        assert_eq!(r.status, "unknown-api");
    }

    #[tokio::test]
    async fn set_levels_globally_and_per_api() {
        let b = binder().await;
        let c = b.client();
        let r = c.call("monitor", "set", &json!({"verbosity": "debug"})).await;
        assert!(r.is_success(), "{r:?}");
        assert_eq!(b.registry().log_level(), LogLevel::Debug);
        assert_eq!(b.registry().get_api("hello").unwrap().log_level(), LogLevel::Debug);
        let r = c
            .call("monitor", "set", &json!({"verbosity": {"hello": "error", "*": "info"}}))
            .await;
        assert!(r.is_success(), "{r:?}");
        assert_eq!(b.registry().log_level(), LogLevel::Info);
        assert_eq!(b.registry().get_api("hello").unwrap().log_level(), LogLevel::Error);
        assert_eq!(b.registry().get_api("monitor").unwrap().log_level(), LogLevel::Info);
        let r = c.call("monitor", "set", &json!({"verbosity": {"hello": "loud"}})).await;
        assert_eq!(r.status, "invalid-request");
        let r = c.call("monitor", "set", &json!({"verbosity": {"nope": "info"}})).await;
        assert_eq!(r.status, "unknown-api");
    }

    /// The keys of the C binders, as AGL's monitor page uses them: `""` is
    /// the common level, every other key an API of `{"apis":true}`.
    #[tokio::test]
    async fn common_level_under_the_empty_name() {
        let b = binder().await;
        let c = b.client();
        let r = c
            .call("monitor", "get", &json!({"verbosity": true, "apis": true}))
            .await;
        let v = data(&r);
        let levels = v["verbosity"].as_object().unwrap();
        assert_eq!(levels[""], "warning");
        for name in levels.keys().filter(|k| !k.is_empty()) {
            assert!(v["apis"].get(name).is_some(), "{name:?} is not an API: {v}");
        }
        // {"":L} sets the common level only
        let r = c.call("monitor", "set", &json!({"verbosity": {"": "info"}})).await;
        assert!(r.is_success(), "{r:?}");
        assert_eq!(b.registry().log_level(), LogLevel::Info);
        assert_eq!(b.registry().get_api("hello").unwrap().log_level(), LogLevel::Warning);
        let r = c.call("monitor", "get", &json!({"verbosity": ["", "hello"]})).await;
        assert_eq!(data(&r)["verbosity"], json!({"": "info", "hello": "warning"}));
        // "*" names every API, in get as in set
        let r = c
            .call("monitor", "set", &json!({"verbosity": {"*": "error", "": "notice"}}))
            .await;
        assert!(r.is_success(), "{r:?}");
        assert_eq!(b.registry().log_level(), LogLevel::Notice);
        assert_eq!(b.registry().get_api("monitor").unwrap().log_level(), LogLevel::Error);
        let r = c.call("monitor", "get", &json!({"verbosity": "*"})).await;
        assert_eq!(data(&r)["verbosity"], json!({"monitor": "error", "hello": "error"}));
        let r = c.call("monitor", "get", &json!({"verbosity": {"": true}})).await;
        assert_eq!(data(&r)["verbosity"], json!({"": "notice"}));
        // a plain level sets everything at once
        let r = c.call("monitor", "set", &json!({"verbosity": "debug"})).await;
        assert!(r.is_success(), "{r:?}");
        let r = c.call("monitor", "get", &json!({"verbosity": true})).await;
        assert_eq!(
            data(&r)["verbosity"],
            json!({"": "debug", "monitor": "debug", "hello": "debug"})
        );
    }

    #[tokio::test]
    async fn session_and_trace() {
        let b = binder().await;
        let c = b.client();
        let r = c.call("monitor", "session", &json!(null)).await;
        let v = data(&r);
        assert_eq!(v["uuid"], c.session_uuid());
        assert_eq!(v["timeout"], 32_000_000);
        assert!(v["remain"].as_u64().unwrap() <= 32_000_000);
        let r = c.call("monitor", "trace", &json!({"add": {"request": "all"}})).await;
        assert_eq!(r.status, "not-available");
    }
}
