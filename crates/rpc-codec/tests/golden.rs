//! Golden tests: the bytes captured between two C binders (redpesk afb-binder 5.3 on libafb
//! 5.7), written in the capture notation, must be produced exactly by our encoder (seqnos set
//! as captured) and decoded back into the same messages, as a stream and as WebSocket
//! messages. Where a capture elides bytes ("like 6.2 with verb fail"), the test builds them
//! by hand from the capture's description and checks the offsets it states.

use afb_rpc_codec::version::OFFER;
use afb_rpc_codec::wire::special_verb;
use afb_rpc_codec::{
    encode, encoded_len, CallReply, CallRequest, EventBroadcast, EventPush, Message, Phase, ResourceKind,
    StreamDecoder, Text, TypedValue, Value, Values, Verb,
};
use afb_wsapi_codec::frame::{FrameDecoder, FrameEvent};

/// Parses the capture notation: hex groups, and `"..."` / `'...'` strings (with `\0` for NUL)
/// taken as their bytes. A string runs to the next matching quote followed by a space or the
/// end.
fn bytes(notation: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = notation.trim_start();
    while let Some(q) = rest.chars().next() {
        if q == '"' || q == '\'' {
            let body = &rest[1..];
            let end = body
                .char_indices()
                .find(|&(i, c)| c == q && body[i + 1..].chars().next().is_none_or(char::is_whitespace))
                .map(|(i, _)| i)
                .expect("unterminated string");
            out.extend_from_slice(body[..end].replace("\\0", "\0").as_bytes());
            rest = body[end + 1..].trim_start();
        } else {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            let hex = &rest[..end];
            assert!(hex.len() % 2 == 0, "odd hex group {hex}");
            for i in (0..hex.len()).step_by(2) {
                out.push(u8::from_str_radix(&hex[i..i + 2], 16).unwrap());
            }
            rest = rest[end..].trim_start();
        }
    }
    out
}

/// `n` zero bytes in the notation.
fn zeros(n: usize) -> String {
    vec!["00"; n].join(" ")
}

/// The chunks of one write: encoding them (with their seqnos) gives exactly the captured
/// bytes; decoding the bytes gives them back, as a stream and as one WebSocket message.
fn check(notation: &str, expected: &[(u16, Message<'_>)]) {
    let wire = bytes(notation);
    let mut out = Vec::new();
    let mut sizes = Vec::new();
    for (seqno, msg) in expected {
        let n = encode(msg, *seqno, &mut out).unwrap();
        assert_eq!(Ok(n), encoded_len(msg));
        sizes.push(n);
    }
    assert_eq!(hex(&out), hex(&wire), "encoding of {expected:?}");

    let mut decoder = StreamDecoder::new();
    decoder.set_phase(Phase::Chunks);
    let mut pos = 0;
    for ((seqno, msg), size) in expected.iter().zip(&sizes) {
        let d = decoder.decode(&wire[pos..]).unwrap();
        assert_eq!(&d.message, msg);
        assert_eq!(d.seqno, *seqno);
        assert_eq!(d.consumed, *size);
        pos += d.consumed;
    }
    assert_eq!(pos, wire.len());

    let decoded: Vec<_> = decoder.decode_ws_message(&wire).map(Result::unwrap).collect();
    assert_eq!(decoded.len(), expected.len());
    for (d, (seqno, msg)) in decoded.iter().zip(expected) {
        assert_eq!((d.seqno, &d.message), (*seqno, msg));
    }
}

fn hex(b: &[u8]) -> String {
    b.chunks(8)
        .map(|c| c.iter().map(|x| format!("{x:02x}")).collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join(" | ")
}

/// Checks that `needle` occurs in `hay` at an offset ≡ `rem` (mod 8) from `base`.
fn at_offset(hay: &[u8], needle: &[u8], base: usize) -> usize {
    let pos = hay.windows(needle.len()).position(|w| w == needle).expect("not found");
    pos - base
}

fn call<'a>(
    callid: u16,
    api: &'a str,
    verb: &'a str,
    session: u16,
    token: u16,
    values: &'a [Value<'a>],
) -> Message<'a> {
    Message::CallRequest(CallRequest {
        api: Some(Text::from(api)),
        session,
        token,
        values: Values::new(values),
        ..CallRequest::new(callid, Verb::name(verb))
    })
}

fn reply<'a>(callid: u16, status: i32, values: &'a [Value<'a>]) -> Message<'a> {
    Message::CallReply(CallReply {
        callid,
        status,
        values: Values::new(values),
    })
}

fn create<'a>(kind: ResourceKind, id: u16, text: &'a str) -> Message<'a> {
    Message::ResourceCreate {
        kind,
        id,
        text: Text::from(text),
    }
}

/// A version message alone: encoding and decoding from a stream in the version phase.
fn check_version(notation: &str, msg: Message<'_>) {
    let wire = bytes(notation);
    assert_eq!(afb_rpc_codec::encode_to_vec(&msg, 0).unwrap(), wire);
    assert_eq!(encoded_len(&msg), Ok(wire.len()));
    let mut decoder = StreamDecoder::new();
    let d = decoder.decode(&wire).unwrap();
    assert_eq!((d.message, d.seqno, d.consumed), (msg, 0, wire.len()));
    assert_eq!(decoder.phase(), Phase::Chunks);
}

// 6.1

#[test]
fn capture_version_negotiation() {
    check_version(
        "56 09 14 4c 17 03 03 00 00",
        Message::VersionOffer { versions: &[3, 0, 0] },
    );
    assert_eq!(bytes("56 09 14 4c 17 03 03 00 00"), OFFER);
    check_version("76 03 04 00", Message::VersionSet { version: 3 });
    // The 2-byte forms of versions 0 and 1.
    check_version("76 00", Message::VersionSet { version: 0 });
    check_version("76 01", Message::VersionSet { version: 1 });
}

// 6.2

const UUID_6_2: &str = "6b1405a1-5612-4cfa-8a05-dbe6492205a2";

#[test]
fn capture_session_declaration_and_call() {
    let notation = format!(
        r#"f8 ff 01 00 31 00 00 00  ff ff 03 00  "{UUID_6_2}\0"  00 00 00 00 00 00 00
        ff ff 02 00 48 00 00 00  01 00 01 00  00 00 00 00 00 00
        fe ff 0c 00 fc ff "hello\0"  00 00 00 00
        fe ff 0b 00 fb ff "ping\0"  00
        ff ff 08 00 ff ff 03 00  00 00 00 00
        fc ff 0e 00 fc ff '{{"a":1}}\0'"#
    );
    assert_eq!(bytes(&notation).len(), 128, "one write of 128 bytes");
    let values = [Value::json(r#"{"a":1}"#)];
    check(
        &notation,
        &[
            (1, create(ResourceKind::Session, 3, UUID_6_2)),
            (2, call(1, "hello", "ping", 3, 0, &values)),
        ],
    );
}

#[test]
fn capture_ping_reply() {
    let notation = r#"fe ff 01 00 3d 00 00 00  01 00 03 00 00 00 00 00  00 00
        fc ff 0e 00 fc ff 7b 22 61 22 3a 31 7d 00  00 00
        fc ff 06 00 fd ff  00 00
        fc ff 13 00 fd ff "ping count=1\0"  00 00 00"#;
    assert_eq!(bytes(notation).len(), 64);
    let values = [
        Value::json(r#"{"a":1}"#),
        Value::stringz(None),
        Value::stringz(Some("ping count=1")),
    ];
    check(notation, &[(1, reply(1, 0, &values))]);
    // What the receiver reads in these values.
    let wire = bytes(notation);
    let mut decoder = StreamDecoder::new();
    decoder.set_phase(Phase::Chunks);
    let Message::CallReply(r) = decoder.decode(&wire).unwrap().message else {
        panic!("not a reply")
    };
    let typed: Vec<_> = r.values.iter().map(|v| v.typed().unwrap()).collect();
    assert_eq!(
        typed,
        [
            TypedValue::Json(Text::from(r#"{"a":1}"#)),
            TypedValue::Stringz(None),
            TypedValue::Stringz(Some(Text::from("ping count=1"))),
        ]
    );
}

// 6.3

#[test]
fn capture_error_replies() {
    check(
        "fe ff 02 00 10 00 00 00  02 00 00 00 ff ff ff ff",
        &[(2, reply(2, -1, &[]))],
    );
    check(
        "fe ff 03 00 10 00 00 00  03 00 00 00 fc ff ff ff",
        &[(3, reply(3, -4, &[]))],
    );
}

#[test]
fn capture_error_reply_with_values() {
    // JSON null, STRINGZ failed, STRINGZ subscription error at chunk offsets 18, 34, 50.
    let notation = format!(
        r#"fe ff 07 00 4b 00 00 00  05 00 03 00 ff ff ff ff  00 00
        fc ff 0b 00 fc ff "null\0"  {}
        fc ff 0d 00 fd ff "failed\0"  {}
        fc ff 19 00 fd ff "subscription error\0"  {}"#,
        zeros(5),
        zeros(3),
        zeros(5)
    );
    let wire = bytes(&notation);
    assert_eq!(wire.len(), 80);
    assert_eq!(at_offset(&wire, b"\xfc\xff\x0b\x00", 0), 18);
    assert_eq!(at_offset(&wire, b"\xfc\xff\x0d\x00", 0), 34);
    assert_eq!(at_offset(&wire, b"\xfc\xff\x19\x00", 0), 50);
    let values = [
        Value::json("null"),
        Value::stringz(Some("failed")),
        Value::stringz(Some("subscription error")),
    ];
    check(&notation, &[(7, reply(5, -1, &values))]);
}

#[test]
fn capture_fail_and_nosuchverb_requests() {
    // As 6.2 with verb `fail` / `nosuchverb` and the value `{}`; seqnos are not given.
    let value = "fc ff 09 00 fc ff 7b 7d 00";
    let fail = format!(
        r#"ff ff 04 00 43 00 00 00  02 00 01 00  {}
        fe ff 0c 00 fc ff "hello\0"  00 00 00 00
        fe ff 0b 00 fb ff "fail\0"  00
        ff ff 08 00 ff ff 03 00  00 00 00 00
        {value}  {}"#,
        zeros(6),
        zeros(5)
    );
    let nosuchverb = format!(
        r#"ff ff 06 00 4b 00 00 00  03 00 01 00  {}
        fe ff 0c 00 fc ff "hello\0"  00 00 00 00
        fe ff 11 00 fb ff "nosuchverb\0"  00
        ff ff 08 00 ff ff 03 00  {}
        {value}  {}"#,
        zeros(6),
        zeros(6),
        zeros(5)
    );
    for (text, callid, verb, seqno) in [(&fail, 2, "fail", 4), (&nosuchverb, 3, "nosuchverb", 6)] {
        let wire = bytes(text);
        assert_eq!(at_offset(&wire, &bytes(value), 0) % 8, 2, "value at ≡ 2 mod 8");
        let values = [Value::json("{}")];
        check(text, &[(seqno, call(callid, "hello", verb, 3, 0, &values))]);
    }
}

// 6.4

#[test]
fn capture_token_and_eventadd_call() {
    let session = "0f3c2a1e-7d44-4b5a-9c6e-1a2b3c4d5e6f";
    let notation = format!(
        r#"f8 ff 07 00 31 00 00 00  ff ff 06 00  "{session}\0"  {}
        f8 ff 08 00 11 00 00 00  fe ff 01 00 74 6f 6b 31 00  {}
        ff ff 09 00 60 00 00 00  04 00 01 00  {}
        fe ff 0c 00 fc ff "hello\0"  00 00 00 00
        fe ff 0f 00 fb ff "eventadd\0"  00
        ff ff 08 00 ff ff 06 00
        ff ff 08 00 fe ff 01 00
        fc ff 1e 00 fc ff '{{"tag":"t","name":"ev"}}\0'"#,
        zeros(7),
        zeros(7),
        zeros(6)
    );
    let wire = bytes(&notation);
    assert_eq!(wire.len(), 176, "one write of 176 bytes");
    // Offsets stated by the capture, inside the CALL-REQUEST at 0x50.
    assert_eq!(at_offset(&wire, b"\xff\xff\x08\x00\xff\xff\x06\x00", 0x50), 50);
    assert_eq!(at_offset(&wire, b"\xff\xff\x08\x00\xfe\xff\x01\x00", 0x50), 58);
    assert_eq!(at_offset(&wire, b"\xfc\xff\x1e\x00", 0x50), 66);
    let values = [Value::json(r#"{"tag":"t","name":"ev"}"#)];
    check(
        &notation,
        &[
            (7, create(ResourceKind::Session, 6, session)),
            (8, create(ResourceKind::Token, 1, "tok1")),
            (9, call(4, "hello", "eventadd", 6, 1, &values)),
        ],
    );
}

#[test]
fn capture_event_declaration_and_subscription() {
    check(
        r#"f8 ff 05 00 15 00 00 00  fd ff 02 00  68 65 6c 6c 6f 2f 65 76 00  00 00 00
        fc ff 06 00 0c 00 00 00  05 00 02 00 00 00 00 00"#,
        &[
            (5, create(ResourceKind::Event, 2, "hello/ev")),
            (6, Message::EventSubscribe { callid: 5, eventid: 2 }),
        ],
    );
}

#[test]
fn capture_push_and_reply() {
    let notation = r#"fd ff 08 00 20 00 00 00  02 00 01 00  00 00 00 00 00 00
        fc ff 0e 00 fc ff '{"n":1}\0'
        fe ff 09 00 10 00 00 00  06 00 00 00 00 00 00 00"#;
    assert_eq!(bytes(notation).len(), 48);
    let values = [Value::json(r#"{"n":1}"#)];
    check(
        notation,
        &[
            (
                8,
                Message::EventPush(EventPush {
                    eventid: 2,
                    values: Values::new(&values),
                }),
            ),
            (9, reply(6, 0, &[])),
        ],
    );
}

#[test]
fn capture_unsubscription_and_destroy() {
    check(
        "fb ff 0a 00 0c 00 00 00  07 00 02 00 00 00 00 00
         f7 ff 0b 00 0c 00 00 00  fd ff 02 00 00 00 00 00",
        &[
            (10, Message::EventUnsubscribe { callid: 7, eventid: 2 }),
            (
                11,
                Message::ResourceDestroy {
                    kind: ResourceKind::Event,
                    id: 2,
                },
            ),
        ],
    );
}

// 6.5

#[test]
fn capture_event_unexpected_and_its_answer() {
    check(
        "fa ff 06 00 0a 00 00 00  02 00 00 00 00 00 00 00",
        &[(6, Message::EventUnexpected { eventid: 2 })],
    );
    check(
        "f7 ff 09 00 0c 00 00 00  fd ff 02 00 00 00 00 00",
        &[(
            9,
            Message::ResourceDestroy {
                kind: ResourceKind::Event,
                id: 2,
            },
        )],
    );
}

#[test]
fn capture_describe_request_and_reply() {
    let request = Message::CallRequest(CallRequest {
        api: Some(Text::from("hello")),
        ..CallRequest::new(2, Verb::Special(special_verb::DESCRIBE))
    });
    check(
        r#"ff ff 03 00 26 00 00 00 02 00 00 00 00 00 00 00 00 00
        fe ff 0c 00 fc ff "hello\0" ff ff 08 00 fb ff ff ff 00 00"#,
        &[(3, request)],
    );
    let empty = [Value::Untyped(&[])];
    check(
        "fe ff 1a 00 18 00 00 00 02 00 01 00 00 00 00 00 00 00 00 00 fd ff 04 00",
        &[(0x1a, reply(2, 0, &empty))],
    );
}

#[test]
fn capture_broadcast() {
    let notation = format!(
        r#"f9 ff 0b 00 38 00 00 00  01 00 08 00
        00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f  05  "fake/bc\0"  {}
        fc ff 0e 00 fc ff '{{"b":2}}\0'"#,
        zeros(5)
    );
    let wire = bytes(&notation);
    assert_eq!(wire.len(), 56);
    assert_eq!(at_offset(&wire, b"\xfc\xff\x0e\x00", 0), 42);
    let values = [Value::json(r#"{"b":2}"#)];
    let uuid: [u8; 16] = std::array::from_fn(|i| i as u8);
    check(
        &notation,
        &[(
            0x0b,
            Message::EventBroadcast(EventBroadcast {
                name: Text::from("fake/bc"),
                uuid,
                hop: 5,
                values: Values::new(&values),
            }),
        )],
    );
}

#[test]
fn capture_websocket_frames() {
    // Server frames of an x-afb-ws-rpc link: the VERSION-SET alone, then a reply; and the
    // (unmasked) offer frame of a C `ws+` client.
    let reply_bytes = bytes(
        r#"fe ff 01 00 3d 00 00 00  01 00 03 00 00 00 00 00  00 00
        fc ff 0e 00 fc ff 7b 22 61 22 3a 31 7d 00  00 00
        fc ff 06 00 fd ff  00 00
        fc ff 13 00 fd ff "ping count=1\0"  00 00 00"#,
    );
    let mut stream = bytes("82 04 76 03 04 00 82 40");
    stream.extend_from_slice(&reply_bytes);
    let values = [
        Value::json(r#"{"a":1}"#),
        Value::stringz(None),
        Value::stringz(Some("ping count=1")),
    ];
    let expected = [Message::VersionSet { version: 3 }, reply(1, 0, &values)];
    let mut frames = FrameDecoder::default();
    let mut input = &stream[..];
    let mut decoder = StreamDecoder::new();
    let mut count = 0;
    while let Some(FrameEvent::Binary(payload)) = frames.decode(&mut input).unwrap() {
        for d in decoder.decode_ws_message(&payload) {
            assert_eq!(d.unwrap().message, expected[count]);
            count += 1;
        }
    }
    assert_eq!(count, 2);

    let offer_frame = bytes("82 09 56 09 14 4c 17 03 03 00 00");
    let mut input = &offer_frame[..];
    let Some(FrameEvent::Binary(payload)) = FrameDecoder::default().decode(&mut input).unwrap() else {
        panic!("no frame")
    };
    let mut decoder = StreamDecoder::new();
    let all: Vec<_> = decoder.decode_ws_message(&payload).collect();
    assert_eq!(
        all,
        [Ok(afb_rpc_codec::Decoded {
            message: Message::VersionOffer { versions: &[3, 0, 0] },
            seqno: 0,
            consumed: 9
        })]
    );
}
