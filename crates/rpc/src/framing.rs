//! The bytes of a link: the raw chunk stream, or RPC inside WebSocket
//! binary messages (`ws+`, `x-afb-ws-rpc`); encoding into the outbox; the
//! version exchange that opens a link; and the [`Driver`] that decodes what
//! the peer sends for the link.
//!
//! The version exchange runs before the link task starts: the initiator
//! writes the offer alone, the acceptor answers it alone, and no chunk goes
//! out before it (the C receiver aligns chunks on its read buffers).

use std::time::Duration;

use afb_link::caller::Ticker;
use afb_link::ws::{self, Frames};
use afb_link::{Driver, End, Outbox};
use afb_rpc_codec::version::{choose_version, OFFER, VERSION_3, VERSION_NONE};
use afb_rpc_codec::{encode, encoded_len, DecodeError, EncodeError, Message, Phase, StreamDecoder};
use afb_wsapi_codec::frame::{self, FrameDecoder, FrameEvent, OpCode};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

use crate::link::Link;

/// How messages travel on a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// A byte stream of messages (sockets, `x-afb-rpc`).
    Raw,
    /// Each emission one unmasked binary WebSocket frame (`ws+`, `x-afb-ws-rpc`);
    /// masked and unmasked frames are accepted.
    Ws,
    /// The same with masked frames (a client of an `x-afb-ws-rpc` WebSocket).
    WsMasked,
}

impl Framing {
    fn websocket(self) -> bool {
        self != Framing::Raw
    }
}

/// A mask key for a client frame.
fn mask_key() -> [u8; 4] {
    let b = *uuid::Uuid::new_v4().as_bytes();
    [b[0], b[1], b[2], b[3]]
}

/// `bytes` framed as one binary message of `framing`.
fn framed(framing: Framing, bytes: &[u8], out: &mut Vec<u8>) {
    match framing {
        Framing::Raw => out.extend_from_slice(bytes),
        Framing::Ws => frame::encode_binary(bytes, out),
        Framing::WsMasked => frame::encode_frame(OpCode::Binary, true, bytes, Some(mask_key()), out),
    }
}

/// Which side opens the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Connects and offers the version.
    Initiator,
    /// Accepts and answers the offer.
    Acceptor,
}

/// Appends `msg` (chunk number `seqno`) to `buf` in `framing` (one binary
/// frame in the WebSocket framings); nothing is appended on error.
pub fn encode_into(framing: Framing, msg: &Message<'_>, seqno: u16, buf: &mut Vec<u8>) -> Result<(), EncodeError> {
    let start = buf.len();
    let mask = (framing == Framing::WsMasked).then(mask_key);
    if framing.websocket() {
        frame::encode_header(OpCode::Binary, true, encoded_len(msg)?, mask, buf);
    }
    let body = buf.len();
    encode(msg, seqno, buf).inspect_err(|_| buf.truncate(start))?;
    if let (Some(key), Some(payload)) = (mask, buf.get_mut(body..)) {
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= key[i % 4];
        }
    }
    Ok(())
}

/// Appends `msg` to the outbox; `Err(None)` when the link is closed.
pub(crate) fn send(out: &Outbox, framing: Framing, msg: &Message<'_>, seqno: u16) -> Result<(), Option<EncodeError>> {
    let mut result = Ok(());
    out.append(|buf| result = encode_into(framing, msg, seqno, buf))
        .map_err(|_| None)?;
    result.map_err(Some)
}

/// What a link's receiver goes on with after the version exchange.
pub(crate) struct Opened {
    input: Input,
    /// Bytes read after the version message, for the link.
    pub(crate) leftover: Vec<u8>,
}

enum Input {
    Raw { dec: StreamDecoder, pending: Vec<u8> },
    Ws { frames: Box<Frames>, dec: StreamDecoder },
}

/// Largest version message (a VERSION-OFFER of 255 versions).
const MAX_VERSION_MESSAGE: usize = 6 + 255;

/// A version message received.
enum Version {
    Offer(Vec<u8>),
    Set(u8),
}

impl Version {
    fn of(msg: Message<'_>) -> Result<Version, String> {
        match msg {
            Message::VersionOffer { versions } => Ok(Version::Offer(versions.to_vec())),
            Message::VersionSet { version } => Ok(Version::Set(version)),
            // The decoder gives only version messages in its version phase.
            other => Err(format!("{:?} instead of a version message", other.operation())),
        }
    }
}

/// Runs the version exchange within `within`: the initiator offers version
/// 3 and needs it back, the acceptor answers the offer (`76 00` when 3 is
/// not offered, and the link ends). The error is the reason for the log.
pub(crate) async fn open<R, W>(
    rd: &mut R,
    wr: &mut W,
    framing: Framing,
    role: Role,
    within: Duration,
    max_message: usize,
) -> Result<Opened, String>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let framed = |bytes: &[u8]| {
        let mut out = Vec::new();
        framed(framing, bytes, &mut out);
        out
    };
    let exchange = async {
        if role == Role::Initiator {
            wr.write_all(&framed(&OFFER))
                .await
                .map_err(|e| format!("cannot send the version offer: {e}"))?;
        }
        let (version, opened) = read_version(rd, wr, framing, max_message).await?;
        match (role, version) {
            (Role::Initiator, Version::Set(VERSION_3)) => Ok(opened),
            (Role::Initiator, Version::Set(v)) => Err(format!("the peer answered version {v} (3 offered)")),
            (Role::Acceptor, Version::Offer(versions)) => {
                let version = choose_version(&versions);
                let mut answer = Vec::new();
                // A version message always encodes.
                let _ = encode(&Message::VersionSet { version }, 0, &mut answer);
                wr.write_all(&framed(&answer))
                    .await
                    .map_err(|e| format!("cannot answer the version: {e}"))?;
                if version == VERSION_NONE {
                    let _ = wr.shutdown().await;
                    return Err(format!("no common version (offered {versions:?}, 3 spoken here)"));
                }
                Ok(opened)
            }
            (Role::Initiator, Version::Offer(_)) => Err("the peer sent a version offer instead of an answer".into()),
            (Role::Acceptor, Version::Set(_)) => Err("the peer sent a version answer instead of an offer".into()),
        }
    };
    tokio::time::timeout(within, exchange)
        .await
        .unwrap_or_else(|_| Err(format!("no version message within {} s", within.as_secs())))
}

/// Reads the peer's version message; gives it and what follows.
async fn read_version<R, W>(
    rd: &mut R,
    wr: &mut W,
    framing: Framing,
    max_message: usize,
) -> Result<(Version, Opened), String>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut dec = StreamDecoder::new();
    let mut buf = Vec::new();
    let mut frames = FrameDecoder::new(max_message);
    let mut chunk = [0u8; 512];
    loop {
        let n = rd.read(&mut chunk).await.map_err(|e| format!("read error: {e}"))?;
        if n == 0 {
            return Err("the peer closed the connection during the version exchange".into());
        }
        let mut input = chunk.get(..n).unwrap_or_default();
        match framing {
            Framing::Raw => {
                buf.extend_from_slice(input);
                match dec.decode(&buf) {
                    Ok(d) => {
                        let version = Version::of(d.message)?;
                        let leftover = buf.get(d.consumed..).unwrap_or_default().to_vec();
                        let input = Input::Raw {
                            dec,
                            pending: Vec::new(),
                        };
                        return Ok((version, Opened { input, leftover }));
                    }
                    Err(DecodeError::Incomplete { .. }) if buf.len() < MAX_VERSION_MESSAGE => {}
                    Err(DecodeError::Incomplete { .. }) => return Err("version message too long".into()),
                    Err(DecodeError::Fatal(e)) => return Err(e.to_string()),
                }
            }
            Framing::Ws | Framing::WsMasked => {
                while let Some(event) = frames
                    .decode(&mut input)
                    .map_err(|e| format!("WebSocket framing: {e}"))?
                {
                    match event {
                        FrameEvent::Binary(payload) => {
                            let version = {
                                let mut msgs = dec.decode_ws_message(&payload);
                                let version = match msgs.next() {
                                    Some(Ok(d)) => Version::of(d.message)?,
                                    Some(Err(e)) => return Err(e.to_string()),
                                    None => return Err("empty WebSocket message".into()),
                                };
                                if msgs.next().is_some() {
                                    return Err("chunks in the WebSocket message of the version".into());
                                }
                                version
                            };
                            dec.set_phase(Phase::Chunks);
                            let leftover = input.to_vec();
                            let input = Input::Ws {
                                frames: Box::new(Frames::from_decoder(frames, "RPC")),
                                dec,
                            };
                            return Ok((version, Opened { input, leftover }));
                        }
                        FrameEvent::Ping(p) => {
                            let mut pong = Vec::new();
                            frame::encode_pong(&p, &mut pong);
                            wr.write_all(&pong).await.map_err(|e| format!("write error: {e}"))?;
                        }
                        FrameEvent::Pong(_) => {}
                        FrameEvent::Text(_) => return Err("text frame on an RPC link".into()),
                        FrameEvent::Close(_) => {
                            return Err("the peer closed the link during the version exchange".into())
                        }
                    }
                }
            }
        }
    }
}

/// The receiving side of an open link, for the link task.
pub(crate) struct LinkDriver {
    pub(crate) link: std::sync::Arc<Link>,
    input: Input,
    ticker: Ticker,
}

impl LinkDriver {
    pub(crate) fn new(link: std::sync::Arc<Link>, opened: Opened) -> (LinkDriver, Vec<u8>) {
        let driver = LinkDriver {
            ticker: Ticker::new(link.call_timeout()),
            link,
            input: opened.input,
        };
        (driver, opened.leftover)
    }
}

/// A fatal error of the protocol (no close code on a raw stream).
fn fatal(why: String) -> End {
    End::Protocol(why, 0)
}

impl Driver for LinkDriver {
    fn input(&mut self, bytes: &[u8], out: &Outbox) -> Result<(), End> {
        let link = &self.link;
        match &mut self.input {
            Input::Raw { dec, pending } => {
                let fresh = pending.is_empty();
                if !fresh {
                    pending.extend_from_slice(bytes);
                }
                let buf: &[u8] = if fresh { bytes } else { pending };
                let mut pos = 0;
                let result = loop {
                    match dec.decode(buf.get(pos..).unwrap_or_default()) {
                        Ok(d) => {
                            pos += d.consumed;
                            if let Err(why) = link.on_message(d.message) {
                                break Err(fatal(why));
                            }
                        }
                        Err(DecodeError::Incomplete { .. }) => break Ok(()),
                        Err(DecodeError::Fatal(e)) => break Err(fatal(e.to_string())),
                    }
                };
                if fresh {
                    pending.extend_from_slice(bytes.get(pos..).unwrap_or_default());
                } else {
                    pending.drain(..pos.min(pending.len()));
                }
                result
            }
            Input::Ws { frames, dec } => frames.input(bytes, out, |payload| {
                for item in dec.decode_ws_message(payload) {
                    let d = item.map_err(|e| e.to_string())?;
                    link.on_message(d.message)?;
                }
                Ok(())
            }),
        }
    }

    fn next_timer(&self) -> Option<Instant> {
        Some(self.ticker.at())
    }

    fn on_timer(&mut self) -> Result<(), End> {
        let now = self.ticker.fire();
        self.link.on_tick(now).map_err(fatal)
    }

    fn farewell(&self, end: &End, tail: &mut Vec<u8>) {
        if matches!(self.input, Input::Ws { .. }) {
            ws::farewell(end, tail)
        }
    }
}
