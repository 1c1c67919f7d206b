//! The error a verb returns: a status string and an optional info text.

use std::borrow::Cow;
use std::fmt;

use afb_core::status;

/// An error reply: a status (such as `"failed"` or `"invalid-request"`),
/// an optional info text and, rarely, a numeric code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// The status string sent to the client.
    pub status: Cow<'static, str>,
    /// Human-readable detail.
    pub info: Option<String>,
    /// Explicit numeric code (default: from the standard table, else -1).
    pub code: Option<i32>,
}

impl Error {
    /// An error with any status.
    pub fn new(status: impl Into<Cow<'static, str>>, info: impl Into<Option<String>>) -> Self {
        Error {
            status: status.into(),
            info: info.into(),
            code: None,
        }
    }

    /// Sets an explicit numeric code.
    pub fn with_code(mut self, code: i32) -> Self {
        self.code = Some(code);
        self
    }

    /// Status `"failed"`, the usual binding error.
    pub fn failed(info: impl Into<String>) -> Self {
        Self::new("failed", Some(info.into()))
    }

    /// Status `"invalid-request"`: the arguments are wrong.
    pub fn invalid_request(info: impl Into<String>) -> Self {
        Self::new(status::INVALID_REQUEST, Some(info.into()))
    }

    /// Status `"bad-state"`.
    pub fn bad_state(info: impl Into<String>) -> Self {
        Self::new(status::BAD_STATE, Some(info.into()))
    }

    /// Status `"no-item"`.
    pub fn no_item(info: impl Into<String>) -> Self {
        Self::new(status::NO_ITEM, Some(info.into()))
    }

    /// Status `"forbidden"`.
    pub fn forbidden(info: impl Into<String>) -> Self {
        Self::new(status::FORBIDDEN, Some(info.into()))
    }

    /// Status `"internal-error"`.
    pub fn internal(info: impl Into<String>) -> Self {
        Self::new(status::INTERNAL_ERROR, Some(info.into()))
    }

    /// Status `"not-available"`.
    pub fn not_available(info: impl Into<String>) -> Self {
        Self::new(status::NOT_AVAILABLE, Some(info.into()))
    }

    /// Converts to the core reply.
    pub fn into_reply(self) -> afb_core::Reply {
        let code = self.code;
        let r = afb_core::Reply::error(self.status, self.info);
        match code {
            Some(c) => r.with_code(c),
            None => r,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.info {
            Some(i) => write!(f, "{}: {}", self.status, i),
            None => f.write_str(&self.status),
        }
    }
}

impl std::error::Error for Error {}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::invalid_request(format!("bad arguments: {e}"))
    }
}

impl From<afb_core::SubscribeError> for Error {
    fn from(e: afb_core::SubscribeError) -> Self {
        Error::failed(e.to_string())
    }
}

impl From<afb_core::name::NameError> for Error {
    fn from(e: afb_core::name::NameError) -> Self {
        Error::invalid_request(e.to_string())
    }
}

impl From<afb_core::session::SessionError> for Error {
    fn from(e: afb_core::session::SessionError) -> Self {
        Error::invalid_request(e.to_string())
    }
}

/// A failed call of another verb becomes the same error.
impl From<afb_core::Reply> for Error {
    fn from(r: afb_core::Reply) -> Self {
        Error {
            status: r.status,
            info: r.info,
            code: Some(r.code),
        }
    }
}

/// Why an API could not be built or registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildError {
    /// A bad or taken name (API, alias or verb), as the registry says.
    Register(afb_core::registry::RegisterError),
    /// A verb takes a [`crate::State<T>`] and the API was given no state of
    /// that type ([`crate::ApiBuilder::state`]).
    NoState {
        /// The API.
        api: String,
        /// The verb.
        verb: String,
        /// The state type the verb takes.
        state: &'static str,
    },
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::Register(e) => e.fmt(f),
            BuildError::NoState { api, verb, state } => write!(
                f,
                "verb {api}/{verb} takes a State<{state}> but the API has no state of that type (ApiBuilder::state)"
            ),
        }
    }
}

impl std::error::Error for BuildError {}

impl From<afb_core::registry::RegisterError> for BuildError {
    fn from(e: afb_core::registry::RegisterError) -> Self {
        BuildError::Register(e)
    }
}
