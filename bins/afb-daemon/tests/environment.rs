//! What the daemon takes from its environment, as `docs/daemon.md` says:
//! `AFB_LDPATHS` and `AFB_SET` (used when the option is not given), the
//! systemd watchdog (`NOTIFY_SOCKET`, `WATCHDOG_USEC`), logging to the
//! journal when stderr is the journal's stream (`JOURNAL_STREAM`); and
//! `--threads-max`, the size of its worker pool.

#[path = "../../../crates/http/tests/http_client/mod.rs"]
mod http_client;

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use afb_testkit::{bin_path, free_port, Daemon, DaemonOpts, KillOnDrop, TempDir};
use http_client::Conn;
use serde_json::{json, Value};

/// Compiles the C test binding `crates/cbinding/tests/c/<src>` into `<dir>/<out>.so`.
fn build(dir: &Path, src: &str, out: &str) -> PathBuf {
    afb_testkit::c_test_binding(dir, src, out, &[])
}

fn get(d: &Daemon, target: &str) -> Value {
    Conn::tcp(d.addr()).get(target).json()
}

fn start_env(work: &Path, args: &[&str], env: &[(&str, &str)]) -> Daemon {
    let mut all = vec!["--workdir".to_string(), work.display().to_string()];
    all.extend(args.iter().map(|s| s.to_string()));
    Daemon::start_with(DaemonOpts {
        args: all,
        env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        ..DaemonOpts::default()
    })
}

/// `AFB_LDPATHS` (a `:`-separated list) loads the bindings under each
/// directory and `AFB_SET` reaches them as settings; an option given on
/// the command line replaces its variable.
#[test]
fn bindings_and_settings_come_from_afb_ldpaths_and_afb_set() {
    let dir = TempDir::new("env-ldpaths");
    let a = dir.path().join("a");
    let b = dir.path().join("b/sub");
    let hello4 = build(&a, "hello4.c", "hello4");
    build(&b, "hello2.c", "hello2");
    let ldpaths = format!("{}:{}", a.display(), dir.path().join("b").display());
    let work = dir.path().join("wd");
    let env = [
        ("AFB_LDPATHS", ldpaths.as_str()),
        ("AFB_SET", "hello4/greeting:\"from the environment\""),
    ];
    let d = start_env(&work, &[], &env);
    let r = get(&d, "/api/hello4/hello?name=env");
    assert_eq!(r["response"], json!("hello env"), "{r}");
    let r = get(&d, "/api/hello2/ping");
    assert_eq!(
        r["response"],
        json!("pong2"),
        "a binding in a subdirectory of the second entry: {r}"
    );
    let path = hello4.display().to_string();
    assert_eq!(
        get(&d, "/api/hello4/settings")["response"],
        json!({"greeting": "from the environment", "binding-path": path, "path": path})
    );
    // Without bindings named anywhere the daemon would serve the samples:
    // here the environment named some, so it does not.
    assert_eq!(get(&d, "/api/hello/ping")["request"]["status"], json!("unknown-api"));
    drop(d);

    // The command line wins: `--set` replaces AFB_SET, `--ldpaths` AFB_LDPATHS.
    let d = start_env(
        &work,
        &[
            "--ldpaths",
            a.to_str().unwrap(),
            "--set",
            "hello4/greeting:\"from the command line\"",
        ],
        &env,
    );
    assert_eq!(
        get(&d, "/api/hello4/settings")["response"]["greeting"],
        json!("from the command line")
    );
    assert_eq!(get(&d, "/api/hello2/ping")["request"]["status"], json!("unknown-api"));
}

/// With `WATCHDOG_USEC`, the daemon sends `WATCHDOG=1` to `NOTIFY_SOCKET`
/// again and again after `READY=1` (at half the period).
#[test]
fn the_systemd_watchdog_is_fed_after_ready() {
    let work = TempDir::new("env-watchdog");
    let sock = work.path().join("notify.sock");
    let listener = UnixDatagram::bind(&sock).unwrap();
    listener.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let d = start_env(
        &work.path().join("wd"),
        &[],
        &[("NOTIFY_SOCKET", sock.to_str().unwrap()), ("WATCHDOG_USEC", "300000")],
    );
    let mut buf = [0u8; 256];
    let mut next = || {
        let n = listener.recv(&mut buf).expect("a notification within 15 s");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    let first = next();
    assert!(first.lines().any(|l| l == "READY=1"), "READY=1 comes first: {first}");
    for i in 0..4 {
        let m = next();
        assert!(
            m.lines().any(|l| l == "WATCHDOG=1"),
            "notification {i} after READY: {m}"
        );
    }
    assert_eq!(Conn::tcp(d.addr()).get("/api/hello/ping").status, 200);
}

/// The journal's native protocol: `NAME=value\n`, or `NAME\n`, a 64-bit
/// little-endian length, the value and `\n`.
fn journal_fields(mut p: &[u8]) -> Option<HashMap<String, String>> {
    let mut fields = HashMap::new();
    while !p.is_empty() {
        let nl = p.iter().position(|&c| c == b'\n')?;
        let line = &p[..nl];
        if let Some(eq) = line.iter().position(|&c| c == b'=') {
            let name = String::from_utf8_lossy(&line[..eq]).into_owned();
            fields.insert(name, String::from_utf8_lossy(&line[eq + 1..]).into_owned());
            p = &p[nl + 1..];
        } else {
            let name = String::from_utf8_lossy(line).into_owned();
            let rest = &p[nl + 1..];
            let len = usize::try_from(u64::from_le_bytes(rest.get(..8)?.try_into().ok()?)).ok()?;
            let value = rest.get(8..8 + len)?;
            if rest.get(8 + len) != Some(&b'\n') {
                return None;
            }
            fields.insert(name, String::from_utf8_lossy(value).into_owned());
            p = &rest[8 + len + 1..];
        }
    }
    Some(fields)
}

/// When `JOURNAL_STREAM` names the daemon's stderr, events go to the
/// journal's socket with their priority and the `-n` name as identifier,
/// and nothing is written on stderr. The journal's socket is the test's:
/// the daemon runs in a mount namespace (`unshare`, with a user namespace
/// unless the test runs as root and the kernel refuses one) where a
/// directory of the test is mounted on `/run`.
#[test]
fn events_go_to_the_journal_when_stderr_is_the_journal_stream() {
    let Some(unshare) = afb_testkit::require_tool("unshare") else {
        return;
    };
    // A user and mount namespace (any user, where the kernel allows it),
    // else a mount namespace alone (root).
    let namespaces = [&["-r", "-m"][..], &["-m"][..]].into_iter().find(|ns| {
        Command::new(&unshare)
            .args(*ns)
            .args(["sh", "-c", "mount --bind \"$0\" \"$0\""])
            .arg(std::env::temp_dir())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    let Some(namespaces) = namespaces else {
        afb_testkit::skip_or_fail("unshare cannot make a mount namespace on this host");
        return;
    };
    let dir = TempDir::new("env-journal");
    let run = dir.path().join("run");
    std::fs::create_dir_all(run.join("systemd/journal")).unwrap();
    let journal = UnixDatagram::bind(run.join("systemd/journal/socket")).unwrap();
    journal.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let stderr_path = dir.path().join("stderr");
    let stderr = std::fs::File::create(&stderr_path).unwrap();
    let meta = stderr.metadata().unwrap();
    let port = free_port();
    let mut cmd = Command::new(unshare);
    cmd.args(namespaces)
        .args(["sh", "-c", "mount --bind \"$0\" /run && exec \"$@\""])
        .arg(&run)
        .arg(bin_path("afb-daemon"))
        .args([
            "--port",
            &port.to_string(),
            "-n",
            "journal-test",
            "--log",
            "info",
            "--workdir",
        ])
        .arg(dir.path().join("wd"))
        .env("JOURNAL_STREAM", format!("{}:{}", meta.dev(), meta.ino()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr);
    let _daemon = KillOnDrop(cmd.spawn().expect("spawn unshare"));

    let deadline = Instant::now() + Duration::from_secs(15);
    let mut buf = vec![0u8; 64 * 1024];
    let mut seen = Vec::new();
    let ready = loop {
        assert!(Instant::now() < deadline, "no `ready` event in the journal: {seen:?}");
        let n = journal.recv(&mut buf).expect("a journal datagram within 15 s");
        if n == 0 {
            continue; // the logger's probe
        }
        let fields = journal_fields(&buf[..n]).expect("a well-formed journal datagram");
        if fields.get("MESSAGE").is_some_and(|m| m.starts_with("ready")) {
            break fields;
        }
        seen.push(fields);
    };
    // The priorities are those of the `<N>` prefixes on stderr: `ready` is
    // info (6), the warning about serving the samples is 4.
    assert_eq!(ready.get("PRIORITY").map(String::as_str), Some("6"), "{ready:?}");
    assert!(
        seen.iter().any(|f| f.get("PRIORITY").map(String::as_str) == Some("4")
            && f.get("MESSAGE").is_some_and(|m| m.contains("sample APIs"))),
        "the start-up warning: {seen:?}"
    );
    assert_eq!(
        ready.get("SYSLOG_IDENTIFIER").map(String::as_str),
        Some("journal-test"),
        "{ready:?}"
    );
    assert!(afb_testkit::accepts(port), "the daemon serves");
    let written = std::fs::read_to_string(&stderr_path).unwrap();
    assert!(!written.contains("ready"), "the event went to stderr too: {written}");
}

/// The names of the threads of process `pid` (`/proc/PID/task/*/comm`).
fn thread_names(pid: u32) -> Vec<String> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("the daemon's threads");
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("comm")).ok())
        .map(|n| n.trim_end().to_owned())
        .collect()
}

/// `--threads-max N`: N worker threads (tokio names them `tokio-rt-worker`;
/// its blocking pool starts threads only when work is handed to it, and
/// nothing is before the first request); `--threads-max 1` runs everything
/// on the main thread. Both serve.
#[test]
fn threads_max_sets_the_number_of_worker_threads() {
    let work = TempDir::new("env-threads");
    for n in [1usize, 3] {
        let d = start_env(
            &work.path().join(format!("wd{n}")),
            &["--threads-max", &n.to_string()],
            &[],
        );
        let names = thread_names(d.pid());
        let workers = names.iter().filter(|t| t.as_str() == "tokio-rt-worker").count();
        let expected = if n == 1 { 0 } else { n };
        assert_eq!(workers, expected, "--threads-max {n}: threads {names:?}");
        assert_eq!(get(&d, "/api/hello/ping")["response"], json!("Some String"));
    }
}
