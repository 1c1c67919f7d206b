//! Fuzzes what a foreign Zenoh peer controls: the attachments of calls, replies and
//! broadcasts, the payload of error replies, typed payloads and key expressions. The first
//! input byte chooses what the rest is. Arbitrary bytes must never panic; typed payloads that
//! decode must encode back to the same bytes; a chunk that unchunks must chunk into one that
//! stands for the same name.
#![no_main]
use afb_zenoh_wire::keys::{self, Keys};
use afb_zenoh_wire::wire::{self, BroadcastAtt, CallAtt, ErrorPayload, ReplyAtt};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    match mode % 4 {
        0 => {
            if let Ok(a) = wire::parse::<CallAtt>(rest) {
                let _ = a.check();
            }
            if let Ok(a) = wire::parse::<ReplyAtt>(rest) {
                let _ = a.check();
            }
            if let Ok(a) = wire::parse::<ErrorPayload>(rest) {
                let _ = a.check();
            }
            let _ = wire::parse::<BroadcastAtt>(rest);
        }
        1 => {
            if let Ok(values) = wire::decode_typed(rest) {
                assert!(values.len() <= afb_core::typed::MAX_VALUES);
                assert_eq!(wire::encode_typed(&values), rest, "typed payloads are canonical");
            }
        }
        _ => {
            let Ok(text) = std::str::from_utf8(rest) else { return };
            if let Some(name) = keys::unchunk(text) {
                let again = keys::chunk(&name);
                assert_eq!(keys::unchunk(&again).as_deref(), Some(name.as_str()));
            }
            let k = Keys {
                ns: "afb".into(),
                bid: "b1".into(),
            };
            let _ = k.verb_of("hello", text);
            let _ = k.broadcast_name(text);
            let _ = k.live_api_of(text);
            let _ = keys::check_namespace(text);
        }
    }
});
