//! Events: named `API/NAME`, pushed to their subscribers, or broadcast to
//! every listener with a 16-byte uuid and a hop count so that linked binders
//! never loop a broadcast.
//!
//! Transports implement [`Listener`] (a WebSocket connection, a wsapi link)
//! and [`Subscriber`] (what a request uses to subscribe its client).

use std::any::Any;
use std::collections::{HashSet, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};

use crate::typed::TypedList;
use serde_json::value::RawValue;

/// Hop count of a broadcast at its origin.
pub const BROADCAST_HOPS: u8 = 10;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A per-message slot where a transport may keep the message already encoded
/// for its wire, so that a push to many clients of the same kind encodes
/// once. The first type stored wins; other types are computed uncached.
#[derive(Default)]
pub struct EncodedCache(OnceLock<Box<dyn Any + Send + Sync>>);

impl EncodedCache {
    /// Returns the cached `T`, computing it with `make` on first use. When
    /// the slot already holds another type, `make`'s result is returned
    /// uncached.
    pub fn get_or_compute<T: Any + Send + Sync + Clone>(&self, make: impl Fn() -> T) -> T {
        if let Some(stored) = self.0.get() {
            return match stored.downcast_ref::<T>() {
                Some(v) => v.clone(),
                None => make(),
            };
        }
        let v = make();
        // Losing a race to another thread only means we keep our own copy.
        let _ = self.0.set(Box::new(v.clone()));
        v
    }
}

/// An event being pushed to its subscribers.
pub struct PushMsg<'a> {
    /// The event.
    pub event: &'a Event,
    /// Its data (JSON text; `null` when none).
    pub data: &'a RawValue,
    /// The data as typed values when it was pushed typed (`data` is then
    /// their JSON rendering).
    pub typed: Option<&'a TypedList>,
    /// Encoding cache shared by all receivers of this push.
    pub cache: &'a EncodedCache,
}

/// A broadcast passing by.
pub struct BroadcastMsg<'a> {
    /// Full event name `API/NAME`.
    pub name: &'a str,
    /// Its data (JSON text; `null` when none).
    pub data: &'a RawValue,
    /// Identity used to suppress duplicates.
    pub uuid: [u8; 16],
    /// Remaining hops (10 at the origin).
    pub hop: u8,
    /// The data as typed values when it was broadcast typed (`data` is then
    /// their JSON rendering).
    pub typed: Option<&'a TypedList>,
    /// Encoding cache shared by all receivers of this broadcast.
    pub cache: &'a EncodedCache,
}

/// Something that receives events: a WebSocket connection, a wsapi link, an API.
pub trait Listener: Send + Sync + 'static {
    /// An event it subscribed to was pushed.
    fn push(&self, msg: &PushMsg<'_>);
    /// A broadcast (every listener receives it).
    fn broadcast(&self, msg: &BroadcastMsg<'_>);
    /// An event it was subscribed to was deleted.
    fn event_removed(&self, _event_id: u64, _name: &str) {}
}

/// Why a subscription failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubscribeError {
    /// The client cannot receive events (a plain HTTP request).
    NoListener,
    /// Too many subscriptions for this client.
    Limit(usize),
    /// The transport refused (link closed...).
    Refused(String),
}

impl fmt::Display for SubscribeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubscribeError::NoListener => f.write_str("this client cannot receive events"),
            SubscribeError::Limit(n) => write!(f, "too many subscriptions (limit {n})"),
            SubscribeError::Refused(why) => write!(f, "subscription refused: {why}"),
        }
    }
}

impl std::error::Error for SubscribeError {}

/// What a request uses to (un)subscribe its client. Transports implement it:
/// a WebSocket connection adds its listener to the event; a wsapi server
/// link also tells the remote binder which call subscribed.
pub trait Subscriber: Send + Sync + 'static {
    /// Subscribes the client to `event`.
    fn subscribe(&self, event: &Event) -> Result<(), SubscribeError>;
    /// Unsubscribes the client from `event`.
    fn unsubscribe(&self, event: &Event) -> Result<(), SubscribeError>;
}

/// A [`Subscriber`] that subscribes one listener directly, with a bound on
/// the number of subscriptions.
pub struct ListenerSubscriber {
    listener: Weak<dyn Listener>,
    subscriptions: Mutex<Vec<WeakEvent>>,
    limit: usize,
}

impl ListenerSubscriber {
    /// A subscriber for `listener`, allowing at most `limit` subscriptions.
    pub fn new(listener: &Arc<dyn Listener>, limit: usize) -> Self {
        ListenerSubscriber {
            listener: Arc::downgrade(listener),
            subscriptions: Mutex::new(Vec::new()),
            limit,
        }
    }

    /// Unsubscribes from every event (a connection closing).
    pub fn unsubscribe_all(&self) {
        let subs = std::mem::take(&mut *lock(&self.subscriptions));
        for w in subs {
            if let Some(ev) = w.upgrade() {
                ev.remove_listener(&self.listener);
            }
        }
    }

    /// Number of live subscriptions.
    pub fn count(&self) -> usize {
        let mut subs = lock(&self.subscriptions);
        subs.retain(|w| w.upgrade().is_some());
        subs.len()
    }
}

impl Subscriber for ListenerSubscriber {
    fn subscribe(&self, event: &Event) -> Result<(), SubscribeError> {
        let listener = self
            .listener
            .upgrade()
            .ok_or_else(|| SubscribeError::Refused("connection closed".into()))?;
        let mut subs = lock(&self.subscriptions);
        if subs.iter().any(|w| w.id == event.id()) {
            return Ok(());
        }
        subs.retain(|w| w.upgrade().is_some());
        if subs.len() >= self.limit {
            return Err(SubscribeError::Limit(self.limit));
        }
        event.add_listener(&listener);
        subs.push(event.downgrade());
        Ok(())
    }

    fn unsubscribe(&self, event: &Event) -> Result<(), SubscribeError> {
        lock(&self.subscriptions).retain(|w| w.id != event.id());
        event.remove_listener(&self.listener);
        Ok(())
    }
}

impl Drop for ListenerSubscriber {
    fn drop(&mut self) {
        self.unsubscribe_all();
    }
}

static NEXT_EVENT_ID: AtomicU64 = AtomicU64::new(1);

struct EventInner {
    id: u64,
    name: Arc<str>,
    listeners: Mutex<Vec<Weak<dyn Listener>>>,
    on_drop: Option<Box<dyn Fn(u64) + Send + Sync>>,
    hooks: OnceLock<Arc<crate::observe::Hooks>>,
}

impl Drop for EventInner {
    fn drop(&mut self) {
        let listeners = std::mem::take(&mut *lock(&self.listeners));
        for l in listeners.iter().filter_map(Weak::upgrade) {
            l.event_removed(self.id, &self.name);
        }
        if let Some(f) = &self.on_drop {
            f(self.id);
        }
    }
}

/// A handle on an event. Clones share the event; it is deleted (its
/// subscribers told) when the last handle is dropped.
#[derive(Clone)]
pub struct Event(Arc<EventInner>);

/// A weak handle on an event, kept by subscribers.
#[derive(Clone)]
pub struct WeakEvent {
    id: u64,
    inner: Weak<EventInner>,
}

impl WeakEvent {
    /// The event, if it still exists.
    pub fn upgrade(&self) -> Option<Event> {
        self.inner.upgrade().map(Event)
    }

    /// The event's id.
    pub fn id(&self) -> u64 {
        self.id
    }
}

impl Event {
    /// Makes an event with its full name (`API/NAME`); `on_drop` runs with
    /// the event id when it is deleted (the registry counts events per API).
    pub(crate) fn new(full_name: &str, on_drop: Option<Box<dyn Fn(u64) + Send + Sync>>) -> Self {
        Event(Arc::new(EventInner {
            id: NEXT_EVENT_ID.fetch_add(1, Ordering::Relaxed),
            name: full_name.into(),
            listeners: Mutex::new(Vec::new()),
            on_drop,
            hooks: OnceLock::new(),
        }))
    }

    /// Makes pushes of this event observed.
    pub(crate) fn set_hooks(&self, hooks: Arc<crate::observe::Hooks>) {
        let _ = self.0.hooks.set(hooks);
    }

    /// Unique id of this event in the process.
    pub fn id(&self) -> u64 {
        self.0.id
    }

    /// Full name `API/NAME`.
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// Full name as a shared string.
    pub fn name_arc(&self) -> Arc<str> {
        self.0.name.clone()
    }

    /// A weak handle.
    pub fn downgrade(&self) -> WeakEvent {
        WeakEvent {
            id: self.0.id,
            inner: Arc::downgrade(&self.0),
        }
    }

    /// Adds a listener (no duplicate). Returns whether it was added.
    pub fn add_listener(&self, listener: &Arc<dyn Listener>) -> bool {
        let mut ls = lock(&self.0.listeners);
        ls.retain(|w| w.strong_count() > 0);
        let w = Arc::downgrade(listener);
        if ls.iter().any(|x| Weak::ptr_eq(x, &w)) {
            return false;
        }
        ls.push(w);
        true
    }

    /// Removes a listener.
    pub fn remove_listener(&self, listener: &Weak<dyn Listener>) {
        lock(&self.0.listeners).retain(|w| w.strong_count() > 0 && !Weak::ptr_eq(w, listener));
    }

    /// Whether `listener` is subscribed.
    pub fn has_listener(&self, listener: &Arc<dyn Listener>) -> bool {
        let w = Arc::downgrade(listener);
        lock(&self.0.listeners).iter().any(|x| Weak::ptr_eq(x, &w))
    }

    /// Number of live subscribers.
    pub fn listener_count(&self) -> usize {
        lock(&self.0.listeners).iter().filter(|w| w.strong_count() > 0).count()
    }

    /// Pushes `data` to the subscribers; returns how many were reached.
    pub fn push(&self, data: Option<&RawValue>) -> usize {
        self.push_typed(data, None)
    }

    /// Pushes `data`, with its typed form when it has one (`data` is then
    /// the JSON rendering of `typed`); returns how many subscribers were reached.
    pub fn push_typed(&self, data: Option<&RawValue>, typed: Option<&TypedList>) -> usize {
        let listeners: Vec<Arc<dyn Listener>> = {
            let mut ls = lock(&self.0.listeners);
            ls.retain(|w| w.strong_count() > 0);
            ls.iter().filter_map(Weak::upgrade).collect()
        };
        if let Some(o) = self.0.hooks.get().and_then(|h| h.get()) {
            o.push(self, data.unwrap_or(null_raw()), listeners.len());
        }
        if listeners.is_empty() {
            return 0;
        }
        let cache = EncodedCache::default();
        let msg = PushMsg {
            event: self,
            data: data.unwrap_or(null_raw()),
            typed,
            cache: &cache,
        };
        for l in &listeners {
            l.push(&msg);
        }
        listeners.len()
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Event({} #{})", self.name(), self.id())
    }
}

/// The JSON `null` as a raw value.
pub fn null_raw() -> &'static RawValue {
    RawValue::NULL
}

/// Remembers the uuids of recent broadcasts to suppress duplicates.
pub(crate) struct RecentBroadcasts {
    order: VecDeque<[u8; 16]>,
    set: HashSet<[u8; 16]>,
    capacity: usize,
}

impl RecentBroadcasts {
    pub(crate) fn new(capacity: usize) -> Self {
        RecentBroadcasts {
            order: VecDeque::with_capacity(capacity),
            set: HashSet::with_capacity(capacity),
            capacity,
        }
    }

    /// Records `uuid`; returns false when it was already seen.
    pub(crate) fn insert(&mut self, uuid: [u8; 16]) -> bool {
        if !self.set.insert(uuid) {
            return false;
        }
        self.order.push_back(uuid);
        if self.order.len() > self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Rec {
        pushes: Mutex<Vec<(String, String)>>,
        removed: Mutex<Vec<String>>,
    }

    impl Listener for Rec {
        fn push(&self, m: &PushMsg<'_>) {
            lock(&self.pushes).push((m.event.name().to_owned(), m.data.get().to_owned()));
        }
        fn broadcast(&self, _m: &BroadcastMsg<'_>) {}
        fn event_removed(&self, _id: u64, name: &str) {
            lock(&self.removed).push(name.to_owned());
        }
    }

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_owned()).unwrap()
    }

    #[test]
    fn push_reaches_only_subscribers() {
        let ev = Event::new("hello/ev1", None);
        let a: Arc<Rec> = Arc::default();
        let b: Arc<Rec> = Arc::default();
        let a_dyn: Arc<dyn Listener> = a.clone();
        assert!(ev.add_listener(&a_dyn));
        assert!(!ev.add_listener(&a_dyn), "no duplicate");
        assert_eq!(ev.push(Some(&raw(r#"{"v":42}"#))), 1);
        assert_eq!(
            *lock(&a.pushes),
            vec![("hello/ev1".to_owned(), r#"{"v":42}"#.to_owned())]
        );
        assert!(lock(&b.pushes).is_empty());
        ev.remove_listener(&Arc::downgrade(&a_dyn));
        assert_eq!(ev.push(None), 0);
        assert_eq!(lock(&a.pushes).len(), 1);
    }

    #[test]
    fn dead_listeners_are_pruned() {
        let ev = Event::new("a/b", None);
        {
            let l: Arc<dyn Listener> = Arc::new(Rec::default());
            ev.add_listener(&l);
            assert_eq!(ev.listener_count(), 1);
        }
        assert_eq!(ev.listener_count(), 0);
        assert_eq!(ev.push(None), 0);
    }

    #[test]
    fn deletion_tells_subscribers() {
        let l: Arc<Rec> = Arc::default();
        let ld: Arc<dyn Listener> = l.clone();
        let ev = Event::new("hello/gone", None);
        let weak = ev.downgrade();
        ev.add_listener(&ld);
        let clone = ev.clone();
        drop(ev);
        assert!(lock(&l.removed).is_empty(), "a clone keeps it alive");
        drop(clone);
        assert_eq!(*lock(&l.removed), vec!["hello/gone".to_owned()]);
        assert!(weak.upgrade().is_none());
    }

    #[test]
    fn listener_subscriber_limits_and_cleans() {
        let l: Arc<Rec> = Arc::default();
        let ld: Arc<dyn Listener> = l.clone();
        let sub = ListenerSubscriber::new(&ld, 2);
        let e1 = Event::new("a/1", None);
        let e2 = Event::new("a/2", None);
        let e3 = Event::new("a/3", None);
        sub.subscribe(&e1).unwrap();
        sub.subscribe(&e1).unwrap();
        sub.subscribe(&e2).unwrap();
        assert_eq!(sub.subscribe(&e3), Err(SubscribeError::Limit(2)));
        assert_eq!(sub.count(), 2);
        sub.unsubscribe(&e1).unwrap();
        assert_eq!(e1.listener_count(), 0);
        sub.subscribe(&e3).unwrap();
        drop(sub);
        assert_eq!(e2.listener_count(), 0, "dropping the subscriber unsubscribes");
        assert_eq!(e3.listener_count(), 0);
    }

    #[test]
    fn recent_broadcasts_dedup_and_forget() {
        let mut r = RecentBroadcasts::new(2);
        assert!(r.insert([1; 16]));
        assert!(!r.insert([1; 16]));
        assert!(r.insert([2; 16]));
        assert!(r.insert([3; 16]));
        assert!(r.insert([1; 16]), "forgotten after capacity");
    }

    #[test]
    fn encoded_cache_computes_once() {
        let c = EncodedCache::default();
        let calls = std::cell::Cell::new(0);
        let a: Arc<str> = c.get_or_compute(|| {
            calls.set(calls.get() + 1);
            Arc::from("x")
        });
        let b: Arc<str> = c.get_or_compute(|| {
            calls.set(calls.get() + 1);
            Arc::from("y")
        });
        assert_eq!((&*a, &*b, calls.get()), ("x", "x", 1));
        let other: u32 = c.get_or_compute(|| 5);
        assert_eq!(other, 5);
    }
}
