//! Fuzzes the nesting-depth scanner that guards every request argument
//! (`afb_core::args::nesting_exceeds`): no input panics, and on valid JSON
//! it agrees with the real depth of the parsed value.
#![no_main]
use afb_core::args::nesting_exceeds;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fn depth(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        Value::Object(o) => 1 + o.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

fuzz_target!(|data: &[u8]| {
    let limit = data.first().map_or(0, |&b| usize::from(b % 80));
    let text = data.get(1..).unwrap_or(&[]);
    let exceeds = nesting_exceeds(text, limit);
    if let Ok(v) = serde_json::from_slice::<Value>(text) {
        let d = depth(&v);
        assert_eq!(exceeds, d > limit, "depth {d}, limit {limit}");
    }
});
