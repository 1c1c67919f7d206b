//! Handlers that take only what they use: the API's state given once,
//! extractors in any order and number, events of any serialisable value,
//! one LOA type, and the typed errors of building and starting APIs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use afb_sdk::prelude::*;
use afb_sdk::testing::{data, TestBinder, TestError};
use afb_sdk::BuildError;
use serde::{Deserialize, Serialize};
use serde_json::json;

const T: Duration = Duration::from_secs(5);

#[derive(Default)]
struct Counter {
    calls: AtomicU64,
}

#[derive(Deserialize)]
struct Add {
    n: u64,
}

#[derive(Serialize)]
struct Point {
    x: i32,
    label: &'static str,
}

async fn add(counter: State<Counter>, Json(a): Json<Add>) -> Result<Value, Error> {
    Ok(json!(counter.calls.fetch_add(a.n, Ordering::Relaxed) + a.n))
}

async fn total(counter: State<Counter>) -> Result<Value, Error> {
    Ok(json!(counter.calls.load(Ordering::Relaxed)))
}

async fn nothing() -> Result<(), Error> {
    Ok(())
}

/// Every extractor at once, in an unusual order.
async fn everything(args: Value, api: Api, counter: State<Counter>, req: Req, _: ()) -> Result<Value, Error> {
    Ok(json!({
        "args": args,
        "api": api.name(),
        "verb": req.verb(),
        "calls": counter.calls.load(Ordering::Relaxed),
    }))
}

fn counting() -> ApiBuilder {
    ApiBuilder::new("count")
        .state(Counter::default())
        .verb(Verb::new("add", add))
        .verb(Verb::new("total", total))
        .verb(Verb::new("nothing", nothing))
        .verb(Verb::new("everything", everything))
        .verb(Verb::blocking(
            "blocking-add",
            |counter: State<Counter>, Json(n): Json<u64>| {
                Ok::<_, Error>(json!(counter.calls.fetch_add(n, Ordering::Relaxed) + n))
            },
        ))
}

#[tokio::test]
async fn the_state_is_given_once_and_shared_by_the_verbs() {
    let b = TestBinder::start(vec![counting()]).await.unwrap();
    let (c1, c2) = (b.client(), b.client());
    assert_eq!(data(&c1.call("count", "add", &json!({"n": 2})).await), json!(2));
    assert_eq!(data(&c2.call("count", "add", &json!({"n": 3})).await), json!(5));
    assert_eq!(data(&c1.call("count", "blocking-add", &4).await), json!(9));
    assert_eq!(data(&c2.call("count", "total", &()).await), json!(9));
    let r = c1.call("count", "nothing", &json!({"ignored": true})).await;
    assert!(r.is_success() && r.data.is_none(), "{r:?}");
    let r = c1.call("count", "everything", &json!([1, "a"])).await;
    assert_eq!(
        data(&r),
        json!({"args": [1, "a"], "api": "count", "verb": "everything", "calls": 9})
    );
}

#[tokio::test]
async fn bad_arguments_answer_invalid_request_and_the_handler_does_not_run() {
    let b = TestBinder::start(vec![counting()]).await.unwrap();
    let c = b.client();
    for bad in [json!({"n": "two"}), json!(null), json!({"n": -1})] {
        let r = c.call("count", "add", &bad).await;
        assert_eq!(&*r.status, "invalid-request", "{bad}");
        assert!(r.info.as_deref().unwrap_or("").starts_with("bad arguments: "), "{r:?}");
    }
    let r = c.call("count", "blocking-add", &"x").await;
    assert_eq!(&*r.status, "invalid-request");
    assert_eq!(data(&c.call("count", "total", &()).await), json!(0));
}

#[test]
fn a_verb_taking_a_state_the_api_lacks_is_refused_when_the_api_is_built() {
    let no_state = ApiBuilder::new("count").verb(Verb::new("total", total));
    let Err(e) = no_state.build() else {
        panic!("built without its state")
    };
    assert!(
        matches!(&e, BuildError::NoState { api, verb, state }
            if api == "count" && verb == "total" && state.ends_with("Counter")),
        "{e:?}"
    );
    assert!(e.to_string().starts_with("verb count/total takes a State<"), "{e}");

    let other_state = ApiBuilder::new("count").state(7u32).verb(Verb::new("total", total));
    assert!(matches!(other_state.build(), Err(BuildError::NoState { .. })));

    // Only the type matters; the last state given wins.
    let replaced = ApiBuilder::new("count")
        .state(7u32)
        .state(Counter::default())
        .verb(Verb::new("total", total));
    assert!(replaced.build().is_ok());

    // Registration errors are the registry's, with its text.
    let registry = afb_sdk::core::Registry::new(Default::default());
    ApiBuilder::new("twice").register(&registry).unwrap();
    let e = ApiBuilder::new("TWICE").register(&registry).unwrap_err();
    assert!(matches!(e, BuildError::Register(_)), "{e:?}");
    let core = ApiBuilder::new("TWICE")
        .build()
        .map(|d| registry.add_api(d).unwrap_err());
    assert_eq!(e.to_string(), core.unwrap().to_string());
}

#[tokio::test]
async fn events_push_and_broadcast_any_serialisable_value() {
    let api = ApiBuilder::new("ev")
        .verb(Verb::new("push", |req: Req| async move {
            let event = req.api().new_event("point")?;
            req.subscribe(&event)?;
            let reached = event.push(&Point { x: 3, label: "p" })?;
            event.broadcast(&[1, 2])?;
            req.api().broadcast("direct", &Some("text"))?;
            Ok::<_, Error>(json!({"reached": reached, "name": event.name()}))
        }))
        .verb(Verb::new("unserialisable", |api: Api| async move {
            let event = api.new_event("bad")?;
            let map = std::collections::HashMap::from([((1, 2), 3)]);
            event.push(&map).map(|_| ())
        }));
    let b = TestBinder::start(vec![api]).await.unwrap();
    let c = b.client();
    let r = c.call("ev", "push", &()).await;
    assert_eq!(data(&r), json!({"reached": 1, "name": "ev/point"}));
    let pushed = c.next_event(T).await.unwrap();
    assert_eq!(
        (pushed.name.as_str(), pushed.data, pushed.broadcast),
        ("ev/point", json!({"x": 3, "label": "p"}), false)
    );
    let broadcast = c.next_event(T).await.unwrap();
    assert_eq!(
        (broadcast.name.as_str(), broadcast.data, broadcast.broadcast),
        ("ev/point", json!([1, 2]), true)
    );
    let direct = c.next_event(T).await.unwrap();
    assert_eq!((direct.name.as_str(), direct.data), ("ev/direct", json!("text")));
    let r = c.call("ev", "unserialisable", &()).await;
    assert_eq!(&*r.status, "internal-error", "{r:?}");
}

#[tokio::test]
async fn the_loa_is_read_and_set_as_one_type() {
    let api = ApiBuilder::new("loa").verb(Verb::new("raise", |req: Req, Json(to): Json<u8>| async move {
        let before: u8 = req.loa();
        req.set_loa(to)?;
        Ok::<_, Error>(json!([before, req.loa()]))
    }));
    let b = TestBinder::start(vec![api]).await.unwrap();
    let c = b.client();
    assert_eq!(data(&c.call("loa", "raise", &3).await), json!([0, 3]));
    let r = c.call("loa", "raise", &8).await;
    assert_eq!(&*r.status, "invalid-request");
    assert_eq!(r.info.as_deref(), Some("LOA 8 out of range 0..=7"));
    assert_eq!(data(&c.call("loa", "raise", &7).await), json!([3, 7]));
}

#[tokio::test]
async fn a_failing_init_is_a_typed_start_error() {
    let api = ApiBuilder::new("broken").on_init(|_api| async { Err(Error::failed("no device")) });
    let Err(e) = TestBinder::start(vec![api]).await else {
        panic!("started")
    };
    assert!(matches!(e, TestError::Start(_)), "{e:?}");
    assert_eq!(e.to_string(), "API broken failed to start: failed: no device");
    let Err(e) = TestBinder::start(vec![ApiBuilder::new("count").verb(Verb::new("total", total))]).await else {
        panic!("started")
    };
    assert!(matches!(e, TestError::Build(BuildError::NoState { .. })), "{e:?}");
}
