//! The connection of a client link, made by the first call that needs it
//! and made again by the first call after it was lost, never in the
//! background. Calls that wait while another one connects share its
//! outcome: a dead peer costs one attempt, not one per waiting call.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use afb_core::api::BoxFuture;
use afb_core::{status, Request};

/// A lazily (re)made connection of type `T`.
pub struct Lazy<T> {
    slot: Mutex<Option<Arc<T>>>,
    attempts: AtomicU64,
    /// Held while connecting; the last failure.
    connecting: tokio::sync::Mutex<String>,
    alive: fn(&T) -> bool,
    peer: String,
}

impl<T> Lazy<T> {
    /// No connection yet to `peer` (named in messages); `alive` tells
    /// whether a made connection still works.
    pub fn new(alive: fn(&T) -> bool, peer: impl Into<String>) -> Lazy<T> {
        Lazy {
            slot: Mutex::new(None),
            attempts: AtomicU64::new(0),
            connecting: tokio::sync::Mutex::new(String::new()),
            alive,
            peer: peer.into(),
        }
    }

    /// The peer, as named in messages.
    pub fn peer(&self) -> &str {
        &self.peer
    }

    fn slot(&self) -> MutexGuard<'_, Option<Arc<T>>> {
        self.slot.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The live connection, if any.
    pub fn current(&self) -> Option<Arc<T>> {
        self.slot().clone().filter(|c| (self.alive)(c))
    }

    /// The connection last made, alive or not: for a caller whose use of it
    /// fails on a dead connection anyway (a call given back by `send`), which
    /// saves the liveness check.
    fn latest(&self) -> Option<Arc<T>> {
        self.slot().clone()
    }

    /// The live connection, made with `make` when there is none. Callers
    /// that waited while another one tried and failed get that failure.
    pub async fn connect<F>(&self, make: impl FnOnce() -> F) -> Result<Arc<T>, String>
    where
        F: Future<Output = Result<Arc<T>, String>>,
    {
        let seen = self.attempts.load(Ordering::Acquire);
        let mut last_error = self.connecting.lock().await;
        if let Some(c) = self.current() {
            return Ok(c);
        }
        if self.attempts.load(Ordering::Acquire) != seen {
            return Err(last_error.clone());
        }
        let made = make().await;
        // Counted once done: whoever waited meanwhile shares this outcome.
        self.attempts.fetch_add(1, Ordering::AcqRel);
        match made {
            Ok(c) => {
                *self.slot() = Some(c.clone());
                Ok(c)
            }
            Err(e) => {
                last_error.clone_from(&e);
                Err(e)
            }
        }
    }

    /// Sets the connection (a peer connected to us).
    pub fn set(&self, conn: Arc<T>) {
        *self.slot() = Some(conn);
    }

    /// Forgets `conn` if it is the current connection: the next call connects.
    pub fn forget(&self, conn: &Arc<T>) {
        let mut slot = self.slot();
        if slot.as_ref().is_some_and(|c| Arc::ptr_eq(c, conn)) {
            *slot = None;
        }
    }
}

/// The client side of a protocol: a connection made lazily.
pub trait Connects: Send + Sync + 'static {
    /// The connection.
    type Link: Send + Sync + 'static;
    /// Where it is kept.
    fn lazy(&self) -> &Lazy<Self::Link>;
    /// Makes a connection (the error is the reason, for the caller).
    fn open(self: Arc<Self>) -> BoxFuture<Result<Arc<Self::Link>, String>>;
}

/// The live connection of `core`, made when there is none.
pub async fn connect<C: Connects>(core: &Arc<C>) -> Result<Arc<C::Link>, String> {
    core.lazy().connect(|| core.clone().open()).await
}

/// Runs `req` with `send` on the connection of `core` (`arg` is for
/// `send`): at once on a live connection, else after connecting. When no
/// connection can be made, `req` is answered `unreachable` with the
/// reason; when the connection is lost between connecting and sending,
/// `disconnected`.
pub fn call_through<C: Connects, A: Clone + Send + Sync + 'static>(
    core: &Arc<C>,
    req: Request,
    arg: &A,
    send: fn(&C::Link, &A, Request) -> Result<(), Request>,
    unreachable: &'static str,
) -> BoxFuture<()> {
    // A dead connection gives the request back: `connect` then makes a new one.
    let req = match core.lazy().latest() {
        Some(link) => match send(&link, arg, req) {
            Ok(()) => return afb_core::api::done(),
            Err(req) => req,
        },
        None => req,
    };
    let (core, arg) = (core.clone(), arg.clone());
    Box::pin(async move {
        match connect(&core).await {
            Ok(link) => {
                if let Err(req) = send(&link, &arg, req) {
                    req.fail(
                        status::DISCONNECTED,
                        Some(format!("the link to {} was lost", core.lazy().peer())),
                    );
                }
            }
            Err(e) => {
                req.fail(unreachable, Some(e));
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    #[tokio::test]
    async fn one_attempt_for_waiting_callers_and_reconnection() {
        let lazy: Arc<Lazy<AtomicBool>> = Arc::new(Lazy::new(|c| c.load(Ordering::SeqCst), "test"));
        let tries = Arc::new(AtomicU64::new(0));
        let fail = |tries: Arc<AtomicU64>| async move {
            tries.fetch_add(1, Ordering::SeqCst);
            tokio::task::yield_now().await;
            Err::<Arc<AtomicBool>, _>("refused".to_owned())
        };
        let (a, b) = tokio::join!(
            lazy.connect(|| fail(tries.clone())),
            lazy.connect(|| fail(tries.clone()))
        );
        assert_eq!(
            (a.unwrap_err(), b.unwrap_err()),
            ("refused".to_owned(), "refused".to_owned())
        );
        assert_eq!(
            tries.load(Ordering::SeqCst),
            1,
            "the second caller shares the first failure"
        );
        let c = lazy
            .connect(|| async { Ok(Arc::new(AtomicBool::new(true))) })
            .await
            .unwrap();
        assert!(lazy.current().is_some());
        c.store(false, Ordering::SeqCst);
        assert!(lazy.current().is_none(), "a dead connection is not current");
        let d = lazy
            .connect(|| async { Ok(Arc::new(AtomicBool::new(true))) })
            .await
            .unwrap();
        assert!(!Arc::ptr_eq(&c, &d));
        lazy.forget(&c);
        assert!(
            lazy.current().is_some(),
            "forgetting another connection changes nothing"
        );
        lazy.forget(&d);
        assert!(lazy.current().is_none());
    }
}
