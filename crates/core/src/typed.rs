//! Typed data: values that keep their type and bytes as a v4 binding made
//! them (`#bytearray`, `#double`, `#i64`, a binding's named type...), so
//! that they can travel between v4 bindings, locally or over an RPC v3 link,
//! without a round trip through JSON.
//!
//! A request's [`Args`](crate::Args), a [`Reply`](crate::Reply) and event
//! pushes carry an optional [`TypedList`] **beside** their JSON: the JSON is
//! what JSON clients (HTTP, wsj1, wsapi v1, SDK bindings) read; the typed
//! list, when present, is what typed consumers (v4 C bindings, RPC links)
//! read instead. Producers fill both: [`json_of`] gives the JSON rendering.
//!
//! Byte layout: numbers are little-endian (`#bool` is one byte, 0 or 1;
//! `#i32`/`#u32` 4 bytes; `#i64`/`#u64`/`#double` 8 bytes); `#stringz`,
//! `#json` and `#json_c` hold their text without a trailing NUL; `#UUID` its
//! 16 bytes; `#bytearray` and named types their bytes as they are.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use serde_json::value::RawValue;

/// The names of the predefined types.
pub mod names {
    /// A local pointer: never leaves its process.
    pub const OPAQUE: &str = "#opaque";
    /// A text.
    pub const STRINGZ: &str = "#stringz";
    /// A JSON text.
    pub const JSON: &str = "#json";
    /// A json-c object (its JSON text here).
    pub const JSON_C: &str = "#json_c";
    /// A boolean (one byte).
    pub const BOOL: &str = "#bool";
    /// A signed 32-bit integer.
    pub const I32: &str = "#i32";
    /// An unsigned 32-bit integer.
    pub const U32: &str = "#u32";
    /// A signed 64-bit integer.
    pub const I64: &str = "#i64";
    /// An unsigned 64-bit integer.
    pub const U64: &str = "#u64";
    /// An IEEE-754 double.
    pub const DOUBLE: &str = "#double";
    /// Bytes.
    pub const BYTEARRAY: &str = "#bytearray";
    /// The 16 bytes of a UUID.
    pub const UUID: &str = "#UUID";

    /// All of them.
    pub const ALL: [&str; 12] = [
        OPAQUE, STRINGZ, JSON, JSON_C, BOOL, I32, U32, I64, U64, DOUBLE, BYTEARRAY, UUID,
    ];
}

/// The largest number of values in one list (as the C binders' bound on a
/// reply's or call's data count).
pub const MAX_VALUES: usize = 1024;

/// One typed value: a type name and its bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct TypedValue {
    type_name: Cow<'static, str>,
    bytes: Box<[u8]>,
}

/// A list of typed values, shared cheaply between the receivers of a reply
/// or an event.
pub type TypedList = Arc<[TypedValue]>;

impl TypedValue {
    /// A value of type `type_name` (a predefined `#...` name or a binding's
    /// named type) holding `bytes`, laid out as the module says.
    pub fn new(type_name: &str, bytes: impl Into<Box<[u8]>>) -> Self {
        let type_name = match names::ALL.iter().find(|n| **n == type_name) {
            Some(n) => Cow::Borrowed(*n),
            None => Cow::Owned(type_name.to_owned()),
        };
        TypedValue {
            type_name,
            bytes: bytes.into(),
        }
    }

    fn predefined(type_name: &'static str, bytes: impl Into<Box<[u8]>>) -> Self {
        TypedValue {
            type_name: Cow::Borrowed(type_name),
            bytes: bytes.into(),
        }
    }

    /// A `#bytearray`.
    pub fn bytearray(bytes: &[u8]) -> Self {
        Self::predefined(names::BYTEARRAY, bytes)
    }

    /// A `#double`.
    pub fn double(v: f64) -> Self {
        Self::predefined(names::DOUBLE, v.to_le_bytes())
    }

    /// A `#i32`.
    pub fn i32(v: i32) -> Self {
        Self::predefined(names::I32, v.to_le_bytes())
    }

    /// A `#u32`.
    pub fn u32(v: u32) -> Self {
        Self::predefined(names::U32, v.to_le_bytes())
    }

    /// A `#i64`.
    pub fn i64(v: i64) -> Self {
        Self::predefined(names::I64, v.to_le_bytes())
    }

    /// A `#u64`.
    pub fn u64(v: u64) -> Self {
        Self::predefined(names::U64, v.to_le_bytes())
    }

    /// A `#bool`.
    pub fn bool(v: bool) -> Self {
        Self::predefined(names::BOOL, [u8::from(v)])
    }

    /// A `#stringz`.
    pub fn stringz(text: &str) -> Self {
        Self::predefined(names::STRINGZ, text.as_bytes())
    }

    /// A `#json` holding `text`.
    pub fn json(text: &str) -> Self {
        Self::predefined(names::JSON, text.as_bytes())
    }

    /// The type's name.
    pub fn type_name(&self) -> &str {
        &self.type_name
    }

    /// The type's name when it is a predefined one (the static copy).
    pub fn predefined_name(&self) -> Option<&'static str> {
        match self.type_name {
            Cow::Borrowed(n) => Some(n),
            Cow::Owned(_) => None,
        }
    }

    /// The bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Whether JSON says all of it: `#json`, `#json_c` and `#stringz` values
    /// (a list of only these needs no typed form).
    pub fn is_json_like(&self) -> bool {
        matches!(&*self.type_name, names::JSON | names::JSON_C | names::STRINGZ)
    }

    /// The value as an `f64` when it is a `#double` of 8 bytes.
    pub fn as_f64(&self) -> Option<f64> {
        (self.type_name == names::DOUBLE)
            .then(|| le8(&self.bytes).map(f64::from_le_bytes))
            .flatten()
    }

    /// Appends the JSON rendering of the value to `out`:
    /// - `#json`/`#json_c`: the text when it is valid JSON, else the text as a string;
    /// - `#stringz`: a string (invalid UTF-8 with replacement characters);
    /// - `#bool`, integers: a number (`true`/`false`); `#double`: a number, NaN and infinities `null`;
    /// - `#bytearray`: the array of the byte values, e.g. `[1,2,255]`;
    /// - `#UUID`: the uuid string;
    /// - `#opaque`, a named type, or a number of the wrong size: `null`.
    pub fn push_json(&self, out: &mut Vec<u8>) {
        let b = &*self.bytes;
        match &*self.type_name {
            names::JSON | names::JSON_C => match std::str::from_utf8(b) {
                Ok(s) if serde_json::from_str::<&RawValue>(s).is_ok() => out.extend_from_slice(s.trim().as_bytes()),
                _ => push_str(&String::from_utf8_lossy(b), out),
            },
            names::STRINGZ => push_str(&String::from_utf8_lossy(b), out),
            names::BOOL if b.len() == 1 => out.extend_from_slice(if b[0] != 0 { b"true" } else { b"false" }),
            names::I32 => push_num(le4(b).map(i32::from_le_bytes), out),
            names::U32 => push_num(le4(b).map(u32::from_le_bytes), out),
            names::I64 => push_num(le8(b).map(i64::from_le_bytes), out),
            names::U64 => push_num(le8(b).map(u64::from_le_bytes), out),
            names::DOUBLE => match le8(b).map(f64::from_le_bytes) {
                Some(f) if f.is_finite() => {
                    let _ = serde_json::to_writer(&mut *out, &f);
                }
                _ => out.extend_from_slice(b"null"),
            },
            names::BYTEARRAY => {
                out.push(b'[');
                for (i, x) in b.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    push_num(Some(x), out);
                }
                out.push(b']');
            }
            names::UUID => match <[u8; 16]>::try_from(b) {
                Ok(u) => push_str(&uuid::Uuid::from_bytes(u).hyphenated().to_string(), out),
                Err(_) => out.extend_from_slice(b"null"),
            },
            _ => out.extend_from_slice(b"null"),
        }
    }
}

fn le4(b: &[u8]) -> Option<[u8; 4]> {
    b.try_into().ok()
}

fn le8(b: &[u8]) -> Option<[u8; 8]> {
    b.try_into().ok()
}

fn push_str(text: &str, out: &mut Vec<u8>) {
    // Writing a string into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, text);
}

fn push_num(n: Option<impl fmt::Display>, out: &mut Vec<u8>) {
    use std::io::Write;
    match n {
        Some(n) => {
            let _ = write!(out, "{n}");
        }
        None => out.extend_from_slice(b"null"),
    }
}

/// The JSON rendering of a list: none -> `None`, one -> its JSON, several ->
/// the array of their JSON.
pub fn json_of(values: &[TypedValue]) -> Option<Box<RawValue>> {
    let mut out = Vec::new();
    match values {
        [] => return None,
        [one] => one.push_json(&mut out),
        many => {
            out.push(b'[');
            for (i, v) in many.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                v.push_json(&mut out);
            }
            out.push(b']');
        }
    }
    // What push_json writes is valid UTF-8 JSON; stay total anyway.
    let text = String::from_utf8(out).ok()?;
    RawValue::from_string(text).ok()
}

/// Whether a list needs its typed form: it holds a value that is not
/// [`TypedValue::is_json_like`].
pub fn needs_typed(values: &[TypedValue]) -> bool {
    values.iter().any(|v| !v.is_json_like())
}

impl fmt::Debug for TypedValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 32;
        let b = &self.bytes[..self.bytes.len().min(SHOWN)];
        write!(f, "{}(", self.type_name)?;
        for x in b {
            write!(f, "{x:02x}")?;
        }
        if self.bytes.len() > SHOWN {
            write!(f, "..; {} bytes", self.bytes.len())?;
        }
        write!(f, ")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn json(values: &[TypedValue]) -> Option<String> {
        json_of(values).map(|r| r.get().to_owned())
    }

    #[test]
    fn renderings() {
        assert_eq!(json(&[]), None);
        assert_eq!(
            json(&[TypedValue::bytearray(&[1, 2, 255])]).as_deref(),
            Some("[1,2,255]")
        );
        assert_eq!(json(&[TypedValue::bytearray(&[])]).as_deref(), Some("[]"));
        assert_eq!(
            json(&[TypedValue::double(0.1 + 0.2)]).as_deref(),
            Some("0.30000000000000004")
        );
        assert_eq!(json(&[TypedValue::double(-0.0)]).as_deref(), Some("-0.0"));
        assert_eq!(json(&[TypedValue::double(f64::NAN)]).as_deref(), Some("null"));
        assert_eq!(
            json(&[TypedValue::i64((1 << 53) + 1)]).as_deref(),
            Some("9007199254740993")
        );
        assert_eq!(
            json(&[TypedValue::u64(u64::MAX)]).as_deref(),
            Some("18446744073709551615")
        );
        assert_eq!(
            json(&[TypedValue::i32(-3), TypedValue::u32(7)]).as_deref(),
            Some("[-3,7]")
        );
        assert_eq!(json(&[TypedValue::bool(true)]).as_deref(), Some("true"));
        assert_eq!(
            json(&[TypedValue::json(" {\"a\": 1}\n")]).as_deref(),
            Some("{\"a\": 1}")
        );
        assert_eq!(json(&[TypedValue::json("{bad")]).as_deref(), Some("\"{bad\""));
        assert_eq!(json(&[TypedValue::stringz("x\"y")]).as_deref(), Some("\"x\\\"y\""));
        let u: Vec<u8> = (0..16).collect();
        assert_eq!(
            json(&[TypedValue::new("#UUID", u)]).as_deref(),
            Some("\"00010203-0405-0607-0809-0a0b0c0d0e0f\"")
        );
        assert_eq!(json(&[TypedValue::new("mytype", vec![1, 2])]).as_deref(), Some("null"));
        assert_eq!(json(&[TypedValue::new("#i32", vec![1])]).as_deref(), Some("null"));
        assert_eq!(json(&[TypedValue::new("#opaque", vec![1; 8])]).as_deref(), Some("null"));
    }

    #[test]
    fn names_and_kinds() {
        let v = TypedValue::new("#double", 1.5f64.to_le_bytes().to_vec());
        assert_eq!(v.predefined_name(), Some("#double"));
        assert_eq!(v.as_f64(), Some(1.5));
        assert_eq!(v, TypedValue::double(1.5));
        let n = TypedValue::new("point", vec![0; 3]);
        assert_eq!((n.type_name(), n.predefined_name()), ("point", None));
        assert!(!needs_typed(&[TypedValue::json("1"), TypedValue::stringz("a")]));
        assert!(needs_typed(&[TypedValue::json("1"), TypedValue::bytearray(b"a")]));
        assert!(needs_typed(&[n]));
        let long = format!("{:?}", TypedValue::bytearray(&[0xab; 100]));
        assert!(
            long.starts_with("#bytearray(abab") && long.ends_with("..; 100 bytes)"),
            "{long}"
        );
    }

    proptest! {
        /// Every rendering is valid JSON, and numbers read back as the value.
        #[test]
        fn renderings_are_json(bytes in proptest::collection::vec(any::<u8>(), 0..64),
                               f in any::<f64>(), i in any::<i64>(), u in any::<u64>(),
                               name in prop::sample::select(names::ALL.to_vec())) {
            let v = TypedValue::new(name, bytes.clone());
            let list = [v, TypedValue::double(f), TypedValue::i64(i), TypedValue::u64(u),
                        TypedValue::bytearray(&bytes)];
            let text = json(&list).unwrap();
            let back: serde_json::Value = serde_json::from_str(&text).unwrap();
            let arr = back.as_array().unwrap();
            prop_assert_eq!(arr.len(), 5);
            let raw: Vec<&RawValue> = serde_json::from_str(&text).unwrap();
            if f.is_finite() {
                // Read back exactly (serde_json's own float parsing may round).
                prop_assert_eq!(raw[1].get().parse::<f64>().unwrap().to_bits(), f.to_bits());
            } else {
                prop_assert!(arr[1].is_null());
            }
            prop_assert_eq!(arr[2].as_i64(), Some(i));
            prop_assert_eq!(arr[3].as_u64(), Some(u));
            let b: Vec<u8> = arr[4].as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u8).collect();
            prop_assert_eq!(b, bytes);
        }
    }
}
