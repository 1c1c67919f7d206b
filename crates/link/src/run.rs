//! The I/O loop of one link, whatever its protocol: one task reads the
//! socket and hands the bytes to the protocol's [`Driver`], runs the
//! driver's timer, and writes the [`Outbox`] in batches. The loop ends when
//! the peer hangs up, a read or write fails, the driver reports a protocol
//! error, or the outbox is closed (shutdown, hang-up asked, overflow); then
//! it tries briefly to deliver what is pending and the driver's farewell
//! bytes (a WebSocket close frame, say).

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::{Duration, Instant};

use crate::outbox::Outbox;

/// Size of the read buffer of a new link (an idle link holds little).
const READ_START: usize = 4 * 1024;
/// Size the read buffer grows to when reads fill it.
const READ_MAX: usize = 64 * 1024;

/// How long a closing link tries to deliver what it still has to send.
const FLUSH_ON_CLOSE: Duration = Duration::from_millis(500);

/// What a protocol does with the bytes of its link.
pub trait Driver: Send {
    /// Bytes arrived (any split); an error ends the link.
    fn input(&mut self, bytes: &[u8], out: &Outbox) -> Result<(), End>;

    /// When [`Driver::on_timer`] should run next, if ever.
    fn next_timer(&self) -> Option<Instant> {
        None
    }

    /// The timer fired; an error ends the link.
    fn on_timer(&mut self) -> Result<(), End> {
        Ok(())
    }

    /// Bytes to send last when the link ends (a close frame); nothing by default.
    fn farewell(&self, _end: &End, _tail: &mut Vec<u8>) {}
}

/// Why a link ended.
#[derive(Debug)]
pub enum End {
    /// The peer closed the stream.
    Eof,
    /// The peer sent a close frame.
    PeerClosed,
    /// A read or write failed.
    Io(io::Error),
    /// A framing or protocol error: the reason, and the WebSocket close
    /// code to send when the link has WebSocket framing.
    Protocol(String, u16),
    /// Closed from our side (shutdown, hang-up, outgoing queue overflow).
    Local,
}

impl End {
    /// Whether the end is abnormal enough for a warning.
    pub fn is_error(&self) -> bool {
        matches!(self, End::Protocol(..) | End::Io(_))
    }
}

impl std::fmt::Display for End {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            End::Eof => f.write_str("the peer closed the connection"),
            End::PeerClosed => f.write_str("the peer sent a close frame"),
            End::Io(e) => write!(f, "I/O error: {e}"),
            End::Protocol(why, 0) => write!(f, "protocol error: {why}"),
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
pub async fn run<R, W, D>(mut rd: R, mut wr: W, out: &Outbox, driver: &mut D) -> End
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
    D: Driver,
{
    let mut rbuf = vec![0u8; READ_START];
    let mut wbuf: Vec<u8> = Vec::new();
    let mut woff = 0usize;
    // Long-lived waits, so that each turn of the loop registers nothing anew.
    let closed = out.close.cancelled();
    tokio::pin!(closed);
    let mut queued = Box::pin(out.wait());
    let mut timer_at = driver.next_timer();
    let timer = tokio::time::sleep_until(timer_at.unwrap_or_else(Instant::now));
    tokio::pin!(timer);
    let end = loop {
        if woff == wbuf.len() {
            wbuf.clear();
            woff = 0;
            out.take(&mut wbuf);
        }
        let want_write = woff < wbuf.len();
        let next = driver.next_timer();
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
                if let Err(end) = driver.on_timer() {
                    break end;
                }
            }
            Step::Read(Ok(0)) => break End::Eof,
            Step::Read(Err(e)) => break End::Io(e),
            Step::Read(Ok(n)) => {
                // What one read gave arrived together: one clock reading
                // serves its calls' deadlines and sessions.
                let input = rbuf.get(..n).unwrap_or_default();
                if let Err(end) = afb_core::clock::batch(|| driver.input(input, out)) {
                    break end;
                }
                if n == rbuf.len() && rbuf.len() < READ_MAX {
                    rbuf.resize(READ_MAX, 0);
                }
            }
        }
    };
    drop(queued);
    // Best effort: deliver what is pending and the farewell, briefly.
    let overflowed = matches!(end, End::Local) && out.is_closed();
    out.shut();
    if !overflowed && !matches!(end, End::Io(_) | End::Eof) {
        let mut tail = wbuf.split_off(woff.min(wbuf.len()));
        driver.farewell(&end, &mut tail);
        let _ = tokio::time::timeout(FLUSH_ON_CLOSE, async {
            let _ = wr.write_all(&tail).await;
            let _ = wr.shutdown().await;
        })
        .await;
    }
    end
}
