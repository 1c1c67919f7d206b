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
