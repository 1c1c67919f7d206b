//! Linked registries in one process: a back exporting the hello sample on a
//! unix socket or TCP, fronts importing it; calls, sessions, LOA, tokens,
//! events, broadcasts (also around a ring of three), loss and return of the
//! back, call timeouts, descriptions and `--auto-api`.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use afb_core::{RegistryConfig, SessionConfig};
use afb_sdk::testing::{data, TestBinder};
use afb_wsapi::WsapiOptions;
use common::*;
use serde_json::json;

fn unix_uri(dir: &TempDir, name: &str) -> String {
    format!("unix:{}", dir.join(name).display())
}

async fn check_calls(front: &TestBinder, api: &str) {
    let c = front.client();
    let r = c.call(api, "ping", &json!({"a": 1})).await;
    assert!(r.is_success(), "{r:?}");
    assert_eq!(data(&r), json!("Some String"));
    assert!(r.info.as_deref().unwrap_or("").starts_with("Ping Binder Daemon"));
    let r = c.call(api, "pingfail", &()).await;
    assert_eq!((&*r.status, r.code), ("failed", -1));
    let r = c.call(api, "pingJson", &()).await;
    assert_eq!(data(&r)["eobj"]["subObjInt"], 5678);
    let r = c.call(api, "pingnull", &()).await;
    assert!(r.is_success() && r.data.is_none(), "{r:?}");
    let r = c.call(api, "nosuchverb", &()).await;
    assert_eq!((&*r.status, r.code), ("unknown-verb", -4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_over_unix_tcp_and_abstract_sockets() {
    let dir = TempDir::new("calls");
    let unix = Back::start(&unix_uri(&dir, "hello")).await;
    let front = front(&unix_uri(&dir, "hello")).await;
    check_calls(&front, "hello").await;

    let tcp = Back::start("tcp:127.0.0.1:0/hello").await;
    let port = tcp.handle.port.expect("tcp port");
    let f2 = front_with(
        &format!("tcp:127.0.0.1:{port}/hello?as-api=remote"),
        RegistryConfig::default(),
        opts(),
    )
    .await;
    check_calls(&f2, "remote").await;
    assert!(f2.registry().get_api("hello").is_none(), "as-api renames");

    let name = format!("unix:@afb-wsapi-test-{}/hello", std::process::id());
    let abs = Back::start(&name).await;
    let f3 = common::front(&name).await;
    check_calls(&f3, "hello").await;
    drop((unix, tcp, abs));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_session_uuid_and_loa_on_both_sides() {
    let dir = TempDir::new("session");
    let back = Back::start(&unix_uri(&dir, "hello")).await;
    let front = front(&unix_uri(&dir, "hello")).await;
    let (a, b) = (front.client(), front.client());
    let r = a.call("hello", "info", &()).await;
    assert_eq!(data(&r)["uuid"], json!(a.session_uuid()));
    let r = b.call("hello", "info", &()).await;
    assert_eq!(data(&r)["uuid"], json!(b.session_uuid()));
    assert_ne!(a.session_uuid(), b.session_uuid());

    assert_eq!(&*a.call("hello", "has-loa-1", &()).await.status, "insufficient-scope");
    let r = a.call("hello", "set-loa", &1).await;
    assert!(r.is_success(), "{r:?}");
    assert!(a.call("hello", "has-loa-1", &()).await.is_success());
    assert_eq!(&*b.call("hello", "has-loa-1", &()).await.status, "insufficient-scope");
    // the back holds the same session, with the LOA for its hello API
    let hello_id = back.registry().get_api("hello").unwrap().id();
    let s = back
        .registry()
        .sessions()
        .get(&a.session_uuid())
        .expect("session on the back");
    assert_eq!(s.loa(hello_id), 1);
    // context values live on the back's session too
    assert!(a.call("hello", "setctx", &json!({"k": 1})).await.is_success());
    assert_eq!(data(&a.call("hello", "getctx", &()).await), json!({"k": 1}));
    assert!(b.call("hello", "getctx", &()).await.data.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_forwarded_and_checked_on_the_back() {
    let dir = TempDir::new("token");
    let cfg = || RegistryConfig {
        sessions: SessionConfig {
            initial_token: Some("secret".into()),
            ..SessionConfig::default()
        },
        ..RegistryConfig::default()
    };
    let _back = Back::start_with(&unix_uri(&dir, "hello"), cfg(), opts()).await;
    let front = front_with(&unix_uri(&dir, "hello"), cfg(), opts()).await;
    let c = front.client();
    assert_eq!(&*c.call("hello", "checktok", &()).await.status, "invalid-token");
    c.set_token(Some("wrong"));
    assert_eq!(&*c.call("hello", "checktok", &()).await.status, "invalid-token");
    c.set_token(Some("secret"));
    assert!(c.call("hello", "checktok", &()).await.is_success());
    c.set_token(Some("wrong"));
    assert_eq!(&*c.call("hello", "checktok", &()).await.status, "invalid-token");
    c.set_token(Some("secret"));
    assert!(c.call("hello", "checktok", &()).await.is_success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_through_the_link() {
    let dir = TempDir::new("events");
    let _back = Back::start(&unix_uri(&dir, "hello")).await;
    let front = front(&unix_uri(&dir, "hello")).await;
    let (a, other) = (front.client(), front.client());
    assert!(a
        .call("hello", "eventadd", &json!({"tag": "t", "name": "ev"}))
        .await
        .is_success());
    assert!(a.call("hello", "eventsub", &json!({"tag": "t"})).await.is_success());
    let r = other
        .call("hello", "eventpush", &json!({"tag": "t", "data": {"v": 42}}))
        .await;
    assert!(r.is_success(), "{r:?}");
    let ev = a.next_event(T).await.expect("pushed event");
    assert_eq!(
        (ev.name.as_str(), ev.data.clone(), ev.broadcast),
        ("hello/ev", json!({"v": 42}), false)
    );
    assert!(
        other.next_event(Duration::from_millis(200)).await.is_none(),
        "not subscribed"
    );
    // unsubscribed: nothing more
    assert!(a.call("hello", "eventunsub", &json!({"tag": "t"})).await.is_success());
    assert!(other
        .call("hello", "eventpush", &json!({"tag": "t", "data": 1}))
        .await
        .is_success());
    assert!(a.next_event(Duration::from_millis(200)).await.is_none());
    // subscribing again works (the event is announced again if it was dropped)
    assert!(a.call("hello", "eventsub", &json!({"tag": "t"})).await.is_success());
    assert!(other
        .call("hello", "eventpush", &json!({"tag": "t", "data": 2}))
        .await
        .is_success());
    assert_eq!(a.next_event(T).await.expect("pushed again").data, json!(2));
    // broadcast: every front client once
    let r = a.call("hello", "pingevent", &json!({"b": 1})).await;
    assert!(r.is_success());
    for c in [&a, &other] {
        let ev = c.next_event(T).await.expect("broadcast");
        assert_eq!(
            (ev.name.as_str(), ev.data.clone(), ev.broadcast),
            ("hello/event", json!({"b": 1}), true)
        );
        assert!(c.next_event(Duration::from_millis(200)).await.is_none(), "exactly once");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ring_of_three_gets_each_broadcast_once() {
    let dir = TempDir::new("ring");
    // R1 -> R2 -> R3 -> R1: each serves its hello on socket hN (as-api names
    // the exported API) and imports the previous one as `up`.
    let mut r: Vec<Back> = Vec::new();
    for n in 1..=3 {
        r.push(Back::start(&format!("{}?as-api=hello", unix_uri(&dir, &format!("h{n}")))).await);
    }
    for (i, b) in r.iter().enumerate() {
        let up = format!("{}?as-api=up", unix_uri(&dir, &format!("h{}", (i + 2) % 3 + 1)));
        afb_wsapi::import(b.registry(), &up, opts()).unwrap();
    }
    let clients: Vec<_> = r.iter().map(|b| b.binder.client()).collect();
    for c in &clients {
        assert!(c.call("up", "ping", &()).await.is_success(), "links up");
    }
    let r1 = clients[0].call("hello", "pingevent", &json!({"ring": 1})).await;
    assert!(r1.is_success());
    for (i, c) in clients.iter().enumerate() {
        let ev = c
            .next_event(T)
            .await
            .unwrap_or_else(|| panic!("registry {} got no broadcast", i + 1));
        assert_eq!((ev.name.as_str(), ev.data.clone()), ("hello/event", json!({"ring": 1})));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    for (i, c) in clients.iter().enumerate() {
        let more = c.drain_events().await;
        assert!(more.is_empty(), "registry {} got duplicates: {more:?}", i + 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn back_killed_then_restarted() {
    let dir = TempDir::new("restart");
    let uri = unix_uri(&dir, "slow");
    let dropped = Arc::new(AtomicUsize::new(0));
    let back = Back::start_apis(&uri, RegistryConfig::default(), opts(), vec![slow_api(dropped.clone())]).await;
    let front = front(&uri).await;
    let c = Arc::new(front.client());
    assert_eq!(data(&c.call("slow", "sleep", &1).await), json!(1));
    let pending = {
        let c = c.clone();
        tokio::spawn(async move { c.call("slow", "sleep", &60_000).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    back.kill().await;
    let r = tokio::time::timeout(T, pending)
        .await
        .expect("pending call answered")
        .unwrap();
    assert_eq!((&*r.status, r.code), ("disconnected", -15), "{r:?}");
    assert!(logs().wait_for("disconnected from").await);
    let r = c.call("slow", "sleep", &1).await;
    assert_eq!(&*r.status, "disconnected", "{r:?}");
    assert!(r.info.as_deref().unwrap_or("").contains("cannot connect"), "{r:?}");
    // the running verb of the back was cancelled when its link closed
    for _ in 0..100 {
        if dropped.load(Ordering::SeqCst) >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(dropped.load(Ordering::SeqCst), 2);

    let _back = Back::start_apis(&uri, RegistryConfig::default(), opts(), vec![slow_api(dropped.clone())]).await;
    let r = c.call("slow", "sleep", &1).await;
    assert!(r.is_success(), "reconnected: {r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stuck_remote_times_out_locally() {
    let dir = TempDir::new("stuck");
    let uri = unix_uri(&dir, "slow");
    let dropped = Arc::new(AtomicUsize::new(0));
    let _back = Back::start_apis(&uri, RegistryConfig::default(), opts(), vec![slow_api(dropped)]).await;
    let front = front_with(
        &uri,
        RegistryConfig::default(),
        WsapiOptions {
            call_timeout: Some(Duration::from_millis(300)),
            ..opts()
        },
    )
    .await;
    let c = front.client();
    let t0 = tokio::time::Instant::now();
    let r = c.call("slow", "sleep", &3000).await;
    assert_eq!(&*r.status, "timeout", "{r:?}");
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    // the link still works, and the late reply is dropped
    assert_eq!(data(&c.call("slow", "sleep", &1).await), json!(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_and_auto_api() {
    let dir = TempDir::new("auto");
    let _back = Back::start(&unix_uri(&dir, "hello")).await;
    let front = front(&unix_uri(&dir, "hello")).await;
    let d = front.registry().describe("hello").await.expect("description");
    assert_eq!(d["info"]["title"], "hello");
    assert!(d["paths"]["/ping"].is_object());

    let auto = TestBinder::start(vec![]).await.unwrap();
    auto.registry()
        .set_resolver(afb_wsapi::auto_api(dir.path().to_path_buf(), opts()));
    let c = auto.client();
    assert!(c.call("hello", "ping", &()).await.is_success());
    assert_eq!(&*c.call("nope", "ping", &()).await.status, "unknown-api");
    std::fs::write(dir.join("plain"), b"not a socket").unwrap();
    assert_eq!(&*c.call("plain", "ping", &()).await.status, "unknown-api");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_and_import_errors() {
    let reg = TestBinder::start(vec![afb_sample_hello::api()]).await.unwrap();
    let stop = tokio_util::sync::CancellationToken::new();
    let e = afb_wsapi::serve(reg.registry().clone(), "unix:/tmp/x/nothere", opts(), stop.clone())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("no API"), "{e}");
    let e = afb_wsapi::serve(reg.registry().clone(), "tcp:h:1", opts(), stop.clone())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("/API"), "{e}");
    let dir = TempDir::new("errors");
    std::fs::write(dir.join("hello"), b"a file").unwrap();
    let e = afb_wsapi::serve(reg.registry().clone(), &unix_uri(&dir, "hello"), opts(), stop.clone())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("not a socket"), "{e}");
    let e = afb_wsapi::import(reg.registry(), "sd:hello", opts()).unwrap_err();
    assert!(e.to_string().contains("servers only"), "{e}");
    let e = afb_wsapi::import(reg.registry(), "unix:/x/hello", opts()).unwrap_err();
    assert!(e.to_string().contains("already"), "{e}");
}

/// Regression: the back pinned every session a front declared (until the
/// front forgot it), so a front with more live sessions than the back's
/// `--session-max` filled the back's store with sessions nothing could
/// evict; from then on the back refused the front's new clients
/// (`unknown-session`) and its own (503).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_front_with_more_sessions_than_the_back_holds_does_not_wedge_it() {
    let dir = TempDir::new("wedge");
    let small = RegistryConfig {
        sessions: SessionConfig {
            max: 4,
            ..SessionConfig::default()
        },
        ..RegistryConfig::default()
    };
    let back = Back::start_with(&unix_uri(&dir, "hello"), small, opts()).await;
    let front = front(&unix_uri(&dir, "hello")).await;
    let clients: Vec<_> = (0..12).map(|_| front.client()).collect();
    for c in &clients {
        let r = c.call("hello", "info", &()).await;
        assert!(r.is_success(), "{r:?}");
        assert_eq!(data(&r)["uuid"], json!(c.session_uuid()), "same uuid on the back");
    }
    let sessions = back.registry().sessions();
    assert!(sessions.len() <= 4, "{} sessions on the back", sessions.len());
    let last = sessions
        .get(&clients[11].session_uuid())
        .expect("the last one is there");
    assert_eq!(last.connections(), 0, "a declared session is not held by the link");
    drop(last);
    let direct = sessions.create().expect("room for a client of the back itself");
    drop(direct);
    // The first client's session was evicted on the back: its next call
    // gets a session of the same uuid there again.
    let r = clients[0].call("hello", "info", &()).await;
    assert!(r.is_success(), "{r:?}");
    assert_eq!(data(&r)["uuid"], json!(clients[0].session_uuid()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listeners_passed_by_the_daemon_and_peer_restrictions() {
    use std::os::fd::OwnedFd;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    let dir = TempDir::new("sd");
    let reg = TestBinder::start(vec![afb_sample_hello::api()]).await.unwrap();
    let stop = tokio_util::sync::CancellationToken::new();
    // a unix listener passed as a file descriptor (socket activation)
    let l = std::os::unix::net::UnixListener::bind(dir.join("sd-hello")).unwrap();
    let h = afb_wsapi::serve_listener(reg.registry().clone(), OwnedFd::from(l), "hello", opts(), stop.clone())
        .await
        .unwrap();
    assert_eq!(h.api, "hello");
    let f = front(&format!("{}?as-api=hello", unix_uri(&dir, "sd-hello"))).await;
    let r = f.client().call("hello", "ping", &()).await;
    assert!(r.is_success(), "{r:?}");
    // a TCP one
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let h = afb_wsapi::serve_listener(reg.registry().clone(), OwnedFd::from(l), "hello", opts(), stop.clone())
        .await
        .unwrap();
    assert_eq!(h.port, Some(port));
    let f = front(&format!("tcp:127.0.0.1:{port}/hello")).await;
    let r = f.client().call("hello", "ping", &()).await;
    assert!(r.is_success(), "{r:?}");
    // not a socket at all
    let file = std::fs::File::create(dir.join("file")).unwrap();
    let e = afb_wsapi::serve_listener(
        reg.registry().clone(),
        OwnedFd::from(file),
        "hello",
        opts(),
        stop.clone(),
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("neither"), "{e}");

    // socket permissions and an allow-list of peer uids
    let me = std::fs::metadata("/proc/self").unwrap().uid();
    let restricted = WsapiOptions {
        allow_uids: Some(vec![me]),
        socket_mode: Some(0o600),
        ..opts()
    };
    afb_wsapi::serve(
        reg.registry().clone(),
        &format!("{}?as-api=hello", unix_uri(&dir, "mine")),
        restricted,
        stop.clone(),
    )
    .await
    .unwrap();
    assert_eq!(
        std::fs::metadata(dir.join("mine")).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let f = front(&format!("{}?as-api=hello", unix_uri(&dir, "mine"))).await;
    let r = f.client().call("hello", "ping", &()).await;
    assert!(r.is_success(), "{r:?}");
    let others = WsapiOptions {
        allow_uids: Some(vec![me.wrapping_add(1)]),
        ..opts()
    };
    afb_wsapi::serve(
        reg.registry().clone(),
        &format!("{}?as-api=hello", unix_uri(&dir, "theirs")),
        others,
        stop.clone(),
    )
    .await
    .unwrap();
    let f = front(&format!("{}?as-api=hello", unix_uri(&dir, "theirs"))).await;
    assert_eq!(&*f.client().call("hello", "ping", &()).await.status, "disconnected");
    assert!(logs().wait_for("peer not allowed").await);
    stop.cancel();
    for _ in 0..100 {
        if !dir.join("mine").exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        !dir.join("mine").exists(),
        "the socket file is removed when serving stops"
    );
}
