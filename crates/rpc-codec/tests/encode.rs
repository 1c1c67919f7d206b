//! Encoder rules: placement of every parameter kind, what cannot be encoded (and leaves the
//! buffer unchanged), seqno numbering, limits.

use afb_rpc_codec::types::type_id;
use afb_rpc_codec::wire::{self, param};
use afb_rpc_codec::{
    encode, encode_to_vec, encoded_len, CallReply, CallRequest, EncodeError, Encoder, EventBroadcast, EventPush,
    Message, Phase, ResourceKind, Scalar, StreamDecoder, Text, Value, Values, Verb,
};

fn push<'a>(values: &'a [Value<'a>]) -> Message<'a> {
    Message::EventPush(EventPush {
        eventid: 1,
        values: Values::new(values),
    })
}

/// The chunk offsets of the parameters of an encoded chunk (types other than padding),
/// walking it as a reader does, with the number of padding bytes before each.
fn params_with_gaps(chunk: &[u8], start: usize) -> Vec<(usize, u16, usize)> {
    let length = u32::from_le_bytes(chunk[4..8].try_into().unwrap()) as usize;
    let mut pos = start;
    let mut end = start;
    let mut out = Vec::new();
    while pos < length {
        pos += pos % 2;
        let t = u16::from_le_bytes([chunk[pos], chunk[pos + 1]]);
        if t == 0 {
            pos += 2;
            continue;
        }
        assert!(chunk[end..pos].iter().all(|&b| b == 0), "padding is zeros");
        let len = u16::from_le_bytes([chunk[pos + 2], chunk[pos + 3]]) as usize;
        out.push((pos, t, pos - end));
        pos += len;
        end = pos;
    }
    out
}

fn param_offsets(chunk: &[u8], start: usize) -> Vec<(usize, u16)> {
    params_with_gaps(chunk, start)
        .into_iter()
        .map(|(o, t, _)| (o, t))
        .collect()
}

fn decode(bytes: &[u8]) -> Message<'_> {
    let mut d = StreamDecoder::new();
    d.set_phase(Phase::Chunks);
    d.decode(bytes).unwrap().message
}

#[test]
fn every_parameter_kind_at_its_place() {
    // Texts and values of every length 0..24 after each other, so that each parameter starts
    // from every possible offset modulo 8.
    let text = "abcdefghijklmnopqrstuvwxyz";
    for n in 0..24 {
        let values = [
            Value::Untyped(&text.as_bytes()[..n]),
            Value::Data(3),
            Value::bytearray(&text.as_bytes()[..n]),
            Value::Untyped(&text.as_bytes()[..(n + 3) % 24]),
            Value::Data(4),
            Value::json(&text[..n]),
        ];
        let msg = Message::CallRequest(CallRequest {
            api: Some(Text::from(&text[..n])),
            session: 5,
            token: 6,
            creds: Some(Text::from(&text[..(n + 5) % 24])),
            timeout: Some(7),
            values: Values::new(&values),
            ..CallRequest::new(1, Verb::name(&text[..(n + 1) % 24]))
        });
        let out = encode_to_vec(&msg, 1).unwrap();
        assert_eq!(out.len() % 8, 0);
        for (offset, ptype, gap) in params_with_gaps(&out, 12) {
            let rem = match ptype {
                param::RES_PLAIN | param::VALUE_TYPED => Some((8, 2)),
                param::VALUE => Some((8, 4)),
                param::RES_ID | param::VALUE_DATA => Some((2, 0)),
                param::TIMEOUT => Some((4, 0)),
                other => panic!("unexpected parameter {other:04x}"),
            };
            let (modulo, rem) = rem.unwrap();
            assert_eq!(offset % modulo, rem, "parameter {ptype:04x} at {offset} (n = {n})");
            // The fewest padding bytes: less than one alignment step.
            assert!(gap < modulo, "{gap} padding bytes before {ptype:04x} at {offset}");
        }
        assert_eq!(decode(&out), msg);
    }
}

#[test]
fn padding_is_minimal_and_zero() {
    // After "ping\0" (chunk offset 45 in the 6.2 capture) a RES-ID needs exactly 1 byte.
    let msg = Message::CallRequest(CallRequest {
        session: 3,
        ..CallRequest::new(1, Verb::name("ping"))
    });
    let out = encode_to_vec(&msg, 1).unwrap();
    // 12 + 6 pad -> 18, RES-PLAIN 11 -> 29, 1 pad -> 30, RES-ID 8 -> 38, chunk padding -> 40.
    assert_eq!(u32::from_le_bytes(out[4..8].try_into().unwrap()), 38);
    assert_eq!(out.len(), 40);
    assert_eq!(&out[12..18], &[0; 6]);
    assert_eq!(out[29], 0);
    assert_eq!(&out[38..], &[0, 0]);
}

#[test]
fn timeout_and_creds_follow_token() {
    let msg = Message::CallRequest(CallRequest {
        api: Some(Text::from("a")),
        session: 1,
        token: 2,
        creds: Some(Text::from("c")),
        timeout: Some(9),
        ..CallRequest::new(1, Verb::name("v"))
    });
    let out = encode_to_vec(&msg, 1).unwrap();
    let kinds: Vec<u16> = param_offsets(&out, 12)
        .iter()
        .map(|&(o, _)| u16::from_le_bytes([out[o + 4], out[o + 5]]))
        .collect();
    assert_eq!(
        kinds,
        [
            ResourceKind::Api.code(),
            ResourceKind::Verb.code(),
            ResourceKind::Session.code(),
            ResourceKind::Token.code(),
            ResourceKind::Creds.code(),
            9 // the TIMEOUT's low word
        ]
    );
}

#[test]
fn refusals_leave_the_buffer_unchanged() {
    let too_many = [Value::Scalar(Scalar::Bool(true)); 65];
    let long = vec![0u8; wire::MAX_TYPED_VALUE_LEN + 1];
    let long_untyped = vec![0u8; wire::MAX_UNTYPED_VALUE_LEN + 1];
    let long_text = "a".repeat(wire::MAX_PLAIN_TEXT_LEN + 1);
    let long_name = "a".repeat(wire::MAX_BROADCAST_NAME_LEN + 1);
    let long_resource = "a".repeat(wire::MAX_RESOURCE_DATA_LEN);
    let v_long = [Value::bytearray(&long)];
    let v_long_untyped = [Value::Untyped(&long_untyped)];
    let v_text_u16 = [Value::Text {
        type_id: type_id::U16,
        text: Text::from("ab"),
    }];
    let cases: Vec<(Message<'_>, EncodeError)> = vec![
        (push(&too_many), EncodeError::TooManyValues { count: 65 }),
        (
            push(&v_long),
            EncodeError::ValueTooLong {
                len: wire::MAX_TYPED_VALUE_LEN + 1,
                max: wire::MAX_TYPED_VALUE_LEN,
            },
        ),
        (
            push(&v_long_untyped),
            EncodeError::ValueTooLong {
                len: wire::MAX_UNTYPED_VALUE_LEN + 1,
                max: wire::MAX_UNTYPED_VALUE_LEN,
            },
        ),
        (
            push(&[Value::Typed {
                type_id: type_id::I32,
                bytes: &[1, 2],
            }]),
            EncodeError::BadValueSize {
                type_id: type_id::I32,
                expected: 4,
                found: 2,
            },
        ),
        (
            push(&v_text_u16),
            EncodeError::BadValueSize {
                type_id: type_id::U16,
                expected: 2,
                found: 3,
            },
        ),
        (
            push(&[Value::Typed { type_id: 0, bytes: &[] }]),
            EncodeError::TypeIdZero,
        ),
        (
            Message::CallRequest(CallRequest::new(1, Verb::name(&long_text))),
            EncodeError::TextTooLong {
                what: "verb name",
                len: wire::MAX_PLAIN_TEXT_LEN + 1,
                max: wire::MAX_PLAIN_TEXT_LEN,
            },
        ),
        (
            Message::CallRequest(CallRequest {
                api: Some(Text::from("he\0llo")),
                ..CallRequest::new(1, Verb::name("v"))
            }),
            EncodeError::NulInText { what: "API name" },
        ),
        (
            Message::CallRequest(CallRequest::new(1, Verb::Special(0))),
            EncodeError::SpecialVerbZero,
        ),
        (
            Message::EventBroadcast(EventBroadcast {
                name: Text::from(long_name.as_str()),
                uuid: [0; 16],
                hop: 1,
                values: Values::EMPTY,
            }),
            EncodeError::TextTooLong {
                what: "broadcast event name",
                len: wire::MAX_BROADCAST_NAME_LEN + 1,
                max: wire::MAX_BROADCAST_NAME_LEN,
            },
        ),
        (
            Message::ResourceCreate {
                kind: ResourceKind::Token,
                id: 1,
                text: Text::from(long_resource.as_str()),
            },
            EncodeError::TextTooLong {
                what: "resource text",
                len: wire::MAX_RESOURCE_DATA_LEN,
                max: wire::MAX_RESOURCE_DATA_LEN - 1,
            },
        ),
        (
            Message::ResourceCreate {
                kind: ResourceKind::Api,
                id: 1,
                text: Text::from("x"),
            },
            EncodeError::NotCreatable {
                kind: ResourceKind::Api,
            },
        ),
        (
            Message::ResourceDestroy {
                kind: ResourceKind::Creds,
                id: 1,
            },
            EncodeError::NotCreatable {
                kind: ResourceKind::Creds,
            },
        ),
        (
            Message::VersionOffer { versions: &[3; 256] },
            EncodeError::TooManyVersions { count: 256 },
        ),
    ];
    for (msg, expected) in cases {
        let mut out = b"kept".to_vec();
        assert_eq!(encode(&msg, 1, &mut out), Err(expected));
        assert_eq!(out, b"kept");
        assert_eq!(encoded_len(&msg), Err(expected));
        let mut encoder = Encoder::new();
        assert!(encoder.encode(&msg, &mut out).is_err());
        assert_eq!(encoder.next_seqno(), 1, "a refused message uses no seqno");
        assert!(!expected.to_string().is_empty());
    }
}

#[test]
fn largest_values_and_texts_fit() {
    let typed = vec![7u8; wire::MAX_TYPED_VALUE_LEN];
    let untyped = vec![8u8; wire::MAX_UNTYPED_VALUE_LEN];
    let values = [Value::bytearray(&typed), Value::Untyped(&untyped)];
    let text = "t".repeat(wire::MAX_PLAIN_TEXT_LEN);
    let msg = Message::CallRequest(CallRequest {
        api: Some(Text::from(text.as_str())),
        values: Values::new(&values),
        ..CallRequest::new(1, Verb::name(&text))
    });
    let out = encode_to_vec(&msg, 1).unwrap();
    assert_eq!(decode(&out), msg);
    let long = "r".repeat(wire::MAX_RESOURCE_DATA_LEN - 1);
    let create = Message::ResourceCreate {
        kind: ResourceKind::Session,
        id: 1,
        text: Text::from(long.as_str()),
    };
    assert_eq!(decode(&encode_to_vec(&create, 1).unwrap()), create);
}

#[test]
fn the_largest_encodable_chunk_is_within_the_default_maximum() {
    let big = vec![1u8; wire::MAX_TYPED_VALUE_LEN];
    let values = vec![Value::bytearray(&big); wire::MAX_VALUES];
    let text = "t".repeat(wire::MAX_PLAIN_TEXT_LEN);
    let call = Message::CallRequest(CallRequest {
        api: Some(Text::from(text.as_str())),
        session: 1,
        token: 1,
        creds: Some(Text::from(text.as_str())),
        timeout: Some(1),
        values: Values::new(&values),
        ..CallRequest::new(1, Verb::name(&text))
    });
    let name = "n".repeat(wire::MAX_BROADCAST_NAME_LEN);
    let broadcast = Message::EventBroadcast(EventBroadcast {
        name: Text::from(name.as_str()),
        uuid: [0; 16],
        hop: 1,
        values: Values::new(&values),
    });
    for msg in [call, broadcast] {
        let len = encoded_len(&msg).unwrap();
        assert!(len <= wire::DEFAULT_MAX_CHUNK_LEN, "{len}");
        assert!(
            len > wire::DEFAULT_MAX_CHUNK_LEN * 9 / 10,
            "the bound is not loose: {len}"
        );
        let out = encode_to_vec(&msg, 1).unwrap();
        assert_eq!(decode(&out), msg);
    }
}

#[test]
fn encoder_numbers_chunks_from_1_and_skips_0() {
    let mut encoder = Encoder::new();
    let mut out = Vec::new();
    encoder
        .encode(&Message::VersionOffer { versions: &[3, 0, 0] }, &mut out)
        .unwrap();
    assert_eq!(encoder.next_seqno(), 1, "version messages have no seqno");
    encoder
        .encode(&Message::EventUnexpected { eventid: 1 }, &mut out)
        .unwrap();
    encoder
        .encode(&Message::EventUnexpected { eventid: 2 }, &mut out)
        .unwrap();
    assert_eq!(&out[9..13], &[0xfa, 0xff, 1, 0]);
    assert_eq!(&out[25..29], &[0xfa, 0xff, 2, 0]);
    let mut encoder = Encoder::with_next_seqno(u16::MAX);
    let mut out = Vec::new();
    encoder
        .encode(&Message::EventUnexpected { eventid: 1 }, &mut out)
        .unwrap();
    assert_eq!(encoder.next_seqno(), 1);
    assert_eq!(Encoder::with_next_seqno(0).next_seqno(), 1);
}

#[test]
fn values_are_equal_by_wire_form() {
    assert_eq!(
        Value::json("{}"),
        Value::Typed {
            type_id: type_id::JSON,
            bytes: b"{}\0"
        }
    );
    assert_eq!(
        Value::Scalar(Scalar::I32(-2)),
        Value::Typed {
            type_id: type_id::I32,
            bytes: &(-2i32).to_le_bytes()
        }
    );
    assert_eq!(
        Value::stringz(None),
        Value::Typed {
            type_id: type_id::STRINGZ,
            bytes: b""
        }
    );
    assert_ne!(Value::stringz(Some("")), Value::stringz(None));
    assert_ne!(Value::Untyped(b"x"), Value::bytearray(b"x"));
    assert_ne!(
        Value::bytearray(b"x"),
        Value::Typed {
            type_id: type_id::OPAQUE,
            bytes: b"x"
        }
    );
    assert_ne!(Value::Data(1), Value::Data(2));
    // NaN travels as its bits.
    assert_eq!(
        Value::Scalar(Scalar::F64(f64::NAN)),
        Value::Scalar(Scalar::F64(f64::NAN))
    );
}

#[test]
fn reply_of_received_values_is_reencoded_unchanged() {
    // A front forwarding a back's reply: the received values encode to the same bytes.
    let values = [
        Value::json("[1]"),
        Value::stringz(Some("x")),
        Value::Scalar(Scalar::F64(2.5)),
    ];
    let first = encode_to_vec(
        &Message::CallReply(CallReply {
            callid: 3,
            status: -1003,
            values: Values::new(&values),
        }),
        1,
    )
    .unwrap();
    let Message::CallReply(received) = decode(&first) else {
        panic!("not a reply")
    };
    let again = encode_to_vec(&Message::CallReply(received), 1).unwrap();
    assert_eq!(again, first);
}
