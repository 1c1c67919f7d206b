//! The i32 status of a CALL-REPLY and its names.
//!
//! Zero or positive is success; -1 to -16 are the standard errors below; -1000 and lower are
//! errors defined by bindings. Other negative values are errors without a standard name.

/// Success (any status >= 0 is a success).
pub const SUCCESS: i32 = 0;
/// `internal-error`.
pub const INTERNAL_ERROR: i32 = -1;
/// `out-of-memory`.
pub const OUT_OF_MEMORY: i32 = -2;
/// `unknown-api`.
pub const UNKNOWN_API: i32 = -3;
/// `unknown-verb`.
pub const UNKNOWN_VERB: i32 = -4;
/// `not-available`: also what a caller answers itself when a call cannot be sent.
pub const NOT_AVAILABLE: i32 = -5;
/// `unauthorized`.
pub const UNAUTHORIZED: i32 = -6;
/// `invalid-token`.
pub const INVALID_TOKEN: i32 = -7;
/// `forbidden`.
pub const FORBIDDEN: i32 = -8;
/// `insufficient-scope`.
pub const INSUFFICIENT_SCOPE: i32 = -9;
/// `bad-api-state`.
pub const BAD_API_STATE: i32 = -10;
/// `no-reply`.
pub const NO_REPLY: i32 = -11;
/// `invalid-request`.
pub const INVALID_REQUEST: i32 = -12;
/// `no-item`.
pub const NO_ITEM: i32 = -13;
/// `bad-state`.
pub const BAD_STATE: i32 = -14;
/// `disconnected`: what a caller answers itself for pending calls when the link drops.
pub const DISCONNECTED: i32 = -15;
/// `timeout`.
pub const TIMEOUT: i32 = -16;
/// The highest status of the range left to bindings (`<= -1000`).
pub const USER_ERROR_MAX: i32 = -1000;

/// The standard names of the statuses -1 to -16, in order.
const NAMES: [&str; 16] = [
    "internal-error",
    "out-of-memory",
    "unknown-api",
    "unknown-verb",
    "not-available",
    "unauthorized",
    "invalid-token",
    "forbidden",
    "insufficient-scope",
    "bad-api-state",
    "no-reply",
    "invalid-request",
    "no-item",
    "bad-state",
    "disconnected",
    "timeout",
];

/// The name of a status: `success` for 0 and above, the standard name for -1 to -16, `None`
/// for other negative values (binding-defined or unnamed errors).
#[must_use]
pub fn name(status: i32) -> Option<&'static str> {
    if status >= 0 {
        return Some("success");
    }
    let index = usize::try_from(status.unsigned_abs()).ok()?.checked_sub(1)?;
    NAMES.get(index).copied()
}

/// The status of a standard name (`success` gives 0), `None` for another name.
#[must_use]
pub fn from_name(name: &str) -> Option<i32> {
    if name == "success" {
        return Some(SUCCESS);
    }
    let index = NAMES.iter().position(|n| *n == name)?;
    i32::try_from(index).ok().map(|i| -1 - i)
}

/// Whether a status is a success (>= 0).
#[must_use]
pub fn is_success(status: i32) -> bool {
    status >= 0
}

/// Whether a status is in the range left to bindings (<= -1000).
#[must_use]
pub fn is_user_error(status: i32) -> bool {
    status <= USER_ERROR_MAX
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_the_table() {
        let table = [
            (INTERNAL_ERROR, "internal-error"),
            (OUT_OF_MEMORY, "out-of-memory"),
            (UNKNOWN_API, "unknown-api"),
            (UNKNOWN_VERB, "unknown-verb"),
            (NOT_AVAILABLE, "not-available"),
            (UNAUTHORIZED, "unauthorized"),
            (INVALID_TOKEN, "invalid-token"),
            (FORBIDDEN, "forbidden"),
            (INSUFFICIENT_SCOPE, "insufficient-scope"),
            (BAD_API_STATE, "bad-api-state"),
            (NO_REPLY, "no-reply"),
            (INVALID_REQUEST, "invalid-request"),
            (NO_ITEM, "no-item"),
            (BAD_STATE, "bad-state"),
            (DISCONNECTED, "disconnected"),
            (TIMEOUT, "timeout"),
        ];
        for (code, text) in table {
            assert_eq!(name(code), Some(text));
            assert_eq!(from_name(text), Some(code));
        }
        assert_eq!(name(0), Some("success"));
        assert_eq!(name(7), Some("success"));
        assert_eq!(from_name("success"), Some(0));
        assert_eq!(name(-17), None);
        assert_eq!(name(-1000), None);
        assert_eq!(name(i32::MIN), None);
        assert_eq!(from_name("failed"), None);
        assert!(is_user_error(-1003) && is_user_error(-1000) && !is_user_error(-999));
        assert!(is_success(0) && !is_success(-1));
    }
}
