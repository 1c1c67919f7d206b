//! The `hello` sample API: the verbs of the C binders' hello sample, with the
//! same argument shapes, so that scripts and pages written for them work.
//! The C builds of the same sample (`crates/cbinding/tests/c/hello.c`) must
//! answer as this one does (`bins/afb-daemon/tests/cbinding.rs`).

#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use afb_sdk::core::session::SessionError;
use afb_sdk::core::{Args, Reply};
use afb_sdk::prelude::*;
use serde::Deserialize;

/// The state of the `hello` API: the ping count and the events by tag.
#[derive(Default)]
struct Hello {
    pings: AtomicU64,
    events: Mutex<HashMap<String, Event>>,
}

impl Hello {
    fn events(&self) -> MutexGuard<'_, HashMap<String, Event>> {
        self.events.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn event(&self, tag: &str) -> Result<Event, Error> {
        self.events().get(tag).cloned().ok_or_else(|| no_event(tag))
    }
}

fn no_event(tag: &str) -> Error {
    Error::failed(format!("no event with tag {tag:?}"))
}

#[derive(Deserialize)]
struct Tag {
    tag: String,
}

#[derive(Deserialize)]
struct TagName {
    tag: String,
    name: String,
}

#[derive(Deserialize)]
struct Exit {
    #[serde(default)]
    code: i32,
}

/// The context a session stores with `setctx`.
struct Ctx(Value);

/// Declares the `hello` API.
pub fn api() -> ApiBuilder {
    ApiBuilder::new("hello")
        .info("Sample hello API: pings, events, calls, session context, LOA and tokens")
        .state(Hello::default())
        .verb(Verb::new("ping", ping).info("replies 'Some String' and counts the calls"))
        .verb(Verb::new("pingfail", pingfail).info("always fails"))
        .verb(Verb::new("pingnull", pingnull).info("succeeds without response"))
        .verb(Verb::new("pingJson", ping_json).info("replies a nested JSON object"))
        .verb(Verb::new("pingevent", pingevent).info("broadcasts hello/event with the argument"))
        .verb(Verb::new("eventadd", eventadd).info("creates event hello/{name} under {tag}"))
        .verb(Verb::new("eventdel", eventdel).info("deletes the event of {tag}"))
        .verb(Verb::new("eventsub", eventsub).info("subscribes to the event of {tag}"))
        .verb(Verb::new("eventunsub", eventunsub).info("unsubscribes from the event of {tag}"))
        .verb(Verb::new("eventpush", eventpush).info("pushes {data} on the event of {tag}"))
        .verb(Verb::new("broadcast", broadcast).info("broadcasts {data} on {tag} or hello/{name}"))
        .verb(Verb::new("subcall", subcall).info("calls {api}/{verb} with {args} in the caller's session"))
        .verb(Verb::new("subcallsync", subcall).info("same as subcall, awaited"))
        .verb(Verb::new("call", call).info("calls {api}/{verb} with {args} in the API's session"))
        .verb(Verb::new("callsync", call).info("same as call, awaited"))
        .verb(Verb::new("setctx", setctx).info("stores the argument as the session's context"))
        .verb(Verb::new("getctx", getctx).info("replies the session's context"))
        .verb(Verb::new("set-loa", set_loa).info("sets the session's LOA for hello"))
        .verb(Verb::new("has-loa-1", ok).auth(Auth::loa(1)).info("requires LOA >= 1"))
        .verb(Verb::new("has-loa-2", ok).auth(Auth::loa(2)).info("requires LOA >= 2"))
        .verb(Verb::new("has-loa-3", ok).auth(Auth::loa(3)).info("requires LOA >= 3"))
        .verb(
            Verb::new("checktok", ok)
                .auth(Auth::check())
                .info("requires a valid token"),
        )
        .verb(
            Verb::new("reftok", reftok)
                .auth(Auth::check().renew())
                .info("renews the token"),
        )
        .verb(
            Verb::new("close", ok)
                .auth(Auth::check().close())
                .info("closes the session's state for hello"),
        )
        .verb(Verb::new("info", info).info("client and session information"))
        .verb(Verb::new("verbose", verbose).info("logs the argument at each level"))
        .verb(Verb::new("exit", exit).info("stops the binder with {code}"))
}

async fn ping(hello: State<Hello>, args: Value) -> Result<Response, Error> {
    let n = hello.pings.fetch_add(1, Ordering::Relaxed) + 1;
    // Written into one string: this info is built by every benchmark's call.
    let mut info = String::with_capacity(64);
    let _ = write!(info, "Ping Binder Daemon tag=pingSample count={n} query=");
    write_jsonc(&args, &mut info);
    Ok(Response::json("Some String")?.info(info))
}

/// Formats JSON as json-c's default `json_object_to_json_string` does
/// (`{ "a": 1 }`, `[ 1, 2 ]`, `/` escaped), so that `ping`'s info text is
/// byte for byte that of the C sample (the wsapi golden bytes depend on it).
pub fn jsonc_text(v: &Value) -> String {
    let mut out = String::new();
    write_jsonc(v, &mut out);
    out
}

fn write_jsonc(v: &Value, out: &mut String) {
    match v {
        Value::Object(o) if o.is_empty() => out.push_str("{ }"),
        Value::Object(o) => {
            out.push_str("{ ");
            for (i, (k, val)) in o.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_jsonc_string(k, out);
                out.push_str(": ");
                write_jsonc(val, out);
            }
            out.push_str(" }");
        }
        Value::Array(a) if a.is_empty() => out.push_str("[ ]"),
        Value::Array(a) => {
            out.push_str("[ ");
            for (i, val) in a.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_jsonc(val, out);
            }
            out.push_str(" ]");
        }
        Value::String(s) => write_jsonc_string(s, out),
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            let _ = write!(out, "{n}");
        }
    }
}

/// A JSON string escaped as `serde_json` escapes it, and `/` as `\/`.
fn write_jsonc_string(s: &str, out: &mut String) {
    out.push('"');
    let mut run = 0;
    for (i, b) in s.bytes().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'/' => "\\/",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..0x20 => "",
            _ => continue,
        };
        // `run` and `i` are next to ASCII bytes: char boundaries.
        out.push_str(s.get(run..i).unwrap_or_default());
        run = i + 1;
        if escape.is_empty() {
            let _ = write!(out, "\\u{b:04x}");
        } else {
            out.push_str(escape);
        }
    }
    out.push_str(s.get(run..).unwrap_or_default());
    out.push('"');
}

async fn pingfail() -> Result<(), Error> {
    Err(Error::failed("Ping Binder Daemon fails"))
}

async fn pingnull() -> Result<Response, Error> {
    Ok(Response::ok().info("Ping Binder Daemon - NO response"))
}

async fn ping_json() -> Result<Value, Error> {
    Ok(json!({
        "myString": "Some String",
        "myInt": 1234,
        "eobj": {"subObjString": "Some String", "subObjInt": 5678},
    }))
}

async fn pingevent(api: Api, args: Value) -> Result<Value, Error> {
    api.broadcast("event", &args)?;
    Ok(args)
}

async fn eventadd(hello: State<Hello>, api: Api, Json(a): Json<TagName>) -> Result<(), Error> {
    let mut events = hello.events();
    if events.contains_key(&a.tag) {
        return Err(Error::failed(format!("tag {:?} already used", a.tag)));
    }
    events.insert(a.tag, api.new_event(&a.name)?);
    Ok(())
}

async fn eventdel(hello: State<Hello>, Json(a): Json<Tag>) -> Result<(), Error> {
    hello.events().remove(&a.tag).map(drop).ok_or_else(|| no_event(&a.tag))
}

async fn eventsub(hello: State<Hello>, req: Req, Json(a): Json<Tag>) -> Result<(), Error> {
    req.subscribe(&hello.event(&a.tag)?)
}

async fn eventunsub(hello: State<Hello>, req: Req, Json(a): Json<Tag>) -> Result<(), Error> {
    req.unsubscribe(&hello.event(&a.tag)?)
}

async fn eventpush(hello: State<Hello>, req: Req, Json(a): Json<Tag>) -> Result<Value, Error> {
    let event = hello.event(&a.tag)?;
    Ok(json!(event.push(&req.value_json("data"))?))
}

async fn broadcast(hello: State<Hello>, req: Req) -> Result<(), Error> {
    let data = req.value_json("data");
    if let Some(tag) = req.value("tag") {
        return hello.event(&tag)?.broadcast(&data);
    }
    match req.value("name") {
        Some(name) => req.api().broadcast(&name, &data),
        None => Err(Error::invalid_request("expected {\"tag\":T} or {\"name\":N}")),
    }
}

/// The `{api, verb, args}` of `subcall` and `call`.
fn call_target(req: &Req) -> Result<(String, String, Args), Error> {
    let api = req.value("api").ok_or_else(|| Error::invalid_request("missing api"))?;
    let verb = req
        .value("verb")
        .ok_or_else(|| Error::invalid_request("missing verb"))?;
    let args = req.value_json("args").unwrap_or(Value::Null);
    Ok((api.into_owned(), verb.into_owned(), Args::from_value(args)))
}

async fn subcall(req: Req) -> Reply {
    match call_target(&req) {
        Ok((api, verb, args)) => req.subcall_reply(&api, &verb, args).await,
        Err(e) => e.into_reply(),
    }
}

async fn call(req: Req) -> Reply {
    match call_target(&req) {
        Ok((api, verb, args)) => req.api().call_reply(&api, &verb, args).await,
        Err(e) => e.into_reply(),
    }
}

async fn setctx(req: Req, args: Value) -> Result<Value, Error> {
    req.set_context(Ctx(args.clone()));
    Ok(args)
}

async fn getctx(req: Req) -> Result<Response, Error> {
    match req.context::<Ctx>() {
        Some(c) => Response::json(&c.0),
        None => Ok(Response::ok()),
    }
}

async fn set_loa(req: Req, args: Value) -> Result<Response, Error> {
    let n = args
        .as_u64()
        .or_else(|| args.as_str().and_then(|s| s.trim().parse().ok()))
        .ok_or_else(|| Error::invalid_request("expected an integer LOA"))?;
    let n = u32::try_from(n).map_err(|_| Error::invalid_request("LOA out of range"))?;
    req.set_loa(u8::try_from(n).map_err(|_| SessionError::BadLoa(n))?)?;
    Ok(Response::ok().info(format!("LOA set to {n}")))
}

/// Success without data: what the session requirements let through.
async fn ok() {}

async fn reftok(req: Req) -> Result<Response, Error> {
    Ok(Response::ok().info(match req.renewed_token() {
        Some(_) => "token refreshed",
        None => "token unchanged",
    }))
}

async fn info(req: Req) -> Result<Value, Error> {
    let mut v = json!({
        "uuid": req.session_uuid(),
        "LOA": req.loa(),
    });
    if let Some(c) = req.credentials() {
        if c.has_process() {
            v["uid"] = json!(c.uid);
            v["gid"] = json!(c.gid);
            v["pid"] = json!(c.pid);
        }
        if let Some(l) = &c.label {
            v["label"] = json!(l);
        }
        // The certificate of a TLS client (mutual TLS).
        if let Some(cert) = &c.cert {
            v["subject"] = json!(cert.subject);
            v["san"] = json!(cert.names);
        }
    }
    Ok(v)
}

async fn verbose(req: Req, args: Value) -> Result<(), Error> {
    for level in LogLevel::ALL {
        afb_sdk::log!(req, level, "verbose {}: {}", level, args);
    }
    Ok(())
}

async fn exit(api: Api, Json(e): Json<Option<Exit>>) -> Result<Response, Error> {
    let code = e.map(|e| e.code).unwrap_or(0);
    api.request_exit(code);
    Ok(Response::ok().info(format!("exiting with code {code}")))
}

#[cfg(test)]
mod tests {
    use super::jsonc_text;
    use proptest::prelude::*;
    use serde_json::json;

    /// What `jsonc_text` wrote before it stopped allocating per string:
    /// `serde_json`'s text of each scalar, `/` escaped.
    fn oracle(v: &serde_json::Value, out: &mut String) {
        use serde_json::Value;
        let seq = |out: &mut String, open: &str, close: &str, items: Vec<(Option<&String>, &Value)>| {
            if items.is_empty() {
                out.push_str(open);
                out.push(' ');
                out.push_str(close);
                return;
            }
            out.push_str(open);
            out.push(' ');
            for (i, (k, val)) in items.into_iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                if let Some(k) = k {
                    out.push_str(&Value::String(k.clone()).to_string().replace('/', "\\/"));
                    out.push_str(": ");
                }
                oracle(val, out);
            }
            out.push(' ');
            out.push_str(close);
        };
        match v {
            Value::Object(o) => seq(out, "{", "}", o.iter().map(|(k, v)| (Some(k), v)).collect()),
            Value::Array(a) => seq(out, "[", "]", a.iter().map(|v| (None, v)).collect()),
            Value::String(s) => out.push_str(&Value::String(s.clone()).to_string().replace('/', "\\/")),
            other => out.push_str(&other.to_string()),
        }
    }

    /// Up to `max` characters, control characters and the escaped ones
    /// as likely as any other.
    fn text(max: usize) -> impl Strategy<Value = String> {
        let c = prop_oneof![
            any::<char>(),
            (0u8..0x20).prop_map(char::from),
            prop::sample::select(vec!['/', '"', '\\', '\u{7f}', 'é']),
        ];
        proptest::collection::vec(c, 0..max).prop_map(|v| v.into_iter().collect())
    }

    fn any_json() -> impl Strategy<Value = serde_json::Value> {
        use serde_json::Value;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            text(12).prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map(text(4), inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn jsonc_text_is_what_it_was(v in any_json()) {
            let mut old = String::new();
            oracle(&v, &mut old);
            prop_assert_eq!(jsonc_text(&v), old);
        }
    }

    #[test]
    fn jsonc_spaced_format() {
        assert_eq!(jsonc_text(&json!({"a": 1})), r#"{ "a": 1 }"#);
        assert_eq!(jsonc_text(&json!({})), "{ }");
        assert_eq!(jsonc_text(&json!([1, "x/y", null, []])), r#"[ 1, "x\/y", null, [ ] ]"#);
        assert_eq!(
            jsonc_text(&json!({"o": {"p": true}, "q": "\\"})),
            r#"{ "o": { "p": true }, "q": "\\" }"#
        );
        assert_eq!(jsonc_text(&json!(null)), "null");
        let info_len =
            "Ping Binder Daemon tag=pingSample count=1 query=".len() + jsonc_text(&json!({"a": 1})).len() + 1;
        assert_eq!(
            info_len, 0x3b,
            "length of the info in the measured k message of hello/ping"
        );
    }
}
