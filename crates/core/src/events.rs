//! The registry's events part: listeners of broadcasts (connections,
//! links), the listeners that forward pushes to APIs, the suppression of
//! duplicate broadcasts, and the per-API count of live events.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use serde_json::value::RawValue;

use crate::api::{ApiEntry, ApiRef};
use crate::event::{BroadcastMsg, EncodedCache, Event, Listener, PushMsg, RecentBroadcasts, BROADCAST_HOPS};
use crate::name::{validate_event_name, NameError};
use crate::registry::Registry;
use crate::session::ApiId;
use crate::typed::TypedList;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Forwards the pushes of an event an API subscribed to its handler.
struct ApiListener {
    entry: Weak<ApiEntry>,
}

impl Listener for ApiListener {
    fn push(&self, msg: &PushMsg<'_>) {
        if let Some(e) = self.entry.upgrade() {
            let api = ApiRef::new(e.clone());
            e.imp.on_event_typed(&api, msg.event.name(), msg.data, msg.typed);
        }
    }

    fn broadcast(&self, _msg: &BroadcastMsg<'_>) {}
}

/// Events and listeners of a [`Registry`] (reached with
/// [`Registry::events`]).
pub struct Events {
    registry: Weak<Registry>,
    events_per_api: usize,
    listeners: Mutex<Vec<Weak<dyn Listener>>>,
    api_listeners: Mutex<HashMap<ApiId, Arc<dyn Listener>>>,
    recent: Mutex<RecentBroadcasts>,
    counts: Arc<Mutex<HashMap<ApiId, usize>>>,
}

impl fmt::Debug for Events {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Events")
            .field("listeners", &self.listener_count())
            .finish_non_exhaustive()
    }
}

impl Events {
    pub(crate) fn new(registry: Weak<Registry>, events_per_api: usize) -> Self {
        Events {
            registry,
            events_per_api,
            listeners: Mutex::new(Vec::new()),
            api_listeners: Mutex::new(HashMap::new()),
            recent: Mutex::new(RecentBroadcasts::new(1024)),
            counts: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Registers a listener of broadcasts (a connection, a link).
    pub fn add_listener(&self, l: &Arc<dyn Listener>) {
        let mut ls = lock(&self.listeners);
        ls.retain(|w| w.strong_count() > 0);
        ls.push(Arc::downgrade(l));
    }

    /// Unregisters a listener of broadcasts.
    pub fn remove_listener(&self, l: &Arc<dyn Listener>) {
        let w = Arc::downgrade(l);
        lock(&self.listeners).retain(|x| x.strong_count() > 0 && !Weak::ptr_eq(x, &w));
    }

    /// Number of live broadcast listeners.
    pub fn listener_count(&self) -> usize {
        lock(&self.listeners).iter().filter(|w| w.strong_count() > 0).count()
    }

    /// The listener that forwards pushes to the API `e` (one per API).
    pub(crate) fn api_listener(&self, e: &Arc<ApiEntry>) -> Option<Arc<dyn Listener>> {
        let mut m = lock(&self.api_listeners);
        Some(
            m.entry(e.id)
                .or_insert_with(|| {
                    Arc::new(ApiListener {
                        entry: Arc::downgrade(e),
                    })
                })
                .clone(),
        )
    }

    /// Forgets the listener of a removed API.
    pub(crate) fn forget_api(&self, id: ApiId) {
        lock(&self.api_listeners).remove(&id);
    }

    /// Makes the event `API/name` of `e`, within its quota of live events.
    pub(crate) fn new_api_event(&self, e: &Arc<ApiEntry>, name: &str) -> Result<Event, NameError> {
        validate_event_name(name)?;
        let api_id = e.id;
        {
            let mut counts = lock(&self.counts);
            let n = counts.entry(api_id).or_insert(0);
            if *n >= self.events_per_api {
                return Err(NameError {
                    kind: "event",
                    name: name.to_owned(),
                    reason: format!("API {} has too many events ({})", e.name(), self.events_per_api),
                });
            }
            *n += 1;
        }
        let counts = Arc::downgrade(&self.counts);
        let on_drop: Box<dyn Fn(u64) + Send + Sync> = Box::new(move |_id| {
            if let Some(c) = counts.upgrade() {
                if let Some(n) = lock(&c).get_mut(&api_id) {
                    *n = n.saturating_sub(1);
                }
            }
        });
        let ev = Event::new(&format!("{}/{}", e.name(), name), Some(on_drop));
        if let Some(r) = self.registry.upgrade() {
            ev.set_hooks(r.hooks().clone());
            if let Some(o) = r.hooks().get() {
                o.event_created(&ev);
            }
        }
        Ok(ev)
    }

    /// Makes an event with a full name given as is (events mirrored from a
    /// linked binder).
    pub fn new_event_raw(&self, full_name: &str) -> Event {
        let ev = Event::new(full_name, None);
        if let Some(r) = self.registry.upgrade() {
            ev.set_hooks(r.hooks().clone());
        }
        ev
    }

    /// Broadcasts `name` with `data` to every listener and to the APIs
    /// whose handlers match. `origin` is the uuid and hop count of a
    /// broadcast received from a linked binder; `None` makes a new one.
    /// Returns false when the broadcast was a recent duplicate.
    pub fn broadcast(&self, name: &str, data: Option<&RawValue>, origin: Option<([u8; 16], u8)>) -> bool {
        self.broadcast_typed(name, data, None, origin)
    }

    /// [`Events::broadcast`] with the typed form of the data when it has one
    /// (`data` is then the JSON rendering of `typed`).
    pub fn broadcast_typed(
        &self,
        name: &str,
        data: Option<&RawValue>,
        typed: Option<&TypedList>,
        origin: Option<([u8; 16], u8)>,
    ) -> bool {
        let (uuid, hop) = origin.unwrap_or_else(|| (*uuid::Uuid::new_v4().as_bytes(), BROADCAST_HOPS));
        if !lock(&self.recent).insert(uuid) {
            tracing::debug!(event = name, "duplicate broadcast suppressed");
            return false;
        }
        let listeners: Vec<Arc<dyn Listener>> = {
            let mut ls = lock(&self.listeners);
            ls.retain(|w| w.strong_count() > 0);
            ls.iter().filter_map(Weak::upgrade).collect()
        };
        let data = data.unwrap_or(RawValue::NULL);
        let cache = EncodedCache::default();
        let msg = BroadcastMsg {
            name,
            data,
            uuid,
            hop,
            typed,
            cache: &cache,
        };
        for l in &listeners {
            l.broadcast(&msg);
        }
        if let Some(r) = self.registry.upgrade() {
            if let Some(o) = r.hooks().get() {
                o.broadcast(name, data, listeners.len());
            }
            for e in r.apis() {
                if e.imp.wants_events() {
                    let api = ApiRef::new(e.clone());
                    e.imp.on_event_typed(&api, name, data, typed);
                }
            }
        }
        true
    }
}
