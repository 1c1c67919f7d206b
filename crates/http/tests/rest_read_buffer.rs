//! A keep-alive REST connection reuses hyper's read buffer from one call
//! to the next.
//!
//! While a response is pending, hyper reads the connection again (to see
//! the client hang up). Its read buffer is shared with the request's head
//! (the URI and header values point into it), so if the head is still
//! alive then, hyper allocates a new 8 KiB buffer, once per request. The
//! server routes a call without a body, and drops its head, in hyper's
//! call of the service, before that read. Counted here by a global
//! allocator: allocations of 4 KiB or more while one connection makes 200
//! calls, to a verb that replies at once and to one that replies later.

// A global allocator is an `unsafe impl`.
#![allow(unsafe_code)]

mod http_client;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use afb_core::{Registry, RegistryConfig};
use afb_http::{HttpConfig, HttpServer};
use afb_sdk::prelude::*;
use http_client::{Conn, Req as HttpReq};

/// Allocations at least this large are counted.
const LARGE: usize = 4096;

static LARGE_ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

struct Counting;

fn count(size: usize) {
    if size >= LARGE {
        LARGE_ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every method forwards to the system allocator with the caller's
// arguments, which upholds GlobalAlloc's contract; counting touches only an
// atomic counter.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` with this layout (every
        // allocation goes through `alloc` or `realloc` above).
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size);
        // SAFETY: as `dealloc`, and the caller's guarantees on `new_size`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// `t/now` replies before returning; `t/later` after yielding once, so its
/// reply comes after the dispatch returned.
fn test_api() -> ApiBuilder {
    ApiBuilder::new("t")
        .verb(Verb::new(
            "now",
            |_: Req, _: ()| async move { Ok::<_, Error>(json!("now")) },
        ))
        .verb(Verb::new("later", |_: Req, _: ()| async move {
            tokio::task::yield_now().await;
            Ok::<_, Error>(json!("later"))
        }))
}

/// Large allocations made while one keep-alive connection calls `target`
/// 200 times (after 10 calls of warm-up), in the session of its first call.
fn large_allocations_per_200_calls(target: &str) -> usize {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (addr, server) = rt.block_on(async move {
        let registry = Registry::new(RegistryConfig::default());
        test_api().register(&registry).unwrap();
        registry.start().await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = HttpServer::new(registry, HttpConfig::default()).unwrap();
        server.serve_tcp(listener);
        (addr, server)
    });
    let mut c = Conn::tcp(addr);
    let first = c.get(target);
    assert_eq!(first.status, 200, "{}", first.text());
    let uuid = first.cookie_uuid().expect("the first call opens a session");
    let call = |c: &mut Conn| {
        let r = c.request(&HttpReq::get(target).header("x-afb-uuid", uuid.clone()));
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.afb_status(), "success");
    };
    for _ in 0..10 {
        call(&mut c);
    }
    let before = LARGE_ALLOCATIONS.load(Ordering::Relaxed);
    for _ in 0..200 {
        call(&mut c);
    }
    let large = LARGE_ALLOCATIONS.load(Ordering::Relaxed) - before;
    drop(c);
    rt.block_on(async move { server.shutdown(Duration::from_millis(100)).await });
    rt.shutdown_timeout(Duration::from_secs(1));
    large
}

// One test: the counter is process-wide, and tests of a binary run at once.
#[test]
fn a_keep_alive_connection_reuses_the_read_buffer() {
    // One new 8 KiB buffer per call (200) when the head outlives hyper's read.
    for target in ["/api/t/now", "/api/t/later"] {
        let large = large_allocations_per_200_calls(target);
        assert!(
            large < 20,
            "{target}: {large} allocations of {LARGE} bytes or more for 200 calls"
        );
    }
}
