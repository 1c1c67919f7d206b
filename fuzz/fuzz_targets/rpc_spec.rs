//! Fuzzes what `--rpc-client` / `--rpc-server` accept (`afb-rpc`'s spec
//! parser on top of the socket URIs): no input panics; a spec that parses
//! names valid local API names, each imported once, and an export list that
//! resolves any name without panicking.
#![no_main]
use afb_rpc::spec::{Remote, RpcSpec, Side};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for side in [Side::Client, Side::Server] {
        let Ok(s) = RpcSpec::parse(text, side) else {
            continue;
        };
        for (i, item) in s.imports.iter().enumerate() {
            assert!(afb_core::name::validate_api_name(&item.local).is_ok(), "{s:?}");
            assert!(item.remote != Remote::Any, "{s:?}");
            assert!(
                !s.imports[..i].iter().any(|o| o.local.eq_ignore_ascii_case(&item.local)),
                "{s:?}"
            );
        }
        for local in s.exports.locals() {
            assert!(afb_core::name::validate_api_name(local).is_ok(), "{s:?}");
        }
        let _ = s.exports.resolve(None);
        let _ = s.exports.resolve(Some(text));
        assert_eq!(s.http.is_some() && side == Side::Server, false, "{s:?}");
    }
});
