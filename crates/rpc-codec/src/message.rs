//! The messages of RPC v3: the two version messages and the nine chunk operations, as one
//! [`Message`] enum borrowing its texts and bytes.
//!
//! Ids are u16 and 0 means "none". Which side's namespace an id belongs to (sessions, tokens
//! and types of the sender; events of the callee) is the transport's business: the codec only
//! carries the numbers.

use crate::value::{Text, Values};
use crate::wire::{Operation, ResourceKind};

/// Broadcast hops work as in wsapi v1: a broadcast starts with [`BROADCAST_HOP_ORIGIN`] hops
/// and is forwarded with [`forward_hop`] (`hop - 1`, never when 0).
pub use afb_wsapi_codec::message::{forward_hop, BROADCAST_HOP_ORIGIN};

/// The verb of a CALL-REQUEST.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verb<'a> {
    /// A verb name (RES-PLAIN of kind VERB).
    Name(Text<'a>),
    /// A special verb (RES-ID of kind VERB): see [`crate::wire::special_verb`]. Never 0.
    Special(u16),
}

impl<'a> Verb<'a> {
    /// A verb given by name.
    #[must_use]
    pub fn name(name: &'a str) -> Verb<'a> {
        Verb::Name(Text::from(name))
    }
}

/// CALL-REQUEST: call `verb` of `api` with `values`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CallRequest<'a> {
    /// Chosen by the caller, echoed by the reply and by the subscriptions the call makes.
    pub callid: u16,
    /// The API name (RES-PLAIN of kind API); `None` for the callee's default API (no API
    /// parameter, or a RES-ID of kind API). An empty name also means the default API.
    pub api: Option<Text<'a>>,
    /// The verb.
    pub verb: Verb<'a>,
    /// The caller's session id, declared by a RESOURCE-CREATE SESSION; 0 for the link's
    /// default session (no parameter).
    pub session: u16,
    /// The caller's token id, declared by a RESOURCE-CREATE TOKEN; 0 for none.
    pub token: u16,
    /// Credentials on whose behalf to call, `UID:GID:PID-LABEL` (RES-PLAIN of kind CREDS).
    /// C callers never send them.
    pub creds: Option<Text<'a>>,
    /// A timeout in seconds (TIMEOUT parameter; C reads and ignores it, and never sends it).
    pub timeout: Option<u32>,
    /// The arguments.
    pub values: Values<'a>,
}

impl<'a> CallRequest<'a> {
    /// A call of `verb` of the default API, without session, token, credentials, timeout or
    /// values: set the other fields as needed.
    #[must_use]
    pub fn new(callid: u16, verb: Verb<'a>) -> CallRequest<'a> {
        CallRequest {
            callid,
            api: None,
            verb,
            session: 0,
            token: 0,
            creds: None,
            timeout: None,
            values: Values::default(),
        }
    }
}

/// CALL-REPLY: the answer to call `callid`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CallReply<'a> {
    /// The call answered.
    pub callid: u16,
    /// 0 or positive: success; negative: error (see [`crate::status`]).
    pub status: i32,
    /// The reply data.
    pub values: Values<'a>,
}

/// EVENT-PUSH: event `eventid` of the callee fires with `values`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EventPush<'a> {
    /// The event, declared by the callee's RESOURCE-CREATE EVENT.
    pub eventid: u16,
    /// The event data.
    pub values: Values<'a>,
}

/// EVENT-BROADCAST: the event `name` is broadcast with `values`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EventBroadcast<'a> {
    /// The full event name (`api/name`).
    pub name: Text<'a>,
    /// The broadcast's unique id (receivers drop the ones they saw recently).
    pub uuid: [u8; 16],
    /// Remaining hops, as sent (already decremented by the sender).
    pub hop: u8,
    /// The event data.
    pub values: Values<'a>,
}

/// One RPC v3 message: a version message or a chunk.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Message<'a> {
    /// VERSION-OFFER (`V`, initiator to acceptor): the offered versions, 0 being filler. Not
    /// a chunk: no seqno, no alignment. At most 255 bytes.
    VersionOffer {
        /// Offered versions as sent, fillers included.
        versions: &'a [u8],
    },
    /// VERSION-SET (`v`, acceptor to initiator): the chosen version, 0 when none is common.
    /// Not a chunk.
    VersionSet {
        /// The version.
        version: u8,
    },
    /// CALL-REQUEST.
    CallRequest(CallRequest<'a>),
    /// CALL-REPLY.
    CallReply(CallReply<'a>),
    /// EVENT-PUSH.
    EventPush(EventPush<'a>),
    /// EVENT-SUBSCRIBE: the running call `callid` subscribed its caller to `eventid`.
    EventSubscribe {
        /// The running call.
        callid: u16,
        /// The callee's event.
        eventid: u16,
    },
    /// EVENT-UNSUBSCRIBE: the running call `callid` unsubscribed its caller from `eventid`.
    EventUnsubscribe {
        /// The running call.
        callid: u16,
        /// The callee's event.
        eventid: u16,
    },
    /// EVENT-UNEXPECTED: the sender has no use for the receiver's event `eventid`.
    EventUnexpected {
        /// The receiver's event.
        eventid: u16,
    },
    /// EVENT-BROADCAST.
    EventBroadcast(EventBroadcast<'a>),
    /// RESOURCE-CREATE: declare `id` of `kind` as `text` (session uuid, token, event name,
    /// type name). For a kind outside the table, `text` holds the data bytes as they are
    /// (no NUL added or removed); receivers ignore such messages.
    ResourceCreate {
        /// SESSION, TOKEN, EVENT, TYPE, or a number outside the table.
        kind: ResourceKind,
        /// The id declared.
        id: u16,
        /// The resource's text, without its NUL.
        text: Text<'a>,
    },
    /// RESOURCE-DESTROY: forget `id` of `kind`.
    ResourceDestroy {
        /// SESSION, TOKEN, EVENT, TYPE, or a number outside the table.
        kind: ResourceKind,
        /// The id forgotten.
        id: u16,
    },
}

impl<'a> Message<'a> {
    /// The chunk operation of this message, `None` for the version messages.
    #[must_use]
    pub fn operation(&self) -> Option<Operation> {
        Some(match self {
            Message::VersionOffer { .. } | Message::VersionSet { .. } => return None,
            Message::CallRequest(_) => Operation::CallRequest,
            Message::CallReply(_) => Operation::CallReply,
            Message::EventPush(_) => Operation::EventPush,
            Message::EventSubscribe { .. } => Operation::EventSubscribe,
            Message::EventUnsubscribe { .. } => Operation::EventUnsubscribe,
            Message::EventUnexpected { .. } => Operation::EventUnexpected,
            Message::EventBroadcast(_) => Operation::EventBroadcast,
            Message::ResourceCreate { .. } => Operation::ResourceCreate,
            Message::ResourceDestroy { .. } => Operation::ResourceDestroy,
        })
    }

    /// Whether this is VERSION-OFFER or VERSION-SET.
    #[must_use]
    pub fn is_version(&self) -> bool {
        self.operation().is_none()
    }

    /// The values of the message (empty for operations without values).
    #[must_use]
    pub fn values(&self) -> Values<'a> {
        match self {
            Message::CallRequest(m) => m.values,
            Message::CallReply(m) => m.values,
            Message::EventPush(m) => m.values,
            Message::EventBroadcast(m) => m.values,
            _ => Values::default(),
        }
    }
}
