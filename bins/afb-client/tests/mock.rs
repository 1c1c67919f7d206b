//! The client against small in-test servers that do what the real daemon does not: call the
//! client, send malformed or unexpected messages, break the wsapi protocol. The client must
//! answer, warn and exit with the right code, never panic.

mod common;

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::thread;

use afb_wsapi_codec::frame::{FrameDecoder, FrameEvent};
use afb_wsapi_codec::message::Message as Wsapi;
use afb_wsapi_codec::{decode, encode_framed};
use common::{json_lines, run, In};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UnixStream};
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

type Ws = WebSocketStream<TcpStream>;

/// Serves one x-afb-ws-json1 connection on 127.0.0.1 with `f`; returns the port and the
/// thread giving `f`'s result and the URI the client asked for.
fn serve_ws<F, Fut, T>(f: F) -> (u16, thread::JoinHandle<(T, String)>)
where
    F: FnOnce(Ws) -> Fut + Send + 'static,
    Fut: Future<Output = T>,
    T: Send + 'static,
{
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    listener.set_nonblocking(true).expect("nonblocking");
    let handle = thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            let (stream, _) = listener.accept().await.expect("accept");
            let uri = Arc::new(Mutex::new(String::new()));
            let seen = uri.clone();
            // The error type is tungstenite's (a whole HTTP response): not ours to shrink.
            #[allow(clippy::result_large_err)]
            let callback = move |req: &Request, mut resp: Response| {
                *seen.lock().expect("lock") = req.uri().to_string();
                let proto = req.headers().get("Sec-WebSocket-Protocol").cloned();
                if let Some(p) = proto {
                    resp.headers_mut().insert("Sec-WebSocket-Protocol", p);
                }
                Ok(resp)
            };
            let ws = tokio_tungstenite::accept_hdr_async(stream, callback)
                .await
                .expect("handshake");
            let out = f(ws).await;
            let uri = uri.lock().expect("lock").clone();
            (out, uri)
        })
    });
    (port, handle)
}

async fn next_text(ws: &mut Ws) -> String {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => return t.as_str().to_owned(),
            Some(Ok(_)) => continue,
            other => panic!("expected a text message, got {other:?}"),
        }
    }
}

#[test]
fn server_calls_garbage_and_unknown_ids_are_survived() {
    let (port, server) = serve_ws(|mut ws| async move {
        let call = next_text(&mut ws).await;
        // The server calls the client: it must answer with an error.
        ws.send(Message::text(r#"[2,"s1","client/verb",{"q":1}]"#))
            .await
            .expect("send");
        let answer = next_text(&mut ws).await;
        for junk in ["not json", "[9,1]", "[3]", r#"[3,"999",{"jtype":"afb-reply"}]"#, "{}"] {
            ws.send(Message::text(junk)).await.expect("send");
        }
        ws.send(Message::binary(vec![0u8, 1, 2])).await.expect("send");
        ws.send(Message::text(
            r#"[5,"x/ev",{"jtype":"afb-event","event":"x/ev","data":[]}]"#,
        ))
        .await
        .expect("send");
        ws.send(Message::text(
            r#"[3,"1",{"jtype":"afb-reply","request":{"status":"success","code":0},"response":true}]"#,
        ))
        .await
        .expect("send");
        // Wait for the client to go.
        while let Some(Ok(_)) = ws.next().await {}
        (call, answer)
    });
    let uri = format!("ws://127.0.0.1:{port}/api");
    let r = run(&["-H", "-u", "u 1", "-t", "t&k", &uri, "hello", "ping"], In::Null);
    let ((call, answer), asked) = server.join().expect("server");
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(call, r#"[2,"1","hello/ping",null]"#);
    assert!(
        answer.starts_with(r#"[4,"s1",{"jtype":"afb-reply","request":{"status":"unimplemented""#),
        "{answer}"
    );
    assert_eq!(asked, "/api?x-afb-uuid=u%201&x-afb-token=t%26k");
    assert!(
        r.stdout.contains("ON-CALL client/verb:\n{\n  \"q\":1\n}\n"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("ON-EVENT x/ev:\n"), "{}", r.stdout);
    assert!(r.stdout.contains("ON-REPLY 1:hello/ping: OK\n"), "{}", r.stdout);
    assert!(r.stderr.contains("malformed"), "{}", r.stderr);
    assert!(r.stderr.contains("unknown call id \"999\""), "{}", r.stderr);
    assert!(r.stderr.contains("binary"), "{}", r.stderr);
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
}

#[test]
fn wsj1_raw_output_prints_objects_as_received() {
    let body = r#"{"jtype":"afb-reply","request":{"status":"failed","code":-1},"response":{"b":"\u00e9\/"}}"#;
    let (port, server) = serve_ws(move |mut ws| async move {
        let _ = next_text(&mut ws).await;
        ws.send(Message::text(format!(r#"[4,"1",{body}]"#)))
            .await
            .expect("send");
        while let Some(Ok(_)) = ws.next().await {}
    });
    let r = run(&[&format!("127.0.0.1:{port}/api"), "a", "b", "[1]"], In::Null);
    server.join().expect("server");
    assert_eq!(r.code, 1, "{r:?}");
    assert_eq!(r.stdout, format!("{body}\n"));
}

#[test]
fn server_closing_during_handshake_is_a_connect_failure() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let t = thread::spawn(move || {
        use std::io::{Read, Write};
        if let Ok((mut s, _)) = listener.accept() {
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf);
            let _ = s.write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n");
        }
    });
    let r = run(&[&format!("ws://127.0.0.1:{port}/nope"), "a", "b"], In::Null);
    t.join().expect("thread");
    assert_eq!(r.code, 5, "{r:?}");
    assert!(r.stderr.contains(&format!("127.0.0.1:{port}")), "{}", r.stderr);
}

/// A wsapi server on a unix socket: reads frames, hands each message to `f` with a writer.
struct Peer {
    stream: UnixStream,
    decoder: FrameDecoder,
    buf: Vec<u8>,
    pos: usize,
}

impl Peer {
    async fn next(&mut self) -> Option<Vec<u8>> {
        loop {
            let mut input = &self.buf[self.pos..];
            match self.decoder.decode(&mut input) {
                Ok(Some(FrameEvent::Binary(b))) => {
                    self.pos = self.buf.len() - input.len();
                    return Some(b);
                }
                Ok(Some(_)) => {
                    self.pos = self.buf.len() - input.len();
                    continue;
                }
                Ok(None) => {
                    self.buf.clear();
                    self.pos = 0;
                }
                Err(e) => panic!("client sent a bad frame: {e}"),
            }
            if self.stream.read_buf(&mut self.buf).await.ok()? == 0 {
                return None;
            }
        }
    }

    async fn send(&mut self, msg: &Wsapi<'_>) {
        let mut out = Vec::new();
        encode_framed(msg, &mut out);
        self.stream.write_all(&out).await.expect("write");
    }

    async fn send_raw(&mut self, payload: &[u8]) {
        let mut out = Vec::new();
        afb_wsapi_codec::frame::encode_binary(payload, &mut out);
        self.stream.write_all(&out).await.expect("write");
    }
}

fn serve_wsapi<F, Fut, T>(f: F) -> (String, afb_testkit::TempDir, thread::JoinHandle<T>)
where
    F: FnOnce(Peer) -> Fut + Send + 'static,
    Fut: Future<Output = T>,
    T: Send + 'static,
{
    let dir = afb_testkit::TempDir::new("client-mock-wsapi");
    let path = dir.path().join("hello");
    let listener = std::os::unix::net::UnixListener::bind(&path).expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let handle = thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let listener = tokio::net::UnixListener::from_std(listener).expect("listener");
            let (stream, _) = listener.accept().await.expect("accept");
            f(Peer {
                stream,
                decoder: FrameDecoder::default(),
                buf: Vec::new(),
                pos: 0,
            })
            .await
        })
    });
    (format!("unix:{}", path.display()), dir, handle)
}

#[test]
fn wsapi_unknown_event_is_refused_with_u() {
    let (uri, _dir, server) = serve_wsapi(|mut p| async move {
        let offer = p.next().await.expect("offer");
        assert_eq!(offer, [0x56, 0x09, 0x14, 0x4c, 0x17, 0x01, 0x01]);
        p.send(&Wsapi::VersionSet(1)).await;
        let mut got = Vec::new();
        // S and T, then K.
        for _ in 0..3 {
            let m = p.next().await.expect("message");
            got.push(decode(&m).map(|m| format!("{m:?}")).unwrap_or_default());
        }
        p.send(&Wsapi::Push { eventid: 7, data: "{}" }).await;
        let u = p.next().await.expect("U");
        got.push(decode(&u).map(|m| format!("{m:?}")).unwrap_or_default());
        p.send(&Wsapi::Reply {
            callid: 1,
            error: None,
            info: None,
            reply: "not json",
        })
        .await;
        while p.next().await.is_some() {}
        got
    });
    let r = run(&["-d", "-u", "U1", "-t", "T1", &uri, "verb", "{\"x\":1}"], In::Null);
    let got = server.join().expect("server");
    assert_eq!(r.code, 0, "{r:?}");
    assert!(got[0].contains("SessionCreate { id: 1, uuid: \"U1\" }"), "{got:?}");
    assert!(got[1].contains("TokenCreate { id: 1, token: \"T1\" }"), "{got:?}");
    assert!(
        got[2].contains("verb: \"verb\", sessionid: 1, tokenid: 1, args: \"{\\\"x\\\":1}\""),
        "{got:?}"
    );
    assert!(got[3].contains("Unexpected { eventid: 7 }"), "{got:?}");
    assert!(r.stderr.contains("unknown event id 7"), "{}", r.stderr);
    // Invalid JSON in the reply is shown as a JSON string.
    assert_eq!(json_lines(&r.stdout)[0]["response"], "not json");
}

#[test]
fn wsapi_protocol_error_is_a_hang_up() {
    let (uri, _dir, server) = serve_wsapi(|mut p| async move {
        let _ = p.next().await;
        p.send(&Wsapi::VersionSet(1)).await;
        let _ = p.next().await;
        p.send_raw(b"Zgarbage").await;
        while p.next().await.is_some() {}
    });
    let r = run(&["-d", &uri, "verb"], In::Null);
    server.join().expect("server");
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("protocol error"), "{}", r.stderr);
    assert!(r.stderr.contains("no reply to 1:verb"), "{}", r.stderr);
}

#[test]
fn wsapi_bad_version_is_a_connect_failure() {
    let (uri, _dir, server) = serve_wsapi(|mut p| async move {
        let _ = p.next().await;
        p.send(&Wsapi::VersionSet(2)).await;
        while p.next().await.is_some() {}
    });
    let r = run(&["-d", &uri, "verb"], In::Null);
    server.join().expect("server");
    assert_eq!(r.code, 5, "{r:?}");
    assert!(r.stderr.contains("version 2"), "{}", r.stderr);
}
