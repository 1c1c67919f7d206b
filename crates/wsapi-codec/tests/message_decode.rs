//! Decoding errors (one test per rule) and property tests of the message codec.

use afb_wsapi_codec::message::{code, Direction};
use afb_wsapi_codec::{decode, encode, encode_to_vec, DecodeError, Message, PROTOCOL_MAGIC};
use proptest::prelude::*;

fn s(text: &str) -> Vec<u8> {
    let mut v = ((text.len() + 1) as u32).to_le_bytes().to_vec();
    v.extend_from_slice(text.as_bytes());
    v.push(0);
    v
}

#[test]
fn empty_message() {
    assert_eq!(decode(b""), Err(DecodeError::Empty));
}

#[test]
fn unknown_codes() {
    // 'C' and 'Y' were the call/reply codes of the protocol before version 1.
    for c in [b'C', b'Y', b'Z', 0, 0xff, b'*', b'!', b'+', b'-'] {
        assert_eq!(decode(&[c, 1, 0]), Err(DecodeError::UnknownCode(c)));
    }
    let known: Vec<u8> = (0..=255u8)
        .filter(|&c| decode(&[c]) != Err(DecodeError::UnknownCode(c)))
        .collect();
    assert_eq!(known, b"BDEKPSTUVXdekstvx".to_vec());
}

#[test]
fn bad_magic() {
    let mut m = vec![b'V'];
    m.extend_from_slice(&(PROTOCOL_MAGIC ^ 1).to_le_bytes());
    m.extend_from_slice(&[1, 1]);
    assert_eq!(decode(&m), Err(DecodeError::BadMagic(PROTOCOL_MAGIC ^ 1)));
    // Big-endian magic is not accepted either.
    let mut m = vec![b'V'];
    m.extend_from_slice(&PROTOCOL_MAGIC.to_be_bytes());
    m.extend_from_slice(&[1, 1]);
    assert!(matches!(decode(&m), Err(DecodeError::BadMagic(_))));
}

#[test]
fn version_offer_with_no_version_is_structurally_valid() {
    // The server then finds no common version and hangs up (choose_version gives None).
    let m = [b'V', 0x09, 0x14, 0x4c, 0x17, 0];
    assert_eq!(decode(&m), Ok(Message::VersionOffer { versions: &[] }));
    assert_eq!(afb_wsapi_codec::message::choose_version(&[]), None);
}

#[test]
fn version_offer_count_past_end() {
    let m = [b'V', 0x09, 0x14, 0x4c, 0x17, 3, 1, 2];
    assert_eq!(decode(&m), Err(DecodeError::Truncated { what: "versions" }));
}

#[test]
fn truncated_fields() {
    assert_eq!(decode(b"v"), Err(DecodeError::Truncated { what: "version" }));
    assert_eq!(decode(b"K\x01"), Err(DecodeError::Truncated { what: "callid" }));
    // A length running past the end.
    let mut m = b"S\x01\x00".to_vec();
    m.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, b'a', 0]);
    assert_eq!(decode(&m), Err(DecodeError::Truncated { what: "session uuid" }));
    let mut m = b"S\x01\x00".to_vec();
    m.extend_from_slice(&[3, 0, 0, 0, b'a', 0]);
    assert_eq!(decode(&m), Err(DecodeError::Truncated { what: "session uuid" }));
    // Broadcast uuid shorter than 16 bytes.
    let mut m = vec![b'B'];
    m.extend(s("n"));
    m.extend(s("1"));
    m.extend_from_slice(&[0; 15]);
    assert_eq!(decode(&m), Err(DecodeError::Truncated { what: "broadcast uuid" }));
}

#[test]
fn absent_required_string() {
    let m = b"S\x01\x00\x00\x00\x00\x00";
    assert_eq!(decode(m), Err(DecodeError::AbsentString { what: "session uuid" }));
    // The reply object is a string, not a nullstring.
    let m = b"k\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00";
    assert_eq!(decode(m), Err(DecodeError::AbsentString { what: "reply" }));
}

#[test]
fn missing_nul() {
    let m = b"S\x01\x00\x02\x00\x00\x00ab";
    assert_eq!(decode(m), Err(DecodeError::MissingNul { what: "session uuid" }));
    // Also for a present nullstring.
    let mut m = b"k\x01\x00\x02\x00\x00\x00ab".to_vec();
    m.extend_from_slice(&[0, 0, 0, 0]);
    m.extend(s("null"));
    assert_eq!(decode(&m), Err(DecodeError::MissingNul { what: "error" }));
}

#[test]
fn interior_nul() {
    let m = b"S\x01\x00\x04\x00\x00\x00a\0b\0";
    assert_eq!(decode(m), Err(DecodeError::InteriorNul { what: "session uuid" }));
}

#[test]
fn bad_utf8() {
    let m = b"S\x01\x00\x03\x00\x00\x00\xc3\x28\0";
    assert_eq!(decode(m), Err(DecodeError::BadUtf8 { what: "session uuid" }));
}

#[test]
fn trailing_bytes() {
    assert_eq!(decode(b"v\x01\x00"), Err(DecodeError::TrailingBytes(1)));
    assert_eq!(decode(b"e\x01\x00zz"), Err(DecodeError::TrailingBytes(2)));
}

#[test]
fn present_empty_nullstring_is_some_empty() {
    let mut m = b"k\x01\x00".to_vec();
    m.extend(s(""));
    m.extend_from_slice(&[0, 0, 0, 0]);
    m.extend(s("null"));
    let msg = decode(&m).unwrap();
    assert_eq!(
        msg,
        Message::Reply {
            callid: 1,
            error: Some(""),
            info: None,
            reply: "null"
        }
    );
    assert_eq!(encode_to_vec(&msg), m);
}

#[test]
fn directions() {
    assert_eq!(Message::VersionSet(1).direction(), Direction::ServerToClient);
    assert_eq!(
        Message::Unexpected { eventid: 1 }.direction(),
        Direction::ClientToServer
    );
    assert_eq!(Message::Describe { descid: 1 }.code(), code::DESCRIBE);
}

#[test]
fn errors_are_std_errors() {
    let e: Box<dyn std::error::Error> = Box::new(DecodeError::TrailingBytes(3));
    assert_eq!(e.to_string(), "3 unexpected byte(s) after the end of the wsapi message");
}

// ---------------------------------------------------------------- properties

/// Owned material from which any message can be borrowed.
#[derive(Debug, Clone)]
struct Fields {
    kind: u8,
    ids: [u16; 3],
    s1: String,
    s2: String,
    o1: Option<String>,
    o2: Option<String>,
    versions: Vec<u8>,
    uuid: [u8; 16],
    byte: u8,
}

const KINDS: u8 = 17;

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z/{}\":0-9 ]{0,12}",
        any::<String>().prop_map(|s| s.replace('\0', "")),
    ]
}

fn fields() -> impl Strategy<Value = Fields> {
    (
        0..KINDS,
        any::<[u16; 3]>(),
        text(),
        text(),
        proptest::option::of(text()),
        proptest::option::of(text()),
        proptest::collection::vec(any::<u8>(), 0..=255),
        any::<[u8; 16]>(),
        any::<u8>(),
    )
        .prop_map(|(kind, ids, s1, s2, o1, o2, versions, uuid, byte)| Fields {
            kind,
            ids,
            s1,
            s2,
            o1,
            o2,
            versions,
            uuid,
            byte,
        })
}

fn message(f: &Fields) -> Message<'_> {
    let [a, b, c] = f.ids;
    match f.kind {
        0 => Message::VersionOffer { versions: &f.versions },
        1 => Message::VersionSet(f.byte),
        2 => Message::SessionCreate { id: a, uuid: &f.s1 },
        3 => Message::SessionRemove(a),
        4 => Message::TokenCreate { id: a, token: &f.s1 },
        5 => Message::TokenRemove(a),
        6 => Message::Call {
            callid: a,
            verb: &f.s1,
            sessionid: b,
            tokenid: c,
            args: &f.s2,
            user_creds: f.o1.as_deref(),
        },
        7 => Message::Reply {
            callid: a,
            error: f.o1.as_deref(),
            info: f.o2.as_deref(),
            reply: &f.s1,
        },
        8 => Message::EventCreate {
            eventid: a,
            name: &f.s1,
        },
        9 => Message::EventRemove(a),
        10 => Message::Subscribe { callid: a, eventid: b },
        11 => Message::Unsubscribe { callid: a, eventid: b },
        12 => Message::Push {
            eventid: a,
            data: &f.s1,
        },
        13 => Message::Broadcast {
            name: &f.s1,
            data: &f.s2,
            uuid: f.uuid,
            hop: f.byte,
        },
        14 => Message::Unexpected { eventid: a },
        15 => Message::Describe { descid: a },
        _ => Message::Description {
            descid: a,
            description: &f.s1,
        },
    }
}

/// Bytes that start with a valid code, to reach deeper than the code check.
fn coded_bytes() -> impl Strategy<Value = Vec<u8>> {
    (
        proptest::sample::select(b"BDEKPSTUVXdekstvx".to_vec()),
        proptest::collection::vec(prop_oneof![any::<u8>(), Just(0u8), Just(1u8), Just(b'a')], 0..64),
    )
        .prop_map(|(c, mut rest)| {
            rest.insert(0, c);
            rest
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn round_trip(f in fields()) {
        let msg = message(&f);
        let bytes = encode_to_vec(&msg);
        prop_assert_eq!(bytes.len(), msg.encoded_len());
        prop_assert_eq!(bytes[0], msg.code());
        prop_assert_eq!(decode(&bytes), Ok(msg));
        // Encoding appends into a reused buffer with no leftover state.
        let mut buf = vec![0xAA; 3];
        encode(&msg, &mut buf);
        encode(&msg, &mut buf);
        prop_assert_eq!(&buf[3..3 + bytes.len()], &bytes[..]);
        prop_assert_eq!(&buf[3 + bytes.len()..], &bytes[..]);
    }

    #[test]
    fn truncation_is_always_an_error(f in fields()) {
        let bytes = encode_to_vec(&message(&f));
        for cut in 0..bytes.len() {
            prop_assert!(decode(&bytes[..cut]).is_err(), "prefix of {} bytes decoded", cut);
        }
    }

    #[test]
    fn extra_bytes_are_an_error(f in fields(), extra in proptest::collection::vec(any::<u8>(), 1..8)) {
        let mut bytes = encode_to_vec(&message(&f));
        bytes.extend_from_slice(&extra);
        prop_assert_eq!(decode(&bytes), Err(DecodeError::TrailingBytes(extra.len())));
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_are_canonical(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        if let Ok(msg) = decode(&bytes) {
            prop_assert_eq!(encode_to_vec(&msg), bytes);
        }
    }

    #[test]
    fn coded_bytes_never_panic_and_are_canonical(bytes in coded_bytes()) {
        if let Ok(msg) = decode(&bytes) {
            prop_assert_eq!(encode_to_vec(&msg), bytes);
        }
    }

    #[test]
    fn mutated_messages_never_panic_and_are_canonical(
        f in fields(),
        at in any::<prop::sample::Index>(),
        value in any::<u8>(),
    ) {
        let mut bytes = encode_to_vec(&message(&f));
        let i = at.index(bytes.len());
        bytes[i] = value;
        if let Ok(msg) = decode(&bytes) {
            prop_assert_eq!(encode_to_vec(&msg), bytes);
        }
    }
}
