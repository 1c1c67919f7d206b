//! Fault containment seen from HTTP clients, on an in-process server (two
//! worker threads) with a test API: a verb that panics (before returning
//! its future, while polled, in blocking work) answers `500 internal-error`
//! and the server keeps serving; blocking verbs written with
//! `Verb::blocking` do not stop other APIs even when they outnumber the
//! worker threads, whereas blocking inside an async verb does (which is why
//! the SDK documents that async verbs must not block).

mod http_client;

use std::net::SocketAddr;
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
        .verb(Verb::blocking("block", |_req: Req, Json(ms): Json<u64>| {
            thread::sleep(Duration::from_millis(ms));
            Ok::<_, Error>(Json(ms))
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
fn start_many(addr: SocketAddr, target: &'static str, n: usize) -> Vec<thread::JoinHandle<(u16, Duration)>> {
    (0..n)
        .map(|_| {
            thread::spawn(move || {
                let t = Instant::now();
                let r = Conn::tcp(addr).request(&HttpReq::post(target, "application/json", "1500"));
                (r.status, t.elapsed())
            })
        })
        .collect()
}

#[test]
fn blocking_verbs_outnumbering_the_workers_do_not_stop_other_apis() {
    let s = Server::start();
    let blockers = start_many(s.addr, "/api/fault/block", 3 * WORKERS);
    thread::sleep(Duration::from_millis(200));
    let mut c = s.conn();
    let t = Instant::now();
    for _ in 0..10 {
        assert_eq!(c.get("/api/hello/ping").status, 200);
    }
    let pings = t.elapsed();
    assert!(
        pings < Duration::from_millis(500),
        "10 pings took {pings:?} beside blocking verbs"
    );
    for b in blockers {
        let (status, took) = b.join().unwrap();
        assert_eq!(status, 200);
        assert!(
            took < Duration::from_millis(2500),
            "blocking verbs ran side by side: {took:?}"
        );
    }
}

/// The same load blocking inside async verbs holds every worker: other
/// APIs wait. (Guards the test above: it would fail without the blocking
/// pool.)
#[test]
fn blocking_inside_async_verbs_stalls_the_workers() {
    let s = Server::start();
    let blockers = start_many(s.addr, "/api/fault/block-async-wrongly", WORKERS);
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
