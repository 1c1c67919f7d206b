//! A minimal Chrome DevTools Protocol driver for browser tests: starts a
//! headless Chromium on loopback, opens pages (optionally in separate
//! browser contexts, i.e. separate cookie jars), evaluates JavaScript,
//! clicks with real mouse events and types text. Stops the browser when
//! dropped. Uses only tokio-tungstenite and serde_json.
//!
//! Chromium is found at `$AFB_CHROMIUM`, else `/usr/bin/chromium`,
//! `chromium-browser`, `google-chrome`; [`Browser::launch`] returns `None`
//! when there is none, so that callers skip with a message.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Value>>>>;

/// How long one DevTools command may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(20);

/// The Chromium executable, if any.
pub fn find_chromium() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("AFB_CHROMIUM") {
        let p = PathBuf::from(p);
        return p.exists().then_some(p);
    }
    let candidates = [
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/bin/google-chrome",
        "/usr/bin/google-chrome-stable",
    ];
    candidates.iter().map(PathBuf::from).find(|p| p.exists())
}

/// A running headless Chromium.
pub struct Browser {
    child: Child,
    profile: PathBuf,
    out: mpsc::UnboundedSender<String>,
    pending: Pending,
    next_id: Arc<AtomicU64>,
    /// JavaScript errors and console errors of every page: (session, text).
    pub errors: Arc<Mutex<Vec<(String, String)>>>,
}

/// One page (a browser tab) attached with a flat session.
pub struct Page<'a> {
    browser: &'a Browser,
    session: String,
    target: String,
}

impl Browser {
    /// Starts Chromium, or `None` when it is not installed.
    pub async fn launch() -> Option<Browser> {
        let exe = find_chromium()?;
        let profile = std::env::temp_dir().join(format!(
            "afb-chromium-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ));
        std::fs::create_dir_all(&profile).expect("create the browser profile directory");
        let child = Command::new(&exe)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                "--window-size=1200,900",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", exe.display()));
        let endpoint = wait_endpoint(&profile).await;
        let (ws, _) = tokio_tungstenite::connect_async(endpoint.as_str())
            .await
            .expect("connect to the DevTools endpoint");
        let (mut sink, mut stream) = ws.split();
        let (out, mut out_rx) = mpsc::unbounded_channel::<String>();
        tokio::spawn(async move {
            while let Some(text) = out_rx.recv().await {
                if sink.send(Message::text(text)).await.is_err() {
                    break;
                }
            }
        });
        let pending: Pending = Arc::default();
        let errors: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
        let (p2, e2) = (pending.clone(), errors.clone());
        tokio::spawn(async move {
            while let Some(Ok(m)) = stream.next().await {
                let Message::Text(t) = m else { continue };
                let Ok(v) = serde_json::from_str::<Value>(&t) else {
                    continue;
                };
                if let Some(id) = v["id"].as_u64() {
                    if let Some(tx) = p2.lock().unwrap().remove(&id) {
                        let _ = tx.send(v);
                    }
                    continue;
                }
                let session = v["sessionId"].as_str().unwrap_or("").to_owned();
                match v["method"].as_str() {
                    Some("Runtime.exceptionThrown") => {
                        let d = &v["params"]["exceptionDetails"];
                        let text = d["exception"]["description"]
                            .as_str()
                            .unwrap_or(d["text"].as_str().unwrap_or("?"));
                        e2.lock().unwrap().push((session, text.to_owned()));
                    }
                    Some("Runtime.consoleAPICalled") if v["params"]["type"] == "error" => {
                        let text = v["params"]["args"].to_string();
                        e2.lock().unwrap().push((session, text));
                    }
                    _ => {}
                }
            }
        });
        Some(Browser {
            child,
            profile,
            out,
            pending,
            next_id: Arc::new(AtomicU64::new(1)),
            errors,
        })
    }

    /// Sends a command (to a page when `session` is given) and returns its result.
    pub async fn command(&self, session: Option<&str>, method: &str, params: Value) -> Value {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        let (tx, rx) = oneshot::channel();
        self.pending.lock().unwrap().insert(id, tx);
        self.out.send(msg.to_string()).expect("DevTools connection open");
        let v = tokio::time::timeout(COMMAND_TIMEOUT, rx)
            .await
            .unwrap_or_else(|_| panic!("DevTools command {method} timed out"))
            .expect("DevTools answer");
        if !v["error"].is_null() {
            panic!("DevTools command {method} failed: {}", v["error"]);
        }
        v["result"].clone()
    }

    /// A new, separate browser context (its own cookies and storage).
    pub async fn new_context(&self) -> String {
        let r = self.command(None, "Target.createBrowserContext", json!({})).await;
        r["browserContextId"].as_str().expect("browserContextId").to_owned()
    }

    /// Opens `url` in a new tab (in `context` when given) and waits until it is loaded.
    pub async fn open(&self, url: &str, context: Option<&str>) -> Page<'_> {
        let mut params = json!({"url": "about:blank"});
        if let Some(c) = context {
            params["browserContextId"] = json!(c);
        }
        let r = self.command(None, "Target.createTarget", params).await;
        let target = r["targetId"].as_str().expect("targetId").to_owned();
        let r = self
            .command(
                None,
                "Target.attachToTarget",
                json!({"targetId": target, "flatten": true}),
            )
            .await;
        let session = r["sessionId"].as_str().expect("sessionId").to_owned();
        let page = Page {
            browser: self,
            session,
            target,
        };
        page.cmd("Page.enable", json!({})).await;
        page.cmd("Runtime.enable", json!({})).await;
        page.goto(url).await;
        page
    }

    /// Errors reported by the pages so far.
    pub fn page_errors(&self) -> Vec<(String, String)> {
        self.errors.lock().unwrap().clone()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self
            .out
            .send(json!({"id": 0, "method": "Browser.close", "params": {}}).to_string());
        for _ in 0..50 {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

async fn wait_endpoint(profile: &Path) -> String {
    let file = profile.join("DevToolsActivePort");
    for _ in 0..300 {
        if let Ok(text) = std::fs::read_to_string(&file) {
            let mut lines = text.lines();
            if let (Some(port), Some(path)) = (lines.next(), lines.next()) {
                return format!("ws://127.0.0.1:{port}{path}");
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("Chromium did not open its DevTools port within 30 s");
}

impl Page<'_> {
    /// Sends a command to this page.
    pub async fn cmd(&self, method: &str, params: Value) -> Value {
        self.browser.command(Some(&self.session), method, params).await
    }

    /// The DevTools session id (to match [`Browser::page_errors`]).
    pub fn session(&self) -> &str {
        &self.session
    }

    /// Navigates and waits for the load to complete.
    pub async fn goto(&self, url: &str) {
        self.cmd("Page.navigate", json!({"url": url})).await;
        self.wait_for(
            "document.readyState === 'complete' && location.href !== 'about:blank'",
            url,
        )
        .await;
    }

    /// Evaluates `expr` (awaiting a promise) and returns its JSON value.
    pub async fn eval(&self, expr: &str) -> Value {
        let r = self
            .cmd(
                "Runtime.evaluate",
                json!({"expression": expr, "awaitPromise": true, "returnByValue": true}),
            )
            .await;
        if let Some(ex) = r.get("exceptionDetails") {
            panic!(
                "JavaScript failed: {expr}\n{}",
                ex["exception"]["description"].as_str().unwrap_or(&ex.to_string())
            );
        }
        r["result"]["value"].clone()
    }

    /// Waits until `expr` is truthy (polling), panicking after 15 s.
    pub async fn wait_for(&self, expr: &str, what: &str) {
        let check = format!("(() => {{ try {{ return !!({expr}); }} catch (e) {{ return false; }} }})()");
        for _ in 0..300 {
            if self.eval(&check).await == json!(true) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("timed out waiting for {what} ({expr})");
    }

    /// Clicks the centre of the element matching `selector` with real mouse events.
    pub async fn click(&self, selector: &str) {
        let sel = serde_json::to_string(selector).unwrap();
        let rect = self
            .eval(&format!(
                "(() => {{ const e = document.querySelector({sel}); if (!e) return null; \
                 e.scrollIntoView({{block: 'center'}}); const r = e.getBoundingClientRect(); \
                 return [r.x + r.width / 2, r.y + r.height / 2]; }})()"
            ))
            .await;
        let (x, y) = match (rect[0].as_f64(), rect[1].as_f64()) {
            (Some(x), Some(y)) => (x, y),
            _ => panic!("no element {selector} to click"),
        };
        for kind in ["mouseMoved", "mousePressed", "mouseReleased"] {
            self.cmd(
                "Input.dispatchMouseEvent",
                json!({"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1}),
            )
            .await;
        }
    }

    /// Replaces the text of the input matching `selector` by typing `text`.
    pub async fn type_into(&self, selector: &str, text: &str) {
        let sel = serde_json::to_string(selector).unwrap();
        let found = self
            .eval(&format!(
                "(() => {{ const e = document.querySelector({sel}); if (!e) return false; \
                 e.focus(); e.select && e.select(); return true; }})()"
            ))
            .await;
        assert_eq!(found, json!(true), "no input {selector}");
        self.cmd("Input.insertText", json!({"text": text})).await;
    }

    /// The text content of the element matching `selector`.
    pub async fn text(&self, selector: &str) -> String {
        let sel = serde_json::to_string(selector).unwrap();
        self.eval(&format!("(document.querySelector({sel}) || {{}}).textContent || ''"))
            .await
            .as_str()
            .unwrap_or("")
            .to_owned()
    }

    /// Saves a PNG screenshot to `path`.
    pub async fn screenshot(&self, path: &Path) {
        let r = self.cmd("Page.captureScreenshot", json!({"format": "png"})).await;
        if let Some(data) = r["data"].as_str() {
            let _ = std::fs::write(path, base64_decode(data));
        }
    }

    /// Closes the tab.
    pub async fn close(self) {
        self.browser
            .command(None, "Target.closeTarget", json!({"targetId": self.target}))
            .await;
    }
}

fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for v in s.bytes().filter_map(val) {
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}
