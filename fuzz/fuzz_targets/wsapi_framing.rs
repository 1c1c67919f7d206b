//! Fuzzes the WebSocket frame decoder with a small maximum message size (4096): arbitrary
//! bytes fed in arbitrary chunk splits must never panic, must keep the decoder's buffer within
//! the limit, and must give the same events and error as feeding everything at once.
#![no_main]
use afb_wsapi_codec::frame::{FrameDecoder, FrameError, FrameEvent};
use libfuzzer_sys::fuzz_target;

const LIMIT: usize = 4096;

/// Feeds `data` cut at the given lengths (cycled; 0 means "the rest"), collecting events up to
/// the first error, and checking the memory bound after every call.
fn run(data: &[u8], cuts: &[u8]) -> (Vec<FrameEvent>, Option<FrameError>) {
    let mut decoder = FrameDecoder::new(LIMIT);
    let mut events = Vec::new();
    let mut rest = data;
    let mut sizes = cuts.iter().cycle();
    while !rest.is_empty() {
        let n = match sizes.next() {
            Some(&0) | None => rest.len(),
            Some(&n) => usize::from(n).min(rest.len()),
        };
        let (mut chunk, tail) = rest.split_at(n);
        rest = tail;
        loop {
            let result = decoder.decode(&mut chunk);
            assert!(decoder.buffer_capacity() <= LIMIT);
            match result {
                Ok(Some(event)) => {
                    if let FrameEvent::Binary(m) = &event {
                        assert!(m.len() <= LIMIT);
                    }
                    if let FrameEvent::Text(m) = &event {
                        assert!(m.len() <= LIMIT);
                    }
                    events.push(event);
                }
                Ok(None) => {
                    assert!(chunk.is_empty());
                    break;
                }
                Err(err) => {
                    // Poisoned: the same error again, whatever comes next.
                    let mut more: &[u8] = &[0x82, 0];
                    assert_eq!(decoder.decode(&mut more), Err(err.clone()));
                    assert!(matches!(err.close_code(), 1002 | 1007 | 1009));
                    return (events, Some(err));
                }
            }
        }
    }
    (events, None)
}

fuzz_target!(|input: &[u8]| {
    // The first byte tells how many of the next bytes are chunk sizes.
    let Some((&n, rest)) = input.split_first() else {
        return;
    };
    let n = usize::from(n % 16).min(rest.len());
    let (cuts, data) = rest.split_at(n);
    let whole = run(data, &[]);
    let split = run(data, cuts);
    assert_eq!(whole, split);
    let bytewise = run(data, &[1]);
    assert_eq!(whole, bytewise);
});
