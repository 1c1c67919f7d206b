//! Events of an API: made by [`crate::Api::new_event`], subscribed by
//! requests ([`crate::Req::subscribe`]), pushed to their subscribers or
//! broadcast to everyone with any serialisable data.

use std::fmt;
use std::sync::{Arc, Weak};

use afb_core::Registry;
use serde::Serialize;
use serde_json::value::RawValue;

use crate::error::Error;

/// An event `API/NAME`. Clones share the event; it is deleted (its
/// subscribers told) when the last handle is dropped.
#[derive(Clone)]
pub struct Event {
    inner: afb_core::Event,
    registry: Weak<Registry>,
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

/// `data` as raw JSON; a value that does not serialise is an
/// `internal-error`.
pub(crate) fn raw<T: Serialize + ?Sized>(data: &T) -> Result<Box<RawValue>, Error> {
    serde_json::value::to_raw_value(data).map_err(|e| Error::internal(e.to_string()))
}

impl Event {
    pub(crate) fn new(inner: afb_core::Event, registry: Option<Arc<Registry>>) -> Self {
        Event {
            inner,
            registry: registry.as_ref().map_or_else(Weak::new, Arc::downgrade),
        }
    }

    /// The full name `API/NAME`.
    pub fn name(&self) -> &str {
        self.inner.name()
    }

    /// Pushes `data` to the event's subscribers; returns how many were
    /// reached. Fails only when `data` does not serialise.
    pub fn push<T: Serialize + ?Sized>(&self, data: &T) -> Result<usize, Error> {
        Ok(self.inner.push(Some(&raw(data)?)))
    }

    /// Pushes raw JSON data (`None`: `null`).
    pub fn push_raw(&self, data: Option<&RawValue>) -> usize {
        self.inner.push(data)
    }

    /// Broadcasts the event's name with `data` to every client and linked
    /// binder, subscribed or not. Fails only when `data` does not
    /// serialise.
    pub fn broadcast<T: Serialize + ?Sized>(&self, data: &T) -> Result<(), Error> {
        let data = raw(data)?;
        if let Some(r) = self.registry.upgrade() {
            r.events().broadcast(self.inner.name(), Some(&data), None);
        }
        Ok(())
    }

    /// The core event (for what the SDK does not wrap).
    pub fn core(&self) -> &afb_core::Event {
        &self.inner
    }
}
