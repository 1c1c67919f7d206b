//! The hot path allocates nothing: decoding (messages, values, typed values, errors, any
//! bytes) and encoding into a buffer that has the room. Counted by a global allocator that
//! counts the allocations of the current thread.

// A global allocator is an `unsafe impl`.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use afb_rpc_codec::types::type_id;
use afb_rpc_codec::{
    encode, CallReply, CallRequest, Encoder, EventBroadcast, EventPush, Message, Phase, ResourceKind, Scalar,
    StreamDecoder, Text, Value, Values, Verb,
};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn count() {
    // A const-initialised Cell has no destructor: `try_with` only fails while the thread's
    // locals are being torn down, when nothing is measured anyway.
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
}

// SAFETY: every method forwards to the system allocator with the caller's arguments, which
// upholds GlobalAlloc's contract; counting touches only a thread-local Cell.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` with this layout (every allocation goes
        // through `alloc` or `realloc` above).
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: as `dealloc`, and the caller's guarantees on `new_size`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The number of allocations `f` makes on this thread.
fn allocations(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

fn sample_stream() -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = Encoder::new();
    let values = [
        Value::json(r#"{"a":1}"#),
        Value::stringz(None),
        Value::stringz(Some("ping count=1")),
        Value::Scalar(Scalar::F64(2.5)),
        Value::Typed {
            type_id: type_id::I16_BE,
            bytes: &[0xff, 0xfe],
        },
        Value::Untyped(b"raw"),
        Value::Data(4),
    ];
    let msgs = [
        Message::VersionOffer { versions: &[3, 0, 0] },
        Message::ResourceCreate {
            kind: ResourceKind::Session,
            id: 3,
            text: Text::from("6b1405a1-5612-4cfa-8a05-dbe6492205a2"),
        },
        Message::CallRequest(CallRequest {
            api: Some(Text::from("hello")),
            session: 3,
            token: 1,
            creds: Some(Text::from("0:0:1-x")),
            timeout: Some(3),
            values: Values::new(&values),
            ..CallRequest::new(1, Verb::name("ping"))
        }),
        Message::CallReply(CallReply {
            callid: 1,
            status: 0,
            values: Values::new(&values),
        }),
        Message::EventPush(EventPush {
            eventid: 2,
            values: Values::new(&values[..1]),
        }),
        Message::EventBroadcast(EventBroadcast {
            name: Text::from("a/b"),
            uuid: [1; 16],
            hop: 9,
            values: Values::new(&values),
        }),
        Message::EventSubscribe { callid: 1, eventid: 2 },
        Message::EventUnexpected { eventid: 2 },
        Message::ResourceDestroy {
            kind: ResourceKind::Event,
            id: 2,
        },
    ];
    for m in &msgs {
        enc.encode(m, &mut out).unwrap();
    }
    out
}

#[test]
fn decoding_allocates_nothing() {
    let wire = sample_stream();
    let mut decoded = 0;
    let mut bytes_seen = 0;
    let n = allocations(|| {
        let mut d = StreamDecoder::new();
        let mut pos = 0;
        while let Ok(m) = d.decode(&wire[pos..]) {
            pos += m.consumed;
            decoded += 1;
            for v in m.message.values() {
                if let Ok(t) = v.typed() {
                    bytes_seen += t.afb_type_name().map_or(0, str::len);
                }
                bytes_seen += v.byte_len();
            }
        }
    });
    assert_eq!(decoded, 9);
    assert!(bytes_seen > 0);
    assert_eq!(n, 0, "allocations while decoding");
}

#[test]
fn websocket_decoding_allocates_nothing() {
    let wire = sample_stream();
    let mut count = 0;
    let n = allocations(|| {
        let mut d = StreamDecoder::new();
        count += d.decode_ws_message(&wire[..9]).count();
        count += d.decode_ws_message(&wire[9..]).count();
    });
    assert_eq!(count, 9);
    assert_eq!(n, 0);
}

#[test]
fn any_bytes_allocate_nothing() {
    // Pseudo-random inputs (xorshift), made before measuring, biased towards the bytes of
    // chunk headers so that deep paths are reached.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let inputs: Vec<Vec<u8>> = (0..2000)
        .map(|_| {
            let len = (next() % 200) as usize;
            (0..len)
                .map(|_| match next() % 6 {
                    0 => 0xff,
                    1 => 0,
                    2 => 0xfc,
                    _ => next() as u8,
                })
                .collect()
        })
        .collect();
    let valid = sample_stream();
    let mut outcomes = 0;
    let n = allocations(|| {
        for input in &inputs {
            for phase in [Phase::Version, Phase::Chunks] {
                let mut d = StreamDecoder::new();
                d.set_phase(phase);
                let mut pos = 0;
                while let Ok(m) = d.decode(&input[pos..]) {
                    pos += m.consumed;
                    outcomes += m.message.values().iter().count();
                }
                outcomes += d.decode_ws_message(input).count();
            }
            // Damaged valid traffic.
            let mut d = StreamDecoder::new();
            let mut pos = 0;
            let cut = &valid[..input.len().min(valid.len())];
            while let Ok(m) = d.decode(&cut[pos..]) {
                pos += m.consumed;
                outcomes += 1;
            }
        }
    });
    assert!(outcomes > 0);
    assert_eq!(n, 0);
}

#[test]
fn encoding_into_a_buffer_with_room_allocates_nothing() {
    let mut out = Vec::with_capacity(256);
    let values = [Value::json(r#"{"a":1}"#), Value::Scalar(Scalar::I32(7))];
    let mut written = 0;
    let n = allocations(|| {
        let mut enc = Encoder::new();
        for _ in 0..4 {
            written += enc
                .encode(
                    &Message::CallReply(CallReply {
                        callid: 1,
                        status: 0,
                        values: Values::new(&values),
                    }),
                    &mut out,
                )
                .unwrap();
        }
        written += encode(&Message::VersionSet { version: 3 }, 0, &mut out).unwrap();
    });
    // 16 + 2 + JSON 14 + 2 + I32 10 = 44 -> 48 bytes a reply.
    assert_eq!(written, 4 * 48 + 4);
    assert_eq!(n, 0);
}
