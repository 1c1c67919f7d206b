//! The client over RPC v3 (`--rpc`) against the real daemon: its `--rpc-server` socket (raw and
//! `ws+`) and its HTTP API root (both upgrades); calls, errors, events, the session declared
//! with `-u`, the exit codes. Build the daemon first: `cargo build -p afb-daemon`.

mod common;

use afb_testkit::{Daemon, DaemonOpts, TempDir};
use common::{json_lines, run, In};

/// A daemon serving the samples, exporting hello and monitor on `unix:DIR/rpc` and
/// `ws+unix:DIR/ws`; returns it, its directory, and the two client URIs.
fn daemon() -> (Daemon, TempDir, String, String) {
    let dir = TempDir::new("client-rpc");
    let (raw, ws) = (dir.path().join("rpc"), dir.path().join("ws"));
    let servers = [
        format!("unix:{}?export=hello,monitor", raw.display()),
        format!("ws+unix:{}?export=hello", ws.display()),
    ];
    let d = Daemon::start_with(DaemonOpts {
        wait_path: Some(ws.clone()),
        args: vec![
            "--samples".into(),
            "--rpc-server".into(),
            servers[0].clone(),
            "--rpc-server".into(),
            servers[1].clone(),
        ],
        ..DaemonOpts::default()
    });
    (
        d,
        dir,
        format!("unix:{}", raw.display()),
        format!("ws+unix:{}", ws.display()),
    )
}

#[test]
fn calls_and_errors_over_each_way_in() {
    let (d, _dir, raw, ws) = daemon();
    let port = d.addr().port();
    for uri in [
        raw,
        ws,
        format!("http://127.0.0.1:{port}/api"),
        format!("ws://127.0.0.1:{port}/api"),
    ] {
        let r = run(&["--rpc", &uri, "hello", "ping", r#"{"a":1}"#], In::Null);
        assert_eq!(r.code, 0, "{uri}: {r:?}");
        let lines = json_lines(&r.stdout);
        assert_eq!(lines.len(), 1, "{uri}: {r:?}");
        assert_eq!(
            (&lines[0]["jtype"], &lines[0]["response"]),
            (&"afb-reply".into(), &"Some String".into())
        );
        let r = run(&["--rpc", &uri, "hello", "nosuchverb"], In::Null);
        assert_eq!(r.code, 1, "{uri}: {r:?}");
        assert_eq!(json_lines(&r.stdout)[0]["request"]["status"], "unknown-verb", "{uri}");
    }
}

#[test]
fn events_session_and_human_output() {
    let (_d, _dir, raw, _) = daemon();
    let script = "hello eventadd {\"tag\":\"t\",\"name\":\"ev\"}\nhello eventsub {\"tag\":\"t\"}\n\
                  hello eventpush {\"tag\":\"t\",\"data\":{\"n\":7}}\nhello info\n";
    let r = run(&["--rpc", "-u", "my-own-session", &raw], In::Text(script));
    assert_eq!(r.code, 0, "{r:?}");
    let lines = json_lines(&r.stdout);
    let event = lines
        .iter()
        .find(|l| l["jtype"] == "afb-event")
        .expect("the pushed event");
    assert_eq!((&event["event"], &event["data"]["n"]), (&"hello/ev".into(), &7.into()));
    let info = lines.last().unwrap();
    assert_eq!(
        info["response"]["uuid"], "my-own-session",
        "the session declared with -u: {r:?}"
    );
    let r = run(&["--rpc", "-H", &raw, "hello", "ping", "true"], In::Null);
    assert!(
        r.stdout
            .starts_with("ON-REPLY 1:hello/ping: OK\n{\n  \"jtype\":\"afb-reply\""),
        "{r:?}"
    );
}

#[test]
fn connection_failures() {
    let dir = TempDir::new("client-rpc-none");
    let r = run(
        &[
            "--rpc",
            &format!("unix:{}", dir.path().join("none").display()),
            "hello",
            "ping",
        ],
        In::Null,
    );
    assert_eq!(r.code, 5, "{r:?}");
    // TLS is a link like another: a missing socket is a connection failure.
    let r = run(&["--rpc", "tls+unix:/x/y", "hello", "ping"], In::Null);
    assert_eq!(r.code, 5, "{r:?}");
    // A client cannot take a socket from systemd: refused as a bad argument.
    let r = run(&["--rpc", "sd:x", "hello", "ping"], In::Null);
    assert_eq!(r.code, 4, "{r:?}");
    let r = run(&["--rpc", "-d", "unix:/x/y", "ping"], In::Null);
    assert_eq!(r.code, 4, "--rpc and -d: {r:?}");
}
