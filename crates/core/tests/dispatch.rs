//! Dispatch rules of the registry, exercised through `LocalApi` verbs.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use afb_core::api::{ApiDecl, LocalApi, Verb};
use afb_core::auth::{Auth, Loa};
use afb_core::event::{BroadcastMsg, Listener, ListenerSubscriber, PushMsg};
use afb_core::registry::{Call, Registry, RegistryConfig};
use afb_core::reply::Reply;
use afb_core::request::{Client, Request};
use afb_core::serde_json::value::RawValue;
use afb_core::session::SessionConfig;
use afb_core::{Args, ReqHandle};
use tokio::sync::oneshot;

fn config() -> RegistryConfig {
    RegistryConfig {
        api_timeout: Some(Duration::from_secs(5)),
        ..RegistryConfig::default()
    }
}

fn echo_api() -> LocalApi {
    let api = LocalApi::new();
    api.add_verb(Verb::new("echo", |req: Request| async move {
        let data = req.args().raw().map(|r| r.to_owned());
        req.success(data, None);
    }))
    .unwrap();
    api
}

async fn call(reg: &Arc<Registry>, client: &Client, api: &str, verb: &str, args: &str) -> Reply {
    let (tx, rx) = oneshot::channel();
    reg.dispatch(
        Call::external(api, verb, Args::from_json_str(args).unwrap(), client.clone()),
        Box::new(move |r: Reply| {
            let _ = tx.send(r);
        }),
    );
    rx.await.expect("a reply always comes")
}

fn client(reg: &Registry) -> Client {
    Client::new(reg.sessions().create().unwrap())
}

async fn started(decls: Vec<ApiDecl>) -> Arc<Registry> {
    started_with(config(), decls).await
}

async fn started_with(cfg: RegistryConfig, decls: Vec<ApiDecl>) -> Arc<Registry> {
    let reg = Registry::new(cfg);
    for d in decls {
        reg.add_api(d).unwrap();
    }
    reg.start().await.unwrap();
    reg
}

#[tokio::test]
async fn lookup_is_case_insensitive_and_unknowns_are_named() {
    let reg = started(vec![ApiDecl::new("Hello", Arc::new(echo_api()))]).await;
    let c = client(&reg);
    let r = call(&reg, &c, "HELLO", "ECHO", r#"{"a":1}"#).await;
    assert!(r.is_success(), "{r:?}");
    assert_eq!(r.data_json(), Some(r#"{"a":1}"#));

    let r = call(&reg, &c, "nope", "echo", "null").await;
    assert_eq!((&*r.status, r.code), ("unknown-api", -3));
    assert!(r.info.unwrap().contains("nope"));

    let r = call(&reg, &c, "hello", "nope", "null").await;
    assert_eq!((&*r.status, r.code), ("unknown-verb", -4));
    assert!(r.info.unwrap().contains("nope"));
}

#[tokio::test]
async fn aliases_and_private_apis() {
    let mut d = ApiDecl::new("hello", Arc::new(echo_api()));
    d.aliases = vec!["salut".into()];
    let reg = started(vec![d, ApiDecl::new(".hidden", Arc::new(echo_api()))]).await;
    let c = client(&reg);
    assert!(call(&reg, &c, "SALUT", "echo", "1").await.is_success());
    assert_eq!(&*call(&reg, &c, ".hidden", "echo", "1").await.status, "unknown-api");
    let inside = reg
        .clone()
        .call(Call {
            api: ".hidden",
            verb: "echo",
            args: Args::null(),
            client: c.clone(),
            external: false,
            chain: None,
        })
        .await;
    assert!(inside.is_success(), "private APIs are reachable from inside");
    assert!(!reg.api_names().contains(&".hidden".to_owned()));
}

#[tokio::test]
async fn bad_names_are_refused_with_the_name() {
    let reg = Registry::new(config());
    let e = reg.add_api(ApiDecl::new("bad/name", Arc::new(echo_api()))).unwrap_err();
    assert!(e.to_string().contains("bad/name"), "{e}");
    reg.add_api(ApiDecl::new("x", Arc::new(echo_api()))).unwrap();
    let e = reg.add_api(ApiDecl::new("X", Arc::new(echo_api()))).unwrap_err();
    assert!(e.to_string().contains("already"), "{e}");
    let api = LocalApi::new();
    let e = api
        .add_verb(Verb::new("", |r: Request| async move { drop(r) }))
        .unwrap_err();
    assert!(e.to_string().contains("verb"), "{e}");
    api.add_verb(Verb::new("v", |r: Request| async move { drop(r) }))
        .unwrap();
    assert!(api
        .add_verb(Verb::new("V", |r: Request| async move { drop(r) }))
        .is_err());
}

#[tokio::test]
async fn reply_once_and_not_replied() {
    let api = LocalApi::new();
    let second = Arc::new(Mutex::new(None));
    let s2 = second.clone();
    api.add_verb(Verb::new("twice", move |req: Request| {
        let s2 = s2.clone();
        async move {
            let h = req.handle();
            assert!(req.success(None, Some("first".into())));
            *s2.lock().unwrap() = Some(h.is_replied());
        }
    }))
    .unwrap();
    api.add_verb(Verb::new("silent", |req: Request| async move {
        drop(req);
    }))
    .unwrap();
    let reg = started(vec![ApiDecl::new("t", Arc::new(api))]).await;
    let c = client(&reg);
    let r = call(&reg, &c, "t", "twice", "null").await;
    assert_eq!(r.info.as_deref(), Some("first"));
    assert_eq!(*second.lock().unwrap(), Some(true));

    let r = call(&reg, &c, "t", "silent", "null").await;
    assert_eq!((&*r.status, r.code), ("not-replied", -11));
    assert_eq!(reg.inflight(), 0);
}

#[tokio::test]
async fn async_reply_kept_and_replied_later() {
    let api = LocalApi::new();
    let parked: Arc<Mutex<Vec<Request>>> = Arc::default();
    let p = parked.clone();
    api.add_verb(Verb::new("wait", move |req: Request| {
        p.lock().unwrap().push(req);
        async {}
    }))
    .unwrap();
    let reg = started(vec![ApiDecl::new("t", Arc::new(api))]).await;
    let c = client(&reg);
    let (tx, rx) = oneshot::channel();
    reg.dispatch(
        Call::external("t", "wait", Args::null(), c),
        Box::new(move |r: Reply| {
            let _ = tx.send(r);
        }),
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    let req = parked.lock().unwrap().pop().expect("parked");
    assert!(!req.is_replied());
    req.success(None, Some("later".into()));
    let r = rx.await.unwrap();
    assert_eq!(r.info.as_deref(), Some("later"));
}

/// Adds to `api` a verb `park` that keeps its requests (returned) and
/// starts it as API `t` with a 2 s timeout.
async fn with_park_verb(api: LocalApi) -> (Arc<Registry>, Arc<Mutex<Vec<Request>>>) {
    let parked: Arc<Mutex<Vec<Request>>> = Arc::default();
    let p = parked.clone();
    api.add_verb(Verb::new("park", move |req: Request| {
        p.lock().unwrap().push(req);
        async {}
    }))
    .unwrap();
    let cfg = RegistryConfig {
        api_timeout: Some(Duration::from_secs(2)),
        ..RegistryConfig::default()
    };
    let reg = started_with(cfg, vec![ApiDecl::new("t", Arc::new(api))]).await;
    (reg, parked)
}

#[tokio::test(start_paused = true)]
async fn wall_clock_timeout_and_late_reply_dropped() {
    let api = LocalApi::new();
    api.add_verb(Verb::new("sleep", |req: Request| async move {
        // Blocked "in I/O": never burns CPU, must still time out.
        tokio::time::sleep(Duration::from_secs(3600)).await;
        req.success(None, None);
    }))
    .unwrap();
    let (reg, parked) = with_park_verb(api).await;
    let c = client(&reg);
    let started_at = tokio::time::Instant::now();
    let r = call(&reg, &c, "t", "sleep", "null").await;
    assert_eq!((&*r.status, r.code), ("timeout", -16));
    assert_eq!(started_at.elapsed(), Duration::from_secs(2));

    let r = call(&reg, &c, "t", "park", "null").await;
    assert_eq!(&*r.status, "timeout");
    let req = parked.lock().unwrap().pop().unwrap();
    assert!(!req.success(None, None), "late reply is dropped");
    assert_eq!(reg.inflight(), 0);
}

#[tokio::test]
async fn panicking_verb_answers_internal_error_and_binder_keeps_serving() {
    let api = echo_api();
    api.add_verb(Verb::new("boom", |req: Request| async move {
        let _keep = req;
        panic!("boom");
    }))
    .unwrap();
    api.add_verb(Verb::new("boom-later", |req: Request| async move {
        tokio::task::yield_now().await;
        let _keep = req;
        panic!("later");
    }))
    .unwrap();
    let reg = started(vec![ApiDecl::new("t", Arc::new(api))]).await;
    let c = client(&reg);
    let r = call(&reg, &c, "t", "boom", "null").await;
    assert_eq!((&*r.status, r.code), ("internal-error", -1));
    let r = call(&reg, &c, "t", "boom-later", "null").await;
    assert_eq!(&*r.status, "internal-error");
    assert!(call(&reg, &c, "t", "echo", "1").await.is_success());
}

fn flag_api() -> LocalApi {
    let api = echo_api();
    let ok = |name: &str, auth: Auth| {
        Verb::new(name.to_owned(), |req: Request| async move {
            req.success(None, None);
        })
        .auth(auth)
    };
    api.add_verb(ok("check", Auth::check())).unwrap();
    api.add_verb(ok("loa2", Auth::loa(2))).unwrap();
    api.add_verb(ok(
        "le1",
        Auth {
            loa: Some(Loa::AtMost(1)),
            ..Auth::NONE
        },
    ))
    .unwrap();
    api.add_verb(ok(
        "eq1",
        Auth {
            loa: Some(Loa::Exactly(1)),
            ..Auth::NONE
        },
    ))
    .unwrap();
    api.add_verb(ok("renew", Auth::check().renew())).unwrap();
    api.add_verb(ok("close", Auth::check().close())).unwrap();
    api.add_verb(Verb::new("setloa", |req: Request| async move {
        let n: u32 = req.args().deserialize().unwrap_or(0);
        match req.set_loa(n) {
            Ok(()) => req.success(None, None),
            Err(e) => req.fail("invalid-request", Some(e.to_string())),
        };
    }))
    .unwrap();
    api.add_verb(Verb::new("setctx", |req: Request| async move {
        req.set_context(Some(Arc::new(req.args().json_text().to_owned())));
        req.success(None, None);
    }))
    .unwrap();
    api.add_verb(Verb::new("getctx", |req: Request| async move {
        let v = req.context().and_then(|c| c.downcast_ref::<String>().cloned());
        req.success(v.map(|s| RawValue::from_string(s).unwrap()), None);
    }))
    .unwrap();
    api
}

fn with_token(mut c: Client, t: &str) -> Client {
    c.token = Some(t.into());
    c
}

#[tokio::test]
async fn session_flags_and_tokens() {
    let cfg = RegistryConfig {
        sessions: SessionConfig {
            initial_token: Some("secret".into()),
            ..SessionConfig::default()
        },
        ..config()
    };
    let reg = started_with(
        cfg,
        vec![
            ApiDecl::new("f", Arc::new(flag_api())),
            ApiDecl::new("g", Arc::new(flag_api())),
        ],
    )
    .await;
    let anon = client(&reg);
    let good = with_token(anon.clone(), "secret");
    let bad = with_token(anon.clone(), "secre");

    // CHECK
    assert!(call(&reg, &good, "f", "check", "null").await.is_success());
    let r = call(&reg, &bad, "f", "check", "null").await;
    assert_eq!((&*r.status, r.code), ("invalid-token", -7));
    assert_eq!(&*call(&reg, &anon, "f", "check", "null").await.status, "invalid-token");
    assert!(
        call(&reg, &anon, "f", "echo", "null").await.is_success(),
        "no flag: no check"
    );

    // LOA >= 2 implies the token and the level, per API.
    assert_eq!(&*call(&reg, &bad, "f", "loa2", "null").await.status, "invalid-token");
    let r = call(&reg, &good, "f", "loa2", "null").await;
    assert_eq!((&*r.status, r.code), ("insufficient-scope", -9));
    assert!(call(&reg, &good, "f", "setloa", "2").await.is_success());
    assert!(call(&reg, &good, "f", "loa2", "null").await.is_success());
    assert_eq!(
        &*call(&reg, &good, "g", "loa2", "null").await.status,
        "insufficient-scope",
        "LOA is per API"
    );
    assert_eq!(&*call(&reg, &good, "f", "setloa", "8").await.status, "invalid-request");

    // v1 forms
    assert_eq!(
        &*call(&reg, &good, "f", "le1", "null").await.status,
        "insufficient-scope"
    );
    assert_eq!(
        &*call(&reg, &good, "f", "eq1", "null").await.status,
        "insufficient-scope"
    );
    call(&reg, &good, "f", "setloa", "1").await;
    assert!(call(&reg, &good, "f", "le1", "null").await.is_success());
    assert!(call(&reg, &good, "f", "eq1", "null").await.is_success());

    // RENEW: new token returned, old one refused afterwards.
    let r = call(&reg, &good, "f", "renew", "null").await;
    let token = r.token.clone().expect("renewed token in reply");
    assert_ne!(&*token, "secret");
    assert_eq!(&*call(&reg, &good, "f", "check", "null").await.status, "invalid-token");
    let renewed = with_token(anon.clone(), &token);
    assert!(call(&reg, &renewed, "f", "check", "null").await.is_success());

    // CLOSE: state of the API ends after the reply (LOA 0, context dropped).
    call(&reg, &renewed, "f", "setloa", "3").await;
    call(&reg, &renewed, "f", "setctx", r#""kept""#).await;
    call(&reg, &renewed, "g", "setctx", r#""other""#).await;
    assert_eq!(
        call(&reg, &renewed, "f", "getctx", "null").await.data_json(),
        Some(r#""kept""#)
    );
    assert!(call(&reg, &renewed, "f", "close", "null").await.is_success());
    assert_eq!(call(&reg, &renewed, "f", "getctx", "null").await.data_json(), None);
    assert_eq!(anon.session.loa(reg.get_api("f").unwrap().id()), 0);
    assert_eq!(
        call(&reg, &renewed, "g", "getctx", "null").await.data_json(),
        Some(r#""other""#)
    );
}

#[tokio::test]
async fn development_mode_accepts_any_token_until_renewed() {
    let reg = started(vec![ApiDecl::new("f", Arc::new(flag_api()))]).await;
    let c = client(&reg);
    assert!(call(&reg, &c, "f", "check", "null").await.is_success());
    assert!(call(&reg, &with_token(c.clone(), "x"), "f", "check", "null")
        .await
        .is_success());
    let t = call(&reg, &c, "f", "renew", "null").await.token.unwrap();
    assert_eq!(&*call(&reg, &c, "f", "check", "null").await.status, "invalid-token");
    assert!(call(&reg, &with_token(c, &t), "f", "check", "null").await.is_success());
}

#[tokio::test]
async fn noconcurrency_runs_one_at_a_time_and_self_calls_never_deadlock() {
    let api = LocalApi::new();
    let running = Arc::new(AtomicUsize::new(0));
    let max_seen = Arc::new(AtomicUsize::new(0));
    let (r2, m2) = (running.clone(), max_seen.clone());
    api.add_verb(Verb::new("work", move |req: Request| {
        let (r, m) = (r2.clone(), m2.clone());
        async move {
            let now = r.fetch_add(1, Ordering::SeqCst) + 1;
            m.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            r.fetch_sub(1, Ordering::SeqCst);
            req.success(None, None);
        }
    }))
    .unwrap();
    api.add_verb(Verb::new("selfcall", |req: Request| async move {
        let r = req.subcall("nc", "work", Args::null()).await;
        req.reply(r);
    }))
    .unwrap();
    let mut d = ApiDecl::new("nc", Arc::new(api));
    d.noconcurrency = true;
    let reg = started(vec![d]).await;
    let c = client(&reg);
    let calls: Vec<_> = (0..5).map(|_| call(&reg, &c, "nc", "work", "null")).collect();
    for r in futures_join(calls).await {
        assert!(r.is_success());
    }
    assert_eq!(max_seen.load(Ordering::SeqCst), 1);

    let r = tokio::time::timeout(Duration::from_secs(2), call(&reg, &c, "nc", "selfcall", "null"))
        .await
        .expect("no deadlock");
    assert_eq!(&*r.status, "bad-state");
    assert!(r.info.unwrap().contains("self-locked"));
}

async fn futures_join<F: std::future::Future>(fs: Vec<F>) -> Vec<F::Output> {
    let mut out = Vec::new();
    let handles: Vec<_> = fs.into_iter().map(Box::pin).collect();
    for h in handles {
        out.push(h.await);
    }
    out
}

#[tokio::test]
async fn subcall_in_callers_session_and_call_in_api_session() {
    let inner = LocalApi::new();
    inner
        .add_verb(Verb::new("whoami", |req: Request| async move {
            let uuid = req.session().uuid().to_owned();
            req.success(Some(afb_core::reply::to_raw(&uuid).unwrap()), None);
        }))
        .unwrap();
    let outer = LocalApi::new();
    outer
        .add_verb(Verb::new("sub", |req: Request| async move {
            let r = req.subcall("inner", "whoami", Args::null()).await;
            req.reply(r);
        }))
        .unwrap();
    outer
        .add_verb(Verb::new("own", |req: Request| async move {
            let r = req.api().call("inner", "whoami", Args::null()).await;
            req.reply(r);
        }))
        .unwrap();
    let reg = started(vec![
        ApiDecl::new("inner", Arc::new(inner)),
        ApiDecl::new("outer", Arc::new(outer)),
    ])
    .await;
    let c = client(&reg);
    let mine = format!("\"{}\"", c.session.uuid());
    assert_eq!(
        call(&reg, &c, "outer", "sub", "null").await.data_json(),
        Some(mine.as_str())
    );
    let own = call(&reg, &c, "outer", "own", "null").await;
    assert!(own.is_success());
    assert_ne!(own.data_json(), Some(mine.as_str()));
}

#[tokio::test]
async fn init_order_follows_requirements_and_failure_names_the_api() {
    let order = Arc::new(Mutex::new(Vec::<String>::new()));
    let mk = |name: &str, fail: bool| {
        let o = order.clone();
        let n = name.to_owned();
        LocalApi::new().with_init(Box::new(move |_api| {
            let (o, n) = (o.clone(), n.clone());
            Box::pin(async move {
                o.lock().unwrap().push(n.clone());
                if fail {
                    Err("no hardware".to_owned())
                } else {
                    Ok(())
                }
            })
        }))
    };
    let reg = Registry::new(config());
    let mut a = ApiDecl::new("a", Arc::new(mk("a", false)));
    a.requires = vec!["b".into()];
    a.requires_classes = vec!["storage".into()];
    let b = ApiDecl::new("b", Arc::new(mk("b", false)));
    let mut c = ApiDecl::new("c", Arc::new(mk("c", false)));
    c.provides_classes = vec!["storage".into()];
    reg.add_api(a).unwrap();
    reg.add_api(b).unwrap();
    reg.add_api(c).unwrap();
    reg.start().await.unwrap();
    assert_eq!(*order.lock().unwrap(), vec!["b", "c", "a"]);

    let reg = Registry::new(config());
    reg.add_api(ApiDecl::new("good", Arc::new(mk("good", false)))).unwrap();
    reg.add_api(ApiDecl::new("broken", Arc::new(mk("broken", true))))
        .unwrap();
    let e = reg.start().await.unwrap_err();
    assert_eq!(e.api, "broken");
    assert!(
        e.to_string().contains("broken") && e.to_string().contains("no hardware"),
        "{e}"
    );

    let reg = Registry::new(config());
    let mut x = ApiDecl::new("x", Arc::new(LocalApi::new()));
    x.requires = vec!["missing".into()];
    reg.add_api(x).unwrap();
    let e = reg.start().await.unwrap_err();
    assert!(e.to_string().contains("missing"), "{e}");

    let reg = Registry::new(config());
    let mut p = ApiDecl::new("p", Arc::new(LocalApi::new()));
    p.requires = vec!["q".into()];
    let mut q = ApiDecl::new("q", Arc::new(LocalApi::new()));
    q.requires = vec!["p".into()];
    reg.add_api(p).unwrap();
    reg.add_api(q).unwrap();
    let e = reg.start().await.unwrap_err();
    assert!(e.to_string().contains("circular"), "{e}");
}

#[tokio::test]
async fn api_not_started_answers_bad_api_state() {
    let reg = Registry::new(config());
    reg.add_api(ApiDecl::new("t", Arc::new(echo_api()))).unwrap();
    let c = client(&reg);
    let r = call(&reg, &c, "t", "echo", "null").await;
    assert_eq!((&*r.status, r.code), ("bad-api-state", -10));
}

#[tokio::test]
async fn jobs_max_refuses_instead_of_wedging() {
    let api = LocalApi::new();
    api.add_verb(Verb::new("hang", |req: Request| async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        req.success(None, None);
    }))
    .unwrap();
    let reg = started_with(
        RegistryConfig {
            jobs_max: 3,
            ..config()
        },
        vec![ApiDecl::new("t", Arc::new(api))],
    )
    .await;
    let c = client(&reg);
    let mut rxs = Vec::new();
    for _ in 0..5 {
        let (tx, rx) = oneshot::channel();
        reg.dispatch(
            Call::external("t", "hang", Args::null(), c.clone()),
            Box::new(move |r: Reply| drop(tx.send(r))),
        );
        rxs.push(rx);
    }
    let mut statuses = Vec::new();
    for rx in rxs {
        statuses.push(rx.await.unwrap().status.into_owned());
    }
    assert_eq!(statuses.iter().filter(|s| *s == "success").count(), 3);
    assert_eq!(statuses.iter().filter(|s| *s == "not-available").count(), 2);
    assert_eq!(reg.inflight(), 0);
}

#[tokio::test]
async fn cancelled_client_drops_running_requests() {
    let api = LocalApi::new();
    let dropped = Arc::new(AtomicUsize::new(0));
    let d = dropped.clone();
    api.add_verb(Verb::new("hang", move |req: Request| {
        struct Guard(Arc<AtomicUsize>);
        impl Drop for Guard {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let g = Guard(d.clone());
        async move {
            let _g = g;
            std::future::pending::<()>().await;
            drop(req);
        }
    }))
    .unwrap();
    let reg = started(vec![ApiDecl::new("t", Arc::new(api))]).await;
    let cancel = tokio_util::sync::CancellationToken::new();
    let c = client(&reg).with_cancel(cancel.clone());
    let (tx, rx) = oneshot::channel();
    reg.dispatch(
        Call::external("t", "hang", Args::null(), c),
        Box::new(move |r: Reply| drop(tx.send(r))),
    );
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(reg.inflight(), 1);
    cancel.cancel();
    let r = rx.await.unwrap();
    assert_eq!(&*r.status, "disconnected");
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(dropped.load(Ordering::SeqCst), 1, "the verb's future was dropped");
    assert_eq!(reg.inflight(), 0);
}

#[derive(Default)]
struct Conn {
    events: Mutex<Vec<(String, String)>>,
    broadcasts: Mutex<Vec<(String, u8)>>,
}

impl Listener for Conn {
    fn push(&self, m: &PushMsg<'_>) {
        self.events
            .lock()
            .unwrap()
            .push((m.event.name().into(), m.data.get().into()));
    }
    fn broadcast(&self, m: &BroadcastMsg<'_>) {
        self.broadcasts.lock().unwrap().push((m.name.into(), m.hop));
    }
}

fn event_api() -> LocalApi {
    let api = LocalApi::new();
    let ev: Arc<Mutex<Option<afb_core::Event>>> = Arc::default();
    let (e1, e2, e3) = (ev.clone(), ev.clone(), ev.clone());
    api.add_verb(Verb::new("make", move |req: Request| {
        let e = e1.clone();
        async move {
            *e.lock().unwrap() = Some(req.api().new_event("ev").unwrap());
            req.success(None, None);
        }
    }))
    .unwrap();
    api.add_verb(Verb::new("sub", move |req: Request| {
        let e = e2.clone();
        async move {
            let ev = e.lock().unwrap().clone().unwrap();
            match req.subscribe(&ev) {
                Ok(()) => req.success(None, None),
                Err(err) => req.fail("failed", Some(err.to_string())),
            };
        }
    }))
    .unwrap();
    api.add_verb(Verb::new("push", move |req: Request| {
        let e = e3.clone();
        async move {
            let ev = e.lock().unwrap().clone().unwrap();
            let n = ev.push(req.args().raw());
            req.success(Some(afb_core::reply::to_raw(&n).unwrap()), None);
        }
    }))
    .unwrap();
    api
}

#[tokio::test]
async fn push_reaches_only_subscribers_and_broadcast_dedups() {
    let reg = started(vec![ApiDecl::new("hello", Arc::new(event_api()))]).await;
    let a: Arc<Conn> = Arc::default();
    let b: Arc<Conn> = Arc::default();
    let (ad, bd): (Arc<dyn Listener>, Arc<dyn Listener>) = (a.clone(), b.clone());
    reg.events().add_listener(&ad);
    reg.events().add_listener(&bd);
    let ca = client(&reg).with_subscriber(Arc::new(ListenerSubscriber::new(&ad, 10)));
    let cb = client(&reg).with_subscriber(Arc::new(ListenerSubscriber::new(&bd, 10)));
    let http = client(&reg);
    call(&reg, &ca, "hello", "make", "null").await;
    assert!(call(&reg, &ca, "hello", "sub", "null").await.is_success());
    let r = call(&reg, &http, "hello", "sub", "null").await;
    assert_eq!(&*r.status, "failed", "a client without listener cannot subscribe");
    let r = call(&reg, &cb, "hello", "push", r#"{"v":42}"#).await;
    assert_eq!(r.data_json(), Some("1"));
    assert_eq!(
        *a.events.lock().unwrap(),
        vec![("hello/ev".to_owned(), r#"{"v":42}"#.to_owned())]
    );
    assert!(b.events.lock().unwrap().is_empty());

    let uuid = [7u8; 16];
    assert!(reg.events().broadcast("hello/b", None, Some((uuid, 5))));
    assert!(
        !reg.events().broadcast("hello/b", None, Some((uuid, 5))),
        "duplicate suppressed"
    );
    assert!(reg.events().broadcast("hello/c", None, None));
    assert_eq!(
        *a.broadcasts.lock().unwrap(),
        vec![("hello/b".to_owned(), 5), ("hello/c".to_owned(), 10)]
    );
    assert_eq!(b.broadcasts.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn event_handlers_by_pattern() {
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let s = seen.clone();
    let api = LocalApi::new();
    api.add_event_handler(
        "hello/*",
        Arc::new(move |_api: &afb_core::ApiRef, name: &str, data: &RawValue| {
            s.lock().unwrap().push(format!("{name}={}", data.get()));
        }),
    );
    let reg = started(vec![
        ApiDecl::new("watcher", Arc::new(api)),
        ApiDecl::new("hello", Arc::new(event_api())),
    ])
    .await;
    reg.events()
        .broadcast("hello/x", Some(&RawValue::from_string("1".into()).unwrap()), None);
    reg.events().broadcast("other/x", None, None);
    assert_eq!(*seen.lock().unwrap(), vec!["hello/x=1"]);

    // An API subscribing itself receives pushes in its handlers.
    let hello = reg.api_ref("hello").unwrap();
    let ev = hello.new_event("pushed").unwrap();
    assert!(reg.api_ref("WATCHER").unwrap().subscribe_event(&ev));
    assert_eq!(ev.push(Some(&RawValue::from_string("2".into()).unwrap())), 1);
    assert_eq!(*seen.lock().unwrap(), vec!["hello/x=1", "hello/pushed=2"]);
}

#[tokio::test]
async fn describe_and_info_are_generated() {
    let reg = started(vec![ApiDecl::new("f", Arc::new(flag_api()))]).await;
    let c = client(&reg);
    let d = call(&reg, &c, "f", "describe", "null").await;
    let v: serde_json::Value = serde_json::from_str(d.data_json().unwrap()).unwrap();
    assert_eq!(v["openapi"], "3.0.0");
    assert_eq!(v["info"]["title"], "f");
    assert_eq!(v["paths"]["/loa2"]["get"]["x-permissions"]["LOA"], 2);
    assert_eq!(v["paths"]["/renew"]["get"]["x-permissions"]["token"], "refresh");
    let i = call(&reg, &c, "f", "info", "null").await;
    let v: serde_json::Value = serde_json::from_str(i.data_json().unwrap()).unwrap();
    assert_eq!(
        (&v["$schema"], &v["name"]),
        (&serde_json::json!("afb-api-info/v2"), &serde_json::json!("f"))
    );
    let verbs = v["verbs"].as_array().unwrap();
    let rule = |n: &str| verbs.iter().find(|x| x["name"] == n).map(|x| x["auth"].clone());
    assert_eq!(rule("check"), Some(serde_json::json!("check-token")));
    assert_eq!(rule("loa2"), Some(serde_json::json!("loa>=2")));
    assert_eq!(rule("le1"), Some(serde_json::json!("loa<=1")));
    assert_eq!(rule("eq1"), Some(serde_json::json!("loa==1")));
    assert_eq!(reg.describe("F").await.unwrap()["info"]["title"], "f");
}

#[tokio::test]
async fn settings_merge_star_and_api() {
    let mut settings = serde_json::Map::new();
    settings.insert("*".into(), serde_json::json!({"a": 1, "b": 1}));
    settings.insert("hello".into(), serde_json::json!({"b": 2}));
    let reg = Registry::new(RegistryConfig { settings, ..config() });
    assert_eq!(reg.settings_for("HELLO"), serde_json::json!({"a": 1, "b": 2}));
    assert_eq!(reg.settings_for("other"), serde_json::json!({"a": 1, "b": 1}));
}

#[tokio::test]
async fn req_handle_outlives_reply() {
    let keep: Arc<Mutex<Option<ReqHandle>>> = Arc::default();
    let k = keep.clone();
    let api = LocalApi::new();
    api.add_verb(Verb::new("v", move |req: Request| {
        *k.lock().unwrap() = Some(req.handle());
        async move {
            req.success(None, None);
        }
    }))
    .unwrap();
    let reg = started(vec![ApiDecl::new("t", Arc::new(api))]).await;
    let c = client(&reg);
    call(&reg, &c, "t", "v", r#"{"x":"y"}"#).await;
    let h = keep.lock().unwrap().clone().unwrap();
    assert!(h.is_replied());
    assert_eq!(h.args().get_str("x").as_deref(), Some("y"));
}

#[tokio::test]
async fn arguments_nested_too_deep_are_refused_before_the_verb() {
    let cfg = RegistryConfig {
        json_max_depth: 8,
        ..config()
    };
    let reg = started_with(cfg, vec![ApiDecl::new("t", Arc::new(echo_api()))]).await;
    let c = client(&reg);
    let ok = format!("{}{}", "[".repeat(8), "]".repeat(8));
    let r = call(&reg, &c, "t", "echo", &ok).await;
    assert!(r.is_success(), "{r:?}");
    assert_eq!(r.data_json(), Some(ok.as_str()));
    let deep = format!("{}1{}", "[{\"a\":".repeat(5), "}]".repeat(5));
    let r = call(&reg, &c, "t", "echo", &deep).await;
    assert_eq!((&*r.status, r.code), ("invalid-request", -12), "{r:?}");
    assert!(r.info.unwrap().contains("8 levels"));
    // Far beyond serde_json's own recursion limit: refused, no overflow.
    let huge = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let r = call(&reg, &c, "t", "echo", &huge).await;
    assert_eq!(&*r.status, "invalid-request");
    // Depth inside strings does not count.
    let r = call(&reg, &c, "t", "echo", &format!("\"{}\"", "[".repeat(50))).await;
    assert!(r.is_success(), "{r:?}");
}

/// Requests kept by their verb (replied later) are watched per client
/// connection: replied ones are left alone, the others time out by wall
/// clock, and all are answered `disconnected` when the client goes away;
/// a request arriving after that is answered at once.
#[tokio::test(start_paused = true)]
async fn watcher_of_a_connection_times_out_and_cancels_parked_requests() {
    let (reg, parked) = with_park_verb(LocalApi::new()).await;
    let cancel = tokio_util::sync::CancellationToken::new();
    let c = client(&reg).with_cancel(cancel.clone());
    let dispatch = |c: &Client| {
        let (tx, rx) = oneshot::channel();
        reg.dispatch(
            Call::external("t", "park", Args::null(), c.clone()),
            Box::new(move |r: Reply| drop(tx.send(r))),
        );
        rx
    };

    // 1,000 requests (many more than the watcher keeps before cleaning up):
    // the even ones are replied, the odd ones time out after 2 s.
    let t0 = tokio::time::Instant::now();
    let rxs: Vec<_> = (0..1000).map(|_| dispatch(&c)).collect();
    tokio::time::sleep(Duration::from_millis(10)).await;
    let reqs: Vec<Request> = std::mem::take(&mut *parked.lock().unwrap());
    assert_eq!(reqs.len(), 1000);
    let mut odd = Vec::new();
    for (i, req) in reqs.into_iter().enumerate() {
        if i % 2 == 0 {
            assert!(req.success(None, Some(format!("r{i}"))));
        } else {
            odd.push(req);
        }
    }
    for (i, rx) in rxs.into_iter().enumerate() {
        let r = rx.await.unwrap();
        if i % 2 == 0 {
            assert_eq!(r.info.as_deref(), Some(format!("r{i}").as_str()));
        } else {
            assert_eq!(&*r.status, "timeout", "request {i}");
        }
    }
    assert_eq!(
        t0.elapsed(),
        Duration::from_secs(2),
        "timed out by the deadline, not later"
    );
    assert!(!odd.pop().unwrap().success(None, None), "a late reply is dropped");
    assert_eq!(reg.inflight(), 0);

    // A connection that goes away: its parked requests are answered at once.
    let rxs: Vec<_> = (0..10).map(|_| dispatch(&c)).collect();
    tokio::time::sleep(Duration::from_millis(10)).await;
    let t1 = tokio::time::Instant::now();
    cancel.cancel();
    for rx in rxs {
        assert_eq!(&*rx.await.unwrap().status, "disconnected");
    }
    assert!(t1.elapsed() < Duration::from_millis(100));
    // After that, a request that parks is answered `disconnected` at once.
    let r = dispatch(&c).await.unwrap();
    assert_eq!(&*r.status, "disconnected");
    assert_eq!(reg.inflight(), 0);
}

/// Replies that come in the order of their calls (the usual case, e.g. a
/// linked binder answering) leave the watcher holding about the requests
/// still waiting, not hundreds of answered ones until its next clean-up.
#[tokio::test(start_paused = true)]
async fn watcher_drops_answered_requests_as_new_ones_come() {
    let (reg, parked) = with_park_verb(LocalApi::new()).await;
    let cancel = afb_core::ClientCancel::new(tokio_util::sync::CancellationToken::new());
    let c = client(&reg).with_client_cancel(cancel.clone());
    let mut most = 0;
    for i in 0..2000 {
        let (tx, rx) = oneshot::channel();
        reg.dispatch(
            Call::external("t", "park", Args::null(), c.clone()),
            Box::new(move |r: Reply| drop(tx.send(r))),
        );
        most = most.max(cancel.held());
        // Four calls in flight: the oldest is answered as a new one comes.
        let mut p = parked.lock().unwrap();
        if p.len() == 4 || i == 1999 {
            for req in p.drain(..) {
                assert!(req.success(None, None));
            }
        }
        drop(p);
        drop(rx);
    }
    assert!(most <= 8, "the watcher held up to {most} requests for 4 in flight");
    assert_eq!(reg.inflight(), 0);
}

/// An API declared while the registry starts (here by another API's init;
/// in the daemon, an import discovered on the network meanwhile) is started
/// too, not left declared and refusing every call.
#[tokio::test]
async fn an_api_declared_while_the_registry_starts_is_started() {
    struct DeclaresAnother;
    impl afb_core::ApiImpl for DeclaresAnother {
        fn process(&self, req: Request) -> afb_core::BoxFuture<()> {
            req.success(None, None);
            Box::pin(async {})
        }
        fn start(&self, api: afb_core::ApiRef) -> afb_core::BoxFuture<Result<(), String>> {
            let r = api.registry().ok_or_else(|| "no registry".to_owned()).and_then(|r| {
                r.add_api(ApiDecl::new("late", Arc::new(echo_api())))
                    .map_err(|e| e.to_string())
            });
            Box::pin(async move { r.map(|_| ()) })
        }
    }
    let reg = Registry::new(config());
    reg.add_api(ApiDecl::new("first", Arc::new(DeclaresAnother))).unwrap();
    reg.start().await.unwrap();
    let late = reg.get_api("late").expect("declared during start");
    assert_eq!(late.state(), afb_core::ApiState::Ready);
}

/// An API whose init waits for `go`.
struct SlowInit {
    go: Arc<tokio::sync::Notify>,
    inits: Arc<AtomicUsize>,
}

impl afb_core::ApiImpl for SlowInit {
    fn process(&self, req: Request) -> afb_core::BoxFuture<()> {
        req.success(None, None);
        Box::pin(async {})
    }
    fn start(&self, _api: afb_core::ApiRef) -> afb_core::BoxFuture<Result<(), String>> {
        let (go, inits) = (self.go.clone(), self.inits.clone());
        Box::pin(async move {
            inits.fetch_add(1, Ordering::SeqCst);
            go.notified().await;
            Ok(())
        })
    }
}

/// `add_and_start` from another task while `start` runs: `start` succeeds,
/// the API has one init and is not served before that init ends.
#[tokio::test]
async fn add_and_start_from_another_task_during_start_is_not_a_cycle() {
    struct SpawnsSlow {
        go: Arc<tokio::sync::Notify>,
        inits: Arc<AtomicUsize>,
        task: Mutex<Option<tokio::task::JoinHandle<Result<(), String>>>>,
    }
    impl afb_core::ApiImpl for SpawnsSlow {
        fn process(&self, req: Request) -> afb_core::BoxFuture<()> {
            req.success(None, None);
            Box::pin(async {})
        }
        fn start(&self, api: afb_core::ApiRef) -> afb_core::BoxFuture<Result<(), String>> {
            let Some(reg) = api.registry() else {
                return Box::pin(async { Err("no registry".to_owned()) });
            };
            let slow = SlowInit {
                go: self.go.clone(),
                inits: self.inits.clone(),
            };
            let task = tokio::spawn({
                let reg = reg.clone();
                async move {
                    reg.add_and_start(ApiDecl::new("slow", Arc::new(slow)))
                        .await
                        .map(drop)
                        .map_err(|e| e.to_string())
                }
            });
            *self.task.lock().unwrap() = Some(task);
            Box::pin(async move {
                // Return once the other task is inside slow's init.
                while reg.get_api("slow").map(|e| e.state()) != Some(afb_core::ApiState::Starting) {
                    tokio::task::yield_now().await;
                }
                Ok(())
            })
        }
    }
    let go = Arc::new(tokio::sync::Notify::new());
    let inits = Arc::new(AtomicUsize::new(0));
    let spawner = Arc::new(SpawnsSlow {
        go: go.clone(),
        inits: inits.clone(),
        task: Mutex::new(None),
    });
    let reg = Registry::new(config());
    reg.add_api(ApiDecl::new("first", spawner.clone())).unwrap();
    reg.start().await.expect("no false cycle");
    let slow = reg.get_api("slow").expect("declared");
    assert_eq!(
        slow.state(),
        afb_core::ApiState::Starting,
        "not served before its init ends"
    );
    let r = call(&reg, &client(&reg), "slow", "any", "null").await;
    assert!(!r.is_success(), "{r:?}");
    go.notify_one();
    let task = spawner.task.lock().unwrap().take().expect("spawned");
    task.await.unwrap().expect("add_and_start succeeds");
    assert_eq!(slow.state(), afb_core::ApiState::Ready);
    assert_eq!(inits.load(Ordering::SeqCst), 1, "one init");
}

/// Regression: a `start` finding an API whose init another caller runs
/// (`add_and_start` from another task) reported a false "circular
/// requirement"; it now leaves that init to its owner (one init).
#[tokio::test]
async fn start_leaves_an_init_running_elsewhere_to_its_owner() {
    let go = Arc::new(tokio::sync::Notify::new());
    let inits = Arc::new(AtomicUsize::new(0));
    let reg = Registry::new(config());
    reg.start().await.unwrap();
    let slow = Arc::new(SlowInit {
        go: go.clone(),
        inits: inits.clone(),
    });
    let adding = tokio::spawn({
        let reg = reg.clone();
        async move { reg.add_and_start(ApiDecl::new("slow", slow)).await.map(drop) }
    });
    while inits.load(Ordering::SeqCst) == 0 {
        tokio::task::yield_now().await;
    }
    // A second top-level start finds it starting and leaves it to its owner.
    reg.start().await.expect("no false cycle");
    assert!(!adding.is_finished());
    go.notify_one();
    adding.await.unwrap().expect("started");
    assert_eq!(reg.get_api("slow").unwrap().state(), afb_core::ApiState::Ready);
    assert_eq!(inits.load(Ordering::SeqCst), 1);
}
