//! The bytes of the stubs against the captures of C binders (spec section
//! 6, docs/protocols/rpc-v3.md section 9): a peer written here sends exactly
//! what the C front sent, and our server's answers are checked byte for
//! byte where the protocol fixes them; a server written here replays what
//! the C back sent, and our client's requests and their outcome are checked.

mod common;

use std::time::Duration;

use afb_rpc::RpcOptions;
use afb_rpc_codec::{encode_to_vec, CallReply, CallRequest, Message, ResourceKind, Text, Value, Values, Verb};
use afb_sdk::testing::data;
use common::*;
use serde_json::json;
use tokio::net::{UnixListener, UnixStream};

/// The session uuid of the captures.
const UUID: &str = "6b1405a1-5612-4cfa-8a05-dbe6492205a2";

/// Section 6.2, front to back: RESOURCE-CREATE SESSION 3, then the call of
/// hello/ping with `{"a":1}` (one write of 128 bytes).
fn capture_6_2_call() -> Vec<u8> {
    hex(&format!(
        r#"f8 ff 01 00 31 00 00 00  ff ff 03 00 `{UUID}` 00  00 00 00 00 00 00 00
           ff ff 02 00 48 00 00 00  01 00 01 00  00 00 00 00 00 00
           fe ff 0c 00 fc ff `hello` 00  00 00 00 00
           fe ff 0b 00 fb ff `ping` 00  00
           ff ff 08 00 ff ff 03 00  00 00 00 00
           fc ff 0e 00 fc ff `{{"a":1}}` 00"#
    ))
}

/// Section 6.2, back to front: the reply of hello4's ping (64 bytes).
fn capture_6_2_reply() -> Vec<u8> {
    hex(r#"fe ff 01 00 3d 00 00 00  01 00 03 00 00 00 00 00  00 00
           fc ff 0e 00 fc ff `{"a":1}` 00  00 00
           fc ff 06 00 fd ff  00 00
           fc ff 13 00 fd ff `ping count=1` 00  00 00 00"#)
}

/// A call of `api/verb` in the C layout (the codec writes what C writes).
fn c_call(seqno: u16, callid: u16, api: &str, verb: &str, session: u16, token: u16, json: &str) -> Vec<u8> {
    let v = [Value::json(json)];
    let mut c = CallRequest::new(callid, Verb::name(verb));
    c.api = Some(Text::from(api));
    c.session = session;
    c.token = token;
    c.values = Values::new(&v);
    encode_to_vec(&Message::CallRequest(c), seqno).unwrap()
}

fn chunk(seqno: u16, msg: Message<'_>) -> Vec<u8> {
    encode_to_vec(&msg, seqno).unwrap()
}

/// A back exporting the echo API as `hello` (it answers as C's hello4
/// where the captures fix the bytes) and the hello sample as `sample`.
async fn c_like_back(dir: &TempDir) -> Back {
    Back::start(&format!("{}?export=echo@hello,hello@sample", unix_spec(dir, "back"))).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_server_answers_the_c_front() {
    let dir = TempDir::new("rpc-golden-server");
    let back = c_like_back(&dir).await;
    let mut p = RawPeer::unix(&path(&dir, "back")).await;
    // 6.1: the offer of the C client, our answer byte for byte
    p.send(&hex(OFFER)).await;
    assert_eq!(p.bytes(4).await.expect("VERSION-SET"), hex("76 03 04 00"));
    // 6.2: session declaration and call in one write
    p.send(&capture_6_2_call()).await;
    assert_eq!(
        p.chunk().await,
        hex(r#"fe ff 01 00 20 00 00 00  01 00 01 00 00 00 00 00  00 00  fc ff 0e 00 fc ff `{"a":1}` 00"#),
        "CALL-REPLY with the JSON value, laid out as the first value of the C reply"
    );
    assert!(
        back.binder.registry().sessions().get(UUID).is_some(),
        "the back holds the front's session"
    );
    // 6.3: a failing verb: status -1 without values, as the C back
    p.send(&c_call(3, 2, "hello", "fail", 3, 0, "{}")).await;
    assert_eq!(p.chunk().await, hex("fe ff 02 00 10 00 00 00  02 00 00 00 ff ff ff ff"));
    // an unknown verb: status -4; we add the reason as one STRINGZ
    p.send(&c_call(4, 3, "hello", "nosuchverb", 3, 0, "{}")).await;
    let c = p.chunk().await;
    assert_eq!(c[..4], hex("fe ff 03 00")[..], "{c:02x?}");
    assert_eq!(c[8..16], hex("03 00 01 00 fc ff ff ff")[..], "{c:02x?}");
    // an API not exported: refused (-6) and the link stays, unlike C
    p.send(&c_call(5, 4, "monitor", "get", 3, 0, "{}")).await;
    let c = p.chunk().await;
    assert_eq!(c[8..16], hex("04 00 01 00 fa ff ff ff"), "{c:02x?}");
    // an undeclared session: -12, the link stays
    p.send(&c_call(6, 5, "hello", "ping", 9, 0, "1")).await;
    let c = p.chunk().await;
    assert_eq!(c[8..16], hex("05 00 01 00 f4 ff ff ff"), "{c:02x?}");
    p.send(&c_call(7, 6, "hello", "ping", 3, 0, "2")).await;
    let c = p.chunk().await;
    assert_eq!(c[8..12], hex("06 00 01 00"), "still served: {c:02x?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_events_describe_and_broadcasts_of_the_c_front() {
    let dir = TempDir::new("rpc-golden-events");
    let back = c_like_back(&dir).await;
    let watcher = back.binder.client();
    let mut p = RawPeer::unix(&path(&dir, "back")).await;
    p.hello().await;
    // 6.4: session 6, token 1 "tok1", and the call of eventadd in one write
    let mut w = chunk(
        7,
        Message::ResourceCreate {
            kind: ResourceKind::Session,
            id: 6,
            text: Text::from(UUID),
        },
    );
    let token = hex(r#"f8 ff 08 00 11 00 00 00  fe ff 01 00 `tok1` 00  00 00 00 00 00 00 00"#);
    assert_eq!(
        token,
        chunk(
            8,
            Message::ResourceCreate {
                kind: ResourceKind::Token,
                id: 1,
                text: Text::from("tok1")
            }
        )
    );
    w.extend(token);
    w.extend(c_call(9, 4, "sample", "eventadd", 6, 1, r#"{"tag":"t","name":"ev"}"#));
    p.send(&w).await;
    assert_eq!(
        p.chunk().await[8..16],
        hex("04 00 00 00 00 00 00 00"),
        "eventadd: success"
    );
    // eventsub: the back declares its event and subscribes call 5, before the reply
    p.send(&c_call(10, 5, "sample", "eventsub", 6, 1, r#"{"tag":"t"}"#))
        .await;
    let create = p.chunk().await;
    assert_eq!(
        create,
        hex(r#"f8 ff 02 00 15 00 00 00  fd ff 01 00 `hello/ev` 00  00 00 00"#)
    );
    assert_eq!(p.chunk().await, hex("fc ff 03 00 0c 00 00 00  05 00 01 00 00 00 00 00"));
    assert_eq!(p.chunk().await, hex("fe ff 04 00 10 00 00 00  05 00 00 00 00 00 00 00"));
    // a push reaches the link
    let r = watcher
        .call("hello", "eventpush", &json!({"tag": "t", "data": {"n": 1}}))
        .await;
    assert!(r.is_success(), "{r:?}");
    assert_eq!(
        p.chunk().await,
        hex(r#"fd ff 05 00 20 00 00 00  01 00 01 00 00 00 00 00 00 00  fc ff 0e 00 fc ff `{"n":1}` 00"#)
    );
    // 6.5: EVENT-UNEXPECTED from the front: the back destroys the event and stops pushing
    p.send(&hex("fa ff 06 00 0a 00 00 00  01 00 00 00 00 00 00 00")).await;
    assert_eq!(p.chunk().await, hex("f7 ff 06 00 0c 00 00 00  fd ff 01 00 00 00 00 00"));
    let r = watcher
        .call("hello", "eventpush", &json!({"tag": "t", "data": 2}))
        .await;
    assert_eq!(data(&r), json!(0), "nobody listens any more");
    // 6.5: the hand-made DESCRIBE; our answer: the description as an untyped VALUE, at once
    p.send(&hex(r#"ff ff 03 00 26 00 00 00 02 00 00 00 00 00 00 00 00 00
                   fe ff 0c 00 fc ff `hello` 00 ff ff 08 00 fb ff ff ff 00 00"#))
        .await;
    let d = p.chunk().await;
    assert_eq!(d[8..20], hex("02 00 01 00 00 00 00 00 00 00 00 00"), "{d:02x?}");
    assert_eq!(d[20..22], hex("fd ff"), "untyped VALUE at offset 20");
    let len = usize::from(u16::from_le_bytes([d[22], d[23]])) - 4;
    let text = &d[24..24 + len];
    assert_eq!(text.last(), Some(&0), "text and NUL");
    let desc: serde_json::Value = serde_json::from_slice(&text[..len - 1]).unwrap();
    assert!(desc.to_string().contains("/ping"), "{desc}");
    // 6.5: the hand-made EVENT-BROADCAST reaches the back's clients
    p.send(&hex(r#"f9 ff 0b 00 38 00 00 00  01 00 08 00
                   00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f  05 `fake/bc` 00  00 00 00 00 00
                   fc ff 0e 00 fc ff `{"b":2}` 00"#))
        .await;
    let e = loop {
        let e = watcher.next_event(T).await.expect("the broadcast");
        if e.broadcast {
            break e;
        }
    };
    assert_eq!((e.name.as_str(), &e.data), ("fake/bc", &json!({"b": 2})));
}

/// A server written here: accepts our client, checks its offer, answers 3.
async fn c_back(listener: &UnixListener) -> RawPeer<UnixStream> {
    let (s, _) = tokio::time::timeout(T, listener.accept())
        .await
        .expect("our client connects")
        .unwrap();
    let mut p = RawPeer { s };
    assert_eq!(
        p.bytes(9).await.expect("the offer"),
        hex(OFFER),
        "the C client's offer, byte for byte"
    );
    p.send(&hex("76 03 04 00")).await;
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_client_against_the_c_back() {
    let dir = TempDir::new("rpc-golden-client");
    let listener = UnixListener::bind(path(&dir, "hello")).unwrap();
    let f = front(&unix_spec(&dir, "hello")).await;
    let mut p = c_back(&listener).await;
    let c = std::sync::Arc::new(f.client());
    // 6.2: our session declaration and call are the C front's, ids aside
    let call = {
        let c = c.clone();
        tokio::spawn(async move { c.call("hello", "ping", &json!({"a": 1})).await })
    };
    let mut expected = capture_6_2_call();
    expected[12..48].copy_from_slice(c.session_uuid().as_bytes());
    expected[10] = 1; // our session id 1 (the C front's was 3)
    expected[0x6c] = 1;
    let mut got = p.chunk().await;
    got.extend(p.chunk().await);
    assert_eq!(got, expected);
    p.send(&capture_6_2_reply()).await;
    let r = call.await.unwrap();
    assert!(r.is_success(), "{r:?}");
    assert_eq!(
        r.data_json(),
        Some(r#"[{"a":1},null,"ping count=1"]"#),
        "as the C front renders it"
    );

    // 6.3: errors
    let answer = |status: i32, values: Vec<Value<'static>>| {
        let mut p2 = Vec::new();
        p2.extend(chunk(
            1,
            Message::CallReply(CallReply {
                callid: 0,
                status,
                values: Values::new(&values),
            }),
        ));
        p2
    };
    for (status, values, expect) in [
        (-1, vec![], ("internal-error", -1, None, None)),
        (-4, vec![], ("unknown-verb", -4, None, None)),
        (
            -4,
            vec![Value::stringz(Some("some info"))],
            ("unknown-verb", -4, Some("some info"), None),
        ),
        (
            -1003,
            vec![Value::stringz(Some("custom info"))],
            ("error", -1003, None, Some(r#""custom info""#)),
        ),
        (
            -1,
            vec![
                Value::json("null"),
                Value::stringz(Some("failed")),
                Value::stringz(Some("subscription error")),
            ],
            ("error", -1, None, Some(r#"[null,"failed","subscription error"]"#)),
        ),
        (
            0,
            afb_rpc_codec::legacy_reply_values(r#""Some String""#, None, Some("Ping count=1")).to_vec(),
            ("success", 0, Some("Ping count=1"), Some(r#""Some String""#)),
        ),
        (
            0,
            vec![Value::json("null"), Value::json("{bad"), Value::bytearray(&[1, 255])],
            ("success", 0, None, Some(r#"[null,"{bad",[1,255]]"#)),
        ),
    ] {
        let call = {
            let c = c.clone();
            tokio::spawn(async move { c.call("hello", "any", &()).await })
        };
        let req = p.chunk().await;
        let callid = [req[8], req[9]];
        let mut reply = answer(status, values);
        reply[8..10].copy_from_slice(&callid);
        p.send(&reply).await;
        let r = call.await.unwrap();
        assert_eq!(
            (&*r.status, r.code, r.info.as_deref(), r.data_json()),
            expect,
            "status {status}"
        );
    }

    // 6.4: an event declared, subscribed, pushed, unsubscribed, destroyed
    let sub = {
        let c = c.clone();
        tokio::spawn(async move { c.call("hello", "eventsub", &json!({"tag": "t"})).await })
    };
    let req = p.chunk().await;
    let callid = u16::from_le_bytes([req[8], req[9]]);
    let mut w = hex(r#"f8 ff 05 00 15 00 00 00  fd ff 02 00 `hello/ev` 00  00 00 00"#);
    let mut subscribe = hex("fc ff 06 00 0c 00 00 00  05 00 02 00 00 00 00 00");
    subscribe[8..10].copy_from_slice(&callid.to_le_bytes());
    w.extend(subscribe);
    w.extend(chunk(
        7,
        Message::CallReply(CallReply {
            callid,
            status: 0,
            values: Values::EMPTY,
        }),
    ));
    p.send(&w).await;
    assert!(sub.await.unwrap().is_success());
    p.send(&hex(
        r#"fd ff 08 00 20 00 00 00  02 00 01 00 00 00 00 00 00 00  fc ff 0e 00 fc ff `{"n":1}` 00"#,
    ))
    .await;
    let e = c.next_event(T).await.expect("the push");
    assert_eq!(
        (e.name.as_str(), &e.data, e.broadcast),
        ("hello/ev", &json!({"n": 1}), false)
    );
    // a push of an event nobody here knows: EVENT-UNEXPECTED, the link stays (C drops it)
    p.send(&hex(
        r#"fd ff 09 00 20 00 00 00  07 00 01 00 00 00 00 00 00 00  fc ff 0e 00 fc ff `{"n":1}` 00"#,
    ))
    .await;
    let unexpected = p.chunk().await;
    assert_eq!(unexpected[..2], hex("fa ff")[..]);
    assert_eq!(unexpected[4..], hex("0a 00 00 00  07 00 00 00 00 00 00 00")[..]);
    p.send(&hex("f7 ff 0b 00 0c 00 00 00  fd ff 02 00 00 00 00 00")).await;
    // the C back's DESCRIBE answer: an empty untyped VALUE, no description
    let d = {
        let f = f.registry().clone();
        tokio::spawn(async move { f.describe("hello").await })
    };
    let req = p.chunk().await;
    assert_eq!(
        req[18..],
        hex(r#"fe ff 0c 00 fc ff `hello` 00 ff ff 08 00 fb ff ff ff 00 00"#)[..],
        "{req:02x?}"
    );
    let mut answer = hex("fe ff 1a 00 18 00 00 00 02 00 01 00 00 00 00 00 00 00 00 00 fd ff 04 00");
    answer[8..10].copy_from_slice(&req[8..10]);
    p.send(&answer).await;
    assert_eq!(d.await.unwrap(), None);
    // the C back goes away: pending calls get disconnected
    let pending = {
        let c = c.clone();
        tokio::spawn(async move { c.call("hello", "any", &()).await })
    };
    let _ = p.chunk().await;
    drop(p);
    let r = tokio::time::timeout(T, pending).await.unwrap().unwrap();
    assert_eq!(&*r.status, "disconnected", "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_refused_either_way() {
    let dir = TempDir::new("rpc-golden-version");
    let _back = c_like_back(&dir).await;
    // an offer without 3 gets 76 00 and the link ends
    let mut p = RawPeer::unix(&path(&dir, "back")).await;
    p.send(&hex("56 09 14 4c 17 01 01")).await;
    assert_eq!(p.bytes(2).await, Some(hex("76 00")));
    assert!(p.closed().await);
    // a VERSION-SET instead of an offer (the C server adopts it): refused
    let mut p = RawPeer::unix(&path(&dir, "back")).await;
    p.send(&hex("76 03 04 00")).await;
    assert!(p.closed().await);
    assert!(logged("instead of an offer").await);
    // a server answering another version: the call is not-available at once
    let listener = UnixListener::bind(path(&dir, "odd")).unwrap();
    let f = front_with(
        &unix_spec(&dir, "odd"),
        RpcOptions {
            connect_timeout: Duration::from_secs(2),
            ..RpcOptions::default()
        },
    )
    .await;
    let (mut s, _) = listener.accept().await.unwrap();
    let mut offer = [0u8; 9];
    tokio::io::AsyncReadExt::read_exact(&mut s, &mut offer).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut s, &hex("76 01"))
        .await
        .unwrap();
    assert!(logged("answered version 1").await);
    // a silent server: bounded by the connect timeout, then not-available
    let c = f.client();
    let call = tokio::spawn(async move { c.call("odd", "x", &()).await });
    let (_silent, _) = listener.accept().await.unwrap();
    let r = tokio::time::timeout(Duration::from_secs(8), call)
        .await
        .expect("bounded")
        .unwrap();
    assert_eq!(&*r.status, "not-available", "{r:?}");
    assert!(r.info.as_deref().unwrap_or("").contains("no version message"), "{r:?}");
}
