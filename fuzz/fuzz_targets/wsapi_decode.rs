//! Fuzzes the wsapi v1 message decoder: arbitrary bytes must never panic, and whatever decodes
//! must re-encode to exactly the input (the encoding is canonical: strict lengths, final NUL,
//! no trailing bytes, one representation per field).
#![no_main]
use afb_wsapi_codec::{decode, encode_to_vec, object_to_json, Message};
use libfuzzer_sys::fuzz_target;
use std::borrow::Cow;

fuzz_target!(|data: &[u8]| {
    let Ok(msg) = decode(data) else {
        return;
    };
    assert_eq!(msg.encoded_len(), data.len());
    assert_eq!(encode_to_vec(&msg), data, "non-canonical: {msg:?}");
    // The JSON text of `object` fields, as interpreted, is always valid JSON.
    let object = match msg {
        Message::Call { args, .. } => Some(args),
        Message::Reply { reply, .. } => Some(reply),
        Message::Push { data, .. } | Message::Broadcast { data, .. } => Some(data),
        Message::Description { description, .. } => Some(description),
        _ => None,
    };
    if let Some(text) = object {
        // Either the text unchanged (serde_json judged it valid JSON), or a JSON string
        // literal built by the codec, checked here by hand (this crate has no serde_json).
        if let Cow::Owned(json) = object_to_json(text) {
            assert!(is_json_string(&json), "invalid JSON out of {text:?}: {json:?}");
        }
    }
});

/// Whether `text` is exactly one JSON string literal.
fn is_json_string(text: &str) -> bool {
    let bytes = text.as_bytes();
    if bytes.len() < 2 || bytes[0] != b'"' || bytes[bytes.len() - 1] != b'"' {
        return false;
    }
    let mut i = 1;
    while i < bytes.len() - 1 {
        match bytes[i] {
            b'\\' => match bytes.get(i + 1) {
                Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => i += 2,
                Some(b'u') => {
                    let hex = bytes.get(i + 2..i + 6);
                    if !hex.is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) {
                        return false;
                    }
                    i += 6;
                }
                _ => return false,
            },
            b'"' => return false,
            c if c < 0x20 => return false,
            _ => i += 1,
        }
    }
    i == bytes.len() - 1
}
