//! The daemon as a process: default start-up, --exec, --call, config files,
//! --dump-config, --help, errors at start-up, logging and its run-time
//! level, --output, graceful shutdown, exit requests, READY=1, socket
//! activation and --daemon.

#[path = "../../../crates/http/tests/http_client/mod.rs"]
mod http_client;

use std::io::Read;
use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use afb_testkit::{bin_path, free_port, Daemon, DaemonOpts, TempDir};
use http_client::{Conn, Req};

/// Result of a short daemon run.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs `afb-daemon ARGS` to completion (killed after `limit`).
fn run(args: &[&str], limit: Duration) -> Run {
    let mut child = Command::new(bin_path("afb-daemon"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn afb-daemon");
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Run {
        code: status.and_then(|s| s.code()),
        stdout: t_out.join().unwrap(),
        stderr: t_err.join().unwrap(),
    }
}

const LIMIT: Duration = Duration::from_secs(20);

#[test]
fn default_start_serves_the_samples_and_says_so_in_its_first_log_line() {
    let work = TempDir::new("work");
    let d = Daemon::start(&["--workdir", work.path().to_str().unwrap()]);
    let r = Conn::tcp(d.addr()).get("/api/hello/ping");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["response"], "Some String");
    for api in ["tictactoe/board", "auth/ping", "monitor/session"] {
        assert_eq!(Conn::tcp(d.addr()).get(&format!("/api/{api}")).status, 200, "{api}");
    }
    let log = d.wait_log(Duration::from_secs(5), |l| l.contains("sample APIs"));
    let first = log.lines().next().unwrap_or_default();
    assert!(first.starts_with("<4> WARNING: "), "{log}");
    assert!(first.contains("sample APIs hello, tictactoe, auth"), "{first}");
    assert!(!log.contains("ERROR"), "{log}");
}

#[test]
fn exec_child_gets_substitutions_and_environment_and_reaches_the_daemon() {
    let work = TempDir::new("exec");
    let port = free_port().to_string();
    let wd = work.path().to_str().unwrap();
    let script = "echo \"port=@p token=@t at=@@ env=$AFB_PORT,$AFB_TOKEN,$AFB_WORKDIR,$AFB_NAME\" > out.txt; \
                  exec 3<>/dev/tcp/127.0.0.1/@p; printf 'GET /api/hello/ping HTTP/1.0\\r\\n\\r\\n' >&3; \
                  cat <&3 > reply.txt; exit 3";
    let r = run(
        &[
            "--port",
            &port,
            "--workdir",
            wd,
            "-t",
            "tok",
            "-n",
            "bname",
            "--exec",
            "bash",
            "-c",
            script,
        ],
        LIMIT,
    );
    assert_eq!(r.code, Some(3), "the child's exit code is the daemon's: {}", r.stderr);
    let out = std::fs::read_to_string(work.path().join("out.txt")).unwrap();
    assert_eq!(
        out.trim(),
        format!(
            "port={port} token=tok at=@ env={port},tok,{},bname",
            work.path().canonicalize().unwrap().display()
        )
    );
    let reply = std::fs::read_to_string(work.path().join("reply.txt")).unwrap();
    assert!(
        reply.contains("\"response\":\"Some String\""),
        "listening before --exec: {reply}"
    );
}

#[test]
fn exec_child_success_exits_zero() {
    let work = TempDir::new("exec0");
    let port = free_port().to_string();
    let r = run(
        &[
            "--port",
            &port,
            "--workdir",
            work.path().to_str().unwrap(),
            "-e",
            "true",
        ],
        LIMIT,
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
}

#[test]
fn random_token_is_given_to_the_exec_child_and_enforced() {
    let work = TempDir::new("rtok");
    let port = free_port().to_string();
    let script = "printf %s '@t' > tok.txt; \
                  exec 3<>/dev/tcp/127.0.0.1/@p; \
                  printf 'GET /api/hello/checktok HTTP/1.0\\r\\nAuthorization: Bearer @t\\r\\n\\r\\n' >&3; \
                  cat <&3 > good.txt; \
                  exec 4<>/dev/tcp/127.0.0.1/@p; \
                  printf 'GET /api/hello/checktok HTTP/1.0\\r\\n\\r\\n' >&4; \
                  cat <&4 > bad.txt";
    let r = run(
        &[
            "--port",
            &port,
            "--workdir",
            work.path().to_str().unwrap(),
            "-r",
            "--exec",
            "bash",
            "-c",
            script,
        ],
        LIMIT,
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let tok = std::fs::read_to_string(work.path().join("tok.txt")).unwrap();
    assert_eq!(tok.len(), 36, "a random uuid token: {tok:?}");
    assert!(!r.stderr.contains(&tok), "the token is never logged");
    let good = std::fs::read_to_string(work.path().join("good.txt")).unwrap();
    assert!(good.lines().next().unwrap_or("").contains(" 200 "), "{good}");
    let bad = std::fs::read_to_string(work.path().join("bad.txt")).unwrap();
    assert!(bad.lines().next().unwrap_or("").contains(" 401 "), "{bad}");
}

#[test]
fn calls_run_in_order_and_a_failing_call_exits_non_zero() {
    let work = TempDir::new("call");
    let wd = work.path().to_str().unwrap();
    let port = free_port().to_string();
    let r = run(
        &[
            "--port",
            &port,
            "--workdir",
            wd,
            "-vv",
            "--call",
            "hello/ping",
            "--call",
            "hello/setctx:{\"n\":1}",
            "--exec",
            "true",
        ],
        LIMIT,
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let a = r.stderr.find("--call hello/ping").expect("first call logged");
    let b = r.stderr.find("--call hello/setctx").expect("second call logged");
    assert!(a < b, "{}", r.stderr);
    let port = free_port().to_string();
    let r = run(&["--port", &port, "--workdir", wd, "--call", "hello/pingfail"], LIMIT);
    assert_ne!(r.code, Some(0));
    assert!(r.code.is_some(), "it exits by itself");
    assert!(
        r.stderr.contains("--call hello/pingfail failed: failed"),
        "{}",
        r.stderr
    );
    let r = run(
        &["--port", &port, "--workdir", wd, "--call", "hello/ping:{bad json"],
        LIMIT,
    );
    assert_ne!(r.code, Some(0));
    assert!(r.stderr.contains("bad JSON"), "{}", r.stderr);
}

#[test]
fn unknown_config_key_is_rejected_with_its_name() {
    let work = TempDir::new("cfg");
    let cfg = work.path().join("bad.json");
    std::fs::write(&cfg, r#"{"port": 1, "no-htttpd": true}"#).unwrap();
    let r = run(&["--config", cfg.to_str().unwrap()], LIMIT);
    assert_ne!(r.code, Some(0));
    assert!(r.code.is_some());
    assert!(r.stderr.contains("unknown key \"no-htttpd\""), "{}", r.stderr);
}

#[test]
fn config_files_merge_and_dump_config_prints_the_result() {
    let work = TempDir::new("cfg2");
    let a = work.path().join("a.json");
    let b = work.path().join("b.json");
    std::fs::write(&a, r#"{"port": 4000, "alias": ["/x:/tmp"], "session-max": 7}"#).unwrap();
    std::fs::write(&b, r#"{"alias": "/y:/tmp", "rootapi": "/rest"}"#).unwrap();
    let r = run(
        &[
            "--config",
            a.to_str().unwrap(),
            "--config",
            b.to_str().unwrap(),
            "--port",
            "4001",
            "-Z",
        ],
        LIMIT,
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("JSON on stdout");
    assert_eq!(v["port"], 4001, "the command line wins");
    assert_eq!(v["alias"], serde_json::json!(["/x:/tmp", "/y:/tmp"]));
    assert_eq!(v["session-max"], 7);
    assert_eq!(v["rootapi"], "/rest");
    // The dump is itself a valid config file.
    let dumped = work.path().join("dumped.json");
    std::fs::write(&dumped, &r.stdout).unwrap();
    let r2 = run(&["--config", dumped.to_str().unwrap(), "-Z"], LIMIT);
    assert_eq!(r2.code, Some(0), "{}", r2.stderr);
    assert_eq!(serde_json::from_str::<serde_json::Value>(&r2.stdout).unwrap(), v);
}

#[test]
fn help_version_and_unknown_options() {
    let r = run(&["--help"], LIMIT);
    assert_eq!(r.code, Some(0));
    for opt in [
        "--port",
        "--rootapi",
        "--ws-server",
        "--exec",
        "--http-max-body",
        "--shutdown-grace",
    ] {
        assert!(r.stdout.contains(opt), "--help lists {opt}");
    }
    let r = run(&["--version"], LIMIT);
    assert_eq!(r.code, Some(0));
    assert!(r.stdout.contains(env!("CARGO_PKG_VERSION")));
    let r = run(&["--no-such-option"], LIMIT);
    assert_ne!(r.code, Some(0));
    assert!(r.stderr.contains("--no-such-option"), "{}", r.stderr);
}

#[test]
fn start_up_errors_name_their_cause() {
    let work = TempDir::new("err");
    let wd = work.path().to_str().unwrap();
    let port = free_port().to_string();
    let r = run(&["--port", &port, "--workdir", wd, "--binding", "/lib/x.so"], LIMIT);
    assert_ne!(r.code, Some(0));
    assert!(r.stderr.contains("binding /lib/x.so: cannot load"), "{}", r.stderr);
    let uri = "unix:/etc/hostname/not-a-dir/hello";
    let r = run(&["--port", &port, "--workdir", wd, "--ws-server", uri], LIMIT);
    assert_ne!(r.code, Some(0));
    assert!(r.code.is_some());
    assert!(r.stderr.contains(&format!("--ws-server {uri}")), "{}", r.stderr);
    // The port is taken: the error names it.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = l.local_addr().unwrap().port().to_string();
    let r = run(&["--port", &taken, "--workdir", wd], LIMIT);
    assert_ne!(r.code, Some(0));
    assert!(r.stderr.contains(&format!("--port {taken}")), "{}", r.stderr);
}

#[test]
fn workdir_and_uploaddir_are_created() {
    let base = TempDir::new("mk");
    let wd = base.path().join("a/b/work");
    let up = base.path().join("up/loads");
    let port = free_port().to_string();
    let r = run(
        &[
            "--port",
            &port,
            "--workdir",
            wd.to_str().unwrap(),
            "--uploaddir",
            up.to_str().unwrap(),
            "-e",
            "true",
        ],
        LIMIT,
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(wd.is_dir());
    assert!(up.is_dir());
}

#[test]
fn graceful_shutdown_answers_the_request_in_flight_then_exits_zero() {
    let work = TempDir::new("grace");
    let mut d = Daemon::start(&["--workdir", work.path().to_str().unwrap(), "--shutdown-grace", "1"]);
    let mut c = Conn::tcp(d.addr());
    c.send(&Req::get("/api/tictactoe/wait"));
    std::thread::sleep(Duration::from_millis(300));
    let t = Instant::now();
    d.signal("TERM");
    let r = c.read_response(false).expect("an answer before exit");
    assert_eq!(r.afb_status(), "disconnected", "{}", r.text());
    assert!(
        t.elapsed() >= Duration::from_millis(900),
        "the request had its grace period"
    );
    let status = d.wait_timeout(Duration::from_secs(10)).expect("exits");
    assert_eq!(status.code(), Some(0));
    assert!(t.elapsed() < Duration::from_secs(6));
}

#[test]
fn sigint_with_nothing_in_flight_exits_zero_at_once() {
    let work = TempDir::new("int");
    let mut d = Daemon::start(&["--workdir", work.path().to_str().unwrap()]);
    let mut idle = Conn::tcp(d.addr());
    assert_eq!(idle.get("/api/hello/ping").status, 200);
    let t = Instant::now();
    d.signal("INT");
    let status = d.wait_timeout(Duration::from_secs(10)).expect("exits");
    assert_eq!(status.code(), Some(0));
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "idle keep-alive connections do not delay the exit"
    );
    assert!(idle.wait_closed());
}

#[test]
fn exit_request_stops_the_daemon_with_its_code() {
    let work = TempDir::new("exit");
    let mut d = Daemon::start(&["--workdir", work.path().to_str().unwrap()]);
    let r = Conn::tcp(d.addr()).request(&Req::post("/api/hello/exit", "application/json", r#"{"code":5}"#));
    assert_eq!(r.status, 200);
    let status = d.wait_timeout(Duration::from_secs(10)).expect("exits");
    assert_eq!(status.code(), Some(5));
}

#[test]
fn log_level_follows_monitor_set_at_run_time() {
    let work = TempDir::new("log");
    let d = Daemon::start(&["--workdir", work.path().to_str().unwrap(), "--session-max", "1"]);
    let mut c = Conn::tcp(d.addr());
    // Cookie-less requests evict sessions: logged at info, hidden at warning.
    for _ in 0..3 {
        assert_eq!(c.get("/api/hello/verbose?x=1").status, 200);
    }
    let log = d.wait_log(Duration::from_secs(5), |l| l.contains("[hello] verbose warning"));
    assert!(log.contains("<3> ERROR: [hello] verbose error"), "{log}");
    assert!(log.contains("<4> WARNING: [hello] verbose warning"), "{log}");
    assert!(!log.contains("[hello] verbose notice"), "{log}");
    assert!(!log.contains("session table full"), "{log}");
    let r = c.request(&Req::post(
        "/api/monitor/set",
        "application/json",
        r#"{"verbosity":{"*":"info","hello":"debug"}}"#,
    ));
    assert_eq!(r.status, 200, "{}", r.text());
    for _ in 0..3 {
        assert_eq!(c.get("/api/hello/verbose?x=2").status, 200);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let log = d.log();
        if log.contains("<6> INFO: session table full") && log.contains("<7> DEBUG: [hello] verbose debug") {
            assert!(log.contains("<5> NOTICE: [hello] verbose notice"), "{log}");
            break;
        }
        assert!(Instant::now() < deadline, "levels not applied:\n{log}");
        std::thread::sleep(Duration::from_millis(20));
    }
    let v = c.get("/api/monitor/get?verbosity=true").json();
    assert_eq!(v["response"]["verbosity"][""], "info");
    assert_eq!(v["response"]["verbosity"]["hello"], "debug");
}

#[test]
fn output_option_sends_the_log_to_a_file() {
    let work = TempDir::new("out");
    let file = work.path().join("daemon.log");
    let port = free_port().to_string();
    let r = run(
        &[
            "--port",
            &port,
            "--workdir",
            work.path().to_str().unwrap(),
            "-vv",
            "-o",
            file.to_str().unwrap(),
            "-e",
            "true",
        ],
        LIMIT,
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(r.stderr.is_empty(), "nothing on the original stderr: {}", r.stderr);
    let log = std::fs::read_to_string(&file).unwrap();
    assert!(log.contains("<6> INFO: ready"), "{log}");
}

#[test]
fn ready_is_notified_to_systemd_once_listening() {
    let work = TempDir::new("notify");
    let sock = work.path().join("notify.sock");
    let listener = UnixDatagram::bind(&sock).unwrap();
    listener.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let d = Daemon::start_with(DaemonOpts {
        args: vec!["--workdir".into(), work.path().to_str().unwrap().into()],
        env: vec![("NOTIFY_SOCKET".into(), sock.to_str().unwrap().into())],
        ..DaemonOpts::default()
    });
    let mut buf = [0u8; 256];
    let n = listener.recv(&mut buf).expect("a notification");
    let msg = String::from_utf8_lossy(&buf[..n]);
    assert!(msg.lines().any(|l| l == "READY=1"), "{msg}");
    assert_eq!(Conn::tcp(d.addr()).get("/api/hello/ping").status, 200);
}

#[test]
fn socket_activation_serves_http_on_the_passed_socket() {
    let work = TempDir::new("sd");
    let sd_port = free_port();
    let listen = [format!("127.0.0.1:{sd_port}")];
    let Some(_daemon) = socket_activated(&listen, "web", &work, &["--interface", "sd:web"]) else {
        return;
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    let addr: std::net::SocketAddr = format!("127.0.0.1:{sd_port}").parse().unwrap();
    while !afb_testkit::accepts(addr.port()) {
        assert!(Instant::now() < deadline, "activation socket never listened");
        std::thread::sleep(Duration::from_millis(20));
    }
    let r = Conn::tcp(addr).get("/api/hello/ping");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["response"], "Some String");
}

#[test]
fn daemon_mode_detaches_and_keeps_serving() {
    let work = TempDir::new("bg");
    let log = work.path().join("bg.log");
    let port = free_port();
    let p = port.to_string();
    let r = run(
        &[
            "-D",
            "--port",
            &p,
            "--workdir",
            work.path().to_str().unwrap(),
            "-o",
            log.to_str().unwrap(),
            "-vv",
        ],
        LIMIT,
    );
    assert_eq!(r.code, Some(0), "the launching process exits: {}", r.stderr);
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !afb_testkit::accepts(addr.port()) {
        assert!(Instant::now() < deadline, "background daemon never listened");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(Conn::tcp(addr).get("/api/hello/ping").status, 200);
    // Stop it.
    let r = Conn::tcp(addr).request(&Req::post("/api/hello/exit", "application/json", "{}"));
    assert_eq!(r.status, 200);
    let deadline = Instant::now() + Duration::from_secs(10);
    while afb_testkit::accepts(addr.port()) {
        assert!(Instant::now() < deadline, "background daemon did not stop");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(std::fs::read_to_string(&log).unwrap().contains("ready"));
}

/// Runs `systemd-socket-activate -l LISTEN... --fdname=NAMES afb-daemon
/// --port FREE --workdir WORK ARGS`: the daemon starts at the first
/// connection to one of the sockets. `None` when the tool is missing (a
/// failure under CI=true).
fn socket_activated(listen: &[String], names: &str, work: &TempDir, args: &[&str]) -> Option<afb_testkit::KillOnDrop> {
    let tool = afb_testkit::require_tool("systemd-socket-activate")?;
    let mut cmd = Command::new(tool);
    for l in listen {
        cmd.arg("-l").arg(l);
    }
    cmd.arg(format!("--fdname={names}"))
        .arg(bin_path("afb-daemon"))
        .args(["--port", &free_port().to_string(), "--workdir"])
        .arg(work.path())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    Some(afb_testkit::KillOnDrop(
        cmd.spawn().expect("spawn systemd-socket-activate"),
    ))
}

/// Waits until `path` exists.
fn wait_for_path(path: &std::path::Path) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !path.exists() {
        assert!(Instant::now() < deadline, "{} never appeared", path.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn ws_server_on_sockets_passed_by_systemd() {
    let work = TempDir::new("sd-ws");
    let sock = work.path().join("hello");
    let tcp_port = free_port();
    // `sd:NAME` (the API is the name) and `sd:NAME/API`
    let listen = [sock.display().to_string(), format!("127.0.0.1:{tcp_port}")];
    let args = ["--ws-server", "sd:hello", "--ws-server", "sd:wsapi-tcp/hello"];
    let Some(_back) = socket_activated(&listen, "hello:wsapi-tcp", &work, &args) else {
        return;
    };
    wait_for_path(&sock);
    // The first connection starts the daemon; the fronts call through both sockets.
    for uri in [
        format!("unix:{}", sock.display()),
        format!("tcp:127.0.0.1:{tcp_port}/hello"),
    ] {
        let front = Daemon::start(&["--ws-client", &uri, "--workdir", work.path().to_str().unwrap()]);
        let r = Conn::tcp(front.addr()).get("/api/hello/ping");
        assert_eq!(
            (r.status, r.afb_status()),
            (200, "success".to_owned()),
            "via {uri}: {}",
            r.text()
        );
        assert_eq!(r.json()["response"], "Some String");
    }
}

#[test]
fn a_socket_systemd_did_not_pass_is_a_start_up_error() {
    let work = TempDir::new("sd-missing");
    let wd = work.path().to_str().unwrap();
    let port = free_port().to_string();
    for (option, uri) in [("--ws-server", "sd:nope/hello"), ("--interface", "sd:nope")] {
        let r = run(&["--port", &port, "--workdir", wd, option, uri], LIMIT);
        assert!(r.code.is_some_and(|c| c != 0), "{option} {uri}: {}", r.stderr);
        assert!(
            r.stderr.contains(&format!("{option} {uri}")) && r.stderr.contains("no socket named \"nope\""),
            "{}",
            r.stderr
        );
    }
}

/// The stale socket file rule: a file left by a killed daemon is replaced,
/// a socket a live daemon accepts on is refused (and keeps working), a
/// regular file is never removed; a stopped daemon removes its files.
#[test]
fn unix_socket_files_left_by_a_killed_daemon_are_reused_live_ones_refused() {
    let dir = TempDir::new("stale");
    let ws = dir.path().join("hello");
    let web = dir.path().join("web.sock");
    let wd = dir.path().to_str().unwrap();
    let ws_uri = format!("unix:{}", ws.display());
    let web_uri = format!("unix:{}", web.display());
    let args = |extra: &[&str]| {
        let mut a: Vec<String> = ["-vv", "--workdir", wd, "--ws-server", &ws_uri, "--interface", &web_uri]
            .iter()
            .map(|s| s.to_string())
            .collect();
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let start = || {
        let d = Daemon::start_with(DaemonOpts {
            args: args(&[]),
            wait_path: Some(ws.clone()),
            ..DaemonOpts::default()
        });
        let log = d.wait_log(Duration::from_secs(10), |l| l.contains("ready"));
        assert!(log.contains("ready"), "{log}");
        d
    };
    let mut first = start();

    // Live sockets: a second daemon is refused, for either option.
    let port = free_port().to_string();
    for (option, uri) in [("--ws-server", &ws_uri), ("--interface", &web_uri)] {
        let r = run(&["--port", &port, "--workdir", wd, option, uri.as_str()], LIMIT);
        assert!(r.code.is_some_and(|c| c != 0), "{option} {uri}: {}", r.stderr);
        assert!(
            r.stderr.contains(uri.as_str()) && r.stderr.contains("in use"),
            "{option}: {}",
            r.stderr
        );
    }
    assert_eq!(
        Conn::unix(&web).get("/api/hello/ping").status,
        200,
        "the first one still serves"
    );
    let front = Daemon::start(&["--workdir", wd, "--ws-client", &ws_uri]);
    assert_eq!(Conn::tcp(front.addr()).get("/api/hello/ping").afb_status(), "success");

    // Killed: its files stay; the next daemon replaces them.
    first.kill();
    assert!(ws.exists() && web.exists(), "SIGKILL leaves the socket files");
    let second = start();
    assert_eq!(Conn::unix(&web).get("/api/hello/ping").status, 200);
    assert_eq!(Conn::tcp(front.addr()).get("/api/hello/ping").afb_status(), "success");

    // Stopped (SIGTERM): it removes its files.
    drop(second);
    assert!(!ws.exists() && !web.exists(), "removed at exit");

    // A regular file is never removed.
    std::fs::write(&web, b"precious").unwrap();
    let r = run(&["--port", &port, "--workdir", wd, "--interface", &web_uri], LIMIT);
    assert!(r.code.is_some_and(|c| c != 0), "{}", r.stderr);
    assert!(r.stderr.contains("not a socket"), "{}", r.stderr);
    assert_eq!(std::fs::read(&web).unwrap(), b"precious");
}
