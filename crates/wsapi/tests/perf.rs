//! Throughput of calls through a unix wsapi link against direct calls, in
//! one process. Ignored by default; run in release:
//! `cargo test --release -p afb-wsapi --test perf -- --ignored --nocapture`.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use afb_sdk::testing::TestBinder;
use common::*;
use serde_json::json;

const TASKS: usize = 64;
const CALLS: usize = 2_000;

async fn rate(binder: &TestBinder) -> f64 {
    let clients: Vec<_> = (0..TASKS).map(|_| Arc::new(binder.client())).collect();
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for c in clients {
        tasks.push(tokio::spawn(async move {
            for _ in 0..CALLS {
                let r = c.call("hello", "ping", &json!({"a": 1})).await;
                assert!(r.is_success(), "{r:?}");
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    (TASKS * CALLS) as f64 / t0.elapsed().as_secs_f64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn link_throughput_against_direct_calls() {
    let dir = TempDir::new("perf");
    let uri = format!("unix:{}", dir.join("hello").display());
    let back = Back::start(&uri).await;
    let front = front(&uri).await;
    let _ = rate(&front).await; // warm up, connect
    let direct = rate(&back.binder).await;
    let linked = rate(&front).await;
    println!(
        "direct {direct:.0} calls/s, through a unix wsapi link {linked:.0} calls/s ({:.2}x)",
        linked / direct
    );
    tokio::time::sleep(Duration::from_millis(10)).await;
}
