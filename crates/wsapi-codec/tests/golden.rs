//! Golden tests: byte sequences measured on the C binders' wsapi links (the examples of
//! `docs/protocols/wsapi-v1.md` and more), written here in a hex-and-strings notation, must be
//! produced exactly by `encode` and decoded back by `decode`.

use afb_wsapi_codec::frame::{self, FrameDecoder, FrameEvent};
use afb_wsapi_codec::{decode, encode, encode_framed, encode_to_vec, Message};

/// Parses the spec's byte notation: hex groups, and `"..."` / `'...'` strings (with `\0` for
/// NUL) taken as their UTF-8 bytes.
fn spec_bytes(notation: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = notation.trim_start();
    while !rest.is_empty() {
        let q = rest.chars().next().unwrap();
        if q == '"' || q == '\'' {
            // A string runs to the next matching quote that is followed by a space or the end.
            let body = &rest[1..];
            let mut end = None;
            for (i, c) in body.char_indices() {
                if c == q && body[i + 1..].chars().next().is_none_or(char::is_whitespace) {
                    end = Some(i);
                    break;
                }
            }
            let end = end.expect("unterminated string in notation");
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

fn check(notation: &str, expected: Message<'_>) {
    let bytes = spec_bytes(notation);
    assert_eq!(
        encode_to_vec(&expected),
        bytes,
        "encode of {expected:?} differs from the spec: {notation}"
    );
    assert_eq!(expected.encoded_len(), bytes.len());
    assert_eq!(decode(&bytes), Ok(expected), "decode of {notation}");
    // Appending to a non-empty buffer keeps what was there.
    let mut out = b"prefix".to_vec();
    encode(&expected, &mut out);
    assert_eq!(&out[..6], b"prefix");
    assert_eq!(&out[6..], &bytes[..]);
    // As one frame: the 2-byte header the spec omits, then the same bytes.
    let mut framed = Vec::new();
    encode_framed(&expected, &mut framed);
    assert_eq!(framed[0], 0x82, "binary, FIN, no RSV");
    assert_eq!(usize::from(framed[1]), bytes.len(), "unmasked 7-bit length");
    assert_eq!(&framed[2..], &bytes[..]);
}

/// The spec's uuid bytes are not given ("<16 bytes uuid>"): any 16 bytes do.
const UUID: [u8; 16] = [
    0x6b, 0x1f, 0x3a, 0x52, 0x90, 0x01, 0x4c, 0x7e, 0xa2, 0x33, 0x00, 0xff, 0x10, 0x20, 0x30, 0x40,
];

#[test]
fn spec_string_example() {
    assert_eq!(spec_bytes("05000000 70696e6700"), spec_bytes("05000000 \"ping\\0\""));
}

#[test]
fn measured_version_offer() {
    check("56 09144c17 01 01", Message::VersionOffer { versions: &[1] });
}

#[test]
fn measured_version_set() {
    check("76 01", Message::VersionSet(1));
}

#[test]
fn measured_session_create() {
    check(
        r#"53 0100 0b000000 "wsapi-sess\0""#,
        Message::SessionCreate {
            id: 1,
            uuid: "wsapi-sess",
        },
    );
}

#[test]
fn measured_call() {
    check(
        r#"4b 0100 05000000 "ping\0" 0100 0100 08000000 '{"a":1}\0' 00000000"#,
        Message::Call {
            callid: 1,
            verb: "ping",
            sessionid: 1,
            tokenid: 1,
            args: r#"{"a":1}"#,
            user_creds: None,
        },
    );
}

#[test]
fn measured_reply_success() {
    // The spec elides the info text as "Ping Binder Daemon ..." but gives its length, 0x3b
    // (58 bytes + NUL). samples.md gives the format `Ping Binder Daemon tag=pingSample count=N
    // query=ARGS`; with json-c's spaced rendering of {"a":1} that is exactly 58 bytes.
    let info = r#"Ping Binder Daemon tag=pingSample count=1 query={ "a": 1 }"#;
    assert_eq!(info.len() + 1, 0x3b);
    check(
        &format!(r#"6b 0100 00000000 3b000000 "{info}\0" 0e000000 '"Some String"\0'"#),
        Message::Reply {
            callid: 1,
            error: None,
            info: Some(info),
            reply: r#""Some String""#,
        },
    );
}

#[test]
fn measured_reply_failure() {
    check(
        r#"6b 0200 07000000 "failed\0" 19000000 "Ping Binder Daemon fails\0" 05000000 "null\0""#,
        Message::Reply {
            callid: 2,
            error: Some("failed"),
            info: Some("Ping Binder Daemon fails"),
            reply: "null",
        },
    );
}

#[test]
fn measured_event_create_and_subscribe() {
    check(
        r#"45 0200 09000000 "hello/ev\0""#,
        Message::EventCreate {
            eventid: 2,
            name: "hello/ev",
        },
    );
    check("58 0400 0200", Message::Subscribe { callid: 4, eventid: 2 });
}

#[test]
fn measured_push() {
    check(
        r#"50 0200 08000000 '{"n":1}\0'"#,
        Message::Push {
            eventid: 2,
            data: r#"{"n":1}"#,
        },
    );
}

#[test]
fn measured_broadcast() {
    check(
        r#"42 0c000000 "hello/event\0" 08000000 '{"b":1}\0' 6b1f3a5290014c7ea23300ff10203040 09"#,
        Message::Broadcast {
            name: "hello/event",
            data: r#"{"b":1}"#,
            uuid: UUID,
            hop: 9,
        },
    );
    // Sent with hop - 1 from the origin's 10.
    assert_eq!(
        afb_wsapi_codec::message::forward_hop(afb_wsapi_codec::BROADCAST_HOP_ORIGIN),
        Some(9)
    );
}

#[test]
fn measured_reply_unknown_session() {
    check(
        r#"6b 0700 10000000 "unknown-session\0" 00000000 05000000 "null\0""#,
        Message::Reply {
            callid: 7,
            error: Some("unknown-session"),
            info: None,
            reply: "null",
        },
    );
}

/// The rows of the message table without a measured line, in the same layout.
#[test]
fn table_rows_without_measured_bytes() {
    check("73 0500", Message::SessionRemove(5));
    check(
        r#"54 0300 04000000 "tok\0""#,
        Message::TokenCreate { id: 3, token: "tok" },
    );
    check("74 0300", Message::TokenRemove(3));
    check("65 0200", Message::EventRemove(2));
    check("78 0400 0200", Message::Unsubscribe { callid: 4, eventid: 2 });
    check("55 0900", Message::Unexpected { eventid: 9 });
    check("44 0a00", Message::Describe { descid: 10 });
    check(
        r#"64 0a00 05000000 "null\0""#,
        Message::Description {
            descid: 10,
            description: "null",
        },
    );
    check(
        r#"4b ffff 02000000 "v\0" 0000 0000 03000000 "[]\0" 0e000000 "uid=0 gid=0 x\0""#,
        Message::Call {
            callid: 0xffff,
            verb: "v",
            sessionid: 0,
            tokenid: 0,
            args: "[]",
            user_creds: Some("uid=0 gid=0 x"),
        },
    );
    check(
        "56 09144c17 03 01 02 03",
        Message::VersionOffer { versions: &[1, 2, 3] },
    );
}

/// The measured frames, fed to the frame decoder as a C binder sends them (unmasked, one
/// binary frame each), come out as the spec's bytes.
#[test]
fn measured_frames_through_frame_decoder() {
    let v = spec_bytes("82 07 56 09144c17 01 01");
    let reply = spec_bytes("82 02 76 01");
    let mut dec = FrameDecoder::default();
    let mut input: &[u8] = &[v.clone(), reply.clone()].concat();
    assert_eq!(dec.decode(&mut input), Ok(Some(FrameEvent::Binary(v[2..].to_vec()))));
    assert_eq!(
        dec.decode(&mut input),
        Ok(Some(FrameEvent::Binary(reply[2..].to_vec())))
    );
    assert_eq!(dec.decode(&mut input), Ok(None));
    let mut out = Vec::new();
    frame::encode_binary(&reply[2..], &mut out);
    assert_eq!(out, reply);
}
