//! The JSON reply and event envelopes, shared by the JSON WebSocket and HTTP:
//!
//! ```text
//! {"jtype":"afb-reply","request":{"status":"success","code":0,"info":"…","reqid":"…","uuid":"…","token":"…"},"response":…}
//! {"jtype":"afb-event","event":"API/EVENT","data":…}
//! ```
//!
//! Writers emit keys in exactly that order and omit absent optional keys. Parsers read keys by
//! name and ignore unknown ones, as clients of both C binder generations do.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::{write_json_str, WriteJson};

/// The status of a successful reply.
pub const SUCCESS: &str = "success";

/// The numeric code of a status: the standard table (`success` 0, `internal-error` -1, …,
/// `timeout` -16), and -1 for any other string.
pub fn status_code(status: &str) -> i32 {
    match status {
        "success" => 0,
        "internal-error" => -1,
        "out-of-memory" => -2,
        "unknown-api" => -3,
        "unknown-verb" => -4,
        "not-available" => -5,
        "unauthorized" => -6,
        "invalid-token" => -7,
        "forbidden" => -8,
        "insufficient-scope" => -9,
        "bad-api-state" => -10,
        "not-replied" => -11,
        "invalid-request" => -12,
        "no-item" => -13,
        "bad-state" => -14,
        "disconnected" => -15,
        "timeout" => -16,
        _ => -1,
    }
}

/// What [`write_reply_envelope`] writes. Optional fields are omitted when `None`.
#[derive(Clone, Copy)]
pub struct ReplyEnvelope<'a> {
    /// `"success"` or an error status.
    pub status: &'a str,
    /// Numeric code (see [`status_code`]).
    pub code: i32,
    /// Optional text from the verb.
    pub info: Option<&'a str>,
    /// The request id echoed (`x-afb-reqid`).
    pub reqid: Option<&'a str>,
    /// The uuid of a session this request created.
    pub uuid: Option<&'a str>,
    /// The new token of a session this request renewed.
    pub token: Option<&'a str>,
    /// The response data; the key is omitted when `None`.
    pub response: Option<&'a dyn WriteJson>,
}

impl<'a> ReplyEnvelope<'a> {
    /// A success envelope with optional response data.
    pub fn success(response: Option<&'a dyn WriteJson>) -> Self {
        ReplyEnvelope {
            status: SUCCESS,
            code: 0,
            info: None,
            reqid: None,
            uuid: None,
            token: None,
            response,
        }
    }

    /// An error envelope; the code comes from [`status_code`].
    pub fn error(status: &'a str, info: Option<&'a str>) -> Self {
        ReplyEnvelope {
            status,
            code: status_code(status),
            info,
            reqid: None,
            uuid: None,
            token: None,
            response: None,
        }
    }

    /// Whether the status is `"success"`.
    #[inline]
    pub fn is_success(&self) -> bool {
        self.status == SUCCESS
    }
}

impl fmt::Debug for ReplyEnvelope<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let response = self.response.map(|r| {
            let mut buf = Vec::new();
            r.write_json(&mut buf);
            String::from_utf8_lossy(&buf).into_owned()
        });
        f.debug_struct("ReplyEnvelope")
            .field("status", &self.status)
            .field("code", &self.code)
            .field("info", &self.info)
            .field("reqid", &self.reqid)
            .field("uuid", &self.uuid)
            .field("token", &self.token)
            .field("response", &response)
            .finish()
    }
}

/// Appends `{"jtype":"afb-reply","request":{"status":…,"code":…[,"info":…][,"reqid":…]
/// [,"uuid":…][,"token":…]}[,"response":…]}`.
pub fn write_reply_envelope(out: &mut Vec<u8>, envelope: &ReplyEnvelope<'_>) {
    out.reserve(64 + envelope.status.len());
    out.extend_from_slice(br#"{"jtype":"afb-reply","request":{"status":"#);
    write_json_str(out, envelope.status);
    out.extend_from_slice(br#","code":"#);
    write_i32(out, envelope.code);
    for (key, value) in [
        (&br#","info":"#[..], envelope.info),
        (br#","reqid":"#, envelope.reqid),
        (br#","uuid":"#, envelope.uuid),
        (br#","token":"#, envelope.token),
    ] {
        if let Some(value) = value {
            out.extend_from_slice(key);
            write_json_str(out, value);
        }
    }
    out.push(b'}');
    if let Some(response) = envelope.response {
        out.extend_from_slice(br#","response":"#);
        response.write_json(out);
    }
    out.push(b'}');
}

/// Appends `{"jtype":"afb-event","event":"NAME","data":DATA}`; `data` is always present,
/// `null` when `None` (AFB.js reads `msg.data`).
pub fn write_event_envelope(out: &mut Vec<u8>, name: &str, data: Option<&dyn WriteJson>) {
    out.reserve(48 + name.len());
    out.extend_from_slice(br#"{"jtype":"afb-event","event":"#);
    write_json_str(out, name);
    out.extend_from_slice(br#","data":"#);
    match data {
        Some(data) => data.write_json(out),
        None => out.extend_from_slice(b"null"),
    }
    out.push(b'}');
}

fn write_i32(out: &mut Vec<u8>, n: i32) {
    let mut digits = [0u8; 11];
    let mut i = digits.len();
    let mut v = n.unsigned_abs();
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    if n < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(&digits[i..]);
}

/// A reply envelope read by [`parse_reply_envelope`]. Strings borrow from the text unless
/// they hold escapes.
#[derive(Debug, Clone)]
pub struct ParsedReply<'a> {
    /// `request.status`.
    pub status: Cow<'a, str>,
    /// `request.code`, or [`status_code`] of the status when absent or `null`.
    pub code: i32,
    /// `request.info`.
    pub info: Option<Cow<'a, str>>,
    /// `request.reqid`.
    pub reqid: Option<Cow<'a, str>>,
    /// `request.uuid`.
    pub uuid: Option<Cow<'a, str>>,
    /// `request.token`.
    pub token: Option<Cow<'a, str>>,
    /// `response` as raw JSON when the key is present (`null` included).
    pub response: Option<&'a RawValue>,
}

impl ParsedReply<'_> {
    /// Whether the status is `"success"`.
    pub fn is_success(&self) -> bool {
        self.status == SUCCESS
    }
}

/// An event envelope read by [`parse_event_envelope`].
#[derive(Debug, Clone)]
pub struct ParsedEvent<'a> {
    /// `event`: the full event name.
    pub name: Cow<'a, str>,
    /// `data` as raw JSON when the key is present (`null` included).
    pub data: Option<&'a RawValue>,
}

/// Why an envelope could not be parsed.
#[derive(Debug)]
pub struct EnvelopeError(serde_json::Error);

impl fmt::Display for EnvelopeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid envelope: {}", self.0)
    }
}

impl std::error::Error for EnvelopeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

/// Parses an `afb-reply` envelope. `request` and `request.status` are required; `jtype`, when
/// present, must be `"afb-reply"`; unknown keys are ignored; for a repeated key the last wins.
pub fn parse_reply_envelope(text: &str) -> Result<ParsedReply<'_>, EnvelopeError> {
    serde_json::from_str::<ReplyDoc<'_>>(text)
        .map(|d| d.0)
        .map_err(EnvelopeError)
}

/// Parses an `afb-event` envelope. `event` is required; `jtype`, when present, must be
/// `"afb-event"`; unknown keys are ignored.
pub fn parse_event_envelope(text: &str) -> Result<ParsedEvent<'_>, EnvelopeError> {
    serde_json::from_str::<EventDoc<'_>>(text)
        .map(|d| d.0)
        .map_err(EnvelopeError)
}

/// A JSON string, borrowed when possible.
struct Str<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Str<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

fn opt_str(s: Option<Str<'_>>) -> Option<Cow<'_, str>> {
    s.map(|s| s.0)
}

#[derive(Default)]
struct Request<'a> {
    status: Option<Str<'a>>,
    code: Option<i64>,
    info: Option<Str<'a>>,
    reqid: Option<Str<'a>>,
    uuid: Option<Str<'a>>,
    token: Option<Str<'a>>,
}

impl<'de> Deserialize<'de> for Request<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Request<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("the request object of an afb-reply")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut r = Request::default();
                while let Some(key) = map.next_key::<Str<'de>>()? {
                    match key.0.as_ref() {
                        "status" => r.status = Some(map.next_value()?),
                        "code" => r.code = map.next_value()?,
                        "info" => r.info = map.next_value()?,
                        "reqid" => r.reqid = map.next_value()?,
                        "uuid" => r.uuid = map.next_value()?,
                        "token" => r.token = map.next_value()?,
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(r)
            }
        }
        d.deserialize_map(V)
    }
}

struct ReplyDoc<'a>(ParsedReply<'a>);

impl<'de> Deserialize<'de> for ReplyDoc<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ReplyDoc<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an afb-reply object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut jtype: Option<Str<'de>> = None;
                let mut request: Option<Request<'de>> = None;
                let mut response: Option<&'de RawValue> = None;
                while let Some(key) = map.next_key::<Str<'de>>()? {
                    match key.0.as_ref() {
                        "jtype" => jtype = Some(map.next_value()?),
                        "request" => request = Some(map.next_value()?),
                        "response" => response = Some(map.next_value()?),
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                if let Some(jtype) = jtype {
                    if jtype.0 != "afb-reply" {
                        return Err(de::Error::custom("jtype is not \"afb-reply\""));
                    }
                }
                let request = request.ok_or_else(|| de::Error::missing_field("request"))?;
                let status = request
                    .status
                    .ok_or_else(|| de::Error::missing_field("request.status"))?
                    .0;
                let code = match request.code {
                    None => status_code(&status),
                    Some(c) => i32::try_from(c).map_err(|_| de::Error::custom("request.code out of range"))?,
                };
                Ok(ReplyDoc(ParsedReply {
                    status,
                    code,
                    info: opt_str(request.info),
                    reqid: opt_str(request.reqid),
                    uuid: opt_str(request.uuid),
                    token: opt_str(request.token),
                    response,
                }))
            }
        }
        d.deserialize_map(V)
    }
}

struct EventDoc<'a>(ParsedEvent<'a>);

impl<'de> Deserialize<'de> for EventDoc<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = EventDoc<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an afb-event object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut jtype: Option<Str<'de>> = None;
                let mut name: Option<Str<'de>> = None;
                let mut data: Option<&'de RawValue> = None;
                while let Some(key) = map.next_key::<Str<'de>>()? {
                    match key.0.as_ref() {
                        "jtype" => jtype = Some(map.next_value()?),
                        "event" => name = Some(map.next_value()?),
                        "data" => data = Some(map.next_value()?),
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                if let Some(jtype) = jtype {
                    if jtype.0 != "afb-event" {
                        return Err(de::Error::custom("jtype is not \"afb-event\""));
                    }
                }
                let name = name.ok_or_else(|| de::Error::missing_field("event"))?.0;
                Ok(EventDoc(ParsedEvent { name, data }))
            }
        }
        d.deserialize_map(V)
    }
}
