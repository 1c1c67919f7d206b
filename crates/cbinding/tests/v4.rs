//! The v4 test bindings loaded in-process: arguments, replies, async reply,
//! context, LOA, events, subcalls, dynamic verbs, data conversions,
//! settings, double and missing replies; interface revisions 1 to 9 (what
//! revisions 7 to 9 added, how the revision is chosen and checked).

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
    let path = so.display().to_string();
    assert_eq!(
        data(&c.call("hello4", "settings", json!(null)).await),
        json!({"greeting": "hi", "binding-path": path, "path": path}),
        "--set values merged with the binding's path, as the C binder gives them"
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revision_9_binding_uses_what_revisions_7_to_9_added() {
    let so = build("rev9.c", "rev9", &[]);
    let reg = registry(json!({}), Duration::from_secs(30));
    let loaded = load(&reg, &so).await.unwrap();
    assert!(loaded.apis.contains(&"rev9".to_owned()) && loaded.apis.contains(&"rev9gen".to_owned()));
    reg.start().await.unwrap();
    let c = TestClient::new(&reg);

    // rev 7: the timer was made with a period of a minute; its first tick
    // sets 10 ms: the third tick comes well within the call's 10 s.
    let r = c.call("rev9", "timer", json!(null)).await;
    assert_eq!(data(&r), json!({"ticks": 3}), "{r:?}");

    // rev 8: #UUID
    let r = data(
        &c.call("rev9", "uuid", json!({"text": "0F8FAD5B-D9CB-469F-A165-70867728950E"}))
            .await,
    );
    assert_eq!(r["name"], json!("#UUID"));
    assert_eq!(r["lookup"], json!(true));
    assert_eq!(
        (&r["from_text"], &r["size"], &r["first_byte"]),
        (&json!(0), &json!(16), &json!(0x0f))
    );
    assert_eq!(
        r["text"],
        json!("0f8fad5b-d9cb-469f-a165-70867728950e"),
        "lower-case text form"
    );
    assert_eq!(r["text_size"], json!(37), "36 characters and the NUL");
    assert_eq!(
        (&r["to_bytes"], &r["bytes_size"], &r["from_bytes"]),
        (&json!(0), &json!(16), &json!(0))
    );
    assert!(r["to_json"].as_i64().unwrap() < 0, "no conversion to #json: {r}");
    assert!(r["from_15_bytes"].as_i64().unwrap() < 0, "{r}");
    assert!(r["from_json"].as_i64().unwrap() < 0, "{r}");
    for bad in [
        "0f8fad5bd9cb469fa16570867728950e",
        "not-a-uuid",
        "0f8fad5b-d9cb-469f-a165-70867728950g",
        "",
    ] {
        let r = data(&c.call("rev9", "uuid", json!({"text": bad})).await);
        assert!(r["from_text"].as_i64().unwrap() < 0, "{bad:?} accepted: {r}");
    }

    // rev 9: the declared specification is what `info` answers; sealed at
    // init, the API refuses a new one.
    let r = c.call("rev9", "info", json!(null)).await;
    assert_eq!(
        data(&r),
        json!({"openapi": "3.0.0", "info": {"title": "rev9", "x-from": "api_set_specification"}})
    );
    assert!(data(&c.call("rev9", "respec", json!(null)).await).as_i64().unwrap() < 0);
    // No specification: generated, with every kind of access rule.
    let r = c.call("rev9gen", "info", json!(null)).await;
    assert_eq!(
        r.data_json(),
        Some(concat!(
            r#"{"$schema":"afb-api-info/v2","name":"rev9gen","info":"generated description","verbs":["#,
            r#"{"name":"plain","info":"no rule"},{"name":"loa2","auth":"loa>=2"},"#,
            r#"{"name":"checked","auth":"loa>=1 and check-token"},{"name":"closing","session-close":true},"#,
            r#"{"name":"either","auth":"check-token and (urn:a or urn:b)"},"#,
            r#"{"name":"both","auth":"loa>=1 and check-token"},{"name":"any*","glob":true}]}"#
        ))
    );

    // Replies as the tutorial binding's, read as the C binder renders them.
    let r = c.call("rev9", "ping", json!(null)).await;
    assert_eq!((&*r.status, data(&r)), ("success", json!([null, null, "ping count=1"])));
    let r = c.call("rev9", "failsub", json!(null)).await;
    assert_eq!((&*r.status, r.code), ("error", -1));
    assert_eq!(data(&r), json!([null, "failed", "subscription error"]));
    let r = c.call("rev9", "nullstr", json!(null)).await;
    assert_eq!(r.data_json(), Some("null"), "a NULL #stringz is JSON null");
    let path = so.display().to_string();
    assert_eq!(
        data(&c.call("rev9", "settings", json!(null)).await),
        json!({"binding-path": path, "path": path})
    );
    assert_eq!(
        data(&c.call("rev9gen", "info", json!(null)).await)["name"],
        json!("rev9gen")
    );
}

/// Loads `itfrev.c` built with `defines` as API `api`; its `revision` reply.
async fn itfrev(api: &str, defines: &[&str]) -> serde_json::Value {
    let apiname = format!("-DAPINAME=\"{api}\"");
    let mut d = vec![apiname.as_str()];
    d.extend_from_slice(defines);
    let so = build("itfrev.c", api, &d);
    let reg = registry(json!({}), Duration::from_secs(5));
    load(&reg, &so).await.unwrap();
    reg.start().await.unwrap();
    let r = TestClient::new(&reg).call(api, "revision", json!(null)).await;
    assert!(r.is_success(), "{api}: {r:?}");
    data(&r)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_revision_is_chosen_as_the_headers_say_and_every_one_loads() {
    // Not chosen, or 0: the current revision (7), whose table has neither
    // type_UUID nor api_set_specification (checked when compiling).
    let r = itfrev("rdefault", &[]).await;
    assert_eq!(r, json!({"declared": 7, "compiled": 7, "members": 112}));
    assert_eq!(
        itfrev("rzero", &["-DAFB_BINDING_X4R1_ITF_REVISION=0"]).await["declared"],
        json!(7)
    );
    // Above the full revision: clamped to 9.
    let r = itfrev("rhigh", &["-DAFB_BINDING_X4R1_ITF_REVISION=12"]).await;
    assert_eq!(r, json!({"declared": 9, "compiled": 9, "members": 114}));
    // Every revision from 1 to 9 loads, with the table of its revision.
    let members = [0, 103, 105, 107, 109, 110, 111, 112, 113, 114];
    for (rev, n) in members.iter().enumerate().skip(1) {
        let def = format!("-DAFB_BINDING_X4R1_ITF_REVISION={rev}");
        let r = itfrev(&format!("r{rev}"), &[&def]).await;
        assert_eq!(r, json!({"declared": rev, "compiled": rev, "members": n}));
    }
    assert_eq!(afb_cbinding::V4_MAX_REVISION, 9);
    assert_eq!(afb_cbinding::V4_CURRENT_REVISION, 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_static_specification_is_what_info_answers() {
    let so = build(
        "itfrev.c",
        "rspec",
        &["-DAPINAME=\"rspec\"", r#"-DSTATIC_SPEC="{\"x-static\":true}""#],
    );
    let reg = registry(json!({}), Duration::from_secs(5));
    load(&reg, &so).await.unwrap();
    reg.start().await.unwrap();
    let r = TestClient::new(&reg).call("rspec", "info", json!(null)).await;
    assert_eq!(r.data_json(), Some(r#"{"x-static":true}"#));
}
