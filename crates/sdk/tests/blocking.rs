//! Blocking work in verbs: `Verb::blocking` and `Req::blocking` run on the
//! blocking thread pool, so one worker thread keeps serving other verbs
//! while they block; a panic there answers `internal-error`.
//!
//! The blocking work waits at a gate the test opens: "the worker stays
//! free" and "they run side by side" are shown by what is answered while
//! every one of them is held, not by timing.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use afb_sdk::prelude::*;
use afb_sdk::testing::{data, TestBinder};

/// Where blocking work waits until the test opens it; counts who entered.
struct Gate {
    open: Mutex<bool>,
    cv: Condvar,
    entered: AtomicUsize,
}

static GATE: Gate = Gate {
    open: Mutex::new(false),
    cv: Condvar::new(),
    entered: AtomicUsize::new(0),
};

impl Gate {
    /// Waits until the gate is open; after 30 s it opens it and says so
    /// (`false`), so that a test where nothing can open it fails instead
    /// of hanging.
    fn pass(&self) -> bool {
        self.entered.fetch_add(1, Ordering::SeqCst);
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        while !*open {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                *open = true;
                self.cv.notify_all();
                return false;
            }
            open = self.cv.wait_timeout(open, left).unwrap_or_else(|p| p.into_inner()).0;
        }
        true
    }

    fn open(&self) {
        *self.open.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.cv.notify_all();
    }
}

/// Opens the gate when the test ends, also when it fails (the runtime
/// waits for its blocking threads when it stops).
struct OpenOnDrop;

impl Drop for OpenOnDrop {
    fn drop(&mut self) {
        GATE.open();
    }
}

fn api() -> ApiBuilder {
    ApiBuilder::new("b")
        .verb(Verb::blocking("hold", |_req: Req, Json(n): Json<u64>| {
            // u64::MAX: the gate was never opened.
            Ok::<_, Error>(Json(if GATE.pass() { n } else { u64::MAX }))
        }))
        .verb(Verb::blocking("panic", |_req: Req, _: ()| -> Result<(), Error> {
            panic!("blocking verb panics")
        }))
        .verb(Verb::new("step", |req: Req, Json(n): Json<u64>| async move {
            let doubled = req.blocking(move || if GATE.pass() { n * 2 } else { u64::MAX }).await?;
            Ok::<_, Error>(Json(doubled))
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
    let _open = OpenOnDrop;
    let limit = Duration::from_secs(10);
    let b = TestBinder::start(vec![api()]).await.unwrap();
    let c = b.client();
    let held: Vec<_> = (0..4)
        .map(|i| {
            let c = b.client();
            let verb = if i % 2 == 0 { "hold" } else { "step" };
            tokio::spawn(async move { c.call("b", verb, &(i as u64)).await })
        })
        .collect();
    // The four are blocked at the same time: they run side by side.
    let entered = tokio::time::timeout(limit, async {
        while GATE.entered.load(Ordering::SeqCst) < 4 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(
        entered.is_ok(),
        "only {} of the 4 blocking verbs started",
        GATE.entered.load(Ordering::SeqCst)
    );
    // The only worker thread still answers while they are held.
    for i in 0..10 {
        let r = tokio::time::timeout(limit, c.call("b", "ping", &())).await;
        let r = r.unwrap_or_else(|_| panic!("ping {i} is not answered while blocking verbs are held"));
        assert_eq!(data(&r), json!("pong"));
    }
    GATE.open();
    for (i, h) in held.into_iter().enumerate() {
        let r = h.await.unwrap();
        assert!(r.is_success(), "{r:?}");
        let n = i as u64;
        assert_eq!(data(&r), json!(if i % 2 == 0 { n } else { 2 * n }));
    }
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
