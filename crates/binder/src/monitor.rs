//! The built-in `monitor` API (written with the SDK):
//!
//! - `get {"verbosity":X,"apis":Y}`: X `true` gives the level of every API
//!   and the binder's (`"*"`), X a name or a list of names those APIs';
//!   Y `true` gives the description of every public API, Y a name or a list
//!   those APIs'. Reply `{"verbosity":{...},"apis":{...}}` with the keys asked.
//! - `set {"verbosity":"debug"}` sets the binder's level and every API's;
//!   `{"verbosity":{"hello":"debug","*":"info"}}` sets per API (`*` first).
//! - `session`: `{"uuid","timeout","remain"}` of the caller's session (seconds).
//! - `trace`: not available yet.

use std::sync::Arc;

use afb_core::{LogLevel, Registry};
use afb_sdk::prelude::*;
use serde_json::Map;

fn registry(req: &Req) -> Result<Arc<Registry>, Error> {
    req.api()
        .registry()
        .ok_or_else(|| Error::not_available("the binder is shutting down"))
}

/// The names a selector asks for: `true` -> `all`, a string -> it, an
/// array of strings -> them.
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
        _ => Err(Error::invalid_request(
            "expected true, an API name or a list of API names",
        )),
    }
}

fn arg(req: &Req, name: &str) -> Value {
    req.value_json(name).unwrap_or(Value::Null)
}

async fn get(req: Req, _: ()) -> Result<Value, Error> {
    let reg = registry(&req)?;
    let mut out = Map::new();
    if let Some(list) = names(&arg(&req, "verbosity"), || {
        let mut v = vec!["*".to_owned()];
        v.extend(reg.api_names());
        v
    })? {
        let mut levels = Map::new();
        for n in list {
            let level = if n == "*" {
                reg.log_level()
            } else {
                match reg.get_api(&n).filter(|e| !e.is_private()) {
                    Some(e) => e.log_level(),
                    None => return Err(Error::new("unknown-api", format!("no API {n:?}"))),
                }
            };
            levels.insert(n, json!(level.name()));
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

async fn set(req: Req, _: ()) -> Result<(), Error> {
    let reg = registry(&req)?;
    match arg(&req, "verbosity") {
        Value::Null => Err(Error::invalid_request("expected {\"verbosity\":LEVEL or {API:LEVEL}}")),
        Value::Object(per_api) => {
            // Validate everything before changing anything.
            let mut changes = Vec::new();
            for (name, l) in &per_api {
                let l = level(l)?;
                if name == "*" {
                    changes.insert(0, (None, l));
                } else {
                    let e = reg
                        .get_api(name)
                        .filter(|e| !e.is_private())
                        .ok_or_else(|| Error::new("unknown-api", format!("no API {name:?}")))?;
                    changes.push((Some(e), l));
                }
            }
            for (e, l) in changes {
                match e {
                    None => reg.set_log_level(l),
                    Some(e) => e.set_log_level(l),
                }
            }
            Ok(())
        }
        v => {
            reg.set_log_level(level(&v)?);
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

async fn trace(_req: Req, _: ()) -> Result<(), Error> {
    Err(Error::not_available(
        "tracing requests and events is not implemented yet",
    ))
}

/// Declares the `monitor` API.
pub fn api() -> ApiBuilder {
    ApiBuilder::new("monitor")
        .info("Monitoring of the binder: log levels, API descriptions, session")
        .verb(Verb::new("get", get).info("levels ({\"verbosity\":true|API|[APIs]}) and descriptions ({\"apis\":...})"))
        .verb(
            Verb::new("set", set).info("sets levels: {\"verbosity\":LEVEL} or {\"verbosity\":{API:LEVEL,\"*\":LEVEL}}"),
        )
        .verb(Verb::new("session", session).info("uuid, timeout and remaining time of the caller's session"))
        .verb(Verb::new("trace", trace).info("tracing of requests and events (not available yet)"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use afb_sdk::testing::{data, TestBinder};

    async fn binder() -> TestBinder {
        TestBinder::start(vec![api(), afb_sample_hello::api()]).await.unwrap()
    }

    #[tokio::test]
    async fn get_verbosity_and_apis() {
        let b = binder().await;
        let c = b.client();
        let r = c.call("monitor", "get", &json!({"verbosity": true})).await;
        assert!(r.is_success(), "{r:?}");
        let v = data(&r);
        assert_eq!(v["verbosity"]["*"], "warning");
        assert_eq!(v["verbosity"]["hello"], "warning");
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
