//! Values, typed data and JSON: the one place where RPC v3 values meet our
//! core, which carries JSON texts and, beside them, typed values
//! ([`afb_core::typed`]) when a v4 binding or a peer gave typed data.
//!
//! Received values that are all JSON or STRINGZ become JSON only; any other
//! value makes the whole list typed ([`typed_and_json`]), with its JSON
//! rendering beside for JSON clients. Typed values we send go as typed RPC
//! values ([`wire_value`]): predefined ids, other types declared by name.
//!
//! Received values become JSON:
//!
//! | value | JSON |
//! |---|---|
//! | JSON (also a declared `#json`/`#json_c`) | the text when it is valid JSON, else the text as a JSON string |
//! | STRINGZ | a string (not UTF-8: replacement characters); no bytes at all (absent) -> `null` |
//! | BOOL | `true` / `false` |
//! | integers (any width, either byte order) | a number |
//! | FLOAT, DOUBLE | a number; NaN and infinities -> `null` |
//! | BYTEARRAY | an array of the byte values, e.g. `[1,2,255]` (the C binder gives `null`) |
//! | OPAQUE, untyped VALUE | `null` (a local handle means nothing here) |
//! | declared `#UUID` (16 bytes) | the uuid string `"00010203-0405-…"` |
//!
//! Several values become a JSON array of them (a JSON `null` stays `null`);
//! none becomes no data. What we send is one VALUE-TYPED JSON holding our
//! JSON text, and replies follow [`reply_values`].

use std::borrow::Cow;

use afb_core::status as core_status;
use afb_core::typed::{names, TypedList, TypedValue as CoreTyped};
use afb_core::{Args, Reply};
use afb_rpc_codec::legacy::{legacy_status, LegacyReply};
use afb_rpc_codec::types::{type_id, TypedValue, AFB_TYPE_NAMES, TYPE_NAME_UUID};
use afb_rpc_codec::{legacy_reply_values, parse_legacy_reply, status, Text, Value, Values};
use serde_json::value::RawValue;

/// The predefined id a declared type name reads as (`#UUID` reads as bytes).
fn declared_as(name: &str) -> Option<u16> {
    Some(match name {
        "#opaque" => type_id::OPAQUE,
        "#bytearray" | TYPE_NAME_UUID => type_id::BYTEARRAY,
        "#stringz" => type_id::STRINGZ,
        "#json" | "#json_c" => type_id::JSON,
        "#bool" => type_id::BOOL,
        "#i32" => type_id::I32,
        "#u32" => type_id::U32,
        "#i64" => type_id::I64,
        "#u64" => type_id::U64,
        "#double" => type_id::DOUBLE,
        _ => return None,
    })
}

/// The known type name `name` (the static copy), `None` when unknown.
pub fn known_type(name: &str) -> Option<&'static str> {
    AFB_TYPE_NAMES.iter().copied().find(|n| *n == name)
}

fn push_str(text: &str, out: &mut Vec<u8>) {
    // Writing a string into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, text);
}

fn push_text(t: Text<'_>, out: &mut Vec<u8>) {
    push_str(&String::from_utf8_lossy(t.as_bytes()), out)
}

fn push_number(n: impl std::fmt::Display, out: &mut Vec<u8>) {
    use std::io::Write;
    let _ = write!(out, "{n}");
}

fn push_float(f: f64, out: &mut Vec<u8>) {
    if f.is_finite() {
        let _ = serde_json::to_writer(&mut *out, &f);
    } else {
        out.extend_from_slice(b"null");
    }
}

fn push_uuid(bytes: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
    let b = <[u8; 16]>::try_from(bytes).map_err(|_| format!("#UUID value of {} bytes", bytes.len()))?;
    push_str(&uuid::Uuid::from_bytes(b).hyphenated().to_string(), out);
    Ok(())
}

/// Appends the JSON of one value; `type_name` gives the name of a declared
/// type id. An error (undeclared type, VALUE-DATA, bad size) is fatal.
pub fn push_json(
    v: Value<'_>,
    type_name: &impl Fn(u16) -> Option<&'static str>,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    let typed = v.typed().map_err(|e| e.to_string())?;
    let typed = match typed {
        TypedValue::Declared { type_id, bytes } => {
            let name = type_name(type_id).ok_or_else(|| format!("value of undeclared type id {type_id}"))?;
            if name == TYPE_NAME_UUID {
                return push_uuid(bytes, out);
            }
            let id = declared_as(name).ok_or_else(|| format!("value of type {name}, which has no JSON form"))?;
            TypedValue::decode(id, bytes).map_err(|e| e.to_string())?
        }
        t => t,
    };
    match typed {
        TypedValue::Opaque(_) | TypedValue::Stringz(None) => out.extend_from_slice(b"null"),
        TypedValue::ByteArray(b) => {
            out.push(b'[');
            for (i, x) in b.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                push_number(x, out);
            }
            out.push(b']');
        }
        TypedValue::Stringz(Some(t)) => push_text(t, out),
        TypedValue::Json(t) => match t.to_str() {
            Ok(s) if serde_json::from_str::<&RawValue>(s).is_ok() => out.extend_from_slice(s.trim().as_bytes()),
            _ => push_text(t, out),
        },
        TypedValue::Bool(b) => out.extend_from_slice(if b { b"true" } else { b"false" }),
        TypedValue::I8(n) => push_number(n, out),
        TypedValue::U8(n) => push_number(n, out),
        TypedValue::I16(n) => push_number(n, out),
        TypedValue::U16(n) => push_number(n, out),
        TypedValue::I32(n) => push_number(n, out),
        TypedValue::U32(n) => push_number(n, out),
        TypedValue::I64(n) => push_number(n, out),
        TypedValue::U64(n) => push_number(n, out),
        TypedValue::F32(f) => push_float(f64::from(f), out),
        TypedValue::F64(f) => push_float(f, out),
        TypedValue::Declared { type_id, .. } => {
            return Err(format!("value of type id {type_id}, which has no JSON form"))
        }
    }
    Ok(())
}

fn raw(bytes: Vec<u8>) -> Result<Box<RawValue>, String> {
    let text = String::from_utf8(bytes).map_err(|e| e.to_string())?;
    RawValue::from_string(text).map_err(|e| format!("value not representable in JSON: {e}"))
}

/// The JSON of one value, owned. The common case, a JSON value holding valid
/// JSON text, is checked once and copied as is (no second parse); any other
/// value goes through [`push_json`].
fn value_raw(v: Value<'_>, type_name: &impl Fn(u16) -> Option<&'static str>) -> Result<Box<RawValue>, String> {
    if let Ok(TypedValue::Json(t)) = v.typed() {
        if let Some(r) = t.to_str().ok().and_then(|s| serde_json::from_str::<&RawValue>(s).ok()) {
            return Ok(r.to_owned());
        }
    }
    let mut out = Vec::new();
    push_json(v, type_name, &mut out)?;
    raw(out)
}

/// The JSON of some values: none -> `None`, one -> it, several -> an array.
pub fn values_json(
    values: &Values<'_>,
    type_name: &impl Fn(u16) -> Option<&'static str>,
) -> Result<Option<Box<RawValue>>, String> {
    let mut out = Vec::new();
    match values.len() {
        0 => return Ok(None),
        1 => {
            if let Some(v) = values.first() {
                return value_raw(v, type_name).map(Some);
            }
        }
        _ => {
            out.push(b'[');
            for (i, v) in values.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                push_json(v, type_name, &mut out)?;
            }
            out.push(b']');
        }
    }
    raw(out).map(Some)
}

/// The arguments of a received call: typed when a value is not JSON-like
/// (see [`needs_typed`]), with their JSON rendering beside.
pub(crate) fn args_of<'n>(
    values: &Values<'_>,
    type_name: &impl Fn(u16) -> Option<&'static str>,
    any_name: &impl Fn(u16) -> Option<&'n str>,
) -> Result<Args, String> {
    // The common case, one JSON value: one look at the values.
    if values.len() == 1 {
        if let Some(v) = values.first().filter(|v| json_like(v)) {
            return value_raw(v, type_name).map(Args::from_raw);
        }
    }
    if needs_typed(values) {
        let (typed, json) = typed_and_json(values, type_name, any_name)?;
        return Ok(Args::from_typed(typed, json));
    }
    Ok(match values_json(values, type_name)? {
        Some(raw) => Args::from_raw(raw),
        None => Args::null(),
    })
}

// ---- typed values ----------------------------------------------------------------------------

/// Whether received values are kept typed: one of them is neither JSON nor
/// STRINGZ (JSON says all of these; checking the type ids costs little).
pub fn needs_typed(values: &Values<'_>) -> bool {
    values.iter().any(|v| !json_like(&v))
}

fn json_like(v: &Value<'_>) -> bool {
    matches!(v.type_id(), Some(type_id::JSON | type_id::STRINGZ))
}

/// The typed values of received values and their JSON rendering (the rules
/// of [`values_json`]; a named type, which has no JSON form, is `null`).
/// `any_name` names declared type ids (afb names and bindings' names).
pub fn typed_and_json<'n>(
    values: &Values<'_>,
    type_name: &impl Fn(u16) -> Option<&'static str>,
    any_name: &impl Fn(u16) -> Option<&'n str>,
) -> Result<(TypedList, Option<Box<RawValue>>), String> {
    let typed = values
        .iter()
        .map(|v| typed_value(v, any_name))
        .collect::<Result<TypedList, String>>()?;
    let json = match values_json(values, type_name) {
        Ok(json) => json,
        Err(_) => afb_core::typed::json_of(&typed),
    };
    Ok((typed, json))
}

/// One received value as a core typed value: narrow or big-endian numbers
/// widen to `#i32`/`#u32`/`#double`, texts lose their NUL, declared types
/// keep their name and bytes. An undeclared type id or a VALUE-DATA is an error.
fn typed_value<'n>(v: Value<'_>, any_name: &impl Fn(u16) -> Option<&'n str>) -> Result<CoreTyped, String> {
    let t = v.typed().map_err(|e| e.to_string())?;
    Ok(match t {
        TypedValue::Declared { type_id, bytes } => {
            let name = any_name(type_id).ok_or_else(|| format!("value of undeclared type id {type_id}"))?;
            if name == TYPE_NAME_UUID {
                if bytes.len() != 16 {
                    return Err(format!("#UUID value of {} bytes", bytes.len()));
                }
                return Ok(CoreTyped::new(name, bytes));
            }
            match declared_as(name) {
                Some(id) => {
                    let decoded = TypedValue::decode(id, bytes).map_err(|e| e.to_string())?;
                    return typed_of_decoded(decoded);
                }
                None => CoreTyped::new(name, bytes),
            }
        }
        other => return typed_of_decoded(other),
    })
}

fn typed_of_decoded(t: TypedValue<'_>) -> Result<CoreTyped, String> {
    Ok(match t {
        TypedValue::Opaque(b) => CoreTyped::new(names::OPAQUE, b),
        TypedValue::ByteArray(b) => CoreTyped::bytearray(b),
        TypedValue::Stringz(None) => CoreTyped::stringz(""),
        TypedValue::Stringz(Some(t)) => CoreTyped::new(names::STRINGZ, t.as_bytes()),
        TypedValue::Json(t) => CoreTyped::new(names::JSON, t.as_bytes()),
        TypedValue::Bool(b) => CoreTyped::bool(b),
        TypedValue::I8(n) => CoreTyped::i32(n.into()),
        TypedValue::U8(n) => CoreTyped::u32(n.into()),
        TypedValue::I16(n) => CoreTyped::i32(n.into()),
        TypedValue::U16(n) => CoreTyped::u32(n.into()),
        TypedValue::I32(n) => CoreTyped::i32(n),
        TypedValue::U32(n) => CoreTyped::u32(n),
        TypedValue::I64(n) => CoreTyped::i64(n),
        TypedValue::U64(n) => CoreTyped::u64(n),
        TypedValue::F32(f) => CoreTyped::double(f.into()),
        TypedValue::F64(f) => CoreTyped::double(f),
        TypedValue::Declared { type_id, .. } => return Err(format!("value of type id {type_id} declared as another")),
    })
}

/// The wire form of a typed value: its predefined id and bytes (numbers are
/// little-endian in both), texts with the NUL the encoder adds; a type
/// without a predefined id (`#UUID`, a named type) gets the id `declare`
/// gives, the declaration being sent before. A number of the wrong size,
/// or a named type `declare` refuses, goes as BYTEARRAY.
pub fn wire_value<'a>(v: &'a CoreTyped, declare: &mut impl FnMut(&str) -> Option<u16>) -> Value<'a> {
    let b = v.bytes();
    let sized = |id: u16, n: usize| {
        if b.len() == n {
            Value::Typed { type_id: id, bytes: b }
        } else {
            Value::bytearray(b)
        }
    };
    let text = |id: u16| {
        // A peer reads a text up to its NUL.
        let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
        Value::Text {
            type_id: id,
            text: Text::from(&b[..end]),
        }
    };
    match v.type_name() {
        names::OPAQUE => Value::Typed {
            type_id: type_id::OPAQUE,
            bytes: b,
        },
        names::BYTEARRAY => Value::bytearray(b),
        names::STRINGZ => text(type_id::STRINGZ),
        names::JSON | names::JSON_C => text(type_id::JSON),
        names::BOOL => sized(type_id::BOOL, 1),
        names::I32 => sized(type_id::I32, 4),
        names::U32 => sized(type_id::U32, 4),
        names::I64 => sized(type_id::I64, 8),
        names::U64 => sized(type_id::U64, 8),
        names::DOUBLE => sized(type_id::DOUBLE, 8),
        name => match declare(name) {
            Some(id) => Value::Typed { type_id: id, bytes: b },
            None => Value::bytearray(b),
        },
    }
}

/// The reply a CALL-REPLY makes, typed when a value is not JSON-like: as
/// [`reply_of`], the typed values beside the data of a success or of a
/// generic error. `any_name` names declared type ids.
pub fn reply_of_typed<'n>(
    status: i32,
    values: &Values<'_>,
    type_name: &impl Fn(u16) -> Option<&'static str>,
    any_name: &impl Fn(u16) -> Option<&'n str>,
) -> Result<Reply, String> {
    if let Some(l) = parse_legacy_reply(values) {
        return legacy_reply(l, type_name);
    }
    if !needs_typed(values) {
        return plain_reply(status, values, type_name);
    }
    let (typed, json) = typed_and_json(values, type_name, any_name)?;
    if status >= 0 {
        return Ok(Reply::success(json, None).with_code(status).with_typed(Some(typed)));
    }
    if status > status::USER_ERROR_MAX && values.len() <= 1 {
        let name = core_status::status_of(status).unwrap_or(GENERIC_ERROR);
        let info = json
            .map(|j| serde_json::from_str::<String>(j.get()).unwrap_or_else(|_| j.get().to_owned()))
            .filter(|t| t != "null");
        return Ok(Reply::error(name, info).with_code(status));
    }
    Ok(Reply::error(GENERIC_ERROR, None)
        .with_code(status)
        .with_data(json)
        .with_typed(Some(typed)))
}

/// A value as an info text: a string as is, anything else as its JSON.
fn info_text(v: Value<'_>, type_name: &impl Fn(u16) -> Option<&'static str>) -> Result<Option<String>, String> {
    if let Ok(TypedValue::Stringz(t)) = v.typed() {
        return Ok(t.map(|t| String::from_utf8_lossy(t.as_bytes()).into_owned()));
    }
    let mut out = Vec::new();
    push_json(v, type_name, &mut out)?;
    Ok(Some(String::from_utf8_lossy(&out).into_owned()).filter(|t| t != "null"))
}

fn text_of(t: Option<Text<'_>>) -> Option<String> {
    // Valid UTF-8 (the common case) is checked by the faster `from_utf8`.
    t.map(|t| match t.to_str() {
        Ok(s) => s.to_owned(),
        Err(_) => String::from_utf8_lossy(t.as_bytes()).into_owned(),
    })
}

/// The reply a CALL-REPLY makes for our clients:
/// - 4 values ending with STRINGZ `legacy-tag`: a legacy reply (JSON data,
///   error text, info);
/// - status >= 0: success with that code, the values as data;
/// - status -1 to -999 with at most one value: the standard status name
///   (`error` for an unnamed one), the value as info;
/// - any other negative status: `error` with that code, the values as data.
pub fn reply_of(
    status: i32,
    values: &Values<'_>,
    type_name: &impl Fn(u16) -> Option<&'static str>,
) -> Result<Reply, String> {
    match parse_legacy_reply(values) {
        Some(l) => legacy_reply(l, type_name),
        None => plain_reply(status, values, type_name),
    }
}

fn legacy_reply(l: LegacyReply<'_>, type_name: &impl Fn(u16) -> Option<&'static str>) -> Result<Reply, String> {
    let data = value_raw(l.response, type_name)?;
    let data = (data.get() != "null").then_some(data);
    let info = text_of(l.info);
    Ok(match text_of(l.error) {
        None => Reply::success(data, info),
        Some(e) => Reply::error(e, info).with_data(data),
    })
}

/// A reply that is not a legacy one, as JSON.
fn plain_reply(
    status: i32,
    values: &Values<'_>,
    type_name: &impl Fn(u16) -> Option<&'static str>,
) -> Result<Reply, String> {
    if status >= 0 {
        return Ok(Reply::success(values_json(values, type_name)?, None).with_code(status));
    }
    if status > status::USER_ERROR_MAX && values.len() <= 1 {
        let name = core_status::status_of(status).unwrap_or(GENERIC_ERROR);
        let info = match values.first() {
            Some(v) => info_text(v, type_name)?,
            None => None,
        };
        return Ok(Reply::error(name, info).with_code(status));
    }
    Ok(Reply::error(GENERIC_ERROR, None)
        .with_code(status)
        .with_data(values_json(values, type_name)?))
}

/// The status of a negative reply without a standard name.
const GENERIC_ERROR: &str = "error";

/// `s` without NUL bytes (a peer reads texts up to their NUL).
pub fn nul_free(s: &str) -> Cow<'_, str> {
    if s.as_bytes().contains(&0) {
        Cow::Owned(s.replace('\0', "\u{FFFD}"))
    } else {
        Cow::Borrowed(s)
    }
}

/// Gives `send` the status and values of the CALL-REPLY for `reply`:
/// - a success without info: its code, and its data as one JSON value (none without data);
/// - an error with a standard name and no data: its code, and its info as one STRINGZ (none without info);
/// - an error of a code <= -1000 without info (a v4 binding's): its code and data;
/// - anything else (a success with info, an error text of the binding such
///   as `failed`, an error with data and info): the 4 values of a legacy
///   reply, which a C front shows as a C legacy binding's.
pub(crate) fn reply_values<R>(reply: &Reply, send: impl FnOnce(i32, &[Value<'_>]) -> R) -> R {
    let data = reply.data_json();
    let info = reply.info.as_deref().map(nul_free);
    let success = reply.is_success();
    let standard = core_status::status_of(reply.code) == Some(&*reply.status);
    if success && info.is_none() {
        let v = data.map(Value::json);
        return send(reply.code.max(0), v.as_slice());
    }
    if !success && standard && data.is_none() {
        let v = info.as_deref().map(|i| Value::stringz(Some(i)));
        return send(reply.code, v.as_slice());
    }
    if !success && reply.code <= status::USER_ERROR_MAX && info.is_none() {
        let v = data.map(Value::json);
        return send(reply.code, v.as_slice());
    }
    let error = (!success).then(|| nul_free(&reply.status));
    let values = legacy_reply_values(data.unwrap_or("null"), error.as_deref(), info.as_deref());
    send(legacy_status(error.as_deref()), &values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use afb_rpc_codec::Scalar;

    fn none(_: u16) -> Option<&'static str> {
        None
    }

    fn json_of(values: &[Value<'_>]) -> Option<String> {
        values_json(&Values::new(values), &none)
            .unwrap()
            .map(|r| r.get().to_owned())
    }

    #[test]
    fn values_to_json() {
        assert_eq!(json_of(&[]), None);
        assert_eq!(json_of(&[Value::json("{\"a\":1}")]).as_deref(), Some("{\"a\":1}"));
        assert_eq!(
            json_of(&[
                Value::json("{\"a\":1}"),
                Value::stringz(None),
                Value::stringz(Some("ping count=1"))
            ])
            .as_deref(),
            Some("[{\"a\":1},null,\"ping count=1\"]"),
            "the C binder's rendering of hello4 ping"
        );
        assert_eq!(
            json_of(&[Value::json("null"), Value::json("1")]).as_deref(),
            Some("[null,1]")
        );
        assert_eq!(
            json_of(&[Value::json("{bad")]).as_deref(),
            Some("\"{bad\""),
            "invalid JSON is a string"
        );
        assert_eq!(json_of(&[Value::bytearray(&[1, 2, 255])]).as_deref(), Some("[1,2,255]"));
        assert_eq!(json_of(&[Value::stringz(Some(""))]).as_deref(), Some("\"\""));
        assert_eq!(
            json_of(&[
                Value::Scalar(Scalar::Bool(true)),
                Value::Scalar(Scalar::I32(-3)),
                Value::Scalar(Scalar::U64(u64::MAX)),
                Value::Scalar(Scalar::F64(1.5)),
                Value::Scalar(Scalar::F64(f64::NAN)),
            ])
            .as_deref(),
            Some("[true,-3,18446744073709551615,1.5,null]")
        );
        assert_eq!(
            json_of(&[Value::Typed {
                type_id: type_id::I16_BE,
                bytes: &[0xff, 0xfe]
            }])
            .as_deref(),
            Some("-2")
        );
        let uuid = [0u8, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];
        let declared = [Value::Typed {
            type_id: 300,
            bytes: &uuid,
        }];
        let named = |id: u16| (id == 300).then_some("#UUID");
        assert_eq!(
            values_json(&Values::new(&declared), &named).unwrap().unwrap().get(),
            "\"00010203-0405-0607-0809-0a0b0c0d0e0f\""
        );
        assert!(values_json(&Values::new(&declared), &none).is_err(), "undeclared type");
        assert!(values_json(&Values::new(&[Value::Data(1)]), &none).is_err());
    }

    fn reply(status: i32, values: &[Value<'_>]) -> Reply {
        reply_of(status, &Values::new(values), &none).unwrap()
    }

    #[test]
    fn replies_from_the_wire() {
        let r = reply(
            0,
            &[
                Value::json("{}"),
                Value::stringz(None),
                Value::stringz(Some("ping count=1")),
            ],
        );
        assert!(r.is_success());
        assert_eq!(r.data_json(), Some("[{},null,\"ping count=1\"]"));
        let r = reply(-1, &[]);
        assert_eq!((&*r.status, r.code, r.info.as_deref()), ("internal-error", -1, None));
        let r = reply(-4, &[Value::stringz(Some("some info"))]);
        assert_eq!(
            (&*r.status, r.info.as_deref(), r.data_json()),
            ("unknown-verb", Some("some info"), None)
        );
        let r = reply(-1003, &[Value::stringz(Some("custom info"))]);
        assert_eq!(
            (&*r.status, r.code, r.data_json()),
            ("error", -1003, Some("\"custom info\""))
        );
        let r = reply(
            -1,
            &[
                Value::json("null"),
                Value::stringz(Some("failed")),
                Value::stringz(Some("subscription error")),
            ],
        );
        assert_eq!((&*r.status, r.code), ("error", -1));
        assert_eq!(r.data_json(), Some("[null,\"failed\",\"subscription error\"]"));
        let legacy = legacy_reply_values("\"Some String\"", None, Some("Ping count=1"));
        let r = reply(0, &legacy);
        assert_eq!(
            (&*r.status, r.info.as_deref(), r.data_json()),
            ("success", Some("Ping count=1"), Some("\"Some String\""))
        );
        let legacy = legacy_reply_values("null", Some("failed"), Some("why"));
        let r = reply(-1000, &legacy);
        assert_eq!(
            (&*r.status, r.info.as_deref(), r.data_json()),
            ("failed", Some("why"), None)
        );
    }

    /// The JSON of one value and of legacy replies, whatever the surroundings of the text.
    #[test]
    fn single_values_and_legacy_replies() {
        assert_eq!(json_of(&[Value::json(" {\"a\": 1}\n")]).as_deref(), Some("{\"a\": 1}"));
        assert_eq!(json_of(&[Value::json("{\"a\":")]).as_deref(), Some("\"{\\\"a\\\":\""));
        assert_eq!(json_of(&[Value::stringz(Some("x"))]).as_deref(), Some("\"x\""));
        let legacy = legacy_reply_values(" null ", None, Some("info"));
        let r = reply(0, &legacy);
        assert_eq!((r.data_json(), r.info.as_deref()), (None, Some("info")));
        let legacy = legacy_reply_values("\t[1, 2] ", None, None);
        assert_eq!(reply(0, &legacy).data_json(), Some("[1, 2]"));
        let bad = [0x61, 0xff, 0x62];
        let values = [
            Value::json("1"),
            Value::stringz(None),
            Value::Text {
                type_id: type_id::STRINGZ,
                text: Text::from(&bad[..]),
            },
            Value::stringz(Some(afb_rpc_codec::LEGACY_TAG)),
        ];
        let r = reply(0, &values);
        assert_eq!((r.data_json(), r.info.as_deref()), (Some("1"), Some("a\u{FFFD}b")));
    }

    /// What we send, read back by [`reply_of`]: the reply comes back whole.
    #[test]
    fn replies_round_trip() {
        let data = |t: &str| Some(RawValue::from_string(t.to_owned()).unwrap());
        let cases = [
            Reply::success(data("{\"a\":1}"), None),
            Reply::success(None, None),
            Reply::success(data("\"Some String\""), Some("Ping count=1".into())),
            Reply::error("unknown-verb", Some("verb x".into())),
            Reply::error("unknown-verb", None),
            Reply::error("failed", Some("why".into())),
            Reply::error("failed", None).with_data(data("[1]")),
            Reply::error("failed", None)
                .with_code(-1003)
                .with_data(data("\"custom\"")),
        ];
        for r in cases {
            let back = reply_values(&r, |status, values| {
                through_the_wire(status, values, |st, vals| reply_of(st, vals, &none).unwrap())
            });
            let expected_status = if r.code <= -1000 && r.info.is_none() {
                "error"
            } else {
                &*r.status
            };
            assert_eq!(&*back.status, expected_status, "{r:?}");
            assert_eq!(back.info, r.info, "{r:?}");
            assert_eq!(back.data_json(), r.data_json(), "{r:?}");
        }
    }

    #[test]
    fn what_we_send_for_replies() {
        let shape = |r: &Reply| reply_values(r, |s, v| (s, v.len(), v.first().and_then(|v| v.type_id())));
        assert_eq!(shape(&Reply::success(None, None)), (0, 0, None));
        assert_eq!(shape(&Reply::error("unknown-verb", None)), (-4, 0, None));
        assert_eq!(
            shape(&Reply::error("unknown-verb", Some("x".into()))),
            (-4, 1, Some(type_id::STRINGZ))
        );
        assert_eq!(
            shape(&Reply::error("failed", Some("x".into()))),
            (-1000, 4, Some(type_id::JSON))
        );
        assert_eq!(
            shape(&Reply::success(None, Some("i".into()))),
            (0, 4, Some(type_id::JSON))
        );
    }

    /// Encodes `values` in a CALL-REPLY and decodes it: what a peer reads.
    fn through_the_wire<R>(status: i32, values: &[Value<'_>], read: impl FnOnce(i32, &Values<'_>) -> R) -> R {
        let mut out = Vec::new();
        afb_rpc_codec::encode(
            &afb_rpc_codec::Message::CallReply(afb_rpc_codec::CallReply {
                callid: 1,
                status,
                values: Values::new(values),
            }),
            1,
            &mut out,
        )
        .unwrap();
        let mut dec = afb_rpc_codec::StreamDecoder::new();
        dec.set_phase(afb_rpc_codec::Phase::Chunks);
        match dec.decode(&out).unwrap().message {
            afb_rpc_codec::Message::CallReply(c) => read(c.status, &c.values),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn typed_values_on_the_wire() {
        let list = [
            CoreTyped::bytearray(&(0..=255).collect::<Vec<u8>>()),
            CoreTyped::double(-0.0),
            CoreTyped::i64((1 << 53) + 1),
            CoreTyped::new("point", vec![1, 2, 3]),
            CoreTyped::new("#UUID", (0..16).collect::<Vec<u8>>()),
            CoreTyped::stringz("s"),
        ];
        let mut declared = Vec::new();
        let values: Vec<Value<'_>> = list
            .iter()
            .map(|v| {
                wire_value(v, &mut |n| {
                    declared.push(n.to_owned());
                    Some(300 + declared.len() as u16)
                })
            })
            .collect();
        assert_eq!(declared, ["point", "#UUID"]);
        let ids: Vec<Option<u16>> = values.iter().map(|v| v.type_id()).collect();
        assert_eq!(
            ids,
            [
                Some(type_id::BYTEARRAY),
                Some(type_id::DOUBLE),
                Some(type_id::I64),
                Some(301),
                Some(302),
                Some(type_id::STRINGZ)
            ]
        );
        let names = |id: u16| match id {
            301 => Some("point"),
            302 => Some("#UUID"),
            _ => None,
        };
        let statics = |id: u16| (id == 302).then_some("#UUID");
        let r = through_the_wire(0, &values, |s, v| reply_of_typed(s, v, &statics, &names).unwrap());
        assert_eq!(r.typed.as_deref(), Some(&list[..]));
        let json = r.data_json().unwrap();
        assert!(json.starts_with("[[0,1,2,"), "{json}");
        assert!(
            json.ends_with(",-0.0,9007199254740993,null,\"00010203-0405-0607-0809-0a0b0c0d0e0f\",\"s\"]"),
            "{json}"
        );
        // JSON-like values only: no typed form, the usual path
        let plain = [Value::json("{\"a\":1}"), Value::stringz(Some("x"))];
        let r = through_the_wire(0, &plain, |s, v| reply_of_typed(s, v, &none, &none).unwrap());
        assert!(r.typed.is_none());
        assert_eq!(r.data_json(), Some("[{\"a\":1},\"x\"]"));
        // an undeclared id stays fatal; a named type of a wrong size goes as bytes
        let bad = [Value::Typed {
            type_id: 9,
            bytes: &[1],
        }];
        assert!(args_of(&Values::new(&bad), &none, &none).is_err());
        let short = CoreTyped::new("#double", vec![1, 2]);
        assert_eq!(wire_value(&short, &mut |_| None).type_id(), Some(type_id::BYTEARRAY));
        let named = CoreTyped::new("point", vec![1]);
        assert_eq!(wire_value(&named, &mut |_| None).type_id(), Some(type_id::BYTEARRAY));
    }

    fn any_typed() -> impl proptest::strategy::Strategy<Value = CoreTyped> {
        use proptest::prelude::*;
        let bytes = proptest::collection::vec(any::<u8>(), 0..40);
        prop_oneof![
            bytes.clone().prop_map(|b| CoreTyped::bytearray(&b)),
            any::<f64>().prop_map(CoreTyped::double),
            any::<i64>().prop_map(CoreTyped::i64),
            any::<u64>().prop_map(CoreTyped::u64),
            any::<i32>().prop_map(CoreTyped::i32),
            any::<u32>().prop_map(CoreTyped::u32),
            any::<bool>().prop_map(CoreTyped::bool),
            "[a-z]{0,8}".prop_map(|s| CoreTyped::stringz(&s)),
            (0u8..4, bytes).prop_map(|(n, b)| CoreTyped::new(&format!("type{n}"), b)),
        ]
    }

    proptest::proptest! {
        /// Typed values sent then received come back the same, bit for bit
        /// (NaN payloads included), whatever the list.
        #[test]
        fn typed_lists_round_trip(list in proptest::collection::vec(any_typed(), 1..8)) {
            let mut declared: Vec<String> = Vec::new();
            let values: Vec<Value<'_>> = list.iter().map(|v| wire_value(v, &mut |n| {
                let i = declared.iter().position(|d| d == n).unwrap_or_else(|| { declared.push(n.to_owned()); declared.len() - 1 });
                Some(1 + i as u16)
            })).collect();
            let names = |id: u16| declared.get(usize::from(id).checked_sub(1)?).map(String::as_str);
            let args = through_the_wire(0, &values, |_, v| args_of(v, &none, &names).unwrap());
            let json_like = list.iter().all(CoreTyped::is_json_like);
            proptest::prop_assert_eq!(args.typed().is_none(), json_like);
            if let Some(back) = args.typed() {
                proptest::prop_assert_eq!(&back[..], &list[..]);
                // the JSON beside is the core's rendering of the list
                let expected = afb_core::typed::json_of(&list).map(|r| r.get().to_owned());
                proptest::prop_assert_eq!(args.raw().map(|r| r.get().to_owned()), expected);
            }
        }
    }
}
