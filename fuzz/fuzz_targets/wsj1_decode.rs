//! Fuzzes the x-afb-ws-json1 decoder and the envelope parsers: no panic on any input; a decoded
//! message re-encodes to valid JSON that decodes to the same content.
#![no_main]

use afb_wsj1::envelope::{parse_event_envelope, parse_reply_envelope};
use afb_wsj1::serde_json;
use afb_wsj1::{decode, Message};
use libfuzzer_sys::fuzz_target;

fn same(a: &Message<'_>, b: &Message<'_>) -> bool {
    match (a, b) {
        // Text args come back as a JSON string: compare their JSON text.
        (Message::Call(a), Message::Call(b)) => {
            a.id == b.id
                && a.api_verb == b.api_verb
                && a.args.to_json_string() == b.args.to_json_string()
                && a.token == b.token
        }
        (a, b) => a == b,
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };

    if let Ok(reply) = parse_reply_envelope(text) {
        assert!(reply.is_success() == (reply.status == "success"));
    }
    let _ = parse_event_envelope(text);

    match decode(text) {
        Err(e) => {
            assert!(e.offset() <= text.len());
            if e.id().is_some() {
                assert!(matches!(e.message_kind(), Some(2..=4)));
            }
            let _ = e.to_string();
        }
        Ok(message) => {
            let mut out = Vec::new();
            message.write(&mut out);
            let again_text = std::str::from_utf8(&out).expect("encoder output is UTF-8");
            serde_json::from_str::<&afb_wsj1::RawValue>(again_text).expect("encoder output is valid JSON");
            let again = decode(again_text).expect("re-encoded message decodes");
            assert!(
                same(&message, &again),
                "round trip changed the message:\n{message:?}\n{again:?}"
            );
            // Second encoding is a fixed point.
            let mut out2 = Vec::new();
            again.write(&mut out2);
            assert_eq!(out, out2);
            match &message {
                Message::Reply(r) => {
                    let _ = r.envelope();
                }
                Message::Event(e) => {
                    let _ = e.envelope();
                }
                Message::Call(c) => {
                    let _ = (c.api(), c.verb());
                    let _ = c.args.to_value();
                }
            }
        }
    }
});
