//! Fuzzes the wsapi socket-URI parser (`--ws-server`, `--ws-client`,
//! `--auto-api`): no input panics; what parses names a valid API, and
//! formatting the result parses back to the same URI.
#![no_main]
use afb_wsapi::{Endpoint, SocketUri};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(u) = SocketUri::parse(text) else {
        return;
    };
    assert!(!u.api.is_empty() && !u.api.contains('/'), "{u:?}");
    assert!(afb_core::name::validate_api_name(&u.api).is_ok(), "{u:?}");
    if u.api.contains(['&', '?']) {
        return; // cannot be written back as a query parameter
    }
    let again = match &u.endpoint {
        Endpoint::Tcp { .. } => format!("{}/{}", u.endpoint, u.api),
        _ => format!("{}?as-api={}", u.endpoint, u.api),
    };
    let back = SocketUri::parse(&again).unwrap_or_else(|e| panic!("{text:?} -> {again:?}: {e}"));
    assert_eq!(back, u, "{text:?} -> {again:?}");
});
