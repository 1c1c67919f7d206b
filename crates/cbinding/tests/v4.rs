//! The v4 test binding loaded in-process: arguments, replies, async reply,
//! context, LOA, events, subcalls, dynamic verbs, data conversions,
//! settings, double and missing replies.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_v4_in_process() {
    let so = build("hello4.c", "hello4", &[]);
    let reg = registry(json!({"hello4": {"greeting": "hi"}}), Duration::from_secs(2));
    let loaded = load(&reg, &so).await.unwrap();
    assert_eq!(loaded.version, 4);
    assert_eq!(loaded.apis, vec!["hello4".to_owned()]);
    reg.start().await.unwrap();
    let c = TestClient::new(&reg);

    let r = c.call("hello4", "echo", json!({"a": [1, 2]})).await;
    assert!(r.is_success(), "{r:?}");
    assert_eq!(data(&r), json!({"a": [1, 2]}));
    assert_eq!(data(&c.call("hello4", "ping", json!(null)).await), json!({"pong": 1}));
    assert_eq!(data(&c.call("HELLO4", "PING", json!(null)).await), json!({"pong": 2}));
    assert_eq!(
        data(&c.call("hello4", "hello", json!({"name": "bob"})).await),
        json!("hello bob")
    );
    let f = c.call("hello4", "fail", json!(null)).await;
    assert_eq!((&*f.status, f.code), ("invalid-request", -12));

    let t0 = std::time::Instant::now();
    let r = c.call("hello4", "async", json!(null)).await;
    assert_eq!(data(&r), json!("late"));
    assert!(t0.elapsed() >= Duration::from_millis(45));

    assert_eq!(&*c.call("hello4", "getctx", json!(null)).await.status, "no-item");
    assert!(c.call("hello4", "setctx", json!({"k": 1})).await.is_success());
    assert_eq!(data(&c.call("hello4", "getctx", json!(null)).await), json!({"k": 1}));
    let other = TestClient::new(&reg);
    assert_eq!(
        &*other.call("hello4", "getctx", json!(null)).await.status,
        "no-item",
        "context is per session"
    );

    assert_eq!(&*c.call("hello4", "loa2", json!(1)).await.status, "insufficient-scope");
    assert_eq!(&*c.call("hello4", "auth2", json!(1)).await.status, "insufficient-scope");
    assert_eq!(data(&c.call("hello4", "setloa", json!(2)).await), json!(2));
    assert!(c.call("hello4", "loa2", json!(1)).await.is_success());
    assert!(c.call("hello4", "auth2", json!(1)).await.is_success());

    assert!(c.call("hello4", "subscribe", json!(null)).await.is_success());
    assert_eq!(data(&c.call("hello4", "push", json!({"x": 5})).await), json!(1));
    assert_eq!(c.event("hello4/ev").await, json!({"x": 5}));
    assert!(c.call("hello4", "bcast", json!([true])).await.is_success());
    assert_eq!(other.event("hello4/bc").await, json!([true]));

    let sub = json!({"api": "hello4", "verb": "hello", "args": {"name": "sub"}});
    assert_eq!(
        data(&c.call("hello4", "subcall", sub.clone()).await),
        json!("hello sub")
    );
    assert_eq!(data(&c.call("hello4", "subcallsync", sub).await), json!("hello sub"));
    let bad = c
        .call("hello4", "subcallsync", json!({"api": "nope", "verb": "x"}))
        .await;
    assert_eq!(&*bad.status, "unknown-api");

    assert_eq!(&*c.call("hello4", "dyn", json!(null)).await.status, "unknown-verb");
    assert!(c.call("hello4", "addverb", json!(null)).await.is_success());
    assert_eq!(data(&c.call("hello4", "dyn", json!(null)).await), json!("dynamic"));
    assert!(c.call("hello4", "delverb", json!(null)).await.is_success());
    assert_eq!(&*c.call("hello4", "dyn", json!(null)).await.status, "unknown-verb");

    assert_eq!(data(&c.call("hello4", "types", json!(null)).await), json!(-7));
    assert_eq!(
        data(&c.call("hello4", "settings", json!(null)).await),
        json!({"greeting": "hi"})
    );
    let info = data(&c.call("hello4", "info", json!(null)).await);
    assert_eq!(info["uuid"], json!(c.session.uuid()));
    assert_eq!(info["LOA"], json!(2));
    assert!(c.call("hello4", "log", json!(null)).await.is_success());

    // Bad behaviours: the binder keeps serving.
    assert_eq!(data(&c.call("hello4", "twice", json!(null)).await), json!(1));
    assert_eq!(&*c.call("hello4", "never", json!(null)).await.status, "not-replied");
    assert_eq!(data(&c.call("hello4", "ping", json!(null)).await), json!({"pong": 3}));
    let d = reg.describe("hello4").await.unwrap();
    assert!(d["paths"]["/echo"].is_object(), "{d}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_init_is_a_start_error() {
    let so = build("hello4.c", "hello4-failinit", &["-DFAIL_INIT", "-DAPINAME=\"failing\""]);
    let reg = registry(json!({}), Duration::from_secs(2));
    load(&reg, &so).await.unwrap();
    let e = reg.start().await.unwrap_err();
    assert_eq!(e.api, "failing");
    assert!(e.reason.contains("hello4-failinit.so"), "{e}");
}
