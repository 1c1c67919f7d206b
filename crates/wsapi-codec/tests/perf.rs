//! Rough throughput check of the hot path (ignored by default; run with
//! `cargo test --release -p afb-wsapi-codec --test perf -- --ignored --nocapture`).

use afb_wsapi_codec::frame::FrameDecoder;
use afb_wsapi_codec::{decode, encode_framed, FrameEvent, Message};
use std::time::Instant;

#[test]
#[ignore = "timing, not a correctness test"]
fn call_and_reply_throughput() {
    const N: usize = 1_000_000;
    // Encode N calls as frames into one reused buffer, as a send queue would.
    let start = Instant::now();
    let mut wire = Vec::new();
    for i in 0..N {
        let msg = Message::Call {
            callid: i as u16,
            verb: "ping",
            sessionid: 1,
            tokenid: 1,
            args: r#"{"a":1,"text":"some argument text"}"#,
            user_creds: None,
        };
        encode_framed(&msg, &mut wire);
    }
    let encode_time = start.elapsed();
    // Decode them from 64 KiB reads: frames, then messages.
    let start = Instant::now();
    let mut decoder = FrameDecoder::default();
    let mut count = 0;
    for read in wire.chunks(65536) {
        let mut input = read;
        while let Some(event) = decoder.decode(&mut input).unwrap() {
            let FrameEvent::Binary(bytes) = event else {
                panic!("not binary")
            };
            let Message::Call { verb, .. } = decode(&bytes).unwrap() else {
                panic!("not a call")
            };
            assert_eq!(verb, "ping");
            count += 1;
        }
    }
    let decode_time = start.elapsed();
    assert_eq!(count, N);
    println!(
        "{N} calls ({} bytes): encode+frame {:.0} ns/msg, unframe+decode {:.0} ns/msg",
        wire.len(),
        encode_time.as_nanos() as f64 / N as f64,
        decode_time.as_nanos() as f64 / N as f64
    );
}
