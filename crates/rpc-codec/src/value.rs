//! Texts and values as they travel in chunks: [`Text`] (bytes of a NUL-terminated text, the NUL
//! left out), [`Value`] (one value parameter) and [`Values`] (the values of a message).
//!
//! Decoded messages borrow everything from the received bytes: a received [`Values`] keeps a
//! view of its chunk and walks the (already checked) parameters again when iterated, so
//! decoding allocates nothing. Messages to encode hold their values in a slice.
//!
//! Two values are equal when they have the same wire form (parameter type, type id, bytes),
//! whatever variant built them: `Value::json("{}")` equals the `Value::Typed` a receiver
//! decodes from it.

use std::fmt;
use std::str::Utf8Error;

use crate::decode::ParamReader;
use crate::types::{type_id, TypedValue, ValueError};
use crate::wire::param;

/// The bytes of a text that travels with a final NUL (API and verb names, credentials,
/// resource texts, event names), without that NUL.
///
/// Decoded texts never contain NUL. The bytes are usually UTF-8 but are not checked: a name
/// that is not UTF-8 is a matter for the caller (e.g. an unknown verb), not a broken link.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Text<'a>(&'a [u8]);

impl<'a> Text<'a> {
    /// A text of these bytes (the encoder refuses bytes holding a NUL).
    #[must_use]
    pub const fn new(bytes: &'a [u8]) -> Text<'a> {
        Text(bytes)
    }

    /// The bytes of the text, without the NUL.
    #[must_use]
    pub const fn as_bytes(&self) -> &'a [u8] {
        self.0
    }

    /// The text as UTF-8.
    ///
    /// # Errors
    /// When the bytes are not UTF-8.
    pub fn to_str(&self) -> Result<&'a str, Utf8Error> {
        std::str::from_utf8(self.0)
    }

    /// The length in bytes, NUL excluded.
    #[must_use]
    pub const fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the text is empty.
    #[must_use]
    pub const fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'a> From<&'a str> for Text<'a> {
    fn from(text: &'a str) -> Text<'a> {
        Text(text.as_bytes())
    }
}

impl<'a> From<&'a [u8]> for Text<'a> {
    fn from(bytes: &'a [u8]) -> Text<'a> {
        Text(bytes)
    }
}

impl PartialEq<str> for Text<'_> {
    fn eq(&self, other: &str) -> bool {
        self.0 == other.as_bytes()
    }
}

impl PartialEq<&str> for Text<'_> {
    fn eq(&self, other: &&str) -> bool {
        self.0 == other.as_bytes()
    }
}

impl fmt::Debug for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_str() {
            Ok(s) => fmt::Debug::fmt(s, f),
            Err(_) => write!(f, "b\"{}\"", self.0.escape_ascii()),
        }
    }
}

impl fmt::Display for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&String::from_utf8_lossy(self.0), f)
    }
}

/// A fixed-size number to send as a VALUE-TYPED, in little-endian, with the type id a C peer
/// understands (the only number types C senders use, see [`crate::types`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scalar {
    /// `BOOL`, sent as 1 or 0.
    Bool(bool),
    /// `I32`.
    I32(i32),
    /// `U32`.
    U32(u32),
    /// `I64`.
    I64(i64),
    /// `U64`.
    U64(u64),
    /// `DOUBLE`.
    F64(f64),
}

impl Scalar {
    /// The type id this number is sent with.
    #[must_use]
    pub fn type_id(self) -> u16 {
        match self {
            Scalar::Bool(_) => type_id::BOOL,
            Scalar::I32(_) => type_id::I32,
            Scalar::U32(_) => type_id::U32,
            Scalar::I64(_) => type_id::I64,
            Scalar::U64(_) => type_id::U64,
            Scalar::F64(_) => type_id::DOUBLE,
        }
    }

    /// The wire bytes: an 8-byte buffer and how many of its first bytes are used.
    #[must_use]
    pub fn to_le_bytes(self) -> ([u8; 8], usize) {
        let mut buf = [0u8; 8];
        let len = match self {
            Scalar::Bool(b) => {
                buf[0] = u8::from(b);
                1
            }
            Scalar::I32(v) => put(&mut buf, &v.to_le_bytes()),
            Scalar::U32(v) => put(&mut buf, &v.to_le_bytes()),
            Scalar::I64(v) => put(&mut buf, &v.to_le_bytes()),
            Scalar::U64(v) => put(&mut buf, &v.to_le_bytes()),
            Scalar::F64(v) => put(&mut buf, &v.to_le_bytes()),
        };
        (buf, len)
    }
}

fn put(buf: &mut [u8; 8], bytes: &[u8]) -> usize {
    for (dst, src) in buf.iter_mut().zip(bytes) {
        *dst = *src;
    }
    bytes.len()
}

/// One value of a message.
///
/// Decoding gives [`Value::Untyped`], [`Value::Typed`] and [`Value::Data`]; [`Value::Text`]
/// and [`Value::Scalar`] are conveniences for encoding from data that lacks the final NUL or
/// the byte form. See [`Value::typed`] for the meaning of the bytes.
#[derive(Clone, Copy)]
pub enum Value<'a> {
    /// A VALUE parameter: bytes without type (received as `#opaque`; C sends it only in
    /// DESCRIBE replies).
    Untyped(&'a [u8]),
    /// A VALUE-TYPED parameter: the type id and the bytes as they travel.
    Typed {
        /// Predefined ([`crate::types::type_id`]) or declared by a RESOURCE-CREATE TYPE.
        type_id: u16,
        /// The bytes (STRINGZ and JSON include their NUL).
        bytes: &'a [u8],
    },
    /// A VALUE-TYPED parameter whose bytes are `text` followed by a NUL, added by the
    /// encoder (STRINGZ, JSON, or a declared text type).
    Text {
        /// The type id.
        type_id: u16,
        /// The text, without NUL.
        text: Text<'a>,
    },
    /// A VALUE-TYPED parameter holding a number in little-endian.
    Scalar(Scalar),
    /// A VALUE-DATA parameter: a reference to a DATA resource (C never sends it and fails on
    /// receiving it).
    Data(u16),
}

impl<'a> Value<'a> {
    /// A JSON value: VALUE-TYPED `JSON` with the text and a NUL. The text is not checked.
    #[must_use]
    pub fn json(text: &'a str) -> Value<'a> {
        Value::Text {
            type_id: type_id::JSON,
            text: Text::from(text),
        }
    }

    /// A string: VALUE-TYPED `STRINGZ` with the text and a NUL; `None` gives the absent
    /// string (no bytes at all).
    #[must_use]
    pub fn stringz(text: Option<&'a str>) -> Value<'a> {
        match text {
            Some(text) => Value::Text {
                type_id: type_id::STRINGZ,
                text: Text::from(text),
            },
            None => Value::Typed {
                type_id: type_id::STRINGZ,
                bytes: &[],
            },
        }
    }

    /// Bytes: VALUE-TYPED `BYTEARRAY`.
    #[must_use]
    pub fn bytearray(bytes: &'a [u8]) -> Value<'a> {
        Value::Typed {
            type_id: type_id::BYTEARRAY,
            bytes,
        }
    }

    /// The parameter type of this value ([`param::VALUE`], [`param::VALUE_TYPED`] or
    /// [`param::VALUE_DATA`]).
    #[must_use]
    pub fn param_type(&self) -> u16 {
        match self {
            Value::Untyped(_) => param::VALUE,
            Value::Typed { .. } | Value::Text { .. } | Value::Scalar(_) => param::VALUE_TYPED,
            Value::Data(_) => param::VALUE_DATA,
        }
    }

    /// The type id of a typed value.
    #[must_use]
    pub fn type_id(&self) -> Option<u16> {
        match *self {
            Value::Typed { type_id, .. } | Value::Text { type_id, .. } => Some(type_id),
            Value::Scalar(s) => Some(s.type_id()),
            Value::Untyped(_) | Value::Data(_) => None,
        }
    }

    /// The number of bytes the value carries (0 for [`Value::Data`]).
    #[must_use]
    pub fn byte_len(&self) -> usize {
        let (head, tail) = self.parts();
        head.len() + tail.1
    }

    /// The bytes as two pieces: a borrowed head and a small inline tail (the NUL of
    /// [`Value::Text`], the bytes of [`Value::Scalar`]).
    pub(crate) fn parts(&self) -> (&'a [u8], ([u8; 8], usize)) {
        match *self {
            Value::Untyped(bytes) | Value::Typed { bytes, .. } => (bytes, ([0; 8], 0)),
            Value::Text { text, .. } => (text.as_bytes(), ([0; 8], 1)),
            Value::Scalar(s) => (&[], s.to_le_bytes()),
            Value::Data(_) => (&[], ([0; 8], 0)),
        }
    }

    /// The value decoded according to its type: numbers converted from their wire form
    /// (little- or big-endian, widened as received), texts without their NUL. An untyped
    /// VALUE is `#opaque` bytes.
    ///
    /// # Errors
    /// For a VALUE-DATA ([`ValueError::DataReference`]), and for a fixed-size type whose byte
    /// count is wrong or type id 0 (never the case for a decoded value: the decoder refuses
    /// them).
    pub fn typed(&self) -> Result<TypedValue<'a>, ValueError> {
        match *self {
            Value::Untyped(bytes) => Ok(TypedValue::Opaque(bytes)),
            Value::Typed { type_id, bytes } => TypedValue::decode(type_id, bytes),
            Value::Text { type_id, text } => match type_id {
                type_id::STRINGZ => Ok(TypedValue::Stringz(Some(text_prefix(text.as_bytes())))),
                type_id::JSON => Ok(TypedValue::Json(text_prefix(text.as_bytes()))),
                type_id::UNSET => Err(ValueError::TypeIdZero),
                _ => {
                    // The bytes are the text and a NUL: contiguous only in the encoder's output,
                    // so only fixed-size types (copied here) can be decoded.
                    let found = text.len() + 1;
                    let Some(expected) = crate::types::fixed_size(type_id) else {
                        return Err(ValueError::NotRepresentable { type_id });
                    };
                    let mut buf = [0u8; 8];
                    match buf.get_mut(..text.len()) {
                        Some(head) if expected == found => head.copy_from_slice(text.as_bytes()),
                        _ => {
                            return Err(ValueError::BadSize {
                                type_id,
                                expected,
                                found,
                            })
                        }
                    }
                    crate::types::decode_fixed(type_id, buf.get(..found).unwrap_or_default())
                }
            },
            Value::Scalar(s) => Ok(match s {
                Scalar::Bool(b) => TypedValue::Bool(b),
                Scalar::I32(v) => TypedValue::I32(v),
                Scalar::U32(v) => TypedValue::U32(v),
                Scalar::I64(v) => TypedValue::I64(v),
                Scalar::U64(v) => TypedValue::U64(v),
                Scalar::F64(v) => TypedValue::F64(v),
            }),
            Value::Data(id) => Err(ValueError::DataReference(id)),
        }
    }
}

/// The text of `bytes` up to the first NUL (all of them when there is none).
pub(crate) fn text_prefix(bytes: &[u8]) -> Text<'_> {
    // `CStr` finds the NUL with the standard library's word-at-a-time
    // `memchr`, where a `position` loop reads a byte at a time.
    match std::ffi::CStr::from_bytes_until_nul(bytes) {
        Ok(text) => Text(text.to_bytes()),
        Err(_) => Text(bytes),
    }
}

impl<'a> From<Scalar> for Value<'a> {
    fn from(s: Scalar) -> Value<'a> {
        Value::Scalar(s)
    }
}

/// The wire identity of a value: parameter type and type id (or data id).
fn identity(v: &Value<'_>) -> (u16, u16) {
    match *v {
        Value::Data(id) => (param::VALUE_DATA, id),
        _ => (v.param_type(), v.type_id().unwrap_or(0)),
    }
}

impl PartialEq for Value<'_> {
    /// Same parameter type, same type id (or data id), same bytes.
    fn eq(&self, other: &Self) -> bool {
        if identity(self) != identity(other) || self.byte_len() != other.byte_len() {
            return false;
        }
        let (h1, (t1, n1)) = self.parts();
        let (h2, (t2, n2)) = other.parts();
        let a = h1.iter().chain(t1.get(..n1).unwrap_or_default());
        let b = h2.iter().chain(t2.get(..n2).unwrap_or_default());
        a.eq(b)
    }
}

impl fmt::Debug for Value<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Value::Untyped(bytes) => write!(f, "Untyped(b\"{}\")", bytes.escape_ascii()),
            Value::Typed { type_id, bytes } => {
                write!(f, "Typed(0x{type_id:04x}, b\"{}\")", bytes.escape_ascii())
            }
            Value::Text { type_id, text } => write!(f, "Text(0x{type_id:04x}, {text:?})"),
            Value::Scalar(s) => write!(f, "{s:?}"),
            Value::Data(id) => write!(f, "Data({id})"),
        }
    }
}

/// The values of a CALL-REQUEST, CALL-REPLY, EVENT-PUSH or EVENT-BROADCAST: a slice of
/// [`Value`]s to encode, or a view of the parameters of a received chunk.
#[derive(Clone, Copy)]
pub struct Values<'a>(Repr<'a>);

#[derive(Clone, Copy)]
enum Repr<'a> {
    List(&'a [Value<'a>]),
    /// `count` value parameters among the parameters of `chunk` from offset `start`, all
    /// checked by the decoder.
    Wire {
        chunk: &'a [u8],
        start: usize,
        count: u16,
    },
}

impl<'a> Values<'a> {
    /// No values.
    pub const EMPTY: Values<'static> = Values(Repr::List(&[]));

    /// The values of a slice.
    #[must_use]
    pub const fn new(list: &'a [Value<'a>]) -> Values<'a> {
        Values(Repr::List(list))
    }

    /// Values received in `chunk` (cut at its length), from parameter offset `start`.
    pub(crate) fn wire(chunk: &'a [u8], start: usize, count: u16) -> Values<'a> {
        Values(Repr::Wire { chunk, start, count })
    }

    /// The number of values.
    #[must_use]
    pub fn len(&self) -> usize {
        match self.0 {
            Repr::List(list) => list.len(),
            Repr::Wire { count, .. } => usize::from(count),
        }
    }

    /// Whether there are no values.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The values in order.
    #[must_use]
    pub fn iter(&self) -> ValuesIter<'a> {
        ValuesIter(match self.0 {
            Repr::List(list) => IterRepr::List(list.iter()),
            Repr::Wire { chunk, start, count } => IterRepr::Wire {
                params: ParamReader::new(chunk, start),
                remaining: count,
            },
        })
    }

    /// The value at `index` (walks the parameters of a received chunk: O(index)).
    #[must_use]
    pub fn get(&self, index: usize) -> Option<Value<'a>> {
        self.iter().nth(index)
    }

    /// The first value.
    #[must_use]
    pub fn first(&self) -> Option<Value<'a>> {
        self.get(0)
    }
}

impl Default for Values<'_> {
    fn default() -> Self {
        Values(Repr::List(&[]))
    }
}

impl<'a> From<&'a [Value<'a>]> for Values<'a> {
    fn from(list: &'a [Value<'a>]) -> Values<'a> {
        Values::new(list)
    }
}

impl<'a, const N: usize> From<&'a [Value<'a>; N]> for Values<'a> {
    fn from(list: &'a [Value<'a>; N]) -> Values<'a> {
        Values::new(list)
    }
}

impl PartialEq for Values<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl fmt::Debug for Values<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<'a> IntoIterator for Values<'a> {
    type Item = Value<'a>;
    type IntoIter = ValuesIter<'a>;
    fn into_iter(self) -> ValuesIter<'a> {
        self.iter()
    }
}

impl<'a> IntoIterator for &Values<'a> {
    type Item = Value<'a>;
    type IntoIter = ValuesIter<'a>;
    fn into_iter(self) -> ValuesIter<'a> {
        self.iter()
    }
}

/// Iterator over [`Values`].
#[derive(Clone)]
pub struct ValuesIter<'a>(IterRepr<'a>);

#[derive(Clone)]
enum IterRepr<'a> {
    List(std::slice::Iter<'a, Value<'a>>),
    Wire { params: ParamReader<'a>, remaining: u16 },
}

impl<'a> Iterator for ValuesIter<'a> {
    type Item = Value<'a>;

    fn next(&mut self) -> Option<Value<'a>> {
        match &mut self.0 {
            IterRepr::List(it) => it.next().copied(),
            IterRepr::Wire { params, remaining } => {
                if *remaining == 0 {
                    return None;
                }
                // The decoder checked these parameters: they are read without checks.
                match params.next_checked_value() {
                    Some(v) => {
                        *remaining -= 1;
                        Some(v)
                    }
                    None => {
                        *remaining = 0;
                        None
                    }
                }
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match &self.0 {
            IterRepr::List(it) => it.size_hint(),
            IterRepr::Wire { remaining, .. } => (0, Some(usize::from(*remaining))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_text_ends_at_its_first_nul() {
        assert_eq!(text_prefix(b"ping\0"), Text::from("ping"));
        assert_eq!(text_prefix(b"a\0b\0"), Text::from("a"));
        assert_eq!(text_prefix(b"\0"), Text::from(""));
        assert_eq!(text_prefix(b"no nul"), Text::from("no nul"));
        assert_eq!(text_prefix(b""), Text::from(""));
    }

    proptest! {
        #[test]
        fn the_prefix_is_what_a_byte_by_byte_search_finds(bytes in proptest::collection::vec(prop_oneof![Just(0u8), any::<u8>()], 0..80)) {
            let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
            prop_assert_eq!(text_prefix(&bytes).as_bytes(), &bytes[..end]);
        }
    }
}
