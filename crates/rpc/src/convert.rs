//! Values and JSON: the one place where RPC v3 values meet our core, which
//! carries JSON (arguments, replies and events are JSON texts). When the core
//! learns typed data, this module is what changes.
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
use afb_core::{Args, Reply};
use afb_rpc_codec::legacy::legacy_status;
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

/// The arguments of a received call.
pub(crate) fn args_of(values: &Values<'_>, type_name: &impl Fn(u16) -> Option<&'static str>) -> Result<Args, String> {
    Ok(match values_json(values, type_name)? {
        Some(raw) => Args::from_raw(raw),
        None => Args::null(),
    })
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
    if let Some(l) = parse_legacy_reply(values) {
        let data = value_raw(l.response, type_name)?;
        let data = (data.get() != "null").then_some(data);
        let info = text_of(l.info);
        return Ok(match text_of(l.error) {
            None => Reply::success(data, info),
            Some(e) => Reply::error(e, info).with_data(data),
        });
    }
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
                    afb_rpc_codec::Message::CallReply(c) => reply_of(c.status, &c.values, &none).unwrap(),
                    other => panic!("{other:?}"),
                }
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
}
