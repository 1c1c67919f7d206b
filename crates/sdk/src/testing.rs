//! Testing bindings without a daemon: a registry with your APIs and clients
//! that call verbs and collect the events they receive.
//!
//! ```
//! # tokio_test_block_on(async {
//! use afb_sdk::prelude::*;
//! use afb_sdk::testing::TestBinder;
//!
//! let api = ApiBuilder::new("demo").verb(Verb::new("twice", |Json(n): Json<i64>| async move {
//!     Ok::<_, Error>(Json(n * 2))
//! }));
//! let binder = TestBinder::start(vec![api]).await.unwrap();
//! let client = binder.client();
//! let reply = client.call("demo", "twice", &21).await;
//! assert_eq!(reply.data_json(), Some("42"));
//! # });
//! # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
//! # }
//! ```

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use afb_core::event::{BroadcastMsg, Listener, ListenerSubscriber, PushMsg};
use afb_core::registry::StartError;
use afb_core::{Args, Call, Client, Registry, RegistryConfig, Reply};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use crate::api::ApiBuilder;
use crate::error::BuildError;

/// Why a [`TestBinder`] did not start.
#[derive(Debug)]
pub enum TestError {
    /// An API could not be built or registered.
    Build(BuildError),
    /// An API's `init` failed.
    Start(StartError),
}

impl fmt::Display for TestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TestError::Build(e) => e.fmt(f),
            TestError::Start(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for TestError {}

/// A registry holding the APIs under test, started.
pub struct TestBinder {
    registry: Arc<Registry>,
}

impl TestBinder {
    /// Registers and starts the APIs with default settings.
    pub async fn start(apis: Vec<ApiBuilder>) -> Result<Self, TestError> {
        Self::start_with(RegistryConfig::default(), apis).await
    }

    /// Registers and starts the APIs with the given settings.
    pub async fn start_with(config: RegistryConfig, apis: Vec<ApiBuilder>) -> Result<Self, TestError> {
        let registry = Registry::new(config);
        for a in apis {
            a.register(&registry).map_err(TestError::Build)?;
        }
        registry.start().await.map_err(TestError::Start)?;
        Ok(TestBinder { registry })
    }

    /// The registry.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// A new client with its own session, able to receive events.
    pub fn client(&self) -> TestClient {
        TestClient::new(self.registry.clone())
    }
}

/// An event a [`TestClient`] received.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedEvent {
    /// Full event name.
    pub name: String,
    /// Its data.
    pub data: Value,
    /// Whether it came as a broadcast.
    pub broadcast: bool,
}

struct Inbox {
    tx: mpsc::UnboundedSender<ReceivedEvent>,
}

impl Listener for Inbox {
    fn push(&self, m: &PushMsg<'_>) {
        let _ = self.tx.send(ReceivedEvent {
            name: m.event.name().to_owned(),
            data: serde_json::from_str(m.data.get()).unwrap_or(Value::Null),
            broadcast: false,
        });
    }

    fn broadcast(&self, m: &BroadcastMsg<'_>) {
        let _ = self.tx.send(ReceivedEvent {
            name: m.name.to_owned(),
            data: serde_json::from_str(m.data.get()).unwrap_or(Value::Null),
            broadcast: true,
        });
    }
}

/// A client of a [`TestBinder`]: a session, a token, an event inbox.
pub struct TestClient {
    registry: Arc<Registry>,
    client: Mutex<Client>,
    _listener: Arc<dyn Listener>,
    events: tokio::sync::Mutex<mpsc::UnboundedReceiver<ReceivedEvent>>,
}

impl TestClient {
    fn new(registry: Arc<Registry>) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let listener: Arc<dyn Listener> = Arc::new(Inbox { tx });
        registry.events().add_listener(&listener);
        let session = registry
            .sessions()
            .create()
            .unwrap_or_else(|_| afb_core::Session::detached(None));
        let client = Client::new(session).with_subscriber(Arc::new(ListenerSubscriber::new(&listener, 1024)));
        TestClient {
            registry,
            client: Mutex::new(client),
            _listener: listener,
            events: tokio::sync::Mutex::new(rx),
        }
    }

    fn core_client(&self) -> Client {
        self.client.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The session uuid.
    pub fn session_uuid(&self) -> String {
        self.core_client().session.uuid().to_owned()
    }

    /// Sets the token presented with the next calls.
    pub fn set_token(&self, token: Option<&str>) {
        self.client.lock().unwrap_or_else(|p| p.into_inner()).token = token.map(Into::into);
    }

    /// Calls `api/verb` with `args` serialised; a renewed token is adopted
    /// for the next calls, as the WebSocket transport does.
    pub async fn call<T: Serialize + ?Sized>(&self, api: &str, verb: &str, args: &T) -> Reply {
        let args = match serde_json::value::to_raw_value(args) {
            Ok(r) => Args::from_raw(r),
            Err(e) => return Reply::error("invalid-request", Some(e.to_string())),
        };
        self.call_args(api, verb, args).await
    }

    /// Calls with prepared arguments.
    pub async fn call_args(&self, api: &str, verb: &str, args: Args) -> Reply {
        let (tx, rx) = oneshot::channel();
        self.registry.dispatch(
            Call::external(api, verb, args, self.core_client()),
            Box::new(move |r: Reply| {
                let _ = tx.send(r);
            }),
        );
        let reply = rx
            .await
            .unwrap_or_else(|_| Reply::error("internal-error", Some("reply lost".into())));
        if let Some(t) = &reply.token {
            self.client.lock().unwrap_or_else(|p| p.into_inner()).token = Some(t.clone());
        }
        reply
    }

    /// Waits up to `timeout` for the next event received.
    pub async fn next_event(&self, timeout: Duration) -> Option<ReceivedEvent> {
        let mut rx = self.events.lock().await;
        tokio::time::timeout(timeout, rx.recv()).await.ok().flatten()
    }

    /// Takes every event received so far.
    pub async fn drain_events(&self) -> Vec<ReceivedEvent> {
        let mut rx = self.events.lock().await;
        let mut v = Vec::new();
        while let Ok(e) = rx.try_recv() {
            v.push(e);
        }
        v
    }
}

/// Parses a reply's data as JSON (`Null` when absent).
pub fn data(reply: &Reply) -> Value {
    reply
        .data_json()
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or(Value::Null)
}
