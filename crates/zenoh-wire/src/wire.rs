//! What travels beside the payloads: the attachment of a call (who calls),
//! the attachment of a reply (its status and what the call changed), the
//! payload of an error reply and the attachment of a broadcast. Each is a
//! small JSON object; everything from a foreign peer is checked and bounded
//! before use.

use serde::{Deserialize, Serialize};

/// Largest attachment accepted.
pub const MAX_ATTACHMENT: usize = 64 * 1024;
/// Longest session uuid accepted.
pub const MAX_SESSION: usize = 256;
/// Longest token accepted.
pub const MAX_TOKEN: usize = 4096;
/// Longest status accepted in a reply.
pub const MAX_STATUS: usize = 128;
/// Events one reply may (un)subscribe.
pub const MAX_EVENTS: usize = 256;

/// The payload encoding of JSON values (the only one today).
pub const JSON: &str = "application/json";

/// The attachment of a call.
#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CallAtt {
    /// The caller's session uuid (the called binder uses the same session).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// The token the client presented.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// The session's level of assurance for the API, as the caller knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loa: Option<u8>,
    /// The client's credentials, `UID:GID:PID-LABEL` in hexadecimal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creds: Option<String>,
}

/// The attachment of a reply.
#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq)]
pub struct ReplyAtt {
    /// `success` or an error status.
    pub status: String,
    /// Its numeric code.
    #[serde(default)]
    pub code: i32,
    /// Text for humans.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub info: Option<String>,
    /// The session the call ran in (new when the call named none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// The session's level of assurance for the API after the call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loa: Option<u8>,
    /// Events the call subscribed the client to (`API/NAME`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subscribe: Vec<String>,
    /// Events the call unsubscribed the client from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unsubscribe: Vec<String>,
}

/// The payload of an error reply (a query the binder could not take).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ErrorPayload {
    /// An error status (`invalid-request`, `not-available`...).
    pub status: String,
    /// Why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub info: Option<String>,
}

/// The attachment of a broadcast.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BroadcastAtt {
    /// The broadcast's uuid (hyphenated), the same on every binder.
    pub uuid: String,
    /// Hops it may still make.
    pub hop: u8,
    /// The binder that published it.
    pub from: String,
}

/// Parses a JSON attachment of at most [`MAX_ATTACHMENT`] bytes.
pub fn parse<'de, T: Deserialize<'de>>(bytes: &'de [u8]) -> Result<T, String> {
    if bytes.len() > MAX_ATTACHMENT {
        return Err(format!(
            "attachment of {} bytes (at most {MAX_ATTACHMENT})",
            bytes.len()
        ));
    }
    serde_json::from_slice(bytes).map_err(|e| format!("malformed attachment: {e}"))
}

impl CallAtt {
    /// Checks the bounds of what a foreign peer sent.
    pub fn check(&self) -> Result<(), String> {
        if let Some(s) = &self.session {
            if s.is_empty() || s.len() > MAX_SESSION {
                return Err(format!("session uuid of {} bytes (1..={MAX_SESSION})", s.len()));
            }
        }
        if let Some(t) = &self.token {
            if t.len() > MAX_TOKEN {
                return Err(format!("token of {} bytes (at most {MAX_TOKEN})", t.len()));
            }
        }
        if self.loa.is_some_and(|l| l > 7) {
            return Err("loa above 7".into());
        }
        Ok(())
    }
}

impl ErrorPayload {
    /// Checks the bounds of what a foreign peer sent.
    pub fn check(&self) -> Result<(), String> {
        if self.status.is_empty() || self.status.len() > MAX_STATUS {
            return Err(format!("status of {} bytes (1..={MAX_STATUS})", self.status.len()));
        }
        Ok(())
    }
}

impl ReplyAtt {
    /// Checks the bounds of what a foreign peer sent.
    pub fn check(&self) -> Result<(), String> {
        if self.status.is_empty() || self.status.len() > MAX_STATUS {
            return Err(format!("status of {} bytes (1..={MAX_STATUS})", self.status.len()));
        }
        if self.subscribe.len() + self.unsubscribe.len() > MAX_EVENTS {
            return Err(format!("more than {MAX_EVENTS} events (un)subscribed"));
        }
        if self.loa.is_some_and(|l| l > 7) {
            return Err("loa above 7".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_attachment() {
        let a: CallAtt = parse(br#"{"session":"s1","token":"t","loa":2,"creds":"0:0:1-x"}"#).unwrap();
        assert_eq!(a.session.as_deref(), Some("s1"));
        assert!(a.check().is_ok());
        assert!(parse::<CallAtt>(br#"{"session":1}"#).is_err());
        assert!(parse::<CallAtt>(br#"{"sessoin":"x"}"#).is_err(), "unknown field");
        assert!(parse::<CallAtt>(b"\xff\xfe").is_err());
        assert!(parse::<CallAtt>(&vec![b' '; MAX_ATTACHMENT + 1]).is_err());
        let long = CallAtt {
            session: Some("x".repeat(MAX_SESSION + 1)),
            ..CallAtt::default()
        };
        assert!(long.check().is_err());
        let loa = CallAtt {
            loa: Some(8),
            ..CallAtt::default()
        };
        assert!(loa.check().is_err());
        assert_eq!(serde_json::to_string(&CallAtt::default()).unwrap(), "{}");
    }

    #[test]
    fn reply_attachment() {
        let r: ReplyAtt = parse(br#"{"status":"success","subscribe":["hello/tick"]}"#).unwrap();
        assert_eq!((r.code, r.subscribe.len()), (0, 1));
        assert!(r.check().is_ok());
        let bad = ReplyAtt {
            status: String::new(),
            ..ReplyAtt::default()
        };
        assert!(bad.check().is_err());
        let many = ReplyAtt {
            status: "success".into(),
            subscribe: vec!["a/b".into(); MAX_EVENTS + 1],
            ..ReplyAtt::default()
        };
        assert!(many.check().is_err());
    }
}

/// The schema of the payload encoding of typed values (`zenoh/bytes;afb-typed`).
pub const TYPED_SCHEMA: &str = "afb-typed";
/// The whole encoding of typed values, as Zenoh writes it.
pub const TYPED: &str = "zenoh/bytes;afb-typed";

/// Typed values as a payload: the count (u16, little-endian), then for each
/// value its type name's length (u8) and name (UTF-8), its length (u32,
/// little-endian) and bytes. Lists are at most [`afb_core::typed::MAX_VALUES`]
/// long everywhere in the binder; a type name longer than 255 bytes (none of
/// the predefined ones) is cut at the last character boundary that fits.
pub fn encode_typed(values: &[afb_core::typed::TypedValue]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(values.len().min(usize::from(u16::MAX)) as u16).to_le_bytes());
    for v in values.iter().take(usize::from(u16::MAX)) {
        let name = v.type_name();
        let mut cut = name.len().min(255);
        while !name.is_char_boundary(cut) {
            cut -= 1;
        }
        let name = &name.as_bytes()[..cut];
        out.push(name.len() as u8);
        out.extend_from_slice(name);
        let b = v.bytes();
        out.extend_from_slice(&(b.len().min(u32::MAX as usize) as u32).to_le_bytes());
        out.extend_from_slice(b);
    }
    out
}

/// The values of a typed payload; an error for a truncated or oversized
/// list, a type name that is not UTF-8, or bytes left over.
pub fn decode_typed(mut b: &[u8]) -> Result<Vec<afb_core::typed::TypedValue>, String> {
    fn take<'a>(b: &mut &'a [u8], n: usize) -> Result<&'a [u8], String> {
        if b.len() < n {
            return Err("truncated typed payload".into());
        }
        let (h, t) = b.split_at(n);
        *b = t;
        Ok(h)
    }
    let n = take(&mut b, 2)?;
    let count = usize::from(u16::from_le_bytes([n[0], n[1]]));
    if count > afb_core::typed::MAX_VALUES {
        return Err(format!(
            "{count} typed values (at most {})",
            afb_core::typed::MAX_VALUES
        ));
    }
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let l = usize::from(take(&mut b, 1)?[0]);
        let name = std::str::from_utf8(take(&mut b, l)?).map_err(|_| "type name not UTF-8".to_owned())?;
        if name.is_empty() {
            return Err("empty type name".into());
        }
        let l = take(&mut b, 4)?;
        let len = u32::from_le_bytes([l[0], l[1], l[2], l[3]]) as usize;
        out.push(afb_core::typed::TypedValue::new(name, take(&mut b, len)?.to_vec()));
    }
    if !b.is_empty() {
        return Err(format!("{} bytes after the typed values", b.len()));
    }
    Ok(out)
}

#[cfg(test)]
mod typed_tests {
    use super::*;
    use afb_core::typed::TypedValue;

    #[test]
    fn typed_round_trip_and_bad_input() {
        let v = vec![
            TypedValue::double(1.5),
            TypedValue::bytearray(&[0, 1, 255]),
            TypedValue::new("my-type", vec![9u8; 3]),
        ];
        let e = encode_typed(&v);
        assert_eq!(decode_typed(&e).unwrap(), v);
        assert_eq!(decode_typed(&[0, 0]).unwrap(), vec![]);
        for bad in [&e[..e.len() - 1], &[1, 0][..], &[1, 0, 0, 0, 0, 0, 0][..], &[1][..]] {
            assert!(decode_typed(bad).is_err(), "{bad:?}");
        }
        let mut extra = e.clone();
        extra.push(0);
        assert!(decode_typed(&extra).is_err());
        assert!(decode_typed(&[0xff, 0xff]).is_err(), "too many values");
        assert!(decode_typed(&[1, 0, 1, 0xff, 0, 0, 0, 0]).is_err(), "name not UTF-8");
    }
}
