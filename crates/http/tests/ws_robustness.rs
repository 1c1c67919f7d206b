//! x-afb-ws-json1 under bad input and bad clients: close codes, size limits,
//! handshakes, slow readers, disconnections, shutdown; and calls from the
//! server to the client.

mod ws_support;

use std::time::{Duration, Instant};

use afb_http::ws::{peers_of_session, WsConfig};
use futures_util::SinkExt;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::Message;
use ws_support::{status, Client, Server, WAIT};

/// A second connection still answers.
async fn still_works(c: &mut Client, id: &str) {
    c.call_ok(id, "hello/ping", "null").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_messages_without_id_close_1008() {
    let srv = Server::start().await;
    let mut other = srv.client().await;
    let cases = [
        r#""hello""#,
        "{}",
        "42",
        "",
        "   ",
        "[",
        "[]",
        r#"[9,"1",2]"#,
        r#"["2","1","hello/ping",null]"#,
        r#"[2,{"x":1},"hello/ping",null]"#,
        r#"[2,null,"hello/ping",null]"#,
        "[2]",
        r#"[5,"hello/x",{"jtype":"afb-event","event":"hello/x","data":null}]"#,
        "[2,\"1\u{0}\",\"hello/ping\",null]",
    ];
    for (i, text) in cases.iter().enumerate() {
        let mut c = srv.client().await;
        c.send(text).await;
        let (code, texts) = c.expect_close().await;
        assert_eq!(code, Some(CloseCode::Policy), "case {text:?}");
        assert!(texts.is_empty(), "case {text:?}: no reply, got {texts:?}");
        still_works(&mut other, &format!("o{i}")).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_messages_with_an_id_get_invalid_request() {
    let srv = Server::start().await;
    let mut c = srv.client().await;
    let cases = [
        (r#"[2,"7","hello",null]"#, "7"),
        (r#"[2,"8",42,null]"#, "8"),
        (r#"[2,"9","hello/ping"]"#, "9"),
        (r#"[2,"10","hello/ping",null,"tok",5]"#, "10"),
        (r#"[2,"11","hello/ping",null,42]"#, "11"),
        (r#"[2,12,"hello/ping",null"#, "12"),
        (r#"[2,"13","hello/ping",}]"#, "13"),
        (r#"[3,"14",{not json}]"#, "14"),
        (r#"[2,"15","hello/ping",null] trailing"#, "15"),
    ];
    for (text, id) in cases {
        c.send(text).await;
        let r = c.recv().await;
        assert_eq!(r[0], 4, "case {text:?}: {r}");
        assert_eq!(r[1], id, "case {text:?}: {r}");
        assert_eq!(status(&r), "invalid-request", "case {text:?}: {r}");
        assert_eq!(r[2]["request"]["code"], -12);
        assert!(r[2]["request"]["info"].as_str().is_some_and(|i| !i.is_empty()));
    }
    // The connection goes on.
    still_works(&mut c, "after").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reply_to_an_unknown_id_gets_an_error_reply() {
    let srv = Server::start().await;
    let mut c = srv.client().await;
    c.send(r#"[3,"zz",{"jtype":"afb-reply","request":{"status":"success","code":0}}]"#)
        .await;
    let r = c.recv().await;
    assert_eq!(
        (r[0].as_u64(), r[1].as_str(), status(&r)),
        (Some(4), Some("zz"), "invalid-request")
    );
    c.send(r#"[4,17,{"jtype":"afb-reply","request":{"status":"failed","code":-1}},"tok"]"#)
        .await;
    let r = c.recv().await;
    assert_eq!((r[0].as_u64(), r[1].as_str()), (Some(4), Some("17")));
    still_works(&mut c, "p").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_frames_close_1003_and_bad_utf8_closes_1007() {
    let srv = Server::start().await;
    let mut other = srv.client().await;

    let mut c = srv.client().await;
    c.ws.send(Message::binary(&b"[2,\"1\",\"hello/ping\",null]"[..]))
        .await
        .unwrap();
    assert_eq!(c.expect_close().await.0, Some(CloseCode::Unsupported));
    still_works(&mut other, "a").await;

    let mut c = srv.client().await;
    let bad = Frame::message(vec![b'[', b'2', b',', 0xff, 0xfe, b']'], OpCode::Data(Data::Text), true);
    c.ws.send(Message::Frame(bad)).await.unwrap();
    assert_eq!(c.expect_close().await.0, Some(CloseCode::Invalid));
    still_works(&mut other, "b").await;
}

fn padded_call(id: &str, total: usize) -> String {
    // [2,"ID","hello/pingnull","xxxx…"] of exactly `total` bytes.
    let head = format!(r#"[2,"{id}","hello/pingnull",""#);
    let pad = total - head.len() - 2;
    format!("{head}{}\"]", "x".repeat(pad))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn size_limit_whole_message_and_fragments_1009() {
    let srv = Server::start_with(WsConfig {
        max_message: 1000,
        ..Default::default()
    })
    .await;
    let mut other = srv.client().await;

    // Exactly at the limit: accepted.
    let mut c = srv.client().await;
    let at_limit = padded_call("ok", 1000);
    assert_eq!(at_limit.len(), 1000);
    c.send(&at_limit).await;
    assert_eq!(c.reply_to("ok").await[0], 3);
    // One byte over, in one frame.
    c.send(&padded_call("big", 1001)).await;
    assert_eq!(c.expect_close().await.0, Some(CloseCode::Size));
    still_works(&mut other, "a").await;

    // Over the limit in three fragments of 400 bytes (each one small).
    let mut c = srv.client().await;
    let text = padded_call("frag", 1200).into_bytes();
    let parts: Vec<&[u8]> = text.chunks(400).collect();
    assert_eq!(parts.len(), 3);
    for (i, p) in parts.iter().enumerate() {
        let op = if i == 0 { Data::Text } else { Data::Continue };
        let f = Frame::message(p.to_vec(), OpCode::Data(op), i == parts.len() - 1);
        c.ws.feed(Message::Frame(f)).await.unwrap();
    }
    c.ws.flush().await.unwrap();
    assert_eq!(c.expect_close().await.0, Some(CloseCode::Size));
    still_works(&mut other, "b").await;

    // Fragments within the limit are reassembled.
    let mut c = srv.client().await;
    let text = padded_call("fr2", 900).into_bytes();
    let parts: Vec<&[u8]> = text.chunks(100).collect();
    for (i, p) in parts.iter().enumerate() {
        let op = if i == 0 { Data::Text } else { Data::Continue };
        let f = Frame::message(p.to_vec(), OpCode::Data(op), i == parts.len() - 1);
        c.ws.feed(Message::Frame(f)).await.unwrap();
    }
    c.ws.flush().await.unwrap();
    assert_eq!(c.reply_to("fr2").await[0], 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_limit_is_1048500_bytes() {
    let srv = Server::start().await;
    let mut c = srv.client().await;
    c.send(&padded_call("max", 1_048_500)).await;
    assert_eq!(c.reply_to("max").await[0], 3);
    // 30 MB in 1 MB fragments is refused early (defect 9).
    let mut c = srv.client().await;
    let chunk = vec![b' '; 1 << 20];
    let first = Frame::message(b"[2,\"x\",\"hello/ping\",".to_vec(), OpCode::Data(Data::Text), false);
    let writer = tokio::spawn(async move {
        c.ws.feed(Message::Frame(first)).await.unwrap();
        for _ in 0..30 {
            let f = Frame::message(chunk.clone(), OpCode::Data(Data::Continue), false);
            if c.ws.send(Message::Frame(f)).await.is_err() {
                break;
            }
        }
        c
    });
    let mut c = tokio::time::timeout(WAIT, writer).await.unwrap().unwrap();
    assert_eq!(c.expect_close().await.0, Some(CloseCode::Size));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_is_answered_with_pong() {
    let srv = Server::start().await;
    let mut c = srv.client().await;
    c.ws.send(Message::Ping(bytes::Bytes::from_static(b"abc")))
        .await
        .unwrap();
    match c.next().await {
        Some(Ok(Message::Pong(p))) => assert_eq!(&p[..], b"abc"),
        other => panic!("expected a pong, got {other:?}"),
    }
    still_works(&mut c, "p").await;
}

/// Sends a raw HTTP request and returns the response head, lowercased.
async fn raw_handshake(srv: &Server, extra: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(srv.addr).await.unwrap();
    let req = format!(
        "GET /api HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{extra}\r\n",
        srv.addr
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(WAIT, s.read(&mut buf)).await.unwrap().unwrap();
        assert!(n > 0, "connection closed before the response head");
        head.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&head).to_lowercase()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_version_and_subprotocol() {
    let srv = Server::start().await;
    let r = raw_handshake(
        &srv,
        "Sec-WebSocket-Version: 8\r\nSec-WebSocket-Protocol: x-afb-ws-json1\r\n",
    )
    .await;
    assert!(r.starts_with("http/1.1 426"), "{r}");
    assert!(r.contains("\r\nsec-websocket-version: 13\r\n"), "{r}");

    let r = raw_handshake(
        &srv,
        "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: chat, superchat\r\n",
    )
    .await;
    assert!(r.starts_with("http/1.1 412"), "{r}");

    let r = raw_handshake(
        &srv,
        "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: chat, x-afb-ws-json1\r\n",
    )
    .await;
    assert!(r.starts_with("http/1.1 101"), "{r}");
    assert!(r.contains("\r\nsec-websocket-protocol: x-afb-ws-json1\r\n"), "{r}");
    assert!(
        r.contains("\r\nsec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo=\r\n"),
        "{r}"
    );

    // No subprotocol named: x-afb-ws-json1 all the same, and none echoed.
    let r = raw_handshake(&srv, "Sec-WebSocket-Version: 13\r\n").await;
    assert!(r.starts_with("http/1.1 101"), "{r}");
    assert!(!r.contains("sec-websocket-protocol"), "{r}");
    let req = srv.url().into_client_request().unwrap();
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    ws.send(Message::text(r#"[2,"1","hello/ping",null]"#)).await.unwrap();
    let mut c = Client { ws, events: vec![] };
    assert_eq!(c.reply_to("1").await[0], 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_does_not_read_is_dropped_and_blocks_nobody() {
    let srv = Server::start_with(WsConfig {
        send_queue: 64,
        ..Default::default()
    })
    .await;
    let mut stuck = srv.client().await;
    stuck
        .call_ok("1", "hello/eventadd", r#"{"tag":"flood","name":"flood"}"#)
        .await;
    stuck.call_ok("2", "hello/eventsub", r#"{"tag":"flood"}"#).await;
    // From now on `stuck` reads nothing.
    let mut pusher = srv.client().await;
    let data = "y".repeat(16 * 1024);
    let mut worst = Duration::ZERO;
    let mut pushed = 0;
    let reg = srv.registry.clone();
    assert_eq!(reg.events().listener_count(), 2);
    for round in 0..100 {
        let t0 = Instant::now();
        let calls: Vec<String> = (0..50)
            .map(|i| format!(r#"[2,"p{round}-{i}","hello/eventpush",{{"tag":"flood","data":"{data}"}}]"#))
            .collect();
        pusher.send_all(calls).await;
        for i in 0..50 {
            assert_eq!(pusher.reply_to(&format!("p{round}-{i}")).await[0], 3);
        }
        pushed += 50;
        worst = worst.max(t0.elapsed());
        if reg.events().listener_count() == 1 {
            break;
        }
    }
    assert!(
        worst < Duration::from_secs(5),
        "pushing never waits for the stuck client ({worst:?})"
    );
    srv.wait_until("the stuck client is dropped", || reg.events().listener_count() == 1)
        .await;
    // The other client still gets quick replies.
    let t0 = Instant::now();
    pusher.call_ok("after", "hello/ping", "null").await;
    assert!(t0.elapsed() < Duration::from_secs(5));
    // The stuck one finds its connection ended after what was buffered.
    let mut received = 0;
    loop {
        match stuck.next().await {
            Some(Ok(Message::Text(_))) => received += 1,
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
            Some(Ok(_)) => {}
        }
    }
    assert!(
        received < pushed,
        "dropped before receiving everything ({received} of {pushed})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnecting_cancels_running_calls() {
    let srv = Server::start().await;
    let session = srv.new_session();
    let mut c = srv.client_of(&session, None).await;
    c.send(r#"[2,"w","tictactoe/wait",null]"#).await;
    c.send(r#"[2,"w2","tictactoe/wait",null]"#).await;
    let reg = srv.registry.clone();
    srv.wait_until("the waits run", || reg.inflight() == 2).await;
    assert_eq!(session.connections(), 1);
    assert_eq!(reg.events().listener_count(), 1);
    drop(c);
    srv.wait_until("the waits are cancelled", || reg.inflight() == 0).await;
    srv.wait_until("the connection is gone", || {
        session.connections() == 0 && reg.events().listener_count() == 0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_with_1001() {
    let srv = Server::start().await;
    let mut c = srv.client().await;
    still_works(&mut c, "p").await;
    c.send(r#"[2,"w","tictactoe/wait",null]"#).await;
    let reg = srv.registry.clone();
    srv.wait_until("the wait runs", || reg.inflight() == 1).await;
    srv.shutdown.cancel();
    assert_eq!(c.expect_close().await.0, Some(CloseCode::Away));
    srv.wait_until("the wait is cancelled", || reg.inflight() == 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_calls_the_client() {
    let srv = Server::start().await;
    let session = srv.new_session();
    let mut c = srv.client_of(&session, None).await;
    still_works(&mut c, "p").await;
    let peers = peers_of_session(session.uuid());
    assert_eq!(peers.len(), 1);
    let peer = peers[0].clone();
    assert!(peer.is_open());

    let args: Box<serde_json::value::RawValue> = serde_json::from_str(r#"{"q":1}"#).unwrap();
    let call = tokio::spawn(peer.call("ui/ask", &args));
    let m = c.recv().await;
    assert_eq!(
        (m[0].as_u64(), m[2].as_str(), &m[3]),
        (Some(2), Some("ui/ask"), &serde_json::json!({"q":1}))
    );
    let id = m[1].as_str().unwrap().to_owned();
    c.send(&format!(
        r#"[3,"{id}",{{"jtype":"afb-reply","request":{{"status":"success","code":0,"info":"fine"}},"response":42}}]"#
    ))
    .await;
    let r = tokio::time::timeout(WAIT, call).await.unwrap().unwrap();
    assert!(r.is_success());
    assert_eq!((r.data_json(), r.info.as_deref()), (Some("42"), Some("fine")));

    let call = tokio::spawn(peer.call("ui/ask", &args));
    let m = c.recv().await;
    let id = m[1].as_str().unwrap().to_owned();
    c.send(&format!(
        r#"[4,"{id}",{{"jtype":"afb-reply","request":{{"status":"unknown-verb","code":-4,"info":"no"}}}}]"#
    ))
    .await;
    let r = tokio::time::timeout(WAIT, call).await.unwrap().unwrap();
    assert_eq!(
        (&*r.status, r.code, r.info.as_deref()),
        ("unknown-verb", -4, Some("no"))
    );

    // A call the client never answers completes `disconnected` when it goes.
    let call = tokio::spawn(peer.call("ui/ask", &args));
    let m: Value = c.recv().await;
    assert_eq!(m[0], 2);
    drop(c);
    let r = tokio::time::timeout(WAIT, call).await.unwrap().unwrap();
    assert_eq!(&*r.status, "disconnected");
    srv.wait_until("the peer is gone", || peers_of_session(session.uuid()).is_empty())
        .await;
    assert!(!peer.is_open());
    assert_eq!(&*peer.call("ui/ask", &args).await.status, "disconnected");
}
