//! End-to-end checks of the load generator against the built-in baselines: the real
//! `afb-bench` binary serves, loads and reports, on loopback, for a fraction of a second.

use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_afb-bench");

/// A baseline server process, killed on drop.
struct Served(Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the baseline `kind` on a free port. The port is found free, then
/// released, so another test may take it first: the baseline then exits
/// (address in use) and is started again on another port. Readiness is the
/// child's own listener, not any answer on the port (another test's server
/// would answer there).
fn serve(kind: &str) -> (Served, u16) {
    for _ in 0..5 {
        let port = afb_testkit::free_port();
        let child = Command::new(BIN)
            .args([kind, "--port", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the baseline");
        let mut served = Served(child);
        let pid = served.0.id();
        let t0 = Instant::now();
        loop {
            if served.0.try_wait().expect("the baseline's status").is_some() {
                break; // lost the port: try another one
            }
            let ours = match afb_testkit::listens_on(pid, port) {
                Some(ours) => ours,
                None => afb_testkit::accepts(port),
            };
            if ours {
                return (served, port);
            }
            assert!(t0.elapsed() < Duration::from_secs(10), "{kind} does not listen");
            sleep(Duration::from_millis(10));
        }
    }
    panic!("{kind} could not listen on any of 5 free ports");
}

fn run_json(args: &[&str]) -> Value {
    let out = Command::new(BIN).args(args).output().expect("run afb-bench");
    assert!(
        out.status.success() || out.status.code() == Some(1),
        "afb-bench {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

fn check_load(r: &Value) {
    assert!(r["ops"].as_u64().unwrap() > 10, "too few operations: {r}");
    assert_eq!(r["errors"].as_u64(), Some(0), "{r}");
    assert!(r["first_error"].is_null(), "{r}");
    let lat = &r["latency_us"];
    let (p50, p99, max) = (
        lat["p50"].as_f64().unwrap(),
        lat["p99"].as_f64().unwrap(),
        lat["max"].as_f64().unwrap(),
    );
    assert!(p50 > 0.0 && p50 <= p99 && p99 <= max, "{lat}");
    assert!(r["throughput"].as_f64().unwrap() > 0.0);
}

const SHORT: [&str; 5] = ["--warmup", "0.1", "--duration", "0.4", "--json"];

#[test]
fn rest_load_against_the_hyper_baseline() {
    let (srv, port) = serve("serve-hyper");
    let addr = format!("127.0.0.1:{port}");
    let pid = srv.0.id().to_string();
    let mut args = vec!["rest", "--addr", &addr, "--conns", "4", "--server-pid", &pid];
    args.extend(SHORT);
    let r = run_json(&args);
    check_load(&r);
    // The server's CPU share was measured, and keep-alive held (no reconnect).
    assert!(r["server_cpu"].as_f64().unwrap() > 0.0, "{r}");
    assert!(r["extra"].get("reconnects").is_none(), "{r}");
}

#[test]
fn wsj1_pipelined_and_sync_loads_against_the_echo_baseline() {
    let (_srv, port) = serve("serve-echo");
    let addr = format!("127.0.0.1:{port}");
    for (conns, inflight) in [("3", "8"), ("1", "1")] {
        let mut args = vec!["wsj1", "--addr", &addr, "--conns", conns, "--inflight", inflight];
        args.extend(SHORT);
        check_load(&run_json(&args));
    }
}

#[test]
fn rest_load_reports_errors_and_statuses() {
    let (_srv, port) = serve("serve-echo");
    // The echo server answers a plain GET with an HTTP error (no upgrade): every request fails.
    let addr = format!("127.0.0.1:{port}");
    let mut args = vec!["rest", "--addr", &addr, "--conns", "1"];
    args.extend(SHORT);
    let r = run_json(&args);
    assert_eq!(r["ops"].as_u64(), Some(0), "{r}");
    assert!(r["first_error"].as_str().is_some(), "{r}");
}

#[test]
fn suite_compares_a_baseline_with_itself() {
    let r = run_json(&[
        "suite",
        "--baseline-only",
        "--no-pin",
        "--only",
        "rest,wsj1-sync",
        "--runs",
        "1",
        "--warmup",
        "0.1",
        "--duration",
        "0.3",
        "--json",
    ]);
    let scenarios = r["scenarios"].as_array().unwrap();
    assert_eq!(scenarios.len(), 2, "{r}");
    for s in scenarios {
        let sides = s["sides"].as_array().unwrap();
        assert_eq!(sides.len(), 2, "{s}");
        for side in sides {
            assert_eq!(side["runs"].as_array().unwrap().len(), 1, "{side}");
        }
        let ratio = s["ratio"].as_f64().expect("a ratio");
        assert!(ratio > 0.2 && ratio < 5.0, "same server, ratio {ratio}");
        let v = s["verdict"].as_str().unwrap();
        assert!(v == "PASS" || v == "FAIL", "{v}");
    }
}

#[test]
fn non_loopback_targets_are_refused() {
    let out = Command::new(BIN)
        .args(["rest", "--addr", "192.0.2.1:80", "--duration", "0.1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a loopback address"));
}

#[test]
fn rpc_load_against_a_daemon_rpc_server() {
    let dir = afb_testkit::TempDir::new("bench-rpc");
    let sock = dir.path().join("hello");
    let uri = format!("unix:{}", sock.display());
    let daemon = afb_testkit::Daemon::start(&["--rpc-server", &uri]);
    let t0 = Instant::now();
    while !sock.exists() {
        assert!(t0.elapsed() < Duration::from_secs(10), "no socket {}", sock.display());
        sleep(Duration::from_millis(10));
    }
    let pid = daemon.pid().to_string();
    let mut args = vec![
        "rpc",
        "--uri",
        &uri,
        "--conns",
        "2",
        "--inflight",
        "8",
        "--server-pid",
        &pid,
    ];
    args.extend(SHORT);
    let r = run_json(&args);
    check_load(&r);
    // A verb that fails is counted as an error, with the reply's status.
    let mut args = vec!["rpc", "--uri", &uri, "--verb", "hello/no-such-verb"];
    args.extend(SHORT);
    let r = run_json(&args);
    assert_eq!(r["ops"].as_u64(), Some(0), "{r}");
    assert!(r["errors"].as_u64().unwrap() > 0, "{r}");
    assert!(r["first_error"].as_str().unwrap().contains("status"), "{r}");
}
