//! C bindings (ABI v1 to v4) loaded by the real daemon with `--binding`,
//! `--ldpaths` and `--weak-ldpaths`, driven over HTTP and WebSocket; and
//! the start-up errors of bad bindings (clear message, non-zero exit).

#[path = "../../../crates/http/tests/http_client/mod.rs"]
mod http_client;
#[path = "../../../crates/http/tests/ws_support/std_ws.rs"]
mod std_ws;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use afb_testkit::{bin_path, Daemon, TempDir};
use http_client::Conn;
use serde_json::{json, Value};
use std_ws::{WsConn, WsMsg};

const T: Duration = Duration::from_secs(10);

/// Compiles `crates/cbinding/tests/c/<src>` into `<dir>/<out>.so`.
fn build(dir: &Path, src: &str, out: &str, defines: &[&str]) -> PathBuf {
    let cb = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../crates/cbinding");
    let so = dir.join(format!("{out}.so"));
    let status = Command::new("cc")
        .args(["-shared", "-fPIC", "-O1", "-Wno-unused-function"])
        .arg("-I")
        .arg(cb.join("include"))
        .args(defines)
        .arg(cb.join("tests/c").join(src))
        .arg("-o")
        .arg(&so)
        .arg("-ljson-c")
        .status()
        .expect("a C compiler (cc) is needed for these tests");
    assert!(status.success(), "compiling {src} failed");
    so
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
        self.c
            .send_text(&json!([2, id, api_verb, args]).to_string())
            .expect("send");
        loop {
            let WsMsg::Text(t) = self.c.recv().expect("a message in time") else {
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
    assert_eq!(get(&d, "hello4/settings", "")["response"], json!({"greeting": "hi"}));
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
