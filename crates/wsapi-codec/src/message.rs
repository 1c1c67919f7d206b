//! wsapi version 1 messages: the [`Message`] enum, its zero-copy [`decode`]r and its
//! [`encode`]r.
//!
//! Layout reminder (all integers little-endian): every message is one code byte followed by
//! its fields. A `string` is a `u32` length counting a final NUL, then the bytes and the NUL;
//! a `nullstring` is the same with length 0 meaning "absent"; an `object` is a `string`
//! holding JSON text (see [`object_to_json`] for what to do with invalid JSON).
//!
//! Decoding is strict, because the spec says a protocol error closes the link: unknown codes,
//! truncated fields, a missing final NUL, a NUL inside a string, invalid UTF-8 and bytes left
//! after the last field are all [`DecodeError`]s. With these rules the encoding is canonical:
//! whenever `decode(bytes)` succeeds, `encode` of the result gives `bytes` back.

use std::borrow::Cow;
use std::fmt;

/// The 32-bit identifier that opens a version offer (`09 14 4c 17` on the wire).
pub const PROTOCOL_MAGIC: u32 = 0x174C_1409;

/// wsapi version 1, the only version this crate speaks.
pub const VERSION_1: u8 = 1;

/// The versions this crate supports, lowest first (what a client offers).
pub const SUPPORTED_VERSIONS: &[u8] = &[VERSION_1];

/// At most this many call and describe ids may be outstanding at once on one link; the next
/// call fails with "busy".
pub const MAX_PENDING: usize = 4095;

/// The hop count given to a broadcast where it originates; each forwarding sends `hop - 1`,
/// and a broadcast whose hop is 0 is not forwarded (see [`forward_hop`]).
pub const BROADCAST_HOP_ORIGIN: u8 = 10;

/// The message code bytes (the first byte of every message).
pub mod code {
    /// `V`, client -> server: version offer.
    pub const VERSION_OFFER: u8 = b'V';
    /// `v`, server -> client: chosen version.
    pub const VERSION_SET: u8 = b'v';
    /// `S`, client -> server: declare a session id.
    pub const SESSION_CREATE: u8 = b'S';
    /// `s`, client -> server: forget a session id.
    pub const SESSION_REMOVE: u8 = b's';
    /// `T`, client -> server: declare a token id.
    pub const TOKEN_CREATE: u8 = b'T';
    /// `t`, client -> server: forget a token id.
    pub const TOKEN_REMOVE: u8 = b't';
    /// `K`, client -> server: call a verb.
    pub const CALL: u8 = b'K';
    /// `k`, server -> client: reply to a call.
    pub const REPLY: u8 = b'k';
    /// `E`, server -> client: event created.
    pub const EVENT_CREATE: u8 = b'E';
    /// `e`, server -> client: event removed.
    pub const EVENT_REMOVE: u8 = b'e';
    /// `X`, server -> client: a running call subscribed its client to an event.
    pub const SUBSCRIBE: u8 = b'X';
    /// `x`, server -> client: a running call unsubscribed its client from an event.
    pub const UNSUBSCRIBE: u8 = b'x';
    /// `P`, server -> client: event push.
    pub const PUSH: u8 = b'P';
    /// `B`, server -> client: event broadcast.
    pub const BROADCAST: u8 = b'B';
    /// `U`, client -> server: the client knows no such event.
    pub const UNEXPECTED: u8 = b'U';
    /// `D`, client -> server: ask for the API description.
    pub const DESCRIBE: u8 = b'D';
    /// `d`, server -> client: the API description.
    pub const DESCRIPTION: u8 = b'd';
}

/// Which peer sends a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Sent by the client (the binder that imports the API) to the server.
    ClientToServer,
    /// Sent by the server (the binder that exports the API) to the client.
    ServerToClient,
}

/// One wsapi v1 message, borrowing its strings from the decoded buffer.
///
/// Ids are 16-bit; 0 means "none". Fields documented as JSON text are `object`s on the wire:
/// they are carried as text, never parsed by [`decode`] (see [`object_to_json`]).
/// Strings must not contain NUL bytes (the peer reads C strings): [`decode`] rejects them, and
/// [`encode`] does not check them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Message<'a> {
    /// `V`: the versions the client offers (the magic number is checked and written by the
    /// codec). At most 255 versions.
    VersionOffer {
        /// Offered version numbers.
        versions: &'a [u8],
    },
    /// `v`: the version chosen by the server.
    VersionSet(u8),
    /// `S`: declare session id `id` for the session `uuid`.
    SessionCreate {
        /// Session id used by later calls.
        id: u16,
        /// The session's uuid.
        uuid: &'a str,
    },
    /// `s`: forget a session id.
    SessionRemove(u16),
    /// `T`: declare token id `id` for `token`.
    TokenCreate {
        /// Token id used by later calls.
        id: u16,
        /// The token text.
        token: &'a str,
    },
    /// `t`: forget a token id.
    TokenRemove(u16),
    /// `K`: call `verb` of the exported API.
    Call {
        /// Call id, echoed by the reply and by subscriptions made during the call.
        callid: u16,
        /// Verb name.
        verb: &'a str,
        /// Session id (0: the link's anonymous session).
        sessionid: u16,
        /// Token id (0: none).
        tokenid: u16,
        /// Arguments, JSON text.
        args: &'a str,
        /// The original caller's credentials as text, if any.
        user_creds: Option<&'a str>,
    },
    /// `k`: reply to call `callid`.
    Reply {
        /// The call being answered.
        callid: u16,
        /// `None` on success, else the error status.
        error: Option<&'a str>,
        /// Optional informative text.
        info: Option<&'a str>,
        /// The reply, JSON text (`null` when none).
        reply: &'a str,
    },
    /// `E`: event `eventid` is named `name` (sent before its first subscribe).
    EventCreate {
        /// Event id.
        eventid: u16,
        /// Event name.
        name: &'a str,
    },
    /// `e`: event removed.
    EventRemove(u16),
    /// `X`: the running call `callid` subscribed its client to `eventid`.
    Subscribe {
        /// The running call.
        callid: u16,
        /// The event.
        eventid: u16,
    },
    /// `x`: the running call `callid` unsubscribed its client from `eventid`.
    Unsubscribe {
        /// The running call.
        callid: u16,
        /// The event.
        eventid: u16,
    },
    /// `P`: push `data` on event `eventid`.
    Push {
        /// The event.
        eventid: u16,
        /// Pushed data, JSON text.
        data: &'a str,
    },
    /// `B`: broadcast of event `name`.
    Broadcast {
        /// Event name.
        name: &'a str,
        /// Broadcast data, JSON text.
        data: &'a str,
        /// Unique id of the broadcast (to drop duplicates).
        uuid: [u8; 16],
        /// Remaining hops, as sent (already decremented by the sender).
        hop: u8,
    },
    /// `U`: the client knows no event `eventid`; the server stops sending it.
    Unexpected {
        /// The unknown event.
        eventid: u16,
    },
    /// `D`: ask for the API description.
    Describe {
        /// Request id, echoed by the description.
        descid: u16,
    },
    /// `d`: the API description.
    Description {
        /// The request being answered.
        descid: u16,
        /// The description, JSON text (`null` when none).
        description: &'a str,
    },
}

impl Message<'_> {
    /// The code byte that starts this message on the wire.
    #[must_use]
    pub fn code(&self) -> u8 {
        match self {
            Message::VersionOffer { .. } => code::VERSION_OFFER,
            Message::VersionSet(_) => code::VERSION_SET,
            Message::SessionCreate { .. } => code::SESSION_CREATE,
            Message::SessionRemove(_) => code::SESSION_REMOVE,
            Message::TokenCreate { .. } => code::TOKEN_CREATE,
            Message::TokenRemove(_) => code::TOKEN_REMOVE,
            Message::Call { .. } => code::CALL,
            Message::Reply { .. } => code::REPLY,
            Message::EventCreate { .. } => code::EVENT_CREATE,
            Message::EventRemove(_) => code::EVENT_REMOVE,
            Message::Subscribe { .. } => code::SUBSCRIBE,
            Message::Unsubscribe { .. } => code::UNSUBSCRIBE,
            Message::Push { .. } => code::PUSH,
            Message::Broadcast { .. } => code::BROADCAST,
            Message::Unexpected { .. } => code::UNEXPECTED,
            Message::Describe { .. } => code::DESCRIBE,
            Message::Description { .. } => code::DESCRIPTION,
        }
    }

    /// Who sends this message. A peer receiving a message of the wrong direction should treat
    /// it as a protocol error.
    #[must_use]
    pub fn direction(&self) -> Direction {
        match self {
            Message::VersionOffer { .. }
            | Message::SessionCreate { .. }
            | Message::SessionRemove(_)
            | Message::TokenCreate { .. }
            | Message::TokenRemove(_)
            | Message::Call { .. }
            | Message::Unexpected { .. }
            | Message::Describe { .. } => Direction::ClientToServer,
            Message::VersionSet(_)
            | Message::Reply { .. }
            | Message::EventCreate { .. }
            | Message::EventRemove(_)
            | Message::Subscribe { .. }
            | Message::Unsubscribe { .. }
            | Message::Push { .. }
            | Message::Broadcast { .. }
            | Message::Description { .. } => Direction::ServerToClient,
        }
    }

    /// The exact number of bytes [`encode`] appends for this message (without any frame
    /// header). Useful to check a message against the peer's maximum message size before
    /// sending it, or to write a frame header before the message.
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        const ID: usize = 2;
        fn s(v: &str) -> usize {
            4 + v.len() + 1
        }
        fn ns(v: Option<&str>) -> usize {
            v.map_or(4, s)
        }
        1 + match *self {
            Message::VersionOffer { versions } => 4 + 1 + versions.len(),
            Message::VersionSet(_) => 1,
            Message::SessionRemove(_)
            | Message::TokenRemove(_)
            | Message::EventRemove(_)
            | Message::Unexpected { .. }
            | Message::Describe { .. } => ID,
            Message::SessionCreate { uuid: text, .. }
            | Message::TokenCreate { token: text, .. }
            | Message::EventCreate { name: text, .. }
            | Message::Push { data: text, .. }
            | Message::Description { description: text, .. } => ID + s(text),
            Message::Call {
                verb, args, user_creds, ..
            } => ID + s(verb) + ID + ID + s(args) + ns(user_creds),
            Message::Reply { error, info, reply, .. } => ID + ns(error) + ns(info) + s(reply),
            Message::Subscribe { .. } | Message::Unsubscribe { .. } => ID + ID,
            Message::Broadcast { name, data, .. } => s(name) + s(data) + 16 + 1,
        }
    }
}

/// Why bytes could not be decoded as a wsapi v1 message. Every case is a protocol error: the
/// link should be closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The message is empty (no code byte).
    Empty,
    /// The code byte names no wsapi v1 message.
    UnknownCode(u8),
    /// The message ends (or a length runs past its end) while reading `what`.
    Truncated {
        /// The field being read.
        what: &'static str,
    },
    /// The version offer does not start with [`PROTOCOL_MAGIC`]; holds what was read.
    BadMagic(u32),
    /// A `string` field has length 0 (absent), which only a `nullstring` may have.
    AbsentString {
        /// The field being read.
        what: &'static str,
    },
    /// The last byte of a string is not NUL.
    MissingNul {
        /// The field being read.
        what: &'static str,
    },
    /// A string holds a NUL before its final one.
    InteriorNul {
        /// The field being read.
        what: &'static str,
    },
    /// A string is not valid UTF-8.
    BadUtf8 {
        /// The field being read.
        what: &'static str,
    },
    /// Bytes remain after the last field of the message; holds their count.
    TrailingBytes(usize),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Empty => f.write_str("empty wsapi message"),
            DecodeError::UnknownCode(c) => {
                write!(f, "unknown wsapi message code 0x{c:02x}")?;
                if c.is_ascii_graphic() {
                    write!(f, " ('{}')", char::from(*c))?;
                }
                Ok(())
            }
            DecodeError::Truncated { what } => write!(f, "wsapi message truncated in {what}"),
            DecodeError::BadMagic(m) => {
                write!(f, "bad wsapi identifier 0x{m:08x} in version offer")
            }
            DecodeError::AbsentString { what } => {
                write!(f, "absent string (length 0) for required {what}")
            }
            DecodeError::MissingNul { what } => {
                write!(f, "string {what} does not end with NUL")
            }
            DecodeError::InteriorNul { what } => write!(f, "string {what} contains a NUL"),
            DecodeError::BadUtf8 { what } => write!(f, "string {what} is not valid UTF-8"),
            DecodeError::TrailingBytes(n) => {
                write!(f, "{n} unexpected byte(s) after the end of the wsapi message")
            }
        }
    }
}

impl std::error::Error for DecodeError {}

/// A cursor over the bytes of a message being decoded.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn bytes(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        let (head, tail) = self.rest.split_at_checked(n).ok_or(DecodeError::Truncated { what })?;
        self.rest = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], DecodeError> {
        let (head, tail) = self
            .rest
            .split_first_chunk::<N>()
            .ok_or(DecodeError::Truncated { what })?;
        self.rest = tail;
        Ok(*head)
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        let (&b, tail) = self.rest.split_first().ok_or(DecodeError::Truncated { what })?;
        self.rest = tail;
        Ok(b)
    }

    fn u16(&mut self, what: &'static str) -> Result<u16, DecodeError> {
        self.array(what).map(u16::from_le_bytes)
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        self.array(what).map(u32::from_le_bytes)
    }

    /// A `nullstring`: `None` when the length is 0.
    fn nullstring(&mut self, what: &'static str) -> Result<Option<&'a str>, DecodeError> {
        let len = self.u32(what)?;
        if len == 0 {
            return Ok(None);
        }
        // A length that does not fit usize cannot fit in the buffer either.
        let len = usize::try_from(len).map_err(|_| DecodeError::Truncated { what })?;
        let raw = self.bytes(len, what)?;
        let (&last, text) = raw.split_last().ok_or(DecodeError::Truncated { what })?;
        if last != 0 {
            return Err(DecodeError::MissingNul { what });
        }
        if text.contains(&0) {
            return Err(DecodeError::InteriorNul { what });
        }
        std::str::from_utf8(text)
            .map(Some)
            .map_err(|_| DecodeError::BadUtf8 { what })
    }

    /// A `string` (or `object`): length 0 is an error.
    fn string(&mut self, what: &'static str) -> Result<&'a str, DecodeError> {
        self.nullstring(what)?.ok_or(DecodeError::AbsentString { what })
    }
}

/// Decodes one complete wsapi v1 message (the payload of one binary frame), borrowing its
/// strings from `msg`. No JSON is parsed; no allocation is made.
///
/// Strings must be valid UTF-8 without interior NUL; anything else is an error, as are unknown
/// codes and trailing bytes (see [`DecodeError`]). Structurally valid messages are accepted
/// whatever their direction (check [`Message::direction`]) and whatever their ids or versions.
pub fn decode(msg: &[u8]) -> Result<Message<'_>, DecodeError> {
    let (&code, rest) = msg.split_first().ok_or(DecodeError::Empty)?;
    let mut r = Reader { rest };
    let message = match code {
        code::VERSION_OFFER => {
            let magic = r.u32("identifier")?;
            if magic != PROTOCOL_MAGIC {
                return Err(DecodeError::BadMagic(magic));
            }
            let count = r.u8("version count")?;
            let versions = r.bytes(usize::from(count), "versions")?;
            Message::VersionOffer { versions }
        }
        code::VERSION_SET => Message::VersionSet(r.u8("version")?),
        code::SESSION_CREATE => Message::SessionCreate {
            id: r.u16("sessionid")?,
            uuid: r.string("session uuid")?,
        },
        code::SESSION_REMOVE => Message::SessionRemove(r.u16("sessionid")?),
        code::TOKEN_CREATE => Message::TokenCreate {
            id: r.u16("tokenid")?,
            token: r.string("token")?,
        },
        code::TOKEN_REMOVE => Message::TokenRemove(r.u16("tokenid")?),
        code::CALL => Message::Call {
            callid: r.u16("callid")?,
            verb: r.string("verb")?,
            sessionid: r.u16("sessionid")?,
            tokenid: r.u16("tokenid")?,
            args: r.string("args")?,
            user_creds: r.nullstring("user_creds")?,
        },
        code::REPLY => Message::Reply {
            callid: r.u16("callid")?,
            error: r.nullstring("error")?,
            info: r.nullstring("info")?,
            reply: r.string("reply")?,
        },
        code::EVENT_CREATE => Message::EventCreate {
            eventid: r.u16("eventid")?,
            name: r.string("event name")?,
        },
        code::EVENT_REMOVE => Message::EventRemove(r.u16("eventid")?),
        code::SUBSCRIBE => Message::Subscribe {
            callid: r.u16("callid")?,
            eventid: r.u16("eventid")?,
        },
        code::UNSUBSCRIBE => Message::Unsubscribe {
            callid: r.u16("callid")?,
            eventid: r.u16("eventid")?,
        },
        code::PUSH => Message::Push {
            eventid: r.u16("eventid")?,
            data: r.string("event data")?,
        },
        code::BROADCAST => Message::Broadcast {
            name: r.string("event name")?,
            data: r.string("event data")?,
            uuid: r.array("broadcast uuid")?,
            hop: r.u8("hop")?,
        },
        code::UNEXPECTED => Message::Unexpected {
            eventid: r.u16("eventid")?,
        },
        code::DESCRIBE => Message::Describe {
            descid: r.u16("descid")?,
        },
        code::DESCRIPTION => Message::Description {
            descid: r.u16("descid")?,
            description: r.string("description")?,
        },
        other => return Err(DecodeError::UnknownCode(other)),
    };
    if r.rest.is_empty() {
        Ok(message)
    } else {
        Err(DecodeError::TrailingBytes(r.rest.len()))
    }
}

fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_string(out: &mut Vec<u8>, s: &str) {
    let len = match s.len().checked_add(1).map(u32::try_from) {
        Some(Ok(len)) => len,
        _ => panic!("wsapi string of {} bytes is too long to encode", s.len()),
    };
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(s.as_bytes());
    out.push(0);
}

fn put_nullstring(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => put_string(out, s),
        None => out.extend_from_slice(&0u32.to_le_bytes()),
    }
}

/// Appends the exact wire bytes of `msg` to `out` (no frame header; see
/// [`crate::encode_framed`] for a complete frame). Reserves [`Message::encoded_len`] once;
/// makes no other allocation.
///
/// The text fields are written as given: JSON fields should hold valid JSON text (use
/// [`object_to_json`] on text of unknown validity) and no string should contain NUL.
///
/// # Panics
/// If a string is 4 GiB or longer, or a version offer lists more than 255 versions: neither
/// can be represented on the wire.
pub fn encode(msg: &Message<'_>, out: &mut Vec<u8>) {
    out.reserve(msg.encoded_len());
    out.push(msg.code());
    match *msg {
        Message::VersionOffer { versions } => {
            let Ok(count) = u8::try_from(versions.len()) else {
                panic!("a wsapi version offer holds at most 255 versions");
            };
            out.extend_from_slice(&PROTOCOL_MAGIC.to_le_bytes());
            out.push(count);
            out.extend_from_slice(versions);
        }
        Message::VersionSet(v) => out.push(v),
        Message::SessionRemove(id)
        | Message::TokenRemove(id)
        | Message::EventRemove(id)
        | Message::Unexpected { eventid: id }
        | Message::Describe { descid: id } => put_u16(out, id),
        Message::SessionCreate { id, uuid: text }
        | Message::TokenCreate { id, token: text }
        | Message::EventCreate {
            eventid: id,
            name: text,
        }
        | Message::Push {
            eventid: id,
            data: text,
        }
        | Message::Description {
            descid: id,
            description: text,
        } => {
            put_u16(out, id);
            put_string(out, text);
        }
        Message::Call {
            callid,
            verb,
            sessionid,
            tokenid,
            args,
            user_creds,
        } => {
            put_u16(out, callid);
            put_string(out, verb);
            put_u16(out, sessionid);
            put_u16(out, tokenid);
            put_string(out, args);
            put_nullstring(out, user_creds);
        }
        Message::Reply {
            callid,
            error,
            info,
            reply,
        } => {
            put_u16(out, callid);
            put_nullstring(out, error);
            put_nullstring(out, info);
            put_string(out, reply);
        }
        Message::Subscribe { callid, eventid } | Message::Unsubscribe { callid, eventid } => {
            put_u16(out, callid);
            put_u16(out, eventid);
        }
        Message::Broadcast { name, data, uuid, hop } => {
            put_string(out, name);
            put_string(out, data);
            out.extend_from_slice(&uuid);
            out.push(hop);
        }
    }
}

/// Encodes `msg` into a new vector of exactly [`Message::encoded_len`] bytes. Prefer
/// [`encode`] with a reused buffer on hot paths.
///
/// # Panics
/// As [`encode`].
#[must_use]
pub fn encode_to_vec(msg: &Message<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(msg.encoded_len());
    encode(msg, &mut out);
    out
}

/// The version a server chooses from a client's offer: the highest offered version that this
/// crate supports, or `None` when there is none in common (the server then hangs up).
#[must_use]
pub fn choose_version(offered: &[u8]) -> Option<u8> {
    offered.iter().copied().filter(|v| SUPPORTED_VERSIONS.contains(v)).max()
}

/// The hop count to send when forwarding a broadcast that has `hop` hops left: `hop - 1`, or
/// `None` when `hop` is 0 (the broadcast is not forwarded). A locally originated broadcast
/// starts at [`BROADCAST_HOP_ORIGIN`], so it is sent with hop 9.
#[must_use]
pub fn forward_hop(hop: u8) -> Option<u8> {
    hop.checked_sub(1)
}

/// Interprets the text of an `object` field as the spec requires: returns it unchanged when it
/// is valid JSON, else returns it encoded as a JSON string (so the result is always valid
/// JSON). Validation is serde_json's, without building any value and without a nesting limit
/// (a consumer that builds a tree, e.g. `serde_json::Value` and its recursion limit of 128,
/// may still refuse very deep JSON). This scans the text: call it only where the JSON is
/// needed, not on every forwarded message.
#[must_use]
pub fn object_to_json(text: &str) -> Cow<'_, str> {
    if serde_json::from_str::<&serde_json::value::RawValue>(text).is_ok() {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(json_string(text))
    }
}

/// `text` as a JSON string literal (quotes included).
fn json_string(text: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if u32::from(c) < 0x20 => {
                // Writing to a String cannot fail.
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_example_from_spec() {
        let mut out = Vec::new();
        put_string(&mut out, "ping");
        assert_eq!(out, b"\x05\x00\x00\x00ping\x00");
    }

    #[test]
    fn object_to_json_keeps_valid_json() {
        for t in ["null", "1", " {\"a\": [1, 2]} ", "\"x\"", "true"] {
            assert!(matches!(object_to_json(t), Cow::Borrowed(s) if s == t));
        }
    }

    #[test]
    fn object_to_json_keeps_surrounding_whitespace() {
        // Found by fuzzing (a checker bug, not a codec bug): this is valid JSON.
        assert!(matches!(object_to_json("\"n:n:\" "), Cow::Borrowed(_)));
        assert!(matches!(object_to_json("\n\t[] \r"), Cow::Borrowed(_)));
    }

    #[test]
    fn object_to_json_quotes_invalid_json() {
        assert_eq!(object_to_json("hello"), "\"hello\"");
        assert_eq!(object_to_json(""), "\"\"");
        assert_eq!(object_to_json("{\"a\":1} x"), "\"{\\\"a\\\":1} x\"");
        assert_eq!(object_to_json("a\\b\n\u{1}é"), "\"a\\\\b\\n\\u0001é\"");
        let s = object_to_json("\t\r\u{8}\u{c}\u{1f}\"");
        let back: String = serde_json::from_str(&s).unwrap();
        assert_eq!(back, "\t\r\u{8}\u{c}\u{1f}\"");
    }

    #[test]
    fn object_to_json_deep_nesting_does_not_overflow() {
        // Validation is iterative: deep but valid JSON stays as it is.
        let deep = "[".repeat(100_000) + &"]".repeat(100_000);
        assert!(matches!(object_to_json(&deep), Cow::Borrowed(_)));
        let broken = "[".repeat(100_000);
        assert_eq!(object_to_json(&broken).len(), broken.len() + 2);
    }

    #[test]
    fn version_choice() {
        assert_eq!(choose_version(&[1]), Some(1));
        assert_eq!(choose_version(&[3, 1, 2]), Some(1));
        assert_eq!(choose_version(&[0, 2]), None);
        assert_eq!(choose_version(&[]), None);
    }

    #[test]
    fn hops() {
        assert_eq!(forward_hop(BROADCAST_HOP_ORIGIN), Some(9));
        assert_eq!(forward_hop(1), Some(0));
        assert_eq!(forward_hop(0), None);
    }

    #[test]
    fn errors_display() {
        assert_eq!(
            DecodeError::UnknownCode(b'Z').to_string(),
            "unknown wsapi message code 0x5a ('Z')"
        );
        assert_eq!(
            DecodeError::UnknownCode(0).to_string(),
            "unknown wsapi message code 0x00"
        );
        assert!(DecodeError::Truncated { what: "verb" }.to_string().contains("verb"));
    }
}
