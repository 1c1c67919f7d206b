//! Numbers of the RPC v3 wire format: operation codes, parameter types, resource kinds,
//! special verb ids, alignment and size limits.
//!
//! Every integer on the wire is little-endian. A chunk starts with an 8-byte header (operation,
//! seqno, length) and occupies its length rounded up to a multiple of 8; parameters inside a
//! chunk are placed at fixed positions modulo 8 (see [`mod@crate::encode`]).

use std::fmt;

/// Size of the chunk header: u16 operation, u16 seqno, u32 length.
pub const HEADER_LEN: usize = 8;

/// Chunks start at multiples of this many bytes from the stream origin.
pub const CHUNK_ALIGN: usize = 8;

/// At most this many values (VALUE, VALUE-TYPED, VALUE-DATA) in one chunk, as the C receiver.
pub const MAX_VALUES: usize = 64;

/// At most this many calls outstanding on one link, as the C caller (the next call fails
/// `not-available` there).
pub const MAX_PENDING_CALLS: usize = 4095;

/// The largest parameter (its 4-byte type and length fields included): the length is a u16.
pub const MAX_PARAM_LEN: usize = 0xffff;

/// The largest byte count of a VALUE-TYPED parameter (6 bytes of header).
pub const MAX_TYPED_VALUE_LEN: usize = MAX_PARAM_LEN - 6;

/// The largest byte count of an untyped VALUE parameter (4 bytes of header).
pub const MAX_UNTYPED_VALUE_LEN: usize = MAX_PARAM_LEN - 4;

/// The longest text of a RES-PLAIN parameter, its NUL excluded (6 bytes of header, 1 of NUL).
pub const MAX_PLAIN_TEXT_LEN: usize = MAX_PARAM_LEN - 7;

/// The longest data of a RESOURCE-CREATE (text and NUL). The C sender keeps only 16 bits of
/// the length, so neither side goes beyond.
pub const MAX_RESOURCE_DATA_LEN: usize = 0xffff;

/// The longest event name of an EVENT-BROADCAST, its NUL excluded (the name length is a u16
/// that counts the NUL).
pub const MAX_BROADCAST_NAME_LEN: usize = 0xffff - 1;

/// Default bound on the `length` field of a received chunk: 72 x 64 KiB = 4.5 MiB. It is above
/// the largest chunk this crate can encode (64 values of the largest size plus API, verb,
/// credentials and a broadcast name of the largest size, with their padding: about 4.4 MB), so
/// every legitimate chunk fits, and a peer cannot make a receiver buffer more.
pub const DEFAULT_MAX_CHUNK_LEN: usize = 72 * 65536;

/// The number of bytes a chunk of `length` bytes occupies in the stream: `length` rounded up
/// to a multiple of [`CHUNK_ALIGN`].
#[must_use]
pub const fn padded_len(length: usize) -> usize {
    length.div_ceil(CHUNK_ALIGN) * CHUNK_ALIGN
}

/// Operation codes (first u16 of a chunk).
pub mod op {
    /// Call a verb.
    pub const CALL_REQUEST: u16 = 0xffff;
    /// Reply to a call.
    pub const CALL_REPLY: u16 = 0xfffe;
    /// Push an event to the subscribers.
    pub const EVENT_PUSH: u16 = 0xfffd;
    /// A running call subscribed its caller to an event.
    pub const EVENT_SUBSCRIBE: u16 = 0xfffc;
    /// A running call unsubscribed its caller from an event.
    pub const EVENT_UNSUBSCRIBE: u16 = 0xfffb;
    /// The receiver of a push does not want (or know) that event.
    pub const EVENT_UNEXPECTED: u16 = 0xfffa;
    /// Broadcast an event by name.
    pub const EVENT_BROADCAST: u16 = 0xfff9;
    /// Declare a resource (session, token, event, type) under an id.
    pub const RESOURCE_CREATE: u16 = 0xfff8;
    /// Forget a resource id.
    pub const RESOURCE_DESTROY: u16 = 0xfff7;
}

/// Parameter types (first u16 of a parameter).
pub mod param {
    /// Two bytes of padding (a bare word: no length follows).
    pub const PADDING: u16 = 0x0000;
    /// A resource named by id: u16 kind, u16 id.
    pub const RES_ID: u16 = 0xffff;
    /// A resource given in plain: u16 kind, text with NUL.
    pub const RES_PLAIN: u16 = 0xfffe;
    /// An untyped value: bytes.
    pub const VALUE: u16 = 0xfffd;
    /// A typed value: u16 type id, bytes.
    pub const VALUE_TYPED: u16 = 0xfffc;
    /// A reference to a DATA resource: u16 data id.
    pub const VALUE_DATA: u16 = 0xfffb;
    /// A timeout: u32 seconds.
    pub const TIMEOUT: u16 = 0xfffa;
}

/// Verb ids given as a RES-ID of kind VERB instead of a verb name.
pub mod special_verb {
    /// Ask for the description of the API (the only one the C binder implements).
    pub const DESCRIBE: u16 = 0xffff;
    /// Ask for the verb ids (not implemented by C: fatal there).
    pub const GET_VERBIDS: u16 = 0xfffe;
    /// Set interfaces (not implemented by C: fatal there).
    pub const SET_INTERFACES: u16 = 0xfffd;
}

/// The nine operations of RPC v3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// `0xffff`: call a verb.
    CallRequest,
    /// `0xfffe`: reply to a call.
    CallReply,
    /// `0xfffd`: push an event.
    EventPush,
    /// `0xfffc`: subscription made by a running call.
    EventSubscribe,
    /// `0xfffb`: unsubscription made by a running call.
    EventUnsubscribe,
    /// `0xfffa`: an event the receiver does not want.
    EventUnexpected,
    /// `0xfff9`: broadcast by name.
    EventBroadcast,
    /// `0xfff8`: declare a resource.
    ResourceCreate,
    /// `0xfff7`: forget a resource.
    ResourceDestroy,
}

impl Operation {
    /// The operation of a code, `None` for an unknown code (fatal on receipt).
    #[must_use]
    pub fn from_code(code: u16) -> Option<Operation> {
        Some(match code {
            op::CALL_REQUEST => Operation::CallRequest,
            op::CALL_REPLY => Operation::CallReply,
            op::EVENT_PUSH => Operation::EventPush,
            op::EVENT_SUBSCRIBE => Operation::EventSubscribe,
            op::EVENT_UNSUBSCRIBE => Operation::EventUnsubscribe,
            op::EVENT_UNEXPECTED => Operation::EventUnexpected,
            op::EVENT_BROADCAST => Operation::EventBroadcast,
            op::RESOURCE_CREATE => Operation::ResourceCreate,
            op::RESOURCE_DESTROY => Operation::ResourceDestroy,
            _ => return None,
        })
    }

    /// The code of this operation.
    #[must_use]
    pub fn code(self) -> u16 {
        match self {
            Operation::CallRequest => op::CALL_REQUEST,
            Operation::CallReply => op::CALL_REPLY,
            Operation::EventPush => op::EVENT_PUSH,
            Operation::EventSubscribe => op::EVENT_SUBSCRIBE,
            Operation::EventUnsubscribe => op::EVENT_UNSUBSCRIBE,
            Operation::EventUnexpected => op::EVENT_UNEXPECTED,
            Operation::EventBroadcast => op::EVENT_BROADCAST,
            Operation::ResourceCreate => op::RESOURCE_CREATE,
            Operation::ResourceDestroy => op::RESOURCE_DESTROY,
        }
    }

    /// The name of this operation, as in the documentation (`CALL-REQUEST`, ...).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Operation::CallRequest => "CALL-REQUEST",
            Operation::CallReply => "CALL-REPLY",
            Operation::EventPush => "EVENT-PUSH",
            Operation::EventSubscribe => "EVENT-SUBSCRIBE",
            Operation::EventUnsubscribe => "EVENT-UNSUBSCRIBE",
            Operation::EventUnexpected => "EVENT-UNEXPECTED",
            Operation::EventBroadcast => "EVENT-BROADCAST",
            Operation::ResourceCreate => "RESOURCE-CREATE",
            Operation::ResourceDestroy => "RESOURCE-DESTROY",
        }
    }

    /// The length of the header and fixed part of this operation: the smallest valid chunk
    /// length (for EVENT-BROADCAST, without the event name).
    #[must_use]
    pub fn fixed_len(self) -> usize {
        match self {
            Operation::CallRequest | Operation::EventPush => 12,
            Operation::CallReply => 16,
            Operation::EventSubscribe
            | Operation::EventUnsubscribe
            | Operation::ResourceCreate
            | Operation::ResourceDestroy => 12,
            Operation::EventUnexpected => 10,
            Operation::EventBroadcast => 29,
        }
    }

    /// Whether chunks of this operation have exactly [`Operation::fixed_len`] bytes (no
    /// parameters, no data).
    #[must_use]
    pub fn has_fixed_len(self) -> bool {
        matches!(
            self,
            Operation::EventSubscribe
                | Operation::EventUnsubscribe
                | Operation::EventUnexpected
                | Operation::ResourceDestroy
        )
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Resource kinds, as in RES-ID and RES-PLAIN parameters and RESOURCE-CREATE/DESTROY.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceKind {
    /// `0xffff`: a session, created with its uuid.
    Session,
    /// `0xfffe`: a token, created with its text.
    Token,
    /// `0xfffd`: an event, created by its owner with its full name `api/name`.
    Event,
    /// `0xfffc`: an API (RES-PLAIN in a call; not creatable).
    Api,
    /// `0xfffb`: a verb (RES-PLAIN name or RES-ID special verb in a call; not creatable).
    Verb,
    /// `0xfffa`: a type, created with its name.
    Type,
    /// `0xfff9`: a data (not creatable).
    Data,
    /// `0xfff8`: a kind (not creatable).
    Kind,
    /// `0xfff7`: credentials (RES-PLAIN in a call; not creatable).
    Creds,
    /// `0xfff6`: an operator (not creatable).
    Operator,
    /// A number outside the table (RESOURCE-CREATE/DESTROY of such kinds are ignored by
    /// receivers). Build it with [`ResourceKind::from_code`]: it never holds a known code.
    Other(u16),
}

impl ResourceKind {
    /// The kind of a code.
    #[must_use]
    pub fn from_code(code: u16) -> ResourceKind {
        match code {
            0xffff => ResourceKind::Session,
            0xfffe => ResourceKind::Token,
            0xfffd => ResourceKind::Event,
            0xfffc => ResourceKind::Api,
            0xfffb => ResourceKind::Verb,
            0xfffa => ResourceKind::Type,
            0xfff9 => ResourceKind::Data,
            0xfff8 => ResourceKind::Kind,
            0xfff7 => ResourceKind::Creds,
            0xfff6 => ResourceKind::Operator,
            other => ResourceKind::Other(other),
        }
    }

    /// The code of this kind.
    #[must_use]
    pub fn code(self) -> u16 {
        match self {
            ResourceKind::Session => 0xffff,
            ResourceKind::Token => 0xfffe,
            ResourceKind::Event => 0xfffd,
            ResourceKind::Api => 0xfffc,
            ResourceKind::Verb => 0xfffb,
            ResourceKind::Type => 0xfffa,
            ResourceKind::Data => 0xfff9,
            ResourceKind::Kind => 0xfff8,
            ResourceKind::Creds => 0xfff7,
            ResourceKind::Operator => 0xfff6,
            ResourceKind::Other(code) => code,
        }
    }

    /// Whether RESOURCE-CREATE and RESOURCE-DESTROY accept this kind: SESSION, TOKEN, EVENT,
    /// TYPE, and numbers outside the table (which receivers ignore). The other kinds of the
    /// table are fatal there.
    #[must_use]
    pub fn is_creatable(self) -> bool {
        matches!(
            self,
            ResourceKind::Session
                | ResourceKind::Token
                | ResourceKind::Event
                | ResourceKind::Type
                | ResourceKind::Other(_)
        )
    }

    /// Whether this kind is one of the table (not [`ResourceKind::Other`]).
    #[must_use]
    pub fn is_known(self) -> bool {
        !matches!(self, ResourceKind::Other(_))
    }
}

impl fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            ResourceKind::Session => "SESSION",
            ResourceKind::Token => "TOKEN",
            ResourceKind::Event => "EVENT",
            ResourceKind::Api => "API",
            ResourceKind::Verb => "VERB",
            ResourceKind::Type => "TYPE",
            ResourceKind::Data => "DATA",
            ResourceKind::Kind => "KIND",
            ResourceKind::Creds => "CREDS",
            ResourceKind::Operator => "OPERATOR",
            ResourceKind::Other(code) => return write!(f, "kind 0x{code:04x}"),
        };
        f.write_str(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_round_trip() {
        let known: Vec<u16> = (0..=u16::MAX).filter(|&c| Operation::from_code(c).is_some()).collect();
        assert_eq!(known, (0xfff7..=0xffff).collect::<Vec<_>>());
        for code in known {
            assert_eq!(Operation::from_code(code).map(Operation::code), Some(code));
        }
    }

    #[test]
    fn kinds_round_trip() {
        for code in 0..=u16::MAX {
            let kind = ResourceKind::from_code(code);
            assert_eq!(kind.code(), code);
            assert_eq!(kind.is_known(), code >= 0xfff6);
        }
        let creatable: Vec<u16> = (0xfff6..=0xffff)
            .filter(|&c| ResourceKind::from_code(c).is_creatable())
            .collect();
        assert_eq!(creatable, [0xfffa, 0xfffd, 0xfffe, 0xffff]);
    }

    #[test]
    fn padding() {
        assert_eq!(padded_len(8), 8);
        assert_eq!(padded_len(61), 64);
        assert_eq!(padded_len(49), 56);
        assert_eq!(padded_len(10), 16);
        assert_eq!(padded_len(0), 0);
    }
}
