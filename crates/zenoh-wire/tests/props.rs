//! Property tests of the Zenoh key space and message formats: what we encode
//! decodes to the same thing, and bytes or names from a foreign peer never
//! panic, whatever they are.

use afb_core::typed::{TypedValue, MAX_VALUES};
use afb_zenoh_wire::keys::{self, Keys};
use afb_zenoh_wire::wire::{self, BroadcastAtt, CallAtt, ErrorPayload, ReplyAtt};
use proptest::prelude::*;

fn typed_value() -> impl Strategy<Value = TypedValue> {
    prop_oneof![
        any::<f64>().prop_map(TypedValue::double),
        any::<i32>().prop_map(TypedValue::i32),
        proptest::collection::vec(any::<u8>(), 0..64).prop_map(|b| TypedValue::bytearray(&b)),
        // Any UTF-8 name of 1 to 255 bytes.
        ("\\PC{1,60}", proptest::collection::vec(any::<u8>(), 0..32))
            .prop_filter("name fits the length byte", |(n, _)| n.len() <= 255)
            .prop_map(|(n, b)| TypedValue::new(&n, b)),
    ]
}

fn keys_of() -> impl Strategy<Value = Keys> {
    ("[a-z0-9]{1,8}(/[a-z0-9_.-]{1,8}){0,2}", "[0-9a-f]{1,32}").prop_map(|(ns, bid)| Keys { ns, bid })
}

proptest! {
    #[test]
    fn typed_values_round_trip(values in proptest::collection::vec(typed_value(), 0..20)) {
        let wire = wire::encode_typed(&values);
        prop_assert_eq!(wire::decode_typed(&wire), Ok(values));
    }

    #[test]
    fn typed_names_too_long_are_cut_on_a_character(name in "\\PC{200,300}") {
        let v = [TypedValue::new(&name, vec![1u8])];
        let back = wire::decode_typed(&wire::encode_typed(&v)).expect("decodes");
        prop_assert!(back[0].type_name().len() <= 255);
        prop_assert!(name.starts_with(back[0].type_name()));
    }

    #[test]
    fn typed_decoding_of_any_bytes_is_bounded(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(values) = wire::decode_typed(&bytes) {
            prop_assert!(values.len() <= MAX_VALUES);
            // What decodes is canonical: it encodes back to the same bytes.
            prop_assert_eq!(wire::encode_typed(&values), bytes);
        }
    }

    #[test]
    fn chunks_round_trip(name in "\\PC{0,40}|[/*$?#@% \\x00-\\x1f\\x7f]{0,10}") {
        let c = keys::chunk(&name);
        prop_assert!(!c.is_empty());
        prop_assert!(!c.contains(['/', '*', '$', '?', '#', '@', ' ']), "{}", c);
        prop_assert_eq!(keys::unchunk(&c), Some(name));
    }

    #[test]
    fn any_chunk_unchunks_without_panic(chunk in "\\PC{0,40}|[%0-9a-fA-F+-]{0,12}") {
        if let Some(name) = keys::unchunk(&chunk) {
            // What a chunk stands for makes a chunk that stands for it again.
            prop_assert_eq!(keys::unchunk(&keys::chunk(&name)), Some(name));
        }
    }

    #[test]
    fn keys_give_back_their_names(k in keys_of(), api in "[^/]{0,20}", verb in "\\PC{0,20}", bid in "[0-9a-f]{1,32}") {
        let call = k.call(&api, &k.bid, &verb);
        prop_assert_eq!(k.verb_of(&api, &call), Some(verb.clone()));
        prop_assert_eq!(k.live_api_of(&k.live_api(&api)), Some((api.clone(), k.bid.clone())));
        let name = format!("{api}/{verb}");
        let expect = if verb.is_empty() { api.clone() } else { name.clone() };
        prop_assert_eq!(k.broadcast_name(&k.broadcast(&name)), Some(expect));
        // A call to another binder is not one of ours.
        if bid != k.bid {
            prop_assert_eq!(k.verb_of(&api, &k.call(&api, &bid, &verb)), None);
        }
    }

    #[test]
    fn foreign_keys_never_panic(k in keys_of(), key in "\\PC{0,60}|afb/(api|live/api|broadcast)/[%/a-z0-9]{0,20}") {
        let _ = k.verb_of("hello", &key);
        let _ = k.broadcast_name(&key);
        let _ = k.live_api_of(&key);
        let _ = keys::check_namespace(&key);
    }

    #[test]
    fn attachments_round_trip(
        session in proptest::option::of("[0-9a-f-]{1,64}"),
        token in proptest::option::of("\\PC{0,64}"),
        loa in proptest::option::of(0u8..=7),
        status in "[a-z-]{1,32}",
        info in proptest::option::of("\\PC{0,64}"),
        events in proptest::collection::vec("[a-z]{1,8}/[a-z]{1,8}", 0..4),
    ) {
        let call = CallAtt { session: session.clone(), token, loa, creds: None };
        let back: CallAtt = wire::parse(&serde_json::to_vec(&call).unwrap()).unwrap();
        prop_assert!(back.check().is_ok());
        prop_assert_eq!(back, call);
        let reply = ReplyAtt { status: status.clone(), code: -1, info: info.clone(), session, loa, subscribe: events.clone(), unsubscribe: events };
        let back: ReplyAtt = wire::parse(&serde_json::to_vec(&reply).unwrap()).unwrap();
        prop_assert!(back.check().is_ok());
        prop_assert_eq!(back, reply);
        let err = ErrorPayload { status, info };
        let back: ErrorPayload = wire::parse(&serde_json::to_vec(&err).unwrap()).unwrap();
        prop_assert!(back.check().is_ok());
        prop_assert_eq!(back, err);
    }

    #[test]
    fn attachments_of_any_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        if let Ok(a) = wire::parse::<CallAtt>(&bytes) { let _ = a.check(); }
        if let Ok(a) = wire::parse::<ReplyAtt>(&bytes) { let _ = a.check(); }
        if let Ok(a) = wire::parse::<ErrorPayload>(&bytes) { let _ = a.check(); }
        let _ = wire::parse::<BroadcastAtt>(&bytes);
    }
}

#[test]
fn attachments_beyond_the_bound_are_refused_before_parsing() {
    let big = format!("{{\"status\":\"{}\"}}", "x".repeat(wire::MAX_ATTACHMENT));
    let e = wire::parse::<ErrorPayload>(big.as_bytes()).unwrap_err();
    assert!(e.contains("at most"), "{e}");
    let long_status = ErrorPayload {
        status: "x".repeat(wire::MAX_STATUS + 1),
        info: None,
    };
    assert!(long_status.check().is_err());
    assert!(ErrorPayload {
        status: String::new(),
        info: None
    }
    .check()
    .is_err());
}
