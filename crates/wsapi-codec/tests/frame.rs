//! Frame decoder rules (one test per rejection) and property tests: reassembly under arbitrary
//! fragmentation, masking, interleaved control frames and input chunking; bounded memory for
//! oversize messages; chunking never changes the outcome.

use afb_wsapi_codec::frame::{
    encode_binary, encode_close, encode_frame, encode_header, encode_ping, encode_pong, encode_text, CloseFrame,
    FrameDecoder, FrameError, FrameEvent, OpCode,
};
use proptest::prelude::*;

/// Feeds `input` in chunks of the given sizes (cycled), collecting events until the first
/// error; checks the buffer bound after every call.
fn feed_chunked(dec: &mut FrameDecoder, input: &[u8], chunks: &[usize]) -> (Vec<FrameEvent>, Option<FrameError>) {
    let mut events = Vec::new();
    let mut pos = 0;
    let mut sizes = chunks.iter().copied().cycle();
    while pos < input.len() {
        let n = sizes.next().unwrap_or(input.len()).max(1);
        let end = (pos + n).min(input.len());
        let mut chunk = &input[pos..end];
        loop {
            let r = dec.decode(&mut chunk);
            assert!(
                dec.buffer_capacity() <= dec.max_message_size(),
                "capacity {} over limit {}",
                dec.buffer_capacity(),
                dec.max_message_size()
            );
            match r {
                Ok(Some(ev)) => events.push(ev),
                Ok(None) => {
                    assert!(chunk.is_empty(), "Ok(None) with input left");
                    break;
                }
                Err(e) => return (events, Some(e)),
            }
        }
        pos = end;
    }
    (events, None)
}

fn feed(dec: &mut FrameDecoder, input: &[u8]) -> (Vec<FrameEvent>, Option<FrameError>) {
    feed_chunked(dec, input, &[input.len().max(1)])
}

fn one_error(input: &[u8]) -> FrameError {
    let (_, err) = feed(&mut FrameDecoder::new(4096), input);
    err.expect("an error")
}

#[test]
fn unmasked_and_masked_binary() {
    let mut bytes = Vec::new();
    encode_binary(b"hello", &mut bytes);
    encode_frame(OpCode::Binary, true, b"world", Some([1, 2, 3, 4]), &mut bytes);
    assert_ne!(&bytes[bytes.len() - 5..], b"world");
    let (events, err) = feed(&mut FrameDecoder::default(), &bytes);
    assert_eq!(err, None);
    assert_eq!(
        events,
        vec![
            FrameEvent::Binary(b"hello".to_vec()),
            FrameEvent::Binary(b"world".to_vec())
        ]
    );
}

#[test]
fn rfc6455_examples() {
    // Section 5.7: unmasked and masked "Hello", fragmented "Hel"+"lo", ping, 256 bytes.
    let examples: [(&[u8], FrameEvent); 4] = [
        (
            &[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f],
            FrameEvent::Text("Hello".into()),
        ),
        (
            &[0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58],
            FrameEvent::Text("Hello".into()),
        ),
        (
            &[0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f],
            FrameEvent::Text("Hello".into()),
        ),
        (
            &[0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f],
            FrameEvent::Ping(b"Hello".to_vec()),
        ),
    ];
    for (bytes, expected) in examples {
        assert_eq!(feed(&mut FrameDecoder::default(), bytes), (vec![expected], None));
    }
    let mut big = vec![0x82, 0x7E, 0x01, 0x00];
    big.extend(std::iter::repeat_n(7u8, 256));
    assert_eq!(
        feed(&mut FrameDecoder::default(), &big),
        (vec![FrameEvent::Binary(vec![7; 256])], None)
    );
}

#[test]
fn encoders_write_the_expected_headers() {
    let mut out = Vec::new();
    encode_pong(b"ab", &mut out);
    assert_eq!(out, [0x8A, 2, b'a', b'b']);
    out.clear();
    encode_ping(&[0; 200], &mut out);
    assert_eq!(&out[..2], [0x89, 125]);
    out.clear();
    encode_close(Some((1000, "bye")), &mut out);
    assert_eq!(out, [0x88, 5, 0x03, 0xE8, b'b', b'y', b'e']);
    out.clear();
    encode_close(None, &mut out);
    assert_eq!(out, [0x88, 0]);
    out.clear();
    encode_text("é", &mut out);
    assert_eq!(out, [0x81, 2, 0xC3, 0xA9]);
    out.clear();
    encode_header(OpCode::Binary, false, 70000, None, &mut out);
    assert_eq!(out, [0x02, 127, 0, 0, 0, 0, 0, 1, 0x11, 0x70]);
}

#[test]
fn close_frames() {
    assert_eq!(
        feed(&mut FrameDecoder::default(), &[0x88, 0]),
        (vec![FrameEvent::Close(None)], None)
    );
    let mut bytes = Vec::new();
    encode_frame(OpCode::Close, true, b"\x03\xf1why", Some([9, 8, 7, 6]), &mut bytes);
    assert_eq!(
        feed(&mut FrameDecoder::default(), &bytes),
        (
            vec![FrameEvent::Close(Some(CloseFrame {
                code: 1009,
                reason: "why".into()
            }))],
            None
        )
    );
    assert_eq!(one_error(&[0x88, 1, 3]), FrameError::BadClosePayload);
    let bad = one_error(&[0x88, 4, 3, 0xE8, 0xC3, 0x28]);
    assert_eq!(bad, FrameError::InvalidUtf8);
    assert_eq!(bad.close_code(), 1007);
}

#[test]
fn rejects_rsv_bits() {
    for rsv in [0x40, 0x20, 0x10] {
        let e = one_error(&[0x82 | rsv, 0]);
        assert_eq!(e, FrameError::ReservedBits);
        assert_eq!(e.close_code(), 1002);
    }
}

#[test]
fn rejects_reserved_opcodes() {
    for op in (3..=7).chain(11..=15) {
        assert_eq!(one_error(&[0x80 | op, 0]), FrameError::ReservedOpcode(op));
    }
}

#[test]
fn rejects_long_control_frames() {
    for op in [0x88, 0x89, 0x8A] {
        assert_eq!(one_error(&[op, 126, 0, 126]), FrameError::ControlTooLong);
        assert_eq!(one_error(&[op, 127]), FrameError::ControlTooLong);
    }
    // 125 is fine.
    let mut ping = vec![0x89, 125];
    ping.extend([1; 125]);
    assert_eq!(
        feed(&mut FrameDecoder::default(), &ping),
        (vec![FrameEvent::Ping(vec![1; 125])], None)
    );
}

#[test]
fn rejects_fragmented_control_frames() {
    for op in [0x08, 0x09, 0x0A] {
        assert_eq!(one_error(&[op, 0]), FrameError::FragmentedControl);
    }
}

#[test]
fn rejects_continuation_without_start() {
    assert_eq!(one_error(&[0x80, 1, 0]), FrameError::UnexpectedContinuation);
    assert_eq!(one_error(&[0x00, 0]), FrameError::UnexpectedContinuation);
    // After a complete message, too.
    assert_eq!(one_error(&[0x82, 1, 5, 0x80, 1, 6]), FrameError::UnexpectedContinuation);
}

#[test]
fn rejects_new_message_during_fragmented_one() {
    assert_eq!(one_error(&[0x02, 1, 5, 0x82, 1, 6]), FrameError::ExpectedContinuation);
    assert_eq!(one_error(&[0x01, 1, b'a', 0x01, 0]), FrameError::ExpectedContinuation);
}

#[test]
fn rejects_length_with_msb_set() {
    let mut f = vec![0x82, 127];
    f.extend_from_slice(&(1u64 << 63).to_be_bytes());
    assert_eq!(one_error(&f), FrameError::LengthOverflow);
    let mut f = vec![0x82, 0xFF];
    f.extend_from_slice(&u64::MAX.to_be_bytes());
    f.extend_from_slice(&[1, 2, 3, 4]);
    assert_eq!(one_error(&f), FrameError::LengthOverflow);
}

#[test]
fn rejects_oversize_from_header_alone() {
    for len in [4097u64, 1 << 32, 1 << 62, (1 << 63) - 1] {
        let mut f = vec![0x82, 127];
        f.extend_from_slice(&len.to_be_bytes());
        let mut dec = FrameDecoder::new(4096);
        let (_, err) = feed(&mut dec, &f);
        let err = err.unwrap();
        assert_eq!(err, FrameError::MessageTooBig { size: len, limit: 4096 });
        assert_eq!(err.close_code(), 1009);
        assert_eq!(dec.buffer_capacity(), 0);
    }
    let mut f = vec![0x82, 126];
    f.extend_from_slice(&4097u16.to_be_bytes());
    assert!(matches!(one_error(&f), FrameError::MessageTooBig { .. }));
}

#[test]
fn limit_is_inclusive_and_applies_to_whole_message() {
    // Exactly the limit: accepted, whether in one frame or in fragments.
    let mut one = Vec::new();
    encode_binary(&[1; 100], &mut one);
    assert_eq!(
        feed(&mut FrameDecoder::new(100), &one),
        (vec![FrameEvent::Binary(vec![1; 100])], None)
    );
    let mut frags = Vec::new();
    encode_frame(OpCode::Binary, false, &[1; 60], None, &mut frags);
    encode_frame(OpCode::Continuation, true, &[1; 40], None, &mut frags);
    assert_eq!(
        feed(&mut FrameDecoder::new(100), &frags),
        (vec![FrameEvent::Binary(vec![1; 100])], None)
    );
    // One byte more, spread over fragments (defect 9): 1009 at the fragment that crosses it.
    let mut frags = Vec::new();
    encode_frame(OpCode::Binary, false, &[1; 60], None, &mut frags);
    encode_frame(OpCode::Continuation, false, &[1; 40], None, &mut frags);
    encode_frame(OpCode::Continuation, true, &[1; 1], None, &mut frags);
    let mut dec = FrameDecoder::new(100);
    let (events, err) = feed(&mut dec, &frags);
    assert!(events.is_empty());
    assert_eq!(err, Some(FrameError::MessageTooBig { size: 101, limit: 100 }));
}

#[test]
fn many_small_fragments_cannot_exceed_the_limit() {
    // The C binders accepted 30 MB in fragments; with a 1 MB limit we stop at 1 MB.
    let limit = 1 << 20;
    let mut dec = FrameDecoder::new(limit);
    let mut frame = Vec::new();
    encode_frame(OpCode::Binary, false, &[0; 4096], None, &mut frame);
    let mut input: &[u8] = &frame;
    assert_eq!(dec.decode(&mut input), Ok(None));
    let mut cont = Vec::new();
    encode_frame(OpCode::Continuation, false, &[0; 4096], Some([1, 2, 3, 4]), &mut cont);
    let mut sent = 4096;
    let err = loop {
        let mut input: &[u8] = &cont;
        match dec.decode(&mut input) {
            Ok(None) => sent += 4096,
            Ok(Some(ev)) => panic!("unexpected {ev:?}"),
            Err(e) => break e,
        }
        assert!(dec.buffer_capacity() <= limit);
        assert!(sent <= limit);
    };
    assert_eq!(err.close_code(), 1009);
    assert_eq!(sent, limit);
}

#[test]
fn text_must_be_utf8_over_the_whole_message() {
    // A character split across fragments is fine.
    let mut f = Vec::new();
    encode_frame(OpCode::Text, false, &[0xC3], None, &mut f);
    encode_frame(OpCode::Continuation, true, &[0xA9], None, &mut f);
    assert_eq!(
        feed(&mut FrameDecoder::default(), &f),
        (vec![FrameEvent::Text("é".into())], None)
    );
    let e = one_error(&[0x81, 2, 0xC3, 0x28]);
    assert_eq!(e, FrameError::InvalidUtf8);
    assert_eq!(e.close_code(), 1007);
}

#[test]
fn control_frames_between_fragments() {
    let mut f = Vec::new();
    encode_frame(OpCode::Binary, false, b"ab", Some([5, 6, 7, 8]), &mut f);
    encode_ping(b"p1", &mut f);
    encode_frame(OpCode::Continuation, false, b"", None, &mut f);
    encode_frame(OpCode::Pong, true, b"p2", Some([1, 1, 1, 1]), &mut f);
    encode_frame(OpCode::Continuation, true, b"cd", Some([9, 9, 9, 9]), &mut f);
    assert_eq!(
        feed(&mut FrameDecoder::default(), &f),
        (
            vec![
                FrameEvent::Ping(b"p1".to_vec()),
                FrameEvent::Pong(b"p2".to_vec()),
                FrameEvent::Binary(b"abcd".to_vec()),
            ],
            None
        )
    );
}

#[test]
fn decoder_stays_failed_after_an_error() {
    let mut dec = FrameDecoder::default();
    let mut input: &[u8] = &[0x83, 0];
    assert_eq!(dec.decode(&mut input), Err(FrameError::ReservedOpcode(3)));
    let mut input: &[u8] = &[0x82, 0];
    assert_eq!(dec.decode(&mut input), Err(FrameError::ReservedOpcode(3)));
    assert!(!dec.is_idle());
}

#[test]
fn empty_messages_and_idle_state() {
    let mut dec = FrameDecoder::default();
    assert!(dec.is_idle());
    let mut input: &[u8] = &[0x82, 0x00, 0x02];
    assert_eq!(dec.decode(&mut input), Ok(Some(FrameEvent::Binary(Vec::new()))));
    assert!(dec.is_idle());
    assert_eq!(dec.decode(&mut input), Ok(None));
    assert!(!dec.is_idle(), "a partial header is held");
    let mut input: &[u8] = &[0x00];
    assert_eq!(dec.decode(&mut input), Ok(None));
    assert!(!dec.is_idle(), "a fragmented message is in progress");
    let mut input: &[u8] = &[0x80, 0x00];
    assert_eq!(dec.decode(&mut input), Ok(Some(FrameEvent::Binary(Vec::new()))));
    assert!(dec.is_idle());
}

#[test]
fn error_display() {
    let e = FrameError::MessageTooBig { size: 5, limit: 4 };
    assert_eq!(
        e.to_string(),
        "WebSocket message of at least 5 bytes exceeds the limit of 4"
    );
    let _: &dyn std::error::Error = &e;
}

// ---------------------------------------------------------------- properties

/// A control frame: (is_ping, payload, mask).
type Control = (bool, Vec<u8>, Option<[u8; 4]>);

#[derive(Debug, Clone)]
struct Msg {
    text: bool,
    payload: Vec<u8>,
    /// Cut points (any order, duplicates allowed: empty fragments).
    cuts: Vec<usize>,
    /// Mask of each fragment (cycled).
    masks: Vec<Option<[u8; 4]>>,
    /// Control frame to put after each fragment but the last (cycled).
    controls: Vec<Option<Control>>,
}

fn msg() -> impl Strategy<Value = Msg> {
    let payload = prop_oneof![
        8 => proptest::collection::vec(any::<u8>(), 0..300),
        1 => proptest::collection::vec(any::<u8>(), 60_000..70_000),
    ];
    (
        any::<bool>(),
        payload,
        proptest::collection::vec(any::<usize>(), 0..6),
        proptest::collection::vec(proptest::option::of(any::<[u8; 4]>()), 1..4),
        proptest::collection::vec(
            proptest::option::of((
                any::<bool>(),
                proptest::collection::vec(any::<u8>(), 0..=125),
                proptest::option::of(any::<[u8; 4]>()),
            )),
            1..4,
        ),
    )
        .prop_map(|(text, payload, cuts, masks, controls)| {
            let payload = if text {
                String::from_utf8_lossy(&payload).into_owned().into_bytes()
            } else {
                payload
            };
            Msg {
                text,
                payload,
                cuts,
                masks,
                controls,
            }
        })
}

/// The wire bytes of `msgs` and the events a decoder must yield for them.
fn build(msgs: &[Msg]) -> (Vec<u8>, Vec<FrameEvent>) {
    let mut wire = Vec::new();
    let mut events = Vec::new();
    for m in msgs {
        let mut cuts: Vec<usize> = m.cuts.iter().map(|c| c % (m.payload.len() + 1)).collect();
        cuts.sort_unstable();
        let mut bounds = vec![0];
        bounds.extend(cuts);
        bounds.push(m.payload.len());
        let pieces = bounds.len() - 1;
        for i in 0..pieces {
            let op = match (i, m.text) {
                (0, true) => OpCode::Text,
                (0, false) => OpCode::Binary,
                _ => OpCode::Continuation,
            };
            let last = i + 1 == pieces;
            let mask = m.masks[i % m.masks.len()];
            encode_frame(op, last, &m.payload[bounds[i]..bounds[i + 1]], mask, &mut wire);
            if !last {
                if let Some((ping, data, cmask)) = &m.controls[i % m.controls.len()] {
                    let op = if *ping { OpCode::Ping } else { OpCode::Pong };
                    encode_frame(op, true, data, *cmask, &mut wire);
                    events.push(if *ping {
                        FrameEvent::Ping(data.clone())
                    } else {
                        FrameEvent::Pong(data.clone())
                    });
                }
            }
        }
        events.push(if m.text {
            FrameEvent::Text(String::from_utf8(m.payload.clone()).unwrap())
        } else {
            FrameEvent::Binary(m.payload.clone())
        });
    }
    (wire, events)
}

fn chunks() -> impl Strategy<Value = Vec<usize>> {
    prop_oneof![
        proptest::collection::vec(1usize..20, 1..10),
        proptest::collection::vec(1usize..5000, 1..10),
        Just(vec![usize::MAX]),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn reassembles_any_fragmentation_and_chunking(
        msgs in proptest::collection::vec(msg(), 0..6),
        chunks in chunks(),
    ) {
        let (wire, expected) = build(&msgs);
        let mut dec = FrameDecoder::new(1 << 18);
        let (events, err) = feed_chunked(&mut dec, &wire, &chunks);
        prop_assert_eq!(err, None);
        prop_assert!(events == expected, "events differ");
        prop_assert!(dec.is_idle());
    }

    #[test]
    fn oversize_messages_always_fail_with_bounded_memory(
        limit in 1usize..5000,
        extra in 1usize..5000,
        cuts in proptest::collection::vec(any::<usize>(), 0..8),
        masked in any::<bool>(),
        chunks in chunks(),
    ) {
        let m = Msg {
            text: false,
            payload: vec![0x5A; limit + extra],
            cuts,
            masks: vec![masked.then_some([1, 2, 3, 4])],
            controls: vec![Some((true, b"x".to_vec(), None))],
        };
        let (wire, _) = build(&[m]);
        let mut dec = FrameDecoder::new(limit);
        let (events, err) = feed_chunked(&mut dec, &wire, &chunks);
        prop_assert!(events.iter().all(|e| matches!(e, FrameEvent::Ping(_))));
        let err = err.expect("an error");
        prop_assert_eq!(err.close_code(), 1009);
        prop_assert!(dec.buffer_capacity() <= limit);
    }

    #[test]
    fn arbitrary_bytes_same_outcome_whatever_the_chunking(
        bytes in proptest::collection::vec(
            prop_oneof![any::<u8>(), Just(0x82u8), Just(0x02u8), Just(0x80u8), Just(0x89u8), Just(0u8)],
            0..400,
        ),
        chunks in chunks(),
    ) {
        let whole = feed(&mut FrameDecoder::new(256), &bytes);
        let split = feed_chunked(&mut FrameDecoder::new(256), &bytes, &chunks);
        prop_assert_eq!(whole, split);
    }
}
