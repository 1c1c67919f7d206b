//! Query strings and `application/x-www-form-urlencoded` bodies as an
//! object of strings (`?a=1&a=2&flag&n=%7B%7D` -> `{"a":"2","flag":null,"n":"{}"}`),
//! and percent-decoding of URL parts.

use std::borrow::Cow;

use serde_json::{Map, Value};

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn unescape(bytes: &[u8], plus_is_space: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h << 4) | l);
                i += 3;
                continue;
            }
        }
        out.push(if plus_is_space && b == b'+' { b' ' } else { b });
        i += 1;
    }
    out
}

/// Percent-decodes `s` (and `+` as a space when `plus_is_space`). Invalid
/// escapes are kept as they are; bytes that are not UTF-8 are replaced by
/// U+FFFD. Borrows when there is nothing to decode.
pub fn decode(s: &str, plus_is_space: bool) -> Cow<'_, str> {
    let bytes = s.as_bytes();
    if !bytes.iter().any(|&b| b == b'%' || (plus_is_space && b == b'+')) {
        return Cow::Borrowed(s);
    }
    match String::from_utf8(unescape(bytes, plus_is_space)) {
        Ok(s) => Cow::Owned(s),
        Err(e) => Cow::Owned(String::from_utf8_lossy(e.as_bytes()).into_owned()),
    }
}

/// Percent-decodes a URL path segment exactly (`+` stays `+`); `None` when
/// the result is not UTF-8 or holds a NUL byte.
pub fn decode_path(s: &str) -> Option<Cow<'_, str>> {
    if !s.as_bytes().contains(&b'%') {
        return (!s.contains('\0')).then_some(Cow::Borrowed(s));
    }
    let out = unescape(s.as_bytes(), false);
    if out.contains(&0) {
        return None;
    }
    String::from_utf8(out).ok().map(Cow::Owned)
}

/// Parses `a=1&b&c=%20` into an object of strings: a key without `=` gives
/// `null`, a repeated key keeps its last value, `+` is a space, empty
/// pairs are skipped.
pub fn parse(q: &str) -> Map<String, Value> {
    let mut m = Map::new();
    for pair in q.split('&') {
        if pair.is_empty() {
            continue;
        }
        let (k, v) = match pair.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (pair, None),
        };
        let key = decode(k, true).into_owned();
        let value = match v {
            Some(v) => Value::String(decode(v, true).into_owned()),
            None => Value::Null,
        };
        m.insert(key, value);
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn query_object_of_strings_last_wins_bare_key_null() {
        let m = parse("a=1&a=2&flag&n=%7B%7D");
        assert_eq!(Value::Object(m), json!({"a":"2","flag":null,"n":"{}"}));
    }

    #[test]
    fn query_plus_is_space_and_empty_pairs_skipped() {
        let m = parse("&x=a+b%2Bc&&y=&=z");
        assert_eq!(Value::Object(m), json!({"x":"a b+c","y":"","":"z"}));
    }

    #[test]
    fn query_invalid_escapes_kept_and_bad_utf8_replaced() {
        let m = parse("a=%zz%4&b=%ff");
        assert_eq!(m["a"], json!("%zz%4"));
        assert_eq!(m["b"], json!("\u{fffd}"));
    }

    #[test]
    fn decode_borrows_when_nothing_to_do() {
        assert!(matches!(decode("plain", true), Cow::Borrowed(_)));
        assert_eq!(decode("%41%", false), "A%");
        assert_eq!(decode("100%", false), "100%");
        assert_eq!(decode("%4", false), "%4");
    }

    #[test]
    fn path_decoding_is_exact_and_refuses_nul_and_bad_utf8() {
        assert_eq!(decode_path("a+b").as_deref(), Some("a+b"));
        assert_eq!(decode_path("%2e%2E").as_deref(), Some(".."));
        assert_eq!(decode_path("%c3%a9").as_deref(), Some("é"));
        assert_eq!(decode_path("a%00b"), None);
        // Found by the `http_query` fuzz target: a raw NUL (no escape) got through.
        assert_eq!(decode_path("a\0b"), None);
        assert_eq!(decode_path("%ff"), None);
        assert_eq!(decode_path("%").as_deref(), Some("%"));
        assert_eq!(decode_path("ab%2").as_deref(), Some("ab%2"));
    }
}
