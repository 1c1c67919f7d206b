//! Access control in the real daemon: a C test binding declaring every
//! `struct afb_auth` node and combination (`crates/cbinding/tests/c/access.c`),
//! its rules enforced over HTTP (statuses and `WWW-Authenticate`), over
//! the WebSocket (wsj1) and through a wsapi link; the permission
//! backends chosen by `--permissions` (deny-all by default, grant-all, a
//! policy file reloaded on SIGHUP, a verb of the binder); who is calling
//! over a unix socket (uid/gid of this process).

#[path = "../../../crates/http/tests/http_client/mod.rs"]
mod http_client;
#[path = "../../../crates/http/tests/ws_support/std_ws.rs"]
mod std_ws;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use afb_testkit::{bin_path, Daemon, DaemonOpts, TempDir};
use http_client::Conn;
use serde_json::{json, Value};
use std_ws::{WsConn, WsMsg};

const T: Duration = Duration::from_secs(10);

/// Compiles the access test binding (ABI v4) into `dir`.
fn build(dir: &Path) -> PathBuf {
    build_c(dir, "access")
}

/// Compiles `crates/cbinding/tests/c/NAME.c` into `dir/NAME.so`.
fn build_c(dir: &Path, name: &str) -> PathBuf {
    afb_testkit::c_test_binding(dir, &format!("{name}.c"), name, &[])
}

fn start(args: &[&str], wait_path: Option<&Path>) -> Daemon {
    Daemon::start_with(DaemonOpts {
        args: args.iter().map(|s| s.to_string()).collect(),
        wait_path: wait_path.map(Path::to_path_buf),
        ..DaemonOpts::default()
    })
}

/// (verb, status without login, status after login) with the `api:perm`
/// backend (granted: permissions starting with urn:test:granted), no token.
const TABLE: &[(&str, &str, &str)] = &[
    ("yes", "success", "success"),
    ("no", "insufficient-scope", "insufficient-scope"),
    ("loa1", "insufficient-scope", "success"),
    ("loa2", "insufficient-scope", "insufficient-scope"),
    ("granted", "success", "success"),
    ("denied", "insufficient-scope", "insufficient-scope"),
    ("denied-or-loa1", "insufficient-scope", "success"),
    ("granted-and-denied", "insufficient-scope", "insufficient-scope"),
    ("not-loa1", "success", "insufficient-scope"),
    ("not-denied", "success", "success"),
];

/// Verbs refused for their token when none is presented (`--token` set).
const TOKEN_VERBS: &[&str] = &[
    "token",
    "tokvalid",
    "token-and-granted",
    "session-check",
    "session-loa1",
];

fn http_status(c: &mut Conn, target: &str) -> (u16, Option<String>, String) {
    let r = c.get(target);
    let challenge = r.header("www-authenticate").map(str::to_owned);
    (r.status, challenge, r.afb_status())
}

struct Ws(WsConn);

impl Ws {
    fn connect(d: &Daemon) -> Ws {
        let addr = d.addr();
        let c = WsConn::connect(addr, &addr.to_string(), "/api", Some("x-afb-ws-json1")).expect("WebSocket");
        c.set_timeout(T);
        Ws(c)
    }

    fn call(&mut self, api_verb: &str, args: Value) -> Value {
        let id = format!("{api_verb}-{}", rand_id());
        self.0
            .send_text(&json!([2, id, api_verb, args]).to_string())
            .expect("send");
        loop {
            let WsMsg::Text(t) = self.0.recv().expect("a reply in time") else {
                continue;
            };
            let m: Value = serde_json::from_str(&t).unwrap();
            if m[1] == id.as_str() {
                return m;
            }
        }
    }

    fn status(&mut self, api_verb: &str) -> String {
        self.call(api_verb, Value::Null)[2]["request"]["status"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    }
}

fn rand_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

#[test]
fn c_auth_rules_over_http_and_websocket() {
    let dir = TempDir::new("access-c");
    let so = build(dir.path());
    let d = start(
        &[
            "--binding",
            so.to_str().unwrap(),
            "--permissions",
            "api:perm",
            "--token",
            "tok",
        ],
        None,
    );
    // HTTP: each rule, its status, its HTTP code and challenge.
    let mut c = Conn::tcp(d.addr());
    for (verb, want, _) in TABLE {
        let (code, challenge, st) = http_status(&mut c, &format!("/api/access/{verb}"));
        assert_eq!(st, *want, "{verb} over HTTP");
        match *want {
            "success" => assert_eq!(code, 200, "{verb}"),
            _ => {
                assert_eq!(code, 403, "{verb}");
                assert_eq!(challenge.as_deref(), Some("error=\"insufficient_scope\""), "{verb}");
            }
        }
    }
    for verb in TOKEN_VERBS {
        let (code, challenge, st) = http_status(&mut c, &format!("/api/access/{verb}"));
        assert_eq!((code, st.as_str()), (401, "invalid-token"), "{verb} without token");
        assert_eq!(challenge.as_deref(), Some("error=\"invalid_token\""), "{verb}");
    }
    for verb in ["token", "tokvalid", "token-and-granted", "session-check"] {
        let (code, _, st) = http_status(&mut c, &format!("/api/access/{verb}?token=tok"));
        assert_eq!((code, st.as_str()), (200, "success"), "{verb} with the token");
    }
    // The backend was asked with the client's session and the permission.
    let (_, _, st) = http_status(&mut c, "/api/access/denied");
    assert_eq!(st, "insufficient-scope");
    let last = c.get("/api/perm/last").json()["response"].clone();
    assert_eq!(last["permission"], "urn:test:denied");
    assert!(last["session"].as_str().is_some_and(|s| !s.is_empty()), "{last}");
    // afb_req_check_permission: 1 granted, 0 refused.
    let r = c.get("/api/access/check?permission=urn:test:granted:x").json();
    assert_eq!(r["response"], json!({"status": 1}), "{r}");
    let r = c.get("/api/access/check?permission=urn:test:other").json();
    assert_eq!(r["response"], json!({"status": 0}), "{r}");

    // WebSocket: one session, before and after login.
    let mut ws = Ws::connect(&d);
    for (verb, want, _) in TABLE {
        assert_eq!(ws.status(&format!("access/{verb}")), *want, "{verb} over wsj1");
    }
    assert_eq!(ws.status("access/token"), "invalid-token");
    assert_eq!(ws.status("access/login"), "success");
    for (verb, _, want) in TABLE {
        assert_eq!(
            ws.status(&format!("access/{verb}")),
            *want,
            "{verb} over wsj1 after login"
        );
    }
    assert_eq!(ws.status("access/logout"), "success");
    assert_eq!(ws.status("access/loa1"), "insufficient-scope");

    // info shows each verb's rule.
    let info = c.get("/api/access/info").json()["response"].clone();
    let rule = |n: &str| {
        info["verbs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == n)
            .map(|v| v["auth"].clone())
            .unwrap()
    };
    assert_eq!(rule("denied-or-loa1"), json!("(urn:test:denied or loa>=1)"));
    assert_eq!(rule("not-loa1"), json!("not loa>=1"));
    assert_eq!(rule("session-loa1"), json!("loa>=1"));
    let d = c.get("/api/access/describe").json()["response"].clone();
    assert_eq!(
        d["paths"]["/denied-or-loa1"]["get"]["x-auth"],
        json!({"anyOf": [{"permission": "urn:test:denied"}, {"LOA": 1}]}),
        "{d}"
    );
}

#[test]
fn c_auth_rules_through_a_wsapi_link() {
    let dir = TempDir::new("access-link");
    let so = build(dir.path());
    let sock = dir.path().join("access");
    let _back = start(
        &[
            "--binding",
            so.to_str().unwrap(),
            "--permissions",
            "api:perm",
            "--ws-server",
            &format!("unix:{}", sock.display()),
        ],
        Some(&sock),
    );
    let front = start(&["--ws-client", &format!("unix:{}", sock.display())], None);
    let mut c = Conn::tcp(front.addr());
    for (verb, want, _) in TABLE {
        let (code, _, st) = http_status(&mut c, &format!("/api/access/{verb}"));
        assert_eq!(st, *want, "{verb} through the link");
        assert_eq!(code, if *want == "success" { 200 } else { 403 }, "{verb}");
    }
    let mut ws = Ws::connect(&front);
    assert_eq!(ws.status("access/login"), "success");
    for (verb, _, want) in TABLE {
        assert_eq!(
            ws.status(&format!("access/{verb}")),
            *want,
            "{verb} through the link after login"
        );
    }
}

fn id(flag: &str) -> u32 {
    let out = Command::new("id").arg(flag).output().expect("id");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("a number from id")
}

#[test]
fn policy_file_by_uid_over_a_unix_socket_reloaded_on_sighup() {
    let dir = TempDir::new("access-policy");
    let so = build(dir.path());
    let (uid, gid) = (id("-u"), id("-g"));
    let policy = dir.path().join("policy.yaml");
    let write = |decision: &str| {
        std::fs::write(
            &policy,
            format!(
                "rules:\n  - uid: {uid}\n    gid: {gid}\n    permission: 'urn:test:granted*'\n    decision: {decision}\n  - permission: '*'\n    decision: deny\n"
            ),
        )
        .unwrap()
    };
    write("allow");
    let http = dir.path().join("http.sock");
    let d = start(
        &[
            "--binding",
            so.to_str().unwrap(),
            "--permissions",
            &format!("policy:{}", policy.display()),
            "--interface",
            &format!("unix:{}", http.display()),
            "-vv",
        ],
        Some(&http),
    );
    // Over the unix socket, the peer is this process.
    let mut u = Conn::unix(&http);
    let who = u.get("/api/access/whoami").json()["response"].clone();
    assert_eq!(who["uid"], json!(uid), "{who}");
    assert_eq!(who["gid"], json!(gid), "{who}");
    assert_eq!(who["user"], json!(uid.to_string()), "{who}");
    assert_eq!(who["pid"], json!(std::process::id()), "{who}");
    // The label is the peer's SO_PEERSEC, which is this process's LSM
    // context ("NoLabel" without one, as the C binders).
    let own = std::fs::read("/proc/self/attr/current")
        .map(|b| String::from_utf8_lossy(&b).trim_end_matches(['\0', '\n']).to_owned())
        .unwrap_or_default();
    let want = if own.is_empty() { "NoLabel".to_owned() } else { own };
    assert_eq!(who["label"], json!(want), "{who}");
    assert_eq!(who["id"], json!(want.rsplit(':').next().unwrap()), "{who}");
    assert!(who["uuid"].is_string() && who["LOA"] == 0, "{who}");
    assert_eq!(http_status(&mut u, "/api/access/granted").2, "success");
    assert_eq!(http_status(&mut u, "/api/access/denied").2, "insufficient-scope");
    // Over TCP the uid is unknown: the uid rule does not match.
    let mut t = Conn::tcp(d.addr());
    assert_eq!(http_status(&mut t, "/api/access/granted").2, "insufficient-scope");
    assert!(t.get("/api/access/whoami").json()["response"].get("uid").is_none());
    // SIGHUP reloads the file.
    write("deny");
    d.signal("HUP");
    let log = d.wait_log(T, |l| l.contains("policy file") && l.contains("reloaded"));
    assert!(log.contains("reloaded (2 rule(s))"), "{log}");
    let mut u = Conn::unix(&http);
    assert_eq!(http_status(&mut u, "/api/access/granted").2, "insufficient-scope");
    // A file that no longer reads keeps the last policy.
    std::fs::write(&policy, "rules: [").unwrap();
    d.signal("HUP");
    let log = d.wait_log(T, |l| l.contains("the old policy stays"));
    assert!(log.contains("the old policy stays"), "{log}");
    assert_eq!(http_status(&mut u, "/api/access/denied").2, "insufficient-scope");
}

#[test]
fn default_deny_all_and_grant_all_are_stated_in_the_log() {
    let dir = TempDir::new("access-default");
    let so = build(dir.path());
    let d = start(&["--binding", so.to_str().unwrap()], None);
    let mut c = Conn::tcp(d.addr());
    assert_eq!(http_status(&mut c, "/api/access/granted").2, "insufficient-scope");
    assert_eq!(http_status(&mut c, "/api/access/not-denied").2, "success");
    assert!(d.log().contains("no --permissions: deny-all"), "{}", d.log());
    drop(d);
    let d = start(&["--binding", so.to_str().unwrap(), "--permissions", "grant-all"], None);
    let mut c = Conn::tcp(d.addr());
    assert_eq!(http_status(&mut c, "/api/access/granted").2, "success");
    assert_eq!(http_status(&mut c, "/api/access/denied").2, "success");
    assert_eq!(http_status(&mut c, "/api/access/not-denied").2, "insufficient-scope");
    assert!(d.log().contains("grant-all"), "{}", d.log());
}

#[test]
fn bad_backends_and_policies_stop_the_start() {
    let dir = TempDir::new("access-bad");
    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        r#"{"rules": [{"permission": "*", "decision": "allow", "uidd": 3}]}"#,
    )
    .unwrap();
    for (arg, want) in [
        ("grant".to_owned(), "--permissions".to_owned()),
        (format!("policy:{}", bad.display()), "uidd".to_owned()),
        (
            format!("policy:{}", dir.path().join("none.yaml").display()),
            "none.yaml".to_owned(),
        ),
    ] {
        let out = Command::new(bin_path("afb-daemon"))
            .args(["--no-httpd", "--permissions", &arg])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{arg}: {err}");
        assert!(err.contains(&want), "{arg}: {err}");
    }
}

#[test]
fn on_behalf_credentials_need_the_partner_permission() {
    let dir = TempDir::new("access-behalf");
    let so = build(dir.path());
    let (uid, gid) = (id("-u"), id("-g"));
    for (backend, granted) in [("api:perm", false), ("grant-all", true)] {
        // The back's link is over TCP: its peer has no credentials, so it
        // is not trusted by uid and needs the permission.
        let port = afb_testkit::free_port();
        let back = start(
            &[
                "--binding",
                so.to_str().unwrap(),
                "--permissions",
                backend,
                "--ws-server",
                &format!("tcp:127.0.0.1:{port}/access"),
            ],
            None,
        );
        let http = dir.path().join(format!("front-{granted}.sock"));
        let front = start(
            &[
                "--ws-client",
                &format!("tcp:127.0.0.1:{port}/access"),
                "--interface",
                &format!("unix:{}", http.display()),
            ],
            Some(&http),
        );
        // A unix-socket client of the front: its credentials go on behalf.
        let mut u = Conn::unix(&http);
        let r = u.get("/api/access/whoami").json();
        if granted {
            let who = &r["response"];
            assert_eq!(who["uid"], json!(uid), "{r}");
            assert_eq!(who["gid"], json!(gid), "{r}");
            assert_eq!(who["pid"], json!(std::process::id()), "{r}");
        } else {
            assert_eq!(r["request"]["status"], "insufficient-scope", "{r}");
            let last = Conn::tcp(back.addr()).get("/api/perm/last").json()["response"].clone();
            assert_eq!(last["permission"], ON_BEHALF, "{last}");
        }
        // A TCP client of the front passes none: served either way.
        let r = Conn::tcp(front.addr()).get("/api/access/whoami").json();
        assert_eq!(r["request"]["status"], "success", "{r}");
        assert!(r["response"].get("uid").is_none(), "{r}");
    }
}

const ON_BEHALF: &str = "urn:redpesk:permission:*:partner:on-behalf-credentials";

/// A Cynagora check service for the test: grants permissions starting
/// with urn:test:granted; records the questions.
fn cynagora_service(path: &Path) -> std::sync::Arc<std::sync::Mutex<Vec<String>>> {
    use std::io::{BufRead, BufReader, Write};
    let l = std::os::unix::net::UnixListener::bind(path).unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let s2 = seen.clone();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(s) = s else { return };
            let seen = s2.clone();
            std::thread::spawn(move || {
                let mut w = s.try_clone().unwrap();
                for line in BufReader::new(s).lines() {
                    let Ok(line) = line else { return };
                    let f: Vec<&str> = line.split(' ').collect();
                    let answer = match f[0] {
                        "cynagora" => "done 1 0".to_owned(),
                        "check" if f.len() >= 6 => {
                            seen.lock().unwrap().push(line.clone());
                            let yes = f[f.len() - 1].starts_with("urn:test:granted");
                            format!("{} {}", if yes { "yes" } else { "no" }, f[1])
                        }
                        _ => "error".to_owned(),
                    };
                    if writeln!(w, "{answer}").is_err() {
                        return;
                    }
                }
            });
        }
    });
    seen
}

#[test]
fn cynagora_backend_over_its_check_socket() {
    let dir = TempDir::new("access-cyn");
    let so = build(dir.path());
    let sock = dir.path().join("cynagora.check");
    let seen = cynagora_service(&sock);
    let http = dir.path().join("http.sock");
    let d = start(
        &[
            "--binding",
            so.to_str().unwrap(),
            "--permissions",
            &format!("cynagora:unix:{}", sock.display()),
            "--interface",
            &format!("unix:{}", http.display()),
        ],
        Some(&http),
    );
    let mut u = Conn::unix(&http);
    let first = u.get("/api/access/granted");
    assert_eq!(first.afb_status(), "success");
    let uuid = first.cookie_uuid().expect("a session");
    assert_eq!(http_status(&mut u, "/api/access/denied").2, "insufficient-scope");
    let r = u.get("/api/access/check?permission=urn:test:other").json();
    assert_eq!(r["response"], json!({"status": 0}), "{r}");
    let q = seen.lock().unwrap().clone();
    assert_eq!(q.len(), 3, "{q:?}");
    // check ID CLIENT SESSION USER PERMISSION: the user is our uid.
    let f: Vec<&str> = q[0].split(' ').collect();
    assert_eq!(f[f.len() - 1], "urn:test:granted");
    assert_eq!(f[f.len() - 2], id("-u").to_string(), "{q:?}");
    assert!(q[0].contains(&format!(" {uuid} ")), "the session: {q:?}");
    // Cached: asking again in the same session does not reach the service.
    let again = http_status(&mut u, &format!("/api/access/granted?x-afb-uuid={uuid}"));
    assert_eq!(again.2, "success");
    assert_eq!(seen.lock().unwrap().len(), 3);
    drop(d);
    // No service: refused (fail closed).
    let http2 = dir.path().join("http2.sock");
    let d = start(
        &[
            "--binding",
            so.to_str().unwrap(),
            "--permissions",
            &format!("cynagora:{}", dir.path().join("none").display()),
            "--interface",
            &format!("unix:{}", http2.display()),
        ],
        Some(&http2),
    );
    let mut u = Conn::unix(&http2);
    assert_eq!(http_status(&mut u, "/api/access/granted").2, "insufficient-scope");
    assert!(d
        .wait_log(T, |l| l.contains("backend failed"))
        .contains("backend failed"));
}

#[test]
fn abi_v3_auth_trees_and_has_permission() {
    let dir = TempDir::new("access-v3");
    let v4 = build(dir.path());
    let v3 = build_c(dir.path(), "access3");
    // The v4 binding brings the perm/check service of the api: backend.
    let d = start(
        &[
            "--binding",
            v4.to_str().unwrap(),
            "--binding",
            v3.to_str().unwrap(),
            "--permissions",
            "api:perm",
            "--token",
            "tok",
        ],
        None,
    );
    let mut c = Conn::tcp(d.addr());
    for (verb, want) in [
        ("no", "insufficient-scope"),
        ("token", "invalid-token"),
        ("loa1", "insufficient-scope"),
        ("granted", "success"),
        ("denied", "insufficient-scope"),
        ("denied-or-loa1", "insufficient-scope"),
        ("not-denied", "success"),
        ("session-loa1", "invalid-token"),
    ] {
        assert_eq!(http_status(&mut c, &format!("/api/access3/{verb}")).2, want, "{verb}");
    }
    assert_eq!(http_status(&mut c, "/api/access3/token?token=tok").2, "success");
    let r = c.get("/api/access3/has?permission=urn:test:granted").json();
    assert_eq!(r["response"], json!(1), "{r}");
    let r = c.get("/api/access3/has?permission=urn:test:nope").json();
    assert_eq!(r["response"], json!(0), "{r}");
    let mut ws = Ws::connect(&d);
    assert_eq!(ws.status("access3/login"), "success");
    assert_eq!(ws.status("access3/loa1"), "success");
    assert_eq!(ws.status("access3/denied-or-loa1"), "success");
}

#[test]
fn tcp_clients_show_their_address_which_never_becomes_credentials() {
    let dir = TempDir::new("access-remote");
    let so = build(dir.path());
    let so = so.to_str().unwrap();
    let http = dir.path().join("http.sock");
    let d = start(
        &["--binding", so, "--interface", &format!("unix:{}", http.display())],
        Some(&http),
    );
    // HTTP over TCP: the client's own address and port.
    let mut c = Conn::tcp(d.addr());
    let local = c.local.expect("a TCP connection has a local address");
    let r = c.get("/api/access/whoami").json();
    let who = &r["response"];
    assert_eq!(who["remote"], local.to_string(), "{r}");
    assert!(who.get("uid").is_none(), "a TCP peer has no process: {r}");
    assert!(who["uuid"].is_string(), "{r}");
    // x-afb-ws-json1 over TCP: the same, for that connection.
    let mut ws = Ws::connect(&d);
    let local = ws.0.local_addr().expect("local address");
    let r = ws.call("access/whoami", Value::Null);
    assert_eq!(r[0], 3, "{r}");
    assert_eq!(r[2]["response"]["remote"], local.to_string(), "{r}");
    assert!(r[2]["response"].get("uid").is_none(), "{r}");
    // Over a unix socket: credentials, no address.
    let r = Conn::unix(&http).get("/api/access/whoami").json();
    assert_eq!(r["response"]["uid"], json!(id("-u")), "{r}");
    assert!(r["response"].get("remote").is_none(), "{r}");

    // Through a TCP wsapi link whose back grants on-behalf credentials: the
    // front's TCP client's address does not travel as credentials; the
    // back sees the link's own address.
    let port = afb_testkit::free_port();
    let back = start(
        &[
            "--binding",
            so,
            "--permissions",
            "grant-all",
            "--ws-server",
            &format!("tcp:127.0.0.1:{port}/access"),
        ],
        None,
    );
    let front = start(&["--ws-client", &format!("tcp:127.0.0.1:{port}/access")], None);
    let mut c = Conn::tcp(front.addr());
    let local = c.local.expect("local address");
    let r = c.get("/api/access/whoami").json();
    assert_eq!(r["request"]["status"], "success", "{r}");
    let who = &r["response"];
    assert!(who.get("uid").is_none() && who.get("label").is_none(), "{r}");
    let link: std::net::SocketAddr = who["remote"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("the link's address: {r}"));
    assert_eq!(link.ip().to_string(), "127.0.0.1", "{r}");
    assert_ne!(link, local, "the front's client address reached the back: {r}");

    // Through an RPC link made by upgrading an HTTP connection of the back.
    let front = start(
        &[
            "--rpc-client",
            &format!("http://127.0.0.1:{}/api?import=access", back.addr().port()),
        ],
        None,
    );
    let mut c = Conn::tcp(front.addr());
    let local = c.local.expect("local address");
    let r = c.get("/api/access/whoami").json();
    assert_eq!(r["request"]["status"], "success", "{r}");
    let link: std::net::SocketAddr = r["response"]["remote"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("the upgraded link's address: {r}"));
    assert_eq!(link.ip().to_string(), "127.0.0.1", "{r}");
    assert_ne!(link, local, "{r}");
    assert!(r["response"].get("uid").is_none(), "{r}");
    drop(back);
}
