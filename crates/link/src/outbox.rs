//! The outgoing side of a link: every producer (reply sinks, event listeners,
//! the link's own task) encodes its messages straight into one shared buffer,
//! and the link's task writes whatever accumulated in one go (batched writes,
//! no per-message allocation). The buffer is bounded: a peer that does not
//! read makes it overflow, and the link is then closed.

use std::sync::{Arc, Mutex, MutexGuard};

use afb_core::{Hooks, Transport};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

struct Inner {
    buf: Vec<u8>,
    closed: bool,
}

/// A bounded outgoing byte queue shared by the producers of one link.
pub struct Outbox {
    inner: Mutex<Inner>,
    notify: Notify,
    /// Cancelled when the link must end (overflow, hang-up asked).
    pub close: CancellationToken,
    limit: usize,
    /// Names the link in logs (`wsapi link`, `RPC link`).
    label: &'static str,
    /// Told of an overflow (the `afb_send_queue_overflows_total` series).
    observed: Option<(Arc<Hooks>, Transport)>,
}

/// Why the outbox refused bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// The link is closed or closing.
    Closed,
}

impl Outbox {
    /// An outbox holding at most `limit` bytes (one message always fits);
    /// `close` ends the link (a child of the server's shutdown token, say);
    /// `label` names the link in logs.
    pub fn new(limit: usize, close: CancellationToken, label: &'static str) -> Self {
        Outbox {
            inner: Mutex::new(Inner {
                buf: Vec::new(),
                closed: false,
            }),
            notify: Notify::new(),
            close,
            limit,
            label,
            observed: None,
        }
    }

    /// Reports overflows to `hooks`' observer as links of `transport`.
    pub fn observed(mut self, hooks: Arc<Hooks>, transport: Transport) -> Self {
        self.observed = Some((hooks, transport));
        self
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends bytes with `fill`; fails when closed. When the queue passes
    /// its bound (and held something before), the link is closed.
    pub fn append(&self, fill: impl FnOnce(&mut Vec<u8>)) -> Result<(), SendError> {
        let mut g = self.lock();
        if g.closed {
            return Err(SendError::Closed);
        }
        let before = g.buf.len();
        fill(&mut g.buf);
        if before > 0 && g.buf.len() > self.limit {
            let queued = g.buf.len();
            g.closed = true;
            g.buf = Vec::new();
            drop(g);
            tracing::warn!(
                queued,
                limit = self.limit,
                "{}: the peer does not read its messages (outgoing queue full): closing the link",
                self.label
            );
            if let Some((h, t)) = &self.observed {
                if let Some(o) = h.get() {
                    o.overflow(*t);
                }
            }
            self.close.cancel();
            return Err(SendError::Closed);
        }
        drop(g);
        if before == 0 {
            self.notify.notify_one();
        }
        Ok(())
    }

    /// Appends pre-encoded bytes.
    pub fn send_raw(&self, bytes: &[u8]) -> Result<(), SendError> {
        self.append(|buf| buf.extend_from_slice(bytes))
    }

    /// Moves the queued bytes into `into` (which must be empty), keeping
    /// `into`'s old allocation for the next batch.
    pub fn take(&self, into: &mut Vec<u8>) {
        let mut g = self.lock();
        std::mem::swap(&mut g.buf, into);
    }

    /// Waits until bytes may have been queued.
    pub async fn wait(&self) {
        self.notify.notified().await
    }

    /// Refuses any further bytes and drops the queued ones.
    pub fn shut(&self) {
        let mut g = self.lock();
        g.closed = true;
        g.buf = Vec::new();
    }

    /// Whether the outbox refuses bytes.
    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_and_overflow() {
        let o = Outbox::new(10, CancellationToken::new(), "test link");
        o.send_raw(b"abcdef").unwrap();
        o.send_raw(b"gh").unwrap();
        let mut b = Vec::new();
        o.take(&mut b);
        assert_eq!(b, b"abcdefgh");
        b.clear();
        o.send_raw(&[0; 50]).expect("one message always fits in an empty queue");
        assert!(!o.close.is_cancelled());
        assert_eq!(o.send_raw(b"x"), Err(SendError::Closed));
        assert!(o.close.is_cancelled());
        assert!(o.is_closed());
        o.take(&mut b);
        assert!(b.is_empty(), "the queue is dropped on overflow");
    }
}
