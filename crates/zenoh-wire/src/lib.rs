//! What the binder puts on a Zenoh network, as pure functions (no sockets, no
//! `zenoh` crate): the key space ([`keys`]) and the attachments and payloads
//! beside the call data ([`wire`]). Everything here parses bytes and names that
//! a foreign peer controls, so it is property-tested and fuzzed on its own
//! (`fuzz/fuzz_targets/zenoh_wire.rs`); `afb-zenoh` adapts it to a Zenoh
//! session.

#![forbid(unsafe_code)]

pub mod keys;
pub mod wire;
