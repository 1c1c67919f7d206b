//! The HTTP status of an API reply, from its status string (`rest.md`).

use http::StatusCode;

/// `WWW-Authenticate` value of replies refused for their token.
pub const INVALID_TOKEN_CHALLENGE: &str = "error=\"invalid_token\"";
/// `WWW-Authenticate` value of replies refused for their scope (LOA).
pub const INSUFFICIENT_SCOPE_CHALLENGE: &str = "error=\"insufficient_scope\"";

/// The HTTP status of a reply status, and the `WWW-Authenticate` challenge
/// to send with it, if any.
pub fn http_status(status: &str) -> (StatusCode, Option<&'static str>) {
    match status {
        "success" => (StatusCode::OK, None),
        "unknown-api" | "unknown-verb" => (StatusCode::NOT_FOUND, None),
        "invalid-token" | "unauthorized" => (StatusCode::UNAUTHORIZED, Some(INVALID_TOKEN_CHALLENGE)),
        "insufficient-scope" => (StatusCode::FORBIDDEN, Some(INSUFFICIENT_SCOPE_CHALLENGE)),
        "forbidden" | "bad-api-state" => (StatusCode::FORBIDDEN, None),
        "internal-error" | "out-of-memory" => (StatusCode::INTERNAL_SERVER_ERROR, None),
        "not-available" => (StatusCode::NOT_IMPLEMENTED, None),
        "invalid-request" => (StatusCode::BAD_REQUEST, None),
        "timeout" => (StatusCode::GATEWAY_TIMEOUT, None),
        _ => (StatusCode::OK, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_of_the_status_table() {
        let table: &[(&str, u16, Option<&str>)] = &[
            ("unknown-api", 404, None),
            ("unknown-verb", 404, None),
            ("invalid-token", 401, Some("error=\"invalid_token\"")),
            ("unauthorized", 401, Some("error=\"invalid_token\"")),
            ("insufficient-scope", 403, Some("error=\"insufficient_scope\"")),
            ("forbidden", 403, None),
            ("bad-api-state", 403, None),
            ("internal-error", 500, None),
            ("out-of-memory", 500, None),
            ("not-available", 501, None),
            ("invalid-request", 400, None),
            ("timeout", 504, None),
            ("success", 200, None),
            ("failed", 200, None),
            ("not-replied", 200, None),
            ("disconnected", 200, None),
            ("no-item", 200, None),
            ("bad-state", 200, None),
            ("my-binding-error", 200, None),
        ];
        for (status, code, challenge) in table {
            let (c, ch) = http_status(status);
            assert_eq!(c.as_u16(), *code, "{status}");
            assert_eq!(ch, *challenge, "{status}");
        }
    }
}
