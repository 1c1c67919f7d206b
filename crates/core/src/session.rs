//! Client sessions: random uuids, tokens, sliding expiry, per-API LOA and
//! context values, and a bounded store that evicts the least-recently-used
//! idle session when full.

use hashbrown::HashMap;
use std::any::Any;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

use crate::auth::LOA_MAX;
use crate::observe::Hooks;

/// A context value stored by an API in a session. Its `Drop` is the
/// destructor: it runs when the value is replaced, the API's state is
/// closed, the session closes or expires (once the last clone is gone).
pub type ContextValue = Arc<dyn Any + Send + Sync>;

/// Identifies an API inside sessions (assigned by the registry).
pub type ApiId = u32;

/// Settings of a session store.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Idle time after which a session expires (`--cntxtimeout`).
    pub timeout: Duration,
    /// Maximum number of sessions (`--session-max`).
    pub max: usize,
    /// The initial token of every new session (`--token`), if any.
    pub initial_token: Option<String>,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            timeout: Duration::from_secs(32_000_000),
            max: 200,
            initial_token: None,
        }
    }
}

/// Why a session could not be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionError {
    /// The store is full and every session has a connection or a request in flight.
    Full {
        /// The configured maximum.
        max: usize,
    },
    /// LOA outside 0..=7.
    BadLoa(u32),
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionError::Full { max } => {
                write!(f, "too many sessions ({max}) and none idle to evict")
            }
            SessionError::BadLoa(n) => write!(f, "LOA {n} out of range 0..={LOA_MAX}"),
        }
    }
}

impl std::error::Error for SessionError {}

#[derive(Default)]
struct Slot {
    loa: u8,
    ctx: Option<ContextValue>,
}

/// One client's session.
pub struct Session {
    uuid: Arc<str>,
    token: Mutex<Option<Arc<str>>>,
    slots: Mutex<Vec<(ApiId, Slot)>>,
    epoch: Instant,
    last_access_ms: AtomicU64,
    timeout_ms: u64,
    connections: AtomicUsize,
    closed: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these short locks cannot leave the data
    // half-updated in a way that matters more than stopping the binder.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A fresh random token (uuid v4 text, from the OS CSPRNG).
pub fn random_token() -> Arc<str> {
    uuid::Uuid::new_v4().hyphenated().to_string().into()
}

/// Compares two byte strings in time independent of where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    // black_box keeps the optimiser from turning the fold into an early exit.
    std::hint::black_box(diff) == 0
}

impl Session {
    fn new(uuid: Arc<str>, token: Option<Arc<str>>, epoch: Instant, timeout: Duration) -> Self {
        let s = Session {
            uuid,
            token: Mutex::new(token),
            slots: Mutex::new(Vec::new()),
            epoch,
            last_access_ms: AtomicU64::new(0),
            timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
            connections: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
        };
        s.touch();
        s
    }

    /// A session outside any store (an API's own session, tests).
    pub fn detached(token: Option<&str>) -> Arc<Self> {
        Arc::new(Session::new(
            uuid::Uuid::new_v4().hyphenated().to_string().into(),
            token.map(Into::into),
            Instant::now(),
            Duration::from_secs(u64::MAX / 4000),
        ))
    }

    /// The session's uuid.
    pub fn uuid(&self) -> &str {
        &self.uuid
    }

    /// The uuid as a shared string.
    pub fn uuid_arc(&self) -> Arc<str> {
        self.uuid.clone()
    }

    fn now_ms(&self) -> u64 {
        self.ms_at(Instant::now())
    }

    /// Milliseconds from the store's epoch to `at`.
    fn ms_at(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_millis()).unwrap_or(u64::MAX)
    }

    /// Marks the session as used now (sliding expiry).
    pub fn touch(&self) {
        self.last_access_ms.store(self.now_ms(), Ordering::Relaxed);
    }

    /// Marks the session as used now when it is still live (not closed, not
    /// expired); false otherwise. For holders that keep a session without
    /// looking it up in the store each time (the sessions a linked binder
    /// declared): the store then sees it used, as [`SessionStore::get`] does.
    pub fn touch_live(&self) -> bool {
        if self.is_closed() {
            return false;
        }
        // The time of the batch of messages this call came with.
        let now = self.ms_at(crate::clock::now());
        if self.expired_at(now) {
            return false;
        }
        self.last_access_ms.store(now, Ordering::Relaxed);
        true
    }

    fn expires_at_ms(&self) -> u64 {
        self.last_access_ms
            .load(Ordering::Relaxed)
            .saturating_add(self.timeout_ms)
    }

    /// Whether the session has passed its expiry. A session with an open
    /// connection never expires.
    pub fn is_expired(&self) -> bool {
        self.expired_at(self.now_ms())
    }

    /// [`Session::is_expired`] at `now_ms` (the store's clock, read once for a whole scan).
    fn expired_at(&self, now_ms: u64) -> bool {
        self.connections() == 0 && now_ms >= self.expires_at_ms()
    }

    /// Time left before expiry.
    pub fn remaining(&self) -> Duration {
        Duration::from_millis(self.expires_at_ms().saturating_sub(self.now_ms()))
    }

    /// The configured idle timeout.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    /// Whether the session was closed (it may still be referenced).
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Number of open connections (WebSockets, links) using the session.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::Relaxed)
    }

    /// Registers an open connection; the guard unregisters it when dropped.
    pub fn connect(self: &Arc<Self>) -> ConnectionGuard {
        self.connections.fetch_add(1, Ordering::Relaxed);
        self.touch();
        ConnectionGuard(self.clone())
    }

    /// Whether the session has a token (false in development mode until a
    /// verb renews it).
    pub fn has_token(&self) -> bool {
        lock(&self.token).is_some()
    }

    /// Checks a presented token: exact, constant-time. A session without a
    /// token (no `--token`, never renewed) accepts any token.
    pub fn check_token(&self, presented: Option<&str>) -> bool {
        match &*lock(&self.token) {
            None => true,
            Some(t) => presented.is_some_and(|p| constant_time_eq(p.as_bytes(), t.as_bytes())),
        }
    }

    /// Replaces the token with a fresh random one and returns it.
    pub fn renew_token(&self) -> Arc<str> {
        let t = random_token();
        *lock(&self.token) = Some(t.clone());
        t
    }

    /// Sets the token explicitly (a linked binder declaring its client's token).
    pub fn set_token(&self, token: Option<&str>) {
        *lock(&self.token) = token.map(Into::into);
    }

    fn with_slot<R>(&self, api: ApiId, f: impl FnOnce(&mut Slot) -> R) -> R {
        let mut slots = lock(&self.slots);
        let i = match slots.iter().position(|(id, _)| *id == api) {
            Some(i) => i,
            None => {
                slots.push((api, Slot::default()));
                slots.len() - 1
            }
        };
        f(&mut slots[i].1)
    }

    /// The LOA of the session for an API (0 when never set).
    pub fn loa(&self, api: ApiId) -> u8 {
        lock(&self.slots)
            .iter()
            .find(|(id, _)| *id == api)
            .map(|(_, s)| s.loa)
            .unwrap_or(0)
    }

    /// Sets the LOA of the session for an API (0..=7).
    pub fn set_loa(&self, api: ApiId, loa: u32) -> Result<(), SessionError> {
        let loa = u8::try_from(loa)
            .ok()
            .filter(|l| *l <= LOA_MAX)
            .ok_or(SessionError::BadLoa(loa))?;
        self.with_slot(api, |s| s.loa = loa);
        Ok(())
    }

    /// The context value an API stored, if any.
    pub fn context(&self, api: ApiId) -> Option<ContextValue> {
        lock(&self.slots)
            .iter()
            .find(|(id, _)| *id == api)
            .and_then(|(_, s)| s.ctx.clone())
    }

    /// Stores (or clears, with `None`) an API's context value. The previous
    /// value is dropped after the session's lock is released.
    pub fn set_context(&self, api: ApiId, value: Option<ContextValue>) {
        let old = self.with_slot(api, |s| std::mem::replace(&mut s.ctx, value));
        drop(old);
    }

    /// The API's context value, created by `make` when absent.
    pub fn context_or_insert_with(&self, api: ApiId, make: impl FnOnce() -> ContextValue) -> ContextValue {
        if let Some(v) = self.context(api) {
            return v;
        }
        let fresh = make();
        self.with_slot(api, |s| s.ctx.get_or_insert(fresh).clone())
    }

    /// Ends the session's state for one API: LOA back to 0, context dropped.
    pub fn close_api(&self, api: ApiId) {
        let old = {
            let mut slots = lock(&self.slots);
            slots
                .iter()
                .position(|(id, _)| *id == api)
                .map(|i| slots.swap_remove(i).1)
        };
        drop(old);
    }

    /// Closes the whole session: every context value is dropped.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        let old = std::mem::take(&mut *lock(&self.slots));
        drop(old);
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("uuid", &self.uuid)
            .field("connections", &self.connections())
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

/// Keeps a session marked as having an open connection.
#[derive(Debug)]
pub struct ConnectionGuard(Arc<Session>);

impl ConnectionGuard {
    /// The session.
    pub fn session(&self) -> &Arc<Session> {
        &self.0
    }
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::Relaxed);
        self.0.touch();
    }
}

/// No node (end of the recency list, or an empty free list).
const NIL: u32 = u32::MAX;
/// Most sessions a store holds, whatever its configured maximum.
const MAX_NODES: usize = NIL as usize;

/// One session of the store, in the recency list.
struct Node {
    /// `None` while the node is free.
    session: Option<Arc<Session>>,
    /// When the session was last used as far as the list knows: its last
    /// use through the store, or the last time the store found it busy. The
    /// list is kept in the order of these stamps, oldest first.
    stamp: u64,
    prev: u32,
    next: u32,
}

/// The store's table: a map from uuid to node, and the nodes in a slab
/// linked into a recency list (least recently used first), so that
/// finding the session to evict takes O(1) instead of a scan.
///
/// A session can be used without the store knowing (its connections open
/// and close): the list then holds it with an older stamp than its
/// `last_access_ms`, which is noticed when it reaches the front, and it
/// moves back to its place. Busy sessions (a connection open, a request in
/// flight) found at the front move to the back as used now. Each node is
/// visited at most twice per eviction; busy sessions make an eviction cost
/// O(busy / idle) amortised.
struct Table {
    map: HashMap<Arc<str>, u32>,
    nodes: Vec<Node>,
    free: u32,
    head: u32,
    tail: u32,
}

impl Table {
    fn new() -> Self {
        Table {
            map: HashMap::new(),
            nodes: Vec::new(),
            free: NIL,
            head: NIL,
            tail: NIL,
        }
    }

    fn len(&self) -> usize {
        self.map.len()
    }

    fn node(&self, i: u32) -> &Node {
        &self.nodes[i as usize]
    }

    fn node_mut(&mut self, i: u32) -> &mut Node {
        &mut self.nodes[i as usize]
    }

    fn session(&self, i: u32) -> &Arc<Session> {
        match &self.node(i).session {
            Some(s) => s,
            None => unreachable!("a linked node holds a session"),
        }
    }

    fn unlink(&mut self, i: u32) {
        let (prev, next) = {
            let n = self.node(i);
            (n.prev, n.next)
        };
        match prev {
            NIL => self.head = next,
            p => self.node_mut(p).next = next,
        }
        match next {
            NIL => self.tail = prev,
            n => self.node_mut(n).prev = prev,
        }
    }

    /// Links node `i` after `prev` (`NIL`: first).
    fn link_after(&mut self, i: u32, prev: u32) {
        let next = match prev {
            NIL => self.head,
            p => self.node(p).next,
        };
        {
            let n = self.node_mut(i);
            n.prev = prev;
            n.next = next;
        }
        match prev {
            NIL => self.head = i,
            p => self.node_mut(p).next = i,
        }
        match next {
            NIL => self.tail = i,
            n => self.node_mut(n).prev = i,
        }
    }

    /// Moves node `i` to the back, stamped `now` (no stamp is later).
    fn move_to_back(&mut self, i: u32, now: u64) {
        self.unlink(i);
        self.node_mut(i).stamp = now;
        let tail = self.tail;
        self.link_after(i, tail);
    }

    /// Moves node `i` to its place for `stamp`, searching from the back.
    fn move_to_place(&mut self, i: u32, stamp: u64) {
        self.unlink(i);
        self.node_mut(i).stamp = stamp;
        let mut after = self.tail;
        while after != NIL && self.node(after).stamp > stamp {
            after = self.node(after).prev;
        }
        self.link_after(i, after);
    }

    /// Adds a session at the back, stamped `now`; a session already held
    /// under the same uuid is replaced and returned.
    fn insert(&mut self, uuid: Arc<str>, session: Arc<Session>, now: u64) -> Option<Arc<Session>> {
        if let Some(&i) = self.map.get(&uuid) {
            let old = self.node_mut(i).session.replace(session);
            self.move_to_back(i, now);
            return old;
        }
        let node = Node {
            session: Some(session),
            stamp: now,
            prev: NIL,
            next: NIL,
        };
        let i = match self.free {
            NIL => {
                // The store holds at most MAX_NODES sessions, and the slab
                // only grows when no node is free: its length stays below NIL.
                let i = u32::try_from(self.nodes.len()).unwrap_or(NIL);
                debug_assert!(i != NIL, "more than MAX_NODES sessions");
                self.nodes.push(node);
                i
            }
            i => {
                self.free = self.node(i).next;
                *self.node_mut(i) = node;
                i
            }
        };
        let tail = self.tail;
        self.link_after(i, tail);
        self.map.insert(uuid, i);
        None
    }

    /// Removes node `i` from the list and the map; returns its session.
    fn remove_node(&mut self, i: u32) -> Arc<Session> {
        self.unlink(i);
        let free = self.free;
        let n = self.node_mut(i);
        n.next = free;
        n.prev = NIL;
        let s = match n.session.take() {
            Some(s) => s,
            None => unreachable!("a linked node holds a session"),
        };
        self.free = i;
        self.map.remove(s.uuid());
        s
    }

    /// Makes room for one session in a table holding `max` or more: removes
    /// the expired idle sessions at the front, then, when still full, the
    /// least recently used idle one (pushed to `dropped` either way).
    /// Returns whether one was evicted; `None`: full and nothing idle.
    fn make_room(&mut self, max: usize, now: u64, dropped: &mut Vec<Arc<Session>>) -> Option<bool> {
        // Each node is looked at twice at most: once moved to its place or
        // to the back, it is found again only with its stamp up to date.
        let mut budget = 2 * self.len() + 1;
        loop {
            let i = self.head;
            if i == NIL || budget == 0 {
                return (self.len() < max).then_some(false);
            }
            budget -= 1;
            let (stamp, busy, last, expired) = {
                let s = self.session(i);
                (
                    self.node(i).stamp,
                    Arc::strong_count(s) > 1 || s.connections() > 0,
                    s.last_access_ms.load(Ordering::Relaxed),
                    s.expired_at(now),
                )
            };
            if busy {
                // In use now: out of the way, as used now.
                self.move_to_back(i, now);
            } else if last > stamp {
                // Used since the list last saw it: back to its place.
                self.move_to_place(i, last);
            } else if expired {
                dropped.push(self.remove_node(i));
            } else if self.len() < max {
                // The front is idle, live and in its place: every session
                // behind it was used later, so none of them expired.
                return Some(false);
            } else {
                dropped.push(self.remove_node(i));
                return Some(true);
            }
        }
    }
}

/// The set of live sessions.
pub struct SessionStore {
    table: Mutex<Table>,
    config: SessionConfig,
    epoch: Instant,
    evictions: AtomicU64,
    created: AtomicU64,
    hooks: Arc<Hooks>,
}

impl SessionStore {
    /// An empty store.
    pub fn new(config: SessionConfig) -> Self {
        SessionStore {
            table: Mutex::new(Table::new()),
            config,
            epoch: Instant::now(),
            evictions: AtomicU64::new(0),
            created: AtomicU64::new(0),
            hooks: Arc::new(Hooks::default()),
        }
    }

    /// Milliseconds since the store's epoch: the clock of its sessions' expiry.
    fn now_ms(&self) -> u64 {
        u64::try_from(Instant::now().saturating_duration_since(self.epoch).as_millis()).unwrap_or(u64::MAX)
    }

    /// The observation hooks of the registry owning this store.
    pub fn hooks(&self) -> &Arc<Hooks> {
        &self.hooks
    }

    /// How many sessions were made since start.
    pub fn created(&self) -> u64 {
        self.created.load(Ordering::Relaxed)
    }

    fn closed(&self, s: &Session) {
        s.close();
        if let Some(o) = self.hooks.get() {
            o.session(s, false);
        }
    }

    /// The store's settings.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// Number of sessions held.
    pub fn len(&self) -> usize {
        lock(&self.table).len()
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many sessions were evicted to make room since start.
    pub fn evictions(&self) -> u64 {
        self.evictions.load(Ordering::Relaxed)
    }

    /// Finds a live session by uuid and marks it used. An expired session
    /// is closed and removed, and `None` is returned.
    pub fn get(&self, uuid: &str) -> Option<Arc<Session>> {
        let now = self.now_ms();
        let mut table = lock(&self.table);
        let i = *table.map.get(uuid)?;
        if table.session(i).expired_at(now) {
            let s = table.remove_node(i);
            drop(table);
            self.closed(&s);
            return None;
        }
        let s = table.session(i).clone();
        s.last_access_ms.store(now, Ordering::Relaxed);
        table.move_to_back(i, now);
        Some(s)
    }

    /// Makes a new session with a server-generated random uuid.
    pub fn create(&self) -> Result<Arc<Session>, SessionError> {
        let uuid: Arc<str> = uuid::Uuid::new_v4().hyphenated().to_string().into();
        self.insert_new(uuid)
    }

    /// Finds the session of `uuid`, or makes one with exactly that uuid (for
    /// linked binders, which forward their clients' sessions). The boolean
    /// tells whether it was created.
    pub fn get_or_create(&self, uuid: &str) -> Result<(Arc<Session>, bool), SessionError> {
        if let Some(s) = self.get(uuid) {
            return Ok((s, false));
        }
        self.insert_new(uuid.into()).map(|s| (s, true))
    }

    fn insert_new(&self, uuid: Arc<str>) -> Result<Arc<Session>, SessionError> {
        let token = self.config.initial_token.as_deref().map(Arc::<str>::from);
        let session = Arc::new(Session::new(uuid.clone(), token, self.epoch, self.config.timeout));
        let now = session.last_access_ms.load(Ordering::Relaxed);
        let mut dropped = Vec::new();
        {
            let mut table = lock(&self.table);
            // The slab indexes its nodes with `u32` (`NIL` excluded).
            let max = self.config.max.min(MAX_NODES);
            if table.len() >= max {
                match table.make_room(max, now, &mut dropped) {
                    Some(true) => {
                        let n = self.evictions.fetch_add(1, Ordering::Relaxed) + 1;
                        if let Some(v) = dropped.last() {
                            tracing::info!(evicted = %v.uuid(), total_evictions = n, "session table full: evicted least recently used idle session");
                        }
                    }
                    Some(false) => {}
                    None => {
                        drop(table);
                        for s in dropped {
                            self.closed(&s);
                        }
                        return Err(SessionError::Full { max });
                    }
                }
            }
            if let Some(old) = table.insert(uuid, session.clone(), now) {
                dropped.push(old);
            }
        }
        for s in dropped {
            self.closed(&s);
        }
        self.created.fetch_add(1, Ordering::Relaxed);
        if let Some(o) = self.hooks.get() {
            o.session(&session, true);
        }
        Ok(session)
    }

    /// Closes and removes a session.
    pub fn remove(&self, uuid: &str) {
        let s = {
            let mut table = lock(&self.table);
            let i = table.map.get(uuid).copied();
            i.map(|i| table.remove_node(i))
        };
        if let Some(s) = s {
            self.closed(&s);
        }
    }

    /// Closes and removes every expired session; returns how many.
    pub fn purge_expired(&self) -> usize {
        let now = self.now_ms();
        let mut dropped = Vec::new();
        {
            let mut table = lock(&self.table);
            let mut i = table.head;
            while i != NIL {
                let next = table.node(i).next;
                let s = table.session(i);
                if s.expired_at(now) && Arc::strong_count(s) == 1 {
                    dropped.push(table.remove_node(i));
                }
                i = next;
            }
        }
        let n = dropped.len();
        for s in dropped {
            self.closed(&s);
        }
        n
    }
}

#[cfg(test)]
impl SessionStore {
    /// The uuids held, least recently used first, without touching them.
    fn uuids(&self) -> Vec<String> {
        let table = lock(&self.table);
        let mut v = Vec::new();
        let mut i = table.head;
        while i != NIL {
            v.push(table.session(i).uuid().to_owned());
            i = table.node(i).next;
        }
        v
    }
}

impl fmt::Debug for SessionStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionStore")
            .field("len", &self.len())
            .field("config", &self.config)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    struct Counted(Arc<AtomicUsize>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn store(max: usize, timeout_s: u64, token: Option<&str>) -> SessionStore {
        SessionStore::new(SessionConfig {
            timeout: Duration::from_secs(timeout_s),
            max,
            initial_token: token.map(Into::into),
        })
    }

    #[test]
    fn uuids_are_random_v4() {
        let st = store(10, 100, None);
        let a = st.create().unwrap();
        let b = st.create().unwrap();
        assert_ne!(a.uuid(), b.uuid());
        let u = uuid::Uuid::parse_str(a.uuid()).unwrap();
        assert_eq!(u.get_version_num(), 4);
        assert_eq!(a.uuid().len(), 36);
        assert!(Arc::ptr_eq(&st.get(a.uuid()).unwrap(), &a));
        assert!(st.get("00000000-0000-4000-8000-000000000000").is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn sliding_expiry() {
        let st = store(10, 10, None);
        let s = st.create().unwrap();
        let uuid = s.uuid().to_owned();
        drop(s);
        tokio::time::advance(Duration::from_secs(8)).await;
        assert!(st.get(&uuid).is_some(), "used at 8s: expiry slides to 18s");
        tokio::time::advance(Duration::from_secs(8)).await;
        let s = st.get(&uuid).expect("still alive at 16s");
        assert_eq!(s.remaining(), Duration::from_secs(10));
        drop(s);
        tokio::time::advance(Duration::from_secs(11)).await;
        assert!(st.get(&uuid).is_none(), "expired");
        assert_eq!(st.len(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn expiry_runs_context_destructor_once() {
        let st = store(10, 10, None);
        let drops = Arc::new(AtomicUsize::new(0));
        let s = st.create().unwrap();
        s.set_context(1, Some(Arc::new(Counted(drops.clone()))));
        let uuid = s.uuid().to_owned();
        drop(s);
        tokio::time::advance(Duration::from_secs(11)).await;
        assert_eq!(st.purge_expired(), 1);
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        assert!(st.get(&uuid).is_none());
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn eviction_takes_least_recently_used_idle() {
        let st = store(3, 1000, None);
        let a = st.create().unwrap().uuid_arc();
        tokio::time::advance(Duration::from_secs(1)).await;
        let b = st.create().unwrap();
        let b_uuid = b.uuid_arc();
        let _b_conn = b.connect(); // b has a connection: never evicted
        drop(b);
        tokio::time::advance(Duration::from_secs(1)).await;
        let c = st.create().unwrap().uuid_arc();
        tokio::time::advance(Duration::from_secs(1)).await;
        // a is the oldest idle: refresh it so that c becomes the LRU idle one.
        assert!(st.get(&a).is_some());
        tokio::time::advance(Duration::from_secs(1)).await;
        let d = st.create().unwrap().uuid_arc();
        assert_eq!(st.evictions(), 1);
        assert!(st.get(&c).is_none(), "c was least recently used and idle");
        assert!(st.get(&a).is_some());
        assert!(st.get(&b_uuid).is_some());
        assert!(st.get(&d).is_some());
    }

    /// A session used without the store knowing (its connection closed)
    /// is not evicted before a session used less recently.
    #[tokio::test(start_paused = true)]
    async fn eviction_sees_a_connection_closed_since() {
        let st = store(2, 1000, None);
        let a = st.create().unwrap();
        let a_conn = a.connect();
        let a_uuid = a.uuid_arc();
        drop(a);
        tokio::time::advance(Duration::from_secs(1)).await;
        let b = st.create().unwrap().uuid_arc();
        tokio::time::advance(Duration::from_secs(1)).await;
        drop(a_conn); // a used at 2 s, after b (1 s)
        tokio::time::advance(Duration::from_secs(1)).await;
        let c = st.create().unwrap().uuid_arc();
        assert_eq!(st.evictions(), 1);
        assert_eq!(st.uuids(), vec![a_uuid.to_string(), c.to_string()], "b evicted");
        assert!(!st.uuids().contains(&b.to_string()));
    }

    /// A full store whose oldest sessions expired drops them all and
    /// evicts nothing.
    #[tokio::test(start_paused = true)]
    async fn full_store_drops_its_expired_sessions_first() {
        let st = store(3, 10, None);
        let a = st.create().unwrap().uuid_arc();
        let b = st.create().unwrap().uuid_arc();
        tokio::time::advance(Duration::from_secs(5)).await;
        let c = st.create().unwrap().uuid_arc();
        tokio::time::advance(Duration::from_secs(6)).await;
        let d = st.create().unwrap().uuid_arc();
        assert_eq!(st.evictions(), 0);
        assert_eq!(st.uuids(), vec![c.to_string(), d.to_string()]);
        assert!(st.get(&a).is_none() && st.get(&b).is_none());
    }

    /// The store against a model of its rule (the scan it replaced): when
    /// full, drop every expired idle session, then evict the idle session
    /// least recently used. Operations on a paused clock, one millisecond
    /// apart at least so that no two uses tie.
    #[test]
    fn store_evicts_as_the_scan_did() {
        use proptest::prelude::*;

        #[derive(Debug, Clone)]
        enum Op {
            Create,
            Get(usize),
            Connect(usize),
            Disconnect(usize),
            Remove(usize),
            Advance(u64),
        }
        let op = prop_oneof![
            3 => Just(Op::Create),
            2 => any::<usize>().prop_map(Op::Get),
            1 => any::<usize>().prop_map(Op::Connect),
            1 => any::<usize>().prop_map(Op::Disconnect),
            1 => any::<usize>().prop_map(Op::Remove),
            2 => (1u64..40).prop_map(Op::Advance),
        ];
        const MAX: usize = 5;
        const TIMEOUT_MS: u64 = 60;
        proptest!(ProptestConfig::with_cases(200), |(ops in proptest::collection::vec(op, 1..120))| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .start_paused(true)
                .build()
                .unwrap();
            rt.block_on(async {
                let st = SessionStore::new(SessionConfig {
                    timeout: Duration::from_millis(TIMEOUT_MS),
                    max: MAX,
                    initial_token: None,
                });
                // The model: uuid -> (last use in ms, open connections).
                let mut model: Vec<(String, u64, usize)> = Vec::new();
                let mut known: Vec<String> = Vec::new();
                let mut guards: Vec<(String, ConnectionGuard)> = Vec::new();
                let mut now = 0u64;
                for op in ops {
                    tokio::time::advance(Duration::from_millis(1)).await;
                    now += 1;
                    let live = |m: &(String, u64, usize), now: u64| m.2 > 0 || now < m.1 + TIMEOUT_MS;
                    match op {
                        Op::Advance(ms) => {
                            tokio::time::advance(Duration::from_millis(ms)).await;
                            now += ms;
                        }
                        Op::Create => {
                            let mut expect_full = false;
                            if model.len() >= MAX {
                                model.retain(|m| live(m, now));
                                if model.len() >= MAX {
                                    let victim = model
                                        .iter()
                                        .enumerate()
                                        .filter(|(_, m)| m.2 == 0)
                                        .min_by_key(|(_, m)| m.1)
                                        .map(|(i, _)| i);
                                    match victim {
                                        Some(i) => {
                                            model.remove(i);
                                        }
                                        None => expect_full = true,
                                    }
                                }
                            }
                            match st.create() {
                                Ok(s) => {
                                    prop_assert!(!expect_full);
                                    model.push((s.uuid().to_owned(), now, 0));
                                    known.push(s.uuid().to_owned());
                                }
                                Err(e) => {
                                    prop_assert!(expect_full, "{e}");
                                }
                            }
                        }
                        Op::Get(k) if !known.is_empty() => {
                            let u = &known[k % known.len()];
                            let got = st.get(u).is_some();
                            let i = model.iter().position(|m| &m.0 == u);
                            let expect = match i {
                                Some(i) if live(&model[i], now) => {
                                    model[i].1 = now;
                                    true
                                }
                                Some(i) => {
                                    model.remove(i);
                                    false
                                }
                                None => false,
                            };
                            prop_assert_eq!(got, expect);
                        }
                        Op::Connect(k) if !known.is_empty() => {
                            let u = known[k % known.len()].clone();
                            let got = st.get(&u);
                            let i = model.iter().position(|m| m.0 == u);
                            match i {
                                Some(i) if live(&model[i], now) => {
                                    model[i].1 = now;
                                    model[i].2 += 1;
                                }
                                Some(i) => {
                                    model.remove(i);
                                }
                                None => {}
                            }
                            prop_assert_eq!(got.is_some(), i.is_some_and(|i| model.get(i).is_some_and(|m| m.0 == u)));
                            if let Some(s) = got {
                                guards.push((u, s.connect()));
                            }
                        }
                        Op::Disconnect(k) if !guards.is_empty() => {
                            let (u, g) = guards.remove(k % guards.len());
                            drop(g);
                            if let Some(m) = model.iter_mut().find(|m| m.0 == u) {
                                m.1 = now;
                                m.2 -= 1;
                            }
                        }
                        Op::Remove(k) if !known.is_empty() => {
                            let u = known[k % known.len()].clone();
                            st.remove(&u);
                            model.retain(|m| m.0 != u);
                        }
                        _ => {}
                    }
                    let mut held = st.uuids();
                    held.sort();
                    let mut expected: Vec<String> = model.iter().map(|m| m.0.clone()).collect();
                    expected.sort();
                    prop_assert_eq!(held, expected);
                }
                Ok(())
            })?;
        });
    }

    #[test]
    fn full_store_with_busy_sessions_refuses() {
        let st = store(2, 1000, None);
        let a = st.create().unwrap();
        let b = st.create().unwrap();
        assert_eq!(st.create().unwrap_err(), SessionError::Full { max: 2 });
        drop(a);
        assert!(st.create().is_ok(), "a became idle and was evicted");
        drop(b);
    }

    #[test]
    fn many_cookieless_clients_never_exhaust() {
        let st = store(200, 1000, None);
        for _ in 0..10_000 {
            let s = st.create().expect("eviction keeps room");
            drop(s);
        }
        assert_eq!(st.len(), 200);
        assert_eq!(st.evictions(), 9_800);
    }

    #[test]
    fn tokens() {
        let st = store(10, 1000, Some("secret"));
        let s = st.create().unwrap();
        assert!(s.check_token(Some("secret")));
        assert!(!s.check_token(Some("secre")));
        assert!(!s.check_token(Some("")));
        assert!(!s.check_token(Some("secretX")));
        assert!(!s.check_token(None));
        let t = s.renew_token();
        assert_ne!(&*t, "secret");
        assert!(!s.check_token(Some("secret")));
        assert!(s.check_token(Some(&t)));

        let dev = store(10, 1000, None).create().unwrap();
        assert!(dev.check_token(None), "no --token: development mode");
        assert!(dev.check_token(Some("anything")));
        let t = dev.renew_token();
        assert!(!dev.check_token(Some("anything")), "a renewed token is enforced");
        assert!(dev.check_token(Some(&t)));
    }

    #[test]
    fn constant_time_compare() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(constant_time_eq(b"", b""));
    }

    /// The comparison costs the same wherever the tokens differ: a check
    /// that stopped at the first differing byte (`==`, `memcmp`) would take
    /// next to nothing for a token wrong in its first byte and the whole
    /// length for one wrong in its last byte.
    #[test]
    fn token_check_time_does_not_depend_on_where_the_tokens_differ() {
        let secret = "s".repeat(1 << 20);
        let s = Session::detached(Some(&secret));
        let mut early = secret.clone().into_bytes();
        early[0] = b'x';
        let mut late = secret.clone().into_bytes();
        *late.last_mut().unwrap() = b'x';
        let (early, late) = (String::from_utf8(early).unwrap(), String::from_utf8(late).unwrap());
        let time = |t: &str| {
            let mut runs: Vec<_> = (0..15)
                .map(|_| {
                    let t0 = std::time::Instant::now();
                    assert!(!s.check_token(Some(std::hint::black_box(t))));
                    t0.elapsed()
                })
                .collect();
            runs.sort();
            runs[runs.len() / 2]
        };
        let (e, l) = (time(&early), time(&late));
        assert!(
            e.as_secs_f64() > 0.3 * l.as_secs_f64(),
            "first-byte mismatch {e:?} vs last-byte mismatch {l:?}: the comparison exits early"
        );
        assert!(s.check_token(Some(&secret)));
    }

    #[test]
    fn loa_per_api() {
        let s = Session::detached(None);
        assert_eq!(s.loa(1), 0);
        s.set_loa(1, 3).unwrap();
        assert_eq!(s.loa(1), 3);
        assert_eq!(s.loa(2), 0);
        assert_eq!(s.set_loa(1, 8), Err(SessionError::BadLoa(8)));
        assert_eq!(s.loa(1), 3);
        s.close_api(1);
        assert_eq!(s.loa(1), 0);
    }

    #[test]
    fn context_destructor_runs_once_on_replace_close() {
        let s = Session::detached(None);
        let drops = Arc::new(AtomicUsize::new(0));
        s.set_context(7, Some(Arc::new(Counted(drops.clone()))));
        assert_eq!(drops.load(Ordering::SeqCst), 0);
        s.set_context(7, Some(Arc::new(Counted(drops.clone()))));
        assert_eq!(drops.load(Ordering::SeqCst), 1, "replaced");
        s.close_api(7);
        assert_eq!(drops.load(Ordering::SeqCst), 2, "api closed");
        s.set_context(7, Some(Arc::new(Counted(drops.clone()))));
        s.set_context(8, Some(Arc::new(Counted(drops.clone()))));
        s.close();
        assert_eq!(drops.load(Ordering::SeqCst), 4, "session closed");
        drop(s);
        assert_eq!(drops.load(Ordering::SeqCst), 4, "never twice");
    }

    #[test]
    fn context_or_insert() {
        let s = Session::detached(None);
        let v = s.context_or_insert_with(1, || Arc::new(5u32));
        assert_eq!(v.downcast_ref::<u32>(), Some(&5));
        let w = s.context_or_insert_with(1, || Arc::new(6u32));
        assert_eq!(w.downcast_ref::<u32>(), Some(&5));
    }

    #[test]
    fn linked_binder_can_choose_uuid() {
        let st = store(10, 1000, None);
        let (s, created) = st.get_or_create("wsapi-sess").unwrap();
        assert!(created);
        assert_eq!(s.uuid(), "wsapi-sess");
        let (s2, created) = st.get_or_create("wsapi-sess").unwrap();
        assert!(!created);
        assert!(Arc::ptr_eq(&s, &s2));
    }
}
