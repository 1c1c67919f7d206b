//! The load generators: REST (HTTP or HTTPS), TLS handshakes, x-afb-ws-json1, wsapi, RPC v3
//! and event fan-out. Each runs on one
//! current-thread tokio runtime (the process is pinned to its load CPU), opens its
//! connections, warms up, then measures for a fixed window: operations done, latency of each
//! (HDR histogram), errors, and the CPU share of the load and of the servers.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use afb_endpoint::tls::TlsClient;
use afb_wsapi_codec::frame::{self, FrameDecoder, FrameEvent, OpCode};
use afb_wsapi_codec::Message as WsapiMessage;
use hdrhistogram::Histogram;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::Notify;
use tokio::task::{JoinHandle, LocalSet};

use crate::net::{self, HttpConn};
use crate::procs;
use crate::stats::{new_histogram, LoadResult};

/// The extra of a run with a failure: when the last one happened (milliseconds since the
/// Unix epoch).
pub const LAST_ERROR_EPOCH_MS: &str = "last_error_epoch_ms";

/// Warm-up and measured durations of one run.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Load applied before measuring.
    pub warmup: Duration,
    /// Measured window.
    pub duration: Duration,
}

/// State shared by the tasks of one run (single-threaded: `Cell`s).
pub struct Ctl {
    /// Inside the measured window.
    pub recording: Cell<bool>,
    /// The run is over: tasks stop issuing operations.
    pub stop: Cell<bool>,
    hist: RefCell<Histogram<u64>>,
    ops: Cell<u64>,
    errors: Cell<u64>,
    first_error: RefCell<Option<String>>,
    extra: RefCell<Vec<(String, f64)>>,
    /// When the last operation failed (wall clock: compared with events of other threads).
    last_error: Cell<Option<std::time::SystemTime>>,
}

impl Ctl {
    fn new() -> Self {
        Ctl {
            recording: Cell::new(false),
            stop: Cell::new(false),
            hist: RefCell::new(new_histogram()),
            ops: Cell::new(0),
            errors: Cell::new(0),
            first_error: RefCell::new(None),
            extra: RefCell::new(Vec::new()),
            last_error: Cell::new(None),
        }
    }

    /// One operation completed, started at `start`, done at `end`.
    #[inline]
    pub fn done(&self, start: Instant, end: Instant) {
        if self.recording.get() {
            self.ops.set(self.ops.get() + 1);
            let ns = end.saturating_duration_since(start).as_nanos() as u64;
            let _ = self.hist.borrow_mut().record(ns.max(1));
        }
    }

    /// One operation failed (counted in the window; the first message kept in any case).
    pub fn failed(&self, msg: impl FnOnce() -> String) {
        if self.recording.get() {
            self.errors.set(self.errors.get() + 1);
        }
        self.last_error.set(Some(std::time::SystemTime::now()));
        self.note_error(msg);
    }

    /// Keeps the first error message.
    pub fn note_error(&self, msg: impl FnOnce() -> String) {
        let mut fe = self.first_error.borrow_mut();
        if fe.is_none() {
            *fe = Some(msg());
        }
    }

    /// Adds `v` to the extra counter `key` (counted in the window only).
    pub fn count(&self, key: &str, v: f64) {
        if !self.recording.get() {
            return;
        }
        let mut ex = self.extra.borrow_mut();
        match ex.iter_mut().find(|(k, _)| k == key) {
            Some((_, x)) => *x += v,
            None => ex.push((key.to_owned(), v)),
        }
    }
}

/// Runs one load: `setup` opens the connections and spawns (with `spawn_local`) the tasks that
/// apply the load until `ctl.stop`; then warm-up, the measured window, and a short grace period
/// for the tasks to end. `server_pids` are the processes whose CPU share is measured.
pub fn run<S, Fut>(timing: Timing, server_pids: &[u32], setup: S) -> Result<LoadResult, String>
where
    S: FnOnce(Rc<Ctl>) -> Fut,
    Fut: Future<Output = Result<Vec<JoinHandle<()>>, String>>,
{
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))?;
    let local = LocalSet::new();
    local.block_on(&rt, async move {
        let ctl = Rc::new(Ctl::new());
        let tasks = setup(ctl.clone()).await?;
        tokio::time::sleep(timing.warmup).await;
        let server_cpu = || -> Option<f64> {
            let mut sum = 0.0;
            for p in server_pids {
                sum += procs::cpu_seconds(&p.to_string())?;
            }
            Some(sum)
        };
        let (l0, s0, m0) = (procs::cpu_seconds("self"), server_cpu(), procs::system_busy_seconds());
        let t0 = Instant::now();
        ctl.recording.set(true);
        tokio::time::sleep(timing.duration).await;
        ctl.recording.set(false);
        let elapsed = t0.elapsed();
        let (l1, s1, m1) = (procs::cpu_seconds("self"), server_cpu(), procs::system_busy_seconds());
        ctl.stop.set(true);
        let grace = tokio::time::sleep(Duration::from_secs(2));
        tokio::pin!(grace);
        for mut t in tasks {
            tokio::select! {
                _ = &mut t => {}
                _ = &mut grace => t.abort(),
            }
        }
        let secs = elapsed.as_secs_f64();
        let share = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) if secs > 0.0 => Some((b - a) / secs),
            _ => None,
        };
        let load_cpu = share(l0, l1);
        let server = if server_pids.is_empty() { None } else { share(s0, s1) };
        let other_cpu = match (share(m0, m1), load_cpu, server) {
            (Some(m), Some(l), Some(s)) => Some((m - l - s).max(0.0)),
            _ => None,
        };
        let mut extra = ctl.extra.borrow().clone();
        if let Some(t) = ctl.last_error.get() {
            let ms = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_millis();
            extra.push((LAST_ERROR_EPOCH_MS.into(), ms as f64));
        }
        let result = LoadResult {
            ops: ctl.ops.get(),
            errors: ctl.errors.get(),
            elapsed,
            hist: ctl.hist.borrow().clone(),
            load_cpu,
            server_cpu: server,
            other_cpu,
            first_error: ctl.first_error.borrow().clone(),
            extra,
        };
        Ok(result)
    })
}

/// Opens `n` connections with at most `parallel` connects at once.
async fn open_all<T, F, Fut>(n: usize, parallel: usize, open: F) -> Result<Vec<T>, String>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let mut out = Vec::with_capacity(n);
    let mut i = 0;
    while i < n {
        let batch = (i..n.min(i + parallel.max(1))).map(&open);
        for r in futures_util::future::join_all(batch).await {
            out.push(r?);
        }
        i += parallel.max(1);
    }
    Ok(out)
}

// ---- REST -------------------------------------------------------------------------------

/// Options of the REST load.
#[derive(Debug, Clone)]
pub struct RestOpts {
    /// Server address.
    pub addr: SocketAddr,
    /// Request path (with query).
    pub path: String,
    /// Keep-alive connections, one request in flight each.
    pub conns: usize,
    /// Send back the session cookie of the first reply (else every request is cookie-less).
    pub cookie: bool,
    /// HTTPS: the TLS client (trusting the server's CA).
    pub tls: Option<Arc<TlsClient>>,
    /// Also count as failed a 200 whose afb reply has another status than
    /// `success` (the binders answer `disconnected`, `timeout`... with 200).
    pub afb_status: bool,
}

/// REST load: `conns` keep-alive connections, each sending `GET path` and reading the whole
/// response, one at a time; reconnects when the server closes (counted as `reconnects`).
pub fn rest(opts: RestOpts, timing: Timing, server_pids: &[u32]) -> Result<LoadResult, String> {
    run(timing, server_pids, |ctl| async move {
        let host = opts.addr.to_string();
        let conns = open_all(opts.conns, 64, |_| async {
            net::connect_http(opts.addr, opts.tls.as_deref())
                .await
                .map(HttpConn::from_stream)
                .map_err(|e| format!("connect {}: {e}", opts.addr))
        })
        .await?;
        let opts = Rc::new(opts);
        Ok(conns
            .into_iter()
            .map(|c| {
                let (ctl, opts, host) = (ctl.clone(), opts.clone(), host.clone());
                tokio::task::spawn_local(async move { rest_conn(c, &ctl, &opts, &host).await })
            })
            .collect())
    })
}

async fn rest_conn(mut conn: HttpConn, ctl: &Ctl, opts: &RestOpts, host: &str) {
    conn.afb_status = opts.afb_status;
    let mut cookie: Option<String> = None;
    let mut req = net::get_request(&opts.path, host, None);
    while !ctl.stop.get() {
        conn.idle();
        let t0 = Instant::now();
        let r = match conn.stream.write_all(&req).await {
            Ok(()) => conn.read_response(opts.cookie && cookie.is_none()).await,
            Err(e) => Err(e),
        };
        let t1 = Instant::now();
        let reconnect = match r {
            Ok(resp) => {
                match (resp.status, resp.afb_error) {
                    (200, None) => ctl.done(t0, t1),
                    (200, Some(st)) => ctl.failed(|| format!("afb reply status {st}")),
                    (code, _) => ctl.failed(|| format!("HTTP status {code}")),
                }
                if let Some(c) = resp.cookie {
                    req = net::get_request(&opts.path, host, Some(&c));
                    cookie = Some(c);
                }
                resp.close
            }
            Err(e) => {
                ctl.failed(|| format!("REST request: {e}"));
                true
            }
        };
        if reconnect && !ctl.stop.get() {
            ctl.count("reconnects", 1.0);
            match net::connect_http(opts.addr, opts.tls.as_deref()).await {
                Ok(s) => {
                    conn = HttpConn::from_stream(s);
                    conn.afb_status = opts.afb_status;
                }
                Err(e) => {
                    ctl.note_error(|| format!("reconnect: {e}"));
                    return;
                }
            }
        }
    }
}

// ---- REST with wrk ------------------------------------------------------------------------

/// Options of the REST load driven by `wrk` (an independent, well-known generator).
#[derive(Debug, Clone)]
pub struct WrkOpts {
    /// Server address.
    pub addr: SocketAddr,
    /// Request path (with query).
    pub path: String,
    /// Keep-alive connections (`wrk -c`), all on one `wrk` thread (`-t1`).
    pub conns: usize,
    /// Extra request headers (`wrk -H`), such as `x-afb-uuid: UUID`.
    pub headers: Vec<String>,
}

/// Whole seconds for `wrk -d` (at least 1).
fn wrk_secs(d: Duration) -> u64 {
    d.as_secs_f64().ceil().max(1.0) as u64
}

/// A `wrk` latency (`226.00us`, `1.20ms`, `2.00s`) in µs.
fn wrk_us(v: &str) -> Option<f64> {
    let (num, scale) = if let Some(n) = v.strip_suffix("us") {
        (n, 1.0)
    } else if let Some(n) = v.strip_suffix("ms") {
        (n, 1e3)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1e6)
    } else {
        return None;
    };
    num.parse::<f64>().ok().map(|x| x * scale)
}

/// What `wrk --latency` printed: requests, seconds, errors (non-2xx/3xx responses and socket
/// errors) and the latency percentiles it gives (µs).
#[derive(Debug, Default, PartialEq)]
pub struct WrkOutput {
    /// Requests completed.
    pub requests: u64,
    /// Length of the run, s.
    pub seconds: f64,
    /// Non-2xx/3xx responses plus socket errors.
    pub errors: u64,
    /// (percentile, µs) of the latency distribution.
    pub latency: Vec<(f64, f64)>,
}

/// Parses the text `wrk --latency` prints.
pub fn parse_wrk(text: &str) -> Result<WrkOutput, String> {
    let mut out = WrkOutput::default();
    let mut found = false;
    for line in text.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            [n, "requests", "in", secs, ..] => {
                out.requests = n.parse().map_err(|_| format!("wrk: bad request count {n:?}"))?;
                out.seconds = wrk_us(secs.trim_end_matches(',')).map(|us| us / 1e6).unwrap_or(0.0);
                found = true;
            }
            [pct, v] if pct.ends_with('%') => {
                if let (Ok(p), Some(us)) = (pct.trim_end_matches('%').parse::<f64>(), wrk_us(v)) {
                    out.latency.push((p, us));
                }
            }
            ["Non-2xx", "or", "3xx", "responses:", n] => out.errors += n.parse::<u64>().unwrap_or(1),
            ["Socket", "errors:", rest @ ..] => {
                out.errors += rest
                    .iter()
                    .filter_map(|w| w.trim_end_matches(',').parse::<u64>().ok())
                    .sum::<u64>();
            }
            _ => {}
        }
    }
    if !found || out.seconds <= 0.0 {
        return Err(format!("wrk: no result in its output: {}", text.trim()));
    }
    Ok(out)
}

/// REST load by `wrk -t1 -cCONNS --latency` (which must be installed): a warm-up run, then
/// the measured run; its CPU share is that of the waited-for child.
pub fn wrk(opts: WrkOpts, timing: Timing, server_pids: &[u32]) -> Result<LoadResult, String> {
    let url = format!("http://{}{}", opts.addr, opts.path);
    let run_wrk = |secs: u64| -> Result<String, String> {
        let mut cmd = std::process::Command::new("wrk");
        cmd.arg("-t1")
            .arg(format!("-c{}", opts.conns))
            .arg(format!("-d{secs}s"))
            .arg("--latency");
        for h in &opts.headers {
            cmd.arg("-H").arg(h);
        }
        let out = cmd
            .arg(&url)
            .output()
            .map_err(|e| format!("wrk (apt-get install wrk): {e}"))?;
        if !out.status.success() {
            return Err(format!("wrk failed: {}", String::from_utf8_lossy(&out.stderr).trim()));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    if !timing.warmup.is_zero() {
        run_wrk(wrk_secs(timing.warmup))?;
    }
    let server_cpu = || -> Option<f64> {
        let mut sum = 0.0;
        for p in server_pids {
            sum += procs::cpu_seconds(&p.to_string())?;
        }
        Some(sum)
    };
    let (l0, s0, m0) = (
        procs::children_cpu_seconds(),
        server_cpu(),
        procs::system_busy_seconds(),
    );
    let t0 = Instant::now();
    let text = run_wrk(wrk_secs(timing.duration))?;
    let elapsed = t0.elapsed();
    let (l1, s1, m1) = (
        procs::children_cpu_seconds(),
        server_cpu(),
        procs::system_busy_seconds(),
    );
    let w = parse_wrk(&text)?;
    // CPU shares over wrk's whole process (its start and its connections included).
    let secs = elapsed.as_secs_f64();
    let share = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if secs > 0.0 => Some((b - a) / secs),
        _ => None,
    };
    let load_cpu = share(l0, l1);
    let server = if server_pids.is_empty() { None } else { share(s0, s1) };
    let other_cpu = match (share(m0, m1), load_cpu, server) {
        (Some(m), Some(l), Some(s)) => Some((m - l - s).max(0.0)),
        _ => None,
    };
    let extra = w
        .latency
        .iter()
        .map(|(p, us)| (format!("wrk_p{p:.0}_us"), *us))
        .collect();
    Ok(LoadResult {
        ops: w.requests,
        errors: w.errors,
        elapsed: Duration::from_secs_f64(w.seconds),
        // wrk gives percentiles, not each latency: they are in the extras.
        hist: new_histogram(),
        load_cpu,
        server_cpu: server,
        other_cpu,
        first_error: (w.errors > 0).then(|| format!("wrk: {} errors (non-2xx/3xx or socket)", w.errors)),
        extra,
    })
}

// ---- TLS handshakes ----------------------------------------------------------------------

/// Options of the handshake load.
#[derive(Debug, Clone)]
pub struct HandshakeOpts {
    /// Server address.
    pub addr: SocketAddr,
    /// Request path (with query).
    pub path: String,
    /// Connections made at once.
    pub conns: usize,
    /// The TLS client (full handshakes: no session resumption).
    pub tls: Arc<TlsClient>,
}

/// Handshake load: `conns` loops, each connecting, doing a full TLS handshake, sending one
/// `GET path`, reading the response and closing; one operation per connection.
pub fn handshakes(opts: HandshakeOpts, timing: Timing, server_pids: &[u32]) -> Result<LoadResult, String> {
    run(timing, server_pids, |ctl| async move {
        let opts = Rc::new(opts);
        let host = opts.addr.to_string();
        Ok((0..opts.conns)
            .map(|_| {
                let (ctl, opts, host) = (ctl.clone(), opts.clone(), host.clone());
                tokio::task::spawn_local(async move {
                    let req = net::get_request(&opts.path, &host, None);
                    while !ctl.stop.get() {
                        let t0 = Instant::now();
                        let r = async {
                            let s = net::connect_http(opts.addr, Some(&opts.tls)).await?;
                            let mut conn = HttpConn::from_stream(s);
                            conn.stream.write_all(&req).await?;
                            conn.read_response(false).await
                        }
                        .await;
                        match r {
                            Ok(resp) if resp.status == 200 => ctl.done(t0, Instant::now()),
                            Ok(resp) => ctl.failed(|| format!("HTTP status {}", resp.status)),
                            Err(e) => ctl.failed(|| format!("TLS connection: {e}")),
                        }
                    }
                })
            })
            .collect())
    })
}

// ---- x-afb-ws-json1 ---------------------------------------------------------------------

/// Options of the wsj1 load.
#[derive(Debug, Clone)]
pub struct Wsj1Opts {
    /// Server address.
    pub addr: SocketAddr,
    /// Upgrade path (the API root).
    pub path: String,
    /// Connections.
    pub conns: usize,
    /// Calls in flight on each connection.
    pub inflight: usize,
    /// `API/VERB` called.
    pub api_verb: String,
    /// Its argument (JSON text).
    pub args: String,
}

/// wsj1 load: `conns` WebSockets, each keeping `inflight` calls in flight; every reply is
/// answered by the next call on the same slot (the id is the slot number). Replies of a
/// plain echo server (the call itself echoed) count as successes, so that the load runs
/// unchanged against the echo baseline.
pub fn wsj1(opts: Wsj1Opts, timing: Timing, server_pids: &[u32]) -> Result<LoadResult, String> {
    if opts.inflight == 0 {
        return Err("--inflight must be at least 1".into());
    }
    let args: Box<afb_wsj1::RawValue> =
        afb_wsj1::serde_json::from_str(&opts.args).map_err(|e| format!("--args is not JSON: {e}"))?;
    run(timing, server_pids, |ctl| async move {
        let conns = open_all(opts.conns, 64, |_| async {
            net::ws_connect(opts.addr, &opts.path, Some("x-afb-ws-json1"), None)
                .await
                .map_err(|e| format!("WebSocket to {}{}: {e}", opts.addr, opts.path))
        })
        .await?;
        let mut tasks = Vec::new();
        for (i, (stream, leftover)) in conns.into_iter().enumerate() {
            let mask = net::mask_key(i as u64 + 1);
            let frames: Vec<Vec<u8>> = (0..opts.inflight)
                .map(|slot| {
                    let mut text = Vec::new();
                    afb_wsj1::write_call(&mut text, &slot.to_string(), &opts.api_verb, &*args, None);
                    let mut f = Vec::new();
                    net::masked_text(&text, mask, &mut f);
                    f
                })
                .collect();
            let ctl = ctl.clone();
            tasks.push(tokio::task::spawn_local(async move {
                if let Err(e) = wsj1_conn(stream, leftover, frames, mask, &ctl).await {
                    ctl.failed(|| format!("wsj1 connection: {e}"));
                }
            }));
        }
        Ok(tasks)
    })
}

async fn wsj1_conn(
    mut stream: tokio::net::TcpStream,
    leftover: Vec<u8>,
    frames: Vec<Vec<u8>>,
    mask: [u8; 4],
    ctl: &Ctl,
) -> io::Result<()> {
    let n = frames.len();
    let mut dec = FrameDecoder::new(net::MAX_MESSAGE);
    let mut sent_at = vec![Instant::now(); n];
    let mut in_flight = vec![false; n];
    let mut resend: Vec<usize> = (0..n).collect();
    let mut outstanding = 0usize;
    let mut out = Vec::with_capacity(frames.iter().map(Vec::len).sum::<usize>() + 256);
    let mut rbuf = vec![0u8; 64 * 1024];
    let mut input_owned = leftover;
    loop {
        // Send what is due, stamping the send time just before the write.
        if !resend.is_empty() || !out.is_empty() {
            if outstanding == 0 && input_owned.is_empty() && dec.is_idle() {
                // Every answer is in: nothing can be pending on the socket.
                net::clear_read_ready(&stream);
            }
            let now = Instant::now();
            for &slot in &resend {
                out.extend_from_slice(&frames[slot]);
                sent_at[slot] = now;
                in_flight[slot] = true;
                outstanding += 1;
            }
            resend.clear();
            stream.write_all(&out).await?;
            out.clear();
        }
        if ctl.stop.get() && outstanding == 0 {
            return Ok(());
        }
        let mut input: &[u8] = if input_owned.is_empty() {
            let k = stream.read(&mut rbuf).await?;
            if k == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed by the server"));
            }
            &rbuf[..k]
        } else {
            &input_owned
        };
        let now = Instant::now();
        while let Some(ev) = dec.decode(&mut input).map_err(|e| io_err(format!("framing: {e:?}")))? {
            match ev {
                FrameEvent::Text(t) => {
                    let (id, ok) = match afb_wsj1::decode(&t) {
                        Ok(afb_wsj1::Message::Reply(r)) => (r.id, r.success),
                        Ok(afb_wsj1::Message::Call(c)) => (c.id, true),
                        Ok(_) => continue,
                        Err(e) => return Err(io_err(format!("undecodable message {t:?}: {e}"))),
                    };
                    let slot = id.parse::<usize>().ok().filter(|&s| s < n && in_flight[s]);
                    let Some(slot) = slot else {
                        return Err(io_err(format!("reply for an unknown id {id:?}")));
                    };
                    in_flight[slot] = false;
                    outstanding -= 1;
                    if ok {
                        ctl.done(sent_at[slot], now);
                    } else {
                        ctl.failed(|| format!("error reply: {t}"));
                    }
                    if !ctl.stop.get() {
                        resend.push(slot);
                    }
                }
                FrameEvent::Ping(p) => frame::encode_frame(OpCode::Pong, true, &p, Some(mask), &mut out),
                FrameEvent::Close(c) => return Err(io_err(format!("closed by the server: {c:?}"))),
                FrameEvent::Pong(_) => {}
                FrameEvent::Binary(_) => return Err(io_err("unexpected binary message".into())),
            }
        }
        input_owned.clear();
    }
}

fn io_err(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

// ---- wsapi ------------------------------------------------------------------------------

/// Options of the wsapi load.
#[derive(Debug, Clone)]
pub struct WsapiOpts {
    /// The endpoint.
    pub addr: afb_endpoint::Connector,
    /// Connections.
    pub conns: usize,
    /// Calls in flight per connection (at most 4095).
    pub inflight: usize,
    /// Verb called.
    pub verb: String,
    /// Its argument (JSON text).
    pub args: String,
}

/// wsapi load: each connection offers version 1 (`V`), waits for `v`, then keeps `inflight`
/// `K` calls in flight (call ids 1..=inflight, reused on each `k` reply).
pub fn wsapi(opts: WsapiOpts, timing: Timing, server_pids: &[u32]) -> Result<LoadResult, String> {
    if opts.inflight == 0 || opts.inflight > afb_wsapi_codec::MAX_PENDING {
        return Err(format!("--inflight must be in 1..={}", afb_wsapi_codec::MAX_PENDING));
    }
    afb_wsj1::serde_json::from_str::<&afb_wsj1::RawValue>(&opts.args)
        .map_err(|e| format!("--args is not JSON: {e}"))?;
    run(timing, server_pids, |ctl| async move {
        let conns = open_all(opts.conns, 64, |_| async {
            opts.addr
                .connect()
                .await
                .map_err(|e| format!("wsapi connect {}: {e}", opts.addr.address()))
        })
        .await?;
        let frames: Rc<Vec<Vec<u8>>> = Rc::new(
            (0..opts.inflight)
                .map(|slot| {
                    let mut f = Vec::new();
                    afb_wsapi_codec::encode_framed(
                        &WsapiMessage::Call {
                            callid: slot as u16 + 1,
                            verb: &opts.verb,
                            sessionid: 0,
                            tokenid: 0,
                            args: &opts.args,
                            user_creds: None,
                        },
                        &mut f,
                    );
                    f
                })
                .collect(),
        );
        let mut tasks = Vec::new();
        for c in conns {
            let (ctl, frames) = (ctl.clone(), frames.clone());
            tasks.push(tokio::task::spawn_local(async move {
                if let Err(e) = wsapi_conn(c, &frames, &ctl).await {
                    ctl.failed(|| format!("wsapi connection: {e}"));
                }
            }));
        }
        Ok(tasks)
    })
}

async fn wsapi_conn<S: AsyncRead + AsyncWrite + Unpin>(mut s: S, frames: &[Vec<u8>], ctl: &Ctl) -> io::Result<()> {
    let n = frames.len();
    let mut out = Vec::with_capacity(frames.iter().map(Vec::len).sum::<usize>() + 64);
    afb_wsapi_codec::encode_framed(
        &WsapiMessage::VersionOffer {
            versions: &[afb_wsapi_codec::VERSION_1],
        },
        &mut out,
    );
    s.write_all(&out).await?;
    out.clear();
    let mut dec = FrameDecoder::new(net::MAX_MESSAGE);
    let mut rbuf = vec![0u8; 64 * 1024];
    let mut input_left: Vec<u8> = Vec::new();
    // Version answer first.
    'version: loop {
        let k = s.read(&mut rbuf).await?;
        if k == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "closed before the version answer",
            ));
        }
        let mut input = &rbuf[..k];
        while let Some(ev) = dec.decode(&mut input).map_err(|e| io_err(format!("framing: {e:?}")))? {
            if let FrameEvent::Binary(b) = ev {
                match afb_wsapi_codec::decode(&b) {
                    Ok(WsapiMessage::VersionSet(1)) => {
                        input_left.extend_from_slice(input);
                        break 'version;
                    }
                    other => return Err(io_err(format!("expected version 1 answer, got {other:?}"))),
                }
            }
        }
    }
    let mut sent_at = vec![Instant::now(); n];
    let mut in_flight = vec![false; n];
    let mut resend: Vec<usize> = (0..n).collect();
    let mut outstanding = 0usize;
    loop {
        if !resend.is_empty() || !out.is_empty() {
            let now = Instant::now();
            for &slot in &resend {
                out.extend_from_slice(&frames[slot]);
                sent_at[slot] = now;
                in_flight[slot] = true;
                outstanding += 1;
            }
            resend.clear();
            s.write_all(&out).await?;
            out.clear();
        }
        if ctl.stop.get() && outstanding == 0 {
            return Ok(());
        }
        let mut input: &[u8] = if input_left.is_empty() {
            let k = s.read(&mut rbuf).await?;
            if k == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed by the server"));
            }
            &rbuf[..k]
        } else {
            &input_left
        };
        let now = Instant::now();
        while let Some(ev) = dec.decode(&mut input).map_err(|e| io_err(format!("framing: {e:?}")))? {
            match ev {
                FrameEvent::Binary(b) => match afb_wsapi_codec::decode(&b) {
                    Ok(WsapiMessage::Reply { callid, error, .. }) => {
                        let slot = usize::from(callid).wrapping_sub(1);
                        if slot >= n || !in_flight[slot] {
                            return Err(io_err(format!("reply to an unknown call id {callid}")));
                        }
                        in_flight[slot] = false;
                        outstanding -= 1;
                        match error {
                            None => ctl.done(sent_at[slot], now),
                            Some(e) => ctl.failed(|| format!("error reply: {e}")),
                        }
                        if !ctl.stop.get() {
                            resend.push(slot);
                        }
                    }
                    Ok(_) => {}
                    Err(e) => return Err(io_err(format!("undecodable wsapi message: {e:?}"))),
                },
                FrameEvent::Ping(p) => frame::encode_pong(&p, &mut out),
                FrameEvent::Close(c) => return Err(io_err(format!("closed by the server: {c:?}"))),
                FrameEvent::Pong(_) => {}
                FrameEvent::Text(_) => return Err(io_err("unexpected text message".into())),
            }
        }
        input_left.clear();
    }
}

// ---- RPC v3 ------------------------------------------------------------------------------

/// Options of the RPC v3 load.
#[derive(Debug, Clone)]
pub struct RpcOpts {
    /// The endpoint (an `--rpc-server` socket).
    pub addr: afb_endpoint::Connector,
    /// Connections.
    pub conns: usize,
    /// Calls in flight per connection.
    pub inflight: usize,
    /// API called (empty: the link's default API).
    pub api: String,
    /// Verb called.
    pub verb: String,
    /// Its argument (JSON text).
    pub args: String,
}

/// RPC v3 load: each connection offers version 3, waits for the answer, then keeps `inflight`
/// CALL-REQUEST chunks in flight (call ids 1..=inflight, reused on each CALL-REPLY). A reply
/// with a status other than success counts as an error.
pub fn rpc(opts: RpcOpts, timing: Timing, server_pids: &[u32]) -> Result<LoadResult, String> {
    if opts.inflight == 0 || opts.inflight > 4095 {
        return Err("--inflight must be in 1..=4095".into());
    }
    afb_wsj1::serde_json::from_str::<&afb_wsj1::RawValue>(&opts.args)
        .map_err(|e| format!("--args is not JSON: {e}"))?;
    let frames: Vec<Vec<u8>> = (0..opts.inflight)
        .map(|slot| {
            let values = [afb_rpc_codec::Value::json(&opts.args)];
            let mut c = afb_rpc_codec::CallRequest::new(slot as u16 + 1, afb_rpc_codec::Verb::name(&opts.verb));
            if !opts.api.is_empty() {
                c.api = Some(afb_rpc_codec::Text::from(opts.api.as_str()));
            }
            c.values = afb_rpc_codec::Values::new(&values);
            afb_rpc_codec::encode_to_vec(&afb_rpc_codec::Message::CallRequest(c), slot as u16)
                .map_err(|e| format!("cannot encode the call: {e}"))
        })
        .collect::<Result<_, _>>()?;
    let frames = Rc::new(frames);
    run(timing, server_pids, |ctl| async move {
        let conns = open_all(opts.conns, 64, |_| async {
            opts.addr
                .connect()
                .await
                .map_err(|e| format!("rpc connect {}: {e}", opts.addr.address()))
        })
        .await?;
        let mut tasks = Vec::new();
        for c in conns {
            let (ctl, frames) = (ctl.clone(), frames.clone());
            tasks.push(tokio::task::spawn_local(async move {
                if let Err(e) = rpc_conn(c, &frames, &ctl).await {
                    ctl.failed(|| format!("rpc connection: {e}"));
                }
            }));
        }
        Ok(tasks)
    })
}

async fn rpc_conn<S: AsyncRead + AsyncWrite + Unpin>(mut s: S, frames: &[Vec<u8>], ctl: &Ctl) -> io::Result<()> {
    use afb_rpc_codec::{DecodeError, Message, Phase, StreamDecoder};
    let n = frames.len();
    s.write_all(&afb_rpc_codec::version::OFFER).await?;
    let mut dec = StreamDecoder::new();
    // Bytes read and not decoded yet; `start` is where the undecoded part begins.
    let mut buf: Vec<u8> = Vec::with_capacity(64 * 1024);
    let mut start = 0usize;
    let mut rbuf = vec![0u8; 64 * 1024];
    let mut out = Vec::with_capacity(frames.iter().map(Vec::len).sum::<usize>());
    let mut sent_at = vec![Instant::now(); n];
    let mut in_flight = vec![false; n];
    let mut resend: Vec<usize> = Vec::new();
    let mut outstanding = 0usize;
    let mut ready = false;
    loop {
        if ready && (!resend.is_empty()) {
            let now = Instant::now();
            for &slot in &resend {
                out.extend_from_slice(&frames[slot]);
                sent_at[slot] = now;
                in_flight[slot] = true;
                outstanding += 1;
            }
            resend.clear();
            s.write_all(&out).await?;
            out.clear();
        }
        if ready && ctl.stop.get() && outstanding == 0 {
            return Ok(());
        }
        let k = s.read(&mut rbuf).await?;
        if k == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed by the server"));
        }
        buf.extend_from_slice(&rbuf[..k]);
        let now = Instant::now();
        loop {
            let d = match dec.decode(&buf[start..]) {
                Ok(d) => d,
                Err(DecodeError::Incomplete { .. }) => break,
                Err(DecodeError::Fatal(e)) => return Err(io_err(format!("undecodable RPC message: {e}"))),
            };
            start += d.consumed;
            match d.message {
                Message::VersionSet { version: 3 } if !ready => {
                    dec.set_phase(Phase::Chunks);
                    ready = true;
                    resend.extend(0..n);
                }
                Message::VersionSet { version } => {
                    return Err(io_err(format!("unexpected version answer {version}")));
                }
                Message::CallReply(r) => {
                    let slot = usize::from(r.callid).wrapping_sub(1);
                    if slot >= n || !in_flight[slot] {
                        return Err(io_err(format!("reply to an unknown call id {}", r.callid)));
                    }
                    in_flight[slot] = false;
                    outstanding -= 1;
                    if afb_rpc_codec::status::is_success(r.status) {
                        ctl.done(sent_at[slot], now);
                    } else {
                        let status = r.status;
                        ctl.failed(|| format!("error reply: status {status}"));
                    }
                    if !ctl.stop.get() {
                        resend.push(slot);
                    }
                }
                _ => {}
            }
        }
        if start == buf.len() {
            buf.clear();
            start = 0;
        } else if start > 32 * 1024 {
            buf.drain(..start);
            start = 0;
        }
    }
}

// ---- event fan-out ----------------------------------------------------------------------

/// Options of the fan-out load.
#[derive(Debug, Clone)]
pub struct FanoutOpts {
    /// Server address.
    pub addr: SocketAddr,
    /// Upgrade path (the API root).
    pub path: String,
    /// Subscribed WebSocket clients.
    pub clients: usize,
    /// Pushes in flight (a push is complete when every client got it).
    pub window: usize,
    /// Event tag and name (unique per run).
    pub tag: String,
}

struct Fan {
    /// Send time and deliveries still expected, per push sequence number.
    pushes: RefCell<Vec<(Instant, usize)>>,
    completed: Cell<usize>,
    wake: Notify,
    complete_hist: RefCell<Histogram<u64>>,
}

/// Fan-out load: a controller creates event `hello/TAG` (`hello/eventadd`), `clients`
/// WebSockets subscribe to it (`hello/eventsub`), then the controller calls
/// `hello/eventpush` with data = a sequence number, keeping `window` pushes in flight (a push
/// is complete when every client received it). Each delivery is one operation; its latency is
/// from the push call's send to the client's receipt. Extra: `fanout_p50_us` / `fanout_p99_us`,
/// the time until the last client got a push, and `stalls` (pushes not fully delivered in
/// 5 s).
pub fn fanout(opts: FanoutOpts, timing: Timing, server_pids: &[u32]) -> Result<LoadResult, String> {
    let fan = Rc::new(Fan {
        pushes: RefCell::new(Vec::new()),
        completed: Cell::new(0),
        wake: Notify::new(),
        complete_hist: RefCell::new(new_histogram()),
    });
    let fan2 = fan.clone();
    let mut result = run(timing, server_pids, |ctl| async move {
        let fan = fan2;
        let ws = |i: usize| {
            let opts = &opts;
            async move {
                let (s, left) = net::ws_connect(opts.addr, &opts.path, Some("x-afb-ws-json1"), None)
                    .await
                    .map_err(|e| format!("WebSocket to {}{}: {e}", opts.addr, opts.path))?;
                Ok::<_, String>((
                    s,
                    FrameDecoder::new(net::MAX_MESSAGE),
                    left,
                    net::mask_key(i as u64 + 7),
                ))
            }
        };
        // The controller creates the event.
        let (mut cs, mut cdec, mut cpend, cmask) = ws(0).await?;
        let add = format!(r#"{{"tag":"{}","name":"{}"}}"#, opts.tag, opts.tag);
        let (ok, text) = net::wsj1_call_once(&mut cs, &mut cdec, &mut cpend, cmask, "add", "hello/eventadd", &add)
            .await
            .map_err(|e| format!("hello/eventadd: {e}"))?;
        if !ok {
            return Err(format!("hello/eventadd failed: {text}"));
        }
        // The clients subscribe.
        let sub = format!(r#"{{"tag":"{}"}}"#, opts.tag);
        let clients = open_all(opts.clients, 32, |i| {
            let ws = &ws;
            let sub = &sub;
            async move {
                let (mut s, mut dec, mut pend, mask) = ws(i + 1).await?;
                let (ok, text) = net::wsj1_call_once(&mut s, &mut dec, &mut pend, mask, "sub", "hello/eventsub", sub)
                    .await
                    .map_err(|e| format!("hello/eventsub: {e}"))?;
                if !ok {
                    return Err(format!("hello/eventsub failed: {text}"));
                }
                Ok((s, dec, pend))
            }
        })
        .await?;
        let mut tasks = Vec::new();
        for (s, dec, pend) in clients {
            let (ctl, fan) = (ctl.clone(), fan.clone());
            tasks.push(tokio::task::spawn_local(async move {
                if let Err(e) = fan_client(s, dec, pend, &ctl, &fan).await {
                    ctl.failed(|| format!("fan-out client: {e}"));
                }
            }));
        }
        let (rd, wr) = cs.into_split();
        let ctl2 = ctl.clone();
        tasks.push(tokio::task::spawn_local(async move {
            if let Err(e) = fan_controller_reader(rd, cdec, cpend, &ctl2).await {
                if !ctl2.stop.get() {
                    ctl2.failed(|| format!("fan-out controller: {e}"));
                }
            }
        }));
        let n = opts.clients;
        let (window, tag) = (opts.window.max(1), opts.tag.clone());
        let (ctl3, fan3) = (ctl.clone(), fan.clone());
        tasks.push(tokio::task::spawn_local(async move {
            if let Err(e) = fan_pusher(wr, cmask, n, window, &tag, &ctl3, &fan3).await {
                ctl3.failed(|| format!("fan-out pusher: {e}"));
            }
        }));
        Ok(tasks)
    })?;
    let h = fan.complete_hist.borrow();
    if !h.is_empty() {
        result.extra.push(("fanouts".into(), h.len() as f64));
        result
            .extra
            .push(("fanout_p50_us".into(), crate::stats::pct_us(&h, 50.0)));
        result
            .extra
            .push(("fanout_p99_us".into(), crate::stats::pct_us(&h, 99.0)));
    }
    Ok(result)
}

async fn fan_client(
    mut s: tokio::net::TcpStream,
    mut dec: FrameDecoder,
    pending: Vec<u8>,
    ctl: &Ctl,
    fan: &Fan,
) -> io::Result<()> {
    let mut rbuf = vec![0u8; 8 * 1024];
    let mut input_owned = pending;
    loop {
        if ctl.stop.get() {
            return Ok(());
        }
        let mut input: &[u8] = if input_owned.is_empty() {
            let k = s.read(&mut rbuf).await?;
            if k == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed by the server"));
            }
            &rbuf[..k]
        } else {
            &input_owned
        };
        let now = Instant::now();
        while let Some(ev) = dec.decode(&mut input).map_err(|e| io_err(format!("framing: {e:?}")))? {
            match ev {
                FrameEvent::Text(t) => {
                    let Ok(afb_wsj1::Message::Event(e)) = afb_wsj1::decode(&t) else {
                        continue;
                    };
                    let seq = e
                        .envelope()
                        .ok()
                        .and_then(|p| p.data)
                        .and_then(|d| d.get().parse::<usize>().ok());
                    let Some(seq) = seq else {
                        return Err(io_err(format!("unexpected event {t}")));
                    };
                    let mut pushes = fan.pushes.borrow_mut();
                    let Some((sent, left)) = pushes.get_mut(seq) else {
                        return Err(io_err(format!("event for an unknown push {seq}")));
                    };
                    ctl.done(*sent, now);
                    // A push marked stalled has 0 left: its late deliveries complete nothing.
                    if *left > 0 {
                        *left -= 1;
                        if *left == 0 {
                            if ctl.recording.get() {
                                let ns = now.saturating_duration_since(*sent).as_nanos() as u64;
                                let _ = fan.complete_hist.borrow_mut().record(ns.max(1));
                            }
                            fan.completed.set(fan.completed.get() + 1);
                            fan.wake.notify_one();
                        }
                    }
                }
                FrameEvent::Close(c) => return Err(io_err(format!("closed by the server: {c:?}"))),
                _ => {}
            }
        }
        input_owned.clear();
    }
}

async fn fan_controller_reader(
    mut rd: tokio::net::tcp::OwnedReadHalf,
    mut dec: FrameDecoder,
    pending: Vec<u8>,
    ctl: &Ctl,
) -> io::Result<()> {
    let mut rbuf = vec![0u8; 16 * 1024];
    let mut input_owned = pending;
    loop {
        let mut input: &[u8] = if input_owned.is_empty() {
            let k = rd.read(&mut rbuf).await?;
            if k == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed by the server"));
            }
            &rbuf[..k]
        } else {
            &input_owned
        };
        while let Some(ev) = dec.decode(&mut input).map_err(|e| io_err(format!("framing: {e:?}")))? {
            if let FrameEvent::Text(t) = ev {
                if let Ok(afb_wsj1::Message::Reply(r)) = afb_wsj1::decode(&t) {
                    if !r.success {
                        ctl.failed(|| format!("hello/eventpush failed: {t}"));
                    }
                }
            }
        }
        input_owned.clear();
    }
}

async fn fan_pusher(
    mut wr: tokio::net::tcp::OwnedWriteHalf,
    mask: [u8; 4],
    clients: usize,
    window: usize,
    tag: &str,
    ctl: &Ctl,
    fan: &Fan,
) -> io::Result<()> {
    let mut text = Vec::new();
    let mut out = Vec::new();
    while !ctl.stop.get() {
        while fan.pushes.borrow().len().saturating_sub(fan.completed.get()) < window {
            let seq = fan.pushes.borrow().len();
            text.clear();
            let args = format!(r#"{{"tag":"{tag}","data":{seq}}}"#);
            let raw: &afb_wsj1::RawValue =
                afb_wsj1::serde_json::from_str(&args).map_err(|e| io_err(format!("push args: {e}")))?;
            afb_wsj1::write_call(&mut text, &seq.to_string(), "hello/eventpush", raw, None);
            out.clear();
            net::masked_text(&text, mask, &mut out);
            fan.pushes.borrow_mut().push((Instant::now(), clients));
            wr.write_all(&out).await?;
        }
        let waited = tokio::time::timeout(Duration::from_secs(5), fan.wake.notified()).await;
        if waited.is_err() && !ctl.stop.get() {
            // Some deliveries never came: give up on the incomplete pushes to keep going.
            let mut pushes = fan.pushes.borrow_mut();
            for (_, left) in pushes.iter_mut().filter(|(_, left)| *left > 0) {
                *left = 0;
                ctl.count("stalls", 1.0);
                fan.completed.set(fan.completed.get() + 1);
            }
            ctl.note_error(|| "a push was not delivered to every client within 5 s".into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What wrk 4.2 printed against the daemon (`--latency`, an unknown verb for the errors).
    const OK: &str = "Running 1s test @ http://127.0.0.1:23456/api/hello/ping
  1 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.73ms    2.14ms  17.96ms   86.80%
    Req/Sec     3.56k     1.33k    5.53k    60.00%
  Latency Distribution
     50%    0.88ms
     75%    2.18ms
     90%    4.44ms
     99%   10.71ms
  3537 requests in 1.00s, 1.42MB read
Requests/sec:   3519.59
Transfer/sec:      1.42MB
";
    const ERRORS: &str = "  Latency Distribution
     50%  706.00us
     99%   28.63ms
  2443 requests in 1.01s, 0.91MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 2443
Requests/sec:   2408.14
";

    #[test]
    fn wrk_output_is_parsed() {
        let w = parse_wrk(OK).unwrap();
        assert_eq!((w.requests, w.errors), (3537, 0));
        assert!((w.seconds - 1.0).abs() < 1e-9);
        assert_eq!(
            w.latency,
            vec![(50.0, 880.0), (75.0, 2180.0), (90.0, 4440.0), (99.0, 10710.0)]
        );
        let e = parse_wrk(ERRORS).unwrap();
        assert_eq!((e.requests, e.errors), (2443, 2443 + 3));
        assert!((e.seconds - 1.01).abs() < 1e-9);
        assert_eq!(e.latency, vec![(50.0, 706.0), (99.0, 28630.0)]);
    }

    #[test]
    fn wrk_without_result_is_an_error() {
        assert!(parse_wrk("unable to connect to 127.0.0.1:1 Connection refused\n").is_err());
        assert!(parse_wrk("").is_err());
    }
}
