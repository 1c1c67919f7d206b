//! The server side of the WebSocket opening handshake (RFC 6455 section 4.2)
//! for the API root: version 13 only (else 426), subprotocol
//! `x-afb-ws-json1` (the default when the client names none; only unknown
//! ones offered gives 412), and the `101 Switching Protocols` answer.

use bytes::Bytes;
use http::header::{HeaderMap, HeaderValue, CONNECTION, CONTENT_TYPE, SEC_WEBSOCKET_ACCEPT, UPGRADE};
use http::header::{SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_PROTOCOL, SEC_WEBSOCKET_VERSION};
use http::{Response, StatusCode};
use http_body_util::Full;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

/// The JSON WebSocket subprotocol.
pub const PROTOCOL: &str = "x-afb-ws-json1";

/// The subprotocol of RPC v3 inside a WebSocket (served when an RPC handler
/// is installed, see [`crate::upgrade`]).
pub const RPC_PROTOCOL: &str = "x-afb-ws-rpc";

/// An accepted handshake: what the `101` answer carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The `Sec-WebSocket-Accept` value.
    pub accept: String,
    /// The subprotocol echoed in `Sec-WebSocket-Protocol` (spelled as the
    /// client offered it), or `None` when the client offered none (the
    /// connection then speaks `x-afb-ws-json1` without naming it).
    pub protocol: Option<String>,
}

impl Accepted {
    /// The `101 Switching Protocols` response.
    pub fn response(&self) -> Response<Full<Bytes>> {
        let mut r = Response::new(Full::new(Bytes::new()));
        *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let h = r.headers_mut();
        h.insert(UPGRADE, HeaderValue::from_static("websocket"));
        h.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
        if let Ok(v) = HeaderValue::from_str(&self.accept) {
            h.insert(SEC_WEBSOCKET_ACCEPT, v);
        }
        if let Some(p) = self.protocol.as_deref().and_then(|p| HeaderValue::from_str(p).ok()) {
            h.insert(SEC_WEBSOCKET_PROTOCOL, p);
        }
        r
    }
}

fn refuse(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    r
}

/// The comma-separated tokens of every occurrence of a header.
fn tokens<'a>(headers: &'a HeaderMap, name: &http::header::HeaderName) -> impl Iterator<Item = &'a str> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// A `Sec-WebSocket-Key` must be the base64 text of 16 bytes: 22 base64
/// characters then `==`.
fn valid_key(key: &[u8]) -> bool {
    key.len() == 24
        && key.ends_with(b"==")
        && key[..22]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'+' || *c == b'/')
}

/// Checks the headers of an upgrade request (already known to be a `GET`
/// with `Upgrade: websocket`). `Err` is the response refusing it:
/// * `Sec-WebSocket-Version` missing or other than 13: `426 Upgrade Required`
///   with `Sec-WebSocket-Version: 13`;
/// * `Upgrade` not naming `websocket`, `Connection` not naming `upgrade`, or a
///   missing or malformed `Sec-WebSocket-Key`: `400 Bad Request`;
/// * subprotocols offered but none is `x-afb-ws-json1`: `412 Precondition Failed`.
// The Err variant is the response itself, as big as it is.
#[allow(clippy::result_large_err)]
pub fn check(headers: &HeaderMap) -> Result<Accepted, Response<Full<Bytes>>> {
    check_for(headers, &[PROTOCOL])
}

/// [`check`] knowing the subprotocols `known`: the first of the client's
/// list that is known is chosen (none offered: `x-afb-ws-json1`).
#[allow(clippy::result_large_err)]
pub fn check_for(headers: &HeaderMap, known: &[&str]) -> Result<Accepted, Response<Full<Bytes>>> {
    let version_ok = headers
        .get(SEC_WEBSOCKET_VERSION)
        .is_some_and(|v| v.as_bytes().trim_ascii() == b"13");
    if !version_ok {
        let mut r = refuse(StatusCode::UPGRADE_REQUIRED, "WebSocket version 13 required\n");
        r.headers_mut()
            .insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
        return Err(r);
    }
    if !tokens(headers, &UPGRADE).any(|t| t.eq_ignore_ascii_case("websocket")) {
        return Err(refuse(StatusCode::BAD_REQUEST, "Upgrade: websocket expected\n"));
    }
    if !tokens(headers, &CONNECTION).any(|t| t.eq_ignore_ascii_case("upgrade")) {
        return Err(refuse(StatusCode::BAD_REQUEST, "Connection: Upgrade expected\n"));
    }
    let key = match headers.get(SEC_WEBSOCKET_KEY) {
        Some(k) if valid_key(k.as_bytes().trim_ascii()) => k.as_bytes().trim_ascii(),
        _ => {
            return Err(refuse(
                StatusCode::BAD_REQUEST,
                "missing or invalid Sec-WebSocket-Key\n",
            ))
        }
    };
    let mut offered = tokens(headers, &SEC_WEBSOCKET_PROTOCOL).peekable();
    let protocol = if offered.peek().is_none() {
        None
    } else {
        match offered.find(|p| known.iter().any(|k| p.eq_ignore_ascii_case(k))) {
            Some(p) => Some(p.to_owned()),
            None if known.len() > 1 => {
                return Err(refuse(
                    StatusCode::PRECONDITION_FAILED,
                    "unsupported WebSocket subprotocol (x-afb-ws-json1 or x-afb-ws-rpc)\n",
                ))
            }
            None => {
                return Err(refuse(
                    StatusCode::PRECONDITION_FAILED,
                    "unsupported WebSocket subprotocol (x-afb-ws-json1 only)\n",
                ))
            }
        }
    };
    Ok(Accepted {
        accept: derive_accept_key(key),
        protocol,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    const BASE: [(&str, &str); 4] = [
        ("upgrade", "websocket"),
        ("connection", "keep-alive, Upgrade"),
        ("sec-websocket-version", "13"),
        ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ];

    #[test]
    fn rfc_example_accept_key_and_default_protocol() {
        let a = check(&headers(&BASE)).unwrap();
        assert_eq!(a.accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert_eq!(a.protocol, None);
        let r = a.response();
        assert_eq!(r.status(), 101);
        assert!(r.headers().get(SEC_WEBSOCKET_PROTOCOL).is_none());
        assert_eq!(r.headers()[SEC_WEBSOCKET_ACCEPT], "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn protocol_chosen_among_several_headers() {
        let mut p = BASE.to_vec();
        p.push(("sec-websocket-protocol", "chat, other"));
        p.push(("sec-websocket-protocol", "X-AFB-WS-JSON1"));
        let a = check(&headers(&p)).unwrap();
        assert_eq!(a.protocol.as_deref(), Some("X-AFB-WS-JSON1"));
        assert_eq!(a.response().headers()[SEC_WEBSOCKET_PROTOCOL], "X-AFB-WS-JSON1");
    }

    #[test]
    fn unknown_protocols_only_is_412() {
        let mut p = BASE.to_vec();
        p.push(("sec-websocket-protocol", "chat, superchat"));
        assert_eq!(check(&headers(&p)).unwrap_err().status(), 412);
    }

    #[test]
    fn the_first_known_protocol_of_the_client_wins() {
        let both = [PROTOCOL, RPC_PROTOCOL];
        let mut p = BASE.to_vec();
        p.push(("sec-websocket-protocol", "chat, X-AFB-WS-RPC, x-afb-ws-json1"));
        assert_eq!(
            check_for(&headers(&p), &both).unwrap().protocol.as_deref(),
            Some("X-AFB-WS-RPC")
        );
        assert_eq!(
            check(&headers(&p)).unwrap().protocol.as_deref(),
            Some("x-afb-ws-json1"),
            "rpc unknown"
        );
        let mut p = BASE.to_vec();
        p.push(("sec-websocket-protocol", "x-afb-ws-rpc"));
        assert_eq!(check(&headers(&p)).unwrap_err().status(), 412);
        assert_eq!(
            check_for(&headers(&BASE), &both).unwrap().protocol,
            None,
            "absent: json1"
        );
    }

    #[test]
    fn bad_version_is_426_with_version_header() {
        for v in ["8", "", "13, 8"] {
            let mut p = BASE.to_vec();
            p[2] = ("sec-websocket-version", v);
            let r = check(&headers(&p)).unwrap_err();
            assert_eq!(r.status(), 426, "{v}");
            assert_eq!(r.headers()[SEC_WEBSOCKET_VERSION], "13");
        }
        let r = check(&headers(&BASE[..2])).unwrap_err();
        assert_eq!(r.status(), 426);
    }

    #[test]
    fn bad_key_or_connection_is_400() {
        for key in ["", "short==", "dGhlIHNhbXBsZSBub25jZQ=!", "dGhlIHNhbXBsZSBub25jZQ==x"] {
            let mut p = BASE.to_vec();
            p[3] = ("sec-websocket-key", key);
            assert_eq!(check(&headers(&p)).unwrap_err().status(), 400, "{key:?}");
        }
        let mut p = BASE.to_vec();
        p[1] = ("connection", "keep-alive");
        assert_eq!(check(&headers(&p)).unwrap_err().status(), 400);
        let mut p = BASE.to_vec();
        p[0] = ("upgrade", "h2c");
        assert_eq!(check(&headers(&p)).unwrap_err().status(), 400);
    }
}
