//! A wsapi link on the shared link task (`afb-link`): binary WebSocket
//! frames, each holding one wsapi message for the stub's [`Handler`]. Any
//! framing or protocol error ends the link with a close frame (1009 for an
//! over-size message, 1008 for a timer's verdict, 1002 otherwise) and a log
//! line.

use afb_link::ws::{self, Frames};
use afb_link::{Driver, End, Outbox, SendError};
use afb_wsapi_codec::frame::close_code;
use afb_wsapi_codec::{decode, encode_framed, Message};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;

/// What a stub does with the messages of its link.
pub(crate) trait Handler: Send {
    /// A message arrived; an error is a protocol error that ends the link.
    fn on_message(&mut self, msg: Message<'_>) -> Result<(), String>;

    /// When [`Handler::on_timer`] should run next, if ever.
    fn next_timer(&self) -> Option<Instant> {
        None
    }

    /// The timer fired; an error ends the link.
    fn on_timer(&mut self) -> Result<(), String> {
        Ok(())
    }
}

/// Sends wsapi messages, each as one binary frame.
pub(crate) trait SendMsg {
    /// Appends one message as a binary frame.
    fn send(&self, msg: &Message<'_>) -> Result<(), SendError>;
}

impl SendMsg for Outbox {
    fn send(&self, msg: &Message<'_>) -> Result<(), SendError> {
        self.append(|buf| encode_framed(msg, buf))
    }
}

struct WsapiDriver<'h, H> {
    frames: Frames,
    handler: &'h mut H,
}

impl<H: Handler> Driver for WsapiDriver<'_, H> {
    fn input(&mut self, bytes: &[u8], out: &Outbox) -> Result<(), End> {
        let handler = &mut *self.handler;
        self.frames.input(bytes, out, |payload| {
            let msg = decode(payload).map_err(|e| e.to_string())?;
            handler.on_message(msg)
        })
    }

    fn next_timer(&self) -> Option<Instant> {
        self.handler.next_timer()
    }

    fn on_timer(&mut self) -> Result<(), End> {
        self.handler
            .on_timer()
            .map_err(|why| End::Protocol(why, close_code::POLICY_VIOLATION))
    }

    fn farewell(&self, end: &End, tail: &mut Vec<u8>) {
        ws::farewell(end, tail)
    }
}

/// Runs a link until it ends. `out` receives what to send; its close token
/// ends the loop.
pub(crate) async fn run<R, W, H>(rd: R, wr: W, out: &Outbox, max_message: usize, handler: &mut H) -> End
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
    H: Handler,
{
    let mut driver = WsapiDriver {
        frames: Frames::new(max_message, "wsapi"),
        handler,
    };
    afb_link::run(rd, wr, out, &mut driver).await
}
