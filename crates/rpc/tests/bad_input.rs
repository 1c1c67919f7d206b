//! Bad input on RPC links, through real sockets: each case ends that link
//! only, with one log line, and costs nothing to another link (a witness
//! peer keeps calling) or to the local clients. Then random and mutated
//! chunk streams, a peer that never reads, one that never offers its
//! version, and the bounds on what a peer may declare.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use afb_core::RegistryConfig;
use afb_rpc::RpcOptions;
use afb_rpc_codec::{encode_to_vec, CallRequest, Message, ResourceKind, Text, Value, Values, Verb};
use afb_sdk::testing::TestClient;
use common::*;
use tokio::net::UnixStream;

/// Counts the panics of this test binary (a panicking link task would
/// otherwise pass unseen).
fn panics() -> &'static AtomicUsize {
    static PANICS: AtomicUsize = AtomicUsize::new(0);
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.fetch_add(1, Ordering::SeqCst);
            previous(info)
        }));
    });
    &PANICS
}

fn call(seqno: u16, callid: u16, verb: &str, session: u16, json: &str) -> Vec<u8> {
    let v = [Value::json(json)];
    let mut c = CallRequest::new(callid, Verb::name(verb));
    c.api = Some(Text::from("hello"));
    c.session = session;
    c.values = Values::new(&v);
    encode_to_vec(&Message::CallRequest(c), seqno).unwrap()
}

fn create(kind: ResourceKind, id: u16, text: &str) -> Vec<u8> {
    encode_to_vec(
        &Message::ResourceCreate {
            kind,
            id,
            text: Text::from(text),
        },
        1,
    )
    .unwrap()
}

/// A peer whose link must keep working while others misbehave.
struct Witness {
    peer: RawPeer<UnixStream>,
    calls: u16,
}

impl Witness {
    /// Calls `hello/ping` and checks that the reply comes (broadcasts of
    /// other cases may come first).
    async fn works(&mut self) {
        self.calls += 1;
        let n = self.calls;
        self.peer.send(&call(n, n, "ping", 1, "null")).await;
        let mut reply = self.peer.chunk().await;
        while reply[..2] != [0xfe, 0xff] {
            reply = self.peer.chunk().await;
        }
        let (callid, status) = (&reply[8..10], &reply[12..16]);
        assert_eq!((callid, status), (&n.to_le_bytes()[..], &[0u8; 4][..]), "{reply:02x?}");
    }
}

/// A back, its witness, and a local client.
struct Fixture {
    dir: TempDir,
    _back: Back,
    witness: Witness,
    local: TestClient,
}

impl Fixture {
    async fn new(tag: &str, opts: RpcOptions) -> Fixture {
        panics();
        let dir = TempDir::new(tag);
        let spec = unix_spec(&dir, "hello");
        let _back = Back::start_with(&spec, RegistryConfig::default(), opts).await;
        let mut peer = RawPeer::unix(&path(&dir, "hello")).await;
        peer.hello().await;
        peer.send(&create(ResourceKind::Session, 1, "witness-session")).await;
        let mut f = Fixture {
            local: _back.binder.client(),
            witness: Witness { peer, calls: 0 },
            dir,
            _back,
        };
        f.unaffected().await;
        f
    }

    async fn peer(&self) -> RawPeer<UnixStream> {
        RawPeer::unix(&path(&self.dir, "hello")).await
    }

    /// The witness link and the local clients still work, nothing panicked.
    async fn unaffected(&mut self) {
        self.witness.works().await;
        assert!(self.local.call("hello", "ping", &()).await.is_success());
        assert_eq!(panics().load(Ordering::SeqCst), 0, "a link task panicked");
    }

    /// Sends `bytes` after the version exchange (or instead of it) and
    /// expects the link to be closed with a log line holding `log`.
    async fn closes(&mut self, hello: bool, bytes: &[u8], log: &str) {
        let mut p = self.peer().await;
        if hello {
            p.hello().await;
        }
        p.send(bytes).await;
        assert!(p.closed().await, "link not closed for {log:?}");
        assert!(logged(log).await, "no log line {log:?}");
        self.unaffected().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_chunks_end_their_link_only() {
    let mut f = Fixture::new("rpc-bad", RpcOptions::default()).await;
    // not a version message first (a wsapi v1 frame)
    f.closes(false, &hex("82 09 56 09 14 4c 17 01 01"), "RPC link refused")
        .await;
    // a chunk length below 8
    f.closes(true, &hex("ff ff 01 00 04 00 00 00"), "chunk length 4").await;
    // a length past the maximum, refused from the header
    f.closes(true, &hex("fe ff 01 00 ff ff ff 7f"), "above the maximum")
        .await;
    // an unknown operation
    f.closes(true, &hex("00 01 01 00 08 00 00 00"), "unknown RPC operation 0x0100")
        .await;
    // a parameter running past its chunk
    f.closes(
        true,
        &hex("ff ff 01 00 10 00 00 00 01 00 00 00 fc ff 40 00"),
        "runs past its chunk",
    )
    .await;
    // value count mismatch
    f.closes(
        true,
        &hex("ff ff 01 00 0c 00 00 00 01 00 02 00 00 00 00 00"),
        "announces 2 values but holds 0",
    )
    .await;
    // a call without verb
    let mut no_verb = CallRequest::new(1, Verb::Special(1));
    no_verb.verb = Verb::Special(0xfffe);
    f.closes(
        true,
        &encode_to_vec(&Message::CallRequest(no_verb), 1).unwrap(),
        "special verb 0xfffe",
    )
    .await;
    // a value of a type nobody declared
    let v = [Value::Typed {
        type_id: 300,
        bytes: &[1; 16],
    }];
    let mut typed = CallRequest::new(1, Verb::name("ping"));
    typed.values = Values::new(&v);
    f.closes(
        true,
        &encode_to_vec(&Message::CallRequest(typed), 1).unwrap(),
        "undeclared type id 300",
    )
    .await;
    // VALUE-DATA, which C never sends
    let v = [Value::Data(3)];
    let mut data = CallRequest::new(1, Verb::name("ping"));
    data.values = Values::new(&v);
    f.closes(
        true,
        &encode_to_vec(&Message::CallRequest(data), 1).unwrap(),
        "VALUE-DATA",
    )
    .await;
    // a reply to a call never made
    f.closes(
        true,
        &hex("fe ff 01 00 10 00 00 00 07 00 00 00 00 00 00 00"),
        "not pending",
    )
    .await;
    // a subscription for a call never made
    f.closes(
        true,
        &hex("fc ff 01 00 0c 00 00 00 07 00 01 00 00 00 00 00"),
        "not pending",
    )
    .await;
    // a session declared twice, a destruction of what is not declared
    let mut twice = create(ResourceKind::Session, 2, "s-twice");
    twice.extend(create(ResourceKind::Session, 2, "s-twice"));
    f.closes(true, &twice, "session 2 declared twice").await;
    f.closes(
        true,
        &hex("f7 ff 01 00 0c 00 00 00 fe ff 05 00 00 00 00 00"),
        "not declared",
    )
    .await;
    // an unknown type name, a session uuid too long
    f.closes(true, &create(ResourceKind::Type, 9, "#nosuchtype"), "unknown type")
        .await;
    // a binding's type is taken by name, within a bound
    f.closes(true, &create(ResourceKind::Type, 9, &"t".repeat(300)), "unknown type")
        .await;
    f.closes(
        true,
        &create(ResourceKind::Session, 9, &"u".repeat(300)),
        "session uuid of 300 bytes",
    )
    .await;
    // a push of an event of the callee coming to the callee: unknown, answered and kept
    let mut p = f.peer().await;
    p.hello().await;
    p.send(&hex("fd ff 01 00 0c 00 00 00 09 00 00 00 00 00 00 00")).await;
    assert_eq!(p.chunk().await[..2], [0xfa, 0xff], "EVENT-UNEXPECTED");
    f.unaffected().await;
}

/// A tiny deterministic generator (no dependency; the seed is printed on failure).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_and_mutated_streams_never_hurt_the_server() {
    let mut f = Fixture::new("rpc-fuzz", RpcOptions::default()).await;
    let valid: Vec<Vec<u8>> = vec![
        create(ResourceKind::Session, 5, "fuzz-session"),
        create(ResourceKind::Token, 2, "tok"),
        call(2, 1, "ping", 5, r#"{"a":[1,2]}"#),
        call(3, 2, "eventadd", 5, r#"{"tag":"t","name":"ev"}"#),
        call(4, 3, "eventsub", 5, r#"{"tag":"t"}"#),
        call(5, 4, "pingevent", 0, "7"),
        hex("fa ff 06 00 0a 00 00 00  01 00 00 00 00 00 00 00"),
        hex("ff ff 03 00 26 00 00 00 02 00 00 00 00 00 00 00 00 00 fe ff 0c 00 fc ff `hello` 00 ff ff 08 00 fb ff ff ff 00 00"),
    ];
    let seed = 0x5eed_0000_u64 + u64::from(std::process::id());
    let mut rng = Rng(seed);
    for round in 0..120 {
        let mut bytes = Vec::new();
        match round % 3 {
            // random bytes
            0 => (0..rng.below(200)).for_each(|_| bytes.push(rng.next() as u8)),
            // valid chunks, some bytes flipped
            1 => {
                for _ in 0..1 + rng.below(4) {
                    bytes.extend(&valid[rng.below(valid.len())]);
                }
                for _ in 0..1 + rng.below(3) {
                    let i = rng.below(bytes.len());
                    bytes[i] ^= 1 << rng.below(8);
                }
            }
            // valid chunks cut anywhere, then random bytes
            _ => {
                for _ in 0..1 + rng.below(4) {
                    bytes.extend(&valid[rng.below(valid.len())]);
                }
                bytes.truncate(rng.below(bytes.len() + 1));
                (0..rng.below(40)).for_each(|_| bytes.push(rng.next() as u8));
            }
        }
        let mut p = f.peer().await;
        p.hello().await;
        p.send(&bytes).await;
        // the server either answers and waits for more, or closes: both fine
        drop(p);
        if round % 20 == 19 {
            f.unaffected().await;
        }
    }
    f.unaffected().await;
    assert_eq!(panics().load(Ordering::SeqCst), 0, "seed {seed:#x}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_peers_and_bounds() {
    let opts = RpcOptions {
        hello_timeout: Duration::from_millis(300),
        max_queued: 64 * 1024,
        max_inflight: 2,
        ..RpcOptions::default()
    };
    let mut f = Fixture::new("rpc-slow", opts).await;
    // a peer that never offers its version
    let mut silent = f.peer().await;
    assert!(silent.closed().await, "closed after the hello timeout");
    assert!(logged("no version message within").await);
    // a peer that never reads: its replies fill the outbox, then it is dropped
    let mut deaf = f.peer().await;
    deaf.hello().await;
    let mut burst = Vec::new();
    for i in 0..2000u16 {
        burst.extend(call(i, i % 4000 + 1, "pingJson", 0, "null"));
    }
    let _ = tokio::io::AsyncWriteExt::write_all(&mut deaf.s, &burst).await;
    assert!(logged("does not read its messages").await);
    f.unaffected().await;
    // at most max_inflight calls run at once: the next one is not-available
    let mut busy = f.peer().await;
    busy.hello().await;
    let mut w = Vec::new();
    w.extend(call(1, 1, "call", 0, r#"{"api":"echo","verb":"slow","args":2000}"#));
    w.extend(call(2, 2, "call", 0, r#"{"api":"echo","verb":"slow","args":2000}"#));
    w.extend(call(3, 3, "ping", 0, "null"));
    busy.send(&w).await;
    let c = busy.chunk().await;
    assert_eq!(c[8..10], [3, 0], "the third call is answered first: {c:02x?}");
    assert_eq!(c[12..16], (-5i32).to_le_bytes(), "not-available");
    // types a peer may declare: 256
    let mut types = Vec::new();
    for id in 1..=257u16 {
        types.extend(create(ResourceKind::Type, id, "#UUID"));
    }
    f.closes(true, &types, "more than 256 types").await;
}
