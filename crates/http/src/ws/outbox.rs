//! The outgoing queue of one WebSocket connection: bounded, filled without
//! waiting by whatever produces output for the client (reply sinks, event
//! pushes, calls to the client), emptied by the connection's task.
//!
//! A deque under a mutex, with the waker of the task when it waits. It
//! holds no memory until something is queued, where a tokio `mpsc` channel
//! allocates its shared state and a first block of 32 slots up front
//! (~1.5 KiB per idle connection).

use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::task::{Poll, Waker};

/// Why a message was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PushError {
    /// The queue holds its capacity.
    Full,
    /// The connection ended: nobody will read the queue.
    Closed,
}

struct State<T> {
    items: VecDeque<T>,
    /// The connection's task, when it waits for a message.
    waker: Option<Waker>,
    closed: bool,
}

/// A bounded queue with one consumer (see the module documentation).
pub(crate) struct Outbox<T> {
    state: Mutex<State<T>>,
    /// How many messages are queued (written under the lock; read without
    /// it by the consumer's batching decisions).
    queued: AtomicUsize,
    capacity: usize,
}

/// Capacity kept by an emptied queue; beyond, its memory is given back.
const KEEP: usize = 64;

impl<T> Outbox<T> {
    /// An empty queue of at most `capacity` messages (1 at least).
    pub(crate) fn new(capacity: usize) -> Self {
        Outbox {
            state: Mutex::new(State {
                items: VecDeque::new(),
                waker: None,
                closed: false,
            }),
            queued: AtomicUsize::new(0),
            capacity: capacity.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `m` without waiting, and wakes the consumer if it waits.
    pub(crate) fn try_push(&self, m: T) -> Result<(), PushError> {
        let waker = {
            let mut st = self.lock();
            if st.closed {
                return Err(PushError::Closed);
            }
            if st.items.len() >= self.capacity {
                return Err(PushError::Full);
            }
            st.items.push_back(m);
            self.queued.store(st.items.len(), Ordering::Release);
            // The consumer registers its waker only after finding the queue
            // empty: the first message after that wakes it.
            if st.items.len() == 1 {
                st.waker.take()
            } else {
                None
            }
        };
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }

    /// Number of messages queued.
    pub(crate) fn len(&self) -> usize {
        self.queued.load(Ordering::Acquire)
    }

    /// Whether nothing is queued.
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn take_locked(&self, st: &mut State<T>, into: &mut Vec<T>, max: usize) -> usize {
        let n = st.items.len().min(max);
        into.extend(st.items.drain(..n));
        self.queued.store(st.items.len(), Ordering::Release);
        if st.items.is_empty() && st.items.capacity() > KEEP {
            st.items = VecDeque::new();
        }
        n
    }

    /// Moves up to `max` queued messages into `into` without waiting;
    /// returns how many.
    pub(crate) fn take(&self, into: &mut Vec<T>, max: usize) -> usize {
        self.take_locked(&mut self.lock(), into, max)
    }

    /// Waits until something is queued, then moves up to `max` messages
    /// into `into`; returns how many (0 once the queue is closed).
    pub(crate) async fn recv_many(&self, into: &mut Vec<T>, max: usize) -> usize {
        poll_fn(|cx| {
            let mut st = self.lock();
            if !st.items.is_empty() {
                return Poll::Ready(self.take_locked(&mut st, into, max));
            }
            if st.closed {
                return Poll::Ready(0);
            }
            match &mut st.waker {
                Some(w) if w.will_wake(cx.waker()) => {}
                slot => *slot = Some(cx.waker().clone()),
            }
            Poll::Pending
        })
        .await
    }

    /// Ends the queue: what it holds is dropped, and later pushes fail
    /// with [`PushError::Closed`].
    pub(crate) fn close(&self) {
        let (items, waker) = {
            let mut st = self.lock();
            st.closed = true;
            self.queued.store(0, Ordering::Release);
            (std::mem::take(&mut st.items), st.waker.take())
        };
        drop(items);
        if let Some(w) = waker {
            w.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn bounded_and_closable() {
        let q = Outbox::new(2);
        assert_eq!(q.try_push(1), Ok(()));
        assert_eq!(q.try_push(2), Ok(()));
        assert_eq!(q.try_push(3), Err(PushError::Full));
        assert_eq!(q.len(), 2);
        let mut out = Vec::new();
        assert_eq!(q.take(&mut out, 1), 1);
        assert_eq!(out, vec![1]);
        assert_eq!(q.try_push(3), Ok(()));
        q.close();
        assert!(q.is_empty(), "closing drops what is queued");
        assert_eq!(q.try_push(4), Err(PushError::Closed));
        assert_eq!(q.take(&mut out, 10), 0);
    }

    #[test]
    fn an_emptied_queue_gives_its_memory_back() {
        let q = Outbox::new(1000);
        assert_eq!(q.lock().items.capacity(), 0, "a new queue holds no memory");
        for i in 0..500 {
            q.try_push(i).unwrap();
        }
        let mut out = Vec::new();
        assert_eq!(q.take(&mut out, 1000), 500);
        assert_eq!(q.lock().items.capacity(), 0);
        q.try_push(1).unwrap();
        assert_eq!(q.take(&mut out, 1000), 1);
        assert!(q.lock().items.capacity() > 0, "a small queue keeps its slots");
    }

    #[tokio::test]
    async fn the_consumer_waits_and_is_woken_by_a_push_from_another_thread() {
        let q = Arc::new(Outbox::new(16));
        let producer = {
            let q = q.clone();
            std::thread::spawn(move || {
                for i in 0..1000 {
                    while q.try_push(i) == Err(PushError::Full) {
                        std::thread::yield_now();
                    }
                }
                q.close_after_drain_for_test();
            })
        };
        let mut got = Vec::new();
        let mut batch = Vec::new();
        loop {
            batch.clear();
            if q.recv_many(&mut batch, 7).await == 0 {
                break;
            }
            assert!(batch.len() <= 7);
            got.extend_from_slice(&batch);
        }
        producer.join().unwrap();
        assert_eq!(got, (0..1000).collect::<Vec<_>>(), "every message once, in order");
    }

    impl<T> Outbox<T> {
        /// Closes once the consumer has taken everything (tests only).
        fn close_after_drain_for_test(&self) {
            while !self.is_empty() {
                std::thread::yield_now();
            }
            self.close();
        }
    }

    #[tokio::test]
    async fn close_wakes_a_waiting_consumer() {
        let q = Arc::new(Outbox::<u32>::new(4));
        let waiter = {
            let q = q.clone();
            tokio::spawn(async move {
                let mut v = Vec::new();
                q.recv_many(&mut v, 4).await
            })
        };
        tokio::task::yield_now().await;
        q.close();
        assert_eq!(waiter.await.unwrap(), 0);
    }
}
