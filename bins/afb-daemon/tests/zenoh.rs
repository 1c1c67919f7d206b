//! Scale-out over Zenoh (`--zenoh*`): real daemons on loopback in Zenoh
//! peer mode (explicit `tcp/127.0.0.1:PORT` endpoints, multicast scouting
//! off), backs exporting the sample APIs, fronts importing them by name and
//! by `*`, clients over HTTP and x-afb-ws-json1 on the fronts; a replica
//! killed under load; a foreign Zenoh peer sending malformed queries and
//! replies; the Python `eclipse-zenoh` client of docs/scale-out.md; a real
//! `zenohd` router; Zenoh's mutual TLS between binders.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use afb_testkit::cws::{CClient, CMsg};
use afb_testkit::{free_port, Daemon, DaemonOpts, TempDir};
use serde_json::{json, Value};

const T: Duration = Duration::from_secs(20);

/// The Zenoh configuration of every test daemon: peer mode, no multicast
/// scouting (only the endpoints given), gossip to learn the other peers.
const PEER_CONFIG: &str = r#"{
  // Test binders: loopback only.
  mode: "peer",
  scouting: { multicast: { enabled: false }, gossip: { enabled: true } },
}"#;

fn config_file(dir: &TempDir) -> PathBuf {
    let p = dir.path().join("zenoh.json5");
    std::fs::write(&p, PEER_CONFIG).unwrap();
    p
}

fn endpoint(port: u16) -> String {
    format!("tcp/127.0.0.1:{port}")
}

fn daemon(args: Vec<String>) -> Daemon {
    Daemon::start_with(DaemonOpts {
        args,
        ..DaemonOpts::default()
    })
}

/// A back: the sample APIs, `hello` and `tictactoe` exported, listening on `port`.
fn back(cfg: &Path, port: u16, connect: &[u16], extra: &[&str]) -> Daemon {
    let mut a = vec![
        "--zenoh-config".into(),
        cfg.display().to_string(),
        "--zenoh-listen".into(),
        endpoint(port),
        "--zenoh-export".into(),
        "hello".into(),
        "--zenoh-export".into(),
        "tictactoe".into(),
    ];
    for p in connect {
        a.push("--zenoh-connect".into());
        a.push(endpoint(*p));
    }
    a.extend(extra.iter().map(|s| s.to_string()));
    daemon(a)
}

/// A front importing `import` from the peers at `connect`.
fn front(cfg: &Path, connect: &[u16], import: &str, extra: &[&str]) -> Daemon {
    let mut a = vec![
        "--zenoh-config".into(),
        cfg.display().to_string(),
        "--zenoh-import".into(),
        import.into(),
    ];
    for p in connect {
        a.push("--zenoh-connect".into());
        a.push(endpoint(*p));
    }
    a.extend(extra.iter().map(|s| s.to_string()));
    daemon(a)
}

// ---- a minimal HTTP/1.1 client ----------------------------------------------

struct HttpReply {
    body: Value,
}

impl HttpReply {
    fn status(&self) -> &str {
        self.body["request"]["status"].as_str().unwrap_or("")
    }
}

fn post(port: u16, path: &str, uuid: Option<&str>, body: &str) -> std::io::Result<HttpReply> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(u) = uuid {
        req.push_str(&format!("x-afb-uuid: {u}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes())?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no end of headers"))?;
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let mut body = raw[split + 4..].to_vec();
    if head.contains("transfer-encoding: chunked") {
        body = dechunk(&body);
    }
    Ok(HttpReply {
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    })
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = b.windows(2).position(|w| w == b"\r\n") {
        let n = usize::from_str_radix(String::from_utf8_lossy(&b[..eol]).trim(), 16).unwrap_or(0);
        if n == 0 || b.len() < eol + 2 + n + 2 {
            break;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + n]);
        b = &b[eol + 2 + n + 2..];
    }
    out
}

/// An HTTP client keeping its session.
struct Client {
    port: u16,
    uuid: Option<String>,
}

impl Client {
    fn new(port: u16) -> Self {
        Client { port, uuid: None }
    }

    fn try_call(&mut self, api_verb: &str, args: Value) -> std::io::Result<HttpReply> {
        let r = post(
            self.port,
            &format!("/api/{api_verb}"),
            self.uuid.as_deref(),
            &args.to_string(),
        )?;
        if let Some(u) = r.body["request"]["uuid"].as_str() {
            self.uuid = Some(u.to_owned());
        }
        Ok(r)
    }

    fn call(&mut self, api_verb: &str, args: Value) -> HttpReply {
        self.try_call(api_verb, args).expect("HTTP call")
    }
}

/// Calls `api_verb` on a fresh session until it succeeds (the front learns
/// the replicas from Zenoh liveliness).
fn wait_served(port: u16, api_verb: &str, d: &Daemon) {
    let deadline = Instant::now() + T;
    loop {
        let r = post(port, &format!("/api/{api_verb}"), None, "null").ok();
        if r.as_ref().is_some_and(|r| r.status() == "success") {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{api_verb} not served through Zenoh: {:?}\n{}",
            r.map(|r| r.body),
            d.log()
        );
        thread::sleep(Duration::from_millis(100));
    }
}

fn ws(d: &Daemon) -> CClient {
    let c = CClient::connect(d.addr(), "/api").expect("WebSocket");
    c.set_timeout(T);
    c
}

fn ws_call(c: &mut CClient, api: &str, verb: &str, args: Value) -> Value {
    match c.call_sync(api, verb, Some(&args.to_string())).expect("ws call") {
        CMsg::Reply { object, .. } => serde_json::from_str(&object).expect("reply JSON"),
        other => panic!("not a reply: {other:?}"),
    }
}

fn ping_count(port: u16) -> u64 {
    let r = post(port, "/api/hello/ping", None, "null").expect("direct ping");
    let info = r.body["request"]["info"].as_str().unwrap_or("").to_owned();
    info.split("count=")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in {info:?}"))
}

#[test]
fn three_daemons_calls_sessions_events_broadcasts() {
    let dir = TempDir::new("zenoh3");
    let cfg = config_file(&dir);
    let (p1, p2) = (free_port(), free_port());
    let b1 = back(&cfg, p1, &[], &[]);
    let b2 = back(&cfg, p2, &[p1], &[]);
    let fa = front(&cfg, &[p1, p2], "*", &[]);
    let fb = front(&cfg, &[p1, p2], "hello", &[]);
    wait_served(fa.port, "hello/ping", &fa);
    wait_served(fb.port, "hello/ping", &fb);

    // JSON arguments and replies, errors, across binders.
    let mut c = Client::new(fa.port);
    let r = c.call("hello/ping", json!({"x": [1, 2]}));
    assert_eq!((r.status(), &r.body["response"]), ("success", &json!("Some String")));
    assert!(r.body["request"]["info"]
        .as_str()
        .unwrap()
        .contains("query={ \"x\": [ 1, 2 ] }"));
    let r = c.call("hello/pingJson", json!(null));
    assert_eq!(r.body["response"]["eobj"]["subObjInt"], json!(5678));
    let r = c.call("hello/pingfail", json!(null));
    assert_eq!(
        (r.status(), r.body["request"]["info"].as_str()),
        ("failed", Some("Ping Binder Daemon fails"))
    );
    let r = c.call("hello/nosuchverb", json!(null));
    assert_eq!(r.status(), "unknown-verb");
    // More verbs than a replica declares call keys for (128): the others
    // use the key's text, and the declared ones still serve.
    for i in 0..140 {
        assert_eq!(
            c.call(&format!("hello/noverb{i}"), json!(null)).status(),
            "unknown-verb"
        );
    }
    assert_eq!(c.call("hello/ping", json!(null)).status(), "success");
    // The session is the same on the back: same uuid, LOA kept.
    let r = c.call("hello/info", json!(null));
    assert_eq!(r.body["response"]["uuid"].as_str(), c.uuid.as_deref());
    assert_eq!(c.call("hello/has-loa-1", json!(null)).status(), "insufficient-scope");
    assert_eq!(c.call("hello/set-loa", json!(2)).status(), "success");
    assert_eq!(c.call("hello/has-loa-2", json!(null)).status(), "success");
    // By name, tictactoe is not imported by fb; by *, it is by fa.
    assert_eq!(
        post(fb.port, "/api/tictactoe/new", None, "null").unwrap().status(),
        "unknown-api"
    );
    assert_eq!(
        post(fa.port, "/api/tictactoe/new", None, "null").unwrap().status(),
        "success"
    );

    // An unknown API is answered at once.
    let t0 = Instant::now();
    assert_eq!(
        post(fa.port, "/api/nosuchapi/x", None, "null").unwrap().status(),
        "unknown-api"
    );
    assert!(
        t0.elapsed() < Duration::from_secs(2),
        "unknown-api took {:?}",
        t0.elapsed()
    );

    // Session affinity: the context of a session stays on its replica.
    let mut clients: Vec<Client> = (0..6).map(|_| Client::new(fa.port)).collect();
    for (i, c) in clients.iter_mut().enumerate() {
        assert_eq!(c.call("hello/setctx", json!({"n": i})).status(), "success");
    }
    for _ in 0..3 {
        for (i, c) in clients.iter_mut().enumerate() {
            let r = c.call("hello/getctx", json!(null));
            assert_eq!(r.body["response"], json!({"n": i}), "{:?}", r.body);
        }
    }
    // Sessions spread over the replicas: both served pings through the front.
    let before = (ping_count(b1.port), ping_count(b2.port));
    for c in clients.iter_mut() {
        assert_eq!(c.call("hello/ping", json!(null)).status(), "success");
    }
    let after = (ping_count(b1.port), ping_count(b2.port));
    let via = (after.0 - before.0 - 1, after.1 - before.1 - 1);
    assert_eq!(via.0 + via.1, 6, "{before:?} {after:?}");
    assert!(via.0 >= 1 && via.1 >= 1, "calls not spread: {via:?}");

    // Events: a client of fa subscribed by a verb of a back gets its pushes.
    let mut w = ws(&fa);
    let r = ws_call(&mut w, "hello", "eventadd", json!({"tag": "t", "name": "tick"}));
    assert_eq!(r["request"]["status"], "success", "{r}");
    let r = ws_call(&mut w, "hello", "eventsub", json!({"tag": "t"}));
    assert_eq!(r["request"]["status"], "success", "{r}");
    let r = ws_call(&mut w, "hello", "eventpush", json!({"tag": "t", "data": {"n": 1}}));
    assert_eq!(r["request"]["status"], "success", "{r}");
    match w.event().expect("pushed event") {
        CMsg::Event { name, object } => {
            assert_eq!(name, "hello/tick");
            let v: Value = serde_json::from_str(&object).unwrap();
            assert_eq!(v["data"], json!({"n": 1}), "{v}");
        }
        other => panic!("{other:?}"),
    }
    let r = ws_call(&mut w, "hello", "eventunsub", json!({"tag": "t"}));
    assert_eq!(r["request"]["status"], "success", "{r}");
    ws_call(&mut w, "hello", "eventpush", json!({"tag": "t", "data": {"n": 2}}));
    ws_call(&mut w, "hello", "ping", json!(null));
    assert!(w.events.is_empty(), "pushed after unsubscription: {:?}", w.events);

    // Broadcasts reach the clients of every binder once.
    let mut wb = ws(&fb);
    let mut w1 = ws(&b1);
    ws_call(&mut wb, "hello", "ping", json!(null));
    ws_call(&mut w1, "hello", "ping", json!(null));
    let r = ws_call(&mut w, "hello", "broadcast", json!({"name": "bc", "data": {"b": 7}}));
    assert_eq!(r["request"]["status"], "success", "{r}");
    for (who, c) in [("fa", &mut w), ("fb", &mut wb), ("b1", &mut w1)] {
        match c.event().unwrap_or_else(|e| panic!("{who}: no broadcast: {e}")) {
            CMsg::Event { name, object } => {
                assert_eq!(name, "hello/bc", "{who}");
                let v: Value = serde_json::from_str(&object).unwrap();
                assert_eq!(v["data"], json!({"b": 7}), "{who}: {v}");
            }
            other => panic!("{who}: {other:?}"),
        }
    }
    // Once: nothing more after a round trip through every binder.
    thread::sleep(Duration::from_millis(300));
    for (who, c) in [("fa", &mut w), ("fb", &mut wb), ("b1", &mut w1)] {
        ws_call(c, "hello", "ping", json!(null));
        assert!(c.events.is_empty(), "{who} got the broadcast twice: {:?}", c.events);
    }
}

/// Whether `back` holds the tictactoe board of session `uuid`, one where a
/// move was played (a back that does not know the session makes it an
/// empty board).
fn holds_board(back: &Daemon, uuid: &str) -> bool {
    post(back.port, "/api/tictactoe/board", Some(uuid), "null")
        .is_ok_and(|r| r.body["response"]["history"].as_array().is_some_and(|h| !h.is_empty()))
}

/// A new board with a move played, through the front.
fn played_board(c: &mut Client) {
    assert_eq!(c.call("tictactoe/new", json!(null)).status(), "success");
    let r = c.call("tictactoe/play", json!(null));
    assert_eq!(r.status(), "success", "{:?}", r.body);
}

#[test]
fn replica_killed_under_load() {
    let dir = TempDir::new("zenohkill");
    let cfg = config_file(&dir);
    let (p1, p2) = (free_port(), free_port());
    let b1 = back(&cfg, p1, &[], &[]);
    let b2 = back(&cfg, p2, &[p1], &[]);
    let f = front(&cfg, &[p1, p2], "*", &["--apitimeout", "15"]);
    wait_served(f.port, "hello/ping", &f);
    wait_served(f.port, "tictactoe/board", &f);
    // Both replicas must be known before the load starts.
    let deadline = Instant::now() + T;
    loop {
        let mut seen = (false, false);
        for _ in 0..6 {
            let mut c = Client::new(f.port);
            played_board(&mut c);
            let u = c.uuid.clone().unwrap();
            seen.0 |= holds_board(&b1, &u);
            seen.1 |= holds_board(&b2, &u);
        }
        if seen == (true, true) {
            break;
        }
        assert!(Instant::now() < deadline, "the front does not use both replicas");
        thread::sleep(Duration::from_millis(200));
    }

    // A call in flight on the replica to kill: tictactoe/wait waits for a move.
    let mut waiter = Client::new(f.port);
    played_board(&mut waiter);
    let uuid = waiter.uuid.clone().unwrap();
    let (mut victim, survivor) = if holds_board(&b1, &uuid) { (b1, b2) } else { (b2, b1) };
    assert!(holds_board(&victim, &uuid) && !holds_board(&survivor, &uuid));
    let f_port = f.port;
    let in_flight = thread::spawn(move || {
        let t0 = Instant::now();
        let r = post(f_port, "/api/tictactoe/wait", Some(&uuid), "null").expect("wait reply");
        (r.status().to_owned(), t0.elapsed())
    });

    // Load: clients with their own sessions, calling in a loop.
    let stop = Arc::new(AtomicBool::new(false));
    let killed_at: Arc<std::sync::Mutex<Option<Instant>>> = Arc::default();
    let late_failures = Arc::new(AtomicUsize::new(0));
    let early_failures = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let recovery = Duration::from_secs(5);
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (stop, killed_at, late, early, done) = (
                stop.clone(),
                killed_at.clone(),
                late_failures.clone(),
                early_failures.clone(),
                done.clone(),
            );
            thread::spawn(move || {
                let mut c = Client::new(f_port);
                let mut sent = 0usize;
                while !stop.load(Ordering::Relaxed) && sent < 100_000 {
                    sent += 1;
                    let ok = c
                        .try_call("hello/ping", json!(null))
                        .is_ok_and(|r| r.status() == "success");
                    let after = killed_at.lock().unwrap().map(|k| k.elapsed());
                    match (ok, after) {
                        (true, _) => {
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                        (false, Some(a)) if a > recovery => {
                            late.fetch_add(1, Ordering::Relaxed);
                        }
                        (false, _) => {
                            early.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
        })
        .collect();
    thread::sleep(Duration::from_millis(1500));
    *killed_at.lock().unwrap() = Some(Instant::now());
    victim.kill();
    let (status, took) = in_flight.join().unwrap();
    assert_eq!(status, "disconnected", "the in-flight call on the killed replica");
    assert!(took < Duration::from_secs(15), "answered after {took:?}");
    thread::sleep(recovery + Duration::from_secs(3));
    let served_before_stop = done.load(Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    eprintln!(
        "replica killed: {} calls served, {} failed before the recovery time, {} after",
        served_before_stop,
        early_failures.load(Ordering::Relaxed),
        late_failures.load(Ordering::Relaxed)
    );
    assert_eq!(late_failures.load(Ordering::Relaxed), 0, "calls lost after recovery");
    assert!(
        served_before_stop > 50,
        "too few calls under load: {served_before_stop}"
    );
    // The session of the waiter moved to the survivor.
    let mut again = Client::new(f.port);
    again.uuid = waiter.uuid.clone();
    assert_eq!(again.call("hello/ping", json!(null)).status(), "success");
    played_board(&mut again);
    assert!(holds_board(&survivor, waiter.uuid.as_deref().unwrap()));
    drop(survivor);
}

// ---- a foreign Zenoh peer -------------------------------------------------

use zenoh::Wait;

fn peer_session(ports: &[u16], mode: &str) -> zenoh::Session {
    let mut c = zenoh::Config::default();
    c.insert_json5("mode", &format!("{mode:?}")).unwrap();
    c.insert_json5("scouting/multicast/enabled", "false").unwrap();
    let eps: Vec<String> = ports.iter().map(|p| endpoint(*p)).collect();
    c.insert_json5("connect/endpoints", &serde_json::to_string(&eps).unwrap())
        .unwrap();
    zenoh::open(c).wait().expect("open a Zenoh session")
}

/// The binders serving `api`, from liveliness (waits until there is one).
fn binders_of(s: &zenoh::Session, api: &str) -> Vec<String> {
    let deadline = Instant::now() + T;
    loop {
        let replies = s
            .liveliness()
            .get(format!("afb/live/api/{api}/*"))
            .timeout(Duration::from_secs(5))
            .wait()
            .unwrap();
        let mut found = Vec::new();
        while let Ok(r) = replies.recv() {
            if let Ok(sample) = r.result() {
                found.push(sample.key_expr().as_str().rsplit('/').next().unwrap().to_owned());
            }
        }
        if !found.is_empty() {
            return found;
        }
        assert!(Instant::now() < deadline, "no binder serves {api}");
        thread::sleep(Duration::from_millis(100));
    }
}

/// A raw query: `Ok((attachment, payload))` or `Err(error payload)`.
fn raw_query(
    s: &zenoh::Session,
    key: &str,
    payload: Option<&[u8]>,
    att: Option<&[u8]>,
) -> Result<(Value, String), Value> {
    let mut q = s.get(key).timeout(Duration::from_secs(10));
    if let Some(p) = payload {
        q = q.payload(p.to_vec());
    }
    if let Some(a) = att {
        q = q.attachment(a.to_vec());
    }
    let replies = q.wait().unwrap();
    let r = replies.recv().expect("a reply");
    match r.result() {
        Ok(sample) => {
            let a = sample.attachment().map(|a| a.to_bytes().to_vec()).unwrap_or_default();
            Ok((
                serde_json::from_slice(&a).expect("reply attachment JSON"),
                String::from_utf8(sample.payload().to_bytes().to_vec()).unwrap(),
            ))
        }
        Err(e) => Err(serde_json::from_slice(&e.payload().to_bytes()).expect("error payload JSON")),
    }
}

#[test]
fn foreign_peer_bad_queries_and_replies() {
    let dir = TempDir::new("zenohbad");
    let cfg = config_file(&dir);
    let p1 = free_port();
    let b = back(&cfg, p1, &[], &[]);
    let f = front(&cfg, &[p1], "*", &["--apitimeout", "10"]);
    let s = peer_session(&[p1], "peer");
    let bid = binders_of(&s, "hello").remove(0);
    let key = |verb: &str| format!("afb/api/hello/{bid}/{verb}");

    // A good call, for reference: JSON in, JSON out, the session reported.
    let (att, data) = raw_query(
        &s,
        &key("ping"),
        Some(b"{\"a\":1}"),
        Some(br#"{"session":"s-foreign"}"#),
    )
    .unwrap();
    assert_eq!(
        (att["status"].as_str(), data.as_str()),
        (Some("success"), "\"Some String\"")
    );
    assert_eq!(att["session"], "s-foreign");

    // (verb chunk, payload, attachment)
    type Bad<'a> = (&'a str, Option<&'a [u8]>, Option<Vec<u8>>);
    let bad: [Bad<'_>; 7] = [
        ("ping", None, Some(b"\xff{".to_vec())),
        ("ping", None, Some(br#"{"unknown":1}"#.to_vec())),
        (
            "ping",
            None,
            Some(format!("{{\"session\":\"{}\"}}", "x".repeat(300)).into_bytes()),
        ),
        ("ping", None, Some(br#"{"creds":"zz"}"#.to_vec())),
        ("ping", None, Some(vec![b' '; 70 * 1024])),
        ("ping", Some(b"{bad"), None),
        ("%zz", None, None),
    ];
    for (verb, payload, att) in bad {
        let r = raw_query(&s, &key(verb), payload, att.as_deref());
        let e = r.expect_err("an error reply");
        assert_eq!(e["status"], "invalid-request", "{verb}: {e}");
        assert!(e["info"].as_str().is_some_and(|i| !i.is_empty()), "{e}");
    }
    assert!(b.log().contains("Zenoh query refused"), "no log line:\n{}", b.log());
    assert_eq!(
        post(b.port, "/api/hello/ping", None, "null").unwrap().status(),
        "success"
    );

    // A foreign exporter whose replies are malformed: the front answers
    // an error and keeps serving.
    let fake = "f00d";
    let _token = s
        .liveliness()
        .declare_token(format!("afb/live/api/fake/{fake}"))
        .wait()
        .unwrap();
    let _q = s
        .declare_queryable(format!("afb/api/fake/{fake}/*"))
        .callback(|q| {
            let verb = q.key_expr().as_str().rsplit('/').next().unwrap_or("").to_owned();
            let k = q.key_expr().clone();
            let _ = match verb.as_str() {
                "noatt" => q.reply(k, "1").wait(),
                "badatt" => q.reply(k, "1").attachment("{").wait(),
                "baddata" => q.reply(k, "{x").attachment(r#"{"status":"success"}"#).wait(),
                "badstatus" => q.reply(k, "1").attachment(r#"{"status":""}"#).wait(),
                "errjunk" => q.reply_err("junk").wait(),
                "good" => q
                    .reply(k, "[1]")
                    .attachment(r#"{"status":"success","info":"fine"}"#)
                    .wait(),
                _ => Ok(()),
            };
        })
        .wait()
        .unwrap();
    wait_served(f.port, "fake/good", &f);
    let r = post(f.port, "/api/fake/good", None, "null").unwrap();
    assert_eq!((r.status(), &r.body["response"]), ("success", &json!([1])));
    for verb in ["noatt", "badatt", "baddata", "badstatus", "errjunk"] {
        let r = post(f.port, &format!("/api/fake/{verb}"), None, "null").unwrap();
        assert_eq!(r.status(), "internal-error", "{verb}: {:?}", r.body);
    }
    assert!(f.log().contains("malformed Zenoh reply"), "no log line:\n{}", f.log());
    // A verb the foreign exporter never answers: the call times out (Zenoh
    // closes the query when the queryable drops it unanswered).
    let r = post(f.port, "/api/fake/silent", None, "null").unwrap();
    assert!(matches!(r.status(), "disconnected" | "timeout"), "{:?}", r.body);
    assert_eq!(
        post(f.port, "/api/hello/ping", None, "null").unwrap().status(),
        "success"
    );
}

// ---- the Python client of docs/scale-out.md ----------------------------------

#[test]
fn python_client_calls_and_receives_events() {
    let python = match afb_testkit::require_tool("python3") {
        Some(p) => p,
        None => return,
    };
    let has_zenoh = std::process::Command::new(&python)
        .args(["-c", "import zenoh"])
        .status()
        .is_ok_and(|s| s.success());
    if !has_zenoh {
        afb_testkit::skip_or_fail("the Python package eclipse-zenoh is not installed");
        return;
    }
    let dir = TempDir::new("zenohpy");
    let cfg = config_file(&dir);
    let p1 = free_port();
    let b = back(&cfg, p1, &[], &[]);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/zenoh_client.py");
    let out = std::process::Command::new(&python)
        .arg(&script)
        .arg(endpoint(p1))
        .output()
        .expect("run the Python client");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "python client failed: {}\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        b.log()
    );
    let v: Value = serde_json::from_str(stdout.trim()).expect("the client's JSON");
    assert_eq!(v["binders"].as_array().map(Vec::len), Some(1), "{v}");
    assert_eq!(v["ping"]["status"], "success", "{v}");
    assert_eq!(v["ping"]["data"], "Some String", "{v}");
    assert_eq!(v["eventsub"], "success", "{v}");
    assert_eq!(v["subscribe"], json!(["hello/pyev"]), "{v}");
    assert_eq!(v["eventpush"], "success", "{v}");
    assert_eq!(v["pushed"][0]["data"], json!({"n": 42}), "{v}");
    assert_eq!(v["unknown"], "unknown-verb", "{v}");
}

// ---- through a zenohd router -------------------------------------------------

#[test]
fn through_a_zenohd_router() {
    let Some(zenohd) = afb_testkit::require_tool("zenohd") else {
        return;
    };
    let dir = TempDir::new("zenohd");
    let pr = free_port();
    let rcfg = dir.path().join("router.json5");
    std::fs::write(
        &rcfg,
        format!(
            r#"{{ mode: "router", listen: {{ endpoints: ["tcp/127.0.0.1:{pr}"] }},
                 scouting: {{ multicast: {{ enabled: false }} }} }}"#
        ),
    )
    .unwrap();
    let router = afb_testkit::KillOnDrop(
        std::process::Command::new(zenohd)
            .arg("-c")
            .arg(&rcfg)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start zenohd"),
    );
    let deadline = Instant::now() + T;
    while !afb_testkit::accepts(pr) {
        assert!(Instant::now() < deadline, "zenohd does not listen");
        thread::sleep(Duration::from_millis(50));
    }
    // Clients of the router only: no endpoint of their own.
    let ccfg = dir.path().join("client.json5");
    std::fs::write(
        &ccfg,
        r#"{ mode: "client", scouting: { multicast: { enabled: false } } }"#,
    )
    .unwrap();
    let conn = endpoint(pr);
    let b = daemon(
        [
            "--zenoh-config",
            &ccfg.display().to_string(),
            "--zenoh-connect",
            &conn,
            "--zenoh-export",
            "*",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
    );
    let f = front(&ccfg, &[pr], "*", &[]);
    wait_served(f.port, "hello/ping", &f);
    let mut c = Client::new(f.port);
    assert_eq!(c.call("hello/ping", json!(null)).status(), "success");
    let r = c.call("hello/info", json!(null));
    assert_eq!(r.body["response"]["uuid"].as_str(), c.uuid.as_deref());
    wait_served(f.port, "tictactoe/new", &f);
    let mut w = ws(&f);
    ws_call(&mut w, "hello", "eventadd", json!({"tag": "r", "name": "viarouter"}));
    ws_call(&mut w, "hello", "eventsub", json!({"tag": "r"}));
    ws_call(&mut w, "hello", "eventpush", json!({"tag": "r", "data": 5}));
    match w.event().expect("pushed through the router") {
        CMsg::Event { name, object } => {
            assert_eq!(name, "hello/viarouter");
            assert!(object.contains("\"data\":5"), "{object}");
        }
        other => panic!("{other:?}"),
    }
    let mut wb = ws(&b);
    ws_call(&mut wb, "hello", "ping", json!(null));
    ws_call(&mut w, "hello", "broadcast", json!({"name": "rb", "data": 1}));
    match wb.event().expect("broadcast through the router") {
        CMsg::Event { name, .. } => assert_eq!(name, "hello/rb"),
        other => panic!("{other:?}"),
    }
    drop(router);
}

// ---- typed data ------------------------------------------------------------------

/// Compiles the v4 C test binding `typed4.c` into `<dir>/typed4.so`.
fn typed4(dir: &Path) -> PathBuf {
    afb_testkit::c_test_binding(dir, "typed4.c", "typed4", &[])
}

#[test]
fn typed_data_crosses_zenoh_bit_exact() {
    let dir = TempDir::new("zenohtyped");
    let cfg = config_file(&dir);
    let so = typed4(dir.path()).display().to_string();
    let p1 = free_port();
    let _b = daemon(
        [
            "--binding",
            &so,
            "--zenoh-config",
            &cfg.display().to_string(),
            "--zenoh-listen",
            &endpoint(p1),
            "--zenoh-export",
            "typed",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
    );
    // The front has its own `typed` API: the back's is imported as t_z.
    let f = front(&cfg, &[p1], "t_z@typed", &["--binding", &so]);
    wait_served(f.port, "t_z/gen", &f);
    // v4 to v4 through Zenoh: parameters and replies compared bit-exact by typed4.c.
    let r = post(f.port, "/api/typed/run", None, r#"{"api":"t_z"}"#).unwrap();
    assert_eq!(
        (r.status(), &r.body["response"]),
        ("success", &json!("ok")),
        "{:?}",
        r.body
    );
    // A JSON client of the typed verb gets the JSON rendering of the typed reply.
    let r = post(f.port, "/api/t_z/gen", None, "null").unwrap();
    assert_eq!(r.status(), "success", "{:?}", r.body);
    assert!(r.body["response"].is_array(), "{:?}", r.body);
    // A JSON call of the typed check is answered with the difference.
    let r = post(f.port, "/api/t_z/check", None, "null").unwrap();
    assert_ne!(r.status(), "success", "{:?}", r.body);
    assert!(r.body.to_string().contains("values instead of 10"), "{:?}", r.body);
}

// ---- Zenoh's own mutual TLS ------------------------------------------------------

/// A peer configuration with Zenoh's TLS set: trust `ca`, listen with the
/// server certificate, present `client` when connecting, mutual TLS on.
fn tls_config(
    dir: &Path,
    name: &str,
    ca: &Path,
    server: &afb_testkit::certs::Issued,
    client: &afb_testkit::certs::Issued,
) -> PathBuf {
    let p = dir.join(format!("{name}.json5"));
    let s = |p: &Path| p.display().to_string();
    std::fs::write(
        &p,
        format!(
            r#"{{
  mode: "peer",
  scouting: {{ multicast: {{ enabled: false }}, gossip: {{ enabled: true }} }},
  transport: {{ link: {{ tls: {{
    root_ca_certificate: "{}",
    listen_certificate: "{}",
    listen_private_key: "{}",
    connect_certificate: "{}",
    connect_private_key: "{}",
    enable_mtls: true,
  }} }} }},
}}"#,
            s(ca),
            s(&server.cert),
            s(&server.key),
            s(&client.cert),
            s(&client.key),
        ),
    )
    .unwrap();
    p
}

/// A front importing `hello` over `tls/127.0.0.1:port` with the configuration `cfg`.
fn tls_front(cfg: &Path, port: u16) -> Daemon {
    daemon(
        [
            "--zenoh-config",
            &cfg.display().to_string(),
            "--zenoh-connect",
            &format!("tls/127.0.0.1:{port}"),
            "--zenoh-import",
            "hello",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
    )
}

/// Binders linked by Zenoh's mutual TLS (set in the Zenoh configuration
/// file, as docs/scale-out.md shows): a front with a certificate of the
/// trusted CA reaches the back's API; a front whose certificate comes from
/// another CA, and one speaking plain TCP to the TLS port, never do.
#[test]
fn mutual_tls_between_binders() {
    let pki = afb_testkit::certs::TestPki::new("zenoh-mtls");
    let good = tls_config(pki.dir(), "good", &pki.ca.cert, &pki.server, &pki.client);
    // Trusts the right CA but presents a certificate the back does not trust.
    let stranger = tls_config(pki.dir(), "stranger", &pki.ca.cert, &pki.untrusted, &pki.untrusted);
    let port = free_port();
    let b = daemon(
        [
            "--zenoh-config",
            &good.display().to_string(),
            "--zenoh-listen",
            &format!("tls/127.0.0.1:{port}"),
            "--zenoh-export",
            "hello",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
    );
    let f = tls_front(&good, port);
    wait_served(f.port, "hello/ping", &f);
    let mut c = Client::new(f.port);
    let r = c.call("hello/ping", json!(null));
    assert_eq!(r.status(), "success", "{:?}", r.body);
    // The call ran on the back: its session is the front's.
    let r = c.call("hello/info", json!(null));
    assert_eq!(r.body["response"]["uuid"].as_str(), c.uuid.as_deref(), "{:?}", r.body);

    let s = tls_front(&stranger, port);
    let dir = TempDir::new("zenoh-tcp");
    let plain = front(&config_file(&dir), &[port], "hello", &[]);
    // Both would learn `hello` within a second or two if their link were
    // accepted (the good front above did): give them several seconds.
    let deadline = Instant::now() + Duration::from_secs(6);
    while Instant::now() < deadline {
        for (who, d) in [("untrusted client certificate", &s), ("plain TCP", &plain)] {
            let r = post(d.port, "/api/hello/ping", None, "null").expect("HTTP");
            assert_ne!(
                r.status(),
                "success",
                "{who}: reached the back: {:?}\n{}",
                r.body,
                d.log()
            );
        }
        thread::sleep(Duration::from_millis(250));
    }
    // And the trusted front is still served.
    assert_eq!(c.call("hello/ping", json!(null)).status(), "success");
    drop(b);
}
