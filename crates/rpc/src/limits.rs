//! The bounds of one link, besides [`crate::RpcOptions`] (see
//! docs/SECURITY.md). A peer going past one of them breaks the protocol:
//! its link ends with a log line.

/// Longest session uuid a peer may declare, in bytes.
pub const MAX_SESSION_UUID: usize = 256;

/// Longest token a peer may declare, in bytes.
pub const MAX_TOKEN: usize = 4096;

/// Bytes of session uuids and tokens a peer may keep declared at once.
pub const MAX_DECLARED_BYTES: usize = 4 << 20;

/// Tokens this side keeps declared on a link; beyond, the least recently
/// used is destroyed.
pub const MAX_TOKENS: usize = 1024;

/// Longest event name a peer may declare, in bytes.
pub const MAX_EVENT_NAME: usize = 1024;

/// Types a peer may declare on a link.
pub const MAX_TYPES: usize = 256;

/// Longest name of a binding's type a peer may declare, in bytes.
pub const MAX_TYPE_NAME: usize = 256;
