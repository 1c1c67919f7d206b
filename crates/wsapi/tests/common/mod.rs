//! Helpers of the wsapi tests: registries serving and importing the hello
//! sample, a raw peer speaking wsapi by hand (bytes written in the tests),
//! temporary directories and a log capture.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use std::sync::atomic::{AtomicUsize, Ordering};

use afb_core::{Registry, RegistryConfig};
use afb_sdk::prelude::*;
use afb_sdk::testing::TestBinder;
use afb_wsapi::{ServerHandle, WsapiOptions};
use afb_wsapi_codec::frame::{self, FrameDecoder, FrameEvent, OpCode};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

pub const T: Duration = Duration::from_secs(5);

// ---- logs -------------------------------------------------------------

#[derive(Clone, Default)]
pub struct Logs(Arc<Mutex<Vec<u8>>>);

pub struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if std::env::var_os("WSAPI_TEST_LOG").is_some() {
            let _ = std::io::stderr().write_all(buf);
        }
        self.0.lock().unwrap_or_else(|p| p.into_inner()).extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Logs {
    type Writer = LogWriter;
    fn make_writer(&'a self) -> LogWriter {
        LogWriter(self.0.clone())
    }
}

impl Logs {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }

    /// Waits until the captured logs contain `needle`.
    pub async fn wait_for(&self, needle: &str) -> bool {
        for _ in 0..250 {
            if self.text().contains(needle) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }
}

/// The process-wide log capture (installed on first use).
pub fn logs() -> Logs {
    static LOGS: OnceLock<Logs> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Logs::default();
        let sub = tracing_subscriber::fmt()
            .with_writer(logs.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .finish();
        let _ = tracing::subscriber::set_global_default(sub);
        logs
    })
    .clone()
}

// ---- temporary directories ---------------------------------------------

pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "afb-wsapi-{}-{}-{tag}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&p).expect("temp dir");
        TempDir(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// ---- registries ---------------------------------------------------------

pub fn opts() -> WsapiOptions {
    WsapiOptions::default()
}

/// A registry with the hello sample, exporting it on `uri`.
pub struct Back {
    pub binder: TestBinder,
    pub stop: CancellationToken,
    pub handle: ServerHandle,
}

impl Back {
    pub async fn start(uri: &str) -> Back {
        Self::start_with(uri, RegistryConfig::default(), opts()).await
    }

    pub async fn start_with(uri: &str, config: RegistryConfig, opts: WsapiOptions) -> Back {
        Self::start_apis(uri, config, opts, vec![afb_sample_hello::api()]).await
    }

    pub async fn start_apis(uri: &str, config: RegistryConfig, opts: WsapiOptions, apis: Vec<ApiBuilder>) -> Back {
        logs();
        let binder = TestBinder::start_with(config, apis).await.expect("APIs start");
        let stop = CancellationToken::new();
        let handle = afb_wsapi::serve(binder.registry().clone(), uri, opts, stop.clone())
            .await
            .expect("serve");
        Back { binder, stop, handle }
    }

    pub fn registry(&self) -> &Arc<Registry> {
        self.binder.registry()
    }

    /// Stops serving, closes the links and drops the registry.
    pub async fn kill(self) {
        self.stop.cancel();
        drop(self.binder);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

struct CountDrop(Arc<AtomicUsize>);

impl Drop for CountDrop {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// API `slow`: `sleep` (milliseconds) replies after that time; `dropped`
/// counts the `sleep` verbs that ended, replied or cancelled.
pub fn slow_api(dropped: Arc<AtomicUsize>) -> ApiBuilder {
    ApiBuilder::new("slow").verb(Verb::new("sleep", move |_req: Req, Json(ms): Json<u64>| {
        let guard = CountDrop(dropped.clone());
        async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            drop(guard);
            Ok::<_, Error>(Json(ms))
        }
    }))
}

/// A started registry with no API, importing `uri`.
pub async fn front(uri: &str) -> TestBinder {
    front_with(uri, RegistryConfig::default(), opts()).await
}

pub async fn front_with(uri: &str, config: RegistryConfig, opts: WsapiOptions) -> TestBinder {
    logs();
    let binder = TestBinder::start_with(config, vec![]).await.expect("front starts");
    afb_wsapi::import(binder.registry(), uri, opts).expect("import");
    binder
}

// ---- bytes by hand -------------------------------------------------------

/// Bytes from hex text (spaces ignored).
pub fn hex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    digits
        .chunks(2)
        .map(|c| u8::from_str_radix(std::str::from_utf8(c).unwrap(), 16).unwrap())
        .collect()
}

/// A wsapi `string`: u32 length counting the NUL, bytes, NUL.
pub fn s(text: &str) -> Vec<u8> {
    let mut v = ((text.len() + 1) as u32).to_le_bytes().to_vec();
    v.extend_from_slice(text.as_bytes());
    v.push(0);
    v
}

pub fn u16le(v: u16) -> Vec<u8> {
    v.to_le_bytes().to_vec()
}

/// Concatenates byte pieces.
pub fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

pub fn version_offer() -> Vec<u8> {
    hex("56 09144c17 01 01")
}

pub fn session_create(id: u16, uuid: &str) -> Vec<u8> {
    cat(&[b"S", &u16le(id), &s(uuid)])
}

pub fn token_create(id: u16, token: &str) -> Vec<u8> {
    cat(&[b"T", &u16le(id), &s(token)])
}

pub fn call(callid: u16, verb: &str, session: u16, token: u16, args: &str) -> Vec<u8> {
    cat(&[
        b"K",
        &u16le(callid),
        &s(verb),
        &u16le(session),
        &u16le(token),
        &s(args),
        &[0, 0, 0, 0],
    ])
}

pub fn reply(callid: u16, error: Option<&str>, info: Option<&str>, data: &str) -> Vec<u8> {
    let ns = |x: Option<&str>| x.map(s).unwrap_or_else(|| vec![0, 0, 0, 0]);
    cat(&[b"k", &u16le(callid), &ns(error), &ns(info), &s(data)])
}

// ---- a raw peer ------------------------------------------------------------

pub enum Recv {
    Msg(Vec<u8>),
    Close(Option<u16>),
    Pong(Vec<u8>),
    Eof,
    Timeout,
}

impl std::fmt::Debug for Recv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Recv::Msg(m) => write!(f, "Msg({:02x?} {:?})", m, String::from_utf8_lossy(m)),
            Recv::Close(c) => write!(f, "Close({c:?})"),
            Recv::Pong(p) => write!(f, "Pong({p:?})"),
            Recv::Eof => f.write_str("Eof"),
            Recv::Timeout => f.write_str("Timeout"),
        }
    }
}

/// A peer writing and reading wsapi frames by hand.
pub struct RawPeer<S> {
    pub s: S,
    dec: FrameDecoder,
    pending: Vec<FrameEvent>,
    rbuf: Vec<u8>,
    pub mask: Option<[u8; 4]>,
}

impl RawPeer<tokio::net::UnixStream> {
    pub async fn unix(path: &Path) -> Self {
        RawPeer::new(tokio::net::UnixStream::connect(path).await.expect("connect"))
    }
}

impl RawPeer<tokio::net::TcpStream> {
    pub async fn tcp(port: u16) -> Self {
        RawPeer::new(
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .expect("connect"),
        )
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> RawPeer<S> {
    pub fn new(s: S) -> Self {
        RawPeer {
            s,
            dec: FrameDecoder::new(64 << 20),
            pending: Vec::new(),
            rbuf: vec![0; 65536],
            mask: None,
        }
    }

    /// Sends one message as a binary frame.
    pub async fn send(&mut self, msg: &[u8]) {
        let mut f = Vec::new();
        frame::encode_frame(OpCode::Binary, true, msg, self.mask, &mut f);
        self.s.write_all(&f).await.expect("write");
    }

    /// Sends raw bytes (frames written by the test).
    pub async fn send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.s.write_all(bytes).await
    }

    pub async fn recv(&mut self) -> Recv {
        self.recv_within(T).await
    }

    pub async fn recv_within(&mut self, t: Duration) -> Recv {
        let deadline = tokio::time::Instant::now() + t;
        loop {
            if !self.pending.is_empty() {
                return match self.pending.remove(0) {
                    FrameEvent::Binary(m) => Recv::Msg(m),
                    FrameEvent::Close(c) => Recv::Close(c.map(|c| c.code)),
                    FrameEvent::Pong(p) => Recv::Pong(p),
                    other => panic!("unexpected frame {other:?}"),
                };
            }
            let n = match tokio::time::timeout_at(deadline, self.s.read(&mut self.rbuf)).await {
                Err(_) => return Recv::Timeout,
                Ok(Err(_)) | Ok(Ok(0)) => return Recv::Eof,
                Ok(Ok(n)) => n,
            };
            let mut input = &self.rbuf[..n];
            while let Some(ev) = self.dec.decode(&mut input).expect("frames from the stub") {
                self.pending.push(ev);
            }
        }
    }

    /// The next message, failing on anything else.
    pub async fn msg(&mut self) -> Vec<u8> {
        match self.recv().await {
            Recv::Msg(m) => m,
            other => panic!("expected a message, got {other:?}"),
        }
    }

    /// Reads until the link ends; returns the close code seen, if any.
    pub async fn closed(&mut self) -> Option<u16> {
        let mut code = None;
        loop {
            match self.recv().await {
                Recv::Close(c) => code = c,
                Recv::Eof => return code,
                Recv::Timeout => panic!("the link was not closed"),
                Recv::Msg(_) | Recv::Pong(_) => {}
            }
        }
    }

    /// Offers version 1 and checks the answer.
    pub async fn hello(&mut self) {
        self.send(&version_offer()).await;
        assert_eq!(self.msg().await, hex("76 01"));
    }
}
