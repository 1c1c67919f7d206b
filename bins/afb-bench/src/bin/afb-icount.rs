//! `afb-icount PATH ITERATIONS`: runs one hot path of the binder ITERATIONS times, for
//! instruction counts under callgrind (`scripts/callgrind.sh` runs it with two iteration
//! counts and divides the difference, so start-up costs cancel).
//!
//! Each path first checks once that it computes the right thing, then loops, reusing its
//! buffers as a transport would. `afb-icount list` prints the paths.

#![forbid(unsafe_code)]
// No `unused_crate_dependencies` here: this binary shares the package's
// dependencies with afb-bench and uses few of them.

use std::hint::black_box;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use afb_core::{Args, Call, Client, Registry, RegistryConfig, Reply};
use afb_wsapi_codec::frame::{FrameDecoder, FrameEvent};
use afb_wsapi_codec::Message;
use afb_wsj1::envelope::ReplyEnvelope;
use afb_wsj1::{JsonString, RawValue};

const CALL: &str = r#"[2,"17","hello/ping",{"a":1}]"#;
const REPLY: &str = r#"[3,"17",{"jtype":"afb-reply","request":{"status":"success","code":0,"info":"Ping Binder Daemon tag=pingSample count=1 query={ \"a\": 1 }"},"response":"Some String"}]"#;
const INFO: &str = r#"Ping Binder Daemon tag=pingSample count=1 query={ "a": 1 }"#;

/// The measured paths and what each does per iteration.
const PATHS: &[(&str, &str)] = &[
    (
        "wsj1-decode-call",
        "afb_wsj1::decode of [2,\"17\",\"hello/ping\",{\"a\":1}]",
    ),
    (
        "wsj1-encode-call",
        "afb_wsj1::write_call of the same call into a reused buffer",
    ),
    (
        "wsj1-decode-reply",
        "afb_wsj1::decode of the hello/ping reply message, then its envelope",
    ),
    (
        "wsj1-encode-reply",
        "afb_wsj1::write_reply_message of the hello/ping reply into a reused buffer",
    ),
    (
        "wsapi-decode-call",
        "FrameDecoder + afb_wsapi_codec::decode of a framed K call",
    ),
    (
        "wsapi-encode-call",
        "afb_wsapi_codec::encode_framed of a K call into a reused buffer",
    ),
    (
        "wsapi-decode-reply",
        "FrameDecoder + afb_wsapi_codec::decode of a framed k reply",
    ),
    (
        "wsapi-encode-reply",
        "afb_wsapi_codec::encode_framed of a k reply into a reused buffer",
    ),
    (
        "rpc-decode-call",
        "RPC v3 StreamDecoder of a raw CALL-REQUEST hello/ping {\"a\":1}, then its values as JSON arguments",
    ),
    (
        "rpc-encode-call",
        "afb_rpc::encode_message (raw framing) of the same call into a reused buffer",
    ),
    (
        "rpc-decode-reply",
        "RPC v3 StreamDecoder of the hello/ping CALL-REPLY (4 legacy values), then afb_rpc::convert::reply_of",
    ),
    (
        "rpc-encode-reply",
        "afb_rpc::encode_message (raw framing) of the hello/ping legacy CALL-REPLY into a reused buffer",
    ),
    (
        "rest-get",
        "GET /api/hello/ping with the session cookie, through afb-http (hyper) on an in-memory stream: request written, response read",
    ),
    (
        "rest-new",
        "the same without a cookie: every request opens a session in a full store (default --session-max 200: one eviction each)",
    ),
    (
        "wsj1-ws-call",
        "hello/ping {\"a\":1} over x-afb-ws-json1 through afb-http's WebSocket on an in-memory stream, 16 calls written at once, their 16 replies read",
    ),
    (
        "wsj1-ws-call-metrics",
        "the same with the metrics on (the daemon's --metrics observer)",
    ),
    (
        "dispatch-hello-ping",
        "Registry::dispatch of hello/ping {\"a\":1} (SDK sample) with a no-op sink",
    ),
    (
        "dispatch-hello-ping-metrics",
        "the same with the metrics on (the daemon's --metrics observer)",
    ),
    (
        "dispatch-hello-ping-trace",
        "the same with a monitor/trace request trace (common) on the caller's session: records built and pushed",
    ),
    (
        "dispatch-hello-ping-trace-other",
        "the same with a monitor/trace request trace on another session (filtered out)",
    ),
];

/// What observes the dispatches of [`dispatch`].
#[derive(Clone, Copy, PartialEq, Eq)]
enum Observed {
    Nothing,
    Metrics,
    TraceMine,
    TraceOther,
}

fn wsapi_call() -> Message<'static> {
    Message::Call {
        callid: 17,
        verb: "ping",
        sessionid: 1,
        tokenid: 0,
        args: r#"{"a":1}"#,
        user_creds: None,
    }
}

fn wsapi_reply() -> Message<'static> {
    Message::Reply {
        callid: 17,
        error: None,
        info: Some(INFO),
        reply: r#""Some String""#,
    }
}

fn decode_framed(dec: &mut FrameDecoder, frame: &[u8]) -> Option<(u16, bool)> {
    let mut input = frame;
    let Ok(Some(FrameEvent::Binary(b))) = dec.decode(&mut input) else {
        return None;
    };
    match afb_wsapi_codec::decode(&b) {
        Ok(Message::Call { callid, .. }) => Some((callid, true)),
        Ok(Message::Reply { callid, error, .. }) => Some((callid, error.is_none())),
        _ => None,
    }
}

fn rpc_call<'a>(args: &'a [afb_rpc_codec::Value<'a>]) -> afb_rpc_codec::Message<'a> {
    let mut c = afb_rpc_codec::CallRequest::new(17, afb_rpc_codec::Verb::name("ping"));
    c.api = Some(afb_rpc_codec::Text::from("hello"));
    c.session = 1;
    c.values = afb_rpc_codec::Values::new(args);
    afb_rpc_codec::Message::CallRequest(c)
}

fn rpc_reply<'a>(values: &'a [afb_rpc_codec::Value<'a>]) -> afb_rpc_codec::Message<'a> {
    afb_rpc_codec::Message::CallReply(afb_rpc_codec::CallReply {
        callid: 17,
        status: 0,
        values: afb_rpc_codec::Values::new(values),
    })
}

/// No declared types: the type names of [`afb_rpc::convert`].
fn no_types(_: u16) -> Option<&'static str> {
    None
}

/// Decodes one raw RPC message (chunks phase) and converts it as a link would: a
/// call's values into JSON arguments, a reply into a [`Reply`]. Gives the callid and
/// the JSON (the arguments, or the reply's data).
fn rpc_decode(dec: &mut afb_rpc_codec::StreamDecoder, bytes: &[u8]) -> Option<(u16, Option<String>)> {
    let d = dec.decode(bytes).ok()?;
    match d.message {
        afb_rpc_codec::Message::CallRequest(c) => {
            let args = afb_rpc::convert::values_json(&c.values, &no_types).ok()?;
            Some((c.callid, args.map(|a| a.get().to_owned())))
        }
        afb_rpc_codec::Message::CallReply(r) => {
            let reply = afb_rpc::convert::reply_of(r.status, &r.values, &no_types).ok()?;
            let ok = reply.is_success() && reply.info.as_deref() == Some(INFO);
            ok.then(|| (r.callid, reply.data_json().map(str::to_owned)))
        }
        _ => None,
    }
}

fn run(path: &str, n: u64) -> Result<(), String> {
    let mut out: Vec<u8> = Vec::with_capacity(1024);
    match path {
        "wsj1-decode-call" => {
            let Ok(afb_wsj1::Message::Call(c)) = afb_wsj1::decode(CALL) else {
                return Err("call not decoded".into());
            };
            check(c.id == "17" && c.api() == "hello" && c.verb() == "ping", "call fields")?;
            for _ in 0..n {
                let m = afb_wsj1::decode(black_box(CALL));
                black_box(&m);
            }
        }
        "wsj1-encode-call" => {
            let args: &RawValue = afb_wsj1::serde_json::from_str(r#"{"a":1}"#).map_err(|e| e.to_string())?;
            afb_wsj1::write_call(&mut out, "17", "hello/ping", args, None);
            check(out == CALL.as_bytes(), "encoded call")?;
            for _ in 0..n {
                out.clear();
                afb_wsj1::write_call(
                    &mut out,
                    black_box("17"),
                    black_box("hello/ping"),
                    black_box(args),
                    None,
                );
                black_box(&out);
            }
        }
        "wsj1-decode-reply" => {
            let Ok(afb_wsj1::Message::Reply(r)) = afb_wsj1::decode(REPLY) else {
                return Err("reply not decoded".into());
            };
            let env = r.envelope().map_err(|e| e.to_string())?;
            check(
                r.id == "17" && env.is_success() && env.info.as_deref() == Some(INFO),
                "reply fields",
            )?;
            for _ in 0..n {
                if let Ok(afb_wsj1::Message::Reply(r)) = afb_wsj1::decode(black_box(REPLY)) {
                    black_box(r.envelope().ok());
                }
            }
        }
        "wsj1-encode-reply" => {
            let resp = JsonString("Some String");
            let mut env = ReplyEnvelope::success(Some(&resp));
            env.info = Some(INFO);
            afb_wsj1::write_reply_message(&mut out, "17", &env);
            check(out == REPLY.as_bytes(), "encoded reply")?;
            for _ in 0..n {
                out.clear();
                afb_wsj1::write_reply_message(&mut out, black_box("17"), black_box(&env));
                black_box(&out);
            }
        }
        "wsapi-decode-call" | "wsapi-decode-reply" => {
            let (msg, ok) = if path == "wsapi-decode-call" {
                (wsapi_call(), true)
            } else {
                (wsapi_reply(), true)
            };
            let frame = {
                let mut f = Vec::new();
                afb_wsapi_codec::encode_framed(&msg, &mut f);
                f
            };
            let mut dec = FrameDecoder::default();
            check(decode_framed(&mut dec, &frame) == Some((17, ok)), "decoded message")?;
            for _ in 0..n {
                black_box(decode_framed(&mut dec, black_box(&frame)));
            }
        }
        "wsapi-encode-call" | "wsapi-encode-reply" => {
            let msg = if path == "wsapi-encode-call" {
                wsapi_call()
            } else {
                wsapi_reply()
            };
            afb_wsapi_codec::encode_framed(&msg, &mut out);
            let mut dec = FrameDecoder::default();
            check(
                decode_framed(&mut dec, &out).map(|x| x.0) == Some(17),
                "encoded message",
            )?;
            for _ in 0..n {
                out.clear();
                afb_wsapi_codec::encode_framed(black_box(&msg), &mut out);
                black_box(&out);
            }
        }
        "rpc-decode-call" | "rpc-decode-reply" | "rpc-encode-call" | "rpc-encode-reply" => {
            use afb_rpc_codec::Value;
            let call_args = [Value::json(r#"{"a":1}"#)];
            let reply_values = afb_rpc_codec::legacy_reply_values(r#""Some String""#, None, Some(INFO));
            let (msg, want) = if path.ends_with("call") {
                (rpc_call(&call_args), r#"{"a":1}"#)
            } else {
                (rpc_reply(&reply_values), r#""Some String""#)
            };
            let frame = {
                let mut f = Vec::new();
                afb_rpc::encode_message(afb_rpc::Framing::Raw, &msg, 1, &mut f).map_err(|e| e.to_string())?;
                f
            };
            let mut dec = afb_rpc_codec::StreamDecoder::new();
            dec.set_phase(afb_rpc_codec::Phase::Chunks);
            check(
                rpc_decode(&mut dec, &frame) == Some((17, Some(want.to_owned()))),
                "decoded message",
            )?;
            if path.starts_with("rpc-decode") {
                for _ in 0..n {
                    black_box(rpc_decode(&mut dec, black_box(&frame)).is_some());
                }
            } else {
                for seq in 0..n {
                    out.clear();
                    let seqno = u16::try_from(seq % 65535 + 1).unwrap_or(1);
                    let r = afb_rpc::encode_message(afb_rpc::Framing::Raw, black_box(&msg), seqno, &mut out);
                    black_box((r.is_ok(), &out));
                }
            }
        }
        "rest-get" => rest(n, true)?,
        "rest-new" => rest(n, false)?,
        "wsj1-ws-call" => wsj1_ws(n, false)?,
        "wsj1-ws-call-metrics" => wsj1_ws(n, true)?,
        "dispatch-hello-ping" => dispatch(n, Observed::Nothing)?,
        "dispatch-hello-ping-metrics" => dispatch(n, Observed::Metrics)?,
        "dispatch-hello-ping-trace" => dispatch(n, Observed::TraceMine)?,
        "dispatch-hello-ping-trace-other" => dispatch(n, Observed::TraceOther)?,
        other => return Err(format!("unknown path {other:?}; `afb-icount list` prints them")),
    }
    Ok(())
}

fn check(ok: bool, what: &str) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(format!("self-check failed: {what}"))
    }
}

/// Reads one HTTP/1.1 response (head and `Content-Length` body) from `io` into `buf`;
/// gives the status line's code, the `Set-Cookie` value and the body's range in `buf`.
/// Written to cost little beside the server (no zero-filled read buffer, the head scanned
/// line by line with `memchr`), so that the path's count is mostly the server's.
async fn read_response<R: tokio::io::AsyncRead + Unpin>(
    io: &mut R,
    buf: &mut Vec<u8>,
) -> Result<(u16, Option<String>, std::ops::Range<usize>), String> {
    use tokio::io::AsyncReadExt;
    buf.clear();
    let (mut code, mut len, mut cookie) = (None, 0usize, None);
    let mut line_start = 0;
    let body_start = 'head: loop {
        if io.read_buf(buf).await.map_err(|e| e.to_string())? == 0 {
            return Err("connection closed in a head".into());
        }
        while let Some(nl) = buf[line_start..].iter().position(|&b| b == b'\n') {
            let line = &buf[line_start..line_start + nl];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            line_start += nl + 1;
            if line.is_empty() {
                break 'head line_start;
            }
            let line = std::str::from_utf8(line).map_err(|e| e.to_string())?;
            if code.is_none() {
                code = line.split(' ').nth(1).and_then(|c| c.parse::<u16>().ok());
                continue;
            }
            let Some((k, v)) = line.split_once(':') else { continue };
            if k.eq_ignore_ascii_case("content-length") {
                len = v.trim().parse().map_err(|_| "bad content-length")?;
            } else if k.eq_ignore_ascii_case("set-cookie") {
                cookie = v.trim().split(';').next().map(str::to_owned);
            }
        }
    };
    let body = body_start..body_start + len;
    while buf.len() < body.end {
        if io.read_buf(buf).await.map_err(|e| e.to_string())? == 0 {
            return Err("connection closed in a body".into());
        }
    }
    Ok((code.ok_or("bad status line")?, cookie, body))
}

/// `rest-get` (`keep_cookie`) and `rest-new`: REST requests through the daemon's HTTP
/// server (afb-http over hyper) on an in-memory stream, one at a time.
fn rest(n: u64, keep_cookie: bool) -> Result<(), String> {
    use tokio::io::AsyncWriteExt;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async move {
        let reg = Registry::new(RegistryConfig::default());
        afb_sample_hello::api().register(&reg).map_err(|e| e.to_string())?;
        reg.start().await.map_err(|e| e.to_string())?;
        let server =
            afb_http::HttpServer::new(reg.clone(), afb_http::HttpConfig::default()).map_err(|e| e.to_string())?;
        let (mut client, server_io) = tokio::io::duplex(64 * 1024);
        server.serve_io(server_io, None, None);
        let plain = b"GET /api/hello/ping HTTP/1.1\r\nHost: localhost\r\n\r\n".to_vec();
        let mut buf = Vec::with_capacity(1024);
        // Once, checking the reply and taking the session cookie.
        client.write_all(&plain).await.map_err(|e| e.to_string())?;
        let (code, cookie, body) = read_response(&mut client, &mut buf).await?;
        let cookie = cookie.ok_or("no Set-Cookie")?;
        let text = std::str::from_utf8(&buf[body]).map_err(|e| e.to_string())?;
        check(
            code == 200 && text.contains(r#""response":"Some String""#) && cookie.starts_with("x-afb-uuid-1234="),
            "hello/ping response",
        )?;
        let req = if keep_cookie {
            format!("GET /api/hello/ping HTTP/1.1\r\nHost: localhost\r\nCookie: {cookie}\r\n\r\n").into_bytes()
        } else {
            // Fill the store: from then on every new session evicts one.
            while reg.sessions().len() < reg.sessions().config().max {
                reg.sessions().create().map_err(|e| format!("{e:?}"))?;
            }
            plain
        };
        client.write_all(&req).await.map_err(|e| e.to_string())?;
        let (code, again, _) = read_response(&mut client, &mut buf).await?;
        // The same session when the cookie is sent back, a new one otherwise.
        let same = again.as_ref() == Some(&cookie);
        check(code == 200 && again.is_some() && same == keep_cookie, "second response")?;
        let created = reg.sessions().created();
        for _ in 0..n {
            client.write_all(black_box(&req)).await.map_err(|e| e.to_string())?;
            let (code, _, _) = read_response(&mut client, &mut buf).await?;
            if code != 200 {
                return Err(format!("status {code}"));
            }
        }
        let new = reg.sessions().created() - created;
        check(if keep_cookie { new == 0 } else { new == n }, "sessions created")
    })
}

/// Calls written at once by `wsj1-ws-call` (the suite's `wsj1` keeps 16 in flight per
/// connection).
const WS_PIPELINE: u64 = 16;

/// Installs the daemon's observer with the metrics on (as `--metrics` does).
fn metrics_on(reg: &Arc<Registry>) -> Arc<afb_binder::metrics::Metrics> {
    use afb_binder::trace::{LogFlags, Tracer};
    let metrics = afb_binder::metrics::Metrics::new(reg);
    let tracer = Tracer::new(reg, LogFlags::default(), Some(metrics.clone()));
    reg.hooks().install(tracer.clone());
    tracer.refresh();
    metrics
}

/// Reads server frames (unmasked, not fragmented) from `io` until `count` text frames are
/// in; gives how many of them are successful `hello/ping` replies. `buf` keeps the bytes
/// of a frame not complete yet.
async fn read_ws_replies<R: tokio::io::AsyncRead + Unpin>(
    io: &mut R,
    buf: &mut Vec<u8>,
    count: u64,
    check_text: bool,
) -> Result<u64, String> {
    use tokio::io::AsyncReadExt;
    let (mut seen, mut good) = (0, 0);
    while seen < count {
        // Complete frames at the start of the buffer.
        let mut at = 0;
        while seen < count && buf.len() >= at + 2 {
            let (op, len7) = (buf[at] & 0x0f, usize::from(buf[at + 1] & 0x7f));
            let (head, len) = match len7 {
                126 if buf.len() >= at + 4 => (4, usize::from(u16::from_be_bytes([buf[at + 2], buf[at + 3]]))),
                126 => break,
                127 => return Err("unexpected 64-bit frame length".into()),
                l => (2, l),
            };
            if buf.len() < at + head + len {
                break;
            }
            if op != 1 {
                return Err(format!("unexpected opcode {op}"));
            }
            let payload = &buf[at + head..at + head + len];
            if !check_text || (payload.starts_with(b"[3,") && payload.windows(13).any(|w| w == b"\"Some String\"")) {
                good += 1;
            }
            seen += 1;
            at += head + len;
        }
        buf.drain(..at);
        if seen < count && io.read_buf(buf).await.map_err(|e| e.to_string())? == 0 {
            return Err("connection closed".into());
        }
    }
    Ok(good)
}

/// `wsj1-ws-call` and `wsj1-ws-call-metrics`: `hello/ping` calls over x-afb-ws-json1 through
/// the daemon's HTTP server and WebSocket connection task (afb-http) on an in-memory stream,
/// [`WS_PIPELINE`] calls written at once (unmasked frames, which the server accepts as the C
/// clients send them) and their replies read. `n` is rounded up to a multiple of the pipeline.
fn wsj1_ws(n: u64, metrics: bool) -> Result<(), String> {
    use tokio::io::AsyncWriteExt;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async move {
        let reg = Registry::new(RegistryConfig::default());
        afb_sample_hello::api().register(&reg).map_err(|e| e.to_string())?;
        reg.start().await.map_err(|e| e.to_string())?;
        let metrics = metrics.then(|| metrics_on(&reg));
        let server =
            afb_http::HttpServer::new(reg.clone(), afb_http::HttpConfig::default()).map_err(|e| e.to_string())?;
        let (mut client, server_io) = tokio::io::duplex(64 * 1024);
        server.serve_io(server_io, None, None);
        let upgrade = "GET /api HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                       Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
                       Sec-WebSocket-Protocol: x-afb-ws-json1\r\n\r\n";
        client.write_all(upgrade.as_bytes()).await.map_err(|e| e.to_string())?;
        let mut buf = Vec::with_capacity(8 * 1024);
        let (code, _, body) = read_response(&mut client, &mut buf).await?;
        check(code == 101, "101 Switching Protocols")?;
        buf.drain(..body.end);
        // 16 calls, ids 0 to 15, as unmasked text frames in one write.
        let mut calls = Vec::new();
        for id in 0..WS_PIPELINE {
            let text = format!(r#"[2,"{id}","hello/ping",{{"a":1}}]"#);
            calls.extend_from_slice(&[0x81, u8::try_from(text.len()).map_err(|e| e.to_string())?]);
            calls.extend_from_slice(text.as_bytes());
        }
        // Once, checking the replies.
        client.write_all(&calls).await.map_err(|e| e.to_string())?;
        let good = read_ws_replies(&mut client, &mut buf, WS_PIPELINE, true).await?;
        check(good == WS_PIPELINE, "hello/ping replies")?;
        for _ in 0..n.div_ceil(WS_PIPELINE) {
            client.write_all(black_box(&calls)).await.map_err(|e| e.to_string())?;
            read_ws_replies(&mut client, &mut buf, WS_PIPELINE, false).await?;
        }
        match metrics {
            Some(m) => {
                // Every call counted (the replies were read, so their counters are in).
                let want = format!(
                    r#"afb_calls_total{{api="hello",verb="ping",transport="wsj1",status="success"}} {}"#,
                    (n.div_ceil(WS_PIPELINE) + 1) * WS_PIPELINE
                );
                check(m.render().lines().any(|l| l == want), "calls counted by the metrics")
            }
            None => Ok(()),
        }
    })
}

fn dispatch(n: u64, observed: Observed) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async move {
        let reg = Registry::new(RegistryConfig::default());
        afb_sample_hello::api().register(&reg).map_err(|e| e.to_string())?;
        reg.start().await.map_err(|e| e.to_string())?;
        let session = reg.sessions().create().map_err(|e| format!("{e:?}"))?;
        let client = Client::new(session.clone());
        if observed != Observed::Nothing {
            use afb_binder::trace::{LogFlags, Tracer};
            let metrics = (observed == Observed::Metrics).then(|| afb_binder::metrics::Metrics::new(&reg));
            let tracer = Tracer::new(&reg, LogFlags::default(), metrics);
            reg.hooks().install(tracer.clone());
            tracer.refresh();
            if observed != Observed::Metrics {
                let traced = match observed {
                    Observed::TraceMine => session.clone(),
                    _ => reg.sessions().create().map_err(|e| format!("{e:?}"))?,
                };
                let api = reg.api_ref("hello").ok_or("no hello")?;
                tracer.add(&api, &traced, &serde_json::json!({"request": "common"}), false)?;
            }
        }
        // Once, checking the reply.
        let (tx, rx) = tokio::sync::oneshot::channel();
        reg.dispatch(
            Call::external(
                "hello",
                "ping",
                Args::from_json_str(r#"{"a":1}"#).map_err(|e| e.to_string())?,
                client.clone(),
            ),
            Box::new(move |r: Reply| {
                let _ = tx.send(r);
            }),
        );
        let r = rx.await.map_err(|_| "no reply".to_string())?;
        check(
            r.is_success() && r.data_json() == Some(r#""Some String""#),
            "hello/ping reply",
        )?;
        let replies = Arc::new(AtomicU64::new(0));
        for _ in 0..n {
            let args = Args::from_json_str(black_box(r#"{"a":1}"#)).map_err(|e| e.to_string())?;
            let count = replies.clone();
            reg.dispatch(
                Call::external(black_box("hello"), black_box("ping"), args, client.clone()),
                Box::new(move |r: Reply| {
                    black_box(&r);
                    count.fetch_add(1, Ordering::Relaxed);
                }),
            );
        }
        // hello/ping replies synchronously: every reply is in by now.
        tokio::task::yield_now().await;
        check(replies.load(Ordering::Relaxed) == n, "every dispatch replied")
    })
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [cmd] if cmd == "list" => {
            for (p, what) in PATHS {
                println!("{p}\t{what}");
            }
            ExitCode::SUCCESS
        }
        [path, n] => {
            let Ok(n) = n.parse::<u64>() else {
                eprintln!("afb-icount: bad iteration count {n:?}");
                return ExitCode::from(2);
            };
            let paths: Vec<&str> = if path == "all" {
                PATHS.iter().map(|p| p.0).collect()
            } else {
                vec![path.as_str()]
            };
            for p in paths {
                if let Err(e) = run(p, n) {
                    eprintln!("afb-icount {p}: {e}");
                    return ExitCode::FAILURE;
                }
            }
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("usage: afb-icount list | afb-icount PATH|all ITERATIONS");
            ExitCode::from(2)
        }
    }
}
