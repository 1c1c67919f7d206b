//! The I/O loop of one link, shared by the server and client stubs: one task
//! reads frames (bounded by the maximum message size), answers pings, hands
//! each wsapi message to the stub's [`Handler`], runs its timer, and writes
//! the [`Outbox`] in batches. Any framing or protocol error ends the link with
//! a close frame (1009 for an over-size message, 1002 otherwise) and a log line.

use std::io;

use afb_wsapi_codec::frame::{self, close_code, FrameDecoder, FrameEvent};
use afb_wsapi_codec::{decode, Message};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::{Duration, Instant};

use crate::outbox::Outbox;

/// Size of the read buffer of a new link (an idle link holds little).
const READ_START: usize = 4 * 1024;
/// Size the read buffer grows to when reads fill it.
const READ_MAX: usize = 64 * 1024;

/// How long a closing link tries to deliver what it still has to send.
const FLUSH_ON_CLOSE: Duration = Duration::from_millis(500);

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

/// Why a link ended.
#[derive(Debug)]
pub(crate) enum End {
    /// The peer closed the stream.
    Eof,
    /// The peer sent a close frame.
    PeerClosed,
    /// A read or write failed.
    Io(io::Error),
    /// A framing or protocol error (reason, close code sent).
    Protocol(String, u16),
    /// Closed from our side (shutdown, hang-up, outgoing queue overflow).
    Local,
}

impl End {
    /// Whether the end is abnormal enough for a warning.
    pub(crate) fn is_error(&self) -> bool {
        matches!(self, End::Protocol(..) | End::Io(_))
    }
}

impl std::fmt::Display for End {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            End::Eof => f.write_str("the peer closed the connection"),
            End::PeerClosed => f.write_str("the peer sent a close frame"),
            End::Io(e) => write!(f, "I/O error: {e}"),
            End::Protocol(why, code) => write!(f, "protocol error ({code}): {why}"),
            End::Local => f.write_str("closed locally"),
        }
    }
}

enum Step {
    Read(io::Result<usize>),
    Wrote(io::Result<usize>),
    Queued,
    Timer,
    Closed,
}

/// Runs a link until it ends. `out` receives what to send; its close token
/// ends the loop.
pub(crate) async fn run<R, W, H>(mut rd: R, mut wr: W, out: &Outbox, max_message: usize, handler: &mut H) -> End
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
    H: Handler,
{
    let mut decoder = FrameDecoder::new(max_message);
    let mut rbuf = vec![0u8; READ_START];
    let mut wbuf: Vec<u8> = Vec::new();
    let mut woff = 0usize;
    // Long-lived waits, so that each turn of the loop registers nothing anew.
    let closed = out.close.cancelled();
    tokio::pin!(closed);
    let mut queued = Box::pin(out.wait());
    let mut timer_at = handler.next_timer();
    let timer = tokio::time::sleep_until(timer_at.unwrap_or_else(Instant::now));
    tokio::pin!(timer);
    let end = loop {
        if woff == wbuf.len() {
            wbuf.clear();
            woff = 0;
            out.take(&mut wbuf);
        }
        let want_write = woff < wbuf.len();
        let next = handler.next_timer();
        if next != timer_at {
            timer_at = next;
            if let Some(t) = next {
                timer.as_mut().reset(t);
            }
        }
        let step = tokio::select! {
            biased;
            _ = &mut closed => Step::Closed,
            r = wr.write(wbuf.get(woff..).unwrap_or_default()), if want_write => Step::Wrote(r),
            _ = &mut queued, if !want_write => Step::Queued,
            _ = &mut timer, if timer_at.is_some() => Step::Timer,
            r = rd.read(&mut rbuf) => Step::Read(r),
        };
        match step {
            Step::Closed => break End::Local,
            Step::Queued => queued = Box::pin(out.wait()),
            Step::Wrote(Ok(0)) => break End::Io(io::ErrorKind::WriteZero.into()),
            Step::Wrote(Ok(n)) => woff += n,
            Step::Wrote(Err(e)) => break End::Io(e),
            Step::Timer => {
                timer_at = None;
                if let Err(why) = handler.on_timer() {
                    break End::Protocol(why, close_code::POLICY_VIOLATION);
                }
            }
            Step::Read(Ok(0)) => break End::Eof,
            Step::Read(Err(e)) => break End::Io(e),
            Step::Read(Ok(n)) => {
                if let Some(end) = consume(&mut decoder, rbuf.get(..n).unwrap_or_default(), out, handler) {
                    break end;
                }
                if n == rbuf.len() && rbuf.len() < READ_MAX {
                    rbuf.resize(READ_MAX, 0);
                }
            }
        }
    };
    drop(queued);
    // Best effort: deliver what is pending and a close frame, briefly.
    let overflowed = matches!(end, End::Local) && out.is_closed();
    out.shut();
    if !overflowed && !matches!(end, End::Io(_) | End::Eof) {
        let mut tail = wbuf.split_off(woff.min(wbuf.len()));
        match &end {
            End::Protocol(why, code) => frame::encode_close(Some((*code, why)), &mut tail),
            End::PeerClosed => frame::encode_close(Some((close_code::NORMAL, "")), &mut tail),
            _ => frame::encode_close(Some((close_code::GOING_AWAY, "")), &mut tail),
        }
        let _ = tokio::time::timeout(FLUSH_ON_CLOSE, async {
            let _ = wr.write_all(&tail).await;
            let _ = wr.shutdown().await;
        })
        .await;
    }
    end
}

/// Feeds read bytes to the frame decoder and handles every complete event.
fn consume<H: Handler>(decoder: &mut FrameDecoder, mut input: &[u8], out: &Outbox, handler: &mut H) -> Option<End> {
    loop {
        match decoder.decode(&mut input) {
            Ok(None) => return None,
            Err(e) => return Some(End::Protocol(e.to_string(), e.close_code())),
            Ok(Some(FrameEvent::Binary(payload))) => match decode(&payload) {
                Err(e) => return Some(End::Protocol(e.to_string(), close_code::PROTOCOL_ERROR)),
                Ok(msg) => {
                    if let Err(why) = handler.on_message(msg) {
                        return Some(End::Protocol(why, close_code::PROTOCOL_ERROR));
                    }
                }
            },
            Ok(Some(FrameEvent::Text(_))) => {
                return Some(End::Protocol(
                    "text frame on a wsapi link (only binary frames are used)".into(),
                    close_code::UNSUPPORTED_DATA,
                ))
            }
            Ok(Some(FrameEvent::Ping(p))) => {
                let _ = out.append(|b| frame::encode_pong(&p, b));
            }
            Ok(Some(FrameEvent::Pong(_))) => {}
            Ok(Some(FrameEvent::Close(_))) => return Some(End::PeerClosed),
        }
    }
}
