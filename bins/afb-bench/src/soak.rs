//! `afb-bench soak`: mixed load for a chosen time, then a leak check.
//!
//! Two daemons: a *back* serving the sample APIs and exporting `hello` on a unix wsapi socket,
//! and a *front* importing it (`--ws-client`). Every round applies, at once, REST calls (with
//! and without session cookies, so sessions are created and evicted), wsj1 calls on the back
//! and through the front, wsapi calls straight on the back's socket, an event fan-out, and
//! multipart uploads; every connection of a round is closed at its end. After the warm-up
//! rounds (allocator pools, caches and the session table reach their working size) the
//! resident memory and the open file descriptors of both daemons are recorded; after the last
//! round and a short settle they must be back there (fds exactly, memory within a tolerance),
//! the upload directory must be empty, and both daemons must still answer.

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

use clap::Args;
use tokio::io::AsyncWriteExt;

use crate::load::{self, Timing};
use crate::net::{self, HttpConn};
use crate::procs::{self, Scratch, Server, ServerCmd};
use crate::stats::LoadResult;

/// Options of `afb-bench soak`.
#[derive(Args, Clone)]
pub struct SoakArgs {
    /// The daemon binary.
    #[arg(long, default_value = "target/release/afb-daemon")]
    pub daemon: PathBuf,
    /// Seconds of load after the warm-up.
    #[arg(long, default_value_t = 60.0)]
    pub duration: f64,
    /// Seconds of one round (every connection is opened and closed once per round).
    #[arg(long, default_value_t = 5.0)]
    pub round: f64,
    /// Warm-up rounds, before the baseline is taken.
    #[arg(long, default_value_t = 2)]
    pub warmup_rounds: usize,
    /// Memory growth allowed between baseline and end, in MiB (plus 10 % of the baseline).
    #[arg(long, default_value_t = 4.0)]
    pub tolerance_mib: f64,
    /// Sessions kept by the back daemon (cookie-less requests beyond this evict old ones).
    #[arg(long, default_value_t = 500)]
    pub session_max: usize,
    /// Sessions kept by the front daemon. Every WebSocket of a round opens a session there
    /// and sessions outlive their connections: the front's memory grows until its table is
    /// full, then stays flat. Small enough to be full by the end of the warm-up.
    #[arg(long, default_value_t = 16)]
    pub front_session_max: usize,
    /// Fail when a daemon's RSS grows by more than this share (percent) over the last third
    /// of the rounds (reported in any case).
    #[arg(long)]
    pub flat_pct: Option<f64>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// What is sampled of one daemon.
#[derive(Debug, Clone, Copy, Default)]
struct Sample {
    rss_kib: u64,
    fds: usize,
}

fn sample(pid: u32) -> Result<Sample, String> {
    let rss_kib = procs::rss_kib(pid).ok_or_else(|| format!("no RSS for pid {pid}"))?;
    let fds = fs::read_dir(format!("/proc/{pid}/fd"))
        .map_err(|e| format!("/proc/{pid}/fd: {e}"))?
        .count();
    Ok(Sample { rss_kib, fds })
}

/// One load of a round, run on its own thread.
type Job = Box<dyn FnOnce(Timing) -> Result<LoadResult, String> + Send>;

struct Plan {
    back_http: SocketAddr,
    front_http: SocketAddr,
    wsapi: PathBuf,
    round: usize,
}

impl Plan {
    /// The loads of round `n`, by name.
    fn jobs(&self) -> Vec<(&'static str, Job)> {
        let (back, front, sock) = (self.back_http, self.front_http, self.wsapi.clone());
        let tag = format!("soak{}r{}", std::process::id(), self.round);
        let wsj1 = move |addr: SocketAddr, conns, inflight, verb: &str| load::Wsj1Opts {
            addr,
            path: "/api".into(),
            conns,
            inflight,
            api_verb: verb.into(),
            args: r#"{"soak":[1,2,3]}"#.into(),
        };
        vec![
            (
                "rest",
                Box::new(move |t| {
                    let o = load::RestOpts {
                        addr: back,
                        path: "/api/hello/ping?soak=1".into(),
                        conns: 4,
                        cookie: true,
                        tls: None,
                        afb_status: false,
                    };
                    load::rest(o, t, &[])
                }),
            ),
            (
                "rest-new-sessions",
                Box::new(move |t| {
                    let o = load::RestOpts {
                        addr: back,
                        path: "/api/hello/ping".into(),
                        conns: 2,
                        cookie: false,
                        tls: None,
                        afb_status: false,
                    };
                    load::rest(o, t, &[])
                }),
            ),
            (
                "wsj1",
                Box::new(move |t| load::wsj1(wsj1(back, 4, 8, "hello/ping"), t, &[])),
            ),
            (
                "wsj1-front",
                Box::new(move |t| load::wsj1(wsj1(front, 4, 8, "hello/ping"), t, &[])),
            ),
            (
                "wsapi",
                Box::new(move |t| {
                    let o = load::WsapiOpts {
                        addr: afb_endpoint::Connector::unix(&sock),
                        conns: 2,
                        inflight: 8,
                        verb: "ping".into(),
                        args: "{\"soak\":true}".into(),
                    };
                    load::wsapi(o, t, &[])
                }),
            ),
            (
                "events",
                Box::new(move |t| {
                    let o = load::FanoutOpts {
                        addr: back,
                        path: "/api".into(),
                        clients: 50,
                        window: 1,
                        tag,
                    };
                    load::fanout(o, t, &[])
                }),
            ),
            ("uploads", Box::new(move |t| uploads(back, t))),
        ]
    }
}

/// Runs every job of a round at once; fails on the first failed load.
fn round(plan: &Plan, t: Timing) -> Result<Vec<(&'static str, LoadResult)>, String> {
    let handles: Vec<_> = plan
        .jobs()
        .into_iter()
        .map(|(name, job)| (name, thread::spawn(move || job(t))))
        .collect();
    let mut out = Vec::new();
    for (name, h) in handles {
        let r = h
            .join()
            .map_err(|_| format!("{name}: the load thread panicked"))?
            .map_err(|e| format!("{name}: {e}"))?;
        if r.errors > 0 || r.ops == 0 {
            return Err(format!(
                "{name}: {} operations, {} errors{}",
                r.ops,
                r.errors,
                r.first_error
                    .as_deref()
                    .map(|e| format!(" (first: {e})"))
                    .unwrap_or_default()
            ));
        }
        out.push((name, r));
    }
    Ok(out)
}

/// Multipart uploads of a small file to `hello/ping` over one keep-alive connection, each
/// answered 200 (the upload directory is checked empty at the end of the soak).
fn uploads(addr: SocketAddr, t: Timing) -> Result<LoadResult, String> {
    load::run(t, &[], move |ctl| async move {
        let stream = net::connect_tcp(addr)
            .await
            .map_err(|e| format!("connect {addr}: {e}"))?;
        let task = tokio::task::spawn_local(async move {
            let mut conn = HttpConn::new(stream);
            let boundary = "afbsoakboundary";
            let body = format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nsoak\r\n\
                 --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"soak.bin\"\r\n\
                 Content-Type: application/octet-stream\r\n\r\n{}\r\n--{boundary}--\r\n",
                "x".repeat(4096)
            );
            let req = format!(
                "POST /api/hello/ping HTTP/1.1\r\nHost: {addr}\r\n\
                 Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .into_bytes();
            while !ctl.stop.get() {
                let t0 = Instant::now();
                let r = match conn.stream.write_all(&req).await {
                    Ok(()) => conn.read_response(false).await,
                    Err(e) => Err(e),
                };
                match r {
                    Ok(resp) if resp.status == 200 && !resp.close => {
                        ctl.done(t0, Instant::now());
                    }
                    Ok(resp) => {
                        ctl.failed(|| format!("upload: HTTP status {}", resp.status));
                        return;
                    }
                    Err(e) => {
                        ctl.failed(|| format!("upload: {e}"));
                        return;
                    }
                }
            }
        });
        Ok(vec![task])
    })
}

fn start(name: &str, daemon: &Path, args: Vec<String>, dir: &Path) -> Result<Server, String> {
    let cmd = ServerCmd {
        name: name.into(),
        program: daemon.to_path_buf(),
        args,
    };
    Server::spawn(&cmd, None, dir)
}

/// The result of the leak check.
struct Verdict {
    lines: Vec<String>,
    failures: Vec<String>,
}

/// Runs the soak; exit code 0 when nothing leaked and every load succeeded.
pub fn run_soak(a: SoakArgs) -> Result<ExitCode, String> {
    let round_len = crate::secs(a.round)?;
    let total = crate::secs(a.duration)?;
    if round_len.is_zero() {
        return Err("--round must be more than 0".into());
    }
    let scratch = Scratch::new("soak").map_err(|e| format!("scratch directory: {e}"))?;
    let dir = scratch.0.clone();
    let uploads = dir.join("uploads");
    fs::create_dir_all(&uploads).map_err(|e| e.to_string())?;
    let sock = dir.join("hello");
    let (bp, fp) = (
        procs::free_port().map_err(|e| e.to_string())?,
        procs::free_port().map_err(|e| e.to_string())?,
    );
    let s = |x: &str| x.to_string();
    let mut back = start(
        "back",
        &a.daemon,
        vec![
            s("--port"),
            bp.to_string(),
            s("--workdir"),
            dir.join("back").display().to_string(),
            s("--uploaddir"),
            uploads.display().to_string(),
            s("--session-max"),
            a.session_max.to_string(),
            s("--ws-server"),
            format!("unix:{}", sock.display()),
        ],
        &dir,
    )?;
    let back_addr = SocketAddr::from(([127, 0, 0, 1], bp));
    back.wait_tcp(back_addr, Duration::from_secs(20))?;
    back.wait_unix(&sock, Duration::from_secs(20))?;
    let mut front = start(
        "front",
        &a.daemon,
        vec![
            s("--port"),
            fp.to_string(),
            s("--workdir"),
            dir.join("front").display().to_string(),
            s("--ws-client"),
            format!("unix:{}", sock.display()),
            s("--session-max"),
            a.front_session_max.to_string(),
        ],
        &dir,
    )?;
    let front_addr = SocketAddr::from(([127, 0, 0, 1], fp));
    front.wait_tcp(front_addr, Duration::from_secs(20))?;

    let timing = Timing {
        warmup: Duration::ZERO,
        duration: round_len,
    };
    let settle = || thread::sleep(Duration::from_millis(1500));
    let both = |back: &mut Server, front: &mut Server| -> Result<(Sample, Sample), String> {
        back.check_alive()?;
        front.check_alive()?;
        Ok((sample(back.pid)?, sample(front.pid)?))
    };
    let (b0, f0) = both(&mut back, &mut front)?;
    let mut log = vec![format!(
        "started: back rss {} KiB fds {}, front rss {} KiB fds {}",
        b0.rss_kib, b0.fds, f0.rss_kib, f0.fds
    )];
    let mut n = 0;
    for _ in 0..a.warmup_rounds {
        let plan = Plan {
            back_http: back_addr,
            front_http: front_addr,
            wsapi: sock.clone(),
            round: n,
        };
        round(&plan, timing).map_err(|e| format!("warm-up round {n}: {e}"))?;
        n += 1;
    }
    settle();
    let (b1, f1) = both(&mut back, &mut front)?;
    log.push(format!(
        "baseline after {} warm-up rounds: back rss {} KiB fds {}, front rss {} KiB fds {}",
        a.warmup_rounds, b1.rss_kib, b1.fds, f1.rss_kib, f1.fds
    ));
    let t0 = Instant::now();
    let mut ops = 0u64;
    let mut peak = (b1.rss_kib, f1.rss_kib);
    // RSS after each round, for the growth over the last third.
    let mut rounds: Vec<(u64, u64)> = Vec::new();
    while t0.elapsed() < total {
        let plan = Plan {
            back_http: back_addr,
            front_http: front_addr,
            wsapi: sock.clone(),
            round: n,
        };
        let results = round(&plan, timing).map_err(|e| format!("round {n}: {e}"))?;
        let round_ops: u64 = results.iter().map(|(_, r)| r.ops).sum();
        ops += round_ops;
        let (b, f) = both(&mut back, &mut front)?;
        peak = (peak.0.max(b.rss_kib), peak.1.max(f.rss_kib));
        rounds.push((b.rss_kib, f.rss_kib));
        let detail: Vec<String> = results.iter().map(|(name, r)| format!("{name} {}", r.ops)).collect();
        log.push(format!(
            "round {n}: {round_ops} operations ({}); back rss {} KiB fds {}, front rss {} KiB fds {}",
            detail.join(", "),
            b.rss_kib,
            b.fds,
            f.rss_kib,
            f.fds
        ));
        n += 1;
    }
    settle();
    let (b2, f2) = both(&mut back, &mut front)?;
    log.push(format!(
        "end after {:.0} s, {ops} operations: back rss {} KiB (peak {}) fds {}, front rss {} KiB (peak {}) fds {}",
        t0.elapsed().as_secs_f64(),
        b2.rss_kib,
        peak.0,
        b2.fds,
        f2.rss_kib,
        peak.1,
        f2.fds
    ));

    let mut v = Verdict {
        lines: log,
        failures: Vec::new(),
    };
    // Flat after the warm-up: growth from the first round of the last third to the end.
    if rounds.len() >= 3 {
        let (b0, f0) = rounds[rounds.len() - rounds.len() / 3 - 1];
        for (name, from, to) in [("back", b0, b2.rss_kib), ("front", f0, f2.rss_kib)] {
            let pct = (to as f64 - from as f64) * 100.0 / from.max(1) as f64;
            v.lines.push(format!(
                "{name}: RSS over the last third of the rounds {from} -> {to} KiB ({pct:+.2} %)"
            ));
            if a.flat_pct.is_some_and(|max| pct > max) {
                v.failures.push(format!(
                    "{name}: RSS grew {pct:+.2} % over the last third of the rounds (allowed {} %)",
                    a.flat_pct.unwrap_or_default()
                ));
            }
        }
    }
    for (name, base, end) in [("back", b1, b2), ("front", f1, f2)] {
        if end.fds > base.fds {
            v.failures.push(format!(
                "{name}: {} file descriptors open at the end, {} at the baseline",
                end.fds, base.fds
            ));
        }
        let allowed = base.rss_kib as f64 * 1.10 + a.tolerance_mib * 1024.0;
        if end.rss_kib as f64 > allowed {
            v.failures.push(format!(
                "{name}: RSS {} KiB at the end, baseline {} KiB (allowed {:.0} KiB)",
                end.rss_kib, base.rss_kib, allowed
            ));
        }
    }
    let left = fs::read_dir(&uploads).map(|d| d.count()).unwrap_or(0);
    if left > 0 {
        v.failures
            .push(format!("{left} uploaded file(s) left in the upload directory"));
    }
    // Both daemons still answer.
    for (name, addr, path) in [
        ("back", back_addr, "/api/hello/ping"),
        ("front", front_addr, "/api/hello/ping"),
    ] {
        if let Err(e) = answers(addr, path) {
            v.failures.push(format!("{name} does not answer after the soak: {e}"));
        }
    }
    back.stop();
    front.stop();
    print_verdict(&v, a.json);
    Ok(if v.failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// One `GET path` answered 200.
fn answers(addr: SocketAddr, path: &str) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        let s = net::connect_tcp(addr).await.map_err(|e| e.to_string())?;
        let mut c = HttpConn::new(s);
        c.stream
            .write_all(&net::get_request(path, &addr.to_string(), None))
            .await
            .map_err(|e| e.to_string())?;
        let fut = c.read_response(false);
        let r = tokio::time::timeout(Duration::from_secs(5), fut)
            .await
            .map_err(|_| "no answer in 5 s".to_string())?
            .map_err(|e| e.to_string())?;
        if r.status == 200 {
            Ok(())
        } else {
            Err(format!("HTTP status {}", r.status))
        }
    })
}

fn print_verdict(v: &Verdict, json: bool) {
    if json {
        let j = serde_json::json!({
            "log": v.lines,
            "failures": v.failures,
            "pass": v.failures.is_empty(),
        });
        println!("{j}");
        return;
    }
    for l in &v.lines {
        println!("soak: {l}");
    }
    if v.failures.is_empty() {
        println!("soak: PASS (memory and file descriptors back to their baseline, no upload left)");
    } else {
        for f in &v.failures {
            println!("soak: FAIL: {f}");
        }
    }
}
