//! What the stubs put on the wire, byte for byte, against the spec's
//! "Measured bytes": a raw peer written by hand drives the server stub (as
//! the C client does), and a raw server written by hand answers the client
//! stub.

mod common;

use std::time::Duration;

use afb_sdk::testing::data;
use common::*;
use serde_json::json;
use tokio::net::UnixListener;

async fn back_and_peer(tag: &str) -> (TempDir, Back, RawPeer<tokio::net::UnixStream>) {
    let dir = TempDir::new(tag);
    let uri = format!("unix:{}", dir.join("hello").display());
    let back = Back::start(&uri).await;
    let peer = RawPeer::unix(&dir.join("hello")).await;
    (dir, back, peer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_replies_are_the_measured_bytes() {
    let (_dir, _back, mut p) = back_and_peer("golden-k").await;
    // V -> v 1
    p.send(&hex("56 09144c17 01 01")).await;
    assert_eq!(p.msg().await, hex("76 01"));
    // S 1 "wsapi-sess", then the measured K (token id 1 never declared: no token)
    p.send(&hex("53 0100 0b000000 7773617069 2d73657373 00")).await;
    p.send(&cat(&[
        &hex("4b 0100 05000000"),
        b"ping\0",
        &hex("0100 0100 08000000"),
        b"{\"a\":1}\0",
        &hex("00000000"),
    ]))
    .await;
    // the C sample prints the query as json-c does: 58 bytes of info, as measured (0x3b with the NUL)
    let info = r#"Ping Binder Daemon tag=pingSample count=1 query={ "a": 1 }"#;
    let mut expected = hex("6b 0100 00000000 3b000000");
    expected.extend_from_slice(info.as_bytes());
    expected.push(0);
    expected.extend_from_slice(&hex("0e000000"));
    expected.extend_from_slice(b"\"Some String\"\0");
    assert_eq!(p.msg().await, expected);

    // pingfail: exactly the measured bytes
    p.send(&call(2, "pingfail", 1, 0, "null")).await;
    let mut expected = hex("6b 0200 07000000");
    expected.extend_from_slice(b"failed\0");
    expected.extend_from_slice(&hex("19000000"));
    expected.extend_from_slice(b"Ping Binder Daemon fails\0");
    expected.extend_from_slice(&hex("05000000"));
    expected.extend_from_slice(b"null\0");
    assert_eq!(p.msg().await, expected);

    // undeclared session 9: exactly the measured bytes
    p.send(&call(7, "ping", 9, 0, "null")).await;
    let mut expected = hex("6b 0700 10000000");
    expected.extend_from_slice(b"unknown-session\0");
    expected.extend_from_slice(&hex("00000000 05000000"));
    expected.extend_from_slice(b"null\0");
    assert_eq!(p.msg().await, expected);

    // the remote API sees the declared uuid
    p.send(&call(8, "info", 1, 0, "null")).await;
    let m = p.msg().await;
    assert_eq!(&m[..3], &hex("6b 0800"));
    assert!(String::from_utf8_lossy(&m).contains(r#""uuid":"wsapi-sess""#), "{m:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_events_are_the_measured_bytes() {
    let (_dir, back, mut p) = back_and_peer("golden-ev").await;
    p.hello().await;
    p.send(&session_create(1, "wsapi-sess")).await;
    p.send(&call(3, "eventadd", 1, 0, r#"{"tag":"t","name":"ev"}"#)).await;
    assert_eq!(p.msg().await, reply(3, None, None, "null"));
    // subscribing: E (first time on this link) then X, then the reply
    p.send(&call(4, "eventsub", 1, 0, r#"{"tag":"t"}"#)).await;
    assert_eq!(p.msg().await, cat(&[&hex("45 0100 09000000"), b"hello/ev\0"]));
    assert_eq!(p.msg().await, hex("58 0400 0100"));
    assert_eq!(p.msg().await, reply(4, None, None, "null"));
    // push
    p.send(&call(5, "eventpush", 1, 0, r#"{"tag":"t","data":{"n":1}}"#))
        .await;
    assert_eq!(p.msg().await, cat(&[&hex("50 0100 08000000"), b"{\"n\":1}\0"]));
    assert_eq!(p.msg().await, reply(5, None, None, "1"), "the push reached the link");
    // unsubscribing: x, no E again
    p.send(&call(6, "eventunsub", 1, 0, r#"{"tag":"t"}"#)).await;
    assert_eq!(p.msg().await, hex("78 0600 0100"));
    assert_eq!(p.msg().await, reply(6, None, None, "null"));
    // broadcast, sent with hop 9
    p.send(&call(7, "pingevent", 1, 0, r#"{"b":1}"#)).await;
    let b = p.msg().await;
    let head = cat(&[&hex("42 0c000000"), b"hello/event\0", &hex("08000000"), b"{\"b\":1}\0"]);
    assert_eq!(b.len(), head.len() + 17, "{b:?}");
    assert_eq!(&b[..head.len()], &head[..]);
    assert_eq!(b[b.len() - 1], 9, "hop 10 at the origin, sent as 9");
    assert_eq!(p.msg().await, reply(7, None, None, r#"{"b":1}"#));
    // U: the server forgets the event on this link (e), and pushes stop
    p.send(&hex("55 0100")).await;
    assert_eq!(p.msg().await, hex("65 0100"));
    p.send(&call(8, "eventpush", 1, 0, r#"{"tag":"t","data":2}"#)).await;
    assert_eq!(p.msg().await, reply(8, None, None, "0"), "no P after U");
    // subscribing again announces the event again
    p.send(&call(9, "eventsub", 1, 0, r#"{"tag":"t"}"#)).await;
    let e = p.msg().await;
    assert_eq!(e[0], b'E');
    let wid = u16::from_le_bytes([e[1], e[2]]);
    assert_eq!(p.msg().await, cat(&[b"X", &u16le(9), &u16le(wid)]));
    assert_eq!(p.msg().await, reply(9, None, None, "null"));
    // deleting the event: e
    p.send(&call(10, "eventdel", 1, 0, r#"{"tag":"t"}"#)).await;
    assert_eq!(p.msg().await, cat(&[b"e", &u16le(wid)]));
    assert_eq!(p.msg().await, reply(10, None, None, "null"));
    drop(back);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_describe_ping_close_and_masked_frames() {
    let (_dir, _back, mut p) = back_and_peer("golden-misc").await;
    p.mask = Some([1, 2, 3, 4]);
    p.hello().await;
    p.send(&hex("44 2a00")).await;
    let d = p.msg().await;
    assert_eq!(&d[..3], &hex("64 2a00"));
    let text = std::str::from_utf8(&d[7..d.len() - 1]).unwrap();
    let v: serde_json::Value = serde_json::from_str(text).unwrap();
    assert_eq!(v["info"]["title"], "hello");
    // anonymous session (id 0): one per link
    p.send(&call(1, "info", 0, 0, "null")).await;
    p.send(&call(2, "info", 0, 0, "null")).await;
    let a = p.msg().await;
    let b = p.msg().await;
    let uuid = |m: &[u8]| {
        let t = String::from_utf8_lossy(m).into_owned();
        let start = t.find("\"uuid\":\"").unwrap() + 8;
        t[start..start + 36].to_owned()
    };
    assert_eq!(uuid(&a), uuid(&b));
    // ping -> pong with the same payload
    p.send_raw(&[0x89, 0x83, 0, 0, 0, 0, b'a', b'b', b'c']).await.unwrap();
    match p.recv().await {
        Recv::Pong(x) => assert_eq!(x, b"abc"),
        other => panic!("{other:?}"),
    }
    // close -> close and end
    p.send_raw(&[0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8]).await.unwrap();
    assert_eq!(p.closed().await, Some(1000));
}

/// A raw server: checks what the client stub sends and answers by hand.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_stub_bytes_against_a_raw_server() {
    let dir = TempDir::new("golden-client");
    let path = dir.join("hello");
    let listener = UnixListener::bind(&path).unwrap();
    let front = front_with(
        &format!("unix:{}", path.display()),
        afb_core::RegistryConfig::default(),
        opts(),
    )
    .await;
    let c = front.client();
    c.set_token(Some("tok-1"));
    let uuid = c.session_uuid();
    let server = tokio::spawn(async move {
        let (sock, _) = listener.accept().await.unwrap();
        let mut p = RawPeer::new(sock);
        assert_eq!(p.msg().await, hex("56 09144c17 01 01"), "V first");
        p.send(&hex("76 01")).await;
        assert_eq!(p.msg().await, session_create(1, &uuid));
        assert_eq!(p.msg().await, token_create(1, "tok-1"));
        assert_eq!(p.msg().await, call(1, "ping", 1, 1, r#"{"a":1}"#));
        // an event, a subscription of that call, then the reply
        p.send(&cat(&[&hex("45 0500"), &s("hello/ev")])).await;
        p.send(&hex("58 0100 0500")).await;
        p.send(&reply(1, None, Some("pong"), r#""Some String""#)).await;
        // second call, same session and token: no new S/T
        assert_eq!(p.msg().await, call(2, "pingfail", 1, 1, "null"));
        p.send(&reply(2, Some("failed"), Some("Ping Binder Daemon fails"), "null"))
            .await;
        // push reaches the subscribed client; a push of an unknown event gets U
        p.send(&cat(&[&hex("50 0500"), &s(r#"{"n":1}"#)])).await;
        p.send(&cat(&[&hex("50 0900"), &s("1")])).await;
        assert_eq!(p.msg().await, hex("55 0900"));
        // broadcast with hop 3 is replayed locally
        let mut b = cat(&[b"B", &s("hello/event"), &s(r#"{"b":1}"#)]);
        b.extend_from_slice(&[7; 16]);
        b.push(3);
        p.send(&b).await;
        // description
        let d = p.msg().await;
        assert_eq!(d[0], b'D');
        p.send(&cat(&[b"d", &d[1..3], &s(r#"{"x":1}"#)])).await;
        p
    });
    let r = c.call("hello", "ping", &json!({"a": 1})).await;
    assert!(r.is_success(), "{r:?}");
    assert_eq!(data(&r), json!("Some String"));
    assert_eq!(r.info.as_deref(), Some("pong"));
    let r = c.call("hello", "pingfail", &()).await;
    assert_eq!(
        (&*r.status, r.info.as_deref()),
        ("failed", Some("Ping Binder Daemon fails"))
    );
    assert!(r.data.is_none());
    let ev = c.next_event(T).await.expect("push");
    assert_eq!(
        (ev.name.as_str(), ev.data.clone(), ev.broadcast),
        ("hello/ev", json!({"n":1}), false)
    );
    let ev = c.next_event(T).await.expect("broadcast");
    assert_eq!(
        (ev.name.as_str(), ev.data.clone(), ev.broadcast),
        ("hello/event", json!({"b":1}), true)
    );
    let d = front.registry().describe("hello").await;
    assert_eq!(d, Some(json!({"x": 1})));
    let _p = tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .unwrap()
        .unwrap();
}
