//! Frame masking on wsapi links: the C binders send unmasked frames (as a
//! WebSocket server would) on both sides of a link, other peers may mask.
//! Our server stub and our client stub accept both, and send unmasked.

mod common;

use std::time::Duration;

use afb_sdk::testing::data;
use common::*;
use serde_json::json;
use tokio::io::AsyncReadExt;
use tokio::net::UnixListener;

/// The server stub: a peer masking every frame, then one masking none,
/// each gets its replies, unmasked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_accepts_masked_and_unmasked_frames() {
    let dir = TempDir::new("mask-server");
    let uri = format!("unix:{}", dir.join("hello").display());
    let _back = Back::start(&uri).await;
    for mask in [Some([0x12, 0x34, 0x56, 0x78]), None] {
        let mut p = RawPeer::unix(&dir.join("hello")).await;
        p.mask = mask;
        p.hello().await;
        p.send(&call(1, "ping", 0, 0, r#"{"a":1}"#)).await;
        let m = p.msg().await;
        assert_eq!(&m[..3], &hex("6b 0100"), "{mask:?}");
    }
    // What the server sends is unmasked: read one frame by hand.
    let mut s = tokio::net::UnixStream::connect(dir.join("hello")).await.unwrap();
    let mut offer = Vec::new();
    afb_wsapi_codec::frame::encode_frame(
        afb_wsapi_codec::frame::OpCode::Binary,
        true,
        &version_offer(),
        Some([1, 2, 3, 4]),
        &mut offer,
    );
    tokio::io::AsyncWriteExt::write_all(&mut s, &offer).await.unwrap();
    let mut head = [0u8; 4];
    tokio::time::timeout(T, s.read_exact(&mut head)).await.unwrap().unwrap();
    assert_eq!(head, [0x82, 0x02, b'v', 1], "unmasked binary frame `v 01`");
}

/// The client stub against a server that masks its frames (the C binders
/// do not; a strict WebSocket peer could): calls, events and the
/// description still work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_accepts_masked_frames() {
    let dir = TempDir::new("mask-client");
    let path = dir.join("hello");
    let listener = UnixListener::bind(&path).unwrap();
    let front = front(&format!("unix:{}", path.display())).await;
    let c = front.client();
    let server = tokio::spawn(async move {
        let (sock, _) = listener.accept().await.unwrap();
        let mut p = RawPeer::new(sock);
        p.mask = Some([9, 8, 7, 6]);
        assert_eq!(p.msg().await, version_offer());
        p.send(&hex("76 01")).await;
        loop {
            let m = p.msg().await;
            if m[0] == b'K' {
                p.send(&cat(&[&hex("45 0500"), &s("hello/ev")])).await;
                p.send(&cat(&[b"X", &m[1..3], &hex("0500")])).await;
                p.send(&reply(
                    u16::from_le_bytes([m[1], m[2]]),
                    None,
                    Some("pong"),
                    r#""masked""#,
                ))
                .await;
                p.send(&cat(&[&hex("50 0500"), &s(r#"{"n":2}"#)])).await;
                break;
            }
        }
        p
    });
    let r = c.call("hello", "ping", &json!({"a": 1})).await;
    assert!(r.is_success(), "{r:?}");
    assert_eq!(data(&r), json!("masked"));
    let ev = c.next_event(T).await.expect("push");
    assert_eq!((ev.name.as_str(), ev.data.clone()), ("hello/ev", json!({"n": 2})));
    let _p = tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .unwrap()
        .unwrap();
}
