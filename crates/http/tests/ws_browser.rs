//! The built-in web pages and `afb.js` in headless Chromium, against an
//! in-process `HttpServer` with the sample APIs (no daemon binary needed):
//! the console lists APIs and calls a verb by clicking; two tabs in separate
//! sessions share a tic-tac-toe board through `join`; the `afb.js` API
//! (promises, events, disconnection, reconnection, calls from the server,
//! the AGL `AFB()` factory).
//!
//! Skips (printing why) only when Chromium is not installed, and fails then
//! under `CI=true` (`scripts/install-deps.sh` installs the package `chromium`).

#[path = "ws_support/cdp.rs"]
mod cdp;
#[path = "ws_support/std_ws.rs"]
mod std_ws;
mod ws_support;

use std::net::SocketAddr;
use std::time::Duration;

use afb_http::{HttpConfig, HttpServer};
use cdp::{Browser, Page};
use serde_json::{json, Value};

/// An `HttpServer` with the sample APIs on its own runtime.
struct Web {
    addr: SocketAddr,
    server: HttpServer,
    rt: tokio::runtime::Runtime,
}

impl Web {
    fn start() -> Web {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let (addr, server) = rt.block_on(async {
            let registry = ws_support::registry().await;
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let config = HttpConfig {
                port: addr.port(),
                extra_assets: afb_sample_tictactoe::WEB_FILES.to_vec(),
                ..HttpConfig::default()
            };
            let server = HttpServer::new(registry, config).expect("HTTP server");
            server.serve_tcp(listener);
            (addr, server)
        });
        Web { addr, server, rt }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn stop(self) {
        let s = self.server.clone();
        self.rt
            .block_on(async move { s.shutdown(Duration::from_millis(200)).await });
        self.rt.shutdown_timeout(Duration::from_secs(1));
    }
}

fn browser() -> Option<Browser> {
    let b = Browser::launch();
    if b.is_none() {
        afb_testkit::skip_or_fail("Chromium is not installed (Debian package `chromium`, or set AFB_CHROMIUM)");
    }
    b
}

fn assert_no_page_errors(b: &Browser) {
    let errors = b.page_errors();
    assert!(errors.is_empty(), "JavaScript errors in the pages: {errors:?}");
}

fn shot(page: &Page<'_>, name: &str) {
    if let Ok(dir) = std::env::var("AFB_BROWSER_SHOTS") {
        page.screenshot(&std::path::Path::new(&dir).join(format!("{name}.png")));
    }
}

#[test]
fn console_lists_apis_and_calls_a_verb_by_clicking() {
    let Some(b) = browser() else { return };
    let web = Web::start();
    // Without the monitor API (it belongs to the daemon) the console is told which APIs to describe.
    let page = b.open(&web.url("/devtools/?apis=hello,tictactoe"), None);
    page.wait_for(
        r#"document.querySelector('button.verb[data-api="hello"][data-verb="ping"]')"#,
        "hello/ping in the API list",
    );
    page.wait_for(
        r#"document.querySelector('button.verb[data-api="tictactoe"][data-verb="join"]')"#,
        "tictactoe/join in the API list",
    );
    page.wait_for(
        "!document.getElementById('tictactoe-link').hidden",
        "the link to the game's page, shown with its API",
    );
    page.wait_for(
        "document.getElementById('conn-state').textContent === 'open'",
        "connected",
    );
    page.click(r#"button.verb[data-api="hello"][data-verb="ping"]"#);
    assert_eq!(page.eval("document.getElementById('call-api').value"), "hello");
    assert_eq!(page.eval("document.getElementById('call-verb').value"), "ping");
    page.type_into("#call-args", r#"{"from":"browser"}"#);
    page.click("#call-button");
    page.wait_for(
        "document.getElementById('last-reply').textContent.includes('Some String')",
        "the ping reply",
    );
    let reply: Value = serde_json::from_str(&page.text("#last-reply")).unwrap();
    assert_eq!(reply["request"]["status"], "success");
    assert!(reply["request"]["info"].as_str().unwrap().contains("from"), "{reply}");
    assert!(page.text("#log").contains("hello/ping → success"));

    // An error reply, then an event shown live.
    page.click(r#"button.verb[data-api="hello"][data-verb="pingfail"]"#);
    page.click("#call-button");
    page.wait_for(
        "document.getElementById('log').textContent.includes('hello/pingfail → failed')",
        "the failure",
    );
    page.click(r#"button.verb[data-api="hello"][data-verb="pingevent"]"#);
    page.type_into("#call-args", r#"{"live":42}"#);
    page.click("#call-button");
    page.wait_for(
        "document.getElementById('log').textContent.includes('event hello/event')",
        "the event in the log",
    );
    assert!(page.text("#log").contains("\"live\": 42"));
    // The session (from hello/info).
    page.wait_for(
        "document.getElementById('session-uuid').textContent.length === 36",
        "the session uuid",
    );
    assert_eq!(page.text("#session-loa"), "0");
    shot(&page, "console");

    // Served at / too when there is no --roothttp.
    let root = b.open(&web.url("/"), None);
    assert_eq!(root.eval("document.title"), "AFB console");
    assert_no_page_errors(&b);
    drop(b);
    web.stop();
}

fn board_text(p: &Page<'_>) -> String {
    p.eval("[...document.querySelectorAll('#board button')].map(b => b.textContent || '.').join('')")
        .as_str()
        .unwrap()
        .to_owned()
}

fn wait_board(p: &Page<'_>, expected: &str) {
    let expr = format!(
        "[...document.querySelectorAll('#board button')].map(b => b.textContent || '.').join('') === {}",
        serde_json::to_string(expected).unwrap()
    );
    p.wait_for(&expr, &format!("the board {expected}"));
}

#[test]
fn tictactoe_two_tabs_share_a_board_through_join() {
    let Some(b) = browser() else { return };
    let web = Web::start();
    let other = b.new_context();
    let a = b.open(&web.url("/devtools/tictactoe.html"), None);
    let c = b.open(&web.url("/devtools/tictactoe.html"), Some(&other));
    for p in [&a, &c] {
        p.wait_for(
            "/^[0-9]+$/.test(document.getElementById('board-id').textContent)",
            "a board",
        );
    }
    let id_a = a.text("#board-id");
    let id_c = c.text("#board-id");
    assert_ne!(id_a, id_c, "separate sessions have separate boards");

    c.type_into("#join-id", &id_a);
    c.click("#join-button");
    c.wait_for(
        &format!("document.getElementById('board-id').textContent === '{id_a}'"),
        "joined",
    );

    a.click(r#"#board button[data-index="4"]"#);
    wait_board(&a, "....X....");
    wait_board(&c, "....X....");
    c.click(r#"#board button[data-index="0"]"#);
    wait_board(&c, "O...X....");
    wait_board(&a, "O...X....");
    a.click("#server-play");
    a.wait_for(
        "[...document.querySelectorAll('#board button')].filter(b => b.textContent).length === 3",
        "3 marks",
    );
    let after_play = board_text(&a);
    wait_board(&c, &after_play);
    c.click("#undo");
    wait_board(&a, "O...X....");
    wait_board(&c, "O...X....");

    // A level change shows on the partner's page; a pending wait ends on a move.
    a.type_into("#level", "3");
    a.click("#level-form button");
    c.wait_for("document.getElementById('level').value === '3'", "the partner's level");
    c.click("#wait");
    c.wait_for(
        "document.getElementById('wait-result').textContent === 'waiting…'",
        "waiting",
    );
    a.click(r#"#board button[data-index="8"]"#);
    c.wait_for(
        "document.getElementById('wait-result').textContent.includes('changed: move')",
        "the wait answered",
    );
    wait_board(&c, "O...X...X");
    shot(&a, "tictactoe-a");
    shot(&c, "tictactoe-b");
    assert_no_page_errors(&b);
    drop(b);
    web.stop();
}

#[test]
fn afb_js_client_api() {
    let Some(b) = browser() else { return };
    let web = Web::start();
    let page = b.open(&web.url("/devtools/afb.js"), None);
    let r = page.eval(
        r#"(async () => {
            const { AFB, AfbClient, matchEvent } = await import('/devtools/afb.js');
            const out = {};
            const afb = new AFB({});
            out.isClient = afb instanceof AfbClient;
            await afb.opened;
            out.ping = await afb.call('hello', 'ping', { a: 1 });
            out.ping2 = await afb.call('hello/pingJson', null);
            try { await afb.call('hello', 'pingfail', null); out.failed = 'resolved!'; }
            catch (e) { out.failed = e; }
            const got = [];
            const off = afb.onevent('hello/*', (ev, name) => got.push([name, ev]));
            afb.onevent('tictactoe', (ev, name) => got.push([name, 'api-pattern']));
            await afb.call('hello', 'pingevent', { z: 1 });
            await afb.call('tictactoe', 'new', null);
            await new Promise((r) => setTimeout(r, 200));
            off();
            await afb.call('hello', 'pingevent', { z: 2 });
            await new Promise((r) => setTimeout(r, 200));
            out.events = got;
            out.globs = [matchEvent('a/*', 'a/b'), matchEvent('*/b', 'a/b'), matchEvent('a/*c', 'a/bbc'),
                         matchEvent('a/*c', 'a/bcb'), matchEvent('a', 'a/x'), matchEvent('a', 'ab/x')];
            const info = await afb.call('hello', 'info', null);
            out.uuid = info.response.uuid;
            afb.oncall('ui/ask', async (args) => ({ echo: args }));
            afb.oncall('ui/fail', () => { const e = new Error('nope'); e.status = 'forbidden'; throw e; });
            window.testAfb = afb;
            // Reconnection: the socket drops, calls made meanwhile wait for the new one.
            const reopened = new Promise((r) => afb.on('open', r));
            const w = afb.call('tictactoe', 'wait', null).catch((e) => e);
            afb.ws.close();
            out.waitOnDrop = await w;
            const later = afb.call('hello', 'ping', null);
            await reopened;
            out.afterReconnect = (await later).request.status;
            out.state = afb.state;
            return out;
        })()"#,
    );
    assert_eq!(r["isClient"], true);
    assert_eq!(r["ping"]["response"], "Some String");
    assert_eq!(r["ping"]["request"]["status"], "success");
    assert_eq!(r["ping2"]["response"]["myInt"], 1234);
    assert_eq!(r["failed"]["request"]["status"], "failed");
    let events = r["events"].as_array().unwrap();
    assert!(
        events.iter().any(|e| e[0] == "hello/event"
            && e[1] == json!({"jtype":"afb-event","event":"hello/event","data":{"z":1}})),
        "{events:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| e[0] == "tictactoe/board" && e[1] == "api-pattern"),
        "{events:?}"
    );
    assert!(
        !events.iter().any(|e| e[1]["data"]["z"] == 2),
        "handler removed: {events:?}"
    );
    assert_eq!(r["globs"], json!([true, true, true, false, true, false]));
    assert_eq!(r["waitOnDrop"]["request"]["status"], "disconnected");
    assert_eq!(r["waitOnDrop"]["request"]["code"], -15);
    assert_eq!(r["afterReconnect"], "success");
    assert_eq!(r["state"], "open");

    // The server calls the page: answered by its handlers, or refused.
    let uuid = r["uuid"].as_str().unwrap().to_owned();
    let mut peers = Vec::new();
    for _ in 0..100 {
        peers = afb_http::ws::peers_of_session(&uuid);
        if !peers.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let peer = peers.last().expect("the page's connection").clone();
    let args: Box<serde_json::value::RawValue> = serde_json::from_str(r#"{"n":5}"#).unwrap();
    let reply = web
        .rt
        .block_on(async { tokio::time::timeout(Duration::from_secs(10), peer.call("ui/ask", &args)).await })
        .expect("the page answers in time");
    assert!(reply.is_success(), "{reply:?}");
    assert_eq!(reply.data_json(), Some(r#"{"echo":{"n":5}}"#));
    let reply = web.rt.block_on(peer.call("ui/fail", &args));
    assert_eq!((&*reply.status, reply.info.as_deref()), ("forbidden", Some("nope")));
    let reply = web.rt.block_on(peer.call("ui/unknown", &args));
    assert_eq!(&*reply.status, "unknown-verb");

    // The AGL factory: AFB(base, token) -> {context, ws}; new ws(onopen, onabort).
    let r = page
        .eval(
            r#"(async () => {
            const afb = AFB('api', 'initial-token');
            const out = { token: afb.context.token, same: afb.ws === afb.WS };
            const ws = await new Promise((resolve, reject) => { new afb.ws(resolve, reject); });
            const raws = [];
            ws.client.on('message', (t) => raws.push(JSON.parse(t)));
            out.ping = await ws.call('hello/ping', { legacy: true });
            out.cb = await new Promise((resolve) => ws.call('hello/pingfail', null, () => resolve('ok'), (e) => resolve(e)));
            const ev = new Promise((resolve) => ws.onevent('*', (obj) => resolve(obj)));
            await ws.call('hello/pingevent', { l: 1 });
            out.event = await ev;
            out.reftok = await ws.call('hello/reftok', null);
            out.tokenAfter = afb.context.token;
            // The renewal's reply, as received: [3,ID,REPLY,"TOKEN"].
            out.reftokRaw = raws.find((m) => m[0] === 3 && m[2].request.token);
            ws.close();
            window.testAfb.close();
            return out;
        })()"#,
        )
        ;
    assert_eq!(r["token"], "initial-token");
    assert_eq!(r["same"], true);
    assert_eq!(r["ping"]["response"], "Some String");
    assert_eq!(r["cb"]["request"]["status"], "failed");
    assert_eq!(r["event"]["data"], json!({"l":1}));
    let new_token = r["reftok"]["request"]["token"]
        .as_str()
        .expect("renewed token")
        .to_owned();
    assert_eq!(r["tokenAfter"], new_token, "the context follows the renewed token");
    assert_eq!(
        r["reftokRaw"][3], new_token,
        "the renewed token is the 4th item, where AGL's AFB.js reads it: {}",
        r["reftokRaw"]
    );
    assert_no_page_errors(&b);
    drop(b);
    web.stop();
}
