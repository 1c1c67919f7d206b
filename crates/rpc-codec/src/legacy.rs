//! Replies of legacy bindings (the v1-v3 reply style: a JSON object, an error text, an info
//! text) travel as 4 values: JSON, STRINGZ error, STRINGZ info, STRINGZ `legacy-tag`. An
//! absent error or info is a STRINGZ without bytes.
//!
//! [`legacy_reply_values`] builds these values (what a C front expects from a legacy binding
//! of ours), [`parse_legacy_reply`] recognises them in a received reply.

use crate::status;
use crate::types::{type_id, TypedValue};
use crate::value::{Text, Value, Values};

/// The text of the fourth value of a legacy reply (sent with its NUL: 11 bytes).
pub const LEGACY_TAG: &str = "legacy-tag";

/// The status of a legacy reply: 0 without error, the standard code of a standard error name
/// (`unknown-verb` -> -4...), else -1000 (an error text defined by the binding).
#[must_use]
pub fn legacy_status(error: Option<&str>) -> i32 {
    match error {
        None => status::SUCCESS,
        Some(name) => match status::from_name(name) {
            Some(code) if code < 0 => code,
            _ => status::USER_ERROR_MAX,
        },
    }
}

/// The 4 values of a legacy reply: `response` as JSON text, `error` and `info` as STRINGZ
/// (absent when `None`), and the tag.
#[must_use]
pub fn legacy_reply_values<'a>(response: &'a str, error: Option<&'a str>, info: Option<&'a str>) -> [Value<'a>; 4] {
    [
        Value::json(response),
        Value::stringz(error),
        Value::stringz(info),
        Value::stringz(Some(LEGACY_TAG)),
    ]
}

/// A reply recognised as a legacy reply.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LegacyReply<'a> {
    /// The first value (normally JSON).
    pub response: Value<'a>,
    /// The error text; `None` when absent or empty.
    pub error: Option<Text<'a>>,
    /// The info text; `None` when absent or empty.
    pub info: Option<Text<'a>>,
}

/// Recognises a legacy reply: exactly 4 values, the second and third STRINGZ, the last the
/// STRINGZ `legacy-tag`. `None` for any other reply.
#[must_use]
pub fn parse_legacy_reply<'a>(values: &Values<'a>) -> Option<LegacyReply<'a>> {
    if values.len() != 4 {
        return None;
    }
    let mut it = values.iter();
    let (response, error, info, tag) = (it.next()?, it.next()?, it.next()?, it.next()?);
    let stringz = |v: Value<'a>| -> Option<Option<Text<'a>>> {
        if v.type_id() != Some(type_id::STRINGZ) {
            return None;
        }
        match v.typed().ok()? {
            TypedValue::Stringz(text) => Some(text.filter(|t| !t.is_empty())),
            _ => None,
        }
    };
    // The tag of a received reply is checked on its bytes (no decoding).
    let tagged = match tag {
        Value::Typed {
            type_id: type_id::STRINGZ,
            bytes,
        } => {
            let n = LEGACY_TAG.len();
            bytes.get(..n) == Some(LEGACY_TAG.as_bytes()) && bytes.get(n).is_none_or(|&b| b == 0)
        }
        other => stringz(other)?? == LEGACY_TAG,
    };
    if !tagged {
        return None;
    }
    Some(LegacyReply {
        response,
        error: stringz(error)?,
        info: stringz(info)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_of_legacy_errors() {
        assert_eq!(legacy_status(None), 0);
        assert_eq!(legacy_status(Some("unknown-verb")), -4);
        assert_eq!(legacy_status(Some("failed")), -1000);
        assert_eq!(legacy_status(Some("success")), -1000);
    }

    #[test]
    fn build_and_recognise() {
        let values = legacy_reply_values("\"Some String\"", None, Some("Ping count=1"));
        let parsed = parse_legacy_reply(&Values::new(&values)).unwrap();
        assert_eq!(parsed.response, Value::json("\"Some String\""));
        assert_eq!(parsed.error, None);
        assert_eq!(parsed.info, Some(Text::from("Ping count=1")));
        // The tag travels as 11 bytes.
        assert_eq!(values[3].byte_len(), 11);
        assert_eq!(values[1].byte_len(), 0);
    }

    #[test]
    fn other_replies_are_not_legacy() {
        let three = [Value::json("{}"), Value::stringz(None), Value::stringz(Some("x"))];
        assert_eq!(parse_legacy_reply(&Values::new(&three)), None);
        let wrong_tag = [
            Value::json("{}"),
            Value::stringz(None),
            Value::stringz(None),
            Value::stringz(Some("legacy")),
        ];
        assert_eq!(parse_legacy_reply(&Values::new(&wrong_tag)), None);
        let json_tag = [
            Value::json("{}"),
            Value::stringz(None),
            Value::stringz(None),
            Value::json(LEGACY_TAG),
        ];
        assert_eq!(parse_legacy_reply(&Values::new(&json_tag)), None);
        let not_text = [
            Value::json("{}"),
            Value::bytearray(b"x"),
            Value::stringz(None),
            Value::stringz(Some(LEGACY_TAG)),
        ];
        assert_eq!(parse_legacy_reply(&Values::new(&not_text)), None);
    }
}
