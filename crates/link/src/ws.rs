//! WebSocket framing on a link without HTTP handshake (wsapi, RPC `ws+`,
//! RPC inside an `x-afb-ws-rpc` WebSocket): [`Frames`] turns received bytes
//! into binary messages (masked or not, fragments reassembled, bounded),
//! answers pings, refuses text frames, and [`farewell`] writes the close
//! frame that ends a link.

use afb_wsapi_codec::frame::{self, close_code, FrameDecoder, FrameEvent};

use crate::outbox::Outbox;
use crate::run::End;

/// The receiving side of a WebSocket-framed link.
pub struct Frames {
    decoder: FrameDecoder,
    /// Names the protocol in error messages (`wsapi`, `RPC`).
    label: &'static str,
}

impl Frames {
    /// A decoder of frames whose messages are at most `max_message` bytes.
    pub fn new(max_message: usize, label: &'static str) -> Frames {
        Frames::from_decoder(FrameDecoder::new(max_message), label)
    }

    /// Goes on with a decoder that already read the first frames (a
    /// version exchange made before the link task started).
    pub fn from_decoder(decoder: FrameDecoder, label: &'static str) -> Frames {
        Frames { decoder, label }
    }

    /// Feeds read bytes: each complete binary message goes to `on_binary`
    /// (an error there is a protocol error, close code 1002); pings are
    /// answered; a text frame (1003), a framing error or a close frame end
    /// the link.
    pub fn input(
        &mut self,
        mut bytes: &[u8],
        out: &Outbox,
        mut on_binary: impl FnMut(&[u8]) -> Result<(), String>,
    ) -> Result<(), End> {
        loop {
            match self.decoder.decode(&mut bytes) {
                Ok(None) => return Ok(()),
                Err(e) => return Err(End::Protocol(e.to_string(), e.close_code())),
                Ok(Some(FrameEvent::Binary(payload))) => {
                    on_binary(&payload).map_err(|why| End::Protocol(why, close_code::PROTOCOL_ERROR))?
                }
                Ok(Some(FrameEvent::Text(_))) => {
                    return Err(End::Protocol(
                        format!("text frame on a {} link (only binary frames are used)", self.label),
                        close_code::UNSUPPORTED_DATA,
                    ))
                }
                Ok(Some(FrameEvent::Ping(p))) => {
                    let _ = out.append(|b| frame::encode_pong(&p, b));
                }
                Ok(Some(FrameEvent::Pong(_))) => {}
                Ok(Some(FrameEvent::Close(_))) => return Err(End::PeerClosed),
            }
        }
    }
}

/// Appends the close frame that ends a link for `end`: the protocol error's
/// code and reason, 1000 answering the peer's close, else 1001 (going away).
pub fn farewell(end: &End, tail: &mut Vec<u8>) {
    match end {
        End::Protocol(why, code) => frame::encode_close(Some((*code, why)), tail),
        End::PeerClosed => frame::encode_close(Some((close_code::NORMAL, "")), tail),
        _ => frame::encode_close(Some((close_code::GOING_AWAY, "")), tail),
    }
}
