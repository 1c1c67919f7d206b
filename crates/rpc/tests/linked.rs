//! Registries linked by RPC v3 in one process: a back serving the hello and
//! echo APIs with `--rpc-server`, fronts importing them with
//! `--rpc-client`; calls, errors, sessions, LOA, tokens, events,
//! broadcasts (and a ring of three), loss and return of the back, several
//! APIs on one link, descriptions, timeouts.

mod common;

use std::time::Duration;

use afb_rpc::RpcOptions;
use afb_sdk::testing::{data, TestBinder};
use common::*;
use serde_json::json;

/// Calls of the hello sample through `api` of `front`: (verb, status, code, data).
async fn check_calls(front: &TestBinder, api: &str) {
    let c = front.client();
    let cases = [
        ("ping", "success", 0, json!("Some String")),
        ("pingfail", "failed", -1, json!(null)),
        ("pingnull", "success", 0, json!(null)),
        ("nosuchverb", "unknown-verb", -4, json!(null)),
    ];
    for (verb, st, code, expected) in cases {
        let r = c.call(api, verb, &json!({"a": 1})).await;
        assert_eq!((&*r.status, r.code, data(&r)), (st, code, expected), "{verb}: {r:?}");
    }
    let r = c.call(api, "ping", &()).await;
    assert!(
        r.info.as_deref().unwrap_or("").starts_with("Ping Binder Daemon"),
        "{r:?}"
    );
    assert_eq!(data(&c.call(api, "pingJson", &()).await)["eobj"]["subObjInt"], 5678);
}

/// A back serving `api` on a unix socket of a new directory, and a front importing it.
async fn linked(tag: &str, api: &str) -> (TempDir, Back, TestBinder) {
    let dir = TempDir::new(tag);
    let spec = unix_spec(&dir, api);
    let back = Back::start(&spec).await;
    let f = front(&spec).await;
    (dir, back, f)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_over_unix_abstract_tcp_and_ws() {
    let dir = TempDir::new("rpc-calls");
    let ws = format!("ws+unix:{}?export=hello", path(&dir, "ws").display());
    let servers = [
        unix_spec(&dir, "hello"),
        format!("unix:@afb-rpc-test-{}/hello", std::process::id()),
        "tcp:127.0.0.1:0/hello".to_owned(),
        ws,
    ];
    let mut backs = Vec::new();
    for server in servers {
        let back = Back::start(&server).await;
        // the client spec: the same socket (the TCP port picked), importing hello
        let client = match back.handle.port {
            Some(port) => format!("tcp:127.0.0.1:{port}/hello"),
            None => server.replace("export=", "import="),
        };
        check_calls(&front(&client).await, "hello").await;
        backs.push(back);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_loa_and_tokens_reach_the_back() {
    let (dir, back, f) = linked("rpc-session", "hello").await;
    let config = || afb_core::RegistryConfig {
        sessions: afb_core::SessionConfig {
            initial_token: Some("secret".into()),
            ..afb_core::SessionConfig::default()
        },
        ..afb_core::RegistryConfig::default()
    };
    let (a, b) = (f.client(), f.client());
    // the back sees each front client's own session uuid
    for c in [&a, &b] {
        let r = c.call("hello", "info", &()).await;
        assert_eq!(data(&r)["uuid"], json!(c.session_uuid()), "{r:?}");
    }
    // LOA set through the link applies to that session only
    assert_eq!(&*a.call("hello", "has-loa-1", &()).await.status, "insufficient-scope");
    assert!(a.call("hello", "set-loa", &1).await.is_success());
    assert!(a.call("hello", "has-loa-1", &()).await.is_success());
    assert_eq!(&*b.call("hello", "has-loa-1", &()).await.status, "insufficient-scope");
    let hello = back.binder.registry().get_api("hello").unwrap().id();
    let s = back
        .binder
        .registry()
        .sessions()
        .get(&a.session_uuid())
        .expect("on the back");
    assert_eq!(s.loa(hello), 1);
    // tokens travel with the calls and are checked by the back
    let _guarded = Back::start_with(
        &format!("{}?export=hello", unix_spec(&dir, "guarded")),
        config(),
        RpcOptions::default(),
    )
    .await;
    let g = front(&format!("{}?import=hello", unix_spec(&dir, "guarded"))).await;
    let a = g.client();
    assert_eq!(&*a.call("hello", "checktok", &()).await.status, "invalid-token");
    a.set_token(Some("secret"));
    assert!(a.call("hello", "checktok", &()).await.is_success());
    a.set_token(Some("wrong"));
    assert_eq!(&*a.call("hello", "checktok", &()).await.status, "invalid-token");
}

/// Regression: the back pinned every session the front declared, so a
/// front with more live sessions than the back's `--session-max` wedged it
/// (`unknown session id` for the front's new clients, 503 for its own).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_front_with_more_sessions_than_the_back_holds_does_not_wedge_it() {
    let dir = TempDir::new("rpc-wedge");
    let spec = unix_spec(&dir, "hello");
    let small = afb_core::RegistryConfig {
        sessions: afb_core::SessionConfig {
            max: 4,
            ..afb_core::SessionConfig::default()
        },
        ..afb_core::RegistryConfig::default()
    };
    let back = Back::start_with(&spec, small, RpcOptions::default()).await;
    let f = front(&spec).await;
    let clients: Vec<_> = (0..12).map(|_| f.client()).collect();
    for c in &clients {
        let r = c.call("hello", "info", &()).await;
        assert_eq!(data(&r)["uuid"], json!(c.session_uuid()), "{r:?}");
    }
    let sessions = back.binder.registry().sessions();
    assert!(sessions.len() <= 4, "{} sessions on the back", sessions.len());
    drop(sessions.create().expect("room for a client of the back itself"));
    let r = clients[0].call("hello", "info", &()).await;
    assert_eq!(data(&r)["uuid"], json!(clients[0].session_uuid()), "made again: {r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_and_broadcasts_across_the_link() {
    let (_dir, back, f) = linked("rpc-events", "hello").await;
    let (a, b) = (f.client(), f.client());
    let ok = |r: afb_core::Reply| assert!(r.is_success(), "{r:?}");
    ok(a.call("hello", "eventadd", &json!({"tag": "t", "name": "ev"})).await);
    ok(a.call("hello", "eventsub", &json!({"tag": "t"})).await);
    ok(b.call("hello", "eventpush", &json!({"tag": "t", "data": {"n": 1}}))
        .await);
    let e = a.next_event(T).await.expect("the push reaches the subscriber");
    assert_eq!(
        (e.name.as_str(), &e.data, e.broadcast),
        ("hello/ev", &json!({"n": 1}), false)
    );
    assert!(
        b.next_event(Duration::from_millis(200)).await.is_none(),
        "b did not subscribe"
    );
    ok(a.call("hello", "eventunsub", &json!({"tag": "t"})).await);
    ok(b.call("hello", "eventpush", &json!({"tag": "t", "data": 2})).await);
    assert!(a.next_event(Duration::from_millis(200)).await.is_none(), "unsubscribed");
    ok(a.call("hello", "eventsub", &json!({"tag": "t"})).await);
    ok(b.call("hello", "eventpush", &json!({"tag": "t", "data": 3})).await);
    assert_eq!(a.next_event(T).await.expect("subscribed again").data, json!(3));
    // a front client that goes away: told by EVENT-UNEXPECTED at the next
    // push, the back stops pushing to the link (the push reaches nobody)
    let reached = |r: afb_core::Reply| data(&r);
    assert_eq!(
        reached(b.call("hello", "eventpush", &json!({"tag": "t", "data": 4})).await),
        json!(1)
    );
    drop(a);
    let mut n = json!(1);
    for _ in 0..100 {
        n = reached(b.call("hello", "eventpush", &json!({"tag": "t", "data": 5})).await);
        if n == json!(0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(n, json!(0), "the back still pushes to the link");
    // broadcasts of the back reach every front client once, and the
    // front's reach the back's clients
    let watcher = back.binder.client();
    ok(b.call("hello", "pingevent", &json!({"b": 1})).await);
    let e = b.next_event(T).await.expect("broadcast on the front");
    assert_eq!(
        (e.name.as_str(), &e.data, e.broadcast),
        ("hello/event", &json!({"b": 1}), true)
    );
    assert_eq!(
        watcher.next_event(T).await.expect("broadcast on the back").data,
        json!({"b": 1})
    );
    assert!(b.next_event(Duration::from_millis(200)).await.is_none(), "exactly once");
    let local = f.registry().api_ref("hello");
    assert!(local.is_some());
    f.registry().events().broadcast(
        "front/news",
        Some(&serde_json::value::RawValue::from_string("7".into()).unwrap()),
        None,
    );
    let e = watcher.next_event(T).await.expect("the front's broadcast on the back");
    assert_eq!((e.name.as_str(), &e.data), ("front/news", &json!(7)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ring_of_three_binders_does_not_loop_a_broadcast() {
    let dir = TempDir::new("rpc-ring");
    let mut ring = Vec::new();
    for n in 0..3 {
        ring.push(Back::start(&format!("{}?export=hello", unix_spec(&dir, &format!("r{n}")))).await);
    }
    // each imports the hello of the next one as `next`
    for (n, b) in ring.iter().enumerate() {
        let next = format!("{}?import=next@hello", unix_spec(&dir, &format!("r{}", (n + 1) % 3)));
        afb_rpc::import(b.binder.registry(), &next, RpcOptions::default()).unwrap();
    }
    let clients: Vec<_> = ring.iter().map(|b| b.binder.client()).collect();
    for c in &clients {
        assert!(c.call("next", "ping", &()).await.is_success(), "the ring is linked");
    }
    assert!(clients[1]
        .call("hello", "pingevent", &json!({"ring": true}))
        .await
        .is_success());
    for (n, c) in clients.iter().enumerate() {
        let e = c
            .next_event(T)
            .await
            .unwrap_or_else(|| panic!("binder {n} got nothing"));
        assert_eq!((e.name.as_str(), &e.data), ("hello/event", &json!({"ring": true})));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    for (n, c) in clients.iter().enumerate() {
        assert_eq!(c.drain_events().await.len(), 0, "binder {n} got it again");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_back_goes_away_and_comes_back() {
    let (dir, back, f) = linked("rpc-restart", "echo").await;
    let spec = unix_spec(&dir, "echo");
    let c = std::sync::Arc::new(f.client());
    assert_eq!(data(&c.call("echo", "args", &json!([1])).await), json!([1]));
    let waiting = {
        let c = c.clone();
        tokio::spawn(async move { c.call("echo", "slow", &60_000).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    back.kill().await;
    let r = tokio::time::timeout(T, waiting).await.expect("answered").unwrap();
    assert_eq!((&*r.status, r.code), ("disconnected", -15), "{r:?}");
    // while the back is away, calls are answered at once
    let t0 = std::time::Instant::now();
    let r = c.call("echo", "args", &1).await;
    assert_eq!(&*r.status, "not-available", "{r:?}");
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    // it comes back: the next call connects, the session is declared again
    let back = Back::start(&spec).await;
    assert_eq!(data(&c.call("echo", "args", &2).await), json!(2));
    let r = c.call("hello", "info", &()).await;
    assert_eq!(&*r.status, "unknown-api", "only echo is imported: {r:?}");
    assert!(
        back.binder.registry().sessions().get(&c.session_uuid()).is_some(),
        "declared again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_apis_on_one_link_with_renaming() {
    let dir = TempDir::new("rpc-many");
    let sock = path(&dir, "many");
    let _back = Back::start(&format!("unix:{}?export=hello@remhello,hello@,echo", sock.display())).await;
    let f = front(&format!(
        "unix:{}?import=h1@remhello,h2@,e@echo,nope@monitor",
        sock.display()
    ))
    .await;
    let c = f.client();
    for api in ["h1", "h2"] {
        let r = c.call(api, "ping", &()).await;
        assert!(r.is_success(), "{api}: {r:?}");
    }
    assert_eq!(
        data(&c.call("e", "args", &json!({"x": [null, 1]})).await),
        json!({"x": [null, 1]})
    );
    let r = c.call("nope", "get", &()).await;
    assert_eq!((&*r.status, r.code), ("unauthorized", -6), "not exported: {r:?}");
    assert!(r.info.as_deref().unwrap_or("").contains("monitor"), "{r:?}");
    // the link is still up
    assert!(c.call("h1", "ping", &()).await.is_success());
    assert!(
        f.registry().get_api("hello").is_none(),
        "imported under the local names only"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_calls_back_over_the_client_link() {
    let dir = TempDir::new("rpc-both");
    let sock = path(&dir, "both");
    let back = Back::start(&format!("unix:{}?export=hello&import=fecho@echo", sock.display())).await;
    let f = TestBinder::start(vec![echo_api()]).await.unwrap();
    afb_rpc::import(
        f.registry(),
        &format!("unix:{}?import=hello&export=echo", sock.display()),
        RpcOptions::default(),
    )
    .unwrap();
    let c = f.client();
    assert!(c.call("hello", "ping", &()).await.is_success());
    let r = back
        .binder
        .client()
        .call("fecho", "args", &json!("from the back"))
        .await;
    assert_eq!(data(&r), json!("from the back"), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_imports_describe_and_timeouts() {
    let dir = TempDir::new("rpc-misc");
    let _back = Back::start(&format!("{}?export=echo,hello", unix_spec(&dir, "b"))).await;
    let opts = RpcOptions {
        call_timeout: Some(Duration::from_millis(300)),
        ..RpcOptions::default()
    };
    let f = front_with(&format!("private:{}?import=echo", unix_spec(&dir, "b")), opts.clone()).await;
    assert_eq!(
        &*f.client().call("echo", "args", &1).await.status,
        "unknown-api",
        "private"
    );
    let call = afb_core::Call {
        api: "echo",
        verb: "args",
        args: afb_core::Args::from_value(json!(5)),
        client: afb_core::Client::new(f.registry().sessions().create().unwrap()),
        external: false,
        chain: None,
    };
    assert_eq!(
        f.registry().clone().call(call).await.data_json(),
        Some("5"),
        "reachable by APIs"
    );
    // descriptions travel
    let g = front_with(&format!("{}?import=hello", unix_spec(&dir, "b")), opts).await;
    let d = g.registry().describe("hello").await.expect("a description");
    assert!(d.to_string().contains("ping"), "{d}");
    // a call past its timeout is answered here; the link goes on
    let c = g.client();
    let r = c
        .call("hello", "call", &json!({"api": "echo", "verb": "slow", "args": 3000}))
        .await;
    assert_eq!(&*r.status, "timeout", "{r:?}");
    assert!(c.call("hello", "ping", &()).await.is_success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_up_errors() {
    capture_logs();
    let reg = TestBinder::start(vec![afb_sample_hello::api()]).await.unwrap();
    let stop = tokio_util::sync::CancellationToken::new();
    let serve = |spec: &'static str| afb_rpc::serve(reg.registry().clone(), spec, RpcOptions::default(), stop.clone());
    let e = serve("unix:/tmp/afb-rpc-x/nothere").await.unwrap_err();
    assert!(e.to_string().contains("no API"), "{e}");
    let e = serve("tls+unix:/tmp/afb-rpc-x/hello").await.unwrap_err();
    assert!(e.to_string().contains("needs a certificate"), "{e}");
    let e = afb_rpc::import(reg.registry(), "sd:hello", RpcOptions::default()).unwrap_err();
    assert!(e.to_string().contains("servers only"), "{e}");
    let e = afb_rpc::import(reg.registry(), "unix:/x/hello", RpcOptions::default()).unwrap_err();
    assert!(e.to_string().contains("already exists"), "{e}");
    let e = afb_rpc::import(reg.registry(), "unix:/x/y?import=a,hello", RpcOptions::default()).unwrap_err();
    assert!(e.to_string().contains("already exists"), "{e}");
    assert!(reg.registry().get_api("a").is_none(), "all or nothing");
    // an absent peer is no error at start-up
    let names = afb_rpc::import(reg.registry(), "unix:/tmp/afb-rpc-absent/far", RpcOptions::default()).unwrap();
    assert_eq!(names, vec!["far".to_owned()]);
}
