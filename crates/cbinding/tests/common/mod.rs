//! Shared by the in-process tests: builds the C test bindings against our
//! headers, loads them in a registry, and calls verbs as a client that can
//! receive events.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use afb_core::event::{BroadcastMsg, Listener, ListenerSubscriber, PushMsg};
use afb_core::{Args, Call, Client, Registry, RegistryConfig, Reply, Session};
use serde_json::{Map, Value};

/// Compiles `tests/c/<src>` into a shared object named `<out>.so`.
pub fn build(src: &str, out: &str, defines: &[&str]) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cbindings");
    std::fs::create_dir_all(&dir).unwrap();
    let so = dir.join(format!("{out}.so"));
    let status = Command::new("cc")
        .args(["-shared", "-fPIC", "-O1", "-Wall", "-Wno-unused-function"])
        .arg("-I")
        .arg(root.join("include"))
        .args(defines)
        .arg(root.join("tests/c").join(src))
        .arg("-o")
        .arg(&so)
        .arg("-ljson-c")
        .status()
        .expect("a C compiler (cc) is needed for these tests");
    assert!(status.success(), "compiling {src} failed");
    so
}

/// Records pushes and broadcasts.
#[derive(Default)]
pub struct Rec {
    pub events: Mutex<Vec<(String, String)>>,
}

impl Listener for Rec {
    fn push(&self, m: &PushMsg<'_>) {
        self.events
            .lock()
            .unwrap()
            .push((m.event.name().to_owned(), m.data.get().to_owned()));
    }
    fn broadcast(&self, m: &BroadcastMsg<'_>) {
        self.events
            .lock()
            .unwrap()
            .push((m.name.to_owned(), m.data.get().to_owned()));
    }
}

/// A client of the registry with its own session and event listener.
pub struct TestClient {
    pub registry: Arc<Registry>,
    pub session: Arc<Session>,
    pub rec: Arc<Rec>,
    listener: Arc<dyn Listener>,
    pub sub: Arc<ListenerSubscriber>,
}

impl TestClient {
    pub fn new(registry: &Arc<Registry>) -> Self {
        let rec: Arc<Rec> = Arc::default();
        let listener: Arc<dyn Listener> = rec.clone();
        registry.events().add_listener(&listener);
        TestClient {
            registry: registry.clone(),
            session: registry.sessions().create().unwrap(),
            sub: Arc::new(ListenerSubscriber::new(&listener, 100)),
            rec,
            listener,
        }
    }

    pub async fn call(&self, api: &str, verb: &str, args: Value) -> Reply {
        let call = Call {
            api,
            verb,
            args: Args::from_value(args),
            client: Client::new(self.session.clone()).with_subscriber(self.sub.clone()),
            external: true,
            chain: None,
        };
        tokio::time::timeout(Duration::from_secs(10), self.registry.clone().call(call))
            .await
            .expect("no reply within 10 s")
    }

    /// Waits for an event of that name; its data.
    pub async fn event(&self, name: &str) -> Value {
        for _ in 0..200 {
            if let Some((_, d)) = self.rec.events.lock().unwrap().iter().find(|(n, _)| n == name) {
                return serde_json::from_str(d).unwrap();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("no event {name}: {:?}", self.rec.events.lock().unwrap());
    }

    pub fn _keep(&self) -> &Arc<dyn Listener> {
        &self.listener
    }
}

/// A registry with `settings`, short request timeout.
pub fn registry(settings: Value, timeout: Duration) -> Arc<Registry> {
    let settings = match settings {
        Value::Object(o) => o,
        _ => Map::new(),
    };
    Registry::new(RegistryConfig {
        api_timeout: Some(timeout),
        settings,
        ..RegistryConfig::default()
    })
}

/// Loads a binding from a blocking thread.
pub async fn load(reg: &Arc<Registry>, so: &Path) -> Result<afb_cbinding::Loaded, afb_cbinding::LoadError> {
    let (r, p) = (reg.clone(), so.to_path_buf());
    tokio::task::spawn_blocking(move || afb_cbinding::load(&r, &p))
        .await
        .unwrap()
}

/// The reply's data as JSON.
pub fn data(r: &Reply) -> Value {
    r.data_json()
        .map(|d| serde_json::from_str(d).unwrap())
        .unwrap_or(Value::Null)
}
