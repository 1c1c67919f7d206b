//! Helpers of the RPC tests: registries exporting and importing APIs over
//! RPC v3 in one process, a peer speaking RPC by hand (bytes from the
//! tests), and a capture of the log lines.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use afb_core::RegistryConfig;
use afb_rpc::{RpcOptions, ServerHandle};
use afb_sdk::prelude::*;
use afb_sdk::testing::TestBinder;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

pub use afb_testkit::TempDir;

/// How long a test waits for something that should happen.
pub const T: Duration = Duration::from_secs(5);

// ---- log lines -------------------------------------------------------------

static LOGS: OnceLock<Arc<Mutex<String>>> = OnceLock::new();

struct Capture;

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if std::env::var_os("RPC_TEST_LOG").is_some() {
            eprint!("{}", String::from_utf8_lossy(buf));
        }
        if let Some(l) = LOGS.get() {
            l.lock()
                .unwrap_or_else(|p| p.into_inner())
                .push_str(&String::from_utf8_lossy(buf));
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs the capture of log lines (once per test binary).
pub fn capture_logs() {
    LOGS.get_or_init(|| {
        let _ = tracing::subscriber::set_global_default(
            tracing_subscriber::fmt()
                .with_writer(|| Capture)
                .with_ansi(false)
                .with_max_level(tracing::Level::INFO)
                .finish(),
        );
        Arc::default()
    });
}

/// Whether a log line containing `needle` shows up within a few seconds.
pub async fn logged(needle: &str) -> bool {
    for _ in 0..250 {
        let found = LOGS
            .get()
            .is_some_and(|l| l.lock().unwrap_or_else(|p| p.into_inner()).contains(needle));
        if found {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

// ---- registries ------------------------------------------------------------

/// API `echo`: `args` and `ping` reply their arguments (no info), `fail`
/// replies `internal-error` without info, `slow` replies after {ms}
/// milliseconds. A back exporting it as `hello` answers as the C hello
/// binding does where the spec's captures fix the bytes.
pub fn echo_api() -> ApiBuilder {
    let echo = |_req: Req, v: Value| async move { Ok::<_, Error>(Json(v)) };
    ApiBuilder::new("echo")
        .verb(Verb::new("args", echo))
        .verb(Verb::new("ping", echo))
        .verb(Verb::new("fail", |_req: Req, _: Value| async move {
            Err::<(), _>(Error::new("internal-error", None))
        }))
        .verb(Verb::new("slow", |_req: Req, Json(ms): Json<u64>| async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok::<_, Error>(Json(ms))
        }))
}

/// A registry with the hello and echo APIs, serving `spec` with `--rpc-server`.
pub struct Back {
    pub binder: TestBinder,
    pub stop: CancellationToken,
    pub handle: ServerHandle,
}

impl Back {
    pub async fn start(spec: &str) -> Back {
        Back::start_with(spec, RegistryConfig::default(), RpcOptions::default()).await
    }

    pub async fn start_with(spec: &str, config: RegistryConfig, opts: RpcOptions) -> Back {
        capture_logs();
        let binder = TestBinder::start_with(config, vec![afb_sample_hello::api(), echo_api()])
            .await
            .expect("APIs start");
        let stop = CancellationToken::new();
        let handle = afb_rpc::serve(binder.registry().clone(), spec, opts, stop.clone())
            .await
            .expect("serve");
        Back { binder, stop, handle }
    }

    /// Stops serving (links closed) and drops the registry.
    pub async fn kill(self) {
        self.stop.cancel();
        drop(self.binder);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A started registry without API, importing with `spec` (`--rpc-client`).
pub async fn front(spec: &str) -> TestBinder {
    front_with(spec, RpcOptions::default()).await
}

pub async fn front_with(spec: &str, opts: RpcOptions) -> TestBinder {
    capture_logs();
    let binder = TestBinder::start(vec![]).await.expect("front starts");
    afb_rpc::import(binder.registry(), spec, opts).expect("import");
    binder
}

pub fn unix_spec(dir: &TempDir, name: &str) -> String {
    format!("unix:{}", dir.path().join(name).display())
}

pub fn path(dir: &TempDir, name: &str) -> PathBuf {
    dir.path().join(name)
}

// ---- bytes by hand ---------------------------------------------------------

/// Bytes from hex text; spaces ignored, text between backquotes taken as
/// its bytes.
pub fn hex(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut parts = text.split('`');
    while let Some(h) = parts.next() {
        let digits: Vec<u8> = h.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        for pair in digits.chunks(2) {
            out.push(u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap());
        }
        if let Some(quoted) = parts.next() {
            out.extend_from_slice(quoted.as_bytes());
        }
    }
    out
}

/// The version offer of the C client.
pub const OFFER: &str = "56 09 14 4c 17 03 03 00 00";

/// A peer reading and writing the raw RPC stream by hand.
pub struct RawPeer<S> {
    pub s: S,
}

impl RawPeer<tokio::net::UnixStream> {
    pub async fn unix(path: &Path) -> Self {
        RawPeer {
            s: tokio::net::UnixStream::connect(path).await.expect("connect"),
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> RawPeer<S> {
    pub async fn send(&mut self, bytes: &[u8]) {
        self.s.write_all(bytes).await.expect("write");
    }

    /// Exactly `n` bytes, or `None` when the link ends or nothing comes.
    pub async fn bytes(&mut self, n: usize) -> Option<Vec<u8>> {
        let mut v = vec![0; n];
        match tokio::time::timeout(T, self.s.read_exact(&mut v)).await {
            Ok(Ok(_)) => Some(v),
            _ => None,
        }
    }

    /// The next chunk with its padding.
    pub async fn chunk(&mut self) -> Vec<u8> {
        let mut c = self.bytes(8).await.expect("a chunk header");
        let len = u32::from_le_bytes([c[4], c[5], c[6], c[7]]) as usize;
        let rest = len.div_ceil(8) * 8 - 8;
        c.extend(self.bytes(rest).await.expect("the chunk body"));
        c
    }

    /// Offers version 3 as the C client and checks the answer.
    pub async fn hello(&mut self) {
        self.send(&hex(OFFER)).await;
        assert_eq!(self.bytes(4).await, Some(hex("76 03 04 00")));
    }

    /// Whether the peer closes the connection (reading everything) within `T`.
    pub async fn closed(&mut self) -> bool {
        let mut buf = [0u8; 4096];
        loop {
            match tokio::time::timeout(T, self.s.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(_)) => {}
                Err(_) => return false,
            }
        }
    }
}
