//! Decoding rules, one test per rule: what needs more bytes, what is fatal, and what the
//! decoder accepts beyond what our encoder writes (the C reader's padding rules, any order,
//! last one wins).

use afb_rpc_codec::types::type_id;
use afb_rpc_codec::wire::{op, param, Operation};
use afb_rpc_codec::{
    CallRequest, DecodeError, FatalError, Message, Phase, ResourceKind, StreamDecoder, Text, Value, Verb,
};

/// Builds a chunk by hand: fixed part and parameters, with the length computed at the end.
struct Chunk {
    bytes: Vec<u8>,
}

impl Chunk {
    fn new(operation: u16) -> Chunk {
        let mut bytes = operation.to_le_bytes().to_vec();
        bytes.extend_from_slice(&[7, 0, 0, 0, 0, 0]);
        Chunk { bytes }
    }

    fn u16(mut self, v: u16) -> Chunk {
        self.bytes.extend_from_slice(&v.to_le_bytes());
        self
    }

    fn raw(mut self, b: &[u8]) -> Chunk {
        self.bytes.extend_from_slice(b);
        self
    }

    /// A parameter at the next even offset (the odd byte is 0), with its true length.
    fn param(self, ptype: u16, body: &[u8]) -> Chunk {
        let len = u16::try_from(4 + body.len()).unwrap();
        self.param_len(ptype, len, body)
    }

    /// A parameter with a given length field.
    fn param_len(mut self, ptype: u16, len: u16, body: &[u8]) -> Chunk {
        if self.bytes.len() % 2 == 1 {
            self.bytes.push(0);
        }
        self.bytes.extend_from_slice(&ptype.to_le_bytes());
        self.bytes.extend_from_slice(&len.to_le_bytes());
        self.bytes.extend_from_slice(body);
        self
    }

    fn plain(self, kind: ResourceKind, text: &[u8]) -> Chunk {
        let mut body = kind.code().to_le_bytes().to_vec();
        body.extend_from_slice(text);
        self.param(param::RES_PLAIN, &body)
    }

    fn res_id(self, kind: ResourceKind, id: u16) -> Chunk {
        let mut body = kind.code().to_le_bytes().to_vec();
        body.extend_from_slice(&id.to_le_bytes());
        self.param(param::RES_ID, &body)
    }

    fn typed(self, tid: u16, bytes: &[u8]) -> Chunk {
        let mut body = tid.to_le_bytes().to_vec();
        body.extend_from_slice(bytes);
        self.param(param::VALUE_TYPED, &body)
    }

    /// Sets the length field and pads to a multiple of 8.
    fn finish(mut self) -> Vec<u8> {
        let len = u32::try_from(self.bytes.len()).unwrap();
        self.bytes[4..8].copy_from_slice(&len.to_le_bytes());
        while self.bytes.len() % 8 != 0 {
            self.bytes.push(0);
        }
        self.bytes
    }
}

fn chunks() -> StreamDecoder {
    let mut d = StreamDecoder::new();
    d.set_phase(Phase::Chunks);
    d
}

fn fatal(bytes: &[u8]) -> FatalError {
    match chunks().decode(bytes) {
        Err(DecodeError::Fatal(e)) => e,
        other => panic!("expected a fatal error, got {other:?}"),
    }
}

fn decode_one(bytes: &[u8]) -> Message<'_> {
    let d = chunks().decode(bytes).unwrap();
    assert_eq!(d.consumed, bytes.len());
    d.message
}

fn call() -> Chunk {
    Chunk::new(op::CALL_REQUEST).u16(1).u16(0)
}

// Version phase.

#[test]
fn version_phase_needs_a_version_message() {
    let mut d = StreamDecoder::new();
    // A chunk, or a wsapi v1 frame, first.
    for first in [0xff, 0x82, b'K', 0] {
        assert_eq!(
            d.decode(&[first, 0xff, 0, 0]),
            Err(DecodeError::Fatal(FatalError::NotVersionMessage { byte: first }))
        );
    }
    assert_eq!(d.phase(), Phase::Version);
    assert_eq!(d.decode(&[]), Err(DecodeError::Incomplete { needed: 1 }));
}

#[test]
fn incomplete_offer_waits_for_its_bytes() {
    let offer = [0x56, 0x09, 0x14, 0x4c, 0x17, 0x03, 0x03, 0x00, 0x00];
    let mut d = StreamDecoder::new();
    for n in 0..offer.len() {
        let needed = match n {
            0 => 1,
            1..=5 => 6,
            _ => 9,
        };
        assert_eq!(
            d.decode(&offer[..n]),
            Err(DecodeError::Incomplete { needed }),
            "{n} bytes"
        );
    }
    let ok = d.decode(&offer).unwrap();
    assert_eq!(ok.consumed, 9);
    assert_eq!(ok.message, Message::VersionOffer { versions: &[3, 0, 0] });
}

#[test]
fn offer_with_another_identifier_is_fatal_as_soon_as_it_is_there() {
    // Even with 255 versions announced and not received yet.
    let bad = [0x56, 0x09, 0x14, 0x4c, 0x18, 0xff];
    assert_eq!(
        StreamDecoder::new().decode(&bad),
        Err(DecodeError::Fatal(FatalError::BadIdentifier {
            identifier: 0x184c_1409
        }))
    );
    assert_eq!(
        StreamDecoder::new().decode(&bad[..5]),
        Err(DecodeError::Fatal(FatalError::BadIdentifier {
            identifier: 0x184c_1409
        }))
    );
    assert_eq!(
        StreamDecoder::new().decode(&bad[..4]),
        Err(DecodeError::Incomplete { needed: 6 })
    );
}

#[test]
fn version_set_forms() {
    let mut d = StreamDecoder::new();
    assert_eq!(d.decode(b"v"), Err(DecodeError::Incomplete { needed: 2 }));
    assert_eq!(d.decode(b"v\x03"), Err(DecodeError::Incomplete { needed: 4 }));
    assert_eq!(d.decode(b"v\x03\x04"), Err(DecodeError::Incomplete { needed: 4 }));
    assert_eq!(
        d.decode(b"v\x03\x05\x00"),
        Err(DecodeError::Fatal(FatalError::BadVersionTrailer {
            version: 3,
            value: 5
        }))
    );
    // Versions 0 and 1: two bytes, whatever follows.
    let d0 = d.decode(b"v\x00\xff\xff").unwrap();
    assert_eq!((d0.message, d0.consumed), (Message::VersionSet { version: 0 }, 2));
    let mut d = StreamDecoder::new();
    let d1 = d.decode(b"v\x01").unwrap();
    assert_eq!((d1.message, d1.consumed), (Message::VersionSet { version: 1 }, 2));
}

#[test]
fn offer_versions_are_given_as_sent() {
    let mut d = StreamDecoder::new();
    let m = d.decode(&[0x56, 0x09, 0x14, 0x4c, 0x17, 0]).unwrap();
    assert_eq!(m.message, Message::VersionOffer { versions: &[] });
    let mut d = StreamDecoder::new();
    let m = d.decode(&[0x56, 0x09, 0x14, 0x4c, 0x17, 2, 1, 3, 0xee]).unwrap();
    assert_eq!(
        (m.message, m.consumed),
        (Message::VersionOffer { versions: &[1, 3] }, 8)
    );
    assert_eq!(afb_rpc_codec::version::choose_version(&[1, 3]), 3);
}

#[test]
fn chunks_start_right_after_the_version_message() {
    // A VERSION-SET then a chunk in the same buffer: the chunk is aligned from byte 4.
    let mut buf = b"v\x03\x04\x00".to_vec();
    buf.extend(Chunk::new(op::EVENT_UNEXPECTED).u16(9).finish());
    let mut d = StreamDecoder::new();
    let v = d.decode(&buf).unwrap();
    assert_eq!(v.consumed, 4);
    let u = d.decode(&buf[4..]).unwrap();
    assert_eq!(u.message, Message::EventUnexpected { eventid: 9 });
    assert_eq!(u.consumed, 16);
    // After the version, a `V` is an unknown operation.
    let mut d = StreamDecoder::new();
    d.decode(b"v\x03\x04\x00").unwrap();
    assert!(matches!(
        d.decode(&[0x56, 0x09]),
        Err(DecodeError::Fatal(FatalError::UnknownOperation { code: 0x0956 }))
    ));
}

// Chunk header.

#[test]
fn unknown_operation_is_fatal_from_two_bytes() {
    for code in [0x0000, 0xfff6, 0x1234, 0x7fff] {
        let b = code_bytes(code);
        assert_eq!(
            chunks().decode(&b),
            Err(DecodeError::Fatal(FatalError::UnknownOperation { code }))
        );
    }
    assert_eq!(chunks().decode(&[0xff]), Err(DecodeError::Incomplete { needed: 8 }));
    assert_eq!(
        chunks().decode(&[0xff, 0xff, 0]),
        Err(DecodeError::Incomplete { needed: 8 })
    );
}

fn code_bytes(code: u16) -> [u8; 2] {
    code.to_le_bytes()
}

#[test]
fn chunk_length_below_8_is_fatal() {
    for length in 0..8u32 {
        let mut b = vec![0xfa, 0xff, 1, 0];
        b.extend_from_slice(&length.to_le_bytes());
        assert_eq!(
            chunks().decode(&b),
            Err(DecodeError::Fatal(FatalError::ChunkTooShort { length }))
        );
    }
}

#[test]
fn chunk_length_above_the_maximum_is_fatal_from_the_header_alone() {
    let mut b = vec![0xff, 0xff, 1, 0];
    b.extend_from_slice(&u32::MAX.to_le_bytes());
    assert_eq!(
        chunks().decode(&b),
        Err(DecodeError::Fatal(FatalError::ChunkTooLong {
            length: u32::MAX,
            max: afb_rpc_codec::DEFAULT_MAX_CHUNK_LEN
        }))
    );
    let over = u32::try_from(afb_rpc_codec::DEFAULT_MAX_CHUNK_LEN + 1).unwrap();
    b[4..8].copy_from_slice(&over.to_le_bytes());
    assert!(matches!(
        chunks().decode(&b),
        Err(DecodeError::Fatal(FatalError::ChunkTooLong { .. }))
    ));
    // At the maximum: wait for the body.
    let max = u32::try_from(afb_rpc_codec::DEFAULT_MAX_CHUNK_LEN).unwrap();
    b[4..8].copy_from_slice(&max.to_le_bytes());
    assert_eq!(
        chunks().decode(&b),
        Err(DecodeError::Incomplete {
            needed: afb_rpc_codec::DEFAULT_MAX_CHUNK_LEN
        })
    );
    // A configured maximum.
    let reply = Chunk::new(op::CALL_REPLY)
        .u16(1)
        .u16(1)
        .raw(&[0; 4])
        .typed(type_id::BYTEARRAY, &[1; 40])
        .finish();
    let len = u32::from_le_bytes(reply[4..8].try_into().unwrap());
    let mut small = chunks().with_max_chunk_len(len as usize - 1);
    assert_eq!(
        small.decode(&reply[..8]),
        Err(DecodeError::Fatal(FatalError::ChunkTooLong {
            length: len,
            max: len as usize - 1
        }))
    );
    let mut exact = chunks().with_max_chunk_len(len as usize);
    assert!(exact.decode(&reply).is_ok());
}

#[test]
fn chunk_length_must_fit_the_operation() {
    let cases: [(u16, u32, Operation); 6] = [
        (op::EVENT_SUBSCRIBE, 16, Operation::EventSubscribe),
        (op::EVENT_UNSUBSCRIBE, 10, Operation::EventUnsubscribe),
        (op::EVENT_UNEXPECTED, 12, Operation::EventUnexpected),
        (op::RESOURCE_DESTROY, 14, Operation::ResourceDestroy),
        (op::CALL_REPLY, 12, Operation::CallReply),
        (op::EVENT_BROADCAST, 28, Operation::EventBroadcast),
    ];
    for (code, length, operation) in cases {
        let mut b = code.to_le_bytes().to_vec();
        b.extend_from_slice(&[1, 0]);
        b.extend_from_slice(&length.to_le_bytes());
        assert_eq!(
            chunks().decode(&b),
            Err(DecodeError::Fatal(FatalError::BadChunkLength { operation, length })),
            "{operation}"
        );
    }
}

#[test]
fn incomplete_chunks_wait() {
    let c = call().plain(ResourceKind::Verb, b"ping\0").finish();
    for n in 0..23 {
        let needed = if n < 8 { 8 } else { 23 };
        assert_eq!(chunks().decode(&c[..n]), Err(DecodeError::Incomplete { needed }), "{n}");
    }
    // Complete without its padding, which is consumed when there.
    assert_eq!(chunks().decode(&c[..23]).map(|d| d.consumed), Ok(23));
    assert_eq!(c.len(), 24);
    assert_eq!(chunks().decode(&c).map(|d| d.consumed), Ok(24));
}

// Parameters.

#[test]
fn parameter_running_past_the_chunk_is_fatal() {
    // The length field says 20, the chunk ends before.
    let c = call().param_len(param::RES_PLAIN, 20, &[0xfb, 0xff, b'p', 0]).finish();
    assert_eq!(fatal(&c), FatalError::ParameterOverrun { offset: 12 });
    // A type without its length field.
    let c = call().raw(&[0xfe, 0xff]).finish();
    assert_eq!(fatal(&c), FatalError::ParameterOverrun { offset: 12 });
}

#[test]
fn padding_after_the_last_parameter_is_fatal() {
    // Zero words at the end of the parameters (inside the length).
    let c = call().plain(ResourceKind::Verb, b"ping\0").raw(&[0, 0, 0]).finish();
    assert_eq!(fatal(&c), FatalError::TrailingPadding { offset: 23 });
    // A lone byte at an odd offset.
    let c = call().plain(ResourceKind::Verb, b"ping\0").raw(&[0]).finish();
    assert_eq!(fatal(&c), FatalError::TrailingPadding { offset: 23 });
    // A lone byte at an even offset (half a word).
    let c = call().plain(ResourceKind::Verb, b"pin\0").raw(&[0]).finish();
    assert_eq!(fatal(&c), FatalError::TrailingPadding { offset: 22 });
}

#[test]
fn parameter_lengths_must_fit_their_type() {
    let cases: [(u16, u16, &[u8]); 8] = [
        (param::RES_ID, 10, &[0xfb, 0xff, 1, 0, 0, 0]),
        (param::RES_ID, 6, &[0xfb, 0xff]),
        (param::RES_PLAIN, 5, &[0xfb]),
        (param::VALUE_TYPED, 5, &[0xfe]),
        (param::VALUE_DATA, 8, &[1, 0, 0, 0]),
        (param::TIMEOUT, 6, &[1, 0]),
        (param::VALUE, 3, &[]),
        (param::VALUE, 0, &[]),
    ];
    for (ptype, length, body) in cases {
        let c = call().param_len(ptype, length, body).finish();
        assert_eq!(
            fatal(&c),
            FatalError::BadParameterLength {
                offset: 12,
                param: ptype,
                length
            },
            "{ptype:04x} {length}"
        );
    }
}

#[test]
fn unknown_parameter_type_is_fatal() {
    let c = call().param(0x1234, &[1, 2]).finish();
    assert_eq!(
        fatal(&c),
        FatalError::UnknownParameter {
            offset: 12,
            param: 0x1234
        }
    );
    let c = call().param(0xfff9, &[1, 2]).finish();
    assert_eq!(
        fatal(&c),
        FatalError::UnknownParameter {
            offset: 12,
            param: 0xfff9
        }
    );
}

#[test]
fn parameters_the_operation_does_not_take_are_fatal() {
    let reply = || Chunk::new(op::CALL_REPLY).u16(1).u16(0).raw(&[0; 4]);
    let c = reply().param(param::TIMEOUT, &[5, 0, 0, 0]).finish();
    assert_eq!(
        fatal(&c),
        FatalError::UnexpectedParameter {
            operation: Operation::CallReply,
            param: param::TIMEOUT
        }
    );
    let c = Chunk::new(op::EVENT_PUSH)
        .u16(2)
        .u16(0)
        .res_id(ResourceKind::Session, 3)
        .finish();
    assert_eq!(
        fatal(&c),
        FatalError::UnexpectedParameter {
            operation: Operation::EventPush,
            param: param::RES_ID
        }
    );
    let c = Chunk::new(op::EVENT_BROADCAST)
        .u16(0)
        .u16(2)
        .raw(&[0; 17])
        .raw(b"e\0")
        .plain(ResourceKind::Verb, b"x\0")
        .finish();
    assert_eq!(
        fatal(&c),
        FatalError::UnexpectedParameter {
            operation: Operation::EventBroadcast,
            param: param::RES_PLAIN
        }
    );
}

#[test]
fn call_resource_kinds_other_than_api_verb_session_token_creds_are_fatal() {
    for kind in [
        ResourceKind::Event,
        ResourceKind::Type,
        ResourceKind::Data,
        ResourceKind::Kind,
        ResourceKind::Operator,
        ResourceKind::Other(0x1234),
    ] {
        let c = call().plain(ResourceKind::Verb, b"v\0").plain(kind, b"x\0").finish();
        assert_eq!(
            fatal(&c),
            FatalError::UnexpectedResourceKind {
                operation: Operation::CallRequest,
                kind: kind.code()
            }
        );
        let c = call().plain(ResourceKind::Verb, b"v\0").res_id(kind, 1).finish();
        assert_eq!(
            fatal(&c),
            FatalError::UnexpectedResourceKind {
                operation: Operation::CallRequest,
                kind: kind.code()
            }
        );
    }
}

#[test]
fn resource_create_and_destroy_of_non_creatable_kinds_are_fatal() {
    for kind in [
        ResourceKind::Api,
        ResourceKind::Verb,
        ResourceKind::Data,
        ResourceKind::Kind,
        ResourceKind::Creds,
        ResourceKind::Operator,
    ] {
        let c = Chunk::new(op::RESOURCE_CREATE)
            .u16(kind.code())
            .u16(1)
            .raw(b"x\0")
            .finish();
        assert_eq!(
            fatal(&c),
            FatalError::UnexpectedResourceKind {
                operation: Operation::ResourceCreate,
                kind: kind.code()
            }
        );
        let c = Chunk::new(op::RESOURCE_DESTROY).u16(kind.code()).u16(1).finish();
        assert_eq!(
            fatal(&c),
            FatalError::UnexpectedResourceKind {
                operation: Operation::ResourceDestroy,
                kind: kind.code()
            }
        );
    }
}

#[test]
fn resources_of_unknown_kinds_are_decoded_for_the_receiver_to_ignore() {
    // Their data is kept as it is: no NUL required.
    let c = Chunk::new(op::RESOURCE_CREATE)
        .u16(0x0042)
        .u16(1)
        .raw(&[1, 2, 3])
        .finish();
    assert_eq!(
        decode_one(&c),
        Message::ResourceCreate {
            kind: ResourceKind::Other(0x42),
            id: 1,
            text: Text::new(&[1, 2, 3])
        }
    );
    let c = Chunk::new(op::RESOURCE_DESTROY).u16(0x0042).u16(1).finish();
    assert_eq!(
        decode_one(&c),
        Message::ResourceDestroy {
            kind: ResourceKind::Other(0x42),
            id: 1
        }
    );
}

#[test]
fn resource_texts_need_their_nul() {
    for kind in [
        ResourceKind::Session,
        ResourceKind::Token,
        ResourceKind::Event,
        ResourceKind::Type,
    ] {
        let c = Chunk::new(op::RESOURCE_CREATE)
            .u16(kind.code())
            .u16(1)
            .raw(b"abc")
            .finish();
        assert_eq!(fatal(&c), FatalError::TextWithoutNul { what: "resource text" });
        let c = Chunk::new(op::RESOURCE_CREATE).u16(kind.code()).u16(1).finish();
        assert_eq!(fatal(&c), FatalError::TextWithoutNul { what: "resource text" });
        let c = Chunk::new(op::RESOURCE_CREATE)
            .u16(kind.code())
            .u16(1)
            .raw(b"a\0c\0")
            .finish();
        assert_eq!(fatal(&c), FatalError::NulInText { what: "resource text" });
    }
    let long = vec![b'a'; 65536];
    let c = Chunk::new(op::RESOURCE_CREATE).u16(0xfffe).u16(1).raw(&long).finish();
    assert_eq!(fatal(&c), FatalError::ResourceDataTooLong { len: 65536 });
}

// Values.

#[test]
fn more_than_64_values_is_fatal() {
    let mut c = Chunk::new(op::EVENT_PUSH).u16(1).u16(65);
    for _ in 0..65 {
        c = c.typed(type_id::BOOL, &[1]);
    }
    assert_eq!(fatal(&c.finish()), FatalError::TooManyValues { declared: 65 });
    let mut c = Chunk::new(op::EVENT_PUSH).u16(1).u16(64);
    for _ in 0..64 {
        c = c.typed(type_id::BOOL, &[1]);
    }
    let c = c.finish();
    let Message::EventPush(push) = decode_one(&c) else {
        panic!("not a push")
    };
    assert_eq!(push.values.len(), 64);
    assert_eq!(push.values.iter().count(), 64);
}

#[test]
fn value_count_must_match() {
    let c = Chunk::new(op::EVENT_PUSH)
        .u16(1)
        .u16(2)
        .typed(type_id::BOOL, &[1])
        .finish();
    assert_eq!(fatal(&c), FatalError::ValueCountMismatch { declared: 2, found: 1 });
    let c = Chunk::new(op::EVENT_PUSH)
        .u16(1)
        .u16(0)
        .typed(type_id::BOOL, &[1])
        .finish();
    assert_eq!(fatal(&c), FatalError::ValueCountMismatch { declared: 0, found: 1 });
    let c = call()
        .u16(0)
        .plain(ResourceKind::Verb, b"v\0")
        .typed(type_id::BOOL, &[1])
        .finish();
    // (the u16 above is a padding word)
    assert_eq!(fatal(&c), FatalError::ValueCountMismatch { declared: 0, found: 1 });
}

#[test]
fn fixed_size_types_need_their_size() {
    let cases: [(u16, usize, usize); 6] = [
        (type_id::I32, 4, 3),
        (type_id::BOOL, 1, 2),
        (type_id::DOUBLE_BE, 8, 4),
        (type_id::I8, 1, 0),
        (type_id::U16_BE, 2, 4),
        (type_id::FLOAT, 4, 8),
    ];
    for (tid, expected, found) in cases {
        let c = Chunk::new(op::EVENT_PUSH)
            .u16(1)
            .u16(1)
            .typed(tid, &vec![0; found])
            .finish();
        assert_eq!(
            fatal(&c),
            FatalError::BadValueSize {
                type_id: tid,
                expected,
                found
            }
        );
    }
}

#[test]
fn type_id_zero_is_fatal() {
    let c = Chunk::new(op::EVENT_PUSH).u16(1).u16(1).typed(0, b"x").finish();
    assert_eq!(fatal(&c), FatalError::TypeIdZero);
}

#[test]
fn value_data_and_untyped_values_are_decoded() {
    let c = Chunk::new(op::EVENT_PUSH)
        .u16(1)
        .u16(3)
        .param(param::VALUE_DATA, &[5, 0])
        .param(param::VALUE, b"raw")
        .typed(300, &[9; 16])
        .finish();
    let Message::EventPush(push) = decode_one(&c) else {
        panic!("not a push")
    };
    let values: Vec<Value<'_>> = push.values.iter().collect();
    assert_eq!(
        values,
        [
            Value::Data(5),
            Value::Untyped(b"raw"),
            Value::Typed {
                type_id: 300,
                bytes: &[9; 16]
            }
        ]
    );
}

// Texts.

#[test]
fn res_plain_text_needs_its_nul() {
    let c = call().plain(ResourceKind::Verb, b"ping").finish();
    assert_eq!(fatal(&c), FatalError::TextWithoutNul { what: "RES-PLAIN text" });
    let c = call().plain(ResourceKind::Verb, b"").finish();
    assert_eq!(fatal(&c), FatalError::TextWithoutNul { what: "RES-PLAIN text" });
    let c = call().plain(ResourceKind::Verb, b"pi\0ng\0").finish();
    assert_eq!(fatal(&c), FatalError::NulInText { what: "RES-PLAIN text" });
}

#[test]
fn broadcast_name_needs_its_nul_inside_its_length() {
    let broadcast = |namelen: u16, name: &[u8]| {
        Chunk::new(op::EVENT_BROADCAST)
            .u16(0)
            .u16(namelen)
            .raw(&[0; 16])
            .raw(&[3])
            .raw(name)
            .finish()
    };
    assert_eq!(
        fatal(&broadcast(3, b"a/b")),
        FatalError::TextWithoutNul {
            what: "broadcast event name"
        }
    );
    assert_eq!(
        fatal(&broadcast(0, b"")),
        FatalError::TextWithoutNul {
            what: "broadcast event name"
        }
    );
    assert_eq!(
        fatal(&broadcast(4, b"a\0b\0")),
        FatalError::NulInText {
            what: "broadcast event name"
        }
    );
    assert_eq!(
        fatal(&broadcast(9, b"a/b\0")),
        FatalError::BroadcastNameOverrun { namelen: 9 }
    );
    let ok = broadcast(4, b"a/b\0");
    let Message::EventBroadcast(b) = decode_one(&ok) else {
        panic!("not a broadcast")
    };
    assert_eq!((b.name, b.hop, b.values.len()), (Text::from("a/b"), 3, 0));
}

#[test]
fn texts_need_not_be_utf8() {
    // A verb that is not UTF-8 (from a percent-encoded URL of a C front's client) is for the
    // callee to refuse as an unknown verb, not a reason to break the link.
    let c = call().plain(ResourceKind::Verb, b"\xff\xfe\0").finish();
    let Message::CallRequest(req) = decode_one(&c) else {
        panic!("not a call")
    };
    assert_eq!(req.verb, Verb::Name(Text::new(b"\xff\xfe")));
    assert!(Text::new(b"\xff\xfe").to_str().is_err());
}

// Calls.

#[test]
fn call_without_verb_is_fatal() {
    let c = call().plain(ResourceKind::Api, b"hello\0").finish();
    assert_eq!(fatal(&c), FatalError::MissingVerb);
    // Special verb id 0 means none; the last verb wins.
    let c = call().res_id(ResourceKind::Verb, 0).finish();
    assert_eq!(fatal(&c), FatalError::MissingVerb);
    let c = call()
        .plain(ResourceKind::Verb, b"ping\0")
        .res_id(ResourceKind::Verb, 0)
        .finish();
    assert_eq!(fatal(&c), FatalError::MissingVerb);
}

#[test]
fn call_parameters_in_any_order_last_one_wins() {
    let c = call()
        .u16(0)
        .param(param::TIMEOUT, &[30, 0, 0, 0])
        .res_id(ResourceKind::Token, 4)
        .plain(ResourceKind::Creds, b"0:0:1-label\0")
        .plain(ResourceKind::Verb, b"first\0")
        .res_id(ResourceKind::Session, 9)
        .plain(ResourceKind::Api, b"api1\0")
        .plain(ResourceKind::Verb, b"second\0")
        .res_id(ResourceKind::Session, 3)
        .plain(ResourceKind::Api, b"api2\0")
        .finish();
    let expected = CallRequest {
        api: Some(Text::from("api2")),
        session: 3,
        token: 4,
        creds: Some(Text::from("0:0:1-label")),
        timeout: Some(30),
        ..CallRequest::new(1, Verb::name("second"))
    };
    assert_eq!(decode_one(&c), Message::CallRequest(expected));
}

#[test]
fn call_values_among_other_parameters_all_read() {
    // Values first (after a padding word), between and after resource parameters; the odd
    // verb text makes the next parameter start after a padding byte.
    let c = Chunk::new(op::CALL_REQUEST)
        .u16(1)
        .u16(3)
        .u16(0)
        .typed(type_id::BOOL, &[1])
        .plain(ResourceKind::Verb, b"ping\0")
        .typed(type_id::U16, &[2, 0])
        .res_id(ResourceKind::Session, 3)
        .plain(ResourceKind::Api, b"hello\0")
        .typed(type_id::BOOL, &[0])
        .finish();
    let Message::CallRequest(req) = decode_one(&c) else {
        panic!("not a call")
    };
    assert_eq!((req.verb, req.session), (Verb::name("ping"), 3));
    assert_eq!(req.api, Some(Text::from("hello")));
    let values: Vec<Value<'_>> = req.values.iter().collect();
    assert_eq!(
        values,
        [
            Value::Typed {
                type_id: type_id::BOOL,
                bytes: &[1]
            },
            Value::Typed {
                type_id: type_id::U16,
                bytes: &[2, 0]
            },
            Value::Typed {
                type_id: type_id::BOOL,
                bytes: &[0]
            },
        ]
    );
    assert_eq!(req.values.len(), 3);
    assert_eq!(req.values.get(2), values.get(2).copied());
}

#[test]
fn call_forms_without_effect() {
    // API as RES-ID = default API; SESSION/TOKEN in plain = 0; CREDS as RES-ID = none.
    let c = call()
        .plain(ResourceKind::Api, b"hello\0")
        .res_id(ResourceKind::Api, 7)
        .res_id(ResourceKind::Session, 3)
        .plain(ResourceKind::Session, b"uuid\0")
        .res_id(ResourceKind::Token, 2)
        .plain(ResourceKind::Token, b"tok\0")
        .plain(ResourceKind::Creds, b"c\0")
        .res_id(ResourceKind::Creds, 1)
        .res_id(ResourceKind::Verb, 0xffff)
        .finish();
    assert_eq!(
        decode_one(&c),
        Message::CallRequest(CallRequest::new(1, Verb::Special(0xffff)))
    );
}

// Padding as the C reader takes it.

#[test]
fn odd_padding_byte_may_hold_anything() {
    // "ping\0" ends at the odd offset 23; the byte after it is skipped whatever it is.
    let mut c = call()
        .plain(ResourceKind::Verb, b"ping\0")
        .res_id(ResourceKind::Session, 3)
        .finish();
    let odd = 12 + 4 + 2 + 5;
    assert_eq!(c[odd], 0);
    c[odd] = 0xa5;
    let Message::CallRequest(req) = decode_one(&c) else {
        panic!("not a call")
    };
    assert_eq!(req.session, 3);
}

#[test]
fn chunk_padding_may_hold_anything_and_may_be_late() {
    let mut c = Chunk::new(op::EVENT_UNEXPECTED).u16(2).finish();
    c[10..16].copy_from_slice(&[1, 2, 3, 4, 5, 6]);
    let mut d = chunks();
    // The padding is not there yet: the chunk is decoded, its padding skipped later.
    let first = d.decode(&c[..10]).unwrap();
    assert_eq!(
        (first.message, first.consumed),
        (Message::EventUnexpected { eventid: 2 }, 10)
    );
    let mut next = c[10..13].to_vec();
    assert_eq!(d.decode(&next), Err(DecodeError::Incomplete { needed: 14 }));
    next.extend_from_slice(&c[13..]);
    next.extend_from_slice(&Chunk::new(op::EVENT_UNEXPECTED).u16(3).finish());
    let second = d.decode(&next).unwrap();
    assert_eq!(
        (second.message, second.consumed),
        (Message::EventUnexpected { eventid: 3 }, 6 + 16)
    );
}

#[test]
fn chunks_without_parameters_take_no_extra_bytes() {
    // 16 bytes announced for a subscribe is refused even when they are zeros.
    let mut b = Chunk::new(op::EVENT_SUBSCRIBE).u16(1).u16(2).raw(&[0; 4]).finish();
    assert_eq!(
        fatal(&b),
        FatalError::BadChunkLength {
            operation: Operation::EventSubscribe,
            length: 16
        }
    );
    b[4] = 12;
    assert_eq!(decode_one(&b), Message::EventSubscribe { callid: 1, eventid: 2 });
}

// WebSocket mode.

#[test]
fn websocket_message_must_hold_whole_messages() {
    let two = [
        Chunk::new(op::EVENT_UNEXPECTED).u16(2).finish(),
        Chunk::new(op::EVENT_UNEXPECTED).u16(3).finish(),
    ]
    .concat();
    let mut d = chunks();
    let all: Vec<_> = d.decode_ws_message(&two).collect();
    assert_eq!(all.len(), 2);
    // The last chunk may lack its padding, entirely or partly.
    for cut in [26, 28, 31] {
        let all: Vec<_> = d.decode_ws_message(&two[..cut]).collect();
        assert_eq!(all.len(), 2, "cut at {cut}");
        assert!(all.iter().all(Result::is_ok));
    }
    // Cut inside the second chunk.
    let all: Vec<_> = d.decode_ws_message(&two[..20]).collect();
    assert_eq!(
        all[1],
        Err(FatalError::TruncatedMessage {
            needed: 8,
            available: 4
        })
    );
    // Each message starts its own alignment.
    let one = Chunk::new(op::EVENT_UNEXPECTED).u16(2).finish();
    let all: Vec<_> = d.decode_ws_message(&one[..10]).collect();
    assert_eq!(all.len(), 1);
    let all: Vec<_> = d.decode_ws_message(&one).collect();
    assert_eq!(
        all,
        [Ok(afb_rpc_codec::Decoded {
            message: Message::EventUnexpected { eventid: 2 },
            seqno: 7,
            consumed: 16
        })]
    );
    // Iteration stops at the first error.
    let bad = [vec![0u8; 8], one.clone()].concat();
    let all: Vec<_> = d.decode_ws_message(&bad).collect();
    assert_eq!(all, [Err(FatalError::UnknownOperation { code: 0 })]);
}

#[test]
fn errors_display() {
    let texts = [
        FatalError::UnknownOperation { code: 0x1234 }.to_string(),
        FatalError::ChunkTooLong { length: 9, max: 8 }.to_string(),
        FatalError::TextWithoutNul { what: "verb" }.to_string(),
        DecodeError::Incomplete { needed: 8 }.to_string(),
    ];
    assert_eq!(texts[0], "unknown RPC operation 0x1234");
    assert!(texts[1].contains('9') && texts[1].contains('8'));
    assert!(texts[2].contains("verb"));
    assert!(texts[3].contains("8 bytes"));
}
