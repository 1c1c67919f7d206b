//! x-afb-ws-json1 over a real WebSocket: the rows and examples of
//! `docs/protocols/wsj1.md` against `afb_http::ws` with the sample APIs.

mod ws_support;

use std::collections::HashSet;

use serde_json::{json, Value};
use ws_support::{status, Server};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spec_example_ping_pingfail_event() {
    let srv = Server::start().await;
    let mut c = srv.client().await;

    c.send(r#"[2,"1","hello/ping",{"a":1}]"#).await;
    let text = c.recv_text().await;
    assert!(
        text.starts_with(r#"[3,"1",{"jtype":"afb-reply","request":{"status":"success","code":0,"info":"#),
        "{text}"
    );
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v[2]["response"], "Some String");
    let info = v[2]["request"]["info"].as_str().unwrap();
    assert!(
        info.starts_with("Ping Binder Daemon tag=pingSample count=1 query="),
        "{info}"
    );

    c.send(r#"[2,"2","hello/pingfail",null]"#).await;
    let text = c.recv_text().await;
    assert_eq!(
        text,
        r#"[4,"2",{"jtype":"afb-reply","request":{"status":"failed","code":-1,"info":"Ping Binder Daemon fails"}}]"#
    );

    c.call_ok("5", "hello/eventadd", r#"{"tag":"t1","name":"ev1"}"#).await;
    c.send(r#"[2,"6","hello/eventsub",{"tag":"t1"}]"#).await;
    assert_eq!(
        c.recv_text().await,
        r#"[3,"6",{"jtype":"afb-reply","request":{"status":"success","code":0}}]"#
    );
    c.call_ok("7", "hello/eventpush", r#"{"tag":"t1","data":{"v":42}}"#)
        .await;
    assert_eq!(c.events.len(), 1, "the event comes before the reply of the push");
    assert_eq!(
        c.events[0],
        r#"[5,"hello/ev1",{"jtype":"afb-event","event":"hello/ev1","data":{"v":42}}]"#
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_text_is_exact_and_stops_after_unsubscribe() {
    let srv = Server::start().await;
    let mut c = srv.client().await;
    c.call_ok("a", "hello/eventadd", r#"{"tag":"u","name":"evu"}"#).await;
    c.call_ok("b", "hello/eventsub", r#"{"tag":"u"}"#).await;
    c.send(r#"[2,"c","hello/eventpush",{"tag":"u","data":"{\"k\":[1,2]}"}]"#)
        .await;
    assert_eq!(
        c.recv_text().await,
        r#"[5,"hello/evu",{"jtype":"afb-event","event":"hello/evu","data":{"k":[1,2]}}]"#
    );
    assert_eq!(c.reply_to("c").await[0], 3);
    c.call_ok("d", "hello/eventunsub", r#"{"tag":"u"}"#).await;
    c.call_ok("e", "hello/eventpush", r#"{"tag":"u","data":1}"#).await;
    c.call_ok("f", "hello/ping", "null").await;
    assert!(c.events.is_empty(), "no event after unsubscribe: {:?}", c.events);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_numbers_become_strings_and_are_escaped() {
    let srv = Server::start().await;
    let mut c = srv.client().await;
    c.send(r#"[2,4,"hello/ping",null]"#).await;
    let t = c.recv_text().await;
    assert!(t.starts_with(r#"[3,"4","#), "{t}");
    c.send(r#"[2,-1.5e3,"hello/pingnull",null]"#).await;
    let t = c.recv_text().await;
    assert!(t.starts_with(r#"[3,"-1.5e3","#), "{t}");
    // An id holding a quote, a backslash and a newline comes back as valid JSON (defect 16).
    c.send(r#"[2,"a\"b\\c\nd","hello/pingnull",null]"#).await;
    let v = c.recv().await;
    assert_eq!(v[1], "a\"b\\c\nd");
    assert_eq!(v[0], 3);
    // Unicode escapes in ids are decoded, then written back escaped as needed.
    c.send(r#"[2,"\u00e9\u0001","hello/pingnull",null]"#).await;
    let v = c.recv().await;
    assert_eq!(v[1], "\u{e9}\u{1}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn args_that_are_not_json_are_a_string() {
    let srv = Server::start().await;
    let mut c = srv.client().await;
    let r = c.call_ok("1", "hello/setctx", "hello world").await;
    assert_eq!(r[2]["response"], "hello world");
    let r = c.call_ok("2", "hello/getctx", "null").await;
    assert_eq!(r[2]["response"], "hello world", "stored as a JSON string");
    let r = c.call_ok("3", "hello/setctx", r#"{"a":[1,{"b":null}]}"#).await;
    assert_eq!(r[2]["response"], json!({"a":[1,{"b":null}]}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifth_element_token_replaces_the_connection_token() {
    let srv = Server::start().await;
    let session = srv.new_session();
    let token = session.renew_token();
    let mut c = srv.client_of(&session, Some("wrong")).await;
    let r = c.call("1", "hello/checktok", "null").await;
    assert_eq!(status(&r), "invalid-token", "{r}");
    c.send(&format!(r#"[2,"2","hello/checktok",null,"{token}"]"#)).await;
    let r = c.reply_to("2").await;
    assert_eq!(r[0], 3, "{r}");
    // From then on without the 5th element.
    let r = c.call("3", "hello/checktok", "null").await;
    assert_eq!(r[0], 3, "the token stays: {r}");
    // A null 5th element counts as absent.
    c.send(r#"[2,"4","hello/checktok",null,null]"#).await;
    assert_eq!(c.reply_to("4").await[0], 3);
    c.send(r#"[2,"5","hello/checktok",null,"bad"]"#).await;
    assert_eq!(status(&c.reply_to("5").await), "invalid-token");
    let r = c.call("6", "hello/checktok", "null").await;
    assert_eq!(status(&r), "invalid-token", "replaced by the bad one: {r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renewed_token_in_a_reply_becomes_the_connection_token() {
    let srv = Server::start().await;
    let session = srv.new_session();
    let token = session.renew_token();
    let mut c = srv.client_of(&session, Some(&token)).await;
    c.call_ok("1", "hello/checktok", "null").await;
    let r = c.call_ok("2", "hello/reftok", "null").await;
    let new = r[2]["request"]["token"]
        .as_str()
        .expect("request.token in the reply")
        .to_owned();
    assert_ne!(new, &*token);
    // The connection now presents the new token.
    c.call_ok("3", "hello/checktok", "null").await;
    // And the old one is refused.
    c.send(&format!(r#"[2,"4","hello/checktok",null,"{token}"]"#)).await;
    assert_eq!(status(&c.reply_to("4").await), "invalid-token");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broadcast_reaches_every_connection_with_one_wrapper() {
    let srv = Server::start().await;
    let mut a = srv.client().await;
    let mut b = srv.client().await;
    a.call_ok("1", "hello/broadcast", r#"{"name":"bc","data":{"x":1}}"#)
        .await;
    let expected = r#"[5,"hello/bc",{"jtype":"afb-event","event":"hello/bc","data":{"x":1}}]"#;
    let from_a = if a.events.is_empty() {
        a.recv_text().await
    } else {
        a.events[0].clone()
    };
    assert_eq!(from_a, expected);
    assert_eq!(b.recv_text().await, expected);
    // pingevent broadcasts hello/event with the argument.
    b.call_ok("2", "hello/pingevent", r#"{"p":true}"#).await;
    assert_eq!(
        a.recv_text().await,
        r#"[5,"hello/event",{"jtype":"afb-event","event":"hello/event","data":{"p":true}}]"#
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_come_in_completion_order() {
    let srv = Server::start().await;
    let mut c = srv.client().await;
    c.send(r#"[2,"w","tictactoe/wait",null]"#).await;
    c.send(r#"[2,"p","hello/ping",null]"#).await;
    let first = c.recv().await;
    assert_eq!(first[1], "p", "the ping answers while wait still runs: {first}");
    c.send(r#"[2,"m","tictactoe/move",{"index":4}]"#).await;
    let mut ids = HashSet::new();
    for _ in 0..2 {
        let m = c.recv().await;
        if m[0] == 5 {
            continue;
        }
        ids.insert(m[1].as_str().unwrap().to_owned());
    }
    // The board event may come in between; collect until both replies.
    while ids.len() < 2 {
        let m = c.recv().await;
        if m[0] != 5 {
            ids.insert(m[1].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(ids, HashSet::from(["w".to_owned(), "m".to_owned()]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_calls_in_flight_on_one_connection() {
    let srv = Server::start().await;
    let mut c = srv.client().await;
    // 1,000 waits, all pending at once, released by one move.
    c.call_ok("new", "tictactoe/new", "null").await;
    c.send_all((0..1000).map(|i| format!(r#"[2,"w{i}","tictactoe/wait",null]"#)))
        .await;
    let reg = srv.registry.clone();
    srv.wait_until("1,000 waits run", || reg.inflight() == 1000).await;
    c.send(r#"[2,"m","tictactoe/move",{"index":0}]"#).await;
    let mut seen = HashSet::new();
    while seen.len() < 1001 {
        let m = c.recv().await;
        match m[0].as_u64() {
            Some(5) => continue,
            Some(3) => assert!(seen.insert(m[1].as_str().unwrap().to_owned()), "one reply per id: {m}"),
            _ => panic!("unexpected {m}"),
        }
    }
    assert!(seen.contains("m") && (0..1000).all(|i| seen.contains(&format!("w{i}"))));
    // And 1,000 pipelined pings.
    c.send_all((0..1000).map(|i| format!(r#"[2,{i},"hello/ping",{{"i":{i}}}]"#)))
        .await;
    let mut seen = HashSet::new();
    while seen.len() < 1000 {
        let m = c.recv().await;
        assert_eq!(m[0], 3, "{m}");
        assert!(seen.insert(m[1].as_str().unwrap().to_owned()));
    }
    assert_eq!(srv.registry.inflight(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_beyond_max_inflight_are_refused() {
    let srv = Server::start_with(afb_http::ws::WsConfig {
        max_inflight: 2,
        ..Default::default()
    })
    .await;
    let mut c = srv.client().await;
    c.send(r#"[2,"w1","tictactoe/wait",null]"#).await;
    c.send(r#"[2,"w2","tictactoe/wait",null]"#).await;
    let r = c.call("p", "hello/ping", "null").await;
    assert_eq!(status(&r), "not-available", "{r}");
    assert_eq!(r[2]["request"]["code"], -5);
    // A second connection has its own bound.
    let mut d = srv.client().await;
    d.call_ok("p", "hello/ping", "null").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_api_and_verb() {
    let srv = Server::start().await;
    let mut c = srv.client().await;
    let r = c.call("1", "nope/ping", "null").await;
    assert_eq!((r[0].as_u64(), status(&r)), (Some(4), "unknown-api"));
    let r = c.call("2", "hello/nope", "null").await;
    assert_eq!((r[0].as_u64(), status(&r)), (Some(4), "unknown-verb"));
    // The verb may contain '/'.
    let r = c.call("3", "hello/a/b", "null").await;
    assert_eq!(status(&r), "unknown-verb");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_and_info_of_an_api() {
    let srv = Server::start().await;
    let mut c = srv.client().await;
    let r = c.call_ok("1", "hello/describe", "null").await;
    assert!(r[2]["response"]["paths"]["/ping"].is_object(), "{r}");
    let r = c.call_ok("2", "tictactoe/info", "null").await;
    assert_eq!(r[2]["response"]["$schema"], "afb-api-info/v2", "{r}");
    assert_eq!(r[2]["response"]["name"], "tictactoe");
}
