//! Pure codec (no I/O, no async) of the `x-afb-ws-json1` WebSocket protocol, and of the JSON
//! reply/event envelopes that it shares with the HTTP transport.
//!
//! * [`decode`] turns the text of one WebSocket frame into a [`Message`] that borrows from the
//!   text: ids and names are `Cow<str>` (borrowed unless they hold JSON escapes), JSON parts are
//!   `&RawValue` (validated, never turned into a `serde_json::Value`).
//! * [`write_call`], [`write_reply`], [`write_event`], [`write_reply_message`] and
//!   [`write_event_message`] append one message to a caller-owned `Vec<u8>`; every string is
//!   escaped by `serde_json`, so the output is always valid JSON and valid UTF-8
//!   (`String::from_utf8` on a buffer that started empty never fails).
//! * [`envelope`] writes and parses the `afb-reply` / `afb-event` objects
//!   (`{"jtype":"afb-reply","request":{...},"response":...}`).
//!
//! JSON values given to the writers are anything implementing [`WriteJson`]: `RawValue`
//! (get one from a `&str` without copying with `serde_json::from_str::<&RawValue>(text)`),
//! `serde_json::Value`, a decoded [`Args`], or [`JsonString`] for a plain string.
//!
//! ```
//! use afb_wsj1::{decode, envelope::ReplyEnvelope, write_reply_message, JsonString, Message};
//!
//! let Ok(Message::Call(call)) = decode(r#"[2,4,"hello/ping",{"a":1}]"#) else { panic!() };
//! assert_eq!((call.api(), call.verb()), ("hello", "ping"));
//! assert_eq!(call.args.to_json_string(), r#"{"a":1}"#);
//!
//! let mut out = Vec::new();
//! write_reply_message(&mut out, &call.id, &ReplyEnvelope::success(Some(&JsonString("pong"))));
//! assert_eq!(
//!     out,
//!     br#"[3,"4",{"jtype":"afb-reply","request":{"status":"success","code":0},"response":"pong"}]"#
//! );
//! ```
//!
//! Depth: validating a JSON part as a `RawValue` is iterative in `serde_json` (no recursion
//! limit, memory bounded by the input length). Reading it later into a typed value or a
//! `serde_json::Value` (e.g. [`Args::deserialize`]) applies `serde_json`'s recursion limit of
//! 128 nested arrays/objects and fails beyond it.

#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

mod decode;
mod encode;
pub mod envelope;
mod message;

pub use decode::{decode, DecodeError, ErrorKind};
pub use encode::{
    write_call, write_event, write_event_message, write_reply, write_reply_message, write_reply_with_token,
};
pub use message::{Args, Call, Event, Message, Reply};
/// The `serde_json` this crate's API uses (its `RawValue`, `Value` and `Error` types).
pub use serde_json;
pub use serde_json::value::RawValue;

/// Message kind of a call (`[2, ID, "API/VERB", ARGS]`).
pub const KIND_CALL: u8 = 2;
/// Message kind of a success reply (`[3, ID, REPLY]`, or `[3, ID, REPLY, "TOKEN"]` after a
/// token renewal).
pub const KIND_REPLY_OK: u8 = 3;
/// Message kind of an error reply (`[4, ID, REPLY]`).
pub const KIND_REPLY_ERROR: u8 = 4;
/// Message kind of an event (`[5, "API/EVENT", EVENTOBJ]`).
pub const KIND_EVENT: u8 = 5;

/// A JSON value that can append its JSON text to an output buffer.
///
/// Implementations must always append exactly one valid JSON value.
///
/// `RawValue` is unsized, so where a `&dyn WriteJson` is expected pass a reference to the
/// reference: `Some(&raw)` for `raw: &RawValue`, `opt.as_ref().map(|r| r as &dyn WriteJson)`
/// for an `Option<&RawValue>` or `Option<Box<RawValue>>`.
pub trait WriteJson {
    /// Appends the JSON text of `self` to `out`.
    fn write_json(&self, out: &mut Vec<u8>);
}

impl WriteJson for RawValue {
    #[inline]
    fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.get().as_bytes());
    }
}

impl WriteJson for serde_json::Value {
    fn write_json(&self, out: &mut Vec<u8>) {
        let mark = out.len();
        // Serialising a `Value` into a Vec cannot fail (string keys, finite numbers, infallible
        // writer); should it ever, the partial output is replaced by `null` to stay valid JSON.
        if serde_json::to_writer(&mut *out, self).is_err() {
            out.truncate(mark);
            out.extend_from_slice(b"null");
        }
    }
}

impl<T: WriteJson + ?Sized> WriteJson for &T {
    #[inline]
    fn write_json(&self, out: &mut Vec<u8>) {
        (**self).write_json(out);
    }
}

impl<T: WriteJson + ?Sized> WriteJson for Box<T> {
    #[inline]
    fn write_json(&self, out: &mut Vec<u8>) {
        (**self).write_json(out);
    }
}

/// A Rust string written as a JSON string value (escaped), e.g. a reply `"Some String"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonString<'a>(pub &'a str);

impl WriteJson for JsonString<'_> {
    #[inline]
    fn write_json(&self, out: &mut Vec<u8>) {
        write_json_str(out, self.0);
    }
}

/// Appends `s` as a JSON string (quoted and escaped by `serde_json`).
#[inline]
pub(crate) fn write_json_str(out: &mut Vec<u8>, s: &str) {
    let mark = out.len();
    // Writing a `str` into a Vec cannot fail: the only error source is the writer, and
    // `Vec<u8>`'s `io::Write` never fails. Keep the output valid JSON regardless.
    if serde_json::to_writer(&mut *out, s).is_err() {
        out.truncate(mark);
        out.extend_from_slice(b"\"\"");
    }
}
