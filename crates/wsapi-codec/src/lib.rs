//! Pure codec (no I/O, no async) of **wsapi version 1**, the binary protocol that links
//! binders (`--ws-server` / `--ws-client`), and of the RFC 6455 WebSocket framing that carries
//! it on a raw stream socket (no HTTP handshake).
//!
//! - [`message`]: the [`Message`] enum with zero-copy [`decode`] and allocation-free [`encode`]
//!   into a reused buffer; protocol constants; helpers for version choice, broadcast hops and
//!   JSON text received in `object` fields.
//! - [`frame`]: an incremental [`FrameDecoder`] (fragment reassembly, masking, control frames,
//!   a bound on the whole message size) and frame encoders.
//!
//! Each wsapi message travels as the payload of one binary frame; [`encode_framed`] appends
//! such a frame in one pass.

#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

pub mod frame;
pub mod message;

pub use frame::{FrameDecoder, FrameError, FrameEvent};
pub use message::{
    decode, encode, encode_to_vec, object_to_json, DecodeError, Direction, Message, BROADCAST_HOP_ORIGIN, MAX_PENDING,
    PROTOCOL_MAGIC, VERSION_1,
};

/// Appends `msg` as one complete unmasked binary frame with FIN set (the way the C binders send
/// every wsapi message): the frame header, then the message bytes, with no intermediate copy.
///
/// # Panics
/// As [`encode`].
pub fn encode_framed(msg: &Message<'_>, out: &mut Vec<u8>) {
    let len = msg.encoded_len();
    out.reserve(frame::MAX_HEADER_LEN + len);
    frame::encode_header(frame::OpCode::Binary, true, len, None, out);
    encode(msg, out);
}
