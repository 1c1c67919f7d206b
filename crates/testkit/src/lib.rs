//! Test support: run the real `afb-daemon` (and `afb-client`) binaries on
//! loopback, wait until they serve, and always stop them.
//!
//! Binaries are found next to the test executable (`target/<profile>/`), so
//! integration tests must live in a package whose tests make cargo build
//! them (the `afb-daemon` and `afb-client` packages have integration tests,
//! and `cargo test --workspace` builds every binary before running tests).
//!
//! [`cws`] is a WebSocket client that behaves on the wire as the C client
//! library `libafbwsc` (unmasked frames, its upgrade request). [`certs`]
//! makes test certificates.

#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

pub mod certs;
pub mod cws;

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Path of a binary of the workspace built for the running test profile.
pub fn bin_path(name: &str) -> PathBuf {
    if let Ok(p) = std::env::var(format!("AFB_TEST_BIN_{}", name.replace('-', "_").to_uppercase())) {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/test-xxxx -> target/<profile>/
    let dir = exe
        .parent()
        .and_then(|d| if d.ends_with("deps") { d.parent() } else { Some(d) })
        .expect("target directory");
    let p = dir.join(name);
    assert!(
        p.exists(),
        "{} not built: run the tests with `cargo test --workspace` (looked at {})",
        name,
        p.display()
    );
    p
}

/// A free TCP port on 127.0.0.1 (the port is released before returning; a
/// daemon that then fails to bind it is retried by [`Daemon::start`]).
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    l.local_addr().expect("local address").port()
}

/// Whether something listens on 127.0.0.1:`port`. A connect to a port of
/// the ephemeral range that nobody listens on can, rarely, connect the
/// socket to itself (TCP simultaneous open, when the kernel picks the same
/// port as source): that is not a listener.
pub fn accepts(port: u16) -> bool {
    match TcpStream::connect(("127.0.0.1", port)) {
        Ok(s) => s.local_addr().ok() != s.peer_addr().ok(),
        Err(_) => false,
    }
}

/// Whether process `pid` holds a listening TCP socket on `port`: the
/// inodes of the sockets listening on the port (`/proc/net/tcp`, `tcp6`)
/// against the process's file descriptors. `None` when `/proc` cannot tell.
pub fn listens_on(pid: u32, port: u16) -> Option<bool> {
    let mut sockets = Vec::new();
    let mut read_any = false;
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        read_any = true;
        // sl local_address rem_address st ... uid timeout inode
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(state), Some(inode)) = (fields.get(1), fields.get(3), fields.get(9)) else {
                continue;
            };
            let local_port = local.rsplit(':').next().and_then(|p| u16::from_str_radix(p, 16).ok());
            if *state == "0A" && local_port == Some(port) {
                sockets.push(format!("socket:[{inode}]"));
            }
        }
    }
    if !read_any {
        return None;
    }
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?;
    Some(fds.flatten().any(|fd| {
        std::fs::read_link(fd.path()).is_ok_and(|target| sockets.iter().any(|s| target.as_os_str() == s.as_str()))
    }))
}

/// Compiles the C test binding `crates/cbinding/tests/c/<src>` against our
/// headers into `<dir>/<out>.so` (with extra `-D...` `defines`), linking
/// json-c. Panics with a clear message when `cc` or json-c is missing
/// (`scripts/install-deps.sh` installs them).
pub fn c_test_binding(dir: &Path, src: &str, out: &str, defines: &[&str]) -> PathBuf {
    let cb = Path::new(env!("CARGO_MANIFEST_DIR")).join("../cbinding");
    std::fs::create_dir_all(dir).expect("create the directory of the C test binding");
    let so = dir.join(format!("{out}.so"));
    let status = Command::new("cc")
        .args(["-shared", "-fPIC", "-O1", "-Wall", "-Wno-unused-function"])
        .arg("-I")
        .arg(cb.join("include"))
        .args(defines)
        .arg(cb.join("tests/c").join(src))
        .arg("-o")
        .arg(&so)
        .arg("-ljson-c")
        .status()
        .expect("a C compiler (cc) is needed for these tests (scripts/install-deps.sh)");
    assert!(status.success(), "compiling {src} failed (json-c headers missing?)");
    so
}

/// Whether the tests run under CI (`CI=true`), where nothing may be skipped.
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// The one way a test skips: outside CI it prints why on stderr (the caller
/// then returns), under `CI=true` it panics with `reason`, so that no test
/// passes there by being skipped.
pub fn skip_or_fail(reason: &str) {
    assert!(
        !under_ci(),
        "{reason} (scripts/install-deps.sh installs what the tests need) and CI=true"
    );
    eprintln!("SKIPPED: {reason} (this fails under CI=true)");
}

/// The path of the program `name` found on `PATH` (or in `/usr/sbin`,
/// `/sbin`). When it is missing: `None` after [`skip_or_fail`], which
/// panics under `CI=true`.
pub fn require_tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|d| d.join(name))
        .find(|f| f.is_file());
    if found.is_none() {
        skip_or_fail(&format!("{name} is not installed"));
    }
    found
}

/// A process started by a test, killed (SIGKILL) and reaped when dropped,
/// also when the test fails.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

/// A unique temporary directory, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    /// Creates `/tmp/afb-test-<pid>-<n>-<tag>`.
    pub fn new(tag: &str) -> Self {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "afb-test-{}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed),
            tag
        ));
        std::fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running daemon; killed (SIGTERM, then SIGKILL after 5 s) when dropped.
pub struct Daemon {
    child: Option<Child>,
    /// Set once the child has been reaped: its pid may then belong to
    /// another process (pids wrap at 32768 here), which must never get our
    /// signals.
    reaped: AtomicBool,
    /// The HTTP port (`--port`), when it has one.
    pub port: u16,
    log: Arc<Mutex<String>>,
}

/// How to start a daemon.
#[derive(Debug, Clone, Default)]
pub struct DaemonOpts {
    /// Arguments after `--port N` (the port is chosen by the kit unless
    /// `no_port` is set).
    pub args: Vec<String>,
    /// Do not pass `--port` and do not wait for HTTP (e.g. `--no-httpd`).
    pub no_port: bool,
    /// Wait until this path exists (a unix socket of `--ws-server`).
    pub wait_path: Option<PathBuf>,
    /// Extra environment.
    pub env: Vec<(String, String)>,
}

impl Daemon {
    /// Starts `afb-daemon --port <free> ARGS...` and waits until it accepts
    /// TCP connections on the port.
    pub fn start(args: &[&str]) -> Daemon {
        Self::start_with(DaemonOpts {
            args: args.iter().map(|s| s.to_string()).collect(),
            ..DaemonOpts::default()
        })
    }

    /// Starts with options; retries with another port if the port was taken.
    pub fn start_with(opts: DaemonOpts) -> Daemon {
        let mut last_log = String::new();
        for _attempt in 0..5 {
            match Self::try_start(&opts) {
                Ok(d) => return d,
                Err(log) => last_log = log,
            }
        }
        panic!("afb-daemon did not start; its log:\n{last_log}");
    }

    fn try_start(opts: &DaemonOpts) -> Result<Daemon, String> {
        let port = if opts.no_port { 0 } else { free_port() };
        let mut cmd = Command::new(bin_path("afb-daemon"));
        if !opts.no_port {
            cmd.arg("--port").arg(port.to_string());
        }
        cmd.args(&opts.args);
        for (k, v) in &opts.env {
            cmd.env(k, v);
        }
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| format!("spawn afb-daemon: {e}"))?;
        let log = Arc::new(Mutex::new(String::new()));
        for out in [
            child.stdout.take().map(|s| Box::new(s) as Box<dyn Read + Send>),
            child.stderr.take().map(|s| Box::new(s) as Box<dyn Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let log = log.clone();
            thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    if std::env::var_os("AFB_TEST_VERBOSE").is_some() {
                        eprintln!("[daemon] {line}");
                    }
                    let mut l = log.lock().unwrap_or_else(|p| p.into_inner());
                    l.push_str(&line);
                    l.push('\n');
                }
            });
        }
        let mut d = Daemon {
            child: Some(child),
            reaped: AtomicBool::new(false),
            port,
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = d.try_wait() {
                thread::sleep(Duration::from_millis(50));
                return Err(format!("exited with {status} before serving\n{}", d.log()));
            }
            // Another test's server may hold the port for a moment (two
            // `free_port` calls can return the same port): the listener
            // must be this daemon's.
            let http_ok = opts.no_port || (accepts(port) && d.child_listens(port));
            let path_ok = opts.wait_path.as_ref().is_none_or(|p| p.exists());
            if http_ok && path_ok {
                return Ok(d);
            }
            if Instant::now() > deadline {
                return Err(format!("not serving after 15 s\n{}", d.log()));
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// `127.0.0.1:port`.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// `http://127.0.0.1:port`.
    pub fn http_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `ws://127.0.0.1:port/api`.
    pub fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}/api", self.port)
    }

    /// Everything the daemon wrote on stdout and stderr so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Waits up to `timeout` until the log satisfies `pred` (log lines
    /// arrive asynchronously); returns the log either way.
    pub fn wait_log(&self, timeout: Duration, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let log = self.log();
            if pred(&log) || Instant::now() > deadline {
                return log;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or(0)
    }

    /// Whether the daemon itself listens on `port` (true when `/proc`
    /// cannot tell).
    fn child_listens(&self, port: u16) -> bool {
        self.child
            .as_ref()
            .is_none_or(|c| listens_on(c.id(), port).unwrap_or(true))
    }

    /// Exit status if it has exited.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        let status = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten());
        if status.is_some() {
            self.reaped.store(true, Ordering::Relaxed);
        }
        status
    }

    /// Sends a signal (e.g. `"TERM"`, `"INT"`, `"KILL"`, `"STOP"`, `"CONT"`).
    pub fn signal(&self, sig: &str) {
        if self.reaped.load(Ordering::Relaxed) {
            return;
        }
        let _ = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid().to_string())
            .status();
        if sig == "STOP" {
            // kill(2) returns before every thread has stopped: a thread
            // running on the other CPU can still serve a request. Wait until
            // each thread of the process shows the stopped state.
            let deadline = Instant::now() + Duration::from_secs(5);
            while !all_threads_stopped(self.pid()) && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(5));
            }
        }
    }

    /// Waits up to `timeout` for the process to exit.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self.try_wait() {
                return Some(s);
            }
            if Instant::now() > deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Stops the daemon now (SIGKILL) and waits for it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Resident memory of the daemon in KiB (from /proc).
    pub fn rss_kib(&self) -> Option<u64> {
        let s = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        s.lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|n| n.parse().ok())
    }

    /// Number of open file descriptors of the daemon.
    pub fn fd_count(&self) -> Option<usize> {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .ok()
            .map(|d| d.count())
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if thread::panicking() {
            // The test failed: what the daemon said helps to tell why.
            let log = self.log();
            let lines: Vec<&str> = log.lines().collect();
            let tail = &lines[lines.len().saturating_sub(30)..];
            eprintln!("afb-daemon (pid {}) log, last lines:\n{}", self.pid(), tail.join("\n"));
        }
        if let Some(mut c) = self.child.take() {
            if let Ok(Some(_)) = c.try_wait() {
                return; // reaped: its pid is no longer ours to signal
            }
            let _ = Command::new("kill").arg("-TERM").arg(c.id().to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                thread::sleep(Duration::from_millis(10));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Whether every thread of process `pid` is stopped (state `T` in
/// `/proc/PID/task/TID/stat`).
fn all_threads_stopped(pid: u32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    tasks.flatten().all(|t| {
        std::fs::read_to_string(t.path().join("stat"))
            .ok()
            .and_then(|st| st.rsplit_once(") ").map(|(_, rest)| rest.starts_with(['T', 't'])))
            .unwrap_or(false)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listener_is_found_in_its_own_process_only() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        assert_eq!(listens_on(std::process::id(), port), Some(true));
        // pid 1 does not hold our socket.
        assert_ne!(listens_on(1, port), Some(true));
        drop(l);
        assert_eq!(listens_on(std::process::id(), port), Some(false));
    }
}
