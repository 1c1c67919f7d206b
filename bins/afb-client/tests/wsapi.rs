//! The client over wsapi (`-d`) against the real daemon exporting `hello` with
//! `--ws-server` (unix, abstract and TCP sockets). Build the daemon first:
//! `cargo build -p afb-daemon`.

mod common;

use std::time::Duration;

use afb_testkit::{Daemon, DaemonOpts, TempDir};
use common::{json_lines, run, spawn, In};

/// A daemon exporting hello on a unix socket; returns it, its temp dir and the client URI.
fn daemon(extra: &[&str]) -> (Daemon, TempDir, String) {
    let dir = TempDir::new("client-wsapi");
    let path = dir.path().join("hello");
    let uri = format!("unix:{}", path.display());
    let mut args = vec!["--ws-server".to_owned(), uri.clone()];
    args.extend(extra.iter().map(|s| s.to_string()));
    let d = Daemon::start_with(DaemonOpts {
        wait_path: Some(path),
        args,
        ..DaemonOpts::default()
    });
    (d, dir, uri)
}

#[test]
fn raw_replies_are_reply_envelopes() {
    let (_d, _dir, uri) = daemon(&[]);
    let r = run(&["-d", &uri, "ping", r#"{"a":1}"#], In::Null);
    assert_eq!(r.code, 0, "{r:?}");
    let lines = json_lines(&r.stdout);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["jtype"], "afb-reply");
    assert_eq!(lines[0]["request"]["status"], "success");
    assert_eq!(lines[0]["response"], "Some String");
    assert!(lines[0]["request"]["info"]
        .as_str()
        .unwrap_or_default()
        .contains("Ping Binder Daemon"));

    let r = run(&["--direct", &uri, "pingfail"], In::Null);
    assert_eq!(r.code, 1, "{r:?}");
    let lines = json_lines(&r.stdout);
    assert_eq!(lines[0]["request"]["status"], "failed");
    assert_eq!(lines[0]["request"]["code"], -1);
}

#[test]
fn human_session_with_events() {
    let (_d, _dir, uri) = daemon(&[]);
    let script = "# wsapi lines are VERB ARGS\n\
                  eventadd {\"tag\":\"w1\",\"name\":\"wev\"}\n\
                  eventsub {\"tag\":\"w1\"}\n\
                  eventpush {\"tag\":\"w1\",\"data\":{\"v\":1}}\n\
                  eventunsub {\"tag\":\"w1\"}\n\
                  eventdel {\"tag\":\"w1\"}\n\
                  pingfail\n";
    let r = run(&["-d", "-H", "-s", "-e", &uri], In::Text(script));
    assert_eq!(r.code, 1, "the last reply is an error: {r:?}");
    let out = &r.stdout;
    for expected in [
        "SEND-CALL: eventadd {\"tag\":\"w1\",\"name\":\"wev\"}\n",
        "ON-REPLY 1:eventadd: success\n",
        "ON-EVENT-CREATE: [",
        ":hello/wev]\n",
        "ON-EVENT-SUBSCRIBE 2:eventsub: [",
        "ON-REPLY 2:eventsub: success\n",
        "ON-EVENT-PUSH: [",
        "{\n  \"v\":1\n}\n",
        "ON-REPLY 3:eventpush: success\n",
        "ON-EVENT-UNSUBSCRIBE 4:eventunsub: [",
        "ON-REPLY 5:eventdel: success\n",
        "ON-REPLY 6:pingfail: failed Ping Binder Daemon fails\n",
    ] {
        assert!(out.contains(expected), "no {expected:?} in:\n{out}");
    }
    let push = out.find("ON-EVENT-PUSH").unwrap_or(0);
    let sub = out.find("ON-EVENT-SUBSCRIBE").unwrap_or(usize::MAX);
    assert!(sub < push, "{out}");
}

#[test]
fn raw_events_are_event_envelopes() {
    let (_d, _dir, uri) = daemon(&[]);
    let script = "eventadd {\"tag\":\"w2\",\"name\":\"rawev\"}\neventsub {\"tag\":\"w2\"}\n\
                  eventpush {\"tag\":\"w2\",\"data\":[1,2]}\nbroadcast {\"name\":\"bc\",\"data\":{\"b\":1}}\n";
    let r = run(&["-d", "-s", &uri], In::Text(script));
    assert_eq!(r.code, 0, "{r:?}");
    let lines = json_lines(&r.stdout);
    assert_eq!(
        lines.iter().filter(|l| l["jtype"] == "afb-reply").count(),
        4,
        "{}",
        r.stdout
    );
    let pushed = lines.iter().find(|l| l["event"] == "hello/rawev").expect("push");
    assert_eq!(pushed["jtype"], "afb-event");
    assert_eq!(pushed["data"], serde_json::json!([1, 2]));
    let broadcast = lines.iter().find(|l| l["event"] == "hello/bc").expect("broadcast");
    assert_eq!(broadcast["data"], serde_json::json!({"b": 1}));
}

#[test]
fn malformed_args_are_sent_as_a_string() {
    let (_d, _dir, uri) = daemon(&[]);
    let r = run(&["-d", "-H", &uri], In::Text("ping not json at all\n"));
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains(r#"query="not json at all""#), "{}", r.stdout);
    assert!(r.stderr.contains("not valid JSON"), "{}", r.stderr);
}

#[test]
fn uuid_and_token_are_declared() {
    let (_d, _dir, uri) = daemon(&["--token", "SECRET"]);
    let uuid = "0a9d8a8e-1111-4222-8333-444455556666";
    let r = run(&["-d", "-u", uuid, &uri, "info"], In::Null);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(json_lines(&r.stdout)[0]["response"]["uuid"], uuid);
    let r = run(&["-d", "-t", "SECRET", &uri, "checktok"], In::Null);
    assert_eq!(r.code, 0, "{r:?}");
    let r = run(&["-d", "-t", "WRONG", &uri, "checktok"], In::Null);
    assert_eq!(r.code, 1, "{r:?}");
}

#[test]
fn abstract_and_tcp_sockets() {
    let name = format!("afb-client-test-{}", std::process::id());
    let port = afb_testkit::free_port();
    let d = Daemon::start(&[
        "--ws-server",
        &format!("unix:@{name}/hello"),
        "--ws-server",
        &format!("tcp:127.0.0.1:{port}/hello"),
    ]);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    for uri in [format!("unix:@{name}/hello"), format!("tcp:127.0.0.1:{port}/hello")] {
        loop {
            let r = run(&["-d", &uri, "ping", "true"], In::Null);
            if r.code == 0 {
                assert_eq!(json_lines(&r.stdout)[0]["response"], "Some String");
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{uri}: {r:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    drop(d);
}

#[test]
fn killing_the_daemon_mid_call_exits_2() {
    let (mut d, _dir, uri) = daemon(&[]);
    // hello/subcall into tictactoe/wait stays pending until the board changes.
    let c = spawn(
        &["-d", "-e", &uri, "subcall", r#"{"api":"tictactoe","verb":"wait"}"#],
        In::Null,
    );
    c.wait_for("SEND-CALL: subcall");
    std::thread::sleep(Duration::from_millis(300));
    d.kill();
    let r = c.finish();
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("no reply to 1:subcall"), "{}", r.stderr);
}

#[test]
fn keep_running_ends_with_the_server() {
    let (mut d, _dir, uri) = daemon(&[]);
    let mut c = spawn(&["-d", "-k", "-H", &uri], In::Text("ping\n"));
    c.wait_for("ON-REPLY 1:ping: success");
    std::thread::sleep(Duration::from_millis(300));
    assert!(c.running());
    d.kill();
    let r = c.finish();
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stdout.ends_with("ON-HANGUP\n"), "{}", r.stdout);
}

#[test]
fn missing_socket_exits_5() {
    let dir = TempDir::new("client-nosock");
    let uri = format!("unix:{}/hello", dir.path().display());
    let r = run(&["-d", &uri, "ping"], In::Null);
    assert_eq!(r.code, 5, "{r:?}");
    assert!(r.stderr.contains(&uri), "{}", r.stderr);
}
