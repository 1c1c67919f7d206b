//! A quick comparison of the x-afb-ws-json1 server with a raw tokio-tungstenite
//! echo server (ignored: run it in release mode on an idle machine):
//!
//! ```text
//! cargo test --release -p afb-http --test ws_perf -- --ignored --nocapture
//! ```
//!
//! Throughput: 32 connections with 16 calls in flight each; latency: one
//! connection, one call at a time (p50 and p99 of the round trip). The same
//! client drives both servers; the echo server sends back each message as it
//! comes (feed, then flush when nothing more is ready).

mod ws_support;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

const CONNS: usize = 32;
const INFLIGHT: usize = 16;
const RUN: Duration = Duration::from_secs(2);
const LATENCY_CALLS: usize = 3000;

async fn echo_server() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = l.accept().await {
            let _ = tcp.set_nodelay(true);
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else {
                    return;
                };
                while let Some(Ok(m)) = ws.next().await {
                    if m.is_text() && ws.send(m).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

/// The echo behind hyper's upgrade (what `handle_upgrade` does, minus the binder).
async fn hyper_echo_server() -> SocketAddr {
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;
    use tokio_tungstenite::tungstenite::protocol::Role;
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = l.accept().await {
            let _ = tcp.set_nodelay(true);
            tokio::spawn(async move {
                let svc = service_fn(|req: hyper::Request<hyper::body::Incoming>| async move {
                    let resp = match afb_http::ws::check_handshake(req.headers()) {
                        Ok(a) => {
                            tokio::spawn(async move {
                                let up = hyper::upgrade::on(req).await.unwrap();
                                let mut ws = tokio_tungstenite::WebSocketStream::from_raw_socket(
                                    TokioIo::new(up),
                                    Role::Server,
                                    None,
                                )
                                .await;
                                while let Some(Ok(m)) = ws.next().await {
                                    if m.is_text() && ws.send(m).await.is_err() {
                                        break;
                                    }
                                }
                            });
                            a.response()
                        }
                        Err(r) => r,
                    };
                    Ok::<_, std::convert::Infallible>(resp)
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), svc)
                    .with_upgrades()
                    .await;
            });
        }
    });
    addr
}

async fn throughput(url: &str, call: &str) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let stop_at = Instant::now() + RUN;
    let mut tasks = Vec::new();
    for _ in 0..CONNS {
        let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        let done = done.clone();
        let call = call.to_owned();
        tasks.push(tokio::spawn(async move {
            let (mut tx, mut rx) = ws.split();
            for i in 0..INFLIGHT {
                tx.feed(Message::text(call.replace("ID", &i.to_string())))
                    .await
                    .unwrap();
            }
            tx.flush().await.unwrap();
            let mut n = INFLIGHT;
            while let Some(Ok(m)) = rx.next().await {
                if !m.is_text() {
                    continue;
                }
                done.fetch_add(1, Ordering::Relaxed);
                if Instant::now() >= stop_at {
                    break;
                }
                n += 1;
                tx.send(Message::text(call.replace("ID", &n.to_string())))
                    .await
                    .unwrap();
            }
        }));
    }
    let t0 = Instant::now();
    for t in tasks {
        t.await.unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / t0.elapsed().as_secs_f64()
}

async fn latency(url: &str, call: &str) -> (Duration, Duration) {
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let mut times = Vec::with_capacity(LATENCY_CALLS);
    for i in 0..LATENCY_CALLS + 200 {
        let t0 = Instant::now();
        ws.send(Message::text(call.replace("ID", &i.to_string())))
            .await
            .unwrap();
        loop {
            match ws.next().await {
                Some(Ok(m)) if m.is_text() => break,
                Some(Ok(_)) => continue,
                other => panic!("{other:?}"),
            }
        }
        if i >= 200 {
            times.push(t0.elapsed());
        }
    }
    times.sort();
    (times[times.len() / 2], times[times.len() * 99 / 100])
}

#[test]
#[ignore = "benchmark: run in release mode"]
fn compare_with_raw_echo() {
    // The servers on their own runtime (as in a daemon), the client on another thread.
    let servers_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (echo, hecho, afb, _srv) = servers_rt.block_on(async {
        let echo = format!("ws://{}/", echo_server().await);
        let hecho = format!("ws://{}/api", hyper_echo_server().await);
        let srv = ws_support::Server::start().await;
        (echo, hecho, srv.url(), srv)
    });
    let client_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let servers = [
        ("echo", echo.as_str()),
        ("hyper-echo", hecho.as_str()),
        ("afb", afb.as_str()),
    ];
    for (name, call) in [
        ("hello/ping", r#"[2,"ID","hello/ping",null]"#),
        ("hello/pingnull", r#"[2,"ID","hello/pingnull",null]"#),
    ] {
        // Interleaved rounds; the best of each (the machine is shared).
        let mut best_tp = [0f64; 3];
        let mut best_p50 = [Duration::MAX; 3];
        for _ in 0..3 {
            for (i, (_, url)) in servers.iter().enumerate() {
                best_tp[i] = best_tp[i].max(client_rt.block_on(throughput(url, call)));
                best_p50[i] = best_p50[i].min(client_rt.block_on(latency(url, call)).0);
            }
        }
        for (i, (s, _)) in servers.iter().enumerate() {
            println!(
                "{name} {s:>10}: {CONNS}x{INFLIGHT} {:>8.0}/s  p50 {:?}",
                best_tp[i], best_p50[i]
            );
        }
        println!(
            "{name}: afb/echo throughput {:.2}, p50 {:.2}",
            best_tp[2] / best_tp[0],
            best_p50[2].as_secs_f64() / best_p50[0].as_secs_f64()
        );
    }
}

/// CPU cost of one call without I/O: decode, dispatch to the verb, encode the reply.
#[tokio::test(flavor = "current_thread")]
#[ignore = "benchmark: run in release mode"]
async fn dispatch_cost() {
    use afb_core::{Args, Call, Client, Reply};
    use afb_wsj1::envelope::ReplyEnvelope;
    let registry = ws_support::registry().await;
    let session = registry.sessions().create().unwrap();
    let client = Client::new(session);
    for verb in ["ping", "pingnull"] {
        let text = format!(r#"[2,"17","hello/{verb}",null]"#);
        let n = 200_000;
        let out = Arc::new(AtomicU64::new(0));
        let t0 = Instant::now();
        for _ in 0..n {
            let Ok(afb_wsj1::Message::Call(call)) = afb_wsj1::decode(&text) else {
                panic!()
            };
            let args = Args::from_raw(call.args.as_raw().unwrap().to_owned());
            let id: Box<str> = call.id.as_ref().into();
            let out = out.clone();
            let (api, v) = call.split();
            registry.dispatch(
                Call::external(api, v, args, client.clone()),
                Box::new(move |r: Reply| {
                    let mut buf = Vec::with_capacity(128);
                    let env = ReplyEnvelope {
                        status: &r.status,
                        code: r.code,
                        info: r.info.as_deref(),
                        reqid: None,
                        uuid: None,
                        token: None,
                        response: r.data.as_ref().map(|d| d as &dyn afb_wsj1::WriteJson),
                    };
                    afb_wsj1::write_reply_message(&mut buf, &id, &env);
                    let s = String::from_utf8(buf).unwrap();
                    out.fetch_add(s.len() as u64, Ordering::Relaxed);
                }),
            );
        }
        let per = t0.elapsed() / n;
        println!("hello/{verb}: {per:?} per call (decode + dispatch + verb + encode)");
    }
}
