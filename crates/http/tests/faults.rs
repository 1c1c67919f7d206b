//! Fault containment seen from HTTP clients, on an in-process server (two
//! worker threads) with a test API: a verb that panics (before returning
//! its future, while polled, in blocking work) answers `500 internal-error`
//! and the server keeps serving; blocking verbs written with
//! `Verb::blocking` do not stop other APIs even when they outnumber the
//! worker threads, whereas blocking inside an async verb does (which is why
//! the SDK documents that async verbs must not block).

mod http_client;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use afb_core::{Registry, RegistryConfig};
use afb_http::{HttpConfig, HttpServer};
use afb_sdk::prelude::*;
use http_client::{Conn, Req as HttpReq};

const WORKERS: usize = 2;

struct Server {
    addr: SocketAddr,
    server: HttpServer,
    rt: Option<tokio::runtime::Runtime>,
}

impl Server {
    fn start() -> Server {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(WORKERS)
            .enable_all()
            .build()
            .unwrap();
        let (addr, server) = rt.block_on(async move {
            let registry = Registry::new(RegistryConfig::default());
            fault_api().register(&registry).unwrap();
            afb_sample_hello::api().register(&registry).unwrap();
            registry.start().await.unwrap();
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let server = HttpServer::new(registry, HttpConfig::default()).unwrap();
            server.serve_tcp(listener);
            (addr, server)
        });
        Server {
            addr,
            server,
            rt: Some(rt),
        }
    }

    fn conn(&self) -> Conn {
        Conn::tcp(self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            let s = self.server.clone();
            rt.block_on(async move { s.shutdown(Duration::from_millis(100)).await });
            rt.shutdown_timeout(Duration::from_secs(1));
        }
    }
}

/// Where `fault/hold` waits until the test opens it; counts who entered.
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

/// Opens the gate when dropped, also when the test fails.
struct OpenOnDrop;

impl Drop for OpenOnDrop {
    fn drop(&mut self) {
        GATE.open();
    }
}

fn fault_api() -> ApiBuilder {
    ApiBuilder::new("fault")
        .verb(Verb::manual(
            "panic-at-call",
            |_req: afb_sdk::Request| -> std::future::Ready<()> { panic!("panics before returning its future") },
        ))
        .verb(Verb::new("panic-in-poll", |_req: Req, _: ()| async move {
            tokio::task::yield_now().await;
            if std::hint::black_box(true) {
                panic!("panics while polled, after an await");
            }
            Ok::<_, Error>(())
        }))
        .verb(Verb::blocking(
            "panic-blocking",
            |_req: Req, _: ()| -> Result<(), Error> { panic!("panics in blocking work") },
        ))
        .verb(Verb::blocking("hold", |_req: Req, _: ()| {
            // A gate never opened lets it go after 30 s; the test has
            // failed by then (it waits 10 s for every verb to enter).
            let _ = GATE.pass();
            Ok::<_, Error>(())
        }))
        .verb(Verb::new(
            "block-async-wrongly",
            |_req: Req, Json(ms): Json<u64>| async move {
                thread::sleep(Duration::from_millis(ms)); // what async verbs must not do
                Ok::<_, Error>(Json(ms))
            },
        ))
}

#[test]
fn panicking_verbs_answer_internal_error_and_the_server_keeps_serving() {
    let s = Server::start();
    let mut c = s.conn();
    for round in 0..3 {
        for verb in ["panic-at-call", "panic-in-poll", "panic-blocking"] {
            let r = c.get(&format!("/api/fault/{verb}"));
            assert_eq!(
                (r.status, r.afb_status().as_str()),
                (500, "internal-error"),
                "{verb} #{round}"
            );
            assert_eq!(c.get("/api/hello/ping").status, 200, "after {verb}");
        }
    }
    // Concurrent panics and pings on several connections.
    let addr = s.addr;
    let hs: Vec<_> = (0..8)
        .map(|i| {
            thread::spawn(move || {
                let mut c = Conn::tcp(addr);
                for _ in 0..20 {
                    let t = if i % 2 == 0 {
                        "/api/fault/panic-in-poll"
                    } else {
                        "/api/hello/ping"
                    };
                    let r = c.get(t);
                    assert!(matches!(r.status, 200 | 500));
                }
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    assert_eq!(s.conn().get("/api/hello/ping").status, 200);
}

/// Starts `n` requests of `target` on their own connections; returns the
/// threads waiting for their answers.
fn start_many(
    addr: SocketAddr,
    target: &'static str,
    body: &'static str,
    n: usize,
) -> Vec<thread::JoinHandle<(u16, Duration)>> {
    (0..n)
        .map(|_| {
            thread::spawn(move || {
                let t = Instant::now();
                let r = Conn::tcp(addr).request(&HttpReq::post(target, "application/json", body));
                (r.status, t.elapsed())
            })
        })
        .collect()
}

/// The blocking verbs are all held at a gate at the same time (so they run
/// side by side, beyond the worker count) while other APIs answer; no
/// timing is involved.
#[test]
fn blocking_verbs_outnumbering_the_workers_do_not_stop_other_apis() {
    let s = Server::start();
    let _open = OpenOnDrop;
    let holders = start_many(s.addr, "/api/fault/hold", "null", 3 * WORKERS);
    let deadline = Instant::now() + Duration::from_secs(10);
    while GATE.entered.load(Ordering::SeqCst) < 3 * WORKERS {
        assert!(
            Instant::now() < deadline,
            "only {} of {} blocking verbs started",
            GATE.entered.load(Ordering::SeqCst),
            3 * WORKERS
        );
        thread::sleep(Duration::from_millis(5));
    }
    let mut c = s.conn();
    for _ in 0..10 {
        assert_eq!(c.get("/api/hello/ping").status, 200);
    }
    GATE.open();
    for h in holders {
        assert_eq!(h.join().unwrap().0, 200);
    }
}

/// The same load blocking inside async verbs holds every worker: other
/// APIs wait. (Guards the test above: it would fail without the blocking
/// pool.)
#[test]
fn blocking_inside_async_verbs_stalls_the_workers() {
    let s = Server::start();
    let blockers = start_many(s.addr, "/api/fault/block-async-wrongly", "1500", WORKERS);
    thread::sleep(Duration::from_millis(200));
    let t = Instant::now();
    assert_eq!(s.conn().get("/api/hello/ping").status, 200);
    let waited = t.elapsed();
    for b in blockers {
        assert_eq!(b.join().unwrap().0, 200);
    }
    assert!(
        waited > Duration::from_millis(800),
        "ping answered in {waited:?} although every worker was blocked"
    );
}
