//! Bad input on wsapi links: each case closes (or refuses) that link only,
//! with a log line, and never disturbs another link or the local clients.

mod common;

use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Duration;

use afb_core::RegistryConfig;
use afb_sdk::testing::TestClient;
use afb_wsapi::WsapiOptions;
use common::*;
use tokio::io::AsyncWriteExt;
use tokio::net::{UnixListener, UnixStream};

struct Fixture {
    dir: TempDir,
    _back: Back,
    witness: RawPeer<UnixStream>,
    local: TestClient,
    calls: u16,
}

impl Fixture {
    async fn new(tag: &str, opts: WsapiOptions) -> Fixture {
        let dir = TempDir::new(tag);
        let back = Back::start_with(
            &format!("unix:{}", dir.join("hello").display()),
            RegistryConfig::default(),
            opts,
        )
        .await;
        let mut witness = RawPeer::unix(&dir.join("hello")).await;
        witness.hello().await;
        witness.send(&session_create(1, "witness-session")).await;
        let local = back.binder.client();
        let mut f = Fixture {
            dir,
            _back: back,
            witness,
            local,
            calls: 0,
        };
        f.unaffected().await;
        f
    }

    async fn peer(&self) -> RawPeer<UnixStream> {
        RawPeer::unix(&self.dir.join("hello")).await
    }

    /// The other link and the local clients still work.
    async fn unaffected(&mut self) {
        self.calls += 1;
        let id = self.calls;
        self.witness.send(&call(id, "pingnull", 1, 0, "null")).await;
        let mut m = self.witness.msg().await;
        while m[0] == b'B' {
            // broadcasts (hello/pingevent) reach every link, this one too
            m = self.witness.msg().await;
        }
        assert_eq!(m[..3], [b'k', id as u8, (id >> 8) as u8], "{m:?}");
        assert_eq!(m[3..7], [0, 0, 0, 0], "success");
        assert!(self.local.call("hello", "ping", &()).await.is_success());
    }

    /// Sends `bytes` as one message and expects the link to be closed with
    /// `code` and a log line containing `log`.
    async fn closes(&mut self, hello: bool, bytes: &[u8], code: Option<u16>, log: &str) {
        let mut p = self.peer().await;
        if hello {
            p.hello().await;
        }
        p.send(bytes).await;
        assert_eq!(p.closed().await, code, "close code for {log:?}");
        assert!(logs().wait_for(log).await, "no log line {log:?} in:\n{}", logs().text());
        self.unaffected().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_messages_close_their_link_only() {
    let mut f = Fixture::new("malformed", opts()).await;
    // truncated call
    f.closes(
        true,
        &cat(&[&hex("4b 0100 05000000"), b"pi"]),
        Some(1002),
        "truncated in verb",
    )
    .await;
    // a length running past the frame
    f.closes(
        true,
        &hex("53 0100 0000ffff 41"),
        Some(1002),
        "truncated in session uuid",
    )
    .await;
    // a string without its NUL
    f.closes(
        true,
        &hex("53 0100 03000000 414243"),
        Some(1002),
        "does not end with NUL",
    )
    .await;
    // an unknown code
    f.closes(true, &hex("5a 0100"), Some(1002), "unknown wsapi message code 0x5a")
        .await;
    // bytes after the last field
    f.closes(true, &hex("73 0100 00"), Some(1002), "unexpected byte(s) after the end")
        .await;
    // a message the server sends, coming from a client
    f.closes(
        true,
        &reply(1, None, None, "null"),
        Some(1002),
        "sent by servers, not by clients",
    )
    .await;
    // a call before the version offer
    f.closes(
        false,
        &call(1, "ping", 0, 0, "null"),
        Some(1002),
        "before the version offer",
    )
    .await;
    // no common version
    f.closes(false, &hex("56 09144c17 01 02"), Some(1002), "no common wsapi version")
        .await;
    // wrong protocol identifier
    f.closes(false, &hex("56 00000000 01 01"), Some(1002), "bad wsapi identifier")
        .await;
    // session id 0 declared
    f.closes(true, &session_create(0, "x"), Some(1002), "session id 0 declared")
        .await;
    // too long a session uuid
    f.closes(
        true,
        &session_create(3, &"u".repeat(300)),
        Some(1002),
        "session uuid of 300 bytes",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_frames_close_their_link_only() {
    let mut f = Fixture::new(
        "frames",
        WsapiOptions {
            max_message: 1024,
            ..opts()
        },
    )
    .await;
    // over max_message: 1009 (announced by the header, before any payload)
    let mut p = f.peer().await;
    p.hello().await;
    p.send_raw(&hex("82 7e 07d0")).await.unwrap();
    assert_eq!(p.closed().await, Some(1009));
    assert!(logs().wait_for("exceeds the limit of 1024").await);
    f.unaffected().await;
    // over max_message in fragments
    let mut p = f.peer().await;
    p.hello().await;
    let mut frames = Vec::new();
    for i in 0..3 {
        let op = if i == 0 { 0x02 } else { 0x00 };
        frames.extend_from_slice(&[op, 0x7e, 0x01, 0xf4]);
        frames.extend_from_slice(&[b'x'; 500]);
    }
    let _ = p.send_raw(&frames).await;
    assert_eq!(p.closed().await, Some(1009));
    f.unaffected().await;
    // a text frame
    let mut p = f.peer().await;
    p.hello().await;
    p.send_raw(&[0x81, 0x02, b'h', b'i']).await.unwrap();
    assert_eq!(p.closed().await, Some(1003));
    assert!(logs().wait_for("text frame on a wsapi link").await);
    f.unaffected().await;
    // reserved bits
    let mut p = f.peer().await;
    p.send_raw(&[0xc2, 0x00]).await.unwrap();
    assert_eq!(p.closed().await, Some(1002));
    f.unaffected().await;
    // a peer that stops in the middle of a frame and hangs up
    let mut p = f.peer().await;
    p.hello().await;
    p.send_raw(&hex("82 10 4b01")).await.unwrap();
    p.s.shutdown().await.unwrap();
    assert_eq!(p.closed().await, None);
    f.unaffected().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undeclared_ids_are_refused_not_fatal() {
    let mut f = Fixture::new("ids", opts()).await;
    let mut p = f.peer().await;
    p.hello().await;
    p.send(&hex("73 0500")).await; // forget session 5
    p.send(&hex("74 0600")).await; // forget token 6
    p.send(&hex("55 0700")).await; // unexpected event 7
    p.send(&call(1, "ping", 9, 0, "null")).await; // session 9
    assert_eq!(p.msg().await, reply(1, Some("unknown-session"), None, "null"));
    assert!(logs().wait_for("forgetting undeclared session id").await);
    assert!(logs().wait_for("forgetting undeclared token id").await);
    assert!(logs().wait_for("unexpected event id unknown here").await);
    assert!(logs().wait_for("call with an undeclared session id").await);
    // a token id never declared means no token
    p.send(&call(2, "pingnull", 0, 8, "null")).await;
    assert_eq!(p.msg().await[3..7], [0, 0, 0, 0]);
    // invalid JSON arguments are taken as a JSON string
    p.send(&call(3, "pingevent", 0, 0, "not json")).await;
    let b = p.msg().await;
    assert_eq!(b[0], b'B');
    assert!(String::from_utf8_lossy(&b).contains("\"not json\""), "{b:?}");
    assert_eq!(p.msg().await, reply(3, None, None, "\"not json\""));
    f.unaffected().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_peers_are_harmless_and_timed_out() {
    let mut f = Fixture::new(
        "silent",
        WsapiOptions {
            hello_timeout: Some(Duration::from_millis(300)),
            ..opts()
        },
    )
    .await;
    let mut silent: Vec<_> = Vec::new();
    for _ in 0..20 {
        silent.push(f.peer().await);
    }
    f.unaffected().await;
    // broadcasts go only to links that offered their version
    assert!(f.local.call("hello", "pingevent", &1).await.is_success());
    assert!(matches!(
        silent[0].recv_within(Duration::from_millis(100)).await,
        Recv::Timeout
    ));
    for p in &mut silent {
        assert_eq!(p.closed().await, Some(1008));
    }
    assert!(logs().wait_for("no version offer received in time").await);
    f.unaffected().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_does_not_read_is_dropped() {
    let mut f = Fixture::new(
        "flood",
        WsapiOptions {
            max_queued: 64 * 1024,
            ..opts()
        },
    )
    .await;
    let mut p = f.peer().await;
    p.hello().await;
    // 40000 calls, never reading: several MB of replies
    let mut batch = Vec::new();
    for i in 0..40_000u32 {
        let msg = call((i % 4000 + 1) as u16, "pingnull", 0, 0, "null");
        afb_wsapi_codec::frame::encode_binary(&msg, &mut batch);
        if batch.len() > 64 * 1024 {
            if p.s.write_all(&batch).await.is_err() {
                break;
            }
            batch.clear();
        }
    }
    assert!(logs().wait_for("does not read its messages").await);
    f.unaffected().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_calls_in_progress_close_the_link() {
    let dir = TempDir::new("inflight");
    let dropped = Arc::new(AtomicUsize::new(0));
    let back = Back::start_apis(
        &format!("unix:{}", dir.join("slow").display()),
        RegistryConfig::default(),
        opts(),
        vec![slow_api(dropped)],
    )
    .await;
    let mut p = RawPeer::unix(&dir.join("slow")).await;
    p.hello().await;
    let mut batch = Vec::new();
    for i in 1..=4096u16 {
        afb_wsapi_codec::frame::encode_binary(&call(i, "sleep", 0, 0, "60000"), &mut batch);
    }
    p.send_raw(&batch).await.unwrap();
    assert_eq!(p.closed().await, Some(1002));
    assert!(logs().wait_for("more than 4095 calls in progress").await);
    // the closed link's calls were cancelled
    for _ in 0..200 {
        if back.registry().inflight() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(back.registry().inflight(), 0);
}

/// The client stub facing a server that misbehaves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_closes_a_link_to_a_bad_server_and_reconnects() {
    let dir = TempDir::new("badserver");
    let path = dir.join("hello");
    let listener = UnixListener::bind(&path).unwrap();
    let front = front(&format!("unix:{}", path.display())).await;
    let c = front.client();
    let server = tokio::spawn(async move {
        // first connection: garbage after the version
        let (s, _) = listener.accept().await.unwrap();
        let mut p = RawPeer::new(s);
        assert_eq!(p.msg().await, version_offer());
        p.send(&hex("76 01")).await;
        let _ = p.msg().await; // S
        let _ = p.msg().await; // K
        p.send(&hex("5a")).await;
        assert_eq!(p.closed().await, Some(1002));
        // second connection: a server offering a version we did not offer
        let (s, _) = listener.accept().await.unwrap();
        let mut p = RawPeer::new(s);
        assert_eq!(p.msg().await, version_offer());
        p.send(&hex("76 07")).await;
        assert_eq!(p.closed().await, Some(1002));
        // third: well behaved
        let (s, _) = listener.accept().await.unwrap();
        let mut p = RawPeer::new(s);
        assert_eq!(p.msg().await, version_offer());
        p.send(&hex("76 01")).await;
        let _ = p.msg().await; // S again: a new link declares again
        let k = p.msg().await;
        assert_eq!(k[0], b'K');
        p.send(&reply(u16::from_le_bytes([k[1], k[2]]), None, None, "true"))
            .await;
        p
    });
    let r = c.call("hello", "ping", &()).await;
    assert_eq!(&*r.status, "disconnected", "{r:?}");
    assert!(logs().wait_for("unknown wsapi message code 0x5a").await);
    let r = c.call("hello", "ping", &()).await;
    assert_eq!(&*r.status, "disconnected", "{r:?}");
    assert!(logs().wait_for("which was not offered").await);
    let r = c.call("hello", "ping", &()).await;
    assert!(r.is_success(), "{r:?}");
    let _p = tokio::time::timeout(T, server).await.unwrap().unwrap();
}

/// A server that never answers: at most 4095 calls wait on the link, the
/// next one fails at once with `not-available` ("busy"); when the link goes,
/// every waiting call gets `disconnected`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_limits_outstanding_calls_to_4095() {
    let dir = TempDir::new("busy");
    let path = dir.join("hello");
    let listener = UnixListener::bind(&path).unwrap();
    let front = front_with(
        &format!("unix:{}", path.display()),
        RegistryConfig::default(),
        WsapiOptions {
            call_timeout: None,
            ..opts()
        },
    )
    .await;
    let (seen_tx, mut seen_rx) = tokio::sync::mpsc::unbounded_channel::<u16>();
    let hang_up = Arc::new(tokio::sync::Notify::new());
    let server = {
        let hang_up = hang_up.clone();
        tokio::spawn(async move {
            let (sock, _) = listener.accept().await.unwrap();
            let mut p = RawPeer::new(sock);
            p.send(&hex("76 01")).await;
            loop {
                tokio::select! {
                    _ = hang_up.notified() => break,
                    r = p.recv() => match r {
                        Recv::Msg(m) if m[0] == b'K' => { let _ = seen_tx.send(u16::from_le_bytes([m[1], m[2]])); }
                        Recv::Msg(_) | Recv::Timeout => {}
                        other => panic!("{other:?}"),
                    },
                }
            }
        })
    };
    let client = Arc::new(front.client());
    let mut waiting = Vec::new();
    for _ in 0..4095 {
        let c = client.clone();
        waiting.push(tokio::spawn(async move { c.call("hello", "ping", &()).await }));
    }
    let mut ids = std::collections::HashSet::new();
    while ids.len() < 4095 {
        let id = tokio::time::timeout(T, seen_rx.recv())
            .await
            .expect("calls reach the server")
            .unwrap();
        assert!(id != 0 && ids.insert(id), "call ids are non-zero and distinct");
    }
    let r = client.call("hello", "ping", &()).await;
    assert_eq!(&*r.status, "not-available", "{r:?}");
    assert!(r.info.as_deref().unwrap_or("").starts_with("busy"), "{r:?}");
    hang_up.notify_one();
    server.await.unwrap();
    for w in waiting {
        let r = tokio::time::timeout(T, w).await.unwrap().unwrap();
        assert_eq!(&*r.status, "disconnected", "{r:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_beyond_max_inflight_are_refused_and_the_link_stays() {
    let dir = TempDir::new("maxinflight");
    let dropped = Arc::new(AtomicUsize::new(0));
    let _back = Back::start_apis(
        &format!("unix:{}", dir.join("slow").display()),
        RegistryConfig::default(),
        WsapiOptions {
            max_inflight: 2,
            ..opts()
        },
        vec![slow_api(dropped)],
    )
    .await;
    let mut p = RawPeer::unix(&dir.join("slow")).await;
    p.hello().await;
    p.send(&call(1, "sleep", 0, 0, "300")).await;
    p.send(&call(2, "sleep", 0, 0, "300")).await;
    p.send(&call(3, "sleep", 0, 0, "300")).await;
    let refused = p.msg().await;
    assert_eq!(&refused[..3], &reply(3, Some("not-available"), None, "null")[..3]);
    assert!(
        String::from_utf8_lossy(&refused).contains("not-available"),
        "{refused:?}"
    );
    // The two running calls finish, then the link takes calls again.
    let (a, b) = (p.msg().await, p.msg().await);
    assert_eq!((a[0], b[0]), (b'k', b'k'));
    p.send(&call(4, "sleep", 0, 0, "1")).await;
    assert_eq!(p.msg().await, reply(4, None, None, "1"));
}
