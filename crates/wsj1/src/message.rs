//! The decoded messages.

use std::borrow::Cow;

use serde::de::value::{BorrowedStrDeserializer, StringDeserializer};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::envelope::{self, EnvelopeError, ParsedEvent, ParsedReply};
use crate::{encode, write_json_str, WriteJson};

/// One `x-afb-ws-json1` message, borrowing from the decoded text.
///
/// Equality is textual: JSON parts compare by their raw text.
#[derive(Debug, Clone, PartialEq)]
pub enum Message<'a> {
    /// `[2, ID, "API/VERB", ARGS(, "TOKEN")]`: a call.
    Call(Call<'a>),
    /// `[3, ID, REPLY]` or `[4, ID, REPLY]`: the answer to a call.
    Reply(Reply<'a>),
    /// `[5, "API/EVENT", EVENTOBJ]`: an event pushed or broadcast by the server.
    Event(Event<'a>),
}

impl Message<'_> {
    /// The message kind number (2, 3, 4 or 5).
    pub fn kind(&self) -> u8 {
        match self {
            Message::Call(_) => crate::KIND_CALL,
            Message::Reply(r) if r.success => crate::KIND_REPLY_OK,
            Message::Reply(_) => crate::KIND_REPLY_ERROR,
            Message::Event(_) => crate::KIND_EVENT,
        }
    }

    /// Appends the encoded message to `out` (ids are always written as strings).
    pub fn write(&self, out: &mut Vec<u8>) {
        match self {
            Message::Call(c) => c.write(out),
            Message::Reply(r) => r.write(out),
            Message::Event(e) => e.write(out),
        }
    }
}

/// A call: `[2, ID, "API/VERB", ARGS]` or `[2, ID, "API/VERB", ARGS, "TOKEN"]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Call<'a> {
    /// The caller-chosen id; a numeric id is kept as its literal text (`4` gives `"4"`).
    pub id: Cow<'a, str>,
    /// `API/VERB`; [`decode`](crate::decode) guarantees it contains a `/`.
    pub api_verb: Cow<'a, str>,
    /// The argument, still as raw text.
    pub args: Args<'a>,
    /// The optional 5th element: a token replacing the connection's token from then on.
    pub token: Option<Cow<'a, str>>,
}

impl Call<'_> {
    /// Splits `api_verb` at its first `/`: `("hello", "ping")`; the verb may contain `/`.
    /// Without a `/` (only possible for a hand-built `Call`) the verb is empty.
    #[inline]
    pub fn split(&self) -> (&str, &str) {
        self.api_verb.split_once('/').unwrap_or((self.api_verb.as_ref(), ""))
    }

    /// The API name: `api_verb` before its first `/`.
    #[inline]
    pub fn api(&self) -> &str {
        self.split().0
    }

    /// The verb name: `api_verb` after its first `/`.
    #[inline]
    pub fn verb(&self) -> &str {
        self.split().1
    }

    /// Appends the encoded call to `out`.
    pub fn write(&self, out: &mut Vec<u8>) {
        encode::write_call(out, &self.id, &self.api_verb, &self.args, self.token.as_deref());
    }
}

/// A reply: `[3, ID, REPLY]` (success) or `[4, ID, REPLY]` (any other status), or
/// `[3|4, ID, REPLY, "TOKEN"]` when the call renewed the session's token.
///
/// Equality is textual (the body compares by raw text).
#[derive(Debug, Clone)]
pub struct Reply<'a> {
    /// The id of the call answered.
    pub id: Cow<'a, str>,
    /// `true` for kind 3, `false` for kind 4.
    pub success: bool,
    /// The reply object (normally an `afb-reply` envelope), as raw JSON.
    pub body: &'a RawValue,
    /// The optional 4th element: the token the call renewed (AGL's `AFB.js` learns the new
    /// token from it; a JSON `null` there counts as absent).
    pub token: Option<Cow<'a, str>>,
}

impl<'a> Reply<'a> {
    /// Parses `body` as an `afb-reply` envelope.
    pub fn envelope(&self) -> Result<ParsedReply<'a>, EnvelopeError> {
        envelope::parse_reply_envelope(self.body.get())
    }

    /// Appends the encoded reply to `out` (with its 4th element when it has a token).
    pub fn write(&self, out: &mut Vec<u8>) {
        encode::write_reply_with_token(out, &self.id, self.success, self.body, self.token.as_deref());
    }
}

/// An event: `[5, "API/EVENT", EVENTOBJ]`.
///
/// Equality is textual (the body compares by raw text).
#[derive(Debug, Clone)]
pub struct Event<'a> {
    /// The event's full name, `API/EVENT`.
    pub name: Cow<'a, str>,
    /// The event object (normally an `afb-event` envelope), as raw JSON.
    pub body: &'a RawValue,
}

impl<'a> Event<'a> {
    /// Parses `body` as an `afb-event` envelope.
    pub fn envelope(&self) -> Result<ParsedEvent<'a>, EnvelopeError> {
        envelope::parse_event_envelope(self.body.get())
    }

    /// Appends the encoded event to `out`.
    pub fn write(&self, out: &mut Vec<u8>) {
        encode::write_event(out, &self.name, self.body);
    }
}

/// The argument of a call, kept as text until a verb reads it.
#[derive(Debug, Clone)]
pub enum Args<'a> {
    /// A valid JSON value.
    Json(&'a RawValue),
    /// Text that is not valid JSON; per the protocol it stands for a JSON string holding that
    /// text (surrounding whitespace removed). E.g. `[2,"1","a/b",hello world]` gives
    /// `Text("hello world")`, meaning the JSON string `"hello world"`.
    Text(Cow<'a, str>),
}

impl<'a> Args<'a> {
    /// The argument as JSON text: the raw text for `Json`, an escaped JSON string for `Text`
    /// (allocates only in that case).
    pub fn to_json_string(&self) -> Cow<'a, str> {
        match self {
            Args::Json(raw) => Cow::Borrowed(raw.get()),
            Args::Text(text) => {
                let mut out = Vec::with_capacity(text.len() + 2);
                write_json_str(&mut out, text);
                Cow::Owned(String::from_utf8_lossy(&out).into_owned())
            }
        }
    }

    /// The raw JSON value, or `None` for `Text`.
    pub fn as_raw(&self) -> Option<&'a RawValue> {
        match self {
            Args::Json(raw) => Some(raw),
            Args::Text(_) => None,
        }
    }

    /// Deserialises the argument into `T` (`Text` deserialises as a string). Parsing JSON here
    /// is subject to `serde_json`'s recursion limit (128 levels).
    pub fn deserialize<T: Deserialize<'a>>(&self) -> Result<T, serde_json::Error> {
        match self {
            Args::Json(raw) => serde_json::from_str(raw.get()),
            Args::Text(Cow::Borrowed(text)) => T::deserialize(BorrowedStrDeserializer::<serde_json::Error>::new(text)),
            Args::Text(Cow::Owned(text)) => T::deserialize(StringDeserializer::<serde_json::Error>::new(text.clone())),
        }
    }

    /// The argument as a `serde_json::Value` (`Text` gives `Value::String`).
    pub fn to_value(&self) -> Result<serde_json::Value, serde_json::Error> {
        match self {
            Args::Json(raw) => serde_json::from_str(raw.get()),
            Args::Text(text) => Ok(serde_json::Value::String(text.to_string())),
        }
    }
}

impl PartialEq for Args<'_> {
    /// Textual equality: `Json` values compare by raw text; `Text` never equals `Json`.
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Args::Json(a), Args::Json(b)) => a.get() == b.get(),
            (Args::Text(a), Args::Text(b)) => a == b,
            _ => false,
        }
    }
}

impl WriteJson for Args<'_> {
    fn write_json(&self, out: &mut Vec<u8>) {
        match self {
            Args::Json(raw) => raw.write_json(out),
            Args::Text(text) => write_json_str(out, text),
        }
    }
}

impl PartialEq for Reply<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
            && self.success == other.success
            && self.body.get() == other.body.get()
            && self.token == other.token
    }
}

impl PartialEq for Event<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.body.get() == other.body.get()
    }
}
