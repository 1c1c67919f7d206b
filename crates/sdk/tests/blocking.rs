//! Blocking work in verbs: `Verb::blocking` and `Req::blocking` run on the
//! blocking thread pool, so one worker thread keeps serving other verbs
//! while they block; a panic there answers `internal-error`.

use std::time::{Duration, Instant};

use afb_sdk::prelude::*;
use afb_sdk::testing::{data, TestBinder};

fn api() -> ApiBuilder {
    ApiBuilder::new("b")
        .verb(Verb::blocking("sleep", |_req: Req, Json(ms): Json<u64>| {
            std::thread::sleep(Duration::from_millis(ms));
            Ok::<_, Error>(Json(ms))
        }))
        .verb(Verb::blocking("panic", |_req: Req, _: ()| -> Result<(), Error> {
            panic!("blocking verb panics")
        }))
        .verb(Verb::new("step", |req: Req, Json(ms): Json<u64>| async move {
            let slept = req
                .blocking(move || {
                    std::thread::sleep(Duration::from_millis(ms));
                    ms * 2
                })
                .await?;
            Ok::<_, Error>(Json(slept))
        }))
        .verb(Verb::new("steppanic", |req: Req, _: ()| async move {
            req.blocking(|| -> u32 { panic!("step panics") }).await?;
            Ok::<_, Error>(())
        }))
        .verb(Verb::new("ping", |_req: Req, _: ()| async {
            Ok::<_, Error>(json!("pong"))
        }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn blocking_verbs_leave_the_worker_free() {
    let b = TestBinder::start(vec![api()]).await.unwrap();
    let c = b.client();
    let sleepers: Vec<_> = (0..4)
        .map(|i| {
            let c = b.client();
            let verb = if i % 2 == 0 { "sleep" } else { "step" };
            tokio::spawn(async move { c.call("b", verb, &800u64).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let t = Instant::now();
    for _ in 0..10 {
        assert_eq!(data(&c.call("b", "ping", &()).await), json!("pong"));
    }
    assert!(
        t.elapsed() < Duration::from_millis(300),
        "ping waited {:?}",
        t.elapsed()
    );
    let t = Instant::now();
    for (i, s) in sleepers.into_iter().enumerate() {
        let r = s.await.unwrap();
        assert!(r.is_success(), "{r:?}");
        assert_eq!(data(&r), json!(if i % 2 == 0 { 800 } else { 1600 }));
    }
    assert!(t.elapsed() < Duration::from_millis(1500), "the four ran side by side");
}

#[tokio::test]
async fn panics_in_blocking_work_answer_internal_error() {
    let b = TestBinder::start(vec![api()]).await.unwrap();
    let c = b.client();
    for verb in ["panic", "steppanic"] {
        let r = c.call("b", verb, &()).await;
        assert_eq!(&*r.status, "internal-error", "{verb}: {r:?}");
    }
    assert!(c.call("b", "ping", &()).await.is_success());
}
