//! Reply statuses and their numeric codes, as the C binders put them on the wire.

/// The status of a successful reply.
pub const SUCCESS: &str = "success";

/// Standard error statuses with their codes (`concepts.md`).
pub const STANDARD: &[(&str, i32)] = &[
    (SUCCESS, 0),
    (INTERNAL_ERROR, -1),
    (OUT_OF_MEMORY, -2),
    (UNKNOWN_API, -3),
    (UNKNOWN_VERB, -4),
    (NOT_AVAILABLE, -5),
    (UNAUTHORIZED, -6),
    (INVALID_TOKEN, -7),
    (FORBIDDEN, -8),
    (INSUFFICIENT_SCOPE, -9),
    (BAD_API_STATE, -10),
    (NOT_REPLIED, -11),
    (INVALID_REQUEST, -12),
    (NO_ITEM, -13),
    (BAD_STATE, -14),
    (DISCONNECTED, -15),
    (TIMEOUT, -16),
];

/// Unexpected failure inside the binder or a binding (a panicking verb).
pub const INTERNAL_ERROR: &str = "internal-error";
/// Memory could not be obtained.
pub const OUT_OF_MEMORY: &str = "out-of-memory";
/// No such API.
pub const UNKNOWN_API: &str = "unknown-api";
/// No such verb in the API.
pub const UNKNOWN_VERB: &str = "unknown-verb";
/// The service is not available (also: too much work queued).
pub const NOT_AVAILABLE: &str = "not-available";
/// The client is not authorised.
pub const UNAUTHORIZED: &str = "unauthorized";
/// The token check failed.
pub const INVALID_TOKEN: &str = "invalid-token";
/// The operation is forbidden.
pub const FORBIDDEN: &str = "forbidden";
/// LOA or permission too low.
pub const INSUFFICIENT_SCOPE: &str = "insufficient-scope";
/// The API is not started or failed.
pub const BAD_API_STATE: &str = "bad-api-state";
/// The verb never replied.
pub const NOT_REPLIED: &str = "not-replied";
/// Malformed request.
pub const INVALID_REQUEST: &str = "invalid-request";
/// No such item.
pub const NO_ITEM: &str = "no-item";
/// Operation impossible in the current state.
pub const BAD_STATE: &str = "bad-state";
/// The remote binder went away.
pub const DISCONNECTED: &str = "disconnected";
/// The request took longer than its timeout.
pub const TIMEOUT: &str = "timeout";

/// The numeric code of a status: the standard table, else -1.
pub fn code_of(status: &str) -> i32 {
    STANDARD
        .iter()
        .find(|(s, _)| *s == status)
        .map(|(_, c)| *c)
        .unwrap_or(-1)
}

/// The standard status of a numeric code, if any.
pub fn status_of(code: i32) -> Option<&'static str> {
    STANDARD.iter().find(|(_, c)| *c == code).map(|(s, _)| *s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        assert_eq!(code_of("success"), 0);
        assert_eq!(code_of("unknown-api"), -3);
        assert_eq!(code_of("timeout"), -16);
        assert_eq!(code_of("failed"), -1);
        assert_eq!(status_of(-15), Some("disconnected"));
        assert_eq!(status_of(-99), None);
        for (i, (s, c)) in STANDARD.iter().enumerate() {
            assert_eq!(*c, -(i as i32));
            assert_eq!(code_of(s), *c);
        }
    }
}
