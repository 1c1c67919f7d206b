//! The client side of a request's life: a client connection's cancellation
//! (the connection went away: its requests are answered `disconnected`) and
//! the wall-clock deadlines of the requests it has waiting for an
//! asynchronous reply.
//!
//! A verb that replies later (an imported API waiting for its remote
//! binder, a binding keeping the request) leaves its request pending after
//! its function returned. Rather than one task per such request, one
//! watcher task per client connection keeps them: the deadlines of a
//! registry are `now + api_timeout`, so they arrive in order and a FIFO
//! holds them; the watcher sleeps until the oldest, answers `timeout` to
//! the requests still pending by then, and answers `disconnected` to all of
//! them when the connection's token is cancelled. Entries of requests
//! answered meanwhile are skipped, and dropped in bulk when they outnumber
//! the live ones.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::request::Shared;

/// A client connection's cancellation token, with the watcher of its
/// pending requests. Cheap to clone; clones share the watcher.
#[derive(Clone)]
pub struct ClientCancel(Arc<Watch>);

impl std::fmt::Debug for ClientCancel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCancel")
            .field("cancelled", &self.0.token.is_cancelled())
            .finish()
    }
}

struct Watch {
    token: CancellationToken,
    inner: Mutex<Inner>,
    wake: Notify,
}

#[derive(Default)]
struct Inner {
    /// Requests with a deadline, oldest first.
    timed: VecDeque<(Instant, Weak<Shared>)>,
    /// Requests without a deadline (`api_timeout` 0).
    untimed: Vec<Weak<Shared>>,
    /// Entries that were live at the last clean-up.
    live: usize,
    /// The watcher task runs.
    running: bool,
}

/// Entries beyond which answered requests are dropped from the lists.
const SLACK: usize = 256;

fn lock(m: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn pending(w: &Weak<Shared>) -> Option<Arc<Shared>> {
    if gone(w) {
        return None;
    }
    w.upgrade().filter(|s| !s.is_done())
}

/// Whether the request of `w` is gone: answered and dropped, the usual state
/// of an entry once its reply went out. A plain load, where an upgrade is a
/// locked compare-and-swap.
fn gone(w: &Weak<Shared>) -> bool {
    w.strong_count() == 0
}

impl ClientCancel {
    /// Watches the requests of a client whose departure cancels `token`.
    pub fn new(token: CancellationToken) -> Self {
        ClientCancel(Arc::new(Watch {
            token,
            inner: Mutex::new(Inner::default()),
            wake: Notify::new(),
        }))
    }

    /// The connection's token.
    pub fn token(&self) -> &CancellationToken {
        &self.0.token
    }

    /// How many requests the watcher holds, the answered ones it has not
    /// dropped yet included (a measure of its memory).
    pub fn held(&self) -> usize {
        let inner = lock(&self.0.inner);
        inner.timed.len() + inner.untimed.len()
    }

    /// Keeps `shared`, whose verb returned without replying, until it is
    /// answered, its `deadline` passes (`timeout`) or the client goes away
    /// (`disconnected`). Must be called within a tokio runtime.
    pub(crate) fn watch(&self, shared: &Arc<Shared>, deadline: Option<Instant>) {
        let w = &self.0;
        if w.token.is_cancelled() {
            shared.client_gone();
            return;
        }
        let mut inner = lock(&w.inner);
        // Replies mostly come in the order of the calls: the oldest entries
        // are usually gone by now. Dropping them here keeps the list near
        // the number of requests waiting, so that the scan below is rare.
        while inner.timed.front().is_some_and(|(_, s)| gone(s)) {
            inner.timed.pop_front();
        }
        let entry = Arc::downgrade(shared);
        match deadline {
            Some(d) => {
                let first = inner.timed.is_empty();
                inner.timed.push_back((d, entry));
                if first && inner.running {
                    // The watcher may be waiting without a deadline.
                    w.wake.notify_one();
                }
            }
            None => inner.untimed.push(entry),
        }
        let total = inner.timed.len() + inner.untimed.len();
        if total > 2 * inner.live + SLACK {
            inner.timed.retain(|(_, s)| pending(s).is_some());
            inner.untimed.retain(|s| pending(s).is_some());
            inner.live = inner.timed.len() + inner.untimed.len();
        }
        if !inner.running {
            inner.running = true;
            let me = self.0.clone();
            tokio::spawn(async move { me.run().await });
        }
    }
}

impl Watch {
    async fn run(self: Arc<Self>) {
        loop {
            // Time out what is due; find the next deadline, or stop when
            // nothing is left (under the lock, so that `watch` restarts us).
            let mut due = Vec::new();
            let next = {
                let mut inner = lock(&self.inner);
                let now = Instant::now();
                while inner.timed.front().is_some_and(|(d, _)| *d <= now) {
                    if let Some((_, s)) = inner.timed.pop_front() {
                        due.push(s);
                    }
                }
                while inner.timed.front().is_some_and(|(_, s)| pending(s).is_none()) {
                    inner.timed.pop_front();
                }
                if inner.timed.is_empty() && inner.untimed.iter().all(|s| pending(s).is_none()) {
                    inner.untimed.clear();
                    inner.live = 0;
                    inner.running = false;
                    None
                } else {
                    Some(inner.timed.front().map(|(d, _)| *d))
                }
            };
            for s in due.iter().filter_map(pending) {
                s.time_out();
            }
            let Some(next) = next else { return };
            let sleep = async {
                match next {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = self.token.cancelled() => {
                    let all: Vec<Weak<Shared>> = {
                        let mut inner = lock(&self.inner);
                        inner.running = false;
                        inner.live = 0;
                        let mut all: Vec<_> = inner.timed.drain(..).map(|(_, s)| s).collect();
                        all.append(&mut inner.untimed);
                        all
                    };
                    for s in all.iter().filter_map(pending) {
                        s.client_gone();
                    }
                    return;
                }
                () = sleep => {}
                () = self.wake.notified() => {}
            }
        }
    }
}
