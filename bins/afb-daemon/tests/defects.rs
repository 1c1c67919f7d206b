//! One test per row of the table of C binder defects in
//! `docs/compatibility.md`: the fault each C binder
//! shows, reproduced against the real `afb-daemon` (on loopback, with
//! hand-written std-socket clients), and what we do instead. Each test name
//! carries its row number. Where another test file already covers a row in
//! depth, the test here says so and checks the defect's own scenario.

mod support;

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::os::unix::net::UnixListener;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::http_client::{Conn, Req};
use support::std_ws::op;
use support::*;

fn cookie_of(r: &support::http_client::Resp, port: u16) -> String {
    format!("x-afb-uuid-{port}={}", r.cookie_uuid().expect("a session cookie"))
}

fn is_v4(u: &str) -> bool {
    let b = u.as_bytes();
    u.len() == 36
        && [8, 13, 18, 23].iter().all(|&i| b[i] == b'-')
        && u.chars()
            .filter(|c| *c != '-')
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        && b[14] == b'4'
        && matches!(b[19], b'8' | b'9' | b'a' | b'b')
}

/// CPU time (user + system) the process used so far, from /proc.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which may hold spaces) in parentheses.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 10) // USER_HZ is 100 on Linux
}

// ---- 1 ------------------------------------------------------------------------

/// 64 concurrent keep-alive clients for 8 s: seven in eight ping, one in
/// eight waits in `tictactoe/wait` until the 1 s API timeout, with at most 16
/// requests in progress (`-j 16`). Every request gets an answer (success,
/// timeout, or `not-available` when the job table is full), and the daemon
/// answers at once afterwards.
#[test]
fn defect_01_many_concurrent_http_clients_never_wedge() {
    let _h = heavy();
    let d = D::start(&["-j", "16", "--apitimeout", "1"]);
    let addr = d.d.addr();
    let t0 = Instant::now();
    let stop = t0 + Duration::from_secs(8);
    let clients: Vec<_> = (0..64)
        .map(|i| {
            thread::spawn(move || {
                let mut seen: HashMap<(u16, String), usize> = HashMap::new();
                let mut c = Conn::tcp(addr);
                let mut n = 0;
                while Instant::now() < stop {
                    let target = if i % 8 == 0 {
                        "/api/tictactoe/wait"
                    } else {
                        "/api/hello/ping"
                    };
                    let r = c.get(target);
                    let v = r.json();
                    assert_eq!(v["jtype"], "afb-reply", "{v}");
                    *seen.entry((r.status, r.afb_status())).or_default() += 1;
                    n += 1;
                    if n % 50 == 0 {
                        c = Conn::tcp(addr); // new connections too
                    }
                }
                seen
            })
        })
        .collect();
    let mut total: HashMap<(u16, String), usize> = HashMap::new();
    for c in clients {
        let seen = c.join().expect("every request of the client was answered");
        assert!(!seen.is_empty(), "each client got answers");
        for (k, n) in seen {
            *total.entry(k).or_default() += n;
        }
    }
    let elapsed = t0.elapsed();
    for (status, afb) in total.keys() {
        assert!(
            matches!(
                (*status, afb.as_str()),
                (200, "success") | (504, "timeout") | (501, "not-available")
            ),
            "unexpected answer {status} {afb}: {total:?}"
        );
    }
    let answered: usize = total.values().sum();
    assert!(answered > 1000, "{answered} answers in {elapsed:?}: {total:?}");
    assert!(total.contains_key(&(504, "timeout".to_owned())), "{total:?}");
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
    let t = Instant::now();
    assert_eq!(d.get("/api/hello/ping").status, 200);
    assert!(t.elapsed() < Duration::from_secs(5), "still answering at once");
    eprintln!("row 1: {answered} answers in {elapsed:?}: {total:?}");
}

// ---- 2 ------------------------------------------------------------------------

/// One TCP connection carries 200 requests, errors included (404, 400, 401,
/// static files). More in `rest.rs` (`envelope_shape_and_keep_alive_over_one_connection`).
#[test]
fn defect_02_http_connections_are_kept_alive() {
    let d = D::start(&["--token", "T"]);
    let mut c = d.conn();
    for i in 0..200 {
        let r = match i % 5 {
            0 => c.get("/api/hello/ping"),
            1 => c.get("/api/nosuchapi/verb"),
            2 => c.request(&json_post("/api/hello/ping", "{bad")),
            3 => c.get("/api/hello/checktok"),
            _ => c.get("/devtools/index.html"),
        };
        assert!([200, 404, 400, 401].contains(&r.status), "{i}: {}", r.status);
        assert_ne!(r.header("connection"), Some("close"), "{i}");
    }
}

// ---- 3 ------------------------------------------------------------------------

/// 1000 sessions each store their own value; each reads back only its own
/// (cookie, header, argument, WebSocket). 16 000 random uuids and 6 000
/// near misses of real uuids (one digit changed, truncated, extended, upper
/// case) never reach a stored value: they get new sessions.
#[test]
fn defect_03_no_client_ever_reads_another_clients_session() {
    let _h = heavy();
    let d = D::start(&["--session-max", "100000"]);
    let port = d.d.port;
    let addr = d.d.addr();
    let owners: Vec<Vec<(String, String)>> = (0..40)
        .map(|t| {
            thread::spawn(move || {
                let mut c = Conn::tcp(addr);
                (0..25)
                    .map(|i| {
                        let secret = format!("secret-{t}-{i}");
                        let r = c.get(&format!("/api/hello/setctx?v={secret}"));
                        assert_eq!(r.status, 200);
                        (r.cookie_uuid().unwrap(), secret)
                    })
                    .collect()
            })
        })
        .map(|h| h.join().unwrap())
        .collect();
    let all: Vec<(String, String)> = owners.into_iter().flatten().collect();
    let secrets: HashSet<String> = all.iter().map(|(_, s)| s.clone()).collect();
    assert_eq!(secrets.len(), 1000);
    let uuids: HashSet<&str> = all.iter().map(|(u, _)| u.as_str()).collect();
    assert_eq!(uuids.len(), 1000, "every session has its own uuid");

    // Each owner reads back its own value, by every way of naming its session.
    let mut c = d.conn();
    for (i, (uuid, secret)) in all.iter().enumerate() {
        let r = match i % 3 {
            0 => c.request(&Req::get("/api/hello/getctx").header("cookie", format!("x-afb-uuid-{port}={uuid}"))),
            1 => c.request(&Req::get("/api/hello/getctx").header("x-afb-uuid", uuid.clone())),
            _ => c.get(&format!("/api/hello/getctx?uuid={uuid}")),
        };
        assert_eq!(r.json()["response"], json!({"v": secret}), "{uuid}");
    }
    let (u, s) = &all[7];
    let mut w = d.ws_q(&format!("x-afb-uuid={u}"));
    assert_eq!(w.call_ok("1", "hello/getctx", "null")[2]["response"], json!({"v": s}));

    // Guesses: random uuids and near misses of the real ones.
    let mut guesses: Vec<String> = Vec::new();
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..16_000 {
        let (a, b) = (rnd(), rnd());
        guesses.push(format!(
            "{:08x}-{:04x}-4{:03x}-{:x}{:03x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            8 + (b >> 62),
            (b >> 48) & 0xfff,
            b & 0xffff_ffff_ffff
        ));
    }
    for (uuid, _) in all.iter().take(1000) {
        let mut last = uuid.clone().into_bytes();
        let l = last.len() - 1;
        last[l] = if last[l] == b'0' { b'1' } else { b'0' };
        let mut first = uuid.clone().into_bytes();
        first[0] = if first[0] == b'f' { b'e' } else { b'f' };
        guesses.push(String::from_utf8(last).unwrap());
        guesses.push(String::from_utf8(first).unwrap());
        guesses.push(uuid[..35].to_owned());
        guesses.push(format!("{uuid}0"));
        guesses.push(uuid.to_uppercase());
        guesses.push(uuid[..8].to_owned());
    }
    let guesses = Arc::new(guesses);
    let leaks: Vec<String> = (0..8)
        .map(|t| {
            let guesses = guesses.clone();
            thread::spawn(move || {
                let mut c = Conn::tcp(addr);
                let mut leaks = Vec::new();
                for g in guesses.iter().skip(t).step_by(8) {
                    let r = c.request(&Req::get("/api/hello/getctx").header("x-afb-uuid", g.clone()));
                    let v = r.json();
                    if v.get("response").is_some() {
                        leaks.push(format!("{g} -> {}", v["response"]));
                    }
                    let made = v["request"]["uuid"].as_str().unwrap_or("");
                    assert!(is_v4(made) && made != g, "{g} got {v}");
                }
                leaks
            })
        })
        .flat_map(|h| h.join().unwrap())
        .collect();
    assert!(leaks.is_empty(), "guessed uuids reached stored values: {leaks:?}");
    // The owners still have their own values.
    for (uuid, secret) in all.iter().step_by(37) {
        let r = c.request(&Req::get("/api/hello/getctx").header("x-afb-uuid", uuid.clone()));
        assert_eq!(r.json()["response"], json!({"v": secret}));
    }
}

// ---- 4 ------------------------------------------------------------------------

/// A uuid chosen by the client, over HTTP (header, cookie, arguments) or
/// the WebSocket upgrade, never becomes a session id: the client gets a new
/// server-made one. Server-made uuids are version 4, all distinct, and do
/// not follow each other (about 30 of their 30 random hex digits differ
/// between consecutive ones). They come from `uuid::Uuid::new_v4`, which
/// reads the OS CSPRNG (`getrandom`).
#[test]
fn defect_04_client_chosen_uuids_get_new_server_made_v4_uuids() {
    let d = D::start(&[]);
    let port = d.d.port;
    let chosen = "11111111-1111-4111-8111-111111111111";
    let mut c = d.conn();
    let reqs = [
        Req::get("/api/hello/info").header("x-afb-uuid", chosen),
        Req::get("/api/hello/info").header("cookie", format!("x-afb-uuid-{port}={chosen}")),
        Req {
            target: "/api/hello/info?uuid=11111111-1111-4111-8111-111111111111",
            ..Req::get("")
        },
        Req {
            target: "/api/hello/info?x-afb-uuid=11111111-1111-4111-8111-111111111111",
            ..Req::get("")
        },
    ];
    for req in &reqs {
        let r = c.request(req);
        let v = r.json();
        let made = v["request"]["uuid"].as_str().expect("a new session is announced");
        assert_ne!(made, chosen);
        assert!(is_v4(made), "{made}");
        assert_eq!(v["response"]["uuid"], made, "the verb runs in the new session");
        assert_eq!(r.cookie_uuid().as_deref(), Some(made));
    }
    let mut w = d.ws_q(&format!("x-afb-uuid={chosen}"));
    let r = w.call_ok("1", "hello/info", "null");
    let made = r[2]["response"]["uuid"].as_str().unwrap().to_owned();
    assert_ne!(made, chosen);
    assert!(is_v4(&made), "{made}");

    let mut seen = HashSet::new();
    let mut prev: Option<String> = None;
    let mut differing = 0usize;
    for _ in 0..1000 {
        let r = c.get("/api/hello/ping");
        let u = r.cookie_uuid().unwrap();
        assert!(is_v4(&u), "{u}");
        if let Some(p) = &prev {
            differing += p.bytes().zip(u.bytes()).filter(|(a, b)| a != b).count();
        }
        assert!(seen.insert(u.clone()), "uuid {u} given twice");
        prev = Some(u);
    }
    let mean = differing as f64 / 999.0;
    assert!(
        mean > 25.0,
        "consecutive uuids differ in {mean:.1} characters on average"
    );
}

// ---- 5 ------------------------------------------------------------------------

/// With `--token`, the token is checked on every request needing it, exactly:
/// empty, prefixes, extensions and case changes are refused, over HTTP and
/// WebSocket. The comparison is constant-time
/// (`afb_core::session::constant_time_eq`; its timing is tested by
/// `session::tests::token_check_time_does_not_depend_on_where_the_tokens_differ`
/// in afb-core).
#[test]
fn defect_05_tokens_are_exact_and_always_checked() {
    let good = "S3cret-Token";
    let d = D::start(&["--token", good]);
    let mut c = d.conn();
    let bad = [
        "",
        "S",
        "S3cret-Toke",
        "S3cret-Token-",
        "s3cret-token",
        "S3cret-Token\u{0}",
        "3cret-Token",
    ];
    for b in bad {
        // A NUL byte cannot travel in a header (hyper answers 400): query only.
        if !b.contains('\0') {
            for req in [
                Req::get("/api/hello/checktok").header("authorization", format!("Bearer {b}")),
                Req::get("/api/hello/checktok").header("x-afb-token", b),
            ] {
                let r = c.request(&req);
                assert_eq!(r.status, 401, "token {b:?} accepted");
            }
        }
        let q = format!("/api/hello/checktok?token={}", b.replace('\0', "%00"));
        assert_eq!(c.get(&q).status, 401, "token {b:?} accepted");
    }
    assert_eq!(c.get("/api/hello/checktok").status, 401, "no token at all");
    assert_eq!(c.get(&format!("/api/hello/checktok?token={good}")).status, 200);
    let r = c.request(&Req::get("/api/hello/checktok").header("authorization", format!("Bearer {good}")));
    assert_eq!(r.status, 200);

    let mut w = d.ws_q("x-afb-token=S3cret-Toke");
    assert_eq!(ws_status(&w.call("1", "hello/checktok", "null")), "invalid-token");
    // The 5th element of a call replaces the connection's token.
    w.send(&format!(r#"[2,"2","hello/checktok",null,"{good}"]"#));
    assert_eq!(w.reply_to("2")[0], 3);
    w.send(r#"[2,"3","hello/checktok",null,""]"#);
    assert_eq!(ws_status(&w.reply_to("3")), "invalid-token");
    w.send(r#"[2,"4","hello/checktok",null,"S3cret-Token "]"#);
    assert_eq!(ws_status(&w.reply_to("4")), "invalid-token");
}

// ---- 6 ------------------------------------------------------------------------

/// 10 000 cookie-less requests with `--session-max 200`: every one is
/// served, the least recently used idle sessions are evicted (9 800 of
/// them, each logged with the running count), and a new client then gets
/// a working session. (`rest.rs` has the same flood without the log.)
#[test]
fn defect_06_cookieless_flood_evicts_idle_sessions_counts_and_logs_them() {
    let _h = heavy();
    let d = D::start(&["--session-max", "200", "-vv"]);
    let mut c = d.conn();
    for i in 0..10_000 {
        let r = c.get("/api/hello/ping");
        assert_eq!(r.status, 200, "request {i}: {}", r.text());
    }
    let mut c2 = d.conn();
    let set = c2.get("/api/hello/setctx?still=works");
    assert_eq!(set.status, 200);
    let r = c2.request(&Req::get("/api/hello/getctx").header("cookie", cookie_of(&set, d.d.port)));
    assert_eq!(r.json()["response"], json!({"still": "works"}));
    let log = d.d.wait_log(T, |l| l.contains("total_evictions=9801"));
    let lines = log
        .lines()
        .filter(|l| l.contains("evicted least recently used idle session"))
        .count();
    assert_eq!(lines, 9801, "one log line per eviction");
    assert!(log.contains("total_evictions=9800"), "the running count is logged");
}

// ---- 7 ------------------------------------------------------------------------

/// Malformed JSON bodies get `400 invalid-request` at once, and the
/// connection stays usable. (`rest.rs` checks one case.)
#[test]
fn defect_07_malformed_json_bodies_get_400_at_once() {
    let d = D::start(&[]);
    let mut c = d.conn();
    let deep = "[".repeat(100_000);
    let bodies: Vec<&[u8]> = vec![
        br#"{"a":"#,
        b"[1,2",
        b"{} trailing",
        b"\"unterminated",
        b"{'single':'quotes'}",
        b"\xff\xfe",
        b"nul\x00",
        b"{\"a\":1,}",
        deep.as_bytes(),
    ];
    for body in bodies {
        let t = Instant::now();
        let r = c.request(&Req::post("/api/hello/ping", "application/json", body.to_vec()));
        assert_eq!(
            (r.status, r.afb_status().as_str()),
            (400, "invalid-request"),
            "{body:?}"
        );
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "answered at once, not after the client gives up"
        );
        assert_eq!(c.get("/api/hello/ping").status, 200, "connection still usable");
    }
}

// ---- 8 ------------------------------------------------------------------------

/// Broadcast and pushed events reach WebSocket clients with one `afb-event`
/// wrapper, also through a front binder (wsapi). (`ws.rs` and `wsapi.rs`
/// cover more event cases.)
#[test]
fn defect_08_events_have_one_wrapper_even_through_a_front() {
    fn check_one_wrapper(m: &Value, name: &str, data: &Value) {
        assert_eq!(m[0], 5, "{m}");
        assert_eq!(m[1], name, "{m}");
        assert_eq!(m[2]["jtype"], "afb-event", "{m}");
        assert_eq!(m[2]["event"], name, "{m}");
        assert_eq!(&m[2]["data"], data, "data is not wrapped again: {m}");
        assert!(m[2]["data"].get("jtype").is_none(), "{m}");
        assert_eq!(m.as_array().unwrap().len(), 3, "{m}");
    }
    let (b, sock) = back(&[]);
    let f = front(&sock, &[]);
    for d in [&b, &f] {
        let mut w = d.ws();
        let mut other = d.ws();
        other.call_ok("0", "hello/ping", "null");
        w.call_ok("1", "hello/pingevent", r#"{"x":1}"#);
        check_one_wrapper(&w.event(), "hello/event", &json!({"x": 1}));
        check_one_wrapper(&other.event(), "hello/event", &json!({"x": 1}));
        w.call_ok("2", "hello/eventadd", r#"{"tag":"t","name":"ev"}"#);
        w.call_ok("3", "hello/eventsub", r#"{"tag":"t"}"#);
        w.call_ok("4", "hello/eventpush", r#"{"tag":"t","data":{"y":2}}"#);
        check_one_wrapper(&w.event(), "hello/ev", &json!({"y": 2}));
        w.call_ok("5", "hello/eventdel", r#"{"tag":"t"}"#);
    }
}

// ---- 9 ------------------------------------------------------------------------

/// Sends `fragments` frames of `size` bytes forming one message (first
/// `first_opcode`, then continuations, never FIN) through `send`, until the
/// peer stops reading or closes; returns how many frames were written.
fn send_fragments(
    mut send: impl FnMut(u8, &[u8]) -> std::io::Result<()>,
    first_opcode: u8,
    size: usize,
    fragments: usize,
) -> usize {
    let payload = vec![b'x'; size];
    for i in 0..fragments {
        if send(if i == 0 { first_opcode } else { op::CONT }, &payload).is_err() {
            return i;
        }
    }
    fragments
}

/// Four WebSocket clients and four wsapi peers each send one message of 30
/// fragments of 1 MB (the C binders take all 30 MB per client): each is
/// closed with 1009 once the total passes `--ws-maxlen` (1 048 500), other
/// clients are served meanwhile, and the daemon's resident memory never
/// grows by more than 24 MiB (120 MB + 120 MB are sent).
#[test]
fn defect_09_fragmented_messages_are_bounded_and_memory_stays_flat() {
    let _h = heavy();
    let (b, sock) = back(&[]);
    let base = b.d.rss_kib().unwrap();
    let pid = b.d.pid();
    let done = Arc::new(AtomicBool::new(false));
    let peak = {
        let done = done.clone();
        thread::spawn(move || {
            let mut peak = 0;
            while !done.load(Ordering::Relaxed) {
                if let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
                    if let Some(kib) = s
                        .lines()
                        .find(|l| l.starts_with("VmRSS:"))
                        .and_then(|l| l.split_whitespace().nth(1))
                        .and_then(|n| n.parse::<u64>().ok())
                    {
                        peak = peak.max(kib);
                    }
                }
                thread::sleep(Duration::from_millis(10));
            }
            peak
        })
    };
    let mut jobs = Vec::new();
    for _ in 0..4 {
        let support::std_ws::WsConn { mut reader, writer, .. } = b.ws().c;
        jobs.push(thread::spawn(move || {
            let sender =
                thread::spawn(move || send_fragments(|o, p| writer.send_frame(o, false, p), op::TEXT, 1_000_000, 30));
            let code = loop {
                match reader.recv() {
                    Ok(support::std_ws::WsMsg::Close(code, _)) => break code,
                    Ok(_) => {}
                    Err(_) => break None,
                }
            };
            let _ = sender.join();
            ("websocket", code)
        }));
        let mut p = WsapiPeer::connect(&sock).unwrap();
        p.hello();
        let mut writer = p.s.try_clone().unwrap();
        jobs.push(thread::spawn(move || {
            let sender = thread::spawn(move || {
                send_fragments(
                    |o, payload| {
                        writer.write_all(&wire::frame_header(o, false, payload.len()))?;
                        writer.write_all(payload)
                    },
                    0x2,
                    1_000_000,
                    30,
                )
            });
            let code = p.closed();
            let _ = sender.join();
            ("wsapi", code)
        }));
    }
    let mut other = b.ws();
    other.call_ok("during", "hello/ping", "null");
    for j in jobs {
        let (kind, code) = j.join().unwrap();
        assert_eq!(code, Some(1009), "{kind}: closed at the limit");
    }
    done.store(true, Ordering::Relaxed);
    let peak = peak.join().unwrap();
    other.call_ok("after", "hello/ping", "null");
    let after = b.d.rss_kib().unwrap();
    eprintln!("row 9: RSS base {base} KiB, peak {peak} KiB, after {after} KiB");
    assert!(peak < base + 24 * 1024, "RSS peak {peak} KiB from {base} KiB");
    assert!(after < base + 24 * 1024, "RSS after {after} KiB from {base} KiB");
}

// ---- 10 -----------------------------------------------------------------------

/// A WebSocket client that stops reading while events flood it is dropped
/// once its queue (`--ws-send-queue 64`) is full, and an HTTP client that
/// pipelines requests for a 1 MiB file without reading holds only its own
/// connection: other clients keep answering within 0.5 s and the daemon's
/// memory stays bounded. (`ws.rs` has the same with the default queue.)
#[test]
fn defect_10_a_client_that_stops_reading_slows_only_itself() {
    let _h = heavy();
    let site = afb_testkit::TempDir::new("site");
    std::fs::write(site.path().join("big.bin"), vec![7u8; 1 << 20]).unwrap();
    let d = D::start(&["--ws-send-queue", "64", "--roothttp", site.path().to_str().unwrap()]);
    let base = d.d.rss_kib().unwrap();

    // The HTTP client that never reads.
    let mut lazy = TcpStream::connect(d.d.addr()).unwrap();
    let mut pipelined = Vec::new();
    for _ in 0..200 {
        pipelined.extend_from_slice(b"GET /big.bin HTTP/1.1\r\nhost: x\r\n\r\n");
    }
    lazy.write_all(&pipelined).unwrap();

    // The WebSocket client that never reads.
    let mut stuck = d.ws();
    stuck.call_ok("1", "hello/eventadd", r#"{"tag":"flood","name":"flood"}"#);
    stuck.call_ok("2", "hello/eventsub", r#"{"tag":"flood"}"#);
    let mut pusher = d.ws();
    let mut http = d.conn();
    let data = "y".repeat(32 * 1024);
    let mut worst = Duration::ZERO;
    for round in 0..40 {
        let t0 = Instant::now();
        for i in 0..10 {
            pusher.send(&format!(
                r#"[2,"p{round}-{i}","hello/eventpush",{{"tag":"flood","data":"{data}"}}]"#
            ));
        }
        for i in 0..10 {
            assert_eq!(pusher.reply_to(&format!("p{round}-{i}"))[0], 3);
        }
        assert_eq!(http.get("/api/hello/ping").status, 200);
        worst = worst.max(t0.elapsed());
    }
    // A push that waited for the stuck client would wait for good: a bound
    // of seconds tells that apart on a busy machine.
    assert!(worst < Duration::from_secs(5), "others were slowed: {worst:?}");
    // The stuck client was dropped: after what the sockets buffer, its stream ends.
    stuck.c.set_timeout(Duration::from_secs(5));
    let mut received = 0;
    loop {
        match stuck.c.recv() {
            Ok(support::std_ws::WsMsg::Text(_)) => received += 1,
            Ok(support::std_ws::WsMsg::Close(..)) | Err(_) => break,
            Ok(_) => {}
        }
    }
    assert!(
        received < 400,
        "the stuck client was dropped ({received} of 400 events)"
    );
    let rss = d.d.rss_kib().unwrap();
    assert!(rss < base + 32 * 1024, "RSS {rss} KiB from {base} KiB");
    assert_eq!(d.get("/big.bin").body.len(), 1 << 20);
    drop(lazy);
}

// ---- 11 -----------------------------------------------------------------------

/// `--apitimeout 1`: a verb waiting on I/O (`tictactoe/wait`, blocked on a
/// channel, using no CPU) is answered `timeout` after 1 s of wall-clock
/// time over HTTP and WebSocket, while the daemon burns next to no CPU.
#[test]
fn defect_11_a_verb_blocked_in_io_times_out_by_wall_clock() {
    let _h = heavy();
    let d = D::start(&["--apitimeout", "1"]);
    let cpu0 = cpu_time(d.d.pid());
    let t = Instant::now();
    let r = d.get("/api/tictactoe/wait");
    let e = t.elapsed();
    assert_eq!((r.status, r.afb_status().as_str()), (504, "timeout"));
    assert!(e >= Duration::from_millis(900) && e < Duration::from_secs(10), "{e:?}");
    let mut w = d.ws();
    let t = Instant::now();
    let r = w.call("w", "tictactoe/wait", "null");
    let e = t.elapsed();
    assert_eq!((r[0].as_u64(), ws_status(&r)), (Some(4), "timeout"), "{r}");
    assert!(e >= Duration::from_millis(900) && e < Duration::from_secs(10), "{e:?}");
    let cpu = cpu_time(d.d.pid()) - cpu0;
    assert!(cpu < Duration::from_millis(500), "the waits used {cpu:?} of CPU");
}

// ---- 12 -----------------------------------------------------------------------

/// `HEAD` works (static files; 405 with `Allow` on API paths, never 400),
/// `Cache-Control: max-age=N`, quoted `ETag` (and `304` on it), and the
/// `x-afb-reqid` header echoed in the reply. (`static_files.rs` and
/// `rest.rs` cover more.)
#[test]
fn defect_12_head_cache_control_etag_and_reqid_header_are_correct_http() {
    let site = afb_testkit::TempDir::new("site12");
    std::fs::write(site.path().join("a.txt"), b"hello file\n").unwrap();
    let d = D::start(&["--roothttp", site.path().to_str().unwrap(), "--cache-eol", "3600"]);
    let mut c = d.conn();
    let head = c.request(&Req::get("/a.txt").method("HEAD"));
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), Some("11"));
    assert!(head.body.is_empty());
    let r = c.get("/a.txt");
    assert_eq!(r.body, b"hello file\n");
    assert_eq!(r.header("cache-control"), Some("max-age=3600"));
    let etag = r.header("etag").expect("an ETag").to_owned();
    assert!(etag.len() > 2 && etag.starts_with('"') && etag.ends_with('"'), "{etag}");
    let r = c.request(&Req::get("/a.txt").header("if-none-match", etag));
    assert_eq!(r.status, 304);
    let r = c.request(&Req::get("/api/hello/ping").header("x-afb-reqid", "R-12"));
    assert_eq!(r.json()["request"]["reqid"], "R-12");
    let r = c.request(&Req::get("/api/hello/ping").method("HEAD"));
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, POST"));
}

// ---- 13 -----------------------------------------------------------------------

/// `--port` alone listens on 127.0.0.1 and ::1 only: IPv4 and IPv6
/// loopback answer; another address of the host refuses the connection.
/// 127.0.0.2 stands for it (every 127/8 address is on the loopback
/// interface without configuration): a listener on `0.0.0.0`, or on `[::]`
/// with IPv4-mapped addresses, would answer there.
#[test]
fn defect_13_default_listener_is_loopback_only_on_ipv4_and_ipv6() {
    let d = D::start(&[]);
    let port = d.d.port;
    assert_eq!(
        Conn::tcp(SocketAddr::from(([127, 0, 0, 1], port)))
            .get("/api/hello/ping")
            .status,
        200
    );
    let v6: SocketAddr = format!("[::1]:{port}").parse().unwrap();
    if std::net::TcpListener::bind("[::1]:0").is_ok() {
        assert_eq!(Conn::tcp(v6).get("/api/hello/ping").status, 200, "IPv6 loopback");
    } else {
        // The host has no IPv6 at all (a kernel or container setting, not a
        // missing tool): the daemon cannot listen there either.
        eprintln!("row 13: no IPv6 loopback on this host: IPv6 part not checked");
    }
    // The same port on another address: a listener of 127.0.0.2 proves that
    // the address is usable here, then the daemon must not answer on it.
    let other = IpAddr::from([127, 0, 0, 2]);
    assert!(
        std::net::TcpListener::bind((other, 0)).is_ok(),
        "127.0.0.2 is not usable on this host"
    );
    let r = TcpStream::connect_timeout(&SocketAddr::new(other, port), Duration::from_secs(2));
    assert!(r.is_err(), "the daemon answers on {other}:{port}");
}

// ---- 14 -----------------------------------------------------------------------

/// An unknown wsapi message code closes that link (1002) and only that one;
/// `--wsapi-allow` restricts which peers may attach (others are dropped at
/// once) and `--ws-server-mode` sets the socket file's permissions.
/// (`crates/wsapi/tests/bad_input.rs` covers every other protocol error.)
#[test]
fn defect_14_wsapi_protocol_errors_close_the_link_and_peers_can_be_restricted() {
    let (b, sock) = back(&[]);
    let mut witness = WsapiPeer::connect(&sock).unwrap();
    witness.hello();
    for bad in [&b"Z\x01\x02"[..], b"\x00", b"kk"] {
        let mut p = WsapiPeer::connect(&sock).unwrap();
        p.hello();
        p.send(bad).unwrap();
        assert_eq!(p.closed(), Some(1002), "{bad:?}");
    }
    let mut early = WsapiPeer::connect(&sock).unwrap();
    early.send(&wire::call(1, "ping", 0, 0, "null")).unwrap();
    assert_eq!(early.closed(), Some(1002), "nothing before the version offer");
    witness.send(&wire::call(1, "pingnull", 0, 0, "null")).unwrap();
    let m = witness.msg();
    assert_eq!(&m[..7], &[b'k', 1, 0, 0, 0, 0, 0], "a success reply to call 1: {m:?}");
    let log = b.d.wait_log(T, |l| l.contains("unknown") || l.contains("Z"));
    assert!(log.contains("wsapi link closed"), "{log}");
    drop(b);

    let me = my_uid();
    let other = (me + 1).to_string();
    let (locked, sock) = back(&["--wsapi-allow", &other, "--ws-server-mode", "0600"]);
    use std::os::unix::fs::PermissionsExt;
    // The file appears when bound; once it accepts connections it has its
    // mode (set before it listens).
    let deadline = std::time::Instant::now() + T;
    while std::os::unix::net::UnixStream::connect(&sock).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "{} never listened",
            sock.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(std::fs::metadata(&sock).unwrap().permissions().mode() & 0o7777, 0o600);
    let mut p = WsapiPeer::connect(&sock).unwrap();
    let _ = p.send(&wire::version_offer());
    assert_eq!(p.recv(), WsapiIn::End, "a peer not in the allow-list is dropped");
    assert!(locked
        .d
        .wait_log(T, |l| l.contains("peer not allowed"))
        .contains("peer not allowed"));
    let f = front(&sock, &[]);
    let r = f.get("/api/hello/ping");
    assert_ne!(r.afb_status(), "success", "{}", r.text());
    drop(locked);

    let mine = format!("{},{}", other, me);
    let (open, sock) = back(&["--wsapi-allow", &mine]);
    let mut p = WsapiPeer::connect(&sock).unwrap();
    p.hello();
    p.send(&wire::call(1, "pingnull", 0, 0, "null")).unwrap();
    assert_eq!(&p.msg()[..7], &[b'k', 1, 0, 0, 0, 0, 0]);
    drop(open);
}

// ---- 15 -----------------------------------------------------------------------

/// SIGTERM while 16 HTTP clients hammer the daemon, requests wait in
/// `tictactoe/wait` (HTTP and WebSocket) and every request logs at debug
/// level: the daemon exits 0 within the grace period (plus a margin), the
/// waiting requests are answered (`disconnected`), and no client hangs.
/// (`daemon.rs` and `ws.rs` test the quiet cases.)
#[test]
fn defect_15_sigterm_under_load_exits_zero_and_answers_running_requests() {
    let _h = heavy();
    let mut d = D::start(&["-vvv", "--shutdown-grace", "2"]);
    let addr = d.d.addr();
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicUsize::new(0));
    let hammers: Vec<_> = (0..16)
        .map(|i| {
            let (stop, answered) = (stop.clone(), answered.clone());
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let Ok(s) = TcpStream::connect(addr) else { break };
                    drop(s);
                    let mut c = Conn::tcp(addr);
                    for _ in 0..20 {
                        let target = if i % 2 == 0 {
                            "/api/hello/ping"
                        } else {
                            "/api/hello/verbose?x=1"
                        };
                        c.send(&Req::get(target));
                        match c.read_response(false) {
                            Ok(_) => {
                                answered.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(_) => return,
                        }
                    }
                }
            })
        })
        .collect();
    let mut waiters: Vec<Ws> = (0..4).map(|_| d.ws()).collect();
    for (i, w) in waiters.iter_mut().enumerate() {
        w.send(&format!(r#"[2,"w{i}","tictactoe/wait",null]"#));
    }
    let mut http_wait = d.conn();
    http_wait.send(&Req::get("/api/tictactoe/wait"));
    thread::sleep(Duration::from_secs(1));
    assert!(answered.load(Ordering::Relaxed) > 100, "load is running");
    let t0 = Instant::now();
    d.d.signal("TERM");
    let status =
        d.d.wait_timeout(Duration::from_secs(6))
            .expect("exited within the grace period and margin");
    let took = t0.elapsed();
    stop.store(true, Ordering::Relaxed);
    assert!(status.success(), "{status}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    for (i, w) in waiters.iter_mut().enumerate() {
        let r = w.reply_to(&format!("w{i}"));
        assert_eq!(ws_status(&r), "disconnected", "{r}");
    }
    let r = http_wait
        .read_response(false)
        .expect("the waiting HTTP request is answered");
    assert_eq!(r.afb_status(), "disconnected", "{}", r.text());
    for h in hammers {
        h.join().expect("no client hangs");
    }
    let log = d.d.log();
    assert!(log.contains("SIGTERM received"), "{log}");
}

// ---- 16 -----------------------------------------------------------------------

/// Call ids, request ids and event names holding quotes, backslashes and
/// control characters are written escaped: every message parses as JSON
/// and gives the text back. Also for a broadcast name sent by a linked
/// binder (a fake wsapi server here).
#[test]
fn defect_16_ids_and_event_names_with_quotes_and_backslashes_stay_valid_json() {
    let d = D::start(&[]);
    let mut w = d.ws();
    for id in ["a\"b", "c\\d", "\\\"", "tab\there\nnl", "\u{1}\u{1f}", "é\u{2028}"] {
        let wire_id = serde_json::to_string(id).unwrap();
        w.send(&format!(r#"[2,{wire_id},"hello/ping",null]"#));
        let m = w.recv();
        assert_eq!((m[0].as_u64(), m[1].as_str()), (Some(3), Some(id)), "{m}");
    }
    // Error replies carry the id escaped too.
    w.send(r#"[2,"q\"q","hello",null]"#);
    let m = w.recv();
    assert_eq!((m[0].as_u64(), m[1].as_str()), (Some(4), Some("q\"q")), "{m}");

    let mut c = d.conn();
    let r = c.get("/api/hello/ping?reqid=a%22b%5Cc%0A");
    assert_eq!(r.json()["request"]["reqid"], "a\"b\\c\n");
    let r = c.request(&Req::get("/api/hello/ping").header("x-afb-reqid", "x\\\"y"));
    assert_eq!(r.json()["request"]["reqid"], "x\\\"y");

    // Event names: backslashes are accepted and escaped; quotes and control characters are refused.
    let name = "we\\ird\\ name";
    let arg = json!({"tag": "t", "name": name}).to_string();
    w.call_ok("e1", "hello/eventadd", &arg);
    w.call_ok("e2", "hello/eventsub", r#"{"tag":"t"}"#);
    w.call_ok("e3", "hello/eventpush", r#"{"tag":"t","data":"d\"\\"}"#);
    let ev = w.event();
    assert_eq!(ev[1], format!("hello/{name}"));
    assert_eq!(ev[2]["event"], format!("hello/{name}"));
    assert_eq!(ev[2]["data"], "d\"\\");
    for (i, bad) in ["a\"b", "tab\there"].iter().enumerate() {
        let r = w.call(
            &format!("e4-{i}"),
            "hello/eventadd",
            &json!({"tag": "q", "name": bad}).to_string(),
        );
        assert_eq!((r[0].as_u64(), ws_status(&r)), (Some(4), "invalid-request"), "{r}");
    }
    w.call_ok("e5", "hello/broadcast", &json!({"name": "b\\c", "data": 1}).to_string());
    assert_eq!(w.event()[1], "hello/b\\c");

    // A linked binder broadcasting a name with a quote and a backslash.
    let dir = afb_testkit::TempDir::new("fake");
    let sock = dir.path().join("fake");
    let listener = UnixListener::bind(&sock).unwrap();
    let uri = format!("unix:{}", sock.display());
    let f = D::start(&["--ws-client", &uri]);
    let server = thread::spawn(move || {
        let (s, _) = listener.accept().unwrap();
        let mut p = WsapiPeer::from_stream(s);
        assert_eq!(p.msg(), wire::version_offer());
        p.send(&[b'v', 1]).unwrap();
        loop {
            let m = p.msg();
            if m[0] == b'K' {
                let callid = u16::from_le_bytes([m[1], m[2]]);
                p.send(&wire::broadcast("fake/x\"y\\z", r#"{"k":"\"v\""}"#, [7; 16], 5))
                    .unwrap();
                p.send(&wire::reply(callid, None, None, "null")).unwrap();
                return p;
            }
        }
    });
    let mut fw = f.ws();
    fw.call_ok("1", "fake/anything", "null");
    let ev = fw.event();
    assert_eq!(ev[1], "fake/x\"y\\z", "{ev}");
    assert_eq!(ev[2]["data"], json!({"k": "\"v\""}));
    drop(server.join().unwrap());
}

// ---- 17 -----------------------------------------------------------------------

/// A config file with a misspelt key is refused, naming the key, and no
/// port is opened. (`daemon.rs` has the command-line side.)
#[test]
fn defect_17_unknown_config_keys_are_errors() {
    let dir = afb_testkit::TempDir::new("cfg17");
    let port = afb_testkit::free_port();
    for (text, key) in [
        (r#"{"no-htttpd": true}"#, "no-htttpd"),
        (r#"{"port": 1, "session_max": 3}"#, "session_max"),
        (r#"{"json-max-dept": 3}"#, "json-max-dept"),
    ] {
        let cfg = dir.path().join("bad.json");
        std::fs::write(&cfg, text).unwrap();
        let out = std::process::Command::new(afb_testkit::bin_path("afb-daemon"))
            .args(["--port", &port.to_string(), "--config", cfg.to_str().unwrap()])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(key) && err.contains("unknown key"), "{err}");
        assert!(TcpStream::connect(("127.0.0.1", port)).is_err(), "no port opened");
    }
}
