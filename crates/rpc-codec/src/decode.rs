//! Decoding: the [`StreamDecoder`] for byte streams (raw sockets, TLS, `x-afb-rpc`), its
//! [`StreamDecoder::decode_ws_message`] for WebSocket mode (each binary message holds whole
//! messages), and the errors, split into [`DecodeError::Incomplete`] (wait for more bytes) and
//! [`FatalError`] (close the link).
//!
//! Nothing is allocated: messages borrow their texts and bytes from the input. A chunk's
//! length is checked against the maximum as soon as its 8-byte header is there, so a receiver
//! never buffers more than that maximum for one chunk.
//!
//! What the decoder accepts (the C writer's output and a little more): parameters in any
//! order, padding made of an optional single byte (any value) to reach an even offset then
//! zero words, any bytes in the padding after a chunk, and a last chunk without its padding.
//! What is fatal: everything the C receiver refuses, plus what makes it wait forever (a length
//! below 8, a parameter running past its chunk), plus a few inconsistencies no C sender
//! produces (bytes after the fixed part of the operations without parameters, padding after
//! the last parameter, a text with a NUL inside, a parameter length that does not fit its
//! type).

use std::fmt;

use crate::message::{CallReply, CallRequest, EventBroadcast, EventPush, Message, Verb};
use crate::types::{fixed_size, type_id};
use crate::value::{Text, Value, Values};
use crate::wire::{self, param, Operation, ResourceKind, CHUNK_ALIGN, HEADER_LEN, MAX_VALUES};

/// Why bytes could not be decoded (yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// The message is not complete: read more bytes and call again with all the bytes not
    /// consumed yet. Nothing was consumed.
    Incomplete {
        /// The number of bytes, counted from the start of the buffer given, needed before the
        /// next call can make progress (at least one more than given).
        needed: usize,
    },
    /// The input is malformed: the link must be closed.
    Fatal(FatalError),
}

impl From<FatalError> for DecodeError {
    fn from(e: FatalError) -> Self {
        DecodeError::Fatal(e)
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Incomplete { needed } => write!(f, "incomplete RPC message ({needed} bytes needed)"),
            DecodeError::Fatal(e) => fmt::Display::fmt(e, f),
        }
    }
}

impl std::error::Error for DecodeError {}

/// A malformed input: the link must be closed. Offsets count from the start of the chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FatalError {
    /// A version message was expected and the first byte is neither `V` nor `v`.
    NotVersionMessage {
        /// The byte found.
        byte: u8,
    },
    /// A VERSION-OFFER with another identifier than [`crate::version::PROTOCOL_MAGIC`].
    BadIdentifier {
        /// The identifier found.
        identifier: u32,
    },
    /// A VERSION-SET of version >= 2 followed by another u16 than 4 (a failed negotiation).
    BadVersionTrailer {
        /// The version.
        version: u8,
        /// The u16 found.
        value: u16,
    },
    /// An operation code outside the nine of the protocol.
    UnknownOperation {
        /// The code found.
        code: u16,
    },
    /// A chunk length below the 8 bytes of the header.
    ChunkTooShort {
        /// The length found.
        length: u32,
    },
    /// A chunk length above the decoder's maximum.
    ChunkTooLong {
        /// The length found.
        length: u32,
        /// The maximum.
        max: usize,
    },
    /// A chunk length shorter than the fixed part of its operation, or, for the operations
    /// without parameters, not exactly the fixed part.
    BadChunkLength {
        /// The operation.
        operation: Operation,
        /// The length found.
        length: u32,
    },
    /// A parameter whose length field or body runs past the end of its chunk.
    ParameterOverrun {
        /// The offset of the parameter.
        offset: usize,
    },
    /// Padding (or a lone byte) after the last parameter, up to the end of the chunk.
    TrailingPadding {
        /// Where the padding starts.
        offset: usize,
    },
    /// A parameter length that does not fit the parameter type.
    BadParameterLength {
        /// The offset of the parameter.
        offset: usize,
        /// The parameter type.
        param: u16,
        /// The length found.
        length: u16,
    },
    /// A parameter type outside the table.
    UnknownParameter {
        /// The offset of the parameter.
        offset: usize,
        /// The type found.
        param: u16,
    },
    /// A known parameter type that this operation does not accept (e.g. a TIMEOUT in a
    /// CALL-REPLY).
    UnexpectedParameter {
        /// The operation.
        operation: Operation,
        /// The parameter type.
        param: u16,
    },
    /// A resource kind that this operation does not accept: in a CALL-REQUEST, kinds other
    /// than API, VERB, SESSION, TOKEN, CREDS; in RESOURCE-CREATE/DESTROY, API, VERB, DATA,
    /// KIND, CREDS, OPERATOR.
    UnexpectedResourceKind {
        /// The operation.
        operation: Operation,
        /// The kind found.
        kind: u16,
    },
    /// More than [`MAX_VALUES`] values announced.
    TooManyValues {
        /// The count announced.
        declared: u16,
    },
    /// The number of value parameters differs from the count announced.
    ValueCountMismatch {
        /// The count announced.
        declared: u16,
        /// The number of value parameters found (counting stops one past the announced).
        found: usize,
    },
    /// A VALUE-TYPED of a fixed-size type with another byte count.
    BadValueSize {
        /// The type id.
        type_id: u16,
        /// Its size.
        expected: usize,
        /// The byte count found.
        found: usize,
    },
    /// A VALUE-TYPED of type id 0.
    TypeIdZero,
    /// A text (RES-PLAIN, broadcast name, resource text) that does not end with a NUL.
    TextWithoutNul {
        /// Which text.
        what: &'static str,
    },
    /// A text with a NUL before its end.
    NulInText {
        /// Which text.
        what: &'static str,
    },
    /// A CALL-REQUEST without verb (or with the special verb id 0).
    MissingVerb,
    /// The event name of an EVENT-BROADCAST runs past the end of its chunk.
    BroadcastNameOverrun {
        /// The name length announced.
        namelen: u16,
    },
    /// The data of a RESOURCE-CREATE is longer than [`wire::MAX_RESOURCE_DATA_LEN`].
    ResourceDataTooLong {
        /// Its length.
        len: usize,
    },
    /// A WebSocket message ends inside a version message or a chunk.
    TruncatedMessage {
        /// The bytes the incomplete part would need.
        needed: usize,
        /// The bytes it has.
        available: usize,
    },
}

impl fmt::Display for FatalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            FatalError::NotVersionMessage { byte } => {
                write!(f, "expected an RPC version message, got byte 0x{byte:02x}")
            }
            FatalError::BadIdentifier { identifier } => {
                write!(f, "bad identifier 0x{identifier:08x} in RPC version offer")
            }
            FatalError::BadVersionTrailer { version, value } => {
                write!(f, "RPC version {version} answered with {value} instead of 4")
            }
            FatalError::UnknownOperation { code } => write!(f, "unknown RPC operation 0x{code:04x}"),
            FatalError::ChunkTooShort { length } => write!(f, "RPC chunk length {length} below 8"),
            FatalError::ChunkTooLong { length, max } => {
                write!(f, "RPC chunk length {length} above the maximum of {max}")
            }
            FatalError::BadChunkLength { operation, length } => {
                write!(f, "{operation} chunk of length {length}")
            }
            FatalError::ParameterOverrun { offset } => {
                write!(f, "RPC parameter at offset {offset} runs past its chunk")
            }
            FatalError::TrailingPadding { offset } => {
                write!(f, "RPC padding without parameter at offset {offset}")
            }
            FatalError::BadParameterLength { offset, param, length } => {
                write!(f, "RPC parameter 0x{param:04x} at offset {offset} has length {length}")
            }
            FatalError::UnknownParameter { offset, param } => {
                write!(f, "unknown RPC parameter type 0x{param:04x} at offset {offset}")
            }
            FatalError::UnexpectedParameter { operation, param } => {
                write!(f, "parameter type 0x{param:04x} not allowed in {operation}")
            }
            FatalError::UnexpectedResourceKind { operation, kind } => {
                write!(f, "resource kind 0x{kind:04x} not allowed in {operation}")
            }
            FatalError::TooManyValues { declared } => {
                write!(f, "{declared} values in one RPC chunk (at most {MAX_VALUES})")
            }
            FatalError::ValueCountMismatch { declared, found } => {
                write!(f, "RPC chunk announces {declared} values but holds {found}")
            }
            FatalError::BadValueSize {
                type_id,
                expected,
                found,
            } => write!(
                f,
                "RPC value of type 0x{type_id:04x} has {found} bytes instead of {expected}"
            ),
            FatalError::TypeIdZero => f.write_str("RPC value of type id 0"),
            FatalError::TextWithoutNul { what } => write!(f, "RPC {what} does not end with NUL"),
            FatalError::NulInText { what } => write!(f, "RPC {what} contains a NUL"),
            FatalError::MissingVerb => f.write_str("RPC call request without verb"),
            FatalError::BroadcastNameOverrun { namelen } => {
                write!(f, "RPC broadcast name of {namelen} bytes runs past its chunk")
            }
            FatalError::ResourceDataTooLong { len } => {
                write!(f, "RPC resource data of {len} bytes is too long")
            }
            FatalError::TruncatedMessage { needed, available } => write!(
                f,
                "WebSocket message ends inside an RPC message ({available} of {needed} bytes)"
            ),
        }
    }
}

impl std::error::Error for FatalError {}

/// A decoded message.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decoded<'a> {
    /// The message, borrowing from the input.
    pub message: Message<'a>,
    /// The seqno of the chunk (0 for a version message). Receivers have no use for it.
    pub seqno: u16,
    /// How many bytes of the input were used: the chunk and the padding after it that was
    /// already there (the rest of the padding is skipped at the next call).
    pub consumed: usize,
}

/// What a [`StreamDecoder`] expects next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// A version message (VERSION-OFFER or VERSION-SET): the start of a link.
    Version,
    /// Chunks.
    Chunks,
}

/// Decoder of one direction of a link.
///
/// It starts in [`Phase::Version`]: the first message must be a version message; after it,
/// it decodes chunks, aligned from the first byte after the version message. Give it the
/// bytes received and not yet consumed; it returns one message at a time:
///
/// ```
/// use afb_rpc_codec::{DecodeError, Message, StreamDecoder};
/// let mut decoder = StreamDecoder::new();
/// let received = [0x76, 0x03, 0x04, 0x00]; // VERSION-SET 3, from the socket
/// let mut pos = 0;
/// loop {
///     match decoder.decode(&received[pos..]) {
///         Ok(d) => {
///             assert_eq!(d.message, Message::VersionSet { version: 3 });
///             pos += d.consumed;
///         }
///         Err(DecodeError::Incomplete { .. }) => break, // read more
///         Err(DecodeError::Fatal(e)) => panic!("close the link: {e}"),
///     }
/// }
/// assert_eq!(pos, 4);
/// ```
///
/// State changes only when a message is returned, so after `Incomplete` the same bytes (and
/// more) are given again.
#[derive(Debug, Clone)]
pub struct StreamDecoder {
    max_chunk_len: usize,
    phase: Phase,
    /// Padding bytes of the previous chunk still to skip.
    pending_padding: usize,
}

impl Default for StreamDecoder {
    fn default() -> Self {
        StreamDecoder::new()
    }
}

impl StreamDecoder {
    /// A decoder expecting a version message, with [`wire::DEFAULT_MAX_CHUNK_LEN`].
    #[must_use]
    pub fn new() -> StreamDecoder {
        StreamDecoder {
            max_chunk_len: wire::DEFAULT_MAX_CHUNK_LEN,
            phase: Phase::Version,
            pending_padding: 0,
        }
    }

    /// The same with another maximum chunk length (a chunk announcing more is fatal).
    #[must_use]
    pub fn with_max_chunk_len(mut self, max: usize) -> StreamDecoder {
        self.max_chunk_len = max;
        self
    }

    /// The maximum chunk length.
    #[must_use]
    pub fn max_chunk_len(&self) -> usize {
        self.max_chunk_len
    }

    /// What is expected next.
    #[must_use]
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// Sets what is expected next; the alignment origin restarts at the next byte.
    pub fn set_phase(&mut self, phase: Phase) {
        self.phase = phase;
        self.pending_padding = 0;
    }

    /// Decodes the next message at the start of `buf` (the bytes received and not consumed).
    ///
    /// # Errors
    /// [`DecodeError::Incomplete`] when more bytes are needed, [`DecodeError::Fatal`] when the
    /// input is malformed.
    pub fn decode<'a>(&mut self, buf: &'a [u8]) -> Result<Decoded<'a>, DecodeError> {
        match self.phase {
            Phase::Version => {
                let (message, consumed) = crate::version::decode(buf)?;
                self.phase = Phase::Chunks;
                self.pending_padding = 0;
                Ok(Decoded {
                    message,
                    seqno: 0,
                    consumed,
                })
            }
            Phase::Chunks => {
                let skip = self.pending_padding;
                let rest = buf.get(skip..).ok_or(DecodeError::Incomplete {
                    needed: skip + HEADER_LEN,
                })?;
                let (message, seqno, length) = decode_chunk(rest, self.max_chunk_len).map_err(|e| match e {
                    DecodeError::Incomplete { needed } => DecodeError::Incomplete { needed: skip + needed },
                    fatal => fatal,
                })?;
                let padding = (CHUNK_ALIGN - length % CHUNK_ALIGN) % CHUNK_ALIGN;
                let present = padding.min(rest.len().saturating_sub(length));
                self.pending_padding = padding - present;
                Ok(Decoded {
                    message,
                    seqno,
                    consumed: skip + length + present,
                })
            }
        }
    }

    /// Decodes one WebSocket binary message, which must hold whole messages: the alignment
    /// origin is the start of `msg`, the last chunk may lack its padding, and a message
    /// ending inside a chunk or version message gives [`FatalError::TruncatedMessage`]. The
    /// iterator stops after the first error.
    pub fn decode_ws_message<'a, 'd>(&'d mut self, msg: &'a [u8]) -> WsMessages<'a, 'd> {
        self.pending_padding = 0;
        WsMessages {
            decoder: self,
            msg,
            pos: 0,
            done: false,
        }
    }
}

/// The messages of one WebSocket binary message (see [`StreamDecoder::decode_ws_message`]).
#[derive(Debug)]
pub struct WsMessages<'a, 'd> {
    decoder: &'d mut StreamDecoder,
    msg: &'a [u8],
    pos: usize,
    done: bool,
}

impl<'a> Iterator for WsMessages<'a, '_> {
    type Item = Result<Decoded<'a>, FatalError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let rest = self.msg.get(self.pos..).unwrap_or_default();
        if rest.is_empty() {
            self.done = true;
            return None;
        }
        match self.decoder.decode(rest) {
            Ok(d) => {
                self.pos += d.consumed;
                Some(Ok(d))
            }
            Err(DecodeError::Incomplete { needed }) => {
                self.done = true;
                // Only padding of the last chunk is left: the message is complete.
                if rest.len() <= self.decoder.pending_padding {
                    return None;
                }
                Some(Err(FatalError::TruncatedMessage {
                    needed,
                    available: rest.len(),
                }))
            }
            Err(DecodeError::Fatal(e)) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    let bytes = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes(bytes.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    let bytes = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes(bytes.try_into().ok()?))
}

/// A u16 of the fixed part (its presence was checked with the chunk length).
fn fixed_u16(chunk: &[u8], at: usize, op: Operation) -> Result<u16, FatalError> {
    u16_at(chunk, at).ok_or(FatalError::BadChunkLength {
        operation: op,
        length: u32::try_from(chunk.len()).unwrap_or(u32::MAX),
    })
}

/// A text followed by its NUL, and nothing after: the text without the NUL.
fn text_with_nul<'a>(bytes: &'a [u8], what: &'static str) -> Result<Text<'a>, FatalError> {
    match bytes.split_last() {
        Some((0, text)) if !text.contains(&0) => Ok(Text::new(text)),
        Some((0, _)) => Err(FatalError::NulInText { what }),
        _ => Err(FatalError::TextWithoutNul { what }),
    }
}

/// Decodes the chunk at the start of `buf`: the message, its seqno and its length (padding
/// excluded).
fn decode_chunk(buf: &[u8], max_len: usize) -> Result<(Message<'_>, u16, usize), DecodeError> {
    let Some(code) = u16_at(buf, 0) else {
        return Err(DecodeError::Incomplete { needed: HEADER_LEN });
    };
    let op = Operation::from_code(code).ok_or(FatalError::UnknownOperation { code })?;
    let (Some(seqno), Some(length)) = (u16_at(buf, 2), u32_at(buf, 4)) else {
        return Err(DecodeError::Incomplete { needed: HEADER_LEN });
    };
    if length < 8 {
        return Err(FatalError::ChunkTooShort { length }.into());
    }
    let len = match usize::try_from(length) {
        Ok(len) if len <= max_len => len,
        _ => return Err(FatalError::ChunkTooLong { length, max: max_len }.into()),
    };
    if len < op.fixed_len() || (op.has_fixed_len() && len != op.fixed_len()) {
        return Err(FatalError::BadChunkLength { operation: op, length }.into());
    }
    let chunk = buf.get(..len).ok_or(DecodeError::Incomplete { needed: len })?;
    Ok((decode_body(op, chunk)?, seqno, len))
}

fn check_count(declared: u16) -> Result<(), FatalError> {
    if usize::from(declared) > MAX_VALUES {
        Err(FatalError::TooManyValues { declared })
    } else {
        Ok(())
    }
}

/// Counts one more value against the announced count.
fn count_value(count: &mut usize, declared: u16) -> Result<(), FatalError> {
    *count += 1;
    if *count > usize::from(declared) {
        return Err(FatalError::ValueCountMismatch {
            declared,
            found: *count,
        });
    }
    Ok(())
}

fn check_final_count(count: usize, declared: u16) -> Result<(), FatalError> {
    if count == usize::from(declared) {
        Ok(())
    } else {
        Err(FatalError::ValueCountMismatch { declared, found: count })
    }
}

/// Values-only parameters from `start`, checked; `declared` of them.
fn values_only(chunk: &[u8], start: usize, declared: u16, op: Operation) -> Result<Values<'_>, FatalError> {
    check_count(declared)?;
    let mut count = 0;
    for p in ParamReader::new(chunk, start) {
        match p? {
            Param::Value(_) => count_value(&mut count, declared)?,
            other => {
                return Err(FatalError::UnexpectedParameter {
                    operation: op,
                    param: other.code(),
                })
            }
        }
    }
    check_final_count(count, declared)?;
    Ok(Values::wire(chunk, start, declared))
}

fn decode_body(op: Operation, chunk: &[u8]) -> Result<Message<'_>, FatalError> {
    let u16_at_fixed = |at| fixed_u16(chunk, at, op);
    Ok(match op {
        Operation::CallRequest => Message::CallRequest(decode_call_request(chunk)?),
        Operation::CallReply => {
            let status =
                u32_at(chunk, 12)
                    .map(|v| i32::from_le_bytes(v.to_le_bytes()))
                    .ok_or(FatalError::BadChunkLength {
                        operation: op,
                        length: u32::try_from(chunk.len()).unwrap_or(u32::MAX),
                    })?;
            Message::CallReply(CallReply {
                callid: u16_at_fixed(8)?,
                status,
                values: values_only(chunk, 16, u16_at_fixed(10)?, op)?,
            })
        }
        Operation::EventPush => Message::EventPush(EventPush {
            eventid: u16_at_fixed(8)?,
            values: values_only(chunk, 12, u16_at_fixed(10)?, op)?,
        }),
        Operation::EventSubscribe => Message::EventSubscribe {
            callid: u16_at_fixed(8)?,
            eventid: u16_at_fixed(10)?,
        },
        Operation::EventUnsubscribe => Message::EventUnsubscribe {
            callid: u16_at_fixed(8)?,
            eventid: u16_at_fixed(10)?,
        },
        Operation::EventUnexpected => Message::EventUnexpected {
            eventid: u16_at_fixed(8)?,
        },
        Operation::EventBroadcast => {
            let declared = u16_at_fixed(8)?;
            let namelen = u16_at_fixed(10)?;
            let (uuid, hop) = match (chunk.get(12..28), chunk.get(28)) {
                (Some(uuid), Some(&hop)) => (uuid.try_into().unwrap_or([0; 16]), hop),
                _ => return Err(FatalError::BroadcastNameOverrun { namelen }),
            };
            let name_end = 29 + usize::from(namelen);
            let name = chunk
                .get(29..name_end)
                .ok_or(FatalError::BroadcastNameOverrun { namelen })?;
            Message::EventBroadcast(EventBroadcast {
                name: text_with_nul(name, "broadcast event name")?,
                uuid,
                hop,
                values: values_only(chunk, name_end, declared, op)?,
            })
        }
        Operation::ResourceCreate => {
            let kind = resource_kind(u16_at_fixed(8)?, op)?;
            let data = chunk.get(12..).unwrap_or_default();
            if data.len() > wire::MAX_RESOURCE_DATA_LEN {
                return Err(FatalError::ResourceDataTooLong { len: data.len() });
            }
            Message::ResourceCreate {
                kind,
                id: u16_at_fixed(10)?,
                text: if kind.is_known() {
                    text_with_nul(data, "resource text")?
                } else {
                    Text::new(data)
                },
            }
        }
        Operation::ResourceDestroy => Message::ResourceDestroy {
            kind: resource_kind(u16_at_fixed(8)?, op)?,
            id: u16_at_fixed(10)?,
        },
    })
}

/// The kind of a RESOURCE-CREATE/DESTROY: refused when not creatable.
fn resource_kind(code: u16, op: Operation) -> Result<ResourceKind, FatalError> {
    let kind = ResourceKind::from_code(code);
    if kind.is_creatable() {
        Ok(kind)
    } else {
        Err(FatalError::UnexpectedResourceKind {
            operation: op,
            kind: code,
        })
    }
}

fn decode_call_request(chunk: &[u8]) -> Result<CallRequest<'_>, FatalError> {
    let op = Operation::CallRequest;
    let callid = fixed_u16(chunk, 8, op)?;
    let declared = fixed_u16(chunk, 10, op)?;
    check_count(declared)?;
    let mut call = CallRequest::new(callid, Verb::Special(0));
    let mut verb = None;
    let mut count = 0;
    // Where the values start: reading them later skips the parameters before.
    let mut first_value = None;
    // Parameters in any order; for each kind the last one wins.
    let mut params = ParamReader::new(chunk, 12);
    loop {
        let at = params.pos;
        let Some(p) = params.next() else { break };
        match p? {
            Param::ResId { kind, id } => match ResourceKind::from_code(kind) {
                ResourceKind::Api => call.api = None,
                ResourceKind::Verb => verb = (id != 0).then_some(Verb::Special(id)),
                ResourceKind::Session => call.session = id,
                ResourceKind::Token => call.token = id,
                ResourceKind::Creds => call.creds = None,
                _ => return Err(FatalError::UnexpectedResourceKind { operation: op, kind }),
            },
            Param::ResPlain { kind, text } => match ResourceKind::from_code(kind) {
                ResourceKind::Api => call.api = Some(text),
                ResourceKind::Verb => verb = Some(Verb::Name(text)),
                // Sessions and tokens travel by id only: a plain one means "none".
                ResourceKind::Session => call.session = 0,
                ResourceKind::Token => call.token = 0,
                ResourceKind::Creds => call.creds = Some(text),
                _ => return Err(FatalError::UnexpectedResourceKind { operation: op, kind }),
            },
            Param::Timeout(seconds) => call.timeout = Some(seconds),
            Param::Value(_) => {
                first_value.get_or_insert(at);
                count_value(&mut count, declared)?
            }
        }
    }
    check_final_count(count, declared)?;
    call.verb = verb.ok_or(FatalError::MissingVerb)?;
    call.values = Values::wire(chunk, first_value.unwrap_or(12), declared);
    Ok(call)
}

/// One parameter.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Param<'a> {
    ResId { kind: u16, id: u16 },
    ResPlain { kind: u16, text: Text<'a> },
    Value(Value<'a>),
    Timeout(u32),
}

impl Param<'_> {
    fn code(&self) -> u16 {
        match self {
            Param::ResId { .. } => param::RES_ID,
            Param::ResPlain { .. } => param::RES_PLAIN,
            Param::Value(v) => v.param_type(),
            Param::Timeout(_) => param::TIMEOUT,
        }
    }
}

/// Reads the parameters of a chunk (cut at its length) from an offset, skipping padding.
#[derive(Debug, Clone)]
pub(crate) struct ParamReader<'a> {
    chunk: &'a [u8],
    pos: usize,
}

impl<'a> ParamReader<'a> {
    pub(crate) fn new(chunk: &'a [u8], start: usize) -> ParamReader<'a> {
        ParamReader { chunk, pos: start }
    }

    fn read(&mut self) -> Result<Param<'a>, FatalError> {
        let chunk = self.chunk;
        let start = self.pos;
        // Padding: one byte to an even offset, then zero words.
        let mut pos = start + start % 2;
        let code = loop {
            match u16_at(chunk, pos) {
                None => return Err(FatalError::TrailingPadding { offset: start }),
                Some(param::PADDING) => pos += 2,
                Some(code) => break code,
            }
        };
        let offset = pos;
        let length = u16_at(chunk, pos + 2).ok_or(FatalError::ParameterOverrun { offset })?;
        let end = offset + usize::from(length);
        let bad_length = FatalError::BadParameterLength {
            offset,
            param: code,
            length,
        };
        if length < 4 {
            return Err(bad_length);
        }
        let body = chunk
            .get(offset + 4..end)
            .ok_or(FatalError::ParameterOverrun { offset })?;
        self.pos = end;
        let word = |at: usize| u16_at(body, at).ok_or(bad_length);
        Ok(match code {
            param::RES_ID if length == 8 => Param::ResId {
                kind: word(0)?,
                id: word(2)?,
            },
            param::RES_PLAIN if length >= 6 => Param::ResPlain {
                kind: word(0)?,
                text: text_with_nul(body.get(2..).unwrap_or_default(), "RES-PLAIN text")?,
            },
            param::VALUE => Param::Value(Value::Untyped(body)),
            param::VALUE_TYPED if length >= 6 => {
                let type_id = word(0)?;
                let bytes = body.get(2..).unwrap_or_default();
                if type_id == type_id::UNSET {
                    return Err(FatalError::TypeIdZero);
                }
                if let Some(expected) = fixed_size(type_id) {
                    if expected != bytes.len() {
                        return Err(FatalError::BadValueSize {
                            type_id,
                            expected,
                            found: bytes.len(),
                        });
                    }
                }
                Param::Value(Value::Typed { type_id, bytes })
            }
            param::VALUE_DATA if length == 6 => Param::Value(Value::Data(word(0)?)),
            param::TIMEOUT if length == 8 => Param::Timeout(u32_at(body, 0).ok_or(bad_length)?),
            param::RES_ID | param::RES_PLAIN | param::VALUE_TYPED | param::VALUE_DATA | param::TIMEOUT => {
                return Err(bad_length)
            }
            other => return Err(FatalError::UnknownParameter { offset, param: other }),
        })
    }
}

impl<'a> ParamReader<'a> {
    /// The next value parameter of parameters the decoder has checked (the
    /// others are skipped): the same values as [`ParamReader::read`] gives,
    /// without its checks and error values. `None` at the end, or where the
    /// bytes do not hold a parameter (never the case after the decoder).
    pub(crate) fn next_checked_value(&mut self) -> Option<Value<'a>> {
        let chunk = self.chunk;
        loop {
            let mut pos = self.pos + self.pos % 2;
            let code = loop {
                match u16_at(chunk, pos)? {
                    param::PADDING => pos += 2,
                    code => break code,
                }
            };
            let end = pos + usize::from(u16_at(chunk, pos + 2)?);
            let body = chunk.get(pos + 4..end)?;
            self.pos = end;
            match code {
                param::VALUE => return Some(Value::Untyped(body)),
                param::VALUE_TYPED => {
                    return Some(Value::Typed {
                        type_id: u16_at(body, 0)?,
                        bytes: body.get(2..)?,
                    })
                }
                param::VALUE_DATA => return Some(Value::Data(u16_at(body, 0)?)),
                _ => {}
            }
        }
    }
}

impl<'a> Iterator for ParamReader<'a> {
    type Item = Result<Param<'a>, FatalError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.chunk.len() {
            return None;
        }
        let item = self.read();
        if item.is_err() {
            // Stop after an error.
            self.pos = self.chunk.len();
        }
        Some(item)
    }
}
