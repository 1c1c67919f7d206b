//! C bindings (ABI v1 to v4) loaded by the real daemon with `--binding`,
//! `--ldpaths` and `--weak-ldpaths`, driven over HTTP and WebSocket; the
//! start-up errors of bad bindings (clear message, non-zero exit); what the
//! v4 interface revisions 7 to 9 added, v4 replies and settings as the C
//! binder renders them, uploaded files through v2/v3, `info`; a crashing
//! binding (one line naming it, death by the signal) and its isolation
//! (`?isolate`, `--isolate-bindings`).

#[path = "../../../crates/http/tests/http_client/mod.rs"]
mod http_client;
#[path = "../../../crates/http/tests/ws_support/std_ws.rs"]
mod std_ws;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use afb_testkit::{bin_path, Daemon, TempDir};
use http_client::{multipart, Conn, Req};
use serde_json::{json, Value};
use std_ws::{WsConn, WsMsg};

const T: Duration = Duration::from_secs(10);

/// Compiles `crates/cbinding/tests/c/<src>` into `<dir>/<out>.so`.
fn build(dir: &Path, src: &str, out: &str, defines: &[&str]) -> PathBuf {
    afb_testkit::c_test_binding(dir, src, out, defines)
}

fn get(d: &Daemon, api_verb: &str, query: &str) -> Value {
    let mut c = Conn::tcp(d.addr());
    let target = if query.is_empty() {
        format!("/api/{api_verb}")
    } else {
        format!("/api/{api_verb}?{query}")
    };
    c.get(&target).json()
}

struct Ws {
    c: WsConn,
    events: Vec<Value>,
}

impl Ws {
    fn connect(d: &Daemon) -> Ws {
        let addr = d.addr();
        let c = WsConn::connect(addr, &addr.to_string(), "/api", Some("x-afb-ws-json1")).expect("WebSocket");
        c.set_timeout(T);
        Ws { c, events: Vec::new() }
    }

    fn call(&mut self, id: &str, api_verb: &str, args: Value) -> Value {
        self.send(id, api_verb, args);
        self.reply(id)
    }

    /// Sends a call without waiting for its reply.
    fn send(&mut self, id: &str, api_verb: &str, args: Value) {
        self.c
            .send_text(&json!([2, id, api_verb, args]).to_string())
            .expect("send");
    }

    /// Waits for the reply to `id` (events received meanwhile are kept).
    fn reply(&mut self, id: &str) -> Value {
        loop {
            let WsMsg::Text(t) = self.c.recv().expect("a reply in time") else {
                continue;
            };
            let m: Value = serde_json::from_str(&t).unwrap();
            if m[0] == 5 {
                self.events.push(m);
            } else if m[1] == id {
                return m;
            }
        }
    }

    fn event(&mut self, name: &str) -> Value {
        loop {
            if let Some(e) = self.events.iter().find(|e| e[1] == name) {
                return e[2]["data"].clone();
            }
            let WsMsg::Text(t) = self.c.recv().expect("an event in time") else {
                continue;
            };
            self.events.push(serde_json::from_str(&t).unwrap());
        }
    }
}

#[test]
fn every_abi_version_served_over_http_and_websocket() {
    let dir = TempDir::new("cbinding");
    let libs = dir.path().join("libs");
    std::fs::create_dir_all(libs.join("sub")).unwrap();
    std::fs::create_dir_all(libs.join(".skipped")).unwrap();
    let v4 = build(dir.path(), "hello4.c", "hello4", &[]);
    let v3 = build(dir.path(), "hello3.c", "hello3", &[]);
    build(&libs, "hello2.c", "hello2", &[]);
    build(&libs.join("sub"), "hello1.c", "hello1", &[]);
    build(&libs.join(".skipped"), "hello1.c", "other", &["-DPREFIX=\"skipped\""]);
    let wd = dir.path().join("wd");
    let d = Daemon::start(&[
        "--workdir",
        wd.to_str().unwrap(),
        "--samples",
        "--binding",
        v4.to_str().unwrap(),
        "--binding",
        v3.to_str().unwrap(),
        "--ldpaths",
        libs.to_str().unwrap(),
        "--set",
        "hello4/greeting:\"hi\"",
    ]);

    // HTTP: each version answers.
    let r = get(&d, "hello4/hello", "name=web");
    assert_eq!(
        (&r["request"]["status"], &r["response"]),
        (&json!("success"), &json!("hello web")),
        "{r}"
    );
    let r = get(&d, "hello3/hello", "name=web");
    assert_eq!(r["response"], json!("hello web"), "{r}");
    let r = get(&d, "hello2/ping", "");
    assert_eq!(r["response"], json!("pong2"), "{r}");
    let r = get(&d, "hello1/ping", "");
    assert_eq!(
        (&r["response"], &r["request"]["info"]),
        (&json!("pong1"), &json!("inited")),
        "{r}"
    );
    assert_eq!(
        get(&d, "skipped/ping", "")["request"]["status"],
        json!("unknown-api"),
        "dot-directories are skipped"
    );
    let path = v4.display().to_string();
    assert_eq!(
        get(&d, "hello4/settings", "")["response"],
        json!({"greeting": "hi", "binding-path": path, "path": path})
    );
    let r = get(&d, "hello4/fail", "");
    assert_eq!(r["request"]["status"], json!("invalid-request"), "{r}");

    // The v3 ping answers as the hello sample's ping.
    let c = get(&d, "hello3/ping", "a=1");
    let rust = get(&d, "hello/ping", "a=1");
    assert_eq!(c["response"], rust["response"]);
    let strip = |v: &Value| v["request"]["info"].as_str().unwrap().replace("count=1", "count=N");
    assert_eq!(strip(&c), strip(&rust), "{c} / {rust}");

    // WebSocket: events, async replies, subcalls, context in the session.
    let mut w = Ws::connect(&d);
    assert_eq!(w.call("1", "hello4/subscribe", json!(null))[0], 3);
    assert_eq!(w.call("2", "hello4/push", json!({"n": 1}))[2]["response"], json!(1));
    assert_eq!(w.event("hello4/ev"), json!({"n": 1}));
    assert_eq!(w.call("3", "hello4/async", json!(null))[2]["response"], json!("late"));
    let sub = json!({"api": "hello3", "verb": "hello", "args": {"name": "ws"}});
    assert_eq!(
        w.call("4", "hello4/subcallsync", sub.clone())[2]["response"],
        json!("hello ws")
    );
    assert_eq!(w.call("5", "hello3/subcall", sub)[2]["response"], json!("hello ws"));
    assert_eq!(w.call("6", "hello3/setctx", json!({"c": 3}))[0], 3);
    assert_eq!(
        w.call("7", "hello3/getctx", json!(null))[2]["response"],
        json!({"c": 3})
    );
    assert_eq!(w.call("8", "hello2/subscribe", json!(null))[0], 3);
    assert_eq!(w.call("9", "hello2/push", json!("two"))[0], 3);
    assert_eq!(w.event("hello2/ev"), json!("two"));
    assert_eq!(w.call("10", "hello1/subscribe", json!(null))[0], 3);
    assert_eq!(w.call("11", "hello1/push", json!("one"))[0], 3);
    assert_eq!(w.event("hello1/ev"), json!("one"));
    let mut other = Ws::connect(&d);
    assert_eq!(w.call("12", "hello3/bcast", json!({"b": 1}))[0], 3);
    assert_eq!(other.event("hello3/bc"), json!({"b": 1}));

    // Bad verbs: the daemon keeps serving.
    assert_eq!(w.call("13", "hello4/twice", json!(null))[2]["response"], json!(1));
    assert_eq!(
        w.call("14", "hello4/never", json!(null))[2]["request"]["status"],
        json!("not-replied")
    );
    assert_eq!(w.call("15", "hello4/ping", json!(null))[0], 3);
    d.wait_log(T, |l| l.contains("replied twice"));
}

fn start_fails(args: &[&str]) -> String {
    let out = Command::new(bin_path("afb-daemon"))
        .args(["--no-httpd"])
        .args(args)
        .output()
        .expect("run afb-daemon");
    assert!(!out.status.success(), "the daemon should refuse to start");
    String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout)
}

#[test]
fn bad_bindings_stop_the_start_with_clear_errors() {
    let dir = TempDir::new("cbinding-bad");
    let p = dir.path();
    let failing = build(p, "hello4.c", "failinit", &["-DFAIL_INIT", "-DAPINAME=\"failing\""]);
    let log = start_fails(&["--binding", failing.to_str().unwrap()]);
    assert!(log.contains("failing") && log.contains("failinit.so"), "{log}");
    let not = build(p, "notabinding.c", "notabinding", &[]);
    let log = start_fails(&["--binding", not.to_str().unwrap()]);
    assert!(log.contains("notabinding.so") && log.contains("not a binding"), "{log}");
    let bad = build(p, "hello1.c", "badname", &["-DPREFIX=\"bad/name\""]);
    let log = start_fails(&["--binding", bad.to_str().unwrap()]);
    assert!(log.contains("badname.so") && log.contains("bad/name"), "{log}");
    let noitf = build(p, "nov4itf.c", "noitf", &[]);
    let log = start_fails(&["--binding", noitf.to_str().unwrap()]);
    assert!(log.contains("afbBindingV4r1_itfptr"), "{log}");
    let lib = p.join("lib");
    std::fs::create_dir_all(&lib).unwrap();
    std::fs::copy(&not, lib.join("broken.so")).unwrap();
    let log = start_fails(&["--ldpaths", lib.to_str().unwrap()]);
    assert!(log.contains("broken.so"), "{log}");
}

#[test]
fn weak_ldpaths_skip_bad_bindings() {
    let dir = TempDir::new("cbinding-weak");
    let lib = dir.path().join("lib");
    std::fs::create_dir_all(&lib).unwrap();
    build(&lib, "notabinding.c", "a-broken", &[]);
    build(&lib, "hello2.c", "b-hello2", &[]);
    let wd = dir.path().join("wd");
    let d = Daemon::start(&[
        "--workdir",
        wd.to_str().unwrap(),
        "--weak-ldpaths",
        lib.to_str().unwrap(),
    ]);
    assert_eq!(get(&d, "hello2/ping", "")["response"], json!("pong2"));
    let log = d.log();
    assert!(log.contains("a-broken.so") && log.contains("skipped"), "{log}");
}

#[test]
fn isolated_binding_crash_costs_its_calls_and_the_child_restarts() {
    let dir = TempDir::new("cbinding-iso");
    let so = build(dir.path(), "hello4.c", "hello4", &[]);
    let wd = dir.path().join("wd");
    let spec = format!("{}?isolate", so.display());
    let d = Daemon::start(&["--workdir", wd.to_str().unwrap(), "--binding", &spec]);
    assert_eq!(get(&d, "hello4/ping", "")["response"], json!({"pong": 1}));
    assert_eq!(get(&d, "hello4/ping", "")["response"], json!({"pong": 2}));
    let mut w = Ws::connect(&d);
    assert_eq!(
        w.call("1", "hello4/echo", json!({"e": 1}))[2]["response"],
        json!({"e": 1})
    );
    let r = w.call("2", "hello4/crash", json!(null));
    assert_eq!(r[2]["request"]["status"], json!("disconnected"), "{r}");
    d.wait_log(T, |l| l.contains("restarting it"));
    // The restarted child serves again (its state is new: the count restarts).
    let deadline = std::time::Instant::now() + T;
    loop {
        let r = get(&d, "hello4/ping", "");
        if r["request"]["status"] == "success" {
            assert_eq!(r["response"], json!({"pong": 1}), "{r}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "not served again: {r}");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(w.call("3", "hello4/echo", json!([3]))[2]["response"], json!([3]));
}

#[test]
fn rust_binding_built_as_a_shared_object_loads_through_the_v4_abi() {
    let so = bin_path("afb-daemon")
        .parent()
        .unwrap()
        .join("deps/libafb_sample_hello_so.so");
    assert!(so.exists(), "{} not built", so.display());
    let dir = TempDir::new("cbinding-so");
    let wd = dir.path().join("wd");
    let d = Daemon::start(&["--workdir", wd.to_str().unwrap(), "--binding", so.to_str().unwrap()]);
    let r = get(&d, "hello-so/ping", "x=1");
    assert_eq!(r["response"], json!({"pong": {"x": "1"}, "api": "hello-so"}), "{r}");
    assert_eq!(get(&d, "hello-so/hello", "name=rust")["response"], json!("hello rust"));
    let r = get(&d, "hello-so/hello", "");
    assert_eq!(r["request"]["status"], json!("invalid-request"), "{r}");
    let mut w = Ws::connect(&d);
    assert_eq!(w.call("1", "hello-so/loa", json!(null))[2]["response"], json!(0));
    assert_eq!(w.call("2", "hello-so/set-loa", json!(3))[2]["response"], json!(3));
    assert_eq!(w.call("3", "hello-so/loa", json!(null))[2]["response"], json!(3));
}

// ---- the C samples (tictactoe.c, auth.c) against the Rust samples ------------------------

/// Builds `SRC.c` for ABI versions 1 to 4 as APIs `NAME1`..`NAME4`.
fn build_sample(dir: &Path, src: &str, name: &str) -> Vec<PathBuf> {
    (1..=4)
        .map(|v| {
            let api = format!("{name}{v}");
            build(
                dir,
                &format!("{src}.c"),
                &api,
                &[&format!("-DSAMPLE_ABI={v}"), &format!("-DSAMPLE_API=\"{api}\"")],
            )
        })
        .collect()
}

fn start_with_samples(dir: &TempDir, sos: &[PathBuf]) -> Daemon {
    let wd = dir.path().join("wd");
    let mut args: Vec<String> = vec!["--workdir".into(), wd.display().to_string(), "--samples".into()];
    for so in sos {
        args.push("--binding".into());
        args.push(so.display().to_string());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Daemon::start(&args)
}

/// One reply as compared between implementations: status, info (v4 replies
/// have none: `None` then) and response.
fn outcome(m: &Value, with_info: bool) -> Value {
    let req = &m[2]["request"];
    json!({
        "kind": m[0],
        "status": req["status"],
        "info": if with_info { req["info"].clone() } else { Value::Null },
        "response": m[2]["response"],
    })
}

/// A game of two sessions on `api`: every reply and every board event the
/// first player receives, in order.
fn tictactoe_transcript(d: &Daemon, api: &str, with_info: bool) -> Vec<Value> {
    let mut out = Vec::new();
    let mut a = Ws::connect(d);
    let mut b = Ws::connect(d);
    let mut n = 0;
    let mut call = |w: &mut Ws, verb: &str, args: Value| {
        n += 1;
        outcome(&w.call(&n.to_string(), &format!("{api}/{verb}"), args), with_info)
    };
    let first = call(&mut a, "new", json!(null));
    let id = first["response"]["boardid"].clone();
    out.push(first);
    for (verb, args) in [
        ("level", json!({"level": 3})),
        ("move", json!({"index": 4})),
        ("play", json!(null)),
        ("move", json!({"index": "0"})),
        ("board", json!(null)),
        ("move", json!({"index": 4})),
        ("move", json!({"index": 9})),
        ("move", json!({"index": -1})),
        ("move", json!({"index": " 8 "})),
        ("level", json!({"level": 11})),
        ("undo", json!(null)),
        ("undo", json!(null)),
    ] {
        out.push(call(&mut a, verb, args));
    }
    // The second session joins the board, and plays while the first waits.
    out.push(call(&mut b, "join", json!({"boardid": id})));
    out.push(call(&mut b, "join", json!({"boardid": 99})));
    a.send("w1", &format!("{api}/wait"), json!(null));
    std::thread::sleep(Duration::from_millis(100));
    out.push(call(&mut b, "play", json!(null)));
    out.push(outcome(&a.reply("w1"), with_info));
    // Play the game out, the server against itself; then the game is over.
    for _ in 0..9 {
        let r = call(&mut a, "play", json!(null));
        let over = r["status"] != "success";
        out.push(r);
        if over {
            break;
        }
    }
    out.push(call(&mut b, "board", json!(null)));
    out.push(call(&mut a, "new", json!(null)));
    out.push(call(&mut b, "board", json!(null)));
    // Every board event the first player got, in order (pushed before the
    // replies of the changes: all are in by the reply of its last call).
    out.push(call(&mut a, "board", json!(null)));
    let events = a
        .events
        .iter()
        .filter(|e| e[1].as_str().is_some_and(|n| n.ends_with("/board")));
    out.extend(events.map(|e| e[2]["data"].clone()));
    out
}

/// Builds the C sample `SRC.c` for ABI v1 to v4 (APIs `NAME1`..`NAME4`) and checks that each
/// answers `transcript` step by step as the Rust sample `NAME` does, after `norm` (which may
/// blank what legitimately differs). v4 replies carry no info text: compared without it.
fn check_every_abi(
    src: &str,
    name: &str,
    transcript: fn(&Daemon, &str, bool) -> Vec<Value>,
    norm: fn(&mut Value, &mut Value),
) {
    let dir = TempDir::new(&format!("cbinding-{name}"));
    let sos = build_sample(dir.path(), src, name);
    let d = start_with_samples(&dir, &sos);
    for v in 1..=4 {
        let with_info = v != 4;
        let rust = transcript(&d, name, with_info);
        let c = transcript(&d, &format!("{name}{v}"), with_info);
        assert_eq!(rust.len(), c.len(), "ABI v{v}: {rust:#?}\n{c:#?}");
        for (i, (r, c)) in rust.iter().zip(&c).enumerate() {
            let (mut r, mut c) = (r.clone(), c.clone());
            norm(&mut r, &mut c);
            assert_eq!(r, c, "ABI v{v}, step {i}");
        }
    }
}

#[test]
fn c_tictactoe_of_every_abi_plays_as_the_rust_sample() {
    // The Rust sample's board ids go on across games; the C ones start at 1.
    fn norm(r: &mut Value, c: &mut Value) {
        for x in [r, c] {
            if x.get("boardid").is_some() {
                x["boardid"] = json!("ID");
            }
            if x["response"].get("boardid").is_some() {
                x["response"]["boardid"] = json!("ID");
            }
        }
    }
    check_every_abi("tictactoe", "tictactoe", tictactoe_transcript, norm);
}

/// The auth flow on `api` over one WebSocket: statuses, whether a token
/// came back, the LOA the reply reports.
fn auth_transcript(d: &Daemon, api: &str, with_info: bool) -> Vec<Value> {
    let mut w = Ws::connect(d);
    let mut out = Vec::new();
    for (i, verb) in [
        "ping", "check", "refresh", "connect", "check", "ping", "refresh", "logout", "check",
    ]
    .iter()
    .enumerate()
    {
        let m = w.call(&i.to_string(), &format!("{api}/{verb}"), json!(null));
        let req = &m[2]["request"];
        let resp = &m[2]["response"];
        out.push(json!({
            "verb": verb,
            "status": req["status"],
            "info": if with_info && m[0] == 3 { req["info"].clone() } else { Value::Null },
            "token": req["token"].is_string(),
            "LOA": resp["LOA"],
            "isvalid": resp["isvalid"],
            "count": resp["count"],
        }));
    }
    out
}

#[test]
fn c_auth_of_every_abi_answers_as_the_rust_sample() {
    let dir = TempDir::new("cbinding-auth");
    let sos = build_sample(dir.path(), "auth", "auth");
    let d = start_with_samples(&dir, &sos);
    let rust = auth_transcript(&d, "auth", true);
    assert_eq!(rust[3]["token"], json!(true), "connect renews the token: {rust:#?}");
    assert_eq!(rust[4]["isvalid"], json!(true), "{rust:#?}");
    assert_ne!(rust[8]["status"], json!("success"), "logged out: {rust:#?}");
    for v in 1..=4 {
        let c = auth_transcript(&d, &format!("auth{v}"), v != 4);
        let rust = if v == 4 {
            auth_transcript(&d, "auth", false)
        } else {
            rust.clone()
        };
        // The ping counters: each API counts its own calls, two per transcript.
        let strip = |t: &[Value]| -> Vec<Value> {
            t.iter()
                .map(|s| {
                    let mut s = s.clone();
                    if s["count"].is_number() {
                        s["count"] = json!("N");
                    }
                    s
                })
                .collect()
        };
        assert_eq!(strip(&rust), strip(&c), "ABI v{v}");
        assert_eq!(c[0]["count"], json!(1), "v{v}: {c:#?}");
        assert_eq!(c[5]["count"], json!(2), "v{v}: {c:#?}");
    }
}

/// The hello verbs on `api` over two WebSockets: every reply (`ping`'s
/// count replaced by N), then the events each connection got, named
/// without the API.
fn hello_transcript(d: &Daemon, api: &str, with_info: bool) -> Vec<Value> {
    let mut a = Ws::connect(d);
    let mut b = Ws::connect(d);
    let mut out = Vec::new();
    let steps: Vec<(&str, Value)> = vec![
        ("ping", json!(null)),
        ("ping", json!({"a": 1, "s": "x/y"})),
        ("pingfail", json!(null)),
        ("pingnull", json!(null)),
        ("pingJson", json!(null)),
        ("eventadd", json!({"tag": "t", "name": "ev"})),
        ("eventadd", json!({"tag": "t", "name": "other"})),
        ("eventadd", json!({"tag": "t"})),
        ("eventsub", json!({"tag": "t"})),
        ("eventpush", json!({"tag": "t", "data": {"n": 1}})),
        ("eventpush", json!({"tag": "t", "data": "{\"parsed\":true}"})),
        ("eventpush", json!({"tag": "t", "data": "plain text"})),
        ("eventunsub", json!({"tag": "t"})),
        ("eventpush", json!({"tag": "t", "data": 2})),
        ("eventsub", json!({"tag": "nope"})),
        ("broadcast", json!({"name": "bc", "data": "[1,2]"})),
        ("broadcast", json!({"tag": "t", "data": {"by": "tag"}})),
        ("broadcast", json!({"data": 1})),
        ("pingevent", json!({"p": 1})),
        ("subcall", json!({"api": api, "verb": "pingJson"})),
        ("subcallsync", json!({"api": api, "verb": "pingfail", "args": {"x": 1}})),
        ("subcallsync", json!({"api": api, "verb": "pingnull"})),
        ("subcall", json!({"api": api})),
        ("call", json!({"api": api, "verb": "pingJson"})),
        ("callsync", json!({"api": api, "verb": "pingfail"})),
        ("callsync", json!({"api": api, "verb": "pingnull", "args": "[1]"})),
        ("callsync", json!({"verb": "ping"})),
        ("verbose", json!({"v": 1})),
        ("setctx", json!({"c": [1, 2]})),
        ("getctx", json!(null)),
        ("set-loa", json!(2)),
        ("has-loa-1", json!(null)),
        ("has-loa-2", json!(null)),
        ("has-loa-3", json!(null)),
        ("set-loa", json!("x")),
        ("checktok", json!(null)),
        ("reftok", json!(null)),
        ("checktok", json!(null)),
        ("close", json!(null)),
        ("getctx", json!(null)),
        ("has-loa-1", json!(null)),
        ("eventdel", json!({"tag": "t"})),
        ("eventdel", json!({"tag": "t"})),
    ];
    for (i, (verb, args)) in steps.into_iter().enumerate() {
        let m = a.call(&i.to_string(), &format!("{api}/{verb}"), args);
        let mut o = outcome(&m, with_info);
        if let Some(info) = o["info"].as_str() {
            if let Some(at) = info.find("count=") {
                let end = info[at..].find(' ').map_or(info.len(), |e| at + e);
                o["info"] = json!(format!("{}count=N{}", &info[..at], &info[end..]));
            }
        }
        o["token"] = json!(m[2]["request"]["token"].is_string());
        out.push(o);
    }
    // The second connection got the broadcasts: a last call lets them in.
    b.call("last", &format!("{api}/pingnull"), json!(null));
    for (who, w) in [("a", &a), ("b", &b)] {
        for e in &w.events {
            let name = e[1].as_str().unwrap_or("");
            let local = name.split_once('/').map_or(name, |(_, n)| n);
            out.push(json!({"to": who, "event": local, "data": e[2]["data"]}));
        }
    }
    out
}

#[test]
fn c_hello_of_every_abi_answers_as_the_rust_sample() {
    // The SDK's argument errors quote serde's message: the status is what matters.
    fn norm(r: &mut Value, c: &mut Value) {
        if r["info"].as_str().is_some_and(|t| t.starts_with("bad arguments:")) {
            r["info"] = Value::Null;
            c["info"] = Value::Null;
        }
    }
    check_every_abi("hello", "hello", hello_transcript, norm);
}

// ---- revisions 7 to 9, v4 replies, settings, uploads, info ----------------------

#[test]
fn revision_9_binding_over_http_renders_as_the_c_binder() {
    let dir = TempDir::new("cbinding-rev9");
    let so = build(dir.path(), "rev9.c", "rev9", &[]);
    let gen = build(dir.path(), "itfrev.c", "rev7", &["-DAPINAME=\"rev7\""]);
    let wd = dir.path().join("wd");
    let d = Daemon::start(&[
        "--workdir",
        wd.to_str().unwrap(),
        "--binding",
        so.to_str().unwrap(),
        "--binding",
        gen.to_str().unwrap(),
        "--set",
        "rev9/extra:1",
    ]);
    // Several data (the tutorial's reply_oEi): one array, a NULL #stringz as null.
    let r = get(&d, "rev9/ping", "");
    assert_eq!(r["request"]["status"], json!("success"), "{r}");
    assert_eq!(r["response"], json!([null, null, "ping count=1"]), "{r}");
    // A negative status with several data: "error", the data kept.
    let r = get(&d, "rev9/failsub", "");
    assert_eq!(
        (&r["request"]["status"], &r["request"]["code"]),
        (&json!("error"), &json!(-1)),
        "{r}"
    );
    assert_eq!(r["response"], json!([null, "failed", "subscription error"]), "{r}");
    let r = get(&d, "rev9/nullstr", "");
    assert!(
        r.as_object().unwrap().contains_key("response") && r["response"].is_null(),
        "{r}"
    );
    // Binder-made errors keep their names.
    assert_eq!(get(&d, "rev9/nope", "")["request"]["status"], json!("unknown-verb"));
    // Settings: the --set values with the binding's path.
    let path = so.display().to_string();
    assert_eq!(
        get(&d, "rev9/settings", "")["response"],
        json!({"extra": 1, "binding-path": path, "path": path})
    );
    // Revision 7 (the default of the headers) loads beside revision 9.
    assert_eq!(get(&d, "rev7/revision", "")["response"]["declared"], json!(7));
    let r = get(&d, "rev9/timer", "");
    assert_eq!(r["response"], json!({"ticks": 3}), "{r}");
    let r = get(&d, "rev9/uuid", "text=0f8fad5b-d9cb-469f-a165-70867728950e");
    assert_eq!(
        r["response"]["text"],
        json!("0f8fad5b-d9cb-469f-a165-70867728950e"),
        "{r}"
    );
    // info: the declared specification; generated ones for the others.
    assert_eq!(
        get(&d, "rev9/info", "")["response"]["info"]["x-from"],
        json!("api_set_specification")
    );
    let r = get(&d, "rev7/info", "");
    assert_eq!(
        r["response"],
        json!({"$schema": "afb-api-info/v2", "name": "rev7", "info": "reports its interface revision",
               "verbs": [{"name": "revision"}]}),
        "{r}"
    );
    let r = get(&d, "rev9gen/info", "");
    assert_eq!(
        r["response"]["verbs"][4],
        json!({"name": "either", "auth": "check-token and (urn:a or urn:b)"})
    );
}

#[test]
fn uploaded_file_reaches_v2_and_v3_bindings_by_name_and_path() {
    let dir = TempDir::new("cbinding-upload");
    let v2 = build(dir.path(), "hello2.c", "hello2", &[]);
    let v3 = build(dir.path(), "hello3.c", "hello3", &[]);
    let wd = dir.path().join("wd");
    let up = dir.path().join("uploads");
    std::fs::create_dir_all(&up).unwrap();
    let d = Daemon::start(&[
        "--workdir",
        wd.to_str().unwrap(),
        "--uploaddir",
        up.to_str().unwrap(),
        "--binding",
        v2.to_str().unwrap(),
        "--binding",
        v3.to_str().unwrap(),
    ]);
    for api in ["hello2", "hello3"] {
        let (ct, body) = multipart(&[("note", "n")], &[("file", "upload.txt", b"uploaded text")]);
        let mut c = Conn::tcp(d.addr());
        let r = c.request(&Req::post(&format!("/api/{api}/upload"), &ct, body)).json();
        let resp = &r["response"];
        assert_eq!(
            resp["value"],
            json!("upload.txt"),
            "{api}: the value is the file's name: {r}"
        );
        let path = resp["path"].as_str().unwrap_or_else(|| panic!("{api}: no path: {r}"));
        assert!(
            Path::new(path).starts_with(&up),
            "{api}: stored under --uploaddir: {path}"
        );
        if api == "hello2" {
            assert_eq!(resp["content"], json!("uploaded text"), "{r}");
        }
    }
}

// ---- a crashing binding ----------------------------------------------------------------

#[test]
fn a_crashing_binding_is_named_on_stderr_and_the_daemon_dies_of_the_signal() {
    use std::os::unix::process::ExitStatusExt;
    let dir = TempDir::new("cbinding-crash");
    let so = build(dir.path(), "hello4.c", "crashing", &["-DAPINAME=\"crashing\""]);
    let wd = dir.path().join("wd");
    let mut d = Daemon::start(&["--workdir", wd.to_str().unwrap(), "--binding", so.to_str().unwrap()]);
    assert_eq!(get(&d, "crashing/ping", "")["response"], json!({"pong": 1}));
    let mut c = Conn::tcp(d.addr());
    c.send(&Req::get("/api/crashing/crash"));
    let status = d.wait_timeout(T).expect("the daemon dies");
    assert_eq!(status.signal(), Some(11), "killed by SIGSEGV: {status:?}");
    let log = d.wait_log(T, |l| l.contains("fatal signal"));
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("fatal signal")).collect();
    assert_eq!(lines.len(), 1, "one line: {log}");
    assert!(
        lines[0].contains("SIGSEGV") && lines[0].contains("crashing.so") && lines[0].contains("API crashing"),
        "{}",
        lines[0]
    );
}

/// The pids of the processes whose parent is `pid` (from /proc).
fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid ...: comm may hold spaces, so read after ')'.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(pid) {
            out.extend(e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()));
        }
    }
    out
}

#[test]
fn isolate_bindings_runs_all_c_bindings_in_one_supervised_child() {
    let dir = TempDir::new("cbinding-isoall");
    let v4 = build(dir.path(), "hello4.c", "hello4", &[]);
    let v3 = build(dir.path(), "hello3.c", "hello3", &[]);
    let lib = dir.path().join("lib");
    std::fs::create_dir_all(&lib).unwrap();
    build(&lib, "hello2.c", "hello2", &[]);
    let wd = dir.path().join("wd");
    let d = Daemon::start(&[
        "-vv",
        "--workdir",
        wd.to_str().unwrap(),
        "--isolate-bindings",
        "--binding",
        v4.to_str().unwrap(),
        "--binding",
        v3.to_str().unwrap(),
        "--ldpaths",
        lib.to_str().unwrap(),
    ]);
    // One child serves the three APIs.
    let log = d.wait_log(T, |l| l.contains("isolated in process"));
    let line = log
        .lines()
        .find(|l| l.contains("isolated in process"))
        .unwrap_or_default();
    assert!(
        line.contains("hello4") && line.contains("hello3") && line.contains("hello2"),
        "{line}"
    );
    assert_eq!(d.log().matches("isolated in process").count(), 1, "{}", d.log());
    assert_eq!(children(d.pid()).len(), 1, "one child process");
    assert_eq!(get(&d, "hello4/ping", "")["response"], json!({"pong": 1}));
    assert_eq!(get(&d, "hello3/hello", "name=iso")["response"], json!("hello iso"));
    assert_eq!(get(&d, "hello2/ping", "")["response"], json!("pong2"));
    // A crash in the child: the call is answered `disconnected`, the line
    // names the binding, the child restarts and every API serves again.
    let mut w = Ws::connect(&d);
    let r = w.call("1", "hello4/crash", json!(null));
    assert_eq!(r[2]["request"]["status"], json!("disconnected"), "{r}");
    d.wait_log(T, |l| l.contains("fatal signal SIGSEGV") && l.contains("hello4.so"));
    d.wait_log(T, |l| l.contains("restarting it"));
    let deadline = std::time::Instant::now() + T;
    loop {
        let r = get(&d, "hello4/ping", "");
        if r["request"]["status"] == "success" {
            assert_eq!(r["response"], json!({"pong": 1}), "a new child: {r}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "not served again: {r}");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(get(&d, "hello3/hello", "name=again")["response"], json!("hello again"));
    assert_eq!(w.call("2", "hello2/ping", json!(null))[2]["response"], json!("pong2"));
}
