//! Observability against the real daemon: `/metrics` (parsed with a strict
//! OpenMetrics text parser) after a known sequence of calls, the separate
//! metrics listener, the `--trace*` options' log records, `monitor/trace`
//! add/drop and its session boundary, and `/api/openapi.json` validated as
//! OpenAPI 3.

#[path = "../../../crates/http/tests/http_client/mod.rs"]
mod http_client;
#[path = "../../../crates/http/tests/ws_support/std_ws.rs"]
mod std_ws;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use afb_testkit::{bin_path, free_port, Daemon, TempDir};
use http_client::Conn;
use serde_json::{json, Value};
use std_ws::{WsConn, WsMsg};

const T: Duration = Duration::from_secs(10);

struct D {
    d: Daemon,
    _dir: TempDir,
}

impl D {
    fn start(args: &[&str]) -> D {
        let dir = TempDir::new("observe");
        let wd = dir.path().to_str().unwrap().to_owned();
        let mut all = vec!["--workdir", wd.as_str()];
        all.extend_from_slice(args);
        D {
            d: Daemon::start(&all),
            _dir: dir,
        }
    }

    fn get(&self, target: &str) -> http_client::Resp {
        Conn::tcp(self.d.addr()).get(target)
    }

    fn ws(&self) -> Ws {
        let addr = self.d.addr();
        let c = WsConn::connect(addr, &addr.to_string(), "/api", Some("x-afb-ws-json1")).expect("WebSocket");
        c.set_timeout(T);
        Ws {
            c,
            n: 0,
            events: Vec::new(),
        }
    }
}

/// A x-afb-ws-json1 client keeping the events received between replies.
struct Ws {
    c: WsConn,
    n: u32,
    events: Vec<Value>,
}

impl Ws {
    fn call(&mut self, api_verb: &str, args: Value) -> Value {
        self.n += 1;
        let id = self.n.to_string();
        self.c
            .send_text(&json!([2, id, api_verb, args]).to_string())
            .expect("send");
        loop {
            let t = match self.c.recv().expect("a message in time") {
                WsMsg::Text(t) => t,
                WsMsg::Ping(_) | WsMsg::Pong(_) => continue,
                other => panic!("unexpected {other:?}"),
            };
            let m: Value = serde_json::from_str(&t).unwrap();
            match m[0].as_u64() {
                Some(5) => self.events.push(m),
                Some(3 | 4) if m[1] == id.as_str() => return m,
                _ => panic!("unexpected {m}"),
            }
        }
    }

    fn ok(&mut self, api_verb: &str, args: Value) -> Value {
        let r = self.call(api_verb, args.clone());
        assert_eq!(r[0], 3, "{api_verb} {args}: {r}");
        r
    }

    /// The trace records received so far (and forgets them).
    fn records(&mut self) -> Vec<Value> {
        std::mem::take(&mut self.events)
            .into_iter()
            .filter(|m| m[1] == "monitor/trace")
            .map(|m| m[2]["data"].clone())
            .collect()
    }
}

// ---- a strict OpenMetrics text parser ---------------------------------------

#[derive(Debug, Default)]
struct Family {
    kind: String,
    samples: Vec<(String, BTreeMap<String, String>, f64)>,
}

/// Parses the OpenMetrics text format strictly: every sample belongs to the
/// family declared just before it (with the suffixes of its type), label
/// values are quoted and escaped, `# EOF` ends the text.
fn parse_openmetrics(text: &str) -> HashMap<String, Family> {
    let mut fams: HashMap<String, Family> = HashMap::new();
    let mut current: Option<String> = None;
    let mut eof = false;
    for line in text.lines() {
        assert!(!eof, "text after # EOF: {line:?}");
        if line == "# EOF" {
            eof = true;
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let mut it = rest.splitn(3, ' ');
            let what = it.next().unwrap();
            let name = it.next().expect("a metric name").to_owned();
            let arg = it.next().unwrap_or("");
            match what {
                "TYPE" => {
                    assert!(
                        [
                            "counter",
                            "gauge",
                            "histogram",
                            "info",
                            "stateset",
                            "unknown",
                            "summary",
                            "gaugehistogram"
                        ]
                        .contains(&arg),
                        "type {arg}"
                    );
                    assert!(!fams.contains_key(&name), "family {name} declared twice");
                    fams.insert(
                        name.clone(),
                        Family {
                            kind: arg.to_owned(),
                            samples: Vec::new(),
                        },
                    );
                    current = Some(name);
                }
                "HELP" | "UNIT" => {}
                _ => panic!("unknown comment {line:?}"),
            }
            continue;
        }
        let fam_name = current
            .clone()
            .unwrap_or_else(|| panic!("sample before # TYPE: {line:?}"));
        let (name_labels, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("no value: {line:?}"));
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("bad value in {line:?}")),
        };
        let (name, labels) = match name_labels.split_once('{') {
            None => (name_labels.to_owned(), BTreeMap::new()),
            Some((n, l)) => {
                let l = l
                    .strip_suffix('}')
                    .unwrap_or_else(|| panic!("unclosed labels: {line:?}"));
                (n.to_owned(), parse_labels(l))
            }
        };
        let fam = fams.get_mut(&fam_name).unwrap();
        let suffixes: &[&str] = match fam.kind.as_str() {
            "counter" => &["_total", "_created"],
            "histogram" => &["_bucket", "_count", "_sum", "_created"],
            _ => &[""],
        };
        assert!(
            suffixes.iter().any(|s| name == format!("{fam_name}{s}")),
            "sample {name} is not of family {fam_name} ({})",
            fam.kind
        );
        fam.samples.push((name, labels, value));
    }
    assert!(eof, "no # EOF");
    fams
}

fn parse_labels(s: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let eq = s[i..].find('=').map(|p| p + i).expect("label =");
        let key = s[i..eq].to_owned();
        assert!(
            !key.is_empty() && key.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_'),
            "label name {key:?}"
        );
        assert_eq!(b[eq + 1], b'"', "label value must be quoted: {s}");
        let mut j = eq + 2;
        let mut v = String::new();
        loop {
            match b[j] {
                b'\\' => {
                    v.push(match b[j + 1] {
                        b'n' => '\n',
                        b'"' => '"',
                        b'\\' => '\\',
                        c => panic!("bad escape \\{}", c as char),
                    });
                    j += 2;
                }
                b'"' => break,
                _ => {
                    let c = s[j..].chars().next().unwrap();
                    v.push(c);
                    j += c.len_utf8();
                }
            }
        }
        assert!(out.insert(key, v).is_none(), "duplicate label in {s}");
        i = j + 1;
        if i < b.len() {
            assert_eq!(b[i], b',', "labels separated by commas: {s}");
            i += 1;
        }
    }
    out
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

/// The value of the sample `name{labels}`, `None` when absent.
fn sample(f: &HashMap<String, Family>, fam: &str, name: &str, l: &[(&str, &str)]) -> Option<f64> {
    let want = labels(l);
    f.get(fam)?
        .samples
        .iter()
        .find(|(n, ls, _)| n == name && *ls == want)
        .map(|s| s.2)
}

fn metrics_of(d: &D) -> HashMap<String, Family> {
    let r = d.get("/metrics");
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        r.header("content-type")
            .unwrap_or("")
            .starts_with("application/openmetrics-text"),
        "{:?}",
        r.header("content-type")
    );
    parse_openmetrics(&r.text())
}

#[test]
fn metrics_count_a_known_sequence_of_calls_exactly() {
    let d = D::start(&["--metrics"]);
    for _ in 0..3 {
        assert_eq!(d.get("/api/hello/ping?x=1").afb_status(), "success");
    }
    assert_eq!(d.get("/api/hello/pingfail").afb_status(), "failed");
    assert_eq!(d.get("/api/hello/nosuchverb").afb_status(), "unknown-verb");
    assert_eq!(d.get("/api/hello/Zz-Unknown").afb_status(), "unknown-verb");
    assert_eq!(d.get("/api/nosuchapi/ping").afb_status(), "unknown-api");
    {
        let mut w = d.ws();
        w.ok("hello/ping", json!({"a": 1}));
        w.ok("hello/ping", json!({"a": 2}));
    }
    let f = metrics_of(&d);
    let calls = |verb: &str, transport: &str, status: &str| {
        sample(
            &f,
            "afb_calls",
            "afb_calls_total",
            &[
                ("api", "hello"),
                ("verb", verb),
                ("transport", transport),
                ("status", status),
            ],
        )
    };
    assert_eq!(calls("ping", "http", "success"), Some(3.0));
    assert_eq!(calls("ping", "wsj1", "success"), Some(2.0));
    assert_eq!(calls("pingfail", "http", "failed"), Some(1.0));
    assert_eq!(calls("ping", "http", "failed"), None, "no zero series");
    // Unknown verbs never make a series: one fixed per-API counter.
    for fam in f.values() {
        for (_, ls, _) in &fam.samples {
            let v = ls.get("verb").map(String::as_str).unwrap_or("");
            assert!(
                !v.eq_ignore_ascii_case("nosuchverb") && !v.eq_ignore_ascii_case("zz-unknown"),
                "series for an unknown verb: {ls:?}"
            );
            assert_ne!(ls.get("api").map(String::as_str), Some("nosuchapi"));
        }
    }
    assert_eq!(
        sample(
            &f,
            "afb_unknown_verb_calls",
            "afb_unknown_verb_calls_total",
            &[("api", "hello")]
        ),
        Some(2.0)
    );
    assert_eq!(
        sample(
            &f,
            "afb_refused_calls",
            "afb_refused_calls_total",
            &[("transport", "http"), ("status", "unknown-api")]
        ),
        Some(1.0)
    );
    // The histogram: cumulative buckets, +Inf equals the count.
    let h = &f["afb_call_duration_seconds"];
    assert_eq!(h.kind, "histogram");
    let mut buckets: Vec<(f64, f64)> = h
        .samples
        .iter()
        .filter(|(n, ls, _)| {
            n == "afb_call_duration_seconds_bucket"
                && ls.get("api").map(String::as_str) == Some("hello")
                && ls.get("verb").map(String::as_str) == Some("ping")
        })
        .map(|(_, ls, v)| {
            let le = match ls["le"].as_str() {
                "+Inf" => f64::INFINITY,
                x => x.parse().unwrap(),
            };
            (le, *v)
        })
        .collect();
    buckets.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap());
    assert!(buckets.len() >= 2, "{buckets:?}");
    assert!(
        buckets.windows(2).all(|w| w[0].1 <= w[1].1),
        "buckets not cumulative: {buckets:?}"
    );
    assert_eq!(buckets.last().unwrap(), &(f64::INFINITY, 5.0));
    let hv = [("api", "hello"), ("verb", "ping")];
    assert_eq!(
        sample(&f, "afb_call_duration_seconds", "afb_call_duration_seconds_count", &hv),
        Some(5.0)
    );
    let sum = sample(&f, "afb_call_duration_seconds", "afb_call_duration_seconds_sum", &hv).unwrap();
    assert!(sum > 0.0 && sum < 50.0, "sum {sum}");
    // Connections, sessions, process.
    assert_eq!(
        sample(&f, "afb_connections", "afb_connections_total", &[("transport", "wsj1")]),
        Some(1.0)
    );
    let created = sample(&f, "afb_sessions_created", "afb_sessions_created_total", &[]).unwrap();
    // 7 REST calls without a cookie and one WebSocket: a session each.
    assert_eq!(created, 8.0);
    assert!(sample(&f, "afb_sessions", "afb_sessions", &[]).unwrap() >= 1.0);
    assert!(
        sample(
            &f,
            "process_resident_memory_bytes",
            "process_resident_memory_bytes",
            &[]
        )
        .unwrap()
            > 1e5
    );
    assert!(sample(&f, "process_open_fds", "process_open_fds", &[]).unwrap() >= 3.0);
    // A second scrape after one more call moves exactly one counter.
    assert_eq!(d.get("/api/hello/ping").afb_status(), "success");
    let g = metrics_of(&d);
    assert_eq!(
        sample(
            &g,
            "afb_calls",
            "afb_calls_total",
            &[
                ("api", "hello"),
                ("verb", "ping"),
                ("transport", "http"),
                ("status", "success")
            ]
        ),
        Some(4.0)
    );
}

#[test]
fn metrics_are_off_by_default_and_can_have_their_own_listener() {
    let d = D::start(&[]);
    assert_eq!(d.get("/metrics").status, 404);
    let port = free_port();
    let uri = format!("tcp:127.0.0.1:{port}");
    let d = D::start(&["--metrics-interface", &uri]);
    assert_eq!(d.get("/api/hello/ping").afb_status(), "success");
    assert_eq!(d.get("/metrics").status, 404, "not on the HTTP port without --metrics");
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let r = Conn::tcp(addr).get("/metrics");
    assert_eq!(r.status, 200);
    let f = parse_openmetrics(&r.text());
    assert_eq!(
        sample(
            &f,
            "afb_calls",
            "afb_calls_total",
            &[
                ("api", "hello"),
                ("verb", "ping"),
                ("transport", "http"),
                ("status", "success")
            ]
        ),
        Some(1.0)
    );
    assert_eq!(Conn::tcp(addr).get("/api/hello/ping").status, 404);
}

/// The JSON records of the log's trace lines.
fn log_records(log: &str) -> Vec<Value> {
    log.lines()
        .filter(|l| l.contains("NOTICE") && l.contains("\"type\":"))
        .filter_map(|l| {
            let i = l.find('{')?;
            serde_json::Deserializer::from_str(&l[i..])
                .into_iter::<Value>()
                .next()?
                .ok()
        })
        .collect()
}

fn check_record_shape(r: &Value, tag: &str, kind: &str) {
    let o = r.as_object().unwrap_or_else(|| panic!("not an object: {r}"));
    assert!(o["time"].as_f64().is_some_and(|t| t > 1.6e9), "{r}");
    assert_eq!(o["tag"], tag, "{r}");
    assert_eq!(o["type"], kind, "{r}");
    assert!(o["id"].as_u64().is_some(), "{r}");
    assert!(o[kind].is_object(), "{r}");
    for k in o.keys() {
        assert!(
            ["time", "tag", "type", "id", kind, "data"].contains(&k.as_str()),
            "key {k} in {r}"
        );
    }
}

#[test]
fn trace_options_print_c_shaped_records() {
    let d = D::start(&["--tracereq", "begin,reply", "--traceses", "create"]);
    let r = d.get("/api/hello/ping?x=1");
    assert_eq!(r.afb_status(), "success");
    let uuid = r.json()["request"]["uuid"].as_str().unwrap().to_owned();
    let log =
        d.d.wait_log(T, |l| log_records(l).iter().any(|r| r["request"]["action"] == "reply"));
    let recs = log_records(&log);
    let ses: Vec<&Value> = recs.iter().filter(|r| r["type"] == "session").collect();
    assert!(
        ses.iter()
            .any(|r| r["session"] == json!({"uuid": uuid, "action": "create"})),
        "{log}"
    );
    for r in &ses {
        check_record_shape(r, "trace", "session");
    }
    let begin = recs
        .iter()
        .find(|r| r["request"]["action"] == "begin")
        .unwrap_or_else(|| panic!("{log}"));
    check_record_shape(begin, "trace", "request");
    assert_eq!(begin["request"]["api"], "hello");
    assert_eq!(begin["request"]["verb"], "ping");
    assert_eq!(begin["request"]["session"], uuid.as_str());
    assert_eq!(begin["data"], json!({"params": [{"x": "1"}]}));
    let reply = recs.iter().find(|r| r["request"]["action"] == "reply").unwrap();
    check_record_shape(reply, "trace", "request");
    assert_eq!(reply["request"]["index"], begin["request"]["index"]);
    assert_eq!(reply["data"]["status"], 0);
    assert_eq!(reply["data"]["reply"], json!(["Some String"]));
    // `end` was not asked for.
    assert!(!recs.iter().any(|r| r["request"]["action"] == "end"), "{log}");
}

#[test]
fn trace_options_refuse_unknown_flags() {
    for (opt, val) in [
        ("--tracereq", "begin,bogus"),
        ("--traceevt", "nope"),
        ("--traceses", "x"),
    ] {
        let out = std::process::Command::new(bin_path("afb-daemon"))
            .args(["--port", &free_port().to_string(), opt, val])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{opt} {val}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(opt) && err.contains("unknown"), "{err}");
    }
}

#[test]
fn monitor_trace_add_and_drop_within_the_callers_session() {
    let d = D::start(&[]);
    let mut a = d.ws();
    let mut b = d.ws();
    let a_uuid = a.ok("monitor/session", json!(null))[2]["response"]["uuid"]
        .as_str()
        .unwrap()
        .to_owned();
    let b_uuid = b.ok("monitor/session", json!(null))[2]["response"]["uuid"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(a_uuid, b_uuid);
    // Forbidden for a session-bound trace, as in the C binder.
    for spec in [
        json!({"event": "all"}),
        json!({"session": "all"}),
        json!({"uuid": b_uuid, "request": "all"}),
    ] {
        let r = a.call("monitor/trace", json!({"add": spec}));
        assert_eq!(r[0], 4, "{r}");
        assert_eq!(r[2]["request"]["status"], "error-detected", "{r}");
    }
    let r = a.call("monitor/trace", json!({"add": {"request": "nonsense"}}));
    assert_eq!(r[2]["request"]["status"], "error-detected", "{r}");
    a.ok(
        "monitor/trace",
        json!({"add": {"tag": "t1", "apiname": "hello", "request": ["begin", "reply"]}}),
    );
    a.records();
    a.ok("hello/ping", json!({"mine": 1}));
    b.ok("hello/ping", json!({"theirs": 1}));
    a.ok("hello/ping", json!({"mine": 2}));
    let recs = a.records();
    let acts: Vec<(String, Value)> = recs
        .iter()
        .map(|r| {
            check_record_shape(r, "t1", "request");
            assert_eq!(
                r["request"]["session"],
                a_uuid.as_str(),
                "another session's record: {r}"
            );
            assert_eq!(r["request"]["api"], "hello");
            (r["request"]["action"].as_str().unwrap().to_owned(), r["data"].clone())
        })
        .collect();
    assert_eq!(
        acts,
        vec![
            ("begin".to_owned(), json!({"params": [{"mine": 1}]})),
            (
                "reply".to_owned(),
                json!({"status": 0, "reply": ["Some String"], "error": "success", "info": acts[1].1["info"]})
            ),
            ("begin".to_owned(), json!({"params": [{"mine": 2}]})),
            ("reply".to_owned(), acts[3].1.clone()),
        ],
        "{recs:?}"
    );
    assert!(b.records().is_empty(), "b traced nothing");
    // Drop by tag: no more records.
    a.ok("monitor/trace", json!({"drop": {"tag": "t1"}}));
    let r = a.call("monitor/trace", json!({"drop": {"tag": "t1"}}));
    assert_eq!(r[2]["request"]["status"], "error-detected", "dropped already: {r}");
    a.records();
    a.ok("hello/ping", json!({"mine": 3}));
    a.ok("monitor/session", json!(null));
    assert!(a.records().is_empty());
    // `true` drops everything; a flag list is a request trace.
    a.ok("monitor/trace", json!({"add": "life"}));
    a.ok("hello/ping", json!(null));
    let seen: HashSet<String> = a
        .records()
        .iter()
        .map(|r| r["request"]["action"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        seen.contains("begin") && seen.contains("end") && !seen.contains("reply"),
        "{seen:?}"
    );
    a.ok("monitor/trace", json!({"drop": true}));
    a.records();
    a.ok("hello/ping", json!(null));
    a.ok("monitor/session", json!(null));
    assert!(a.records().is_empty());
}

#[test]
fn openapi_document_is_valid_openapi_3() {
    let d = D::start(&[]);
    let r = d.get("/api/openapi.json");
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap_or("").starts_with("application/json"));
    let doc: Value = r.json();
    let api: openapiv3::OpenAPI = serde_json::from_value(doc.clone()).expect("an OpenAPI 3 document");
    assert!(api.openapi.starts_with("3."), "{}", api.openapi);
    let ping = api
        .paths
        .paths
        .get("/api/hello/ping")
        .expect("hello/ping")
        .as_item()
        .unwrap();
    let get = ping.get.as_ref().expect("GET");
    assert_eq!(get.tags, vec!["hello".to_owned()]);
    assert!(get.responses.responses.contains_key(&openapiv3::StatusCode::Code(200)));
    assert!(ping.post.as_ref().unwrap().request_body.is_some());
    // Every public API is a tag, every verb of monitor a path; ids unique;
    // every $ref resolves.
    let tags: HashSet<&str> = api.tags.iter().map(|t| t.name.as_str()).collect();
    for t in ["hello", "monitor", "tictactoe", "auth"] {
        assert!(tags.contains(t), "{tags:?}");
    }
    for v in ["get", "set", "session", "trace"] {
        assert!(
            api.paths.paths.contains_key(&format!("/api/monitor/{v}")),
            "monitor/{v}"
        );
    }
    let mut ids = HashSet::new();
    for (_, item) in api.paths.iter() {
        for (_, op) in item.as_item().unwrap().iter() {
            assert!(ids.insert(op.operation_id.clone().unwrap()), "duplicate id");
        }
    }
    let text = doc.to_string();
    let pat = "\"$ref\":\"#/components/schemas/";
    for (i, _) in text.match_indices(pat) {
        let rest = &text[i + pat.len()..];
        let name = &rest[..rest.find('"').unwrap()];
        assert!(
            doc["components"]["schemas"].get(name).is_some(),
            "unresolved $ref {name}"
        );
    }
    // With another --rootapi the paths follow it.
    let d = D::start(&["--rootapi", "/x"]);
    let doc = d.get("/x/openapi.json").json();
    assert!(doc["paths"].get("/x/hello/ping").is_some(), "{doc}");
}

#[test]
fn events_broadcasts_subscriptions_and_subcalls_are_counted_and_traced() {
    let d = D::start(&["--metrics", "--traceevt", "all", "--tracereq", "subcall,subscribe"]);
    let mut w = d.ws();
    w.ok("hello/eventadd", json!({"tag": "t", "name": "ev"}));
    w.ok("hello/eventsub", json!({"tag": "t"}));
    w.ok("hello/eventpush", json!({"tag": "t", "data": {"k": 1}}));
    w.ok("hello/broadcast", json!({"name": "bc", "data": 7}));
    w.ok(
        "hello/subcall",
        json!({"api": "hello", "verb": "ping", "args": {"z": 1}}),
    );
    // The pushed event and the broadcast reached the client.
    w.ok("monitor/session", json!(null));
    let names: Vec<&str> = w.events.iter().map(|m| m[1].as_str().unwrap()).collect();
    assert_eq!(names, vec!["hello/ev", "hello/bc"], "{:?}", w.events);
    let f = metrics_of(&d);
    let one = |fam: &str| sample(&f, fam, &format!("{fam}_total"), &[]);
    assert_eq!(one("afb_events_created"), Some(1.0));
    assert_eq!(one("afb_event_pushes"), Some(1.0));
    assert_eq!(one("afb_event_deliveries"), Some(1.0));
    assert_eq!(one("afb_broadcasts"), Some(1.0));
    assert_eq!(one("afb_broadcast_deliveries"), Some(1.0));
    // The subcall is an internal call; the outer call came over wsj1.
    let calls = |verb: &str, transport: &str| {
        sample(
            &f,
            "afb_calls",
            "afb_calls_total",
            &[
                ("api", "hello"),
                ("verb", verb),
                ("transport", transport),
                ("status", "success"),
            ],
        )
    };
    assert_eq!(calls("ping", "internal"), Some(1.0));
    assert_eq!(calls("subcall", "wsj1"), Some(1.0));
    assert_eq!(calls("ping", "wsj1"), None);
    // Trace records.
    let log = d.d.wait_log(T, |l| {
        log_records(l).iter().any(|r| r["request"]["action"] == "subcall")
    });
    let recs = log_records(&log);
    let evt = |action: &str| {
        recs.iter()
            .find(|r| r["type"] == "event" && r["event"]["action"] == action)
            .unwrap_or_else(|| panic!("no {action} record in {log}"))
    };
    let create = evt("create");
    check_record_shape(create, "trace", "event");
    assert_eq!(create["event"]["name"], "hello/ev");
    let before = evt("push_before");
    assert_eq!(before["event"]["name"], "hello/ev");
    assert_eq!(before["event"]["id"], create["event"]["id"]);
    assert_eq!(before["data"], json!({"data": [{"k": 1}]}));
    assert_eq!(evt("push_after")["data"], json!({"data": [{"k": 1}], "result": 1}));
    assert_eq!(evt("broadcast_before")["event"]["name"], "hello/bc");
    assert_eq!(evt("broadcast_after")["data"], json!({"data": [7], "result": 1}));
    let sub = recs
        .iter()
        .find(|r| r["request"]["action"] == "subscribe")
        .unwrap_or_else(|| panic!("{log}"));
    check_record_shape(sub, "trace", "request");
    assert_eq!(sub["request"]["verb"], "eventsub");
    assert_eq!(sub["data"]["event"]["name"], "hello/ev");
    assert_eq!(sub["data"]["result"], 0);
    let call = recs.iter().find(|r| r["request"]["action"] == "subcall").unwrap();
    assert_eq!(call["request"]["verb"], "subcall");
    assert_eq!(
        call["data"],
        json!({"api": "hello", "verb": "ping", "params": [{"z": 1}]})
    );
    // Only the flags asked for.
    assert!(!recs.iter().any(|r| r["request"]["action"] == "begin"), "{log}");
}

/// The `afb_link_up` / `afb_link_connects_total` samples of `transport`.
fn link_samples(f: &HashMap<String, Family>, fam: &str, transport: &str) -> Vec<f64> {
    f.get(fam)
        .map(|x| {
            x.samples
                .iter()
                .filter(|(_, ls, _)| ls["transport"] == transport)
                .map(|s| s.2)
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn link_state_of_an_rpc_client() {
    let dir = TempDir::new("observe-rpc");
    let sock = dir.path().join("rpc");
    let back = Daemon::start_with(afb_testkit::DaemonOpts {
        args: vec![
            "--samples".into(),
            "--rpc-server".into(),
            format!("unix:{}?export=hello", sock.display()),
        ],
        wait_path: Some(sock.clone()),
        ..Default::default()
    });
    let client = format!("unix:{}?import=hello", sock.display());
    let front = D::start(&["--metrics", "--rpc-client", &client]);
    assert_eq!(front.get("/api/hello/ping").afb_status(), "success");
    let f = metrics_of(&front);
    assert_eq!(link_samples(&f, "afb_link_up", "rpc"), vec![1.0]);
    assert_eq!(link_samples(&f, "afb_link_connects", "rpc"), vec![1.0]);
    drop(back);
    let deadline = std::time::Instant::now() + T;
    while link_samples(&metrics_of(&front), "afb_link_up", "rpc") != vec![0.0] {
        assert!(std::time::Instant::now() < deadline, "the RPC link stays up");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn link_state_of_a_ws_client() {
    let dir = TempDir::new("observe-link");
    let sock = dir.path().join("hello");
    let back = Daemon::start_with(afb_testkit::DaemonOpts {
        args: vec!["--ws-server".into(), format!("unix:{}", sock.display())],
        wait_path: Some(sock.clone()),
        ..Default::default()
    });
    let front = D::start(&["--metrics", "--ws-client", &format!("unix:{}", sock.display())]);
    let link = |f: &HashMap<String, Family>, fam: &str| -> Vec<f64> {
        f.get(fam)
            .map(|x| {
                x.samples
                    .iter()
                    .filter(|(_, ls, _)| ls["transport"] == "wsapi" && ls["peer"].contains("hello"))
                    .map(|s| s.2)
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(front.get("/api/hello/ping").afb_status(), "success");
    let f = metrics_of(&front);
    assert_eq!(link(&f, "afb_link_up"), vec![1.0]);
    assert_eq!(link(&f, "afb_link_connects"), vec![1.0]);
    drop(back);
    let deadline = std::time::Instant::now() + T;
    loop {
        let f = metrics_of(&front);
        if link(&f, "afb_link_up") == vec![0.0] {
            assert_eq!(link(&f, "afb_link_connects"), vec![1.0]);
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the link stays up");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_websocket_client_that_does_not_read_counts_as_an_overflow() {
    let d = D::start(&["--metrics", "--ws-send-queue", "4"]);
    let mut slow = d.ws();
    slow.ok("hello/eventadd", json!({"tag": "t", "name": "flood"}));
    slow.ok("hello/eventsub", json!({"tag": "t"}));
    // `slow` stops reading; another client pushes until it is dropped.
    let mut pusher = d.ws();
    let big = "x".repeat(64 * 1024);
    let deadline = std::time::Instant::now() + T;
    let overflows = |f: &HashMap<String, Family>| {
        sample(
            f,
            "afb_send_queue_overflows",
            "afb_send_queue_overflows_total",
            &[("transport", "wsj1")],
        )
    };
    loop {
        for _ in 0..50 {
            pusher.ok("hello/eventpush", json!({"tag": "t", "data": big}));
        }
        let f = metrics_of(&d);
        if overflows(&f) == Some(1.0) {
            break;
        }
        assert_eq!(overflows(&f), Some(0.0));
        assert!(std::time::Instant::now() < deadline, "the client was never dropped");
    }
    drop(slow);
}

#[test]
fn monitor_trace_over_http_is_not_available() {
    let d = D::start(&[]);
    let r = d.get("/api/monitor/trace?add=common");
    assert_eq!(
        (r.status, r.afb_status().as_str()),
        (501, "not-available"),
        "{}",
        r.text()
    );
    // The same request over a WebSocket works.
    let mut w = d.ws();
    w.ok("monitor/trace", json!({"add": "common"}));
}

#[test]
fn session_traces_record_creation_and_close() {
    // One session at most: the second client's session evicts the first.
    let d = D::start(&["--traceses", "all", "--session-max", "1"]);
    // A session still held by the server's side of a finished connection
    // cannot be evicted yet: the call is then refused (503) and retried.
    let session_of_a_call = || {
        let deadline = std::time::Instant::now() + T;
        loop {
            let r = d.get("/api/hello/ping");
            if r.status == 200 {
                return r.json()["request"]["uuid"].as_str().unwrap().to_owned();
            }
            assert_eq!(r.status, 503, "{}", r.text());
            assert!(
                std::time::Instant::now() < deadline,
                "the first session is never evicted"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let first = session_of_a_call();
    let second = session_of_a_call();
    assert_ne!(first, second);
    // The log is written on its own: the reply of the second call can come
    // before its session's record. Wait for the last record expected.
    let log = d.d.wait_log(T, |l| {
        log_records(l)
            .iter()
            .any(|r| r["session"]["action"] == "create" && r["session"]["uuid"] == second.as_str())
    });
    let ses: Vec<Value> = log_records(&log)
        .into_iter()
        .filter(|r| r["type"] == "session")
        .map(|r| {
            check_record_shape(&r, "trace", "session");
            r["session"].clone()
        })
        .collect();
    assert_eq!(
        ses,
        vec![
            json!({"uuid": first, "action": "create"}),
            json!({"uuid": first, "action": "close"}),
            json!({"uuid": second, "action": "create"}),
        ],
        "{log}"
    );
}

#[test]
fn api_and_global_trace_options_print_c_shaped_records() {
    let d = D::start(&["-vv", "--traceapi", "all", "--traceglob", "vverbose"]);
    let mut c = d.ws();
    c.ok("hello/call", json!({"api": "hello", "verb": "ping", "args": {"k": 1}}));
    c.ok("hello/eventadd", json!({"tag": "t", "name": "ev1"}));
    c.ok("hello/broadcast", json!({"name": "flash", "data": {"n": 2}}));
    c.ok("hello/verbose", json!("hi"));
    let log = d.d.wait_log(T, |l| {
        log_records(l)
            .iter()
            .any(|r| r["api"]["action"] == "vverbose" && r["data"]["type"] == "warning")
    });
    let recs = log_records(&log);
    let api = |action: &str| -> Vec<&Value> {
        recs.iter()
            .filter(|r| r["type"] == "api" && r["api"]["action"] == action)
            .collect()
    };
    for r in recs.iter().filter(|r| r["type"] == "api" || r["type"] == "global") {
        check_record_shape(r, "trace", r["type"].as_str().unwrap());
    }
    // The start of the sample API, before and after its init.
    assert!(
        api("start_before")
            .iter()
            .any(|r| r["api"]["api"] == "hello" && r.get("data").is_none()),
        "{log}"
    );
    assert!(
        api("start_after")
            .iter()
            .any(|r| r["api"]["api"] == "hello" && r["data"] == json!({"result": 0})),
        "{log}"
    );
    // The API's own call and its result.
    let call = api("call");
    assert_eq!(call.len(), 1, "{log}");
    assert_eq!(call[0]["api"], json!({"api": "hello", "action": "call"}));
    assert_eq!(
        call[0]["data"],
        json!({"api": "hello", "verb": "ping", "params": [{"k": 1}]})
    );
    let result = api("call_result");
    assert_eq!(result.len(), 1, "{log}");
    assert_eq!(result[0]["data"], json!({"status": 0, "reply": ["Some String"]}));
    assert!(result[0]["id"].as_u64() > call[0]["id"].as_u64(), "{log}");
    // The event made, the broadcast before and after.
    let make = api("event_make");
    assert!(
        make.iter().any(|r| r["api"]["api"] == "hello"
            && r["data"]["name"] == "ev1"
            && r["data"]["event"] == "hello/ev1"
            && r["data"]["id"].as_u64().is_some()),
        "{log}"
    );
    assert!(
        api("event_broadcast_before")
            .iter()
            .any(|r| r["data"] == json!({"name": "flash", "data": [{"n": 2}]})),
        "{log}"
    );
    assert!(
        api("event_broadcast_after")
            .iter()
            .any(|r| r["data"]["name"] == "flash" && r["data"]["result"].as_u64().is_some()),
        "{log}"
    );
    // The API's log messages, with their level.
    let verbose: Vec<&Value> = api("vverbose")
        .into_iter()
        .filter(|r| r["data"]["message"].as_str().is_some_and(|m| m.contains("hi")))
        .collect();
    for (level, name) in [(3, "error"), (4, "warning")] {
        assert!(
            verbose
                .iter()
                .any(|r| r["api"]["api"] == "hello" && r["data"]["level"] == level && r["data"]["type"] == name),
            "{level} {name}: {log}"
        );
    }
    // The binder's own messages are global records.
    assert!(
        recs.iter().any(|r| r["type"] == "global"
            && r["global"] == json!({"action": "vverbose"})
            && r["data"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("ready (APIs:"))
            && r["data"]["type"] == "info"
            && r["data"]["level"] == 6),
        "{log}"
    );
}

#[test]
fn monitor_trace_api_and_global_need_the_wide_permission() {
    // Without it (deny-all): refused as for a session-bound trace.
    let d = D::start(&[]);
    let mut a = d.ws();
    for spec in [json!({"api": "all"}), json!({"global": "vverbose"})] {
        let r = a.call("monitor/trace", json!({"add": spec}));
        assert_eq!(r[2]["request"]["status"], "error-detected", "{r}");
        assert!(
            r[2]["request"]["info"].as_str().unwrap().contains("is forbidden"),
            "{r}"
        );
    }
    drop(d);

    // With it (a policy granting it to everyone): API and global records
    // arrive as events.
    let dir = TempDir::new("observe-policy");
    let policy = dir.path().join("policy.yaml");
    std::fs::write(
        &policy,
        "rules:\n  - permission: urn:afb:permission:monitor:trace-all\n    decision: allow\n",
    )
    .unwrap();
    let perm = format!("policy:{}", policy.display());
    let d = D::start(&["-vv", "--permissions", &perm]);
    let mut a = d.ws();
    a.ok(
        "monitor/trace",
        json!({"add": {"tag": "wide", "apiname": "hello", "api": ["call", "event_make"], "global": "vverbose"}}),
    );
    a.records();
    a.ok("hello/call", json!({"api": "hello", "verb": "pingJson", "args": null}));
    a.ok("hello/eventadd", json!({"tag": "t", "name": "ev2"}));
    // A message of the binder: the policy reloaded on SIGHUP.
    d.d.signal("HUP");
    d.d.wait_log(T, |l| l.contains("reloaded"));
    // The global record is pushed from a task: poll until it is there.
    let reloaded =
        |r: &Value| r["type"] == "global" && r["data"]["message"].as_str().is_some_and(|m| m.contains("reloaded"));
    let mut recs = Vec::new();
    let deadline = std::time::Instant::now() + T;
    while !recs.iter().any(reloaded) && std::time::Instant::now() < deadline {
        a.ok("monitor/session", json!(null));
        recs.extend(a.records());
        std::thread::sleep(Duration::from_millis(20));
    }
    let actions: Vec<&str> = recs
        .iter()
        .filter(|r| r["type"] == "api")
        .map(|r| {
            check_record_shape(r, "wide", "api");
            assert_eq!(r["api"]["api"], "hello", "{r}");
            r["api"]["action"].as_str().unwrap()
        })
        .collect();
    assert_eq!(actions, vec!["call", "call_result", "event_make"], "{recs:?}");
    let call_result = recs.iter().find(|r| r["api"]["action"] == "call_result").unwrap();
    assert_eq!(call_result["data"]["status"], 0, "{call_result}");
    assert!(call_result["data"]["reply"][0].is_object(), "{call_result}");
    let global: Vec<&Value> = recs.iter().filter(|r| r["type"] == "global").collect();
    for r in &global {
        check_record_shape(r, "wide", "global");
        assert_eq!(r["global"], json!({"action": "vverbose"}), "{r}");
    }
    assert!(global.iter().any(|r| reloaded(r)), "{recs:?}");
}

/// A back binder serving `hello` to a front linked over `transport`
/// (`wsapi` or `rpc`); the front is stopped (SIGSTOP: it never reads) while
/// a client of the back pushes big events that the front subscribed to,
/// until the back drops the link: one overflow of `transport`.
fn link_overflow(transport: &str) {
    let dir = TempDir::new("observe-overflow");
    let sock = dir.path().join("hello");
    let (server, client) = match transport {
        "wsapi" => (
            vec!["--ws-server".to_owned(), format!("unix:{}", sock.display())],
            vec!["--ws-client".to_owned(), format!("unix:{}", sock.display())],
        ),
        _ => (
            vec![
                "--rpc-server".to_owned(),
                format!("unix:{}?export=hello", sock.display()),
            ],
            vec![
                "--rpc-client".to_owned(),
                format!("unix:{}?import=hello", sock.display()),
            ],
        ),
    };
    let mut args: Vec<String> = vec![
        "--metrics".into(),
        "--samples".into(),
        "--wsapi-send-queue".into(),
        "65536".into(),
    ];
    args.extend(server);
    let back = Daemon::start_with(afb_testkit::DaemonOpts {
        args,
        wait_path: Some(sock.clone()),
        ..Default::default()
    });
    let client: Vec<&str> = client.iter().map(String::as_str).collect();
    let front = D::start(&client);
    // A client of the front subscribes (through the link) to an event of
    // the back.
    let mut sub = front.ws();
    sub.ok("hello/eventadd", json!({"tag": "t", "name": "flood"}));
    sub.ok("hello/eventsub", json!({"tag": "t"}));
    front.d.signal("STOP");
    // Another client, of the back, pushes on that event.
    let addr = back.addr();
    let c = WsConn::connect(addr, &addr.to_string(), "/api", Some("x-afb-ws-json1")).expect("WebSocket");
    c.set_timeout(T);
    let mut pusher = Ws {
        c,
        n: 0,
        events: Vec::new(),
    };
    let metrics = || parse_openmetrics(&Conn::tcp(addr).get("/metrics").text());
    let overflows = |f: &HashMap<String, Family>, t: &str| {
        sample(
            f,
            "afb_send_queue_overflows",
            "afb_send_queue_overflows_total",
            &[("transport", t)],
        )
    };
    let big = "x".repeat(16 * 1024);
    let deadline = std::time::Instant::now() + T;
    loop {
        for _ in 0..20 {
            pusher.ok("hello/eventpush", json!({"tag": "t", "data": big}));
        }
        let f = metrics();
        if overflows(&f, transport) == Some(1.0) {
            // Only this link's transport counted.
            for other in ["wsj1", "wsapi", "rpc"].iter().filter(|t| **t != transport) {
                assert_eq!(overflows(&f, other), Some(0.0), "{other}");
            }
            break;
        }
        assert_eq!(overflows(&f, transport), Some(0.0));
        assert!(
            std::time::Instant::now() < deadline,
            "the {transport} link was never dropped"
        );
    }
    front.d.signal("CONT");
}

#[test]
fn a_wsapi_link_that_does_not_read_counts_as_an_overflow() {
    link_overflow("wsapi");
}

#[test]
fn an_rpc_link_that_does_not_read_counts_as_an_overflow() {
    link_overflow("rpc");
}
