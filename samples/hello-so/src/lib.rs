//! A binding written in Rust and built as a shared object
//! (`libafb_sample_hello_so.so`): `afb-daemon --binding` loads it through
//! the v4 ABI, as it would load a C binding (and so would the C
//! `afb-binder`). API `hello-so`: `ping`, `hello {"name"}`, `set-loa N`, `loa`.

#![cfg_attr(not(test), warn(unused_crate_dependencies))]

use afb_binding_so::{BindingDef, Error, Req, VerbDef};
use serde_json::{json, Value};

fn ping(req: &Req<'_>, args: Value) -> Result<Value, Error> {
    Ok(json!({"pong": args, "api": req.called_api()}))
}

fn hello(_req: &Req<'_>, args: Value) -> Result<Value, Error> {
    match args.get("name").and_then(Value::as_str) {
        Some(n) => Ok(json!(format!("hello {n}"))),
        None => Err(Error::invalid_request("expected {\"name\":...}")),
    }
}

fn set_loa(req: &Req<'_>, args: Value) -> Result<Value, Error> {
    let n = args.as_u64().and_then(|n| u32::try_from(n).ok());
    match n {
        Some(n) if req.set_loa(n) => Ok(json!(req.loa())),
        _ => Err(Error::invalid_request("expected a LOA 0..7")),
    }
}

fn loa(req: &Req<'_>, _args: Value) -> Result<Value, Error> {
    Ok(json!(req.loa()))
}

/// The binding's API.
pub static BINDING: BindingDef = BindingDef {
    api: "hello-so",
    info: "a Rust binding loaded as a shared object",
    verbs: &[
        VerbDef {
            name: "ping",
            info: "replies its argument",
            handler: ping,
        },
        VerbDef {
            name: "hello",
            info: "greets {name}",
            handler: hello,
        },
        VerbDef {
            name: "set-loa",
            info: "sets the session's LOA",
            handler: set_loa,
        },
        VerbDef {
            name: "loa",
            info: "the session's LOA",
            handler: loa,
        },
    ],
};

afb_binding_so::export_binding_v4!(BINDING);
