//! Encoding into a reused buffer: [`encode`] (one message, a given seqno), [`Encoder`] (a
//! per-link seqno counter), [`encoded_len`].
//!
//! Chunks are laid out exactly as the C writer does, so that our bytes are those of the C
//! binder for the same message:
//!
//! | item | placed at chunk offset |
//! |---|---|
//! | RES-ID, VALUE-DATA | even |
//! | RES-PLAIN, VALUE-TYPED | ≡ 2 mod 8 (their text or bytes at ≡ 0 mod 8) |
//! | VALUE | ≡ 4 mod 8 (bytes at ≡ 0 mod 8) |
//! | TIMEOUT | ≡ 0 mod 4 |
//!
//! with the fewest zero bytes before each, and the chunk padded with zeros to a multiple of 8
//! (the `length` field excludes that padding). A CALL-REQUEST lists API (when not the default),
//! VERB, SESSION (when not 0), TOKEN (when not 0), then CREDS and TIMEOUT when present (C never
//! sends these two), then the values.
//!
//! A message that cannot be represented (too many values, a value or text too long, a NUL in
//! a text...) gives an [`EncodeError`] and appends nothing.

use std::fmt;

use crate::message::{Message, Verb};
use crate::types::{fixed_size, type_id};
use crate::value::{Text, Value, Values};
use crate::wire::{self, padded_len, param, ResourceKind, CHUNK_ALIGN, MAX_VALUES};

/// Why a message cannot be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncodeError {
    /// More than [`MAX_VALUES`] values.
    TooManyValues {
        /// The count.
        count: usize,
    },
    /// A value longer than a parameter can hold ([`wire::MAX_TYPED_VALUE_LEN`] or
    /// [`wire::MAX_UNTYPED_VALUE_LEN`]).
    ValueTooLong {
        /// Its byte count.
        len: usize,
        /// The maximum.
        max: usize,
    },
    /// A value of a fixed-size type with another byte count.
    BadValueSize {
        /// The type id.
        type_id: u16,
        /// Its size.
        expected: usize,
        /// The byte count given.
        found: usize,
    },
    /// A typed value of type id 0.
    TypeIdZero,
    /// A text longer than its field allows.
    TextTooLong {
        /// Which text.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The maximum.
        max: usize,
    },
    /// A text holding a NUL (it travels NUL-terminated).
    NulInText {
        /// Which text.
        what: &'static str,
    },
    /// A RESOURCE-CREATE or RESOURCE-DESTROY of a kind that cannot be created.
    NotCreatable {
        /// The kind.
        kind: ResourceKind,
    },
    /// [`Verb::Special`] with id 0, which means "no verb".
    SpecialVerbZero,
    /// A VERSION-OFFER of more than 255 versions.
    TooManyVersions {
        /// The count.
        count: usize,
    },
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            EncodeError::TooManyValues { count } => {
                write!(f, "{count} values in one RPC message (at most {MAX_VALUES})")
            }
            EncodeError::ValueTooLong { len, max } => {
                write!(f, "RPC value of {len} bytes (at most {max})")
            }
            EncodeError::BadValueSize {
                type_id,
                expected,
                found,
            } => write!(
                f,
                "RPC value of type 0x{type_id:04x} has {found} bytes instead of {expected}"
            ),
            EncodeError::TypeIdZero => f.write_str("RPC value of type id 0"),
            EncodeError::TextTooLong { what, len, max } => {
                write!(f, "RPC {what} of {len} bytes (at most {max})")
            }
            EncodeError::NulInText { what } => write!(f, "RPC {what} contains a NUL"),
            EncodeError::NotCreatable { kind } => write!(f, "RPC resource of kind {kind} cannot be created"),
            EncodeError::SpecialVerbZero => f.write_str("RPC special verb id 0"),
            EncodeError::TooManyVersions { count } => {
                write!(f, "RPC version offer of {count} versions (at most 255)")
            }
        }
    }
}

impl std::error::Error for EncodeError {}

/// Where chunk bytes go: counted (first pass) or written (second pass).
trait Sink {
    /// Bytes written since the chunk start.
    fn pos(&self) -> usize;
    fn put(&mut self, bytes: &[u8]);
    fn zeros(&mut self, n: usize);
}

struct Counter(usize);

impl Sink for Counter {
    fn pos(&self) -> usize {
        self.0
    }
    fn put(&mut self, bytes: &[u8]) {
        self.0 += bytes.len();
    }
    fn zeros(&mut self, n: usize) {
        self.0 += n;
    }
}

struct Writer<'v> {
    out: &'v mut Vec<u8>,
    start: usize,
}

impl Sink for Writer<'_> {
    fn pos(&self) -> usize {
        self.out.len() - self.start
    }
    fn put(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }
    fn zeros(&mut self, n: usize) {
        self.out.resize(self.out.len() + n, 0);
    }
}

/// Zeros up to the next offset ≡ `rem` (mod `modulo`).
fn align(s: &mut impl Sink, modulo: usize, rem: usize) {
    let pad = (rem + modulo - s.pos() % modulo) % modulo;
    s.zeros(pad);
}

fn put_u16(s: &mut impl Sink, v: u16) {
    s.put(&v.to_le_bytes());
}

/// A length that fits a u16 (checked by the callers against smaller maxima).
fn len16(len: usize) -> u16 {
    u16::try_from(len).unwrap_or(u16::MAX)
}

fn check_text(text: Text<'_>, what: &'static str, max: usize) -> Result<(), EncodeError> {
    if text.len() > max {
        return Err(EncodeError::TextTooLong {
            what,
            len: text.len(),
            max,
        });
    }
    if text.as_bytes().contains(&0) {
        return Err(EncodeError::NulInText { what });
    }
    Ok(())
}

fn value_count(values: &Values<'_>) -> Result<u16, EncodeError> {
    let count = values.len();
    if count > MAX_VALUES {
        return Err(EncodeError::TooManyValues { count });
    }
    Ok(len16(count))
}

fn res_id(s: &mut impl Sink, kind: ResourceKind, id: u16) {
    align(s, 2, 0);
    put_u16(s, param::RES_ID);
    put_u16(s, 8);
    put_u16(s, kind.code());
    put_u16(s, id);
}

fn res_plain(s: &mut impl Sink, kind: ResourceKind, text: Text<'_>, what: &'static str) -> Result<(), EncodeError> {
    check_text(text, what, wire::MAX_PLAIN_TEXT_LEN)?;
    align(s, 8, 2);
    put_u16(s, param::RES_PLAIN);
    put_u16(s, len16(6 + text.len() + 1));
    put_u16(s, kind.code());
    s.put(text.as_bytes());
    s.put(&[0]);
    Ok(())
}

fn value(s: &mut impl Sink, v: &Value<'_>) -> Result<(), EncodeError> {
    let len = v.byte_len();
    match *v {
        Value::Untyped(bytes) => {
            if len > wire::MAX_UNTYPED_VALUE_LEN {
                return Err(EncodeError::ValueTooLong {
                    len,
                    max: wire::MAX_UNTYPED_VALUE_LEN,
                });
            }
            align(s, 8, 4);
            put_u16(s, param::VALUE);
            put_u16(s, len16(4 + len));
            s.put(bytes);
        }
        Value::Data(id) => {
            align(s, 2, 0);
            put_u16(s, param::VALUE_DATA);
            put_u16(s, 6);
            put_u16(s, id);
        }
        Value::Typed { .. } | Value::Text { .. } | Value::Scalar(_) => {
            let tid = v.type_id().unwrap_or(type_id::UNSET);
            if tid == type_id::UNSET {
                return Err(EncodeError::TypeIdZero);
            }
            if let Some(expected) = fixed_size(tid) {
                if expected != len {
                    return Err(EncodeError::BadValueSize {
                        type_id: tid,
                        expected,
                        found: len,
                    });
                }
            }
            if len > wire::MAX_TYPED_VALUE_LEN {
                return Err(EncodeError::ValueTooLong {
                    len,
                    max: wire::MAX_TYPED_VALUE_LEN,
                });
            }
            align(s, 8, 2);
            put_u16(s, param::VALUE_TYPED);
            put_u16(s, len16(6 + len));
            put_u16(s, tid);
            let (head, (tail, tail_len)) = v.parts();
            s.put(head);
            s.put(tail.get(..tail_len).unwrap_or_default());
        }
    }
    Ok(())
}

fn values(s: &mut impl Sink, values: &Values<'_>) -> Result<(), EncodeError> {
    for v in values {
        value(s, &v)?;
    }
    Ok(())
}

/// Writes the chunk of `msg` without its final padding, with `length` in its header.
fn chunk(s: &mut impl Sink, msg: &Message<'_>, seqno: u16, length: u32) -> Result<(), EncodeError> {
    let Some(op) = msg.operation() else {
        return Ok(());
    };
    put_u16(s, op.code());
    put_u16(s, seqno);
    s.put(&length.to_le_bytes());
    match msg {
        Message::VersionOffer { .. } | Message::VersionSet { .. } => {}
        Message::CallRequest(m) => {
            put_u16(s, m.callid);
            put_u16(s, value_count(&m.values)?);
            if let Some(api) = m.api {
                res_plain(s, ResourceKind::Api, api, "API name")?;
            }
            match m.verb {
                Verb::Name(name) => res_plain(s, ResourceKind::Verb, name, "verb name")?,
                Verb::Special(0) => return Err(EncodeError::SpecialVerbZero),
                Verb::Special(id) => res_id(s, ResourceKind::Verb, id),
            }
            if m.session != 0 {
                res_id(s, ResourceKind::Session, m.session);
            }
            if m.token != 0 {
                res_id(s, ResourceKind::Token, m.token);
            }
            if let Some(creds) = m.creds {
                res_plain(s, ResourceKind::Creds, creds, "credentials")?;
            }
            if let Some(seconds) = m.timeout {
                align(s, 4, 0);
                put_u16(s, param::TIMEOUT);
                put_u16(s, 8);
                s.put(&seconds.to_le_bytes());
            }
            values(s, &m.values)?;
        }
        Message::CallReply(m) => {
            put_u16(s, m.callid);
            put_u16(s, value_count(&m.values)?);
            s.put(&m.status.to_le_bytes());
            values(s, &m.values)?;
        }
        Message::EventPush(m) => {
            put_u16(s, m.eventid);
            put_u16(s, value_count(&m.values)?);
            values(s, &m.values)?;
        }
        Message::EventSubscribe { callid, eventid } | Message::EventUnsubscribe { callid, eventid } => {
            put_u16(s, *callid);
            put_u16(s, *eventid);
        }
        Message::EventUnexpected { eventid } => put_u16(s, *eventid),
        Message::EventBroadcast(m) => {
            check_text(m.name, "broadcast event name", wire::MAX_BROADCAST_NAME_LEN)?;
            put_u16(s, value_count(&m.values)?);
            put_u16(s, len16(m.name.len() + 1));
            s.put(&m.uuid);
            s.put(&[m.hop]);
            s.put(m.name.as_bytes());
            s.put(&[0]);
            values(s, &m.values)?;
        }
        Message::ResourceCreate { kind, id, text } => {
            if !kind.is_creatable() {
                return Err(EncodeError::NotCreatable { kind: *kind });
            }
            put_u16(s, kind.code());
            put_u16(s, *id);
            if kind.is_known() {
                check_text(*text, "resource text", wire::MAX_RESOURCE_DATA_LEN - 1)?;
                s.put(text.as_bytes());
                s.put(&[0]);
            } else if text.len() > wire::MAX_RESOURCE_DATA_LEN {
                return Err(EncodeError::TextTooLong {
                    what: "resource data",
                    len: text.len(),
                    max: wire::MAX_RESOURCE_DATA_LEN,
                });
            } else {
                s.put(text.as_bytes());
            }
        }
        Message::ResourceDestroy { kind, id } => {
            if !kind.is_creatable() {
                return Err(EncodeError::NotCreatable { kind: *kind });
            }
            put_u16(s, kind.code());
            put_u16(s, *id);
        }
    }
    Ok(())
}

/// The `length` field of the chunk of `msg` (padding excluded), checking the message.
fn chunk_length(msg: &Message<'_>) -> Result<usize, EncodeError> {
    let mut counter = Counter(0);
    chunk(&mut counter, msg, 0, 0)?;
    Ok(counter.0)
}

/// The number of bytes [`encode`] appends for `msg`: for a chunk, its length rounded up to a
/// multiple of 8; for a version message, its size.
///
/// # Errors
/// When the message cannot be encoded (see [`EncodeError`]).
pub fn encoded_len(msg: &Message<'_>) -> Result<usize, EncodeError> {
    if msg.is_version() {
        crate::version::encoded_len(msg)
    } else {
        chunk_length(msg).map(padded_len)
    }
}

/// Appends the bytes of `msg` to `out`: a chunk with this `seqno` and its padding (the chunk is
/// aligned from its own first byte: start it at a multiple of 8 from the stream origin), or a
/// version message (the seqno is not used). Returns the number of bytes appended.
///
/// Writes in one pass (the `length` field is set once the chunk is written) and allocates
/// only when `out` must grow: reuse the buffer on hot paths.
///
/// # Errors
/// When the message cannot be encoded (see [`EncodeError`]); `out` is then unchanged.
pub fn encode(msg: &Message<'_>, seqno: u16, out: &mut Vec<u8>) -> Result<usize, EncodeError> {
    if msg.is_version() {
        return crate::version::encode(msg, out);
    }
    let start = out.len();
    let mut writer = Writer { out, start };
    if let Err(e) = chunk(&mut writer, msg, seqno, 0) {
        writer.out.truncate(start);
        return Err(e);
    }
    let length = writer.pos();
    let header_length = u32::try_from(length).unwrap_or(u32::MAX).to_le_bytes();
    // The length field: bytes 4..8 of the chunk header (absent only for a message
    // without chunk, which wrote nothing).
    if let Some(field) = writer.out.get_mut(start + 4..start + 8) {
        field.copy_from_slice(&header_length);
    }
    align(&mut writer, CHUNK_ALIGN, 0);
    Ok(padded_len(length))
}

/// Encodes `msg` into a new vector. Prefer [`encode`] with a reused buffer on hot paths.
///
/// # Errors
/// As [`encode`].
pub fn encode_to_vec(msg: &Message<'_>, seqno: u16) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::new();
    encode(msg, seqno, &mut out)?;
    Ok(out)
}

/// An encoder for one direction of a link: numbers its chunks 1, 2, ... (skipping 0 when the
/// counter wraps), as the C binder numbers them (receivers ignore seqnos).
#[derive(Debug, Clone)]
pub struct Encoder {
    next_seqno: u16,
}

impl Default for Encoder {
    fn default() -> Self {
        Encoder::new()
    }
}

impl Encoder {
    /// An encoder whose first chunk gets seqno 1.
    #[must_use]
    pub fn new() -> Encoder {
        Encoder { next_seqno: 1 }
    }

    /// An encoder whose next chunk gets `seqno` (0 is replaced by 1).
    #[must_use]
    pub fn with_next_seqno(seqno: u16) -> Encoder {
        Encoder {
            next_seqno: seqno.max(1),
        }
    }

    /// The seqno of the next chunk.
    #[must_use]
    pub fn next_seqno(&self) -> u16 {
        self.next_seqno
    }

    /// Appends `msg` to `out` (see [`encode`]), numbering it when it is a chunk. Returns the
    /// number of bytes appended.
    ///
    /// # Errors
    /// As [`encode`]; the seqno is then not used.
    pub fn encode(&mut self, msg: &Message<'_>, out: &mut Vec<u8>) -> Result<usize, EncodeError> {
        let n = encode(msg, self.next_seqno, out)?;
        if !msg.is_version() {
            self.next_seqno = self.next_seqno.checked_add(1).unwrap_or(1);
        }
        Ok(n)
    }
}
