//! Property tests: every message kind with arbitrary contents survives encode -> decode; a
//! stream of messages decodes the same whatever the read sizes (down to one byte at a time),
//! and in WebSocket mode; arbitrary or damaged bytes never panic, and whatever decodes
//! re-encodes into bytes that decode to the same message.

use afb_rpc_codec::types::{fixed_size, type_id, PredefinedType};
use afb_rpc_codec::{
    encode, encode_to_vec, encoded_len, CallReply, CallRequest, DecodeError, Decoded, EventBroadcast, EventPush,
    Message, Phase, ResourceKind, Scalar, StreamDecoder, Text, Value, Values, Verb,
};
use proptest::prelude::*;

/// An owned value, from which a [`Value`] borrows.
#[derive(Debug, Clone)]
enum OwnedValue {
    Untyped(Vec<u8>),
    Typed(u16, Vec<u8>),
    Text(u16, Vec<u8>),
    Scalar(Scalar),
    Data(u16),
}

/// An owned message, from which a [`Message`] borrows.
#[derive(Debug, Clone)]
enum Owned {
    Offer(Vec<u8>),
    Set(u8),
    Call {
        callid: u16,
        api: Option<Vec<u8>>,
        verb: Result<Vec<u8>, u16>,
        session: u16,
        token: u16,
        creds: Option<Vec<u8>>,
        timeout: Option<u32>,
        values: Vec<OwnedValue>,
    },
    Reply {
        callid: u16,
        status: i32,
        values: Vec<OwnedValue>,
    },
    Push {
        eventid: u16,
        values: Vec<OwnedValue>,
    },
    Subscribe(u16, u16),
    Unsubscribe(u16, u16),
    Unexpected(u16),
    Broadcast {
        name: Vec<u8>,
        uuid: [u8; 16],
        hop: u8,
        values: Vec<OwnedValue>,
    },
    Create {
        kind: ResourceKind,
        id: u16,
        text: Vec<u8>,
    },
    Destroy {
        kind: ResourceKind,
        id: u16,
    },
}

impl Owned {
    fn values(&self) -> &[OwnedValue] {
        match self {
            Owned::Call { values, .. }
            | Owned::Reply { values, .. }
            | Owned::Push { values, .. }
            | Owned::Broadcast { values, .. } => values,
            _ => &[],
        }
    }
}

fn borrow_values(values: &[OwnedValue]) -> Vec<Value<'_>> {
    values
        .iter()
        .map(|v| match v {
            OwnedValue::Untyped(b) => Value::Untyped(b),
            OwnedValue::Typed(type_id, bytes) => Value::Typed {
                type_id: *type_id,
                bytes,
            },
            OwnedValue::Text(type_id, text) => Value::Text {
                type_id: *type_id,
                text: Text::new(text),
            },
            OwnedValue::Scalar(s) => Value::Scalar(*s),
            OwnedValue::Data(id) => Value::Data(*id),
        })
        .collect()
}

fn message<'a>(owned: &'a Owned, values: &'a [Value<'a>]) -> Message<'a> {
    let values = Values::new(values);
    match owned {
        Owned::Offer(versions) => Message::VersionOffer { versions },
        Owned::Set(version) => Message::VersionSet { version: *version },
        Owned::Call {
            callid,
            api,
            verb,
            session,
            token,
            creds,
            timeout,
            ..
        } => Message::CallRequest(CallRequest {
            callid: *callid,
            api: api.as_deref().map(Text::new),
            verb: match verb {
                Ok(name) => Verb::Name(Text::new(name)),
                Err(id) => Verb::Special(*id),
            },
            session: *session,
            token: *token,
            creds: creds.as_deref().map(Text::new),
            timeout: *timeout,
            values,
        }),
        Owned::Reply { callid, status, .. } => Message::CallReply(CallReply {
            callid: *callid,
            status: *status,
            values,
        }),
        Owned::Push { eventid, .. } => Message::EventPush(EventPush {
            eventid: *eventid,
            values,
        }),
        Owned::Subscribe(callid, eventid) => Message::EventSubscribe {
            callid: *callid,
            eventid: *eventid,
        },
        Owned::Unsubscribe(callid, eventid) => Message::EventUnsubscribe {
            callid: *callid,
            eventid: *eventid,
        },
        Owned::Unexpected(eventid) => Message::EventUnexpected { eventid: *eventid },
        Owned::Broadcast { name, uuid, hop, .. } => Message::EventBroadcast(EventBroadcast {
            name: Text::new(name),
            uuid: *uuid,
            hop: *hop,
            values,
        }),
        Owned::Create { kind, id, text } => Message::ResourceCreate {
            kind: *kind,
            id: *id,
            text: Text::new(text),
        },
        Owned::Destroy { kind, id } => Message::ResourceDestroy { kind: *kind, id: *id },
    }
}

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => prop::collection::vec(any::<u8>(), 0..24),
        1 => prop::collection::vec(any::<u8>(), 0..=max),
    ]
}

/// Bytes without NUL (the texts that travel NUL-terminated).
fn text() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => prop::collection::vec(1u8..=255, 0..24),
        1 => prop::collection::vec(1u8..=255, 0..600),
    ]
}

fn typed_value() -> impl Strategy<Value = OwnedValue> {
    let fixed = prop::sample::select(
        PredefinedType::ALL
            .iter()
            .filter(|t| t.fixed_size().is_some())
            .map(|t| t.id())
            .collect::<Vec<_>>(),
    )
    .prop_flat_map(|id| {
        let n = fixed_size(id).unwrap_or(0);
        prop::collection::vec(any::<u8>(), n).prop_map(move |b| OwnedValue::Typed(id, b))
    });
    let variable = prop::sample::select(vec![
        type_id::OPAQUE,
        type_id::BYTEARRAY,
        type_id::STRINGZ,
        type_id::JSON,
    ]);
    let declared = 1u16..type_id::DOUBLE_BE;
    prop_oneof![
        fixed,
        (variable, bytes(2000)).prop_map(|(id, b)| OwnedValue::Typed(id, b)),
        (declared.clone(), bytes(100)).prop_map(|(id, b)| OwnedValue::Typed(id, b)),
        (
            prop_oneof![Just(type_id::STRINGZ), Just(type_id::JSON), declared],
            bytes(300)
        )
            .prop_map(|(id, t)| OwnedValue::Text(id, t)),
    ]
}

fn value() -> impl Strategy<Value = OwnedValue> {
    prop_oneof![
        6 => typed_value(),
        1 => bytes(2000).prop_map(OwnedValue::Untyped),
        1 => any::<u16>().prop_map(OwnedValue::Data),
        2 => prop_oneof![
            any::<bool>().prop_map(Scalar::Bool),
            any::<i32>().prop_map(Scalar::I32),
            any::<u32>().prop_map(Scalar::U32),
            any::<i64>().prop_map(Scalar::I64),
            any::<u64>().prop_map(Scalar::U64),
            any::<f64>().prop_map(Scalar::F64),
        ]
        .prop_map(OwnedValue::Scalar),
    ]
}

fn values() -> impl Strategy<Value = Vec<OwnedValue>> {
    prop_oneof![
        8 => prop::collection::vec(value(), 0..6),
        1 => prop::collection::vec(value(), 0..=64),
    ]
}

/// Kinds accepted by RESOURCE-CREATE/DESTROY: SESSION, TOKEN, EVENT, TYPE, or outside the table.
fn creatable_kind() -> impl Strategy<Value = ResourceKind> {
    prop_oneof![
        Just(ResourceKind::Session),
        Just(ResourceKind::Token),
        Just(ResourceKind::Event),
        Just(ResourceKind::Type),
        (0u16..0xfff6).prop_map(ResourceKind::from_code),
    ]
}

fn owned() -> impl Strategy<Value = Owned> {
    let verb = prop_oneof![text().prop_map(Ok), (1u16..).prop_map(Err)];
    let call = (
        any::<u16>(),
        prop::option::of(text()),
        verb,
        any::<u16>(),
        any::<u16>(),
        prop::option::of(text()),
        prop::option::of(any::<u32>()),
        values(),
    )
        .prop_map(
            |(callid, api, verb, session, token, creds, timeout, values)| Owned::Call {
                callid,
                api,
                verb,
                session,
                token,
                creds,
                timeout,
                values,
            },
        );
    let create = creatable_kind().prop_flat_map(|kind| {
        // Texts of known kinds travel with a NUL; data of unknown kinds as they are.
        let data = if kind.is_known() {
            text().boxed()
        } else {
            bytes(100).boxed()
        };
        (any::<u16>(), data).prop_map(move |(id, text)| Owned::Create { kind, id, text })
    });
    prop_oneof![
        1 => prop::collection::vec(any::<u8>(), 0..8).prop_map(Owned::Offer),
        1 => any::<u8>().prop_map(Owned::Set),
        3 => call,
        3 => (any::<u16>(), any::<i32>(), values()).prop_map(|(callid, status, values)| Owned::Reply {
            callid,
            status,
            values
        }),
        2 => (any::<u16>(), values()).prop_map(|(eventid, values)| Owned::Push { eventid, values }),
        1 => (any::<u16>(), any::<u16>()).prop_map(|(c, e)| Owned::Subscribe(c, e)),
        1 => (any::<u16>(), any::<u16>()).prop_map(|(c, e)| Owned::Unsubscribe(c, e)),
        1 => any::<u16>().prop_map(Owned::Unexpected),
        1 => (text(), any::<[u8; 16]>(), any::<u8>(), values()).prop_map(|(name, uuid, hop, values)| Owned::Broadcast {
            name,
            uuid,
            hop,
            values
        }),
        2 => create,
        1 => (creatable_kind(), any::<u16>()).prop_map(|(kind, id)| Owned::Destroy { kind, id }),
    ]
}

/// A link's traffic in one direction: a version message, then chunks.
fn stream() -> impl Strategy<Value = Vec<Owned>> {
    (
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..8).prop_map(Owned::Offer),
            any::<u8>().prop_map(Owned::Set)
        ],
        prop::collection::vec(
            owned().prop_filter("chunks", |m| !matches!(m, Owned::Offer(_) | Owned::Set(_))),
            0..12,
        ),
    )
        .prop_map(|(first, mut rest)| {
            rest.insert(0, first);
            rest
        })
}

fn decoder_for(msg: &Message<'_>) -> StreamDecoder {
    let mut d = StreamDecoder::new();
    if !msg.is_version() {
        d.set_phase(Phase::Chunks);
    }
    d
}

/// Read sizes: one byte at a time, small pieces, or large ones.
fn cuts() -> impl Strategy<Value = Vec<usize>> {
    prop_oneof![
        Just(vec![1]),
        prop::collection::vec(1usize..16, 1..8),
        prop::collection::vec(1usize..3000, 1..8),
    ]
}

/// A decoded message as seen by [`decode_in_pieces`]: start offset, seqno, bytes consumed,
/// debug text.
type Seen = (usize, u16, usize, String);

/// Decodes `wire` as a stream fed in pieces of the given sizes (cycled): the messages, as
/// `(start offset, seqno, consumed, debug text)`, and the error that stopped decoding
/// (`None` when all was consumed and the last answer was `Incomplete`).
fn decode_in_pieces(wire: &[u8], phase: Phase, cuts: &[usize]) -> (Vec<Seen>, Option<DecodeError>) {
    let mut decoder = StreamDecoder::new();
    decoder.set_phase(phase);
    let mut received = 0;
    let mut pos = 0;
    let mut out = Vec::new();
    let mut sizes = cuts.iter().copied().cycle();
    loop {
        match decoder.decode(&wire[pos..received]) {
            Ok(d) => {
                assert!(d.consumed > 0 && pos + d.consumed <= received);
                out.push((pos, d.seqno, d.consumed, format!("{:?}", d.message)));
                pos += d.consumed;
            }
            Err(DecodeError::Incomplete { needed }) => {
                assert!(needed > received - pos, "Incomplete must ask for more");
                if received == wire.len() {
                    return (out, None);
                }
                received = (received + sizes.next().unwrap_or(1).max(1)).min(wire.len());
            }
            Err(fatal) => return (out, Some(fatal)),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// encode -> decode gives the message back, with its seqno and size; re-encoding the
    /// decoded message gives the same bytes.
    #[test]
    fn round_trip(owned in owned(), seqno in any::<u16>()) {
        let values = borrow_values(owned.values());
        let msg = message(&owned, &values);
        let wire = encode_to_vec(&msg, seqno).unwrap();
        prop_assert_eq!(encoded_len(&msg), Ok(wire.len()));
        if !msg.is_version() {
            prop_assert_eq!(wire.len() % 8, 0);
        }
        let d = decoder_for(&msg).decode(&wire).unwrap();
        prop_assert_eq!(d.message, msg);
        prop_assert_eq!(d.consumed, wire.len());
        prop_assert_eq!(d.seqno, if msg.is_version() { 0 } else { seqno });
        prop_assert_eq!(&encode_to_vec(&d.message, seqno).unwrap(), &wire);
        // The received values read as typed values wherever the sender's do.
        for (sent, got) in msg.values().iter().zip(d.message.values().iter()) {
            if let (Ok(a), Ok(b)) = (sent.typed(), got.typed()) {
                prop_assert_eq!(format!("{a:?}"), format!("{b:?}"));
            }
        }
    }

    /// A stream decodes to the same messages whatever the read sizes, one byte at a time
    /// included, and each chunk in its own WebSocket message too.
    #[test]
    fn split_stream(msgs in stream(), cuts in cuts()) {
        let all_values: Vec<Vec<Value<'_>>> = msgs.iter().map(|m| borrow_values(m.values())).collect();
        let messages: Vec<Message<'_>> = msgs.iter().zip(&all_values).map(|(m, v)| message(m, v)).collect();
        let mut wire = Vec::new();
        let mut starts = Vec::new();
        for (i, m) in messages.iter().enumerate() {
            starts.push(wire.len());
            encode(m, u16::try_from(i).unwrap(), &mut wire).unwrap();
        }
        let (decoded, error) = decode_in_pieces(&wire, Phase::Version, &cuts);
        prop_assert_eq!(error, None);
        prop_assert_eq!(decoded.len(), messages.len());
        let last = decoded.last().map_or(0, |(pos, _, consumed, _)| pos + consumed);
        // All consumed, but maybe the padding of the last chunk (skipped at the next call).
        prop_assert!(last <= wire.len() && wire.len() - last < 8);
        for ((pos, seqno, consumed, text), (i, m)) in decoded.iter().zip(messages.iter().enumerate()) {
            // What was consumed covers the message (and maybe padding of the previous one,
            // when it arrived after that message was decoded).
            prop_assert!(*pos <= starts[i] && pos + consumed > starts[i]);
            prop_assert_eq!(*seqno, if i == 0 { 0 } else { u16::try_from(i).unwrap() });
            // The decoded values are a wire view: compare through a second decoding.
            let mut d = decoder_for(m);
            let again = d.decode(&wire[starts[i]..]).unwrap();
            prop_assert_eq!(&again.message, m);
            prop_assert_eq!(text, &format!("{:?}", again.message));
        }
        // WebSocket mode: each message alone, the chunks without their final padding too.
        let mut ws = StreamDecoder::new();
        for (i, m) in messages.iter().enumerate() {
            let end = starts.get(i + 1).copied().unwrap_or(wire.len());
            let one = &wire[starts[i]..end];
            let got: Vec<Decoded<'_>> = ws.decode_ws_message(one).map(Result::unwrap).collect();
            prop_assert_eq!(got.len(), 1);
            prop_assert_eq!(&got[0].message, m);
            if !m.is_version() {
                let length = u32::from_le_bytes(one[4..8].try_into().unwrap()) as usize;
                let unpadded = &one[..length];
                let got: Vec<_> = ws.decode_ws_message(unpadded).map(Result::unwrap).collect();
                prop_assert_eq!(got.len(), 1);
                prop_assert_eq!(&got[0].message, m);
            }
        }
        // All the chunks in one WebSocket message.
        if messages.len() > 1 {
            let mut ws = StreamDecoder::new();
            prop_assert_eq!(ws.decode_ws_message(&wire[..starts[1]]).count(), 1);
            let got: Vec<_> = ws.decode_ws_message(&wire[starts[1]..]).map(Result::unwrap).collect();
            prop_assert_eq!(got.len(), messages.len() - 1);
        }
    }

    /// Arbitrary bytes never panic; the outcome does not depend on the read sizes; whatever
    /// decodes re-encodes into bytes that decode to the same message.
    #[test]
    fn arbitrary_bytes(
        wire in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..64),
            prop::collection::vec(prop_oneof![Just(0u8), Just(0xff), Just(0xfc), Just(8), any::<u8>()], 0..400),
        ],
        version in any::<bool>(),
        cuts in cuts(),
    ) {
        let phase = if version { Phase::Version } else { Phase::Chunks };
        let whole = decode_in_pieces(&wire, phase, &[wire.len().max(1)]);
        let pieces = decode_in_pieces(&wire, phase, &cuts);
        prop_assert_eq!(&whole, &pieces);
        check_reencoding(&wire, phase);
    }

    /// Damaged encodings (a few bytes changed, or cut) never panic, and what still decodes
    /// re-encodes consistently.
    #[test]
    fn damaged_encodings(
        owned in owned(),
        damage in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
    ) {
        let values = borrow_values(owned.values());
        let msg = message(&owned, &values);
        let mut wire = encode_to_vec(&msg, 1).unwrap();
        let phase = if msg.is_version() { Phase::Version } else { Phase::Chunks };
        for (at, byte) in damage {
            let i = at.index(wire.len());
            wire[i] = byte;
        }
        check_reencoding(&wire, phase);
        let n = cut.index(wire.len() + 1);
        check_reencoding(&wire[..n], phase);
        let _ = StreamDecoder::new().decode_ws_message(&wire[..n]).count();
    }
}

/// Decodes `wire` as a stream; each message decoded is re-encoded and decoded again, equal.
fn check_reencoding(wire: &[u8], phase: Phase) {
    let mut decoder = StreamDecoder::new();
    decoder.set_phase(phase);
    let mut pos = 0;
    while let Ok(d) = decoder.decode(&wire[pos..]) {
        pos += d.consumed;
        let again = encode_to_vec(&d.message, d.seqno).expect("what decodes can be encoded");
        let redecoded = decoder_for(&d.message).decode(&again).unwrap();
        assert_eq!(redecoded.message, d.message);
        assert_eq!(redecoded.consumed, again.len());
    }
}
