//! Processes under test: spawning servers pinned to a CPU (through `taskset`), waiting for
//! them to listen, reading their CPU time and memory from `/proc`, stopping them; pinning the
//! benchmark itself (re-exec under `taskset`).

use std::ffi::OsString;
use std::fs;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

/// Environment variable telling a re-executed benchmark which CPU it was pinned to.
const PINNED_ENV: &str = "AFB_BENCH_PINNED_CPU";

/// Re-executes the current process under `taskset -c CPU` unless it already runs pinned there.
/// Returns only when no re-exec was needed (or when it failed: the caller then runs unpinned,
/// which [`allowed_cpus`] shows).
pub fn pin_self(cpu: usize) {
    if std::env::var(PINNED_ENV).ok().as_deref() == Some(&cpu.to_string()) {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        eprintln!("afb-bench: cannot find my own executable: running unpinned");
        return;
    };
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let err = Command::new("taskset")
        .arg("-c")
        .arg(cpu.to_string())
        .arg(exe)
        .args(args)
        .env(PINNED_ENV, cpu.to_string())
        .exec();
    eprintln!("afb-bench: cannot re-exec under taskset ({err}): running unpinned");
}

/// The CPUs this process may run on (`Cpus_allowed_list` of `/proc/self/status`).
pub fn allowed_cpus() -> String {
    status_field("self", "Cpus_allowed_list:").unwrap_or_else(|| "?".into())
}

fn status_field(pid: &str, key: &str) -> Option<String> {
    let text = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .map(|v| v.trim().to_owned())
}

/// Clock ticks per second of `/proc/*/stat` times (`getconf CLK_TCK`, 100 if unknown).
pub fn clock_ticks() -> u64 {
    static TICKS: OnceLock<u64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .filter(|&t| t > 0)
            .unwrap_or(100)
    })
}

/// CPU time (user + system, all threads) used so far by process `pid` ("self" for this one),
/// in seconds.
pub fn cpu_seconds(pid: &str) -> Option<f64> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: fields count from the last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After ')': state is field 3 of stat(5), so utime (14) and stime (15) are at 11 and 12.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / clock_ticks() as f64)
}

/// CPU time (user + system) of this process's children that were waited for, in seconds
/// (`cutime` + `cstime` of `/proc/self/stat`): what an external load generator used.
pub fn children_cpu_seconds() -> Option<f64> {
    let text = fs::read_to_string("/proc/self/stat").ok()?;
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // cutime (16) and cstime (17) of stat(5), counted from the state (3).
    let cutime: u64 = fields.get(13)?.parse().ok()?;
    let cstime: u64 = fields.get(14)?.parse().ok()?;
    Some((cutime + cstime) as f64 / clock_ticks() as f64)
}

/// CPU time spent busy (not idle, not waiting for I/O) by the whole machine so far, all CPUs
/// summed, in seconds (first line of `/proc/stat`).
pub fn system_busy_seconds() -> Option<f64> {
    let text = fs::read_to_string("/proc/stat").ok()?;
    let line = text.lines().next()?.strip_prefix("cpu ")?;
    let v: Vec<u64> = line.split_whitespace().filter_map(|x| x.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let busy = v.first()? + v.get(1)? + v.get(2)? + v.get(5)? + v.get(6)? + v.get(7).copied().unwrap_or(0);
    Some(busy as f64 / clock_ticks() as f64)
}

/// Busy share of the whole machine (1.0 = one CPU) over `window`.
pub fn system_busy_share(window: Duration) -> Option<f64> {
    let a = system_busy_seconds()?;
    thread::sleep(window);
    let b = system_busy_seconds()?;
    Some((b - a) / window.as_secs_f64())
}

/// Resident set size of process `pid`, in KiB (`VmRSS`).
pub fn rss_kib(pid: u32) -> Option<u64> {
    kib_field(pid, "VmRSS:")
}

/// Anonymous part of the resident set of process `pid` (heap, stacks), in KiB (`RssAnon`);
/// the rest is mostly the program's own code pages (`RssFile`).
pub fn anon_rss_kib(pid: u32) -> Option<u64> {
    kib_field(pid, "RssAnon:")
}

/// Peak resident set size of process `pid`, in KiB (`VmHWM`).
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    kib_field(pid, "VmHWM:")
}

fn kib_field(pid: u32, key: &str) -> Option<u64> {
    status_field(&pid.to_string(), key)?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// A free TCP port on 127.0.0.1 (bound then released: a tiny race is possible).
pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A private scratch directory, removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    /// Creates `$TMPDIR/afb-bench-PID-TAG`.
    pub fn new(tag: &str) -> std::io::Result<Scratch> {
        let dir = std::env::temp_dir().join(format!("afb-bench-{}-{tag}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir)?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    /// Removes the directory, unless `AFB_BENCH_KEEP` is set (to read the servers' logs).
    fn drop(&mut self) {
        if std::env::var_os("AFB_BENCH_KEEP").is_some() {
            eprintln!("afb-bench: kept {}", self.0.display());
            return;
        }
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// How to start one server process.
#[derive(Debug, Clone)]
pub struct ServerCmd {
    /// Label used in messages and log file names.
    pub name: String,
    /// Program to run.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
}

/// A running server process that this benchmark started; stopped (SIGTERM, then SIGKILL) when
/// dropped.
pub struct Server {
    child: Child,
    /// Its process id.
    pub pid: u32,
    /// Label.
    pub name: String,
    log: PathBuf,
}

impl Server {
    /// Starts `cmd` pinned to `cpu` (when given) with stdout/stderr into `log_dir/NAME.log`.
    pub fn spawn(cmd: &ServerCmd, cpu: Option<usize>, log_dir: &Path) -> Result<Server, String> {
        let log = log_dir.join(format!("{}.log", cmd.name));
        let out = fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let mut c = match cpu {
            // taskset execs the program: the pid is the server's own.
            Some(cpu) => {
                let mut c = Command::new("taskset");
                c.arg("-c").arg(cpu.to_string()).arg(&cmd.program);
                c
            }
            None => Command::new(&cmd.program),
        };
        c.args(&cmd.args).stdin(Stdio::null()).stdout(out).stderr(err);
        let child = c
            .spawn()
            .map_err(|e| format!("cannot start {} ({}): {e}", cmd.name, cmd.program.display()))?;
        Ok(Server {
            pid: child.id(),
            child,
            name: cmd.name.clone(),
            log,
        })
    }

    /// Waits until `addr` accepts TCP connections (or `timeout`, or the process exits).
    pub fn wait_tcp(&mut self, addr: SocketAddr, timeout: Duration) -> Result<Duration, String> {
        let t0 = Instant::now();
        loop {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(t0.elapsed());
            }
            self.check_alive()?;
            if t0.elapsed() > timeout {
                return Err(format!(
                    "{} does not listen on {addr} after {timeout:?}{}",
                    self.name,
                    self.log_tail()
                ));
            }
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// Waits until the unix socket `path` accepts connections.
    pub fn wait_unix(&mut self, path: &Path, timeout: Duration) -> Result<(), String> {
        let t0 = Instant::now();
        loop {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Ok(());
            }
            self.check_alive()?;
            if t0.elapsed() > timeout {
                return Err(format!(
                    "{} does not listen on {} after {timeout:?}{}",
                    self.name,
                    path.display(),
                    self.log_tail()
                ));
            }
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// An error when the process has exited.
    pub fn check_alive(&mut self) -> Result<(), String> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(st)) => Err(format!("{} exited ({st}){}", self.name, self.log_tail())),
            Err(e) => Err(format!("{}: {e}", self.name)),
        }
    }

    /// The last lines of the server's log, for error messages.
    pub fn log_tail(&self) -> String {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(8)..].join("\n    ");
        if tail.is_empty() {
            String::new()
        } else {
            format!("; its log ends with:\n    {tail}")
        }
    }

    /// Stops the process: SIGTERM, then SIGKILL after 2 s.
    pub fn stop(mut self) {
        self.terminate();
    }

    fn terminate(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(2) {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.terminate();
    }
}
