//! Fuzzes the HTTP argument builders that read text: the query-string and
//! `application/x-www-form-urlencoded` parser, percent-decoding, the
//! content-type classifier and the API/verb splitter. No input panics; the
//! parsed object holds strings or nulls only; decoding is exact where it
//! must be.
#![no_main]
use afb_http::query::{decode, decode_path, parse};
use afb_http::rest::{body_kind, split_api_verb};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let fields = parse(&text);
    for (k, v) in &fields {
        assert!(matches!(v, Value::String(_) | Value::Null), "{k}: {v}");
    }
    // Every key comes from one pair: there cannot be more keys than pairs.
    assert!(fields.len() <= text.split('&').count());
    // Without escapes nor `+`, decoding is the identity.
    if !text.contains('%') && !text.contains('+') {
        assert_eq!(decode(&text, true), text);
        assert!(decode_path(&text).is_none_or(|p| p == text));
    }
    if let Some(p) = decode_path(&text) {
        assert!(!p.contains('\0'));
    }
    let _ = body_kind(Some(&text), true);
    let (api, verb) = split_api_verb(&text);
    assert!(!api.contains('/') && !api.starts_with('/') && !verb.starts_with('/'));
});
