//! The benchmark suite: runs every scenario of the table (BENCHMARKS.md) with the servers
//! pinned to one CPU and the load to another, binder and baseline runs interleaved
//! (A B A B ...), and reports medians, spreads, latency percentiles, server CPU shares, the
//! ratio binder/baseline and PASS/FAIL against the targets. Also the memory, start-up and
//! binary-size measurements.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use clap::Args;
use serde_json::{json, Value};

use crate::load::{self, Timing};
use crate::net;
use crate::procs::{self, Scratch, Server, ServerCmd};
use crate::stats::{latency_json, merged, pct_us, LoadResult, Spread};
use crate::DaemonArgs;

/// Every scenario, in the order they run.
pub const SCENARIOS: &[&str] = &[
    "rest",
    "rest-wrk",
    "rest-new",
    "rest-tls",
    "handshakes",
    "wsj1",
    "wsj1-sync",
    "rest-metrics",
    "wsj1-metrics",
    "wsapi-front",
    "wsapi",
    "rpc-front",
    "rpc",
    "zenoh-front",
    "zenoh-replica",
    "fanout",
    "mem",
    "mem-sessions",
    "mem-ws",
    "startup",
    "size",
];

/// Options of `afb-bench suite`.
#[derive(Args, Clone)]
pub struct SuiteArgs {
    #[command(flatten)]
    daemon: DaemonArgs,
    /// CPU the load generator is pinned to.
    #[arg(long, default_value_t = 1)]
    load_cpu: usize,
    /// Do not pin anything.
    #[arg(long)]
    no_pin: bool,
    /// Warm-up seconds of each run.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Measured seconds of each run.
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Runs of each side (interleaved: binder, baseline, binder, ...).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Connections of the throughput scenarios.
    #[arg(long, default_value_t = 32)]
    conns: usize,
    /// Calls in flight per WebSocket in the pipelined scenarios.
    #[arg(long, default_value_t = 16)]
    inflight: usize,
    /// Subscribed clients of the fan-out scenario.
    #[arg(long, default_value_t = 1000)]
    fanout_clients: usize,
    /// Sessions created in the memory scenario.
    #[arg(long, default_value_t = 10_000)]
    sessions: usize,
    /// Idle WebSockets opened in the memory scenario.
    #[arg(long, default_value_t = 1000)]
    websockets: usize,
    /// Runs of the start-up scenario.
    #[arg(long, default_value_t = 20)]
    startup_runs: usize,
    /// Only these scenarios (comma-separated): rest, rest-wrk, rest-new, rest-tls, handshakes,
    /// wsj1, wsj1-sync, wsapi-front, wsapi, rpc-front, rpc, zenoh-front, zenoh-replica, fanout,
    /// mem, mem-sessions, mem-ws, startup, size.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Before each scenario, wait up to this many seconds for the machine to be quiet (less
    /// than --quiet-below busy, measured over 1 s); 0: do not wait.
    #[arg(long, default_value_t = 0.0)]
    wait_quiet: f64,
    /// Busy share (1.0 = one CPU) of the whole machine under which it counts as quiet.
    #[arg(long, default_value_t = 0.1)]
    quiet_below: f64,
    /// A run during which the rest of the machine used more than this share of a CPU is
    /// noisy: it is run again (at most --retries times).
    #[arg(long, default_value_t = 0.25)]
    noisy_above: f64,
    /// Extra attempts of a noisy run.
    #[arg(long, default_value_t = 2)]
    retries: usize,
    /// Use the batching echo server (`serve-echo --batch`) as the WebSocket baseline.
    #[arg(long)]
    echo_batch: bool,
    /// Check the load generator: run each baseline against itself instead of the daemon.
    #[arg(long)]
    baseline_only: bool,
    /// Print JSON instead of the Markdown tables.
    #[arg(long)]
    json: bool,
    /// Also write the Markdown report (or JSON with --json) to this file.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Also write the JSON report to this file.
    #[arg(long)]
    json_out: Option<PathBuf>,
}

/// The link between a front and a back daemon.
#[derive(Debug, Clone, Copy)]
enum Link {
    /// wsapi v1 (`--ws-server` / `--ws-client`).
    Wsapi,
    /// RPC v3 (`--rpc-server` / `--rpc-client`).
    Rpc,
}

/// How a scenario is judged.
#[derive(Debug, Clone, Copy)]
enum Target {
    /// Binder throughput / baseline throughput (medians) at least this.
    ThroughputAtLeast(f64),
    /// Binder p50 latency / baseline p50 latency (medians of the runs' p50) at most this.
    P50AtMost(f64),
    /// Reported only.
    None,
}

impl Target {
    fn text(self) -> String {
        match self {
            Target::ThroughputAtLeast(x) => format!(">= {x} x"),
            Target::P50AtMost(x) => format!("p50 <= {x} x"),
            Target::None => "report".into(),
        }
    }
}

/// The runs of one side of a scenario.
struct Side {
    label: String,
    runs: Vec<LoadResult>,
    error: Option<String>,
}

impl Side {
    fn new(label: &str) -> Side {
        Side {
            label: label.to_owned(),
            runs: Vec::new(),
            error: None,
        }
    }

    fn push(&mut self, r: Result<LoadResult, String>) {
        match r {
            Ok(r) => {
                eprintln!("    {:<34} {}", self.label, r.line());
                self.runs.push(r);
            }
            Err(e) => {
                eprintln!("    {:<34} ERROR {e}", self.label);
                self.error.get_or_insert(e);
            }
        }
    }

    fn throughput(&self) -> Option<Spread> {
        Spread::of(&self.runs.iter().map(LoadResult::throughput).collect::<Vec<_>>())
    }

    fn p50(&self) -> Option<Spread> {
        Spread::of(&self.runs.iter().map(|r| r.pct_us(50.0)).collect::<Vec<_>>())
    }

    fn server_cpu(&self) -> Option<Spread> {
        Spread::of(&self.runs.iter().filter_map(|r| r.server_cpu).collect::<Vec<_>>())
    }

    fn load_cpu(&self) -> Option<Spread> {
        Spread::of(&self.runs.iter().filter_map(|r| r.load_cpu).collect::<Vec<_>>())
    }

    fn other_cpu(&self) -> Option<Spread> {
        Spread::of(&self.runs.iter().filter_map(|r| r.other_cpu).collect::<Vec<_>>())
    }

    fn errors(&self) -> u64 {
        self.runs.iter().map(|r| r.errors).sum()
    }

    fn to_json(&self) -> Value {
        let h = merged(&self.runs);
        json!({
            "label": self.label,
            "throughput": self.throughput().map(Spread::to_json),
            "p50_us": self.p50().map(Spread::to_json),
            "latency_us_all_runs": latency_json(&h),
            "server_cpu": self.server_cpu().map(Spread::to_json),
            "load_cpu": self.load_cpu().map(Spread::to_json),
            "other_cpu": self.other_cpu().map(Spread::to_json),
            "errors": self.errors(),
            "error": self.error,
            "runs": self.runs.iter().map(LoadResult::to_json).collect::<Vec<_>>(),
        })
    }
}

/// One load scenario: a binder side and, for the compared ones, a baseline side.
struct Row {
    name: String,
    what: String,
    target: Target,
    sides: Vec<Side>,
    ratio: Option<f64>,
    verdict: String,
}

impl Row {
    fn judge(&mut self) {
        let (a, b) = (self.sides.first(), self.sides.get(1));
        if let Some(e) = a
            .and_then(|a| a.error.clone())
            .filter(|_| a.is_some_and(|a| a.runs.is_empty()))
        {
            self.verdict = format!("ERROR: {}", first_line(&e));
            return;
        }
        self.ratio = match (self.target, a, b) {
            (Target::ThroughputAtLeast(_), Some(a), Some(b)) => ratio(a.throughput(), b.throughput()),
            (Target::P50AtMost(_), Some(a), Some(b)) => ratio(a.p50(), b.p50()),
            _ => None,
        };
        let errors = a.map(Side::errors).unwrap_or(0);
        self.verdict = match (self.target, self.ratio) {
            (Target::None, _) if errors > 0 => format!("report ({errors} errors)"),
            (Target::None, _) => "report".into(),
            (_, None) => "ERROR: no ratio (a side has no result)".into(),
            (_, Some(_)) if errors > 0 => format!("FAIL ({errors} errors)"),
            (Target::ThroughputAtLeast(x), Some(r)) => pass_fail(r >= x),
            (Target::P50AtMost(x), Some(r)) => pass_fail(r <= x),
        };
    }

    fn to_json(&self) -> Value {
        json!({
            "scenario": self.name,
            "what": self.what,
            "target": self.target.text(),
            "ratio": self.ratio,
            "verdict": self.verdict,
            "sides": self.sides.iter().map(Side::to_json).collect::<Vec<_>>(),
        })
    }
}

fn ratio(a: Option<Spread>, b: Option<Spread>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b.median > 0.0 => Some(a.median / b.median),
        _ => None,
    }
}

fn pass_fail(ok: bool) -> String {
    if ok {
        "PASS".into()
    } else {
        "FAIL".into()
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}

/// A single measured value judged against a bound.
struct Scalar {
    name: String,
    value: Option<f64>,
    unit: String,
    target: Option<f64>,
    note: String,
}

impl Scalar {
    fn verdict(&self) -> String {
        match (self.value, self.target) {
            (None, _) => format!("ERROR: {}", self.note),
            (Some(_), None) => "report".into(),
            (Some(v), Some(t)) => pass_fail(v <= t),
        }
    }

    fn to_json(&self) -> Value {
        json!({
            "metric": self.name,
            "value": self.value,
            "unit": self.unit,
            "max": self.target,
            "verdict": self.verdict(),
            "note": self.note,
        })
    }
}

// ---- memory, start-up, size --------------------------------------------------------------

/// What `mem` measured.
pub struct MemResult {
    /// RSS after start-up, KiB.
    pub idle_kib: u64,
    /// Its anonymous part (heap, stacks), KiB.
    pub idle_anon_kib: Option<u64>,
    /// Anonymous part of the loaded RSS, KiB.
    pub loaded_anon_kib: Option<u64>,
    /// RSS with the sessions and WebSockets, KiB.
    pub loaded_kib: Option<u64>,
    /// Peak RSS (VmHWM) at the end, KiB.
    pub peak_kib: Option<u64>,
    /// Distinct session cookies received.
    pub sessions: usize,
    /// WebSockets open while measuring.
    pub websockets: usize,
    /// Problems met.
    pub note: String,
}

impl MemResult {
    /// One line for humans.
    pub fn line(&self) -> String {
        format!(
            "idle RSS {:.2} MiB (anonymous {} MiB); with {} sessions and {} idle WebSockets: RSS {} MiB (anonymous {} MiB), peak {} MiB{}",
            self.idle_kib as f64 / 1024.0,
            mib(self.idle_anon_kib),
            self.sessions,
            self.websockets,
            mib(self.loaded_kib),
            mib(self.loaded_anon_kib),
            mib(self.peak_kib),
            if self.note.is_empty() {
                String::new()
            } else {
                format!(" ({})", self.note)
            }
        )
    }

    /// JSON form.
    pub fn to_json(&self) -> Value {
        json!({
            "idle_kib": self.idle_kib,
            "idle_anon_kib": self.idle_anon_kib,
            "loaded_anon_kib": self.loaded_anon_kib,
            "loaded_kib": self.loaded_kib,
            "peak_kib": self.peak_kib,
            "sessions": self.sessions,
            "websockets": self.websockets,
            "note": self.note,
        })
    }
}

fn mib(k: Option<u64>) -> String {
    k.map(|k| format!("{:.2}", k as f64 / 1024.0))
        .unwrap_or_else(|| "?".into())
}

fn daemon_cmd(d: &DaemonArgs, name: &str, args: &[&str]) -> ServerCmd {
    let mut a: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    a.extend(d.daemon_args.iter().cloned());
    ServerCmd {
        name: name.to_owned(),
        program: d.daemon.clone(),
        args: a,
    }
}

fn local(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Starts the daemon with `--session-max max(SESSIONS, WEBSOCKETS)`, measures its idle RSS, creates `sessions`
/// sessions (cookie-less `GET /api/hello/ping`, distinct `Set-Cookie` values counted), opens
/// `websockets` idle WebSockets, and measures RSS again.
pub fn measure_mem(d: &DaemonArgs, sessions: usize, websockets: usize) -> Result<MemResult, String> {
    let scratch = Scratch::new("mem").map_err(|e| e.to_string())?;
    let port = procs::free_port().map_err(|e| e.to_string())?;
    let max = sessions.max(websockets).max(1).to_string();
    let cmd = daemon_cmd(d, "daemon-mem", &["--port", &port.to_string(), "--session-max", &max]);
    let mut srv = Server::spawn(&cmd, Some(d.server_cpu), &scratch.0)?;
    srv.wait_tcp(local(port), Duration::from_secs(10))?;
    std::thread::sleep(Duration::from_millis(500));
    let idle_kib = procs::rss_kib(srv.pid).ok_or("cannot read the daemon's RSS")?;
    let idle_anon_kib = procs::anon_rss_kib(srv.pid);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let pid = srv.pid;
    let mut note = String::new();
    let (cookies, ws, loaded, loaded_anon_kib, peak) = rt.block_on(async {
        let addr = local(port);
        let host = addr.to_string();
        // Sessions: cookie-less requests over 16 keep-alive connections.
        let per = sessions.div_ceil(16);
        let tasks = (0..16).map(|i| {
            let host = host.clone();
            async move {
                let mut seen = Vec::new();
                let todo = per.min(sessions.saturating_sub(i * per));
                let mut conn = None;
                let req = net::get_request("/api/hello/ping", &host, None);
                for _ in 0..todo {
                    if conn.is_none() {
                        conn = Some(net::HttpConn::new(net::connect_tcp(addr).await?));
                    }
                    let Some(c) = conn.as_mut() else { continue };
                    tokio::io::AsyncWriteExt::write_all(&mut c.stream, &req).await?;
                    let resp = c.read_response(true).await?;
                    if let Some(ck) = resp.cookie {
                        seen.push(ck);
                    }
                    if resp.close {
                        conn = None;
                    }
                }
                Ok::<_, std::io::Error>(seen)
            }
        });
        let mut cookies = HashSet::new();
        for r in futures_util::future::join_all(tasks).await {
            match r {
                Ok(v) => cookies.extend(v),
                Err(e) => {
                    let _ = write!(note, "session requests: {e}; ");
                }
            }
        }
        // Idle WebSockets.
        let mut ws = Vec::new();
        let mut i = 0;
        while i < websockets {
            let batch =
                (i..websockets.min(i + 64)).map(|_| net::ws_connect(addr, "/api", Some("x-afb-ws-json1"), None));
            for r in futures_util::future::join_all(batch).await {
                match r {
                    Ok(s) => ws.push(s),
                    Err(e) => {
                        if ws.is_empty() || note.len() < 200 {
                            let _ = write!(note, "WebSocket: {e}; ");
                        }
                    }
                }
            }
            i += 64;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let loaded = procs::rss_kib(pid);
        let loaded_anon = procs::anon_rss_kib(pid);
        let peak = procs::peak_rss_kib(pid);
        (cookies.len(), ws.len(), loaded, loaded_anon, peak)
    });
    if cookies < sessions {
        let _ = write!(note, "only {cookies} distinct sessions of {sessions} asked; ");
    }
    srv.check_alive()?;
    srv.stop();
    Ok(MemResult {
        idle_kib,
        idle_anon_kib,
        loaded_anon_kib,
        loaded_kib: loaded,
        peak_kib: peak,
        sessions: cookies,
        websockets: ws,
        note: note.trim_end_matches([';', ' ']).to_owned(),
    })
}

/// `mem-sessions` / `mem-ws`: anonymous memory (`RssAnon`) each session or each idle
/// WebSocket adds, measured alone: (loaded - idle) / count. Every WebSocket has a session of
/// its own, which its figure includes.
fn mem_alone(d: &DaemonArgs, sessions: usize, websockets: usize) -> Scalar {
    let (what, count, unit, scale, target) = if websockets == 0 {
        ("session", sessions, "bytes", 1024.0, 600.0)
    } else {
        ("idle WebSocket", websockets, "KiB", 1.0, 6.0)
    };
    let name = format!("anonymous memory per {what} ({count} alone)");
    let m = match measure_mem(d, sessions, websockets) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("    ERROR {e}");
            return Scalar {
                name,
                value: None,
                unit: unit.into(),
                target: Some(target),
                note: e,
            };
        }
    };
    eprintln!("    {}", m.line());
    let got = if websockets == 0 { m.sessions } else { m.websockets };
    let value = match (m.idle_anon_kib, m.loaded_anon_kib) {
        (Some(a), Some(b)) if got >= count && count > 0 => Some(b.saturating_sub(a) as f64 * scale / count as f64),
        _ => None,
    };
    let mut note = format!(
        "anonymous {} -> {} MiB with {} sessions, {} WebSockets",
        mib(m.idle_anon_kib),
        mib(m.loaded_anon_kib),
        m.sessions,
        m.websockets
    );
    if !m.note.is_empty() {
        let _ = write!(note, "; {}", m.note);
    }
    Scalar {
        name,
        value,
        unit: unit.into(),
        target: Some(target),
        note,
    }
}

/// What `startup` measured.
pub struct StartupResult {
    /// Each run, ms.
    pub runs_ms: Vec<f64>,
}

impl StartupResult {
    /// One line for humans.
    pub fn line(&self) -> String {
        match Spread::of(&self.runs_ms) {
            Some(s) => format!(
                "start-up to listening: median {:.2} ms (min {:.2}, max {:.2}, {} runs)",
                s.median,
                s.min,
                s.max,
                self.runs_ms.len()
            ),
            None => "start-up: no run".into(),
        }
    }

    /// JSON form.
    pub fn to_json(&self) -> Value {
        json!({
            "ms": Spread::of(&self.runs_ms).map(Spread::to_json),
            "runs_ms": self.runs_ms,
        })
    }
}

/// Time from spawning the daemon to its port accepting a connection, `runs` times. The daemon
/// is executed directly (no `taskset`, whose own exec would count), so it inherits this
/// process's CPU affinity; the poller sleeps 100 µs between connection attempts.
pub fn measure_startup(d: &DaemonArgs, runs: usize) -> Result<StartupResult, String> {
    let scratch = Scratch::new("startup").map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for i in 0..runs {
        let port = procs::free_port().map_err(|e| e.to_string())?;
        let cmd = daemon_cmd(d, &format!("daemon-startup-{i}"), &["--port", &port.to_string()]);
        let t0 = Instant::now();
        let mut srv = Server::spawn(&cmd, None, &scratch.0)?;
        let addr = local(port);
        loop {
            if std::net::TcpStream::connect(addr).is_ok() {
                break;
            }
            if t0.elapsed() > Duration::from_secs(10) {
                return Err(format!("the daemon does not listen after 10 s{}", srv.log_tail()));
            }
            srv.check_alive()?;
            std::thread::sleep(Duration::from_micros(100));
        }
        out.push(t0.elapsed().as_secs_f64() * 1000.0);
        srv.stop();
    }
    Ok(StartupResult { runs_ms: out })
}

/// Size of the binary and of a stripped copy, bytes.
fn measure_size(daemon: &Path) -> Result<(u64, u64), String> {
    let scratch = Scratch::new("size").map_err(|e| e.to_string())?;
    let full = std::fs::metadata(daemon)
        .map_err(|e| format!("{}: {e}", daemon.display()))?
        .len();
    let out = scratch.0.join("afb-daemon.stripped");
    let st = Command::new("strip")
        .arg("-o")
        .arg(&out)
        .arg(daemon)
        .status()
        .map_err(|e| format!("strip: {e}"))?;
    if !st.success() {
        return Err(format!("strip failed: {st}"));
    }
    let stripped = std::fs::metadata(&out).map_err(|e| e.to_string())?.len();
    Ok((full, stripped))
}

// ---- the suite ------------------------------------------------------------------------------

/// A load run against `(port, server pids)`.
type LoadFn<'a> = dyn Fn(u16, &[u32]) -> Result<LoadResult, String> + 'a;

struct Ctx {
    args: SuiteArgs,
    timing: Timing,
    me: PathBuf,
    scratch: Scratch,
    /// Certificates of the TLS scenarios (a CA and a server certificate for localhost),
    /// made when first needed.
    pki: std::sync::OnceLock<afb_testkit::certs::TestPki>,
}

impl Ctx {
    fn server_cpu(&self) -> Option<usize> {
        (!self.args.no_pin).then_some(self.args.daemon.server_cpu)
    }

    fn baseline(&self, kind: &str, name: &str, port: u16) -> ServerCmd {
        let mut args = vec![kind.to_owned(), "--port".into(), port.to_string()];
        if kind == "serve-echo" && self.args.echo_batch {
            args.push("--batch".into());
        }
        if self.args.no_pin {
            // Unpinned, the daemon runs a worker per CPU: so does the baseline.
            let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
            args.extend(["--workers".to_owned(), cpus.to_string()]);
        }
        ServerCmd {
            name: name.to_owned(),
            program: self.me.clone(),
            args,
        }
    }

    fn start(&self, cmd: &ServerCmd, port: u16) -> Result<Server, String> {
        let mut s = Server::spawn(cmd, self.server_cpu(), &self.scratch.0)?;
        s.wait_tcp(local(port), Duration::from_secs(10))?;
        Ok(s)
    }

    /// One run of `load`, run again (at most `--retries` times) while the rest of the machine
    /// was busy during it; waits for a quiet machine first when `--wait-quiet` is set.
    fn measure(&self, load: &dyn Fn() -> Result<LoadResult, String>) -> Result<LoadResult, String> {
        let mut attempt = 0;
        loop {
            wait_quiet(&self.args);
            let r = load()?;
            let other = r.other_cpu.unwrap_or(0.0);
            if other <= self.args.noisy_above || attempt >= self.args.retries {
                return Ok(r);
            }
            attempt += 1;
            eprintln!(
                "    (noisy run: the rest of the machine used {:.0}% of a CPU; running it again)",
                other * 100.0
            );
        }
    }

    /// Runs A and B interleaved (A B B A A B ...) `runs` times each with `load(port, pids)`.
    fn interleave(
        &self,
        a: &mut Side,
        a_target: (u16, Vec<u32>),
        b: &mut Side,
        b_target: (u16, Vec<u32>),
        load: &LoadFn<'_>,
    ) {
        // A B B A A B ...: each side runs first as often as second, so that a drift of the
        // machine during the scenario weighs on both alike.
        for i in 0..self.args.runs.max(1) {
            let order: [bool; 2] = if i % 2 == 0 { [true, false] } else { [false, true] };
            for first_a in order {
                if first_a {
                    a.push(self.measure(&|| load(a_target.0, &a_target.1)));
                } else {
                    b.push(self.measure(&|| load(b_target.0, &b_target.1)));
                }
                pause();
            }
        }
    }

    /// A binder-vs-baseline scenario where each side is one server.
    fn compared(&self, row: &mut Row, binder: ServerCmd, base: ServerCmd, ports: (u16, u16), load: &LoadFn<'_>) {
        let mut a = Side::new(&row.sides[0].label);
        let mut b = Side::new(&row.sides[1].label);
        let sa = self.start(&binder, ports.0);
        let sb = self.start(&base, ports.1);
        match (&sa, &sb) {
            (Ok(pa), Ok(pb)) => {
                let (pids_a, pids_b) = (vec![pa.pid], vec![pb.pid]);
                // A failed run says whether its server died, with the end of its log.
                let servers = std::cell::RefCell::new((sa, sb));
                let checked = |port: u16, pids: &[u32]| {
                    load(port, pids).map_err(|e| {
                        let mut s = servers.borrow_mut();
                        let server = if port == ports.0 { s.0.as_mut() } else { s.1.as_mut() };
                        match server.map(Server::check_alive) {
                            Ok(Err(dead)) => format!("{e}; {dead}"),
                            _ => e,
                        }
                    })
                };
                self.interleave(&mut a, (ports.0, pids_a), &mut b, (ports.1, pids_b), &checked);
                row.sides = vec![a, b];
                return;
            }
            (Err(e), Ok(sb)) => {
                a.error = Some(e.clone());
                eprintln!("    {:<34} ERROR {e}", a.label);
                for _ in 0..self.args.runs.max(1) {
                    b.push(self.measure(&|| load(ports.1, &[sb.pid])));
                    pause();
                }
            }
            (_, Err(e)) => {
                b.error = Some(e.clone());
                if let Err(ea) = &sa {
                    a.error = Some(ea.clone());
                }
            }
        }
        row.sides = vec![a, b];
    }

    fn rest_load(&self, cookie: bool) -> impl Fn(u16, &[u32]) -> Result<LoadResult, String> + '_ {
        move |port, pids| {
            load::rest(
                load::RestOpts {
                    addr: local(port),
                    path: "/api/hello/ping".into(),
                    conns: self.args.conns,
                    cookie,
                    tls: None,
                    afb_status: false,
                },
                self.timing,
                pids,
            )
        }
    }

    /// `wrk` with the session of one first request in an `x-afb-uuid` header (the raw hyper
    /// baseline ignores it).
    fn wrk_load(&self) -> impl Fn(u16, &[u32]) -> Result<LoadResult, String> + '_ {
        move |port, pids| {
            let uuid = first_session(local(port))?;
            load::wrk(
                load::WrkOpts {
                    addr: local(port),
                    path: "/api/hello/ping".into(),
                    conns: self.args.conns,
                    headers: uuid.map(|u| format!("x-afb-uuid: {u}")).into_iter().collect(),
                },
                self.timing,
                pids,
            )
        }
    }

    fn wsj1_load(&self, conns: usize, inflight: usize) -> impl Fn(u16, &[u32]) -> Result<LoadResult, String> + '_ {
        move |port, pids| {
            load::wsj1(
                load::Wsj1Opts {
                    addr: local(port),
                    path: "/api".into(),
                    conns,
                    inflight,
                    api_verb: "hello/ping".into(),
                    args: "null".into(),
                },
                self.timing,
                pids,
            )
        }
    }

    fn binder_label(&self, base: &str) -> String {
        if self.args.baseline_only {
            format!("{base} (as binder)")
        } else {
            "afb-daemon".into()
        }
    }

    /// `rest` (cookie sent back), `rest-new` (no cookie: a session per request, default
    /// `--session-max`) and `rest-wrk` (`wrk` as the generator, session in a header).
    fn row_rest(&self, kind: &str) -> Row {
        let (pa, pb) = (port(), port());
        let (what, target) = match kind {
            "rest-new" => (
                "no cookie: every request opens a session (default --session-max)",
                Target::ThroughputAtLeast(0.6),
            ),
            "rest-wrk" => (
                "load by wrk -t1, session in an x-afb-uuid header",
                Target::ThroughputAtLeast(0.9),
            ),
            _ => ("session cookie sent back", Target::ThroughputAtLeast(0.9)),
        };
        let mut row = Row {
            name: kind.into(),
            what: format!("HTTP GET /api/hello/ping, {} keep-alive conns, {what}", self.args.conns),
            target,
            sides: vec![
                Side::new(&self.binder_label("hyper")),
                Side::new("raw hyper (baseline)"),
            ],
            ratio: None,
            verdict: String::new(),
        };
        let binder = if self.args.baseline_only {
            self.baseline("serve-hyper", "hyper-as-binder", pa)
        } else {
            daemon_cmd(
                &self.args.daemon,
                &format!("daemon-{kind}"),
                &["--port", &pa.to_string()],
            )
        };
        let base = self.baseline("serve-hyper", "hyper", pb);
        match kind {
            "rest-wrk" => self.compared(&mut row, binder, base, (pa, pb), &self.wrk_load()),
            "rest-new" => self.compared(&mut row, binder, base, (pa, pb), &self.rest_load(false)),
            _ => self.compared(&mut row, binder, base, (pa, pb), &self.rest_load(true)),
        }
        row
    }

    fn pki(&self) -> &afb_testkit::certs::TestPki {
        self.pki.get_or_init(|| afb_testkit::certs::TestPki::new("bench"))
    }

    /// The HTTPS servers of the TLS scenarios: the daemon (`--https`) and raw hyper over
    /// tokio-rustls, with the same certificate.
    fn tls_servers(&self, pa: u16, pb: u16) -> (ServerCmd, ServerCmd) {
        let server = &self.pki().server;
        let (cert, key) = (server.cert.display().to_string(), server.key.display().to_string());
        let tls_args = |mut c: ServerCmd| {
            c.args
                .extend(["--cert".into(), cert.clone(), "--key".into(), key.clone()]);
            c
        };
        let binder = if self.args.baseline_only {
            tls_args(self.baseline("serve-hyper", "hyper-tls-as-binder", pa))
        } else {
            daemon_cmd(
                &self.args.daemon,
                "daemon-https",
                &[
                    "--port",
                    &pa.to_string(),
                    "--https",
                    "--tls-cert",
                    &cert,
                    "--tls-key",
                    &key,
                ],
            )
        };
        (binder, tls_args(self.baseline("serve-hyper", "hyper-tls", pb)))
    }

    fn row_rest_tls(&self) -> Row {
        let (pa, pb) = (port(), port());
        let mut row = Row {
            name: "rest-tls".into(),
            what: format!(
                "HTTPS GET /api/hello/ping, {} keep-alive conns (TLS 1.3)",
                self.args.conns
            ),
            target: Target::ThroughputAtLeast(0.75),
            sides: vec![
                Side::new(&self.binder_label("hyper-tls")),
                Side::new("raw hyper + rustls (baseline)"),
            ],
            ratio: None,
            verdict: String::new(),
        };
        let (binder, base) = self.tls_servers(pa, pb);
        let tls = match crate::tls_client(&self.pki().ca.cert, true) {
            Ok(t) => t,
            Err(e) => {
                row.sides[0].error = Some(e);
                return row;
            }
        };
        let load = move |port, pids: &[u32]| {
            load::rest(
                load::RestOpts {
                    addr: local(port),
                    path: "/api/hello/ping".into(),
                    conns: self.args.conns,
                    cookie: true,
                    tls: Some(tls.clone()),
                    afb_status: false,
                },
                self.timing,
                pids,
            )
        };
        self.compared(&mut row, binder, base, (pa, pb), &load);
        row
    }

    fn row_handshakes(&self) -> Row {
        let (pa, pb) = (port(), port());
        let conns = 8;
        let mut row = Row {
            name: "handshakes".into(),
            what: format!("new TLS connections (full handshake, no resumption) + 1 GET, {conns} at once"),
            target: Target::None,
            sides: vec![
                Side::new(&self.binder_label("hyper-tls")),
                Side::new("raw hyper + rustls (baseline)"),
            ],
            ratio: None,
            verdict: String::new(),
        };
        let (binder, base) = self.tls_servers(pa, pb);
        let tls = match crate::tls_client(&self.pki().ca.cert, false) {
            Ok(t) => t,
            Err(e) => {
                row.sides[0].error = Some(e);
                return row;
            }
        };
        let load = move |port, pids: &[u32]| {
            load::handshakes(
                load::HandshakeOpts {
                    addr: local(port),
                    path: "/api/hello/ping".into(),
                    conns,
                    tls: tls.clone(),
                },
                self.timing,
                pids,
            )
        };
        self.compared(&mut row, binder, base, (pa, pb), &load);
        row
    }

    fn row_wsj1(&self, sync: bool) -> Row {
        let (pa, pb) = (port(), port());
        let (conns, inflight) = if sync {
            (1, 1)
        } else {
            (self.args.conns, self.args.inflight)
        };
        let mut row = Row {
            name: if sync { "wsj1-sync" } else { "wsj1" }.into(),
            what: format!("x-afb-ws-json1 hello/ping, {conns} conns x {inflight} in flight"),
            target: if sync {
                Target::P50AtMost(1.0)
            } else {
                Target::ThroughputAtLeast(0.8)
            },
            sides: vec![
                Side::new(&self.binder_label("echo")),
                Side::new("raw WebSocket echo (baseline)"),
            ],
            ratio: None,
            verdict: String::new(),
        };
        let binder = if self.args.baseline_only {
            self.baseline("serve-echo", "echo-as-binder", pa)
        } else {
            daemon_cmd(&self.args.daemon, "daemon-wsj1", &["--port", &pa.to_string()])
        };
        let base = self.baseline("serve-echo", "echo", pb);
        self.compared(&mut row, binder, base, (pa, pb), &self.wsj1_load(conns, inflight));
        row
    }

    /// `rest-metrics` and `wsj1-metrics`: the cost of `--metrics`, the daemon with the metrics
    /// on against the same daemon without them, runs interleaved (issue 17: within 5 %).
    fn row_metrics(&self, kind: &str) -> Row {
        let (pa, pb) = (port(), port());
        let rest = kind == "rest-metrics";
        let what = if rest {
            format!(
                "HTTP GET /api/hello/ping, {} keep-alive conns, cookie sent back",
                self.args.conns
            )
        } else {
            format!(
                "x-afb-ws-json1 hello/ping, {} conns x {} in flight",
                self.args.conns, self.args.inflight
            )
        };
        let mut row = Row {
            name: kind.into(),
            what: format!("{what}: the daemon with --metrics against itself without"),
            target: Target::ThroughputAtLeast(0.95),
            sides: vec![Side::new("afb-daemon --metrics"), Side::new("afb-daemon (baseline)")],
            ratio: None,
            verdict: String::new(),
        };
        let on = daemon_cmd(
            &self.args.daemon,
            &format!("daemon-{kind}-on"),
            &["--port", &pa.to_string(), "--metrics"],
        );
        let off = daemon_cmd(
            &self.args.daemon,
            &format!("daemon-{kind}-off"),
            &["--port", &pb.to_string()],
        );
        if rest {
            self.compared(&mut row, on, off, (pa, pb), &self.rest_load(true));
        } else {
            let load = self.wsj1_load(self.args.conns, self.args.inflight);
            self.compared(&mut row, on, off, (pa, pb), &load);
        }
        row
    }

    /// Back daemon exporting hello on a unix socket, front daemon importing it, linked by
    /// `link`: wsapi v1 (`--ws-server` / `--ws-client`) or RPC v3 (`--rpc-server` /
    /// `--rpc-client`).
    fn start_front_back(&self, link: Link) -> Result<(Server, u16, Server, u16, PathBuf), String> {
        let (pb, pf) = (port(), port());
        let (server, client, dir) = match link {
            Link::Wsapi => ("--ws-server", "--ws-client", "wsapi"),
            Link::Rpc => ("--rpc-server", "--rpc-client", "rpc"),
        };
        // The socket file is named after the API it serves.
        let dir = self.scratch.0.join(dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let sock = dir.join("hello");
        let uri = format!("unix:{}", sock.display());
        let back = daemon_cmd(
            &self.args.daemon,
            "daemon-back",
            &["--port", &pb.to_string(), server, &uri],
        );
        let mut b = self.start(&back, pb)?;
        b.wait_unix(&sock, Duration::from_secs(10))?;
        let front = daemon_cmd(
            &self.args.daemon,
            "daemon-front",
            &["--port", &pf.to_string(), client, &uri],
        );
        let f = self.start(&front, pf)?;
        Ok((b, pb, f, pf, sock))
    }

    fn row_front(&self, link: Link) -> Row {
        let (name, via, target) = match link {
            Link::Wsapi => ("wsapi-front", "wsapi", 0.75),
            Link::Rpc => ("rpc-front", "RPC v3", 0.6),
        };
        let mut row = Row {
            name: name.into(),
            what: format!(
                "hello/ping over x-afb-ws-json1, {} x {}: front -> unix {via} -> back, vs back direct",
                self.args.conns, self.args.inflight
            ),
            target: Target::ThroughputAtLeast(target),
            sides: vec![
                Side::new(&format!("front -> {via} -> back")),
                Side::new("back direct (baseline)"),
            ],
            ratio: None,
            verdict: String::new(),
        };
        match self.start_front_back(link) {
            Ok((b, pb, f, pf, _)) => {
                let (mut sa, mut sb) = (Side::new(&row.sides[0].label), Side::new(&row.sides[1].label));
                let l = self.wsj1_load(self.args.conns, self.args.inflight);
                self.interleave(&mut sa, (pf, vec![f.pid, b.pid]), &mut sb, (pb, vec![b.pid]), &l);
                row.sides = vec![sa, sb];
            }
            Err(e) => {
                eprintln!("    ERROR {e}");
                row.sides[0].error = Some(e);
            }
        }
        row
    }

    /// The Zenoh configuration of the benchmark's binders: peer mode, loopback endpoints
    /// only (no multicast scouting).
    fn zenoh_config(&self) -> Result<PathBuf, String> {
        let p = self.scratch.0.join("zenoh.json5");
        std::fs::write(
            &p,
            "{ mode: \"peer\", scouting: { multicast: { enabled: false }, gossip: { enabled: true } } }\n",
        )
        .map_err(|e| format!("{}: {e}", p.display()))?;
        Ok(p)
    }

    /// A back exporting hello over Zenoh, listening on `zport`, connected to `connect`.
    fn start_zenoh_back(&self, name: &str, zport: u16, connect: &[u16]) -> Result<(Server, u16), String> {
        let cfg = self.zenoh_config()?;
        let (pb, listen) = (port(), format!("tcp/127.0.0.1:{zport}"));
        let mut args = vec![
            "--port".to_owned(),
            pb.to_string(),
            "--zenoh-config".into(),
            cfg.display().to_string(),
            "--zenoh-listen".into(),
            listen,
            "--zenoh-export".into(),
            "hello".into(),
        ];
        for c in connect {
            args.push("--zenoh-connect".into());
            args.push(format!("tcp/127.0.0.1:{c}"));
        }
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        Ok((self.start(&daemon_cmd(&self.args.daemon, name, &a), pb)?, pb))
    }

    /// A front importing hello over Zenoh from the backs at `connect`, serving it once a
    /// replica is known.
    fn start_zenoh_front(&self, connect: &[u16]) -> Result<(Server, u16), String> {
        let cfg = self.zenoh_config()?;
        let pf = port();
        let mut args = vec![
            "--port".to_owned(),
            pf.to_string(),
            "--zenoh-config".into(),
            cfg.display().to_string(),
            "--zenoh-import".into(),
            "hello".into(),
        ];
        for c in connect {
            args.push("--zenoh-connect".into());
            args.push(format!("tcp/127.0.0.1:{c}"));
        }
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let f = self.start(&daemon_cmd(&self.args.daemon, "daemon-zenoh-front", &a), pf)?;
        let deadline = Instant::now() + Duration::from_secs(20);
        while !net::http_ping(local(pf), "/api/hello/ping") {
            if Instant::now() > deadline {
                return Err("the Zenoh front does not serve hello/ping after 20 s".into());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok((f, pf))
    }

    /// wsj1 clients -> front -> Zenoh -> back, against the same through wsapi (both set up
    /// at once, runs interleaved).
    fn row_zenoh_front(&self) -> Row {
        let mut row = Row {
            name: "zenoh-front".into(),
            what: format!(
                "hello/ping over x-afb-ws-json1, {} x {}: front -> Zenoh (TCP loopback) -> back, vs the same with unix wsapi",
                self.args.conns, self.args.inflight
            ),
            target: Target::ThroughputAtLeast(0.5),
            sides: vec![
                Side::new("front -> Zenoh -> back"),
                Side::new("front -> wsapi -> back (baseline)"),
            ],
            ratio: None,
            verdict: String::new(),
        };
        let zenoh = (|| {
            let zp = port();
            let (b, _) = self.start_zenoh_back("daemon-zenoh-back", zp, &[])?;
            let (f, pf) = self.start_zenoh_front(&[zp])?;
            Ok::<_, String>((b, f, pf))
        })();
        match (zenoh, self.start_front_back(Link::Wsapi)) {
            (Ok((zb, zf, zpf)), Ok((wb, _, wf, wpf, _))) => {
                let (mut sa, mut sb) = (Side::new(&row.sides[0].label), Side::new(&row.sides[1].label));
                let l = self.wsj1_load(self.args.conns, self.args.inflight);
                self.interleave(
                    &mut sa,
                    (zpf, vec![zf.pid, zb.pid]),
                    &mut sb,
                    (wpf, vec![wf.pid, wb.pid]),
                    &l,
                );
                row.sides = vec![sa, sb];
            }
            (Err(e), _) | (_, Err(e)) => {
                eprintln!("    ERROR {e}");
                row.sides[0].error = Some(e);
            }
        }
        row
    }

    /// REST clients with sessions -> front -> Zenoh -> two backs; one back is killed
    /// (SIGKILL) in the middle of each run: the failed calls are counted and the recovery
    /// time (kill to last failure) reported.
    fn row_zenoh_replica(&self) -> Row {
        let label = "front -> Zenoh -> 2 backs, one killed mid-run";
        let mut row = Row {
            name: "zenoh-replica".into(),
            what: format!(
                "hello/ping over REST, {} conns with sessions: front -> Zenoh -> 2 replicas, one SIGKILLed at mid-run",
                self.args.conns
            ),
            target: Target::None,
            sides: vec![Side::new(label)],
            ratio: None,
            verdict: String::new(),
        };
        let mut side = Side::new(label);
        for _ in 0..self.args.runs.max(1) {
            let run = (|| {
                let (z1, z2) = (port(), port());
                let (b1, _) = self.start_zenoh_back("daemon-zenoh-back1", z1, &[])?;
                let (b2, _) = self.start_zenoh_back("daemon-zenoh-back2", z2, &[z1])?;
                let (f, pf) = self.start_zenoh_front(&[z1, z2])?;
                // Both replicas known before the run.
                std::thread::sleep(Duration::from_secs(1));
                let at = self.timing.warmup + self.timing.duration / 2;
                let killer = std::thread::spawn(move || {
                    let mut b1 = b1;
                    std::thread::sleep(at);
                    b1.kill();
                    std::time::SystemTime::now()
                });
                let r = load::rest(
                    load::RestOpts {
                        addr: local(pf),
                        path: "/api/hello/ping".into(),
                        conns: self.args.conns,
                        cookie: true,
                        tls: None,
                        afb_status: true,
                    },
                    self.timing,
                    &[f.pid, b2.pid],
                );
                let killed = killer.join().map_err(|_| "the killer thread panicked".to_owned())?;
                let mut r = r?;
                let killed_ms = killed
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_millis() as f64;
                let last = r
                    .extra
                    .iter()
                    .find(|(k, _)| k == load::LAST_ERROR_EPOCH_MS)
                    .map(|(_, v)| *v);
                r.extra.retain(|(k, _)| k != load::LAST_ERROR_EPOCH_MS);
                let recovery = last.map(|l| ((l - killed_ms) / 1000.0).max(0.0)).unwrap_or(0.0);
                r.extra.push(("recovery_s".into(), recovery));
                drop((f, b2));
                Ok::<_, String>(r)
            })();
            side.push(run);
            pause();
        }
        row.sides = vec![side];
        row
    }

    /// Calls straight on the back's unix socket, over `link`: 1 connection x --inflight.
    fn row_direct(&self, link: Link) -> Row {
        let (name, what, label) = match link {
            Link::Wsapi => ("wsapi", "wsapi ping", "afb-daemon --ws-server"),
            Link::Rpc => ("rpc", "RPC v3 hello/ping", "afb-daemon --rpc-server"),
        };
        let mut row = Row {
            name: name.into(),
            what: format!(
                "{what} on the back's unix socket, 1 conn x {} in flight",
                self.args.inflight
            ),
            target: Target::None,
            sides: vec![Side::new(label)],
            ratio: None,
            verdict: String::new(),
        };
        match self.start_front_back(link) {
            Ok((b, _, _f, _, sock)) => {
                let mut s = Side::new(label);
                let addr = afb_endpoint::Connector::unix(&sock);
                for _ in 0..self.args.runs.max(1) {
                    s.push(self.measure(&|| match link {
                        Link::Wsapi => load::wsapi(
                            load::WsapiOpts {
                                addr: addr.clone(),
                                conns: 1,
                                inflight: self.args.inflight,
                                verb: "ping".into(),
                                args: "null".into(),
                            },
                            self.timing,
                            &[b.pid],
                        ),
                        Link::Rpc => load::rpc(
                            load::RpcOpts {
                                addr: addr.clone(),
                                conns: 1,
                                inflight: self.args.inflight,
                                api: "hello".into(),
                                verb: "ping".into(),
                                args: "null".into(),
                            },
                            self.timing,
                            &[b.pid],
                        ),
                    }));
                    pause();
                }
                row.sides = vec![s];
            }
            Err(e) => {
                eprintln!("    ERROR {e}");
                row.sides[0].error = Some(e);
            }
        }
        row
    }

    fn row_fanout(&self) -> Row {
        let mut row = Row {
            name: "fanout".into(),
            what: format!(
                "hello/eventpush reaching {} subscribed WebSockets, one push at a time; ops = deliveries",
                self.args.fanout_clients
            ),
            target: Target::None,
            sides: vec![Side::new("afb-daemon")],
            ratio: None,
            verdict: String::new(),
        };
        let p = port();
        // Every WebSocket client has its own session: room for all of them.
        let max = (self.args.fanout_clients + 100).to_string();
        let cmd = daemon_cmd(
            &self.args.daemon,
            "daemon-fanout",
            &["--port", &p.to_string(), "--session-max", &max],
        );
        match self.start(&cmd, p) {
            Ok(s) => {
                let mut side = Side::new(&row.sides[0].label);
                for run in 0..self.args.runs.max(1) {
                    side.push(self.measure(&|| {
                        load::fanout(
                            load::FanoutOpts {
                                addr: local(p),
                                path: "/api".into(),
                                clients: self.args.fanout_clients,
                                window: 1,
                                tag: format!("fan{run}"),
                            },
                            self.timing,
                            &[s.pid],
                        )
                    }));
                    pause();
                }
                row.sides = vec![side];
            }
            Err(e) => {
                eprintln!("    ERROR {e}");
                row.sides[0].error = Some(e);
            }
        }
        row
    }
}

/// The session uuid the server at `addr` gives a first cookie-less `GET /api/hello/ping`
/// (`None` when it sets no `x-afb-uuid-PORT` cookie).
fn first_session(addr: SocketAddr) -> Result<Option<String>, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        let mut c = net::HttpConn::new(net::connect_tcp(addr).await.map_err(|e| e.to_string())?);
        let req = net::get_request("/api/hello/ping", &addr.to_string(), None);
        tokio::io::AsyncWriteExt::write_all(&mut c.stream, &req)
            .await
            .map_err(|e| e.to_string())?;
        let resp = c.read_response(true).await.map_err(|e| e.to_string())?;
        Ok(resp.cookie.and_then(|c| c.split_once('=').map(|(_, v)| v.to_owned())))
    })
}

/// Waits (at most `--wait-quiet` seconds) until the machine is quiet.
fn wait_quiet(args: &SuiteArgs) {
    if args.wait_quiet <= 0.0 {
        return;
    }
    let t0 = Instant::now();
    loop {
        let busy = procs::system_busy_share(Duration::from_millis(500)).unwrap_or(0.0);
        if busy < args.quiet_below {
            return;
        }
        if t0.elapsed().as_secs_f64() > args.wait_quiet {
            eprintln!(
                "    (machine still busy: {:.0}% of a CPU; running anyway)",
                busy * 100.0
            );
            return;
        }
    }
}

fn port() -> u16 {
    procs::free_port().unwrap_or(0)
}

fn pause() {
    std::thread::sleep(Duration::from_millis(300));
}

fn machine() -> Value {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default().trim().to_owned();
    let cpu = read("/proc/cpuinfo")
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_default();
    let cmd = |c: &str, a: &[&str]| {
        Command::new(c)
            .args(a)
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default()
    };
    json!({
        "cpu": cpu,
        "cpus": read("/proc/cpuinfo").lines().filter(|l| l.starts_with("processor")).count(),
        "kernel": read("/proc/sys/kernel/osrelease"),
        "rustc": cmd("rustc", &["--version"]),
        "loadavg": read("/proc/loadavg"),
    })
}

/// Runs the suite; exit code 0 when every target is met, 1 otherwise.
pub fn run_suite(args: SuiteArgs) -> Result<ExitCode, String> {
    if !args.no_pin {
        procs::pin_self(args.load_cpu);
    }
    for s in &args.only {
        if !SCENARIOS.contains(&s.as_str()) {
            return Err(format!("unknown scenario {s:?} (known: {})", SCENARIOS.join(", ")));
        }
    }
    let mut args = args;
    if !args.baseline_only {
        args.daemon.daemon = std::fs::canonicalize(&args.daemon.daemon)
            .map_err(|e| format!("daemon binary {}: {e}", args.daemon.daemon.display()))?;
    }
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let timing = Timing {
        warmup: crate::secs(args.warmup)?,
        duration: crate::secs(args.duration)?,
    };
    let ctx = Ctx {
        timing,
        me,
        scratch: Scratch::new("suite").map_err(|e| e.to_string())?,
        args,
        pki: std::sync::OnceLock::new(),
    };
    let want = |s: &str| ctx.args.only.is_empty() || ctx.args.only.iter().any(|o| o == s);
    let started = machine();
    eprintln!(
        "afb-bench suite: load on CPUs {}, servers on CPU {}, loadavg {}",
        procs::allowed_cpus(),
        ctx.args.daemon.server_cpu,
        started["loadavg"].as_str().unwrap_or("?")
    );
    let mut rows = Vec::new();
    let mut scalars = Vec::new();
    let daemon_needed = |s: &str| {
        if ctx.args.baseline_only {
            eprintln!("== {s}: skipped (needs the daemon; --baseline-only)");
            false
        } else {
            true
        }
    };
    let mut step = |name: &str, f: &dyn Fn() -> Row| {
        if want(name) {
            eprintln!("== {name}");
            let mut r = f();
            r.judge();
            eprintln!("   -> {}", r.verdict);
            rows.push(r);
        }
    };
    step("rest", &|| ctx.row_rest("rest"));
    step("rest-wrk", &|| ctx.row_rest("rest-wrk"));
    step("rest-new", &|| ctx.row_rest("rest-new"));
    step("rest-tls", &|| ctx.row_rest_tls());
    step("handshakes", &|| ctx.row_handshakes());
    step("wsj1", &|| ctx.row_wsj1(false));
    step("wsj1-sync", &|| ctx.row_wsj1(true));
    for kind in ["rest-metrics", "wsj1-metrics"] {
        if want(kind) && daemon_needed(kind) {
            step(kind, &|| ctx.row_metrics(kind));
        }
    }
    if want("wsapi-front") && daemon_needed("wsapi-front") {
        step("wsapi-front", &|| ctx.row_front(Link::Wsapi));
    }
    if want("wsapi") && daemon_needed("wsapi") {
        step("wsapi", &|| ctx.row_direct(Link::Wsapi));
    }
    if want("rpc-front") && daemon_needed("rpc-front") {
        step("rpc-front", &|| ctx.row_front(Link::Rpc));
    }
    if want("rpc") && daemon_needed("rpc") {
        step("rpc", &|| ctx.row_direct(Link::Rpc));
    }
    if want("zenoh-front") && daemon_needed("zenoh-front") {
        step("zenoh-front", &|| ctx.row_zenoh_front());
    }
    if want("zenoh-replica") && daemon_needed("zenoh-replica") {
        step("zenoh-replica", &|| ctx.row_zenoh_replica());
    }
    if want("fanout") && daemon_needed("fanout") {
        step("fanout", &|| ctx.row_fanout());
    }
    if want("mem") && daemon_needed("mem") {
        eprintln!("== mem");
        let m = measure_mem(&ctx.args.daemon, ctx.args.sessions, ctx.args.websockets);
        let (idle, loaded, note) = match &m {
            Ok(m) => {
                eprintln!("    {}", m.line());
                (
                    Some(m.idle_kib as f64 / 1024.0),
                    m.loaded_kib.map(|k| k as f64 / 1024.0),
                    m.note.clone(),
                )
            }
            Err(e) => {
                eprintln!("    ERROR {e}");
                (None, None, e.clone())
            }
        };
        let anon =
            |k: Option<u64>| k.map(|k| format!("anonymous {:.2} MiB, the rest is mapped code", k as f64 / 1024.0));
        let idle_note = [m.as_ref().ok().and_then(|m| anon(m.idle_anon_kib)), Some(note.clone())]
            .into_iter()
            .flatten()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("; ");
        scalars.push(Scalar {
            name: "idle RSS".into(),
            value: idle,
            unit: "MiB".into(),
            target: Some(6.0),
            note: idle_note,
        });
        let (s, w) = m.as_ref().map(|m| (m.sessions, m.websockets)).unwrap_or((0, 0));
        let mut n = format!("{s} sessions, {w} WebSockets open");
        if let Ok(m) = &m {
            let _ = write!(
                n,
                "; peak {} MiB; anonymous {} MiB",
                mib(m.peak_kib),
                mib(m.loaded_anon_kib)
            );
        }
        if !note.is_empty() {
            let _ = write!(n, "; {note}");
        }
        let full = s >= ctx.args.sessions && w >= ctx.args.websockets;
        scalars.push(Scalar {
            name: format!(
                "RSS with {} sessions + {} idle WebSockets",
                ctx.args.sessions, ctx.args.websockets
            ),
            value: if full { loaded } else { None },
            unit: "MiB".into(),
            target: Some(64.0),
            note: n,
        });
    }
    for (name, sessions, websockets) in [
        ("mem-sessions", ctx.args.sessions, 0),
        ("mem-ws", 0, ctx.args.websockets),
    ] {
        if want(name) && daemon_needed(name) {
            eprintln!("== {name}");
            scalars.push(mem_alone(&ctx.args.daemon, sessions, websockets));
        }
    }
    if want("startup") && daemon_needed("startup") {
        eprintln!("== startup");
        match measure_startup(&ctx.args.daemon, ctx.args.startup_runs) {
            Ok(s) => {
                eprintln!("    {}", s.line());
                let sp = Spread::of(&s.runs_ms);
                scalars.push(Scalar {
                    name: "start-up to listening (median)".into(),
                    value: sp.map(|s| s.median),
                    unit: "ms".into(),
                    target: Some(50.0),
                    note: sp
                        .map(|sp| format!("min {:.2}, max {:.2}, {} runs", sp.min, sp.max, s.runs_ms.len()))
                        .unwrap_or_default(),
                });
            }
            Err(e) => {
                eprintln!("    ERROR {e}");
                scalars.push(Scalar {
                    name: "start-up to listening (median)".into(),
                    value: None,
                    unit: "ms".into(),
                    target: Some(50.0),
                    note: e,
                });
            }
        }
    }
    if want("size") && daemon_needed("size") {
        let (value, note) = match measure_size(&ctx.args.daemon.daemon) {
            Ok((full, stripped)) => (
                Some(stripped as f64 / (1024.0 * 1024.0)),
                format!("{stripped} bytes stripped, {full} bytes as built"),
            ),
            Err(e) => (None, e),
        };
        scalars.push(Scalar {
            name: "stripped binary size".into(),
            value,
            unit: "MiB".into(),
            target: None,
            note,
        });
    }
    let ended = machine();
    let all_pass = rows
        .iter()
        .all(|r| r.verdict == "PASS" || r.verdict.starts_with("report"))
        && scalars.iter().all(|s| {
            let v = s.verdict();
            v == "PASS" || v == "report"
        });
    let report_json = json!({
        "machine": started,
        "loadavg_end": ended["loadavg"],
        "settings": {
            "server_cpu": ctx.args.daemon.server_cpu,
            "load_cpu": ctx.args.load_cpu,
            "pinned": !ctx.args.no_pin,
            "warmup_s": ctx.args.warmup,
            "duration_s": ctx.args.duration,
            "runs": ctx.args.runs,
            "daemon": ctx.args.daemon.daemon.display().to_string(),
            "daemon_args": ctx.args.daemon.daemon_args,
            "baseline_only": ctx.args.baseline_only,
        },
        "scenarios": rows.iter().map(Row::to_json).collect::<Vec<_>>(),
        "metrics": scalars.iter().map(Scalar::to_json).collect::<Vec<_>>(),
        "all_pass": all_pass,
    });
    let output = if ctx.args.json {
        report_json.to_string()
    } else {
        markdown(&ctx, &started, &ended, &rows, &scalars)
    };
    println!("{output}");
    if let Some(p) = &ctx.args.out {
        std::fs::write(p, format!("{output}\n")).map_err(|e| format!("{}: {e}", p.display()))?;
    }
    if let Some(p) = &ctx.args.json_out {
        let text = serde_json::to_string_pretty(&report_json).unwrap_or_default();
        std::fs::write(p, format!("{text}\n")).map_err(|e| format!("{}: {e}", p.display()))?;
    }
    Ok(if all_pass { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn fmt_spread(s: Option<Spread>, scale: f64, digits: usize) -> String {
    match s {
        Some(s) => format!(
            "{:.*} ({:.*}–{:.*})",
            digits,
            s.median * scale,
            digits,
            s.min * scale,
            digits,
            s.max * scale
        ),
        None => "–".into(),
    }
}

fn markdown(ctx: &Ctx, started: &Value, ended: &Value, rows: &[Row], scalars: &[Scalar]) -> String {
    let a = &ctx.args;
    let mut o = String::new();
    let _ = writeln!(
        o,
        "Machine: {} x {}, kernel {}, {}. {}; warm-up {} s, {} s measured, {} runs per side interleaved. Load average before: {}; after: {}.\n",
        started["cpus"],
        started["cpu"].as_str().unwrap_or("?"),
        started["kernel"].as_str().unwrap_or("?"),
        started["rustc"].as_str().unwrap_or("?"),
        if a.no_pin {
            "Nothing pinned (servers and baselines with a worker per CPU)".to_owned()
        } else {
            format!("Servers pinned to CPU {}, load to CPU {}", a.daemon.server_cpu, a.load_cpu)
        },
        a.warmup,
        a.duration,
        a.runs,
        started["loadavg"].as_str().unwrap_or("?"),
        ended["loadavg"].as_str().unwrap_or("?"),
    );
    if !rows.is_empty() {
        o.push_str("| scenario | server | ops/s median (min–max) | p50 µs | p90 | p99 | p99.9 | max | server CPU | load CPU | other CPU | ratio | target | verdict |\n");
        o.push_str("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
        for r in rows {
            for (i, s) in r.sides.iter().enumerate() {
                let h = merged(&s.runs);
                let lat = |q: f64| {
                    if h.is_empty() {
                        "–".to_owned()
                    } else {
                        format!("{:.0}", pct_us(&h, q))
                    }
                };
                let (name, ratio, target, verdict) = if i == 0 {
                    (
                        format!("**{}**: {}", r.name, r.what),
                        r.ratio.map(|x| format!("{x:.2}")).unwrap_or_else(|| "–".into()),
                        r.target.text(),
                        r.verdict.clone(),
                    )
                } else {
                    (String::new(), String::new(), String::new(), String::new())
                };
                let thr = if s.runs.is_empty() {
                    match &s.error {
                        Some(e) => format!("error: {}", first_line(e).replace('|', "/")),
                        None => "–".into(),
                    }
                } else {
                    fmt_spread(s.throughput(), 1.0, 0)
                };
                let _ = writeln!(
                    o,
                    "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                    name,
                    s.label,
                    thr,
                    if h.is_empty() {
                        "–".to_owned()
                    } else {
                        fmt_spread(s.p50(), 1.0, 0)
                    },
                    lat(90.0),
                    lat(99.0),
                    lat(99.9),
                    if h.is_empty() {
                        "–".to_owned()
                    } else {
                        format!("{:.0}", h.max() as f64 / 1000.0)
                    },
                    fmt_spread(s.server_cpu(), 100.0, 0).replace(" (", "% ("),
                    fmt_spread(s.load_cpu(), 100.0, 0).replace(" (", "% ("),
                    fmt_spread(s.other_cpu(), 100.0, 0).replace(" (", "% ("),
                    ratio,
                    target,
                    verdict.replace('|', "/"),
                );
            }
        }
        let extras: Vec<String> = rows
            .iter()
            .flat_map(|r| r.sides.iter().map(move |s| (r, s)))
            .filter_map(|(r, s)| {
                let mut keys: Vec<(String, Vec<f64>)> = Vec::new();
                for run in &s.runs {
                    for (k, v) in &run.extra {
                        match keys.iter_mut().find(|(kk, _)| kk == k) {
                            Some((_, vs)) => vs.push(*v),
                            None => keys.push((k.clone(), vec![*v])),
                        }
                    }
                }
                if keys.is_empty() {
                    return None;
                }
                let parts: Vec<String> = keys
                    .iter()
                    .map(|(k, vs)| format!("{k} {}", fmt_spread(Spread::of(vs), 1.0, 0)))
                    .collect();
                Some(format!("- {} / {}: {}", r.name, s.label, parts.join(", ")))
            })
            .collect();
        if !extras.is_empty() {
            o.push_str("\nPer-run extras (median (min–max)):\n");
            for e in extras {
                o.push_str(&e);
                o.push('\n');
            }
        }
        o.push('\n');
    }
    if !scalars.is_empty() {
        o.push_str("| metric | value | target | verdict | notes |\n|---|---|---|---|---|\n");
        for s in scalars {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} |",
                s.name,
                s.value
                    .map(|v| format!("{v:.2} {}", s.unit))
                    .unwrap_or_else(|| "–".into()),
                s.target
                    .map(|t| format!("<= {t} {}", s.unit))
                    .unwrap_or_else(|| "report".into()),
                s.verdict().replace('|', "/"),
                s.note.replace('|', "/").replace('\n', " "),
            );
        }
    }
    o
}
