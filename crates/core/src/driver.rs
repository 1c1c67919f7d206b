//! The driver of one admitted request: it runs the verb, bounds it by the
//! deadline and the client's cancellation, contains panics, and makes sure
//! the request is answered once.
//!
//! The path reads in one direction: [`Registry::dispatch`] admits a call and
//! hands it to [`run`]; the driver polls the verb once inline and, if the
//! verb is not done, either spawns a task (the verb is still running) or
//! hands the request to the client's watcher ([`crate::watch`]) when the
//! verb kept it for a later reply. Timeouts and client departures end in
//! the request's shared state (`Shared::time_out`, `Shared::client_gone`).

use std::any::Any;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::api::{ApiEntry, BoxFuture};
use crate::reply::Reply;
use crate::request::{ReplySink, Request, Shared};
use crate::status;

use crate::registry::{Call, Registry};

/// Starts the verb of `call`, admitted by `registry` for the API `entry`
/// (its slot is counted in the registry's in-flight requests), and drives
/// it to its reply, which goes to `sink`.
///
/// Inlined into [`Registry::dispatch`]: the call is then moved once, not
/// twice (`scripts/callgrind.sh`, path `dispatch-hello-ping`).
#[inline(always)]
pub(crate) fn run(
    registry: Arc<Registry>,
    entry: Arc<ApiEntry>,
    call: Call<'_>,
    sink: Box<dyn ReplySink>,
    deadline: Option<Instant>,
) {
    let verb = call.verb;
    let shared = Shared::new(registry, entry.clone(), verb, call.args, call.client, call.chain, sink);
    let req = Request::from_shared(shared.clone());
    // The common case below borrows what the slower ones clone: each clone
    // of an `Arc` is a locked instruction per request.
    let fut: BoxFuture<()> = if let Some(rule) = shared.registry.access().verb_rule(entry.name(), verb) {
        // The integrator's rule (`--auth`) holds before the API sees the
        // request.
        let check = crate::access::check_rule(&req, &rule);
        let e = entry.clone();
        let imp = entry.imp.clone();
        Box::pin(async move {
            match check.await {
                Ok(()) if e.noconcurrency => {
                    let _one_at_a_time = e.nc_lock.lock().await;
                    imp.process(req).await
                }
                Ok(()) => imp.process(req).await,
                Err(reply) => {
                    req.reply(reply);
                }
            }
        })
    } else if entry.noconcurrency {
        let e = entry.clone();
        let imp = entry.imp.clone();
        Box::pin(async move {
            let _one_at_a_time = e.nc_lock.lock().await;
            imp.process(req).await
        })
    } else {
        match catch_unwind(AssertUnwindSafe(|| entry.imp.process(req))) {
            Ok(f) => f,
            Err(p) => {
                shared.finish(Reply::error(status::INTERNAL_ERROR, Some("the verb panicked".into())));
                tracing::error!(api = %entry.name(), verb, "verb panicked: {}", panic_message(&*p));
                return;
            }
        }
    };
    drive(shared, fut, deadline);
}

/// Text of a panic payload.
pub(crate) fn panic_message(p: &(dyn Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "(non-text panic payload)".to_owned()
    }
}

/// A future that turns a panic while polling into an `Err`.
pub(crate) struct AssertUnwindSafeFuture<F>(pub(crate) F);

impl<F: Future + Unpin> Future for AssertUnwindSafeFuture<F> {
    type Output = Result<F::Output, Box<dyn Any + Send>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = &mut self.0;
        match catch_unwind(AssertUnwindSafe(|| Pin::new(inner).poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Err(p) => Poll::Ready(Err(p)),
        }
    }
}

fn on_panic(shared: &Shared, p: Box<dyn Any + Send>) {
    let msg = panic_message(&*p);
    tracing::error!(api = %shared.api.name(), verb = %shared.verb, "verb panicked: {msg}");
    shared.finish(Reply::error(status::INTERNAL_ERROR, Some("the verb panicked".into())));
}

/// Runs a verb's future: first polled inline (most verbs reply at once and
/// need no task), else in a task bounded by the deadline and the client's
/// cancellation. A request kept for a later reply is timed out the same way.
///
/// Whenever the driver answers in the verb's place (panic, timeout, client
/// gone), it replies *before* dropping the verb's future, so that the
/// request dropped with the future finds the reply given.
fn drive(shared: Arc<Shared>, mut fut: BoxFuture<()>, deadline: Option<Instant>) {
    let mut cx = Context::from_waker(Waker::noop());
    match catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(&mut cx))) {
        Ok(Poll::Ready(())) => {
            drop(fut);
            if !shared.is_done() {
                // Replied later: the client's watcher keeps it (no task per request).
                match &shared.client.cancel {
                    Some(c) => c.watch(&shared, deadline),
                    None => {
                        tokio::spawn(async move { wait_reply(&shared, deadline, None).await });
                    }
                }
            }
        }
        Ok(Poll::Pending) => {
            let cancel = shared.client.cancel.as_ref().map(|c| c.token().clone());
            tokio::spawn(async move {
                let mut guarded = AssertUnwindSafeFuture(fut);
                let outcome = tokio::select! {
                    r = &mut guarded => match r {
                        Ok(()) => Outcome::Returned,
                        Err(p) => Outcome::Panicked(p),
                    },
                    _ = until(deadline) => Outcome::TimedOut,
                    _ = cancelled(cancel.as_ref()) => Outcome::ClientGone,
                };
                match outcome {
                    Outcome::Returned => {
                        drop(guarded);
                        if !shared.is_done() {
                            wait_reply(&shared, deadline, cancel.as_ref()).await;
                        }
                    }
                    Outcome::Panicked(p) => on_panic(&shared, p),
                    Outcome::TimedOut => shared.time_out(),
                    Outcome::ClientGone => shared.client_gone(),
                }
            });
        }
        Err(p) => on_panic(&shared, p),
    }
}

enum Outcome {
    Returned,
    Panicked(Box<dyn Any + Send>),
    TimedOut,
    ClientGone,
}

async fn wait_reply(shared: &Shared, deadline: Option<Instant>, cancel: Option<&CancellationToken>) {
    tokio::select! {
        _ = shared.notified() => {}
        _ = until(deadline) => shared.time_out(),
        _ = cancelled(cancel) => shared.client_gone(),
    }
}

async fn until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

async fn cancelled(c: Option<&CancellationToken>) {
    match c {
        Some(c) => c.cancelled().await,
        None => std::future::pending().await,
    }
}
