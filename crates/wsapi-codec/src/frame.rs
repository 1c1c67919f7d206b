//! RFC 6455 WebSocket framing on a raw byte stream (wsapi uses it without any HTTP handshake).
//!
//! Receiving: a [`FrameDecoder`] is fed whatever bytes the socket gave, in any chunk sizes,
//! and yields [`FrameEvent`]s: whole data messages (fragments reassembled) and control frames.
//! It keeps at most one message in memory, bounded by its maximum message size, and never
//! allocates a length announced by a header before checking it against that bound.
//!
//! Sending: [`encode_header`], [`encode_frame`] and the `encode_*` helpers append frames to a
//! buffer. The C binders send unmasked frames, and so should we; a mask key can be given to
//! produce client-style masked frames (tests, clients talking to strict servers).

use std::fmt;

/// Default maximum size of a whole received message (`--ws-maxlen`).
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 1_048_500;

/// Maximum payload length of a control frame (close, ping, pong).
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// Maximum length of a frame header: 2 bytes, 8 bytes of extended length, 4 bytes of mask.
pub const MAX_HEADER_LEN: usize = 14;

/// WebSocket close status codes used by this crate.
pub mod close_code {
    /// Normal closure.
    pub const NORMAL: u16 = 1000;
    /// The endpoint is going away.
    pub const GOING_AWAY: u16 = 1001;
    /// Protocol error.
    pub const PROTOCOL_ERROR: u16 = 1002;
    /// Data of a type the endpoint cannot accept.
    pub const UNSUPPORTED_DATA: u16 = 1003;
    /// Payload inconsistent with the message type (e.g. text that is not UTF-8).
    pub const INVALID_PAYLOAD: u16 = 1007;
    /// Policy violation.
    pub const POLICY_VIOLATION: u16 = 1008;
    /// Message too big.
    pub const MESSAGE_TOO_BIG: u16 = 1009;
    /// Unexpected condition on the server.
    pub const INTERNAL_ERROR: u16 = 1011;
}

/// A frame opcode (the reserved opcodes 3-7 and 11-15 have no variant).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpCode {
    /// 0: continuation of a fragmented message.
    Continuation,
    /// 1: text message (UTF-8).
    Text,
    /// 2: binary message (every wsapi message).
    Binary,
    /// 8: close.
    Close,
    /// 9: ping.
    Ping,
    /// 10: pong.
    Pong,
}

impl OpCode {
    /// The opcode for a 4-bit value, `None` for a reserved value.
    #[must_use]
    pub fn from_u8(value: u8) -> Option<OpCode> {
        Some(match value {
            0 => OpCode::Continuation,
            1 => OpCode::Text,
            2 => OpCode::Binary,
            8 => OpCode::Close,
            9 => OpCode::Ping,
            10 => OpCode::Pong,
            _ => return None,
        })
    }

    /// The 4-bit value of this opcode.
    #[must_use]
    pub fn as_u8(self) -> u8 {
        match self {
            OpCode::Continuation => 0,
            OpCode::Text => 1,
            OpCode::Binary => 2,
            OpCode::Close => 8,
            OpCode::Ping => 9,
            OpCode::Pong => 10,
        }
    }

    /// Whether this is a control opcode (close, ping, pong).
    #[must_use]
    pub fn is_control(self) -> bool {
        matches!(self, OpCode::Close | OpCode::Ping | OpCode::Pong)
    }
}

/// The payload of a close frame that carries one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseFrame {
    /// The status code (not checked against the registered ranges).
    pub code: u16,
    /// The reason, UTF-8, at most 123 bytes.
    pub reason: String,
}

/// What a [`FrameDecoder`] yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameEvent {
    /// A complete binary message (fragments reassembled, unmasked).
    Binary(Vec<u8>),
    /// A complete text message, checked to be UTF-8.
    Text(String),
    /// A ping with its payload: answer with a pong carrying the same payload.
    Ping(Vec<u8>),
    /// A pong with its payload.
    Pong(Vec<u8>),
    /// A close frame, with its code and reason when it has any. The link ends: the caller
    /// should answer with a close and stop feeding the decoder.
    Close(Option<CloseFrame>),
}

/// A framing violation. Every case ends the link; [`FrameError::close_code`] gives the status
/// to send in the closing frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// One of the RSV1-3 bits is set (no extension was negotiated).
    ReservedBits,
    /// A reserved opcode; holds it.
    ReservedOpcode(u8),
    /// A control frame without FIN.
    FragmentedControl,
    /// A control frame whose payload is longer than 125 bytes.
    ControlTooLong,
    /// A continuation frame while no fragmented message is in progress.
    UnexpectedContinuation,
    /// A new text or binary frame while a fragmented message is still in progress.
    ExpectedContinuation,
    /// A 64-bit payload length with its most significant bit set.
    LengthOverflow,
    /// The message (all fragments together) would exceed the maximum size.
    MessageTooBig {
        /// The size announced so far (received fragments plus the current frame's length).
        size: u64,
        /// The maximum message size.
        limit: usize,
    },
    /// A close frame whose payload is exactly one byte.
    BadClosePayload,
    /// A text message or a close reason that is not valid UTF-8.
    InvalidUtf8,
}

impl FrameError {
    /// The WebSocket close status to send because of this error: 1009 for a message too big,
    /// 1007 for invalid UTF-8, 1002 (protocol error) otherwise.
    #[must_use]
    pub fn close_code(&self) -> u16 {
        match self {
            FrameError::MessageTooBig { .. } => close_code::MESSAGE_TOO_BIG,
            FrameError::InvalidUtf8 => close_code::INVALID_PAYLOAD,
            _ => close_code::PROTOCOL_ERROR,
        }
    }
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::ReservedBits => f.write_str("reserved bits set in a WebSocket frame"),
            FrameError::ReservedOpcode(op) => write!(f, "reserved WebSocket opcode {op}"),
            FrameError::FragmentedControl => f.write_str("fragmented WebSocket control frame"),
            FrameError::ControlTooLong => f.write_str("WebSocket control frame longer than 125 bytes"),
            FrameError::UnexpectedContinuation => {
                f.write_str("WebSocket continuation frame without a message to continue")
            }
            FrameError::ExpectedContinuation => {
                f.write_str("new WebSocket message while a fragmented one is in progress")
            }
            FrameError::LengthOverflow => f.write_str("WebSocket frame length with its most significant bit set"),
            FrameError::MessageTooBig { size, limit } => write!(
                f,
                "WebSocket message of at least {size} bytes exceeds the limit of {limit}"
            ),
            FrameError::BadClosePayload => f.write_str("WebSocket close frame of 1 byte"),
            FrameError::InvalidUtf8 => f.write_str("invalid UTF-8 in a WebSocket text or close"),
        }
    }
}

impl std::error::Error for FrameError {}

/// XORs `data` with `key`, `data` starting at byte `offset` of the masked payload.
fn apply_mask(data: &mut [u8], key: [u8; 4], offset: usize) {
    let mut k = key;
    k.rotate_left(offset % 4);
    let wide = u64::from_ne_bytes([k[0], k[1], k[2], k[3], k[0], k[1], k[2], k[3]]);
    let mut chunks = data.chunks_exact_mut(8);
    for chunk in &mut chunks {
        if let Ok(word) = <&mut [u8; 8]>::try_from(chunk) {
            *word = (u64::from_ne_bytes(*word) ^ wide).to_ne_bytes();
        }
    }
    for (b, m) in chunks.into_remainder().iter_mut().zip(k.iter().cycle()) {
        *b ^= m;
    }
}

/// The kind of the data message being reassembled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DataKind {
    Text,
    Binary,
}

/// The frame whose payload is being received.
#[derive(Debug, Clone, Copy)]
struct Current {
    opcode: OpCode,
    fin: bool,
    mask: Option<[u8; 4]>,
    /// Payload bytes still to receive.
    remaining: usize,
    /// Payload bytes already received (for the mask phase).
    received: usize,
}

#[derive(Debug, Clone)]
enum State {
    /// Collecting a header (partially held in `header`).
    Header,
    /// Receiving the payload of `Current`.
    Payload(Current),
    /// A framing error happened: the decoder stays failed.
    Failed(FrameError),
}

/// Incremental decoder of a WebSocket frame stream.
///
/// Feed it with [`FrameDecoder::decode`], which takes the bytes just read and yields events
/// one at a time:
///
/// ```
/// use afb_wsapi_codec::frame::{FrameDecoder, FrameEvent};
/// let mut decoder = FrameDecoder::new(1 << 20);
/// let read: &[u8] = &[0x82, 0x02, 0x76, 0x01]; // whatever the socket returned
/// let mut input = read;
/// while let Some(event) = decoder.decode(&mut input).expect("framing error") {
///     assert_eq!(event, FrameEvent::Binary(vec![0x76, 0x01]));
/// }
/// assert!(input.is_empty()); // all consumed: the read buffer can be reused
/// ```
///
/// Every byte given is consumed (partial headers and payloads are kept inside), so the
/// caller's read buffer can be reused after each loop; the payload of a data message is copied
/// (and unmasked) once, into the vector handed out in the event. Memory: at most the message
/// in progress, which never exceeds the maximum message size, plus fixed buffers for a header
/// and a control payload.
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    max_message_size: usize,
    state: State,
    header: [u8; MAX_HEADER_LEN],
    header_len: usize,
    /// The data message being received, if any.
    kind: Option<DataKind>,
    message: Vec<u8>,
    control: [u8; MAX_CONTROL_PAYLOAD],
    control_len: usize,
}

impl Default for FrameDecoder {
    /// A decoder with [`DEFAULT_MAX_MESSAGE_SIZE`].
    fn default() -> Self {
        FrameDecoder::new(DEFAULT_MAX_MESSAGE_SIZE)
    }
}

/// Smallest allocation made for a data message (unless the message itself is smaller).
const MIN_MESSAGE_ALLOC: usize = 4096;

impl FrameDecoder {
    /// A decoder accepting messages (all fragments together) of at most `max_message_size`
    /// bytes.
    #[must_use]
    pub fn new(max_message_size: usize) -> Self {
        FrameDecoder {
            max_message_size,
            state: State::Header,
            header: [0; MAX_HEADER_LEN],
            header_len: 0,
            kind: None,
            message: Vec::new(),
            control: [0; MAX_CONTROL_PAYLOAD],
            control_len: 0,
        }
    }

    /// The maximum size of a whole message.
    #[must_use]
    pub fn max_message_size(&self) -> usize {
        self.max_message_size
    }

    /// Whether the decoder is between frames with no fragmented message in progress and no
    /// partial frame held: a good place for the stream to end.
    #[must_use]
    pub fn is_idle(&self) -> bool {
        matches!(self.state, State::Header) && self.header_len == 0 && self.kind.is_none()
    }

    /// The capacity of the buffer holding the message in progress (never more than the
    /// maximum message size). For tests and metrics.
    #[must_use]
    pub fn buffer_capacity(&self) -> usize {
        self.message.capacity()
    }

    /// Consumes bytes from the front of `input` and returns the next complete event, if any.
    ///
    /// Returns `Ok(Some(event))` as soon as one event is complete, leaving in `input` the bytes
    /// after it (call again to get the following events); returns `Ok(None)` once `input` is
    /// empty, having kept any partial frame for the next call. On `Err`, the decoder is
    /// poisoned: every later call returns the same error (the caller should close the link
    /// with [`FrameError::close_code`]); how much of `input` was consumed is then unspecified.
    pub fn decode(&mut self, input: &mut &[u8]) -> Result<Option<FrameEvent>, FrameError> {
        let result = self.decode_inner(input);
        if let Err(err) = &result {
            self.state = State::Failed(err.clone());
            self.message = Vec::new();
            self.kind = None;
        }
        result
    }

    fn decode_inner(&mut self, input: &mut &[u8]) -> Result<Option<FrameEvent>, FrameError> {
        loop {
            match &self.state {
                State::Failed(err) => return Err(err.clone()),
                State::Header => {
                    let Some(current) = self.read_header(input)? else {
                        return Ok(None);
                    };
                    if current.remaining == 0 {
                        if let Some(event) = self.finish_frame(current)? {
                            return Ok(Some(event));
                        }
                    } else {
                        self.state = State::Payload(current);
                    }
                }
                State::Payload(current) => {
                    let mut current = *current;
                    if input.is_empty() {
                        return Ok(None);
                    }
                    let take = current.remaining.min(input.len());
                    let (chunk, rest) = input.split_at(take);
                    *input = rest;
                    self.store_payload(&current, chunk);
                    current.remaining -= take;
                    current.received += take;
                    if current.remaining > 0 {
                        self.state = State::Payload(current);
                        return Ok(None);
                    }
                    self.state = State::Header;
                    if let Some(event) = self.finish_frame(current)? {
                        return Ok(Some(event));
                    }
                }
            }
        }
    }

    /// Collects header bytes; returns the frame once its header is complete and valid.
    fn read_header(&mut self, input: &mut &[u8]) -> Result<Option<Current>, FrameError> {
        // First the 2 fixed bytes, then the rest whose size they tell.
        if !self.fill_header(input, 2) {
            return Ok(None);
        }
        let [b0, b1, ..] = self.header;
        let fin = b0 & 0x80 != 0;
        if b0 & 0x70 != 0 {
            return Err(FrameError::ReservedBits);
        }
        let opcode = OpCode::from_u8(b0 & 0x0F).ok_or(FrameError::ReservedOpcode(b0 & 0x0F))?;
        let masked = b1 & 0x80 != 0;
        let len7 = b1 & 0x7F;
        if opcode.is_control() {
            if !fin {
                return Err(FrameError::FragmentedControl);
            }
            if usize::from(len7) > MAX_CONTROL_PAYLOAD {
                return Err(FrameError::ControlTooLong);
            }
        } else if opcode == OpCode::Continuation {
            if self.kind.is_none() {
                return Err(FrameError::UnexpectedContinuation);
            }
        } else if self.kind.is_some() {
            return Err(FrameError::ExpectedContinuation);
        }
        let ext = match len7 {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        let total = 2 + ext + if masked { 4 } else { 0 };
        if !self.fill_header(input, total) {
            return Ok(None);
        }
        self.header_len = 0;
        // The header buffer now holds `total` bytes: the extended length, then the mask key.
        let mut rest = self.header.get(2..total).unwrap_or_default();
        let length: u64 = match len7 {
            126 => u64::from(u16::from_be_bytes(take_array(&mut rest))),
            127 => u64::from_be_bytes(take_array(&mut rest)),
            n => u64::from(n),
        };
        if length & (1 << 63) != 0 {
            return Err(FrameError::LengthOverflow);
        }
        let mask = masked.then(|| take_array(&mut rest));
        let remaining = if opcode.is_control() {
            // len7 <= 125 was checked: the length is that byte.
            usize::from(len7)
        } else {
            let size = (self.message.len() as u64).saturating_add(length);
            match usize::try_from(length) {
                Ok(len) if size <= self.max_message_size as u64 => len,
                _ => {
                    return Err(FrameError::MessageTooBig {
                        size,
                        limit: self.max_message_size,
                    })
                }
            }
        };
        if let Some(kind) = match opcode {
            OpCode::Text => Some(DataKind::Text),
            OpCode::Binary => Some(DataKind::Binary),
            _ => None,
        } {
            self.kind = Some(kind);
            self.message.clear();
        }
        if opcode.is_control() {
            self.control_len = 0;
        }
        Ok(Some(Current {
            opcode,
            fin,
            mask,
            remaining,
            received: 0,
        }))
    }

    /// Moves bytes from `input` into the header buffer until it holds `upto` bytes; returns
    /// whether it does.
    fn fill_header(&mut self, input: &mut &[u8], upto: usize) -> bool {
        let upto = upto.min(MAX_HEADER_LEN);
        let have = self.header_len;
        if have >= upto {
            return true;
        }
        let take = (upto - have).min(input.len());
        let (src, rest) = input.split_at(take);
        if let Some(dst) = self.header.get_mut(have..have + take) {
            dst.copy_from_slice(src);
        }
        *input = rest;
        self.header_len = have + take;
        self.header_len >= upto
    }

    /// Appends a payload chunk (unmasked) to the message or control buffer.
    fn store_payload(&mut self, current: &Current, chunk: &[u8]) {
        let dst: &mut [u8] = if current.opcode.is_control() {
            // The header check bounds a control payload to the buffer's size.
            let start = self.control_len;
            let Some(dst) = self.control.get_mut(start..start + chunk.len()) else {
                return;
            };
            dst.copy_from_slice(chunk);
            self.control_len = start + chunk.len();
            dst
        } else {
            let start = self.message.len();
            let needed = start + chunk.len();
            if needed > self.message.capacity() {
                // Grow geometrically for trickling input, but never past the end of the
                // current frame, whose length was checked against the limit.
                let frame_end = needed + (current.remaining - chunk.len());
                let target = needed
                    .max(self.message.capacity().saturating_mul(2))
                    .max(MIN_MESSAGE_ALLOC)
                    .min(frame_end);
                self.message.reserve_exact(target - start);
            }
            self.message.extend_from_slice(chunk);
            self.message.get_mut(start..).unwrap_or_default()
        };
        if let Some(key) = current.mask {
            apply_mask(dst, key, current.received);
        }
    }

    /// Handles a completely received frame.
    fn finish_frame(&mut self, current: Current) -> Result<Option<FrameEvent>, FrameError> {
        let control = || self.control.get(..self.control_len).unwrap_or_default();
        match current.opcode {
            OpCode::Ping => Ok(Some(FrameEvent::Ping(control().to_vec()))),
            OpCode::Pong => Ok(Some(FrameEvent::Pong(control().to_vec()))),
            OpCode::Close => match control() {
                [] => Ok(Some(FrameEvent::Close(None))),
                [_] => Err(FrameError::BadClosePayload),
                [hi, lo, reason @ ..] => {
                    let reason = std::str::from_utf8(reason)
                        .map_err(|_| FrameError::InvalidUtf8)?
                        .to_owned();
                    Ok(Some(FrameEvent::Close(Some(CloseFrame {
                        code: u16::from_be_bytes([*hi, *lo]),
                        reason,
                    }))))
                }
            },
            OpCode::Text | OpCode::Binary | OpCode::Continuation => {
                if !current.fin {
                    return Ok(None);
                }
                let message = std::mem::take(&mut self.message);
                match self.kind.take() {
                    Some(DataKind::Text) => String::from_utf8(message)
                        .map(|text| Some(FrameEvent::Text(text)))
                        .map_err(|_| FrameError::InvalidUtf8),
                    // A data frame always sets `kind`; binary is the only other kind.
                    Some(DataKind::Binary) | None => Ok(Some(FrameEvent::Binary(message))),
                }
            }
        }
    }
}

/// The next `N` bytes of `rest` (zeros if it is shorter, which callers rule out).
fn take_array<const N: usize>(rest: &mut &[u8]) -> [u8; N] {
    match rest.split_first_chunk::<N>() {
        Some((head, tail)) => {
            *rest = tail;
            *head
        }
        None => [0; N],
    }
}

/// Appends a frame header for a payload of `payload_len` bytes, with FIN set when `fin`, and
/// the mask bit and key when `mask` is given (the payload must then be masked with that key,
/// as [`encode_frame`] does). Nothing is checked: this can write invalid frames on purpose.
pub fn encode_header(opcode: OpCode, fin: bool, payload_len: usize, mask: Option<[u8; 4]>, out: &mut Vec<u8>) {
    let b0 = if fin { 0x80 } else { 0 } | opcode.as_u8();
    let mbit = if mask.is_some() { 0x80 } else { 0 };
    out.push(b0);
    match payload_len {
        0..=125 => out.push(mbit | payload_len as u8),
        126..=0xFFFF => {
            out.push(mbit | 126);
            out.extend_from_slice(&(payload_len as u16).to_be_bytes());
        }
        _ => {
            out.push(mbit | 127);
            out.extend_from_slice(&(payload_len as u64).to_be_bytes());
        }
    }
    if let Some(key) = mask {
        out.extend_from_slice(&key);
    }
}

/// Appends a whole frame: header (see [`encode_header`]) then the payload, masked with `mask`
/// when given. Nothing is checked: this can write invalid frames (long or fragmented control
/// frames, ...) on purpose.
pub fn encode_frame(opcode: OpCode, fin: bool, payload: &[u8], mask: Option<[u8; 4]>, out: &mut Vec<u8>) {
    out.reserve(MAX_HEADER_LEN + payload.len());
    encode_header(opcode, fin, payload.len(), mask, out);
    let start = out.len();
    out.extend_from_slice(payload);
    if let (Some(key), Some(body)) = (mask, out.get_mut(start..)) {
        apply_mask(body, key, 0);
    }
}

/// Appends an unmasked, unfragmented binary frame carrying `payload`.
pub fn encode_binary(payload: &[u8], out: &mut Vec<u8>) {
    encode_frame(OpCode::Binary, true, payload, None, out);
}

/// Appends an unmasked, unfragmented text frame carrying `text`.
pub fn encode_text(text: &str, out: &mut Vec<u8>) {
    encode_frame(OpCode::Text, true, text.as_bytes(), None, out);
}

/// Appends an unmasked ping; a payload longer than 125 bytes is cut to 125.
pub fn encode_ping(payload: &[u8], out: &mut Vec<u8>) {
    let payload = payload.get(..MAX_CONTROL_PAYLOAD).unwrap_or(payload);
    encode_frame(OpCode::Ping, true, payload, None, out);
}

/// Appends an unmasked pong (the answer to a ping, with the ping's payload); a payload longer
/// than 125 bytes is cut to 125.
pub fn encode_pong(payload: &[u8], out: &mut Vec<u8>) {
    let payload = payload.get(..MAX_CONTROL_PAYLOAD).unwrap_or(payload);
    encode_frame(OpCode::Pong, true, payload, None, out);
}

/// Appends an unmasked close frame: empty when `close` is `None`, else the code and the reason,
/// the reason cut to 123 bytes (at a character boundary) to fit a control frame.
pub fn encode_close(close: Option<(u16, &str)>, out: &mut Vec<u8>) {
    let mut payload = [0u8; MAX_CONTROL_PAYLOAD];
    let len = match close {
        None => 0,
        Some((code, reason)) => {
            let mut cut = reason.len().min(MAX_CONTROL_PAYLOAD - 2);
            while !reason.is_char_boundary(cut) {
                cut -= 1;
            }
            let bytes = reason.as_bytes().get(..cut).unwrap_or_default();
            let (head, tail) = payload.split_at_mut(2);
            head.copy_from_slice(&code.to_be_bytes());
            if let Some(dst) = tail.get_mut(..cut) {
                dst.copy_from_slice(bytes);
            }
            2 + cut
        }
    };
    encode_frame(OpCode::Close, true, payload.get(..len).unwrap_or_default(), None, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(dec: &mut FrameDecoder, mut input: &[u8]) -> Result<Vec<FrameEvent>, FrameError> {
        let mut events = Vec::new();
        while let Some(ev) = dec.decode(&mut input)? {
            events.push(ev);
        }
        assert!(input.is_empty());
        Ok(events)
    }

    #[test]
    fn mask_matches_bytewise() {
        let key = [1, 2, 3, 0xF0];
        for offset in 0..8 {
            for len in 0..40 {
                let data: Vec<u8> = (0..len as u8).collect();
                let mut fast = data.clone();
                apply_mask(&mut fast, key, offset);
                let slow: Vec<u8> = data
                    .iter()
                    .enumerate()
                    .map(|(i, b)| b ^ key[(i + offset) % 4])
                    .collect();
                assert_eq!(fast, slow);
            }
        }
    }

    #[test]
    fn header_lengths() {
        for (len, hlen) in [(0, 2), (125, 2), (126, 4), (65535, 4), (65536, 10)] {
            let mut out = Vec::new();
            encode_header(OpCode::Binary, true, len, None, &mut out);
            assert_eq!(out.len(), hlen, "len {len}");
            let mut out = Vec::new();
            encode_header(OpCode::Binary, true, len, Some([0; 4]), &mut out);
            assert_eq!(out.len(), hlen + 4, "len {len}");
        }
    }

    #[test]
    fn close_reason_is_cut_at_char_boundary() {
        let reason = "é".repeat(100);
        let mut out = Vec::new();
        encode_close(Some((1000, &reason)), &mut out);
        let mut dec = FrameDecoder::default();
        let events = decode_all(&mut dec, &out).unwrap();
        match &events[..] {
            [FrameEvent::Close(Some(c))] => {
                assert_eq!(c.code, 1000);
                assert_eq!(c.reason, "é".repeat(61));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn huge_announced_length_rejected_from_header() {
        let mut dec = FrameDecoder::new(4096);
        let mut frame = vec![0x82, 127];
        frame.extend_from_slice(&(1u64 << 62).to_be_bytes());
        let err = decode_all(&mut dec, &frame).unwrap_err();
        assert_eq!(
            err,
            FrameError::MessageTooBig {
                size: 1 << 62,
                limit: 4096
            }
        );
        assert_eq!(err.close_code(), 1009);
        assert_eq!(dec.buffer_capacity(), 0);
    }
}
