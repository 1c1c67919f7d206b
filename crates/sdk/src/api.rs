//! Declaring an API (`ApiBuilder`) and acting as it (`Api`): events,
//! broadcasts, calls in its own session, settings, logging.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use afb_core::api::{ApiDecl, EventFn, LocalApi};
use afb_core::registry::RegisterError;
use afb_core::{ApiRef, LogLevel, Registry};
use serde::Serialize;
use serde_json::Value;

use crate::error::{BuildError, Error};
use crate::event::{raw, Event};
use crate::handler::ApiState;
use crate::req::to_args;
use crate::verb::Verb;

/// A binding's handle on its API.
#[derive(Clone)]
pub struct Api {
    r: ApiRef,
}

impl fmt::Debug for Api {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.r.fmt(f)
    }
}

impl Api {
    /// Wraps a core API handle.
    pub fn new(r: ApiRef) -> Self {
        Api { r }
    }

    /// The core handle.
    pub fn core(&self) -> &ApiRef {
        &self.r
    }

    /// The API's name.
    pub fn name(&self) -> &str {
        self.r.name()
    }

    /// Makes the event `API/name`.
    pub fn new_event(&self, name: &str) -> Result<Event, Error> {
        let event = self.r.new_event(name).map_err(Error::from)?;
        Ok(Event::new(event, self.r.registry()))
    }

    /// Broadcasts `API/name` with `data` to every client and linked binder.
    pub fn broadcast<T: Serialize + ?Sized>(&self, name: &str, data: &T) -> Result<(), Error> {
        self.r.broadcast(name, Some(&raw(data)?));
        Ok(())
    }

    /// Calls `api/verb` in the API's own session; a non-success reply
    /// becomes an [`Error`].
    pub async fn call<T: Serialize + ?Sized>(&self, api: &str, verb: &str, args: &T) -> Result<afb_core::Reply, Error> {
        let reply = self.r.call(api, verb, to_args(args)?).await;
        if reply.is_success() {
            Ok(reply)
        } else {
            Err(Error::from(reply))
        }
    }

    /// Calls `api/verb` in the API's own session and returns the reply as is.
    pub fn call_reply(
        &self,
        api: &str,
        verb: &str,
        args: afb_core::Args,
    ) -> impl Future<Output = afb_core::Reply> + Send + 'static {
        self.r.call(api, verb, args)
    }

    /// The settings given to this API (`--set`).
    pub fn settings(&self) -> Value {
        self.r.settings()
    }

    /// Subscribes the API itself to `event` (its event handlers get pushes).
    pub fn subscribe(&self, event: &Event) -> bool {
        self.r.subscribe_event(event.core())
    }

    /// Logs for this API (checked against its level). See [`crate::log!`].
    pub fn log(&self, level: LogLevel, args: fmt::Arguments<'_>) {
        self.r.log(level, args)
    }

    /// Asks the binder to exit with `code`.
    pub fn request_exit(&self, code: i32) {
        if let Some(r) = self.r.registry() {
            r.request_exit(code)
        }
    }

    /// The registry (for advanced uses: sessions, descriptions).
    pub fn registry(&self) -> Option<Arc<Registry>> {
        self.r.registry()
    }
}

/// Declares an API: its name, description, state, verbs, `init`, event
/// handlers, requirements. Finish with [`ApiBuilder::register`] or
/// [`ApiBuilder::build`].
pub struct ApiBuilder {
    name: String,
    info: String,
    state: ApiState,
    verbs: Vec<Verb>,
    init: Option<afb_core::api::InitFn>,
    handlers: Vec<(String, EventFn)>,
    noconcurrency: bool,
    requires: Vec<String>,
    provides: Vec<String>,
    requires_classes: Vec<String>,
    aliases: Vec<String>,
    seal: bool,
    specification: Option<String>,
}

impl ApiBuilder {
    /// Starts declaring API `name`.
    pub fn new(name: impl Into<String>) -> Self {
        ApiBuilder {
            name: name.into(),
            info: String::new(),
            state: ApiState::default(),
            verbs: Vec::new(),
            init: None,
            handlers: Vec::new(),
            noconcurrency: false,
            requires: Vec::new(),
            provides: Vec::new(),
            requires_classes: Vec::new(),
            aliases: Vec::new(),
            seal: true,
            specification: None,
        }
    }

    /// The API's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Short description.
    pub fn info(mut self, info: impl Into<String>) -> Self {
        self.info = info.into();
        self
    }

    /// Declares the API's specification: the text `API/info` answers (when
    /// the API has no verb named `info`) instead of the description the
    /// binder generates from the verbs. JSON text is answered as is; any
    /// other text as a JSON string.
    pub fn specification(mut self, spec: impl Into<String>) -> Self {
        self.specification = Some(spec.into());
        self
    }

    /// Gives the API its state: a value shared by its verbs, which take it
    /// as a [`crate::State<T>`] argument. One state per API (a second call
    /// replaces the first).
    pub fn state<T: std::any::Any + Send + Sync>(mut self, state: T) -> Self {
        self.state = ApiState::new(Arc::new(state));
        self
    }

    /// Adds a verb.
    pub fn verb(mut self, verb: Verb) -> Self {
        self.verbs.push(verb);
        self
    }

    /// Runs `init` at start-up, after required APIs; an error stops the binder.
    pub fn on_init<F, Fut>(mut self, init: F) -> Self
    where
        F: Fn(Api) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), Error>> + Send + 'static,
    {
        self.init = Some(Box::new(move |r: ApiRef| {
            let fut = init(Api::new(r));
            Box::pin(async move { fut.await.map_err(|e| e.to_string()) })
        }));
        self
    }

    /// Handles events whose name matches `pattern` (`*` and `?` globs):
    /// broadcasts, and pushes of events the API subscribed to.
    pub fn on_event<F>(mut self, pattern: impl Into<String>, f: F) -> Self
    where
        F: Fn(&Api, &str, &Value) + Send + Sync + 'static,
    {
        let f: EventFn = Arc::new(move |r: &ApiRef, name: &str, data: &serde_json::value::RawValue| {
            let v: Value = serde_json::from_str(data.get()).unwrap_or(Value::Null);
            f(&Api::new(r.clone()), name, &v)
        });
        self.handlers.push((pattern.into(), f));
        self
    }

    /// Verbs run one at a time.
    pub fn noconcurrency(mut self) -> Self {
        self.noconcurrency = true;
        self
    }

    /// Requires API `name` to start first.
    pub fn require_api(mut self, name: impl Into<String>) -> Self {
        self.requires.push(name.into());
        self
    }

    /// Declares that the API provides `class`.
    pub fn provide_class(mut self, class: impl Into<String>) -> Self {
        self.provides.push(class.into());
        self
    }

    /// Requires the providers of `class` to start first.
    pub fn require_class(mut self, class: impl Into<String>) -> Self {
        self.requires_classes.push(class.into());
        self
    }

    /// Adds another name for the API.
    pub fn alias(mut self, name: impl Into<String>) -> Self {
        self.aliases.push(name.into());
        self
    }

    /// Keeps the verb table open to changes after registration (dynamic
    /// verbs); sealed by default.
    pub fn unsealed(mut self) -> Self {
        self.seal = false;
        self
    }

    /// Builds the registry declaration. Errors name the offending verb.
    pub fn build(self) -> Result<ApiDecl, BuildError> {
        let mut local = LocalApi::new();
        if let Some(init) = self.init {
            local = local.with_init(init);
        }
        for v in self.verbs {
            let verb = v.name().to_owned();
            let v = v.into_core(&self.state).map_err(|state| BuildError::NoState {
                api: self.name.clone(),
                verb,
                state,
            })?;
            local.add_verb(v).map_err(|e| match e {
                afb_core::api::VerbError::Name(n) => RegisterError::Name(n),
                other => RegisterError::Name(afb_core::name::NameError {
                    kind: "verb",
                    name: self.name.clone(),
                    reason: other.to_string(),
                }),
            })?;
        }
        for (p, f) in self.handlers {
            local.add_event_handler(p, f);
        }
        // Not sealed yet: cannot fail.
        let _ = local.set_specification(self.specification);
        if self.seal {
            local.seal();
        }
        let mut decl = ApiDecl::new(self.name, Arc::new(local));
        decl.info = self.info;
        decl.noconcurrency = self.noconcurrency;
        decl.requires = self.requires;
        decl.provides_classes = self.provides;
        decl.requires_classes = self.requires_classes;
        decl.aliases = self.aliases;
        Ok(decl)
    }

    /// Builds and registers the API.
    pub fn register(self, registry: &Registry) -> Result<Arc<afb_core::ApiEntry>, BuildError> {
        Ok(registry.add_api(self.build()?)?)
    }
}
