//! The hello sample's verbs, through the core (no network).

use std::time::Duration;

use afb_sdk::core::{RegistryConfig, SessionConfig};
use afb_sdk::testing::{data, TestBinder};
use serde_json::json;

const T: Duration = Duration::from_secs(2);

async fn binder() -> TestBinder {
    TestBinder::start(vec![afb_sample_hello::api()]).await.unwrap()
}

#[tokio::test]
async fn pings() {
    let b = binder().await;
    let c = b.client();
    let r = c.call("hello", "ping", &json!({"a": 1})).await;
    assert!(r.is_success());
    assert_eq!(data(&r), json!("Some String"));
    assert_eq!(
        r.info.as_deref(),
        Some(r#"Ping Binder Daemon tag=pingSample count=1 query={ "a": 1 }"#)
    );
    let r = c.call("HELLO", "PING", &()).await;
    assert_eq!(
        r.info.as_deref(),
        Some("Ping Binder Daemon tag=pingSample count=2 query=null")
    );

    let r = c.call("hello", "pingfail", &()).await;
    assert_eq!((&*r.status, r.code), ("failed", -1));
    assert_eq!(r.info.as_deref(), Some("Ping Binder Daemon fails"));

    let r = c.call("hello", "pingnull", &()).await;
    assert!(r.is_success() && r.data.is_none());

    let r = c.call("hello", "pingJson", &()).await;
    assert_eq!(data(&r)["eobj"]["subObjInt"], 5678);
}

#[tokio::test]
async fn events_by_tag_reach_subscribers_only() {
    let b = binder().await;
    let (a, other) = (b.client(), b.client());
    assert!(a
        .call("hello", "eventadd", &json!({"tag": "t1", "name": "ev1"}))
        .await
        .is_success());
    assert_eq!(
        &*a.call("hello", "eventadd", &json!({"tag": "t1", "name": "x"}))
            .await
            .status,
        "failed"
    );
    assert!(a.call("hello", "eventsub", &json!({"tag": "t1"})).await.is_success());
    let r = other
        .call("hello", "eventpush", &json!({"tag": "t1", "data": "{\"v\":42}"}))
        .await;
    assert_eq!(data(&r), json!(1));
    let e = a.next_event(T).await.unwrap();
    assert_eq!(
        (e.name.as_str(), &e.data, e.broadcast),
        ("hello/ev1", &json!({"v": 42}), false)
    );
    assert!(other.drain_events().await.is_empty());

    assert!(a.call("hello", "eventunsub", &json!({"tag": "t1"})).await.is_success());
    let r = a.call("hello", "eventpush", &json!({"tag": "t1", "data": 1})).await;
    assert_eq!(data(&r), json!(0));
    assert!(a.call("hello", "eventdel", &json!({"tag": "t1"})).await.is_success());
    assert_eq!(
        &*a.call("hello", "eventsub", &json!({"tag": "t1"})).await.status,
        "failed"
    );
    assert_eq!(
        &*a.call("hello", "eventadd", &json!({"tag": 3})).await.status,
        "invalid-request"
    );
}

#[tokio::test]
async fn broadcasts_reach_everyone() {
    let b = binder().await;
    let (a, c) = (b.client(), b.client());
    let r = a.call("hello", "pingevent", &json!({"x": 1})).await;
    assert_eq!(data(&r), json!({"x": 1}));
    for cl in [&a, &c] {
        let e = cl.next_event(T).await.unwrap();
        assert_eq!(
            (e.name.as_str(), &e.data, e.broadcast),
            ("hello/event", &json!({"x": 1}), true)
        );
    }
    a.call("hello", "broadcast", &json!({"name": "news", "data": "[1,2]"}))
        .await;
    let e = c.next_event(T).await.unwrap();
    assert_eq!((e.name.as_str(), &e.data), ("hello/news", &json!([1, 2])));
    a.call("hello", "eventadd", &json!({"tag": "t", "name": "tagged"}))
        .await;
    a.call("hello", "broadcast", &json!({"tag": "t", "data": true})).await;
    let e = c.next_event(T).await.unwrap();
    assert_eq!(
        (e.name.as_str(), &e.data, e.broadcast),
        ("hello/tagged", &json!(true), true)
    );
}

#[tokio::test]
async fn subcalls_and_calls() {
    let b = binder().await;
    let c = b.client();
    let r = c
        .call(
            "hello",
            "subcall",
            &json!({"api": "hello", "verb": "ping", "args": "{\"z\":0}"}),
        )
        .await;
    assert!(r.is_success());
    assert!(r.info.unwrap().ends_with(r#"query={ "z": 0 }"#));
    let r = c
        .call("hello", "subcallsync", &json!({"api": "hello", "verb": "pingfail"}))
        .await;
    assert_eq!(&*r.status, "failed");
    let r = c.call("hello", "callsync", &json!({"api": "nope", "verb": "x"})).await;
    assert_eq!(&*r.status, "unknown-api");

    // subcall runs in the caller's session, call in the API's own.
    c.call("hello", "setctx", &json!("mine")).await;
    let r = c
        .call("hello", "subcall", &json!({"api": "hello", "verb": "getctx"}))
        .await;
    assert_eq!(data(&r), json!("mine"));
    let r = c
        .call("hello", "call", &json!({"api": "hello", "verb": "getctx"}))
        .await;
    assert!(r.is_success() && r.data.is_none());
}

#[tokio::test]
async fn context_is_per_session() {
    let b = binder().await;
    let (a, c) = (b.client(), b.client());
    assert_eq!(
        data(&a.call("hello", "setctx", &json!({"k": 1})).await),
        json!({"k": 1})
    );
    assert_eq!(data(&a.call("hello", "getctx", &()).await), json!({"k": 1}));
    assert!(c.call("hello", "getctx", &()).await.data.is_none());
}

#[tokio::test]
async fn loa_and_tokens() {
    let cfg = RegistryConfig {
        sessions: SessionConfig {
            initial_token: Some("s3cret".into()),
            ..SessionConfig::default()
        },
        ..RegistryConfig::default()
    };
    let b = TestBinder::start_with(cfg, vec![afb_sample_hello::api()])
        .await
        .unwrap();
    let c = b.client();
    assert_eq!(&*c.call("hello", "checktok", &()).await.status, "invalid-token");
    c.set_token(Some("s3cret"));
    assert!(c.call("hello", "checktok", &()).await.is_success());
    assert_eq!(&*c.call("hello", "has-loa-1", &()).await.status, "insufficient-scope");
    let r = c.call("hello", "set-loa", &2).await;
    assert_eq!(r.info.as_deref(), Some("LOA set to 2"));
    assert!(c.call("hello", "has-loa-1", &()).await.is_success());
    assert!(c.call("hello", "has-loa-2", &()).await.is_success());
    assert_eq!(&*c.call("hello", "has-loa-3", &()).await.status, "insufficient-scope");
    assert_eq!(data(&c.call("hello", "info", &()).await)["LOA"], 2);

    let r = c.call("hello", "reftok", &()).await;
    let t = r.token.expect("new token in the reply");
    assert_ne!(&*t, "s3cret");
    // The test client adopted the new token; the old one no longer works.
    assert!(c.call("hello", "checktok", &()).await.is_success());
    c.set_token(Some("s3cret"));
    assert_eq!(&*c.call("hello", "checktok", &()).await.status, "invalid-token");
    c.set_token(Some(&t));

    assert!(c.call("hello", "close", &()).await.is_success());
    assert_eq!(data(&c.call("hello", "info", &()).await)["LOA"], 0);
}

#[tokio::test]
async fn exit_requests_the_daemon_to_stop() {
    let b = binder().await;
    let mut rx = b.registry().exit_requests();
    b.client().call("hello", "exit", &json!({"code": 3})).await;
    rx.changed().await.unwrap();
    assert_eq!(*rx.borrow(), Some(3));
}
