//! Fuzzes the RPC v3 decoder. The first input byte chooses the mode: bit 0 starts in the
//! version phase (else in chunks), bit 1 decodes WebSocket messages (else a byte stream),
//! bits 2-7 give a read size for the stream. Arbitrary bytes must never panic; a stream fed in
//! pieces must give what it gives at once; whatever decodes must re-encode into bytes that
//! decode to the same message, with the announced size.
#![no_main]
use afb_rpc_codec::{encode_to_vec, encoded_len, DecodeError, Message, Phase, StreamDecoder};
use libfuzzer_sys::fuzz_target;

/// A small maximum chunk length, so that "too long" is reached too.
const MAX_CHUNK: usize = 4096;

fn decoder(phase: Phase) -> StreamDecoder {
    let mut d = StreamDecoder::new().with_max_chunk_len(MAX_CHUNK);
    d.set_phase(phase);
    d
}

/// Re-encodes a decoded message and decodes it again.
fn check(msg: &Message<'_>, seqno: u16) {
    let wire = encode_to_vec(msg, seqno).expect("what decodes can be encoded");
    assert_eq!(encoded_len(msg), Ok(wire.len()));
    let phase = if msg.is_version() { Phase::Version } else { Phase::Chunks };
    // Re-encoded chunks can exceed the small maximum only if the input did: use the default.
    let mut d = StreamDecoder::new();
    d.set_phase(phase);
    let again = d.decode(&wire).expect("what we encode decodes");
    assert_eq!(&again.message, msg);
    assert_eq!(again.consumed, wire.len());
    if !msg.is_version() {
        assert_eq!(again.seqno, seqno);
        assert_eq!(wire.len() % 8, 0);
    }
}

/// Decodes a stream given in pieces of `step` bytes (0: all at once): what each message
/// looked like, and how decoding ended. (Where a message starts is not compared: the padding
/// of a chunk is consumed with it when it is there, else at the next call.)
fn stream(data: &[u8], phase: Phase, step: usize) -> (Vec<String>, Option<DecodeError>) {
    let mut d = decoder(phase);
    let mut received = if step == 0 { data.len() } else { 0 };
    let mut pos = 0;
    let mut seen = Vec::new();
    loop {
        match d.decode(&data[pos..received]) {
            Ok(m) => {
                assert!(m.consumed > 0 && pos + m.consumed <= received);
                check(&m.message, m.seqno);
                seen.push(format!("{} {:?}", m.seqno, m.message));
                pos += m.consumed;
            }
            Err(DecodeError::Incomplete { needed }) => {
                assert!(needed > received - pos);
                if received == data.len() {
                    return (seen, None);
                }
                received = (received + step.max(1)).min(data.len());
            }
            Err(fatal) => return (seen, Some(fatal)),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let phase = if mode & 1 == 1 { Phase::Version } else { Phase::Chunks };
    if mode & 2 == 0 {
        let whole = stream(rest, phase, 0);
        let pieces = stream(rest, phase, usize::from(mode >> 2) + 1);
        assert_eq!(whole, pieces);
    } else {
        // WebSocket messages: each one is a length byte and that many bytes.
        let mut d = decoder(phase);
        let mut input = rest;
        while let Some((&len, tail)) = input.split_first() {
            let (msg, next) = tail.split_at(usize::from(len).min(tail.len()));
            input = next;
            for m in d.decode_ws_message(msg).flatten() {
                check(&m.message, m.seqno);
            }
        }
    }
});
