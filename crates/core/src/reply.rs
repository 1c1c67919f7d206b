//! Replies: the one answer every request gets.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use serde::Serialize;
use serde_json::value::RawValue;

use crate::status;
use crate::typed::TypedList;

/// The reply to a request: a status (`"success"` or an error string), its
/// numeric code, an optional info text and optional JSON data.
#[derive(Clone)]
pub struct Reply {
    /// `"success"` or an error status such as `"failed"`.
    pub status: Cow<'static, str>,
    /// Numeric code: 0 for success, the standard table's code, or -1.
    pub code: i32,
    /// Optional human-readable text.
    pub info: Option<String>,
    /// Optional JSON data (`response` in the envelope).
    pub data: Option<Box<RawValue>>,
    /// The session's new token when the verb renewed it (set by the core).
    pub token: Option<Arc<str>>,
    /// The data as typed values, when a v4 binding or a link gave it typed
    /// (`data` is then their JSON rendering). See [`crate::typed`].
    pub typed: Option<TypedList>,
}

impl Reply {
    /// A successful reply with optional data and info.
    pub fn success(data: Option<Box<RawValue>>, info: Option<String>) -> Self {
        Reply {
            status: Cow::Borrowed(status::SUCCESS),
            code: 0,
            info,
            data,
            token: None,
            typed: None,
        }
    }

    /// A successful reply serialising `value` as its data.
    pub fn success_json<T: Serialize + ?Sized>(value: &T) -> Self {
        match to_raw(value) {
            Ok(raw) => Self::success(Some(raw), None),
            Err(e) => Self::error(status::INTERNAL_ERROR, Some(format!("reply not serialisable: {e}"))),
        }
    }

    /// An error reply; the code comes from the standard table (-1 otherwise).
    pub fn error(status: impl Into<Cow<'static, str>>, info: Option<String>) -> Self {
        let status = status.into();
        let code = status::code_of(&status);
        Reply {
            status,
            code,
            info,
            data: None,
            token: None,
            typed: None,
        }
    }

    /// Replaces the numeric code.
    pub fn with_code(mut self, code: i32) -> Self {
        self.code = code;
        self
    }

    /// Replaces the data.
    pub fn with_data(mut self, data: Option<Box<RawValue>>) -> Self {
        self.data = data;
        self
    }

    /// Sets the typed data; `data` should be its JSON rendering.
    pub fn with_typed(mut self, typed: Option<TypedList>) -> Self {
        self.typed = typed;
        self
    }

    /// Whether the status is `"success"`.
    pub fn is_success(&self) -> bool {
        self.status == status::SUCCESS
    }

    /// The data as JSON text, `None` when absent.
    pub fn data_json(&self) -> Option<&str> {
        self.data.as_deref().map(RawValue::get)
    }
}

impl fmt::Debug for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The token is a credential: never print it.
        f.debug_struct("Reply")
            .field("status", &self.status)
            .field("code", &self.code)
            .field("info", &self.info)
            .field("data", &self.data_json())
            .field("typed", &self.typed)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Serialises a value into raw JSON text.
pub fn to_raw<T: Serialize + ?Sized>(value: &T) -> Result<Box<RawValue>, serde_json::Error> {
    serde_json::value::to_raw_value(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constructors() {
        let r = Reply::success_json(&serde_json::json!({"a": 1}));
        assert!(r.is_success());
        assert_eq!(r.code, 0);
        assert_eq!(r.data_json(), Some(r#"{"a":1}"#));

        let e = Reply::error("unknown-verb", Some("no verb x".into()));
        assert!(!e.is_success());
        assert_eq!(e.code, -4);
        let f = Reply::error("failed", None).with_code(-42);
        assert_eq!(f.code, -42);
        assert_eq!(Reply::error("failed", None).code, -1);
    }

    #[test]
    fn debug_hides_token() {
        let mut r = Reply::success(None, None);
        r.token = Some("secret-token".into());
        let s = format!("{r:?}");
        assert!(!s.contains("secret-token"), "{s}");
    }
}
