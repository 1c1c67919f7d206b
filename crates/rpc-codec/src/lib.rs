//! Pure codec (no I/O, no async) of **RPC v3**, the binder-to-binder protocol of redpesk's
//! libafb 5.x (`--rpc-client` / `--rpc-server`, the HTTP upgrades `x-afb-rpc` and
//! `x-afb-ws-rpc`).
//!
//! A link starts with a version message (the initiator's VERSION-OFFER, the acceptor's
//! VERSION-SET), then carries chunks: an 8-byte header (operation, seqno, length), a fixed part,
//! parameters placed at fixed positions modulo 8, zero padding to a multiple of 8.
//!
//! - [`Message`] is every message, borrowing its texts and bytes; [`Values`] / [`Value`] the
//!   values of calls, replies and events; [`types`] reads typed values.
//! - [`encode()`] / [`Encoder`] append a message to a reused `Vec<u8>`, byte-identical to the
//!   C binder's output.
//! - [`StreamDecoder`] decodes a byte stream message by message, telling
//!   [`DecodeError::Incomplete`] (read more) from [`DecodeError::Fatal`] (close the link);
//!   [`StreamDecoder::decode_ws_message`] decodes one WebSocket binary message.
//! - [`wire`] holds the numbers of the format, [`status`] the reply statuses, [`legacy`] the
//!   4-value form of legacy replies, [`version`] the version negotiation shared with wsapi v1.
//!
//! ```
//! use afb_rpc_codec::{CallReply, Encoder, Message, StreamDecoder, Value, Values, Phase};
//! let values = [Value::json("{\"a\":1}")];
//! let reply = Message::CallReply(CallReply { callid: 1, status: 0, values: Values::new(&values) });
//! let mut out = Vec::new();
//! Encoder::new().encode(&reply, &mut out).unwrap();
//! assert_eq!(out.len(), 32);
//! let mut decoder = StreamDecoder::new();
//! decoder.set_phase(Phase::Chunks);
//! let decoded = decoder.decode(&out).unwrap();
//! assert_eq!(decoded.message, reply);
//! assert_eq!(decoded.consumed, 32);
//! ```

#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

pub mod decode;
pub mod encode;
pub mod legacy;
pub mod message;
pub mod status;
pub mod types;
pub mod value;
pub mod version;
pub mod wire;

pub use decode::{DecodeError, Decoded, FatalError, Phase, StreamDecoder, WsMessages};
pub use encode::{encode, encode_to_vec, encoded_len, EncodeError, Encoder};
pub use legacy::{legacy_reply_values, parse_legacy_reply, LegacyReply, LEGACY_TAG};
pub use message::{CallReply, CallRequest, EventBroadcast, EventPush, Message, Verb};
pub use types::{type_id, PredefinedType, TypedValue, ValueError};
pub use value::{Scalar, Text, Value, Values, ValuesIter};
pub use wire::{Operation, ResourceKind, DEFAULT_MAX_CHUNK_LEN, MAX_VALUES};
