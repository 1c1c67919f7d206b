//! Decoding of one `x-afb-ws-json1` message.
//!
//! The array "frame" (`[`, kind, id, api/verb, separators, `]`) is scanned by hand; every JSON
//! value inside is validated by `serde_json` and kept as a borrowed `&RawValue`. This is what
//! lets a call's argument that is *not* JSON be taken as text (see [`Args::Text`]).

use std::borrow::Cow;
use std::fmt;

use serde_json::value::RawValue;

use crate::message::{Args, Call, Event, Message, Reply};

/// What is wrong with a message that [`decode`] refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The text is not a JSON array.
    NotAnArray,
    /// The array is empty.
    EmptyArray,
    /// The first element is not a number.
    BadKind,
    /// The first element is a number other than 2, 3, 4 or 5.
    UnknownKind,
    /// The id is neither a JSON string nor a JSON number.
    BadId,
    /// The api/verb of a call is not a JSON string.
    BadApiVerb,
    /// The api/verb of a call has no `/`.
    NoSlash,
    /// The event name is not a JSON string.
    BadEventName,
    /// The call's arguments are neither JSON nor balanced text (a stray `}`/`]`).
    BadArgs,
    /// The reply or event object is not valid JSON.
    BadBody,
    /// The 5th element of a call (4th of a reply) is not a JSON string (or `null`).
    BadToken,
    /// A string ends before its closing quote.
    UnterminatedString,
    /// A string holds a raw control character (below U+0020).
    ControlCharacter,
    /// A string holds an invalid escape sequence (or a lone UTF-16 surrogate).
    BadEscape,
    /// The id is missing.
    MissingId,
    /// The api/verb of a call is missing.
    MissingApiVerb,
    /// The arguments of a call are missing or empty.
    MissingArgs,
    /// The event name is missing.
    MissingEventName,
    /// The reply or event object is missing.
    MissingBody,
    /// The array has more elements than its kind allows.
    TooManyElements,
    /// Something other than `,` follows an element.
    ExpectedComma,
    /// Something other than `]` ends the array.
    ExpectedEnd,
    /// The text ends before the closing `]`.
    Unterminated,
    /// Something other than whitespace follows the closing `]`.
    TrailingCharacters,
}

impl ErrorKind {
    /// A short English description.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::NotAnArray => "not a JSON array",
            ErrorKind::EmptyArray => "empty array",
            ErrorKind::BadKind => "the first element must be the message kind number (2, 3, 4 or 5)",
            ErrorKind::UnknownKind => "unknown message kind (expected 2, 3, 4 or 5)",
            ErrorKind::BadId => "the id must be a JSON string or number",
            ErrorKind::BadApiVerb => "the api/verb must be a JSON string",
            ErrorKind::NoSlash => "the api/verb has no '/' between the api and the verb",
            ErrorKind::BadEventName => "the event name must be a JSON string",
            ErrorKind::BadArgs => "the arguments are neither JSON nor balanced text",
            ErrorKind::BadBody => "the reply or event object is not valid JSON",
            ErrorKind::BadToken => "the token must be a JSON string",
            ErrorKind::UnterminatedString => "unterminated string",
            ErrorKind::ControlCharacter => "control character inside a string",
            ErrorKind::BadEscape => "invalid escape sequence in a string",
            ErrorKind::MissingId => "missing id",
            ErrorKind::MissingApiVerb => "missing api/verb",
            ErrorKind::MissingArgs => "missing arguments",
            ErrorKind::MissingEventName => "missing event name",
            ErrorKind::MissingBody => "missing reply or event object",
            ErrorKind::TooManyElements => "too many elements",
            ErrorKind::ExpectedComma => "expected ',' after an element",
            ErrorKind::ExpectedEnd => "expected ']' closing the message",
            ErrorKind::Unterminated => "the message ends before its closing ']'",
            ErrorKind::TrailingCharacters => "characters after the closing ']'",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A message [`decode`] refused: why, where, and the id when one could be recovered.
///
/// Per the protocol, a server answers with an error reply when [`id`](Self::id) is `Some`,
/// and otherwise closes the WebSocket with code 1008.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    kind: ErrorKind,
    offset: usize,
    message_kind: Option<u8>,
    id: Option<Box<str>>,
}

impl DecodeError {
    fn new(kind: ErrorKind, offset: usize, message_kind: Option<u8>, id: Option<&str>) -> Self {
        DecodeError {
            kind,
            offset,
            message_kind,
            id: id.map(Box::from),
        }
    }

    /// What is wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// Byte offset in the text where the problem was found.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// The message kind (2, 3, 4 or 5) when the first element was readable.
    pub fn message_kind(&self) -> Option<u8> {
        self.message_kind
    }

    /// The id of the call or reply, when it was read before the problem (never for events).
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid x-afb-ws-json1 message: {} (at byte {})",
            self.kind, self.offset
        )
    }
}

impl std::error::Error for DecodeError {}

/// Decodes the text of one WebSocket frame.
///
/// Accepted forms (JSON whitespace allowed between all tokens):
/// * `[2, ID, "API/VERB", ARGS]` and `[2, ID, "API/VERB", ARGS, "TOKEN"]` ([`Message::Call`]);
///   a `null` token counts as absent; `ARGS` that is not valid JSON becomes [`Args::Text`] (the
///   element's text up to the next top-level `,` or `]`, brackets and strings balanced);
/// * `[3, ID, REPLY]` / `[4, ID, REPLY]` ([`Message::Reply`]), with an optional 4th element, the
///   renewed token (a string, or `null` for none);
/// * `[5, "NAME", EVENTOBJ]` ([`Message::Event`]).
///
/// `ID` is a JSON string, or a JSON number kept as its literal text. Never panics; memory use
/// is bounded by the input length (unescaped strings are borrowed, JSON parts are `&RawValue`).
pub fn decode(text: &str) -> Result<Message<'_>, DecodeError> {
    let mut s = Scanner::new(text);
    s.skip_ws();
    if !s.eat(b'[') {
        return Err(DecodeError::new(ErrorKind::NotAnArray, s.pos, None, None));
    }
    s.skip_ws();
    let kind = match s.peek() {
        Some(b']') => Err(ErrorKind::EmptyArray),
        None => Err(ErrorKind::Unterminated),
        Some(_) => match s.number() {
            Some("2") => Ok(crate::KIND_CALL),
            Some("3") => Ok(crate::KIND_REPLY_OK),
            Some("4") => Ok(crate::KIND_REPLY_ERROR),
            Some("5") => Ok(crate::KIND_EVENT),
            Some(_) => Err(ErrorKind::UnknownKind),
            None => Err(ErrorKind::BadKind),
        },
    };
    let kind = kind.map_err(|k| DecodeError::new(k, s.pos, None, None))?;
    match kind {
        crate::KIND_CALL => decode_call(&mut s),
        crate::KIND_EVENT => decode_event(&mut s),
        _ => decode_reply(&mut s, kind),
    }
}

fn decode_call<'a>(s: &mut Scanner<'a>) -> Result<Message<'a>, DecodeError> {
    let id = s
        .separator(ErrorKind::MissingId)
        .and_then(|()| s.id())
        .map_err(|k| DecodeError::new(k, s.pos, Some(crate::KIND_CALL), None))?;
    let rest = call_rest(s);
    match rest {
        Ok((api_verb, args, token)) => Ok(Message::Call(Call {
            id,
            api_verb,
            args,
            token,
        })),
        Err(k) => Err(DecodeError::new(k, s.pos, Some(crate::KIND_CALL), Some(&id))),
    }
}

type CallRest<'a> = (Cow<'a, str>, Args<'a>, Option<Cow<'a, str>>);

fn call_rest<'a>(s: &mut Scanner<'a>) -> Result<CallRest<'a>, ErrorKind> {
    s.separator(ErrorKind::MissingApiVerb)?;
    if s.peek() != Some(b'"') {
        return Err(ErrorKind::BadApiVerb);
    }
    let start = s.pos;
    let api_verb = s.string()?;
    if !api_verb.contains('/') {
        s.pos = start;
        return Err(ErrorKind::NoSlash);
    }
    s.separator(ErrorKind::MissingArgs)?;
    let args = s.args()?;
    let token = s.optional_token()?;
    s.end()?;
    Ok((api_verb, args, token))
}

fn decode_reply<'a>(s: &mut Scanner<'a>, kind: u8) -> Result<Message<'a>, DecodeError> {
    let id = s
        .separator(ErrorKind::MissingId)
        .and_then(|()| s.id())
        .map_err(|k| DecodeError::new(k, s.pos, Some(kind), None))?;
    let rest = (|| -> Result<(&'a RawValue, Option<Cow<'a, str>>), ErrorKind> {
        s.separator(ErrorKind::MissingBody)?;
        let body = s.json_value()?;
        // A reply renewing the token carries it as a 4th element.
        let token = s.optional_token()?;
        s.end()?;
        Ok((body, token))
    })();
    match rest {
        Ok((body, token)) => Ok(Message::Reply(Reply {
            id,
            success: kind == crate::KIND_REPLY_OK,
            body,
            token,
        })),
        Err(k) => Err(DecodeError::new(k, s.pos, Some(kind), Some(&id))),
    }
}

fn decode_event<'a>(s: &mut Scanner<'a>) -> Result<Message<'a>, DecodeError> {
    let rest = (|| -> Result<Message<'a>, ErrorKind> {
        s.separator(ErrorKind::MissingEventName)?;
        if s.peek() != Some(b'"') {
            return Err(ErrorKind::BadEventName);
        }
        let name = s.string()?;
        s.separator(ErrorKind::MissingBody)?;
        let body = s.json_value()?;
        s.skip_ws();
        match s.peek() {
            Some(b']') => s.pos += 1,
            Some(b',') => return Err(ErrorKind::TooManyElements),
            None => return Err(ErrorKind::Unterminated),
            Some(_) => return Err(ErrorKind::ExpectedEnd),
        }
        s.end()?;
        Ok(Message::Event(Event { name, body }))
    })();
    rest.map_err(|k| DecodeError::new(k, s.pos, Some(crate::KIND_EVENT), None))
}

/// Hand-written scanner over the array frame. Every method leaves `pos` at the problem on
/// error.
struct Scanner<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
}

#[inline]
fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

impl<'a> Scanner<'a> {
    fn new(text: &'a str) -> Self {
        Scanner {
            text,
            bytes: text.as_bytes(),
            pos: 0,
        }
    }

    #[inline]
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    #[inline]
    fn skip_ws(&mut self) {
        while self.peek().is_some_and(is_ws) {
            self.pos += 1;
        }
    }

    #[inline]
    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// Consumes `,` between two elements (and the whitespace around it); `missing` is the
    /// error when the array closes instead.
    fn separator(&mut self, missing: ErrorKind) -> Result<(), ErrorKind> {
        self.skip_ws();
        match self.peek() {
            Some(b',') => {
                self.pos += 1;
                self.skip_ws();
                Ok(())
            }
            Some(b']') => Err(missing),
            None => Err(ErrorKind::Unterminated),
            Some(_) => Err(ErrorKind::ExpectedComma),
        }
    }

    /// Only whitespace may follow the closing `]`.
    fn end(&mut self) -> Result<(), ErrorKind> {
        self.skip_ws();
        if self.pos == self.bytes.len() {
            Ok(())
        } else {
            Err(ErrorKind::TrailingCharacters)
        }
    }

    /// A JSON number token followed by whitespace, `,`, `]` or the end; `None` (position
    /// unchanged) otherwise.
    fn number(&mut self) -> Option<&'a str> {
        let b = self.bytes;
        let start = self.pos;
        let mut i = start;
        let digits = |i: &mut usize| {
            let from = *i;
            while b.get(*i).is_some_and(u8::is_ascii_digit) {
                *i += 1;
            }
            *i > from
        };
        if b.get(i) == Some(&b'-') {
            i += 1;
        }
        match b.get(i) {
            Some(b'0') => i += 1,
            Some(b'1'..=b'9') => {
                digits(&mut i);
            }
            _ => return None,
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            if !digits(&mut i) {
                return None;
            }
        }
        if matches!(b.get(i), Some(b'e' | b'E')) {
            i += 1;
            if matches!(b.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            if !digits(&mut i) {
                return None;
            }
        }
        match b.get(i) {
            None | Some(b',' | b']') => {}
            Some(&c) if is_ws(c) => {}
            Some(_) => return None,
        }
        self.pos = i;
        self.text.get(start..i)
    }

    /// A JSON string starting at `pos` (which must be `"`): borrowed when it has no escape.
    fn string(&mut self) -> Result<Cow<'a, str>, ErrorKind> {
        let start = self.pos;
        let mut i = start + 1;
        let mut escaped = false;
        loop {
            match self.bytes.get(i) {
                None => {
                    self.pos = self.bytes.len();
                    return Err(ErrorKind::UnterminatedString);
                }
                Some(b'"') => break,
                Some(b'\\') => {
                    escaped = true;
                    i += 2;
                }
                Some(&c) if c < 0x20 => {
                    self.pos = i;
                    return Err(ErrorKind::ControlCharacter);
                }
                Some(_) => i += 1,
            }
        }
        let end = i + 1;
        // `start` and `i` index ASCII quotes, so both are char boundaries.
        let (Some(quoted), Some(inner)) = (self.text.get(start..end), self.text.get(start + 1..i)) else {
            self.pos = start;
            return Err(ErrorKind::BadEscape);
        };
        if !escaped {
            self.pos = end;
            return Ok(Cow::Borrowed(inner));
        }
        match serde_json::from_str::<String>(quoted) {
            Ok(s) => {
                self.pos = end;
                Ok(Cow::Owned(s))
            }
            Err(_) => {
                self.pos = start;
                Err(ErrorKind::BadEscape)
            }
        }
    }

    /// The id of a call or reply: a JSON string, or a JSON number kept as its text.
    fn id(&mut self) -> Result<Cow<'a, str>, ErrorKind> {
        match self.peek() {
            Some(b'"') => self.string(),
            _ => self.number().map(Cow::Borrowed).ok_or(ErrorKind::BadId),
        }
    }

    /// Parses one JSON value at `pos` with `serde_json`; returns it and the offset after it.
    fn raw_value_at(&self, start: usize) -> Option<(&'a RawValue, usize)> {
        let rest = self.text.get(start..)?;
        let mut stream = serde_json::Deserializer::from_str(rest).into_iter::<&'a RawValue>();
        match stream.next() {
            Some(Ok(raw)) => Some((raw, start + stream.byte_offset())),
            _ => None,
        }
    }

    /// A JSON value (reply or event body).
    fn json_value(&mut self) -> Result<&'a RawValue, ErrorKind> {
        let (raw, end) = self.raw_value_at(self.pos).ok_or(ErrorKind::BadBody)?;
        self.pos = end;
        Ok(raw)
    }

    /// The arguments of a call: a JSON value followed by `,` or `]`, or else the text of the
    /// element up to the next top-level `,` or `]`.
    fn args(&mut self) -> Result<Args<'a>, ErrorKind> {
        let start = self.pos;
        if let Some((raw, end)) = self.raw_value_at(start) {
            let mut after = end;
            while self.bytes.get(after).copied().is_some_and(is_ws) {
                after += 1;
            }
            if matches!(self.bytes.get(after), Some(b',' | b']')) {
                self.pos = end;
                return Ok(Args::Json(raw));
            }
        }
        let end = self.text_element_end(start)?;
        let text = self
            .text
            .get(start..end)
            .unwrap_or_default()
            .trim_end_matches([' ', '\t', '\n', '\r']);
        if text.is_empty() {
            self.pos = start;
            return Err(ErrorKind::MissingArgs);
        }
        self.pos = end;
        Ok(Args::Text(Cow::Borrowed(text)))
    }

    /// Finds the top-level `,` or `]` ending a non-JSON element starting at `start`: brackets
    /// and braces must balance (counted, not matched) and strings be closed.
    fn text_element_end(&mut self, start: usize) -> Result<usize, ErrorKind> {
        let b = self.bytes;
        let mut depth: usize = 0;
        let mut i = start;
        loop {
            match b.get(i) {
                None => {
                    self.pos = b.len();
                    return Err(ErrorKind::Unterminated);
                }
                Some(b'"') => {
                    i += 1;
                    loop {
                        match b.get(i) {
                            None => {
                                self.pos = b.len();
                                return Err(ErrorKind::UnterminatedString);
                            }
                            Some(b'"') => break,
                            Some(b'\\') => i += 2,
                            Some(_) => i += 1,
                        }
                    }
                }
                Some(b'[' | b'{') => depth += 1,
                Some(b',' | b']') if depth == 0 => return Ok(i),
                Some(b']' | b'}') => {
                    if depth == 0 {
                        self.pos = i;
                        return Err(ErrorKind::BadArgs);
                    }
                    depth -= 1;
                }
                Some(_) => {}
            }
            i += 1;
        }
    }

    /// After the last mandatory element: `]`, or `, TOKEN ]` where TOKEN is a JSON string or
    /// `null` (absent).
    fn optional_token(&mut self) -> Result<Option<Cow<'a, str>>, ErrorKind> {
        self.skip_ws();
        match self.peek() {
            Some(b']') => {
                self.pos += 1;
                return Ok(None);
            }
            Some(b',') => {
                self.pos += 1;
                self.skip_ws();
            }
            None => return Err(ErrorKind::Unterminated),
            Some(_) => return Err(ErrorKind::ExpectedEnd),
        }
        let token = match self.peek() {
            Some(b'"') => Some(self.string()?),
            Some(b'n') if self.bytes.get(self.pos..self.pos + 4) == Some(b"null") => {
                self.pos += 4;
                None
            }
            None => return Err(ErrorKind::Unterminated),
            Some(_) => return Err(ErrorKind::BadToken),
        };
        self.skip_ws();
        match self.peek() {
            Some(b']') => {
                self.pos += 1;
                Ok(token)
            }
            Some(b',') => Err(ErrorKind::TooManyElements),
            None => Err(ErrorKind::Unterminated),
            Some(_) => Err(ErrorKind::ExpectedEnd),
        }
    }
}
