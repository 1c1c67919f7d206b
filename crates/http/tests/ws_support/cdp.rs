//! A minimal Chrome DevTools Protocol driver for browser tests: starts a
//! headless Chromium on loopback, opens pages (optionally in separate
//! browser contexts, i.e. separate cookie jars), evaluates JavaScript,
//! clicks with real mouse events and types text. Stops the browser when
//! dropped. Blocking, over std sockets (`std_ws.rs`, which the including
//! crate declares as `crate::std_ws`) and serde_json only.
//!
//! Chromium is found at `$AFB_CHROMIUM`, else `/usr/bin/chromium`,
//! `chromium-browser`, `google-chrome`; [`Browser::launch`] returns `None`
//! when there is none, so that callers skip with a message.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::sleep;
use std::time::Duration;

use serde_json::{json, Value};

use crate::std_ws::{WsConn, WsMsg, WsWriter};

type Pending = Arc<Mutex<HashMap<u64, mpsc::Sender<Value>>>>;

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
    out: WsWriter,
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
    pub fn launch() -> Option<Browser> {
        Self::launch_with(&[])
    }

    /// Starts Chromium with `extra` command-line switches.
    pub fn launch_with(extra: &[String]) -> Option<Browser> {
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
            .args(extra)
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", exe.display()));
        let (port, path) = wait_endpoint(&profile);
        let conn = WsConn::connect(("127.0.0.1", port), &format!("127.0.0.1:{port}"), &path, None)
            .expect("connect to the DevTools endpoint");
        conn.set_timeout(Duration::from_secs(3600));
        let WsConn { mut reader, writer, .. } = conn;
        let pending: Pending = Arc::default();
        let errors: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
        let (p2, e2) = (pending.clone(), errors.clone());
        std::thread::spawn(move || {
            while let Ok(m) = reader.recv() {
                let t = match m {
                    WsMsg::Text(t) => t,
                    WsMsg::Close(..) => break,
                    _ => continue,
                };
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
            out: writer,
            pending,
            next_id: Arc::new(AtomicU64::new(1)),
            errors,
        })
    }

    /// Sends a command (to a page when `session` is given) and returns its result.
    pub fn command(&self, session: Option<&str>, method: &str, params: Value) -> Value {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        let (tx, rx) = mpsc::channel();
        self.pending.lock().unwrap().insert(id, tx);
        self.out.send_text(&msg.to_string()).expect("DevTools connection open");
        let v = rx
            .recv_timeout(COMMAND_TIMEOUT)
            .unwrap_or_else(|_| panic!("DevTools command {method} timed out"));
        if !v["error"].is_null() {
            panic!("DevTools command {method} failed: {}", v["error"]);
        }
        v["result"].clone()
    }

    /// A new, separate browser context (its own cookies and storage).
    pub fn new_context(&self) -> String {
        let r = self.command(None, "Target.createBrowserContext", json!({}));
        r["browserContextId"].as_str().expect("browserContextId").to_owned()
    }

    /// Opens `url` in a new tab (in `context` when given) and waits until it is loaded.
    pub fn open(&self, url: &str, context: Option<&str>) -> Page<'_> {
        let mut params = json!({"url": "about:blank"});
        if let Some(c) = context {
            params["browserContextId"] = json!(c);
        }
        let r = self.command(None, "Target.createTarget", params);
        let target = r["targetId"].as_str().expect("targetId").to_owned();
        let r = self.command(
            None,
            "Target.attachToTarget",
            json!({"targetId": target, "flatten": true}),
        );
        let session = r["sessionId"].as_str().expect("sessionId").to_owned();
        let page = Page {
            browser: self,
            session,
            target,
        };
        page.cmd("Page.enable", json!({}));
        page.cmd("Runtime.enable", json!({}));
        page.goto(url);
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
            .send_text(&json!({"id": 0, "method": "Browser.close", "params": {}}).to_string());
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

fn wait_endpoint(profile: &Path) -> (u16, String) {
    let file = profile.join("DevToolsActivePort");
    for _ in 0..300 {
        if let Ok(text) = std::fs::read_to_string(&file) {
            let mut lines = text.lines();
            if let (Some(Ok(port)), Some(path)) = (lines.next().map(str::parse), lines.next()) {
                return (port, path.to_owned());
            }
        }
        sleep(Duration::from_millis(100));
    }
    panic!("Chromium did not open its DevTools port within 30 s");
}

impl Page<'_> {
    /// Sends a command to this page.
    pub fn cmd(&self, method: &str, params: Value) -> Value {
        self.browser.command(Some(&self.session), method, params)
    }

    /// The DevTools session id (to match [`Browser::page_errors`]).
    pub fn session(&self) -> &str {
        &self.session
    }

    /// Navigates and waits for the load to complete.
    pub fn goto(&self, url: &str) {
        self.cmd("Page.navigate", json!({"url": url}));
        self.wait_for(
            "document.readyState === 'complete' && location.href !== 'about:blank'",
            url,
        );
    }

    /// Evaluates `expr` (awaiting a promise) and returns its JSON value.
    pub fn eval(&self, expr: &str) -> Value {
        let r = self.cmd(
            "Runtime.evaluate",
            json!({"expression": expr, "awaitPromise": true, "returnByValue": true}),
        );
        if let Some(ex) = r.get("exceptionDetails") {
            panic!(
                "JavaScript failed: {expr}\n{}",
                ex["exception"]["description"].as_str().unwrap_or(&ex.to_string())
            );
        }
        r["result"]["value"].clone()
    }

    /// Waits until `expr` is truthy (polling), panicking after 15 s.
    pub fn wait_for(&self, expr: &str, what: &str) {
        let check = format!("(() => {{ try {{ return !!({expr}); }} catch (e) {{ return false; }} }})()");
        for _ in 0..300 {
            if self.eval(&check) == json!(true) {
                return;
            }
            sleep(Duration::from_millis(50));
        }
        panic!("timed out waiting for {what} ({expr})");
    }

    /// Clicks the centre of the element matching `selector` with real mouse events.
    pub fn click(&self, selector: &str) {
        let sel = serde_json::to_string(selector).unwrap();
        let rect = self.eval(&format!(
            "(() => {{ const e = document.querySelector({sel}); if (!e) return null; \
                 e.scrollIntoView({{block: 'center'}}); const r = e.getBoundingClientRect(); \
                 return [r.x + r.width / 2, r.y + r.height / 2]; }})()"
        ));
        let (x, y) = match (rect[0].as_f64(), rect[1].as_f64()) {
            (Some(x), Some(y)) => (x, y),
            _ => panic!("no element {selector} to click"),
        };
        for kind in ["mouseMoved", "mousePressed", "mouseReleased"] {
            self.cmd(
                "Input.dispatchMouseEvent",
                json!({"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1}),
            );
        }
    }

    /// Replaces the text of the input matching `selector` by typing `text`.
    pub fn type_into(&self, selector: &str, text: &str) {
        let sel = serde_json::to_string(selector).unwrap();
        let found = self.eval(&format!(
            "(() => {{ const e = document.querySelector({sel}); if (!e) return false; \
                 e.focus(); e.select && e.select(); return true; }})()"
        ));
        assert_eq!(found, json!(true), "no input {selector}");
        self.cmd("Input.insertText", json!({"text": text}));
    }

    /// The text content of the element matching `selector`.
    pub fn text(&self, selector: &str) -> String {
        let sel = serde_json::to_string(selector).unwrap();
        self.eval(&format!("(document.querySelector({sel}) || {{}}).textContent || ''"))
            .as_str()
            .unwrap_or("")
            .to_owned()
    }

    /// Saves a PNG screenshot to `path`.
    pub fn screenshot(&self, path: &Path) {
        let r = self.cmd("Page.captureScreenshot", json!({"format": "png"}));
        if let Some(data) = r["data"].as_str() {
            let _ = std::fs::write(path, base64_decode(data));
        }
    }

    /// Closes the tab.
    pub fn close(self) {
        self.browser
            .command(None, "Target.closeTarget", json!({"targetId": self.target}));
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
