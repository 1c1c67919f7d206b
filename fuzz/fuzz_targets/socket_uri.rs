//! Fuzzes the socket-URI parser of `afb-endpoint` (`--interface`,
//! `--ws-server`, `--ws-client`, `afb-client -d`): no input panics; what
//! parses prints back to a URI that parses to the same value; the API
//! name is never empty nor holds `/`; what wsapi accepts names a valid API.
#![no_main]
use afb_endpoint::{Profile, SocketUri};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(u) = SocketUri::parse(text) else {
        return;
    };
    let again = u.to_string();
    let back = SocketUri::parse(&again).unwrap_or_else(|e| panic!("{text:?} -> {again:?}: {e}"));
    assert_eq!(back, u, "{text:?} -> {again:?}");
    if let Some(api) = u.default_api() {
        assert!(!api.is_empty() && !api.contains('/'), "{u:?}");
    }
    let _ = u.check(&Profile::HTTP_LISTENER);
    if u.check(&Profile::WSAPI_V1).is_ok() {
        let _ = u.api_name();
        if let Ok(w) = afb_wsapi::WsapiUri::parse(text) {
            assert!(afb_core::name::validate_api_name(&w.api).is_ok(), "{w:?}");
            assert_eq!(w.socket, u);
        }
    }
});
