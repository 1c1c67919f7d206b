//! The client over x-afb-ws-json1 against the real daemon (afb-testkit), serving the hello and
//! tictactoe samples. Build the daemon first: `cargo build -p afb-daemon`.

mod common;

use std::time::Duration;

use afb_testkit::Daemon;
use common::{json_lines, run, spawn, In};

fn url(d: &Daemon) -> String {
    d.ws_url()
}

/// The reply objects of a raw output (events left out).
fn replies(stdout: &str) -> Vec<serde_json::Value> {
    json_lines(stdout)
        .into_iter()
        .filter(|l| l["jtype"] == "afb-reply")
        .collect()
}

#[test]
fn raw_is_one_reply_object_per_line_and_exit_0() {
    let d = Daemon::start(&[]);
    let r = run(&[&url(&d), "hello", "ping", r#"{"a":1}"#], In::Null);
    assert_eq!(r.code, 0, "{r:?}");
    let lines = json_lines(&r.stdout);
    assert_eq!(lines.len(), 1, "{r:?}");
    assert_eq!(lines[0]["jtype"], "afb-reply");
    assert_eq!(lines[0]["request"]["status"], "success");
    assert_eq!(lines[0]["response"], "Some String");
    assert!(r.stderr.is_empty(), "{r:?}");
}

#[test]
fn host_port_form_and_http_scheme_work() {
    let d = Daemon::start(&[]);
    for uri in [
        format!("127.0.0.1:{}/api", d.port),
        format!("http://localhost:{}/api", d.port),
    ] {
        let r = run(&[&uri, "hello", "pingnull"], In::Null);
        assert_eq!(r.code, 0, "{uri}: {r:?}");
        assert_eq!(json_lines(&r.stdout)[0]["request"]["status"], "success");
    }
}

#[test]
fn error_reply_exits_1() {
    let d = Daemon::start(&[]);
    let r = run(&[&url(&d), "hello", "pingfail"], In::Null);
    assert_eq!(r.code, 1, "{r:?}");
    assert_eq!(json_lines(&r.stdout)[0]["request"]["status"], "failed");
    // The exit code follows the last reply.
    let r = run(&[&url(&d)], In::Text("hello pingfail\nhello ping\n"));
    assert_eq!(r.code, 0, "{r:?}");
    let r = run(&["-s", &url(&d)], In::Text("hello ping\nhello pingfail\n"));
    assert_eq!(r.code, 1, "{r:?}");
}

#[test]
fn human_output_and_echo() {
    let d = Daemon::start(&[]);
    let r = run(&["-H", "-e", &url(&d), "hello", "ping", r#"{"a":1}"#], In::Null);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout.starts_with("SEND-CALL hello/ping {\"a\":1}\nON-REPLY 1:hello/ping: OK\n{\n  \"jtype\":\"afb-reply\",\n  \"request\":{\n    \"status\":\"success\",\n"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.ends_with("  \"response\":\"Some String\"\n}\n"),
        "{}",
        r.stdout
    );
    let r = run(&["--human", &url(&d), "hello", "pingfail"], In::Null);
    assert_eq!(r.code, 1);
    assert!(
        r.stdout.starts_with("ON-REPLY 1:hello/pingfail: ERROR\n{\n"),
        "{}",
        r.stdout
    );
    // -q drops the ON- lines; -r after -H is raw again.
    let r = run(&["-H", "-q", &url(&d), "hello", "pingnull"], In::Null);
    assert!(r.stdout.starts_with("{\n  \"jtype\""), "{}", r.stdout);
    let r = run(&["-H", "-r", &url(&d), "hello", "pingnull"], In::Null);
    assert_eq!(json_lines(&r.stdout).len(), 1);
}

#[test]
fn stdin_script_with_comments_events_and_malformed_args() {
    let d = Daemon::start(&[]);
    let script = "# a comment\n\n   \nhello eventadd {\"tag\":\"s1\",\"name\":\"scriptev\"}\n\
                  \t# indented comment\nhello eventsub {\"tag\":\"s1\"}\n\
                  hello eventpush {\"tag\":\"s1\",\"data\":{\"v\":42}}\n\
                  hello ping this is not json\nhello pingnull\n";
    let r = run(&["-s", &url(&d)], In::Text(script));
    assert_eq!(r.code, 0, "{r:?}");
    let lines = json_lines(&r.stdout);
    let replies: Vec<_> = lines.iter().filter(|l| l["jtype"] == "afb-reply").collect();
    assert_eq!(replies.len(), 5, "{}", r.stdout);
    let event = lines
        .iter()
        .find(|l| l["jtype"] == "afb-event")
        .expect("the pushed event");
    assert_eq!(event["event"], "hello/scriptev");
    assert_eq!(event["data"], serde_json::json!({"v": 42}));
    // The malformed ARGS reached the verb as a JSON string.
    let info = replies[3]["request"]["info"].as_str().unwrap_or_default();
    assert!(info.contains(r#"query="this is not json""#), "{info}");
    // No warning in raw mode; in human mode, one on stderr.
    assert!(r.stderr.is_empty(), "{}", r.stderr);
    let r = run(&["-H", &url(&d)], In::Text("hello ping {oops\n"));
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stderr.contains("not valid JSON") && r.stderr.contains("{oops"),
        "{}",
        r.stderr
    );
    assert!(r.stdout.contains(r#"query=\"{oops\""#), "{}", r.stdout);
}

#[test]
fn verb_missing_is_reported_and_skipped() {
    let d = Daemon::start(&[]);
    let r = run(&[&url(&d)], In::Text("hello\nhello ping\n"));
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("verb missing"), "{}", r.stderr);
    assert_eq!(json_lines(&r.stdout).len(), 1);
}

#[test]
fn api_slash_verb_lines_and_dash_args_from_stdin() {
    let d = Daemon::start(&[]);
    let r = run(&[&url(&d)], In::Text("hello/ping [1,2]\n"));
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("query=[ 1, 2 ]"), "{}", r.stdout);
    let r = run(
        &["-H", &format!("localhost:{}/api", d.port), "hello", "ping", "-"],
        In::Text("{\"from\":\"stdin\"}"),
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains(r#"\"from\": \"stdin\""#), "{}", r.stdout);
}

#[test]
fn sync_sends_one_call_at_a_time() {
    let d = Daemon::start(&[]);
    // `wait` replies when the board changes; with -s, `play` waits for that reply: stuck.
    // (`board` creates this session's board without changing it.)
    let script = "tictactoe board\ntictactoe wait\ntictactoe play\n";
    let mut c = spawn(&["-s", &url(&d)], In::Text(script));
    c.wait_for("afb-reply");
    std::thread::sleep(Duration::from_millis(700));
    assert!(c.running(), "-s must not send play while wait is pending");
    let r = c.kill();
    assert_eq!(replies(&r.stdout).len(), 1, "{r:?}");

    // With two in flight, play is sent, changes the board, and wait replies.
    let r = run(&["-p", "2", &url(&d)], In::Text(script));
    assert_eq!(r.code, 0, "{r:?}");
    let lines = replies(&r.stdout);
    assert_eq!(lines.len(), 3, "{r:?}");
    assert!(
        lines.iter().any(|l| l["request"]["info"] == "play"),
        "wait saw the play: {}",
        r.stdout
    );
}

#[test]
fn pipe_bounds_the_calls_in_flight() {
    let d = Daemon::start(&[]);
    // Two waits fill a window of 2: play is never sent.
    let script = "tictactoe board\ntictactoe wait\ntictactoe wait\ntictactoe play\n";
    let mut c = spawn(&["--pipe", "2", &url(&d)], In::Text(script));
    c.wait_for("afb-reply");
    std::thread::sleep(Duration::from_millis(700));
    assert!(c.running());
    let r = c.kill();
    assert_eq!(replies(&r.stdout).len(), 1, "{r:?}");
    // A window of 3 lets play through: both waits reply.
    let r = run(&["-p", "3", &url(&d)], In::Text(script));
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(replies(&r.stdout).len(), 4, "{r:?}");
}

#[test]
fn many_pipelined_calls_all_get_their_reply() {
    let d = Daemon::start(&[]);
    let script: String = (0..500).map(|i| format!("hello ping {i}\n")).collect();
    for args in [vec![url(&d)], vec!["-p".to_owned(), "7".to_owned(), url(&d)]] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let r = run(&args, In::Text(&script));
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert_eq!(json_lines(&r.stdout).len(), 500);
    }
}

#[test]
fn keep_running_shows_events_until_the_server_hangs_up() {
    let d = Daemon::start(&[]);
    let script = "hello eventadd {\"tag\":\"k1\",\"name\":\"kev\"}\nhello eventsub {\"tag\":\"k1\"}\n";
    let mut c = spawn(&["-k", "-H", &url(&d)], In::Text(script));
    c.wait_for("ON-REPLY 2:hello/eventsub: OK");
    std::thread::sleep(Duration::from_millis(300));
    assert!(c.running(), "-k keeps running after the last reply");
    // Another client pushes on the event: the first one shows it.
    let r = run(
        &[&url(&d), "hello", "eventpush", r#"{"tag":"k1","data":{"n":7}}"#],
        In::Null,
    );
    assert_eq!(r.code, 0, "{r:?}");
    c.wait_for("ON-EVENT hello/kev:");
    c.wait_for("\"n\":7");
    // The server stops: the watcher exits with 2.
    let r = run(&[&url(&d), "hello", "exit", r#"{"code":0}"#], In::Null);
    assert_eq!(r.code, 0, "{r:?}");
    let r = c.finish();
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stdout.ends_with("ON-HANGUP\n"), "{}", r.stdout);
}

#[test]
fn a_daemon_stopping_during_a_call_answers_it_disconnected() {
    // A graceful stop answers the running calls `disconnected` before the
    // daemon closes: the client shows that error reply and exits 1 (the last
    // reply is an error), not 2 (no call was left unanswered). A daemon that
    // dies mid-call is `killing_the_daemon_while_a_call_waits_exits_2`.
    let d = Daemon::start(&[]);
    let r = run(&["-H", &url(&d)], In::Text("tictactoe wait\nhello exit {\"code\":0}\n"));
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stdout.contains("ON-REPLY 1:tictactoe/wait: ERROR"), "{}", r.stdout);
    assert!(r.stdout.contains("\"status\":\"disconnected\""), "{}", r.stdout);
    assert!(!r.stderr.contains("no reply to"), "{}", r.stderr);
}

#[test]
fn killing_the_daemon_while_a_call_waits_exits_2() {
    let mut d = Daemon::start(&[]);
    let c = spawn(&["-e", &url(&d), "tictactoe", "wait"], In::Null);
    c.wait_for("SEND-CALL tictactoe/wait null");
    std::thread::sleep(Duration::from_millis(200));
    d.kill();
    let r = c.finish();
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("hung up"), "{}", r.stderr);
    assert!(r.stderr.contains("no reply to 1:tictactoe/wait"), "{}", r.stderr);
}

#[test]
fn break_exits_0_right_after_sending() {
    let d = Daemon::start(&[]);
    // wait never replies here; -b does not wait for it.
    let r = run(&["-b", &url(&d), "tictactoe", "wait"], In::Null);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.is_empty(), "{r:?}");
    let r = run(&["-b", "-e", &url(&d)], In::Text("tictactoe wait\nhello ping\n"));
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stdout, "SEND-CALL tictactoe/wait null\n");
}

#[test]
fn token_and_session_options() {
    let d = Daemon::start(&["--token", "SECRET"]);
    let r = run(&["-t", "SECRET", &url(&d), "hello", "checktok"], In::Null);
    assert_eq!(r.code, 0, "{r:?}");
    // The C clients' form: the token in the URI's own query.
    let r = run(
        &[&format!("localhost:{}/api?token=SECRET", d.port), "hello", "checktok"],
        In::Null,
    );
    assert_eq!(r.code, 0, "{r:?}");
    let r = run(&["--token", "WRONG", &url(&d), "hello", "checktok"], In::Null);
    assert_eq!(r.code, 1, "{r:?}");
    assert_eq!(json_lines(&r.stdout)[0]["request"]["status"], "invalid-token");
    // A session made by a first client is joined by a second one with -u.
    let r = run(&["-t", "SECRET", &url(&d), "hello", "info"], In::Null);
    let uuid = json_lines(&r.stdout)[0]["response"]["uuid"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(uuid.len(), 36, "{r:?}");
    let r = run(&["-u", &uuid, "-t", "SECRET", &url(&d), "hello", "info"], In::Null);
    assert_eq!(json_lines(&r.stdout)[0]["response"]["uuid"], uuid.as_str(), "{r:?}");
}

#[test]
fn unreadable_input_exits_3() {
    let d = Daemon::start(&[]);
    let dir = std::fs::File::open("/").expect("open /");
    let r = run(&[&url(&d)], In::File(dir));
    assert_eq!(r.code, 3, "{r:?}");
    assert!(r.stderr.contains("stdin"), "{}", r.stderr);
    // Bytes that are not UTF-8.
    let tmp = afb_testkit::TempDir::new("client-bad-utf8");
    let path = tmp.path().join("in");
    std::fs::write(&path, b"hello ping \xff\xfe\n").expect("write");
    let r = run(&[&url(&d)], In::File(std::fs::File::open(&path).expect("open")));
    assert_eq!(r.code, 3, "{r:?}");
    assert!(r.stderr.contains("UTF-8"), "{}", r.stderr);
}

#[test]
fn unknown_api_is_an_error_reply() {
    let d = Daemon::start(&[]);
    let r = run(&[&url(&d), "nosuchapi", "verb"], In::Null);
    assert_eq!(r.code, 1, "{r:?}");
    assert_eq!(json_lines(&r.stdout)[0]["request"]["status"], "unknown-api");
}
