//! The built-in web console and tic-tac-toe page of the real daemon, in
//! headless Chromium driven over the DevTools protocol: the console lists
//! the APIs (through `monitor/get`), calls `hello/ping` by clicking and shows
//! the reply; two tabs in separate sessions share a tic-tac-toe board through
//! `join` and both boards follow the moves.
//!
//! Run: `cargo test -p afb-daemon --test browser`. Skips (printing why) only
//! when Chromium is not installed, and fails then under `CI=true`.

#[path = "../../../crates/http/tests/ws_support/cdp.rs"]
mod cdp;
#[path = "../../../crates/http/tests/ws_support/std_ws.rs"]
mod std_ws;

use afb_testkit::{Daemon, TempDir};
use cdp::{Browser, Page};
use serde_json::Value;

fn browser() -> Option<Browser> {
    let b = Browser::launch();
    if b.is_none() {
        afb_testkit::skip_or_fail("Chromium is not installed (Debian package `chromium`, or set AFB_CHROMIUM)");
    }
    b
}

fn daemon(dir: &TempDir) -> Daemon {
    Daemon::start(&["--workdir", dir.path().to_str().unwrap()])
}

fn shot(page: &Page<'_>, name: &str) {
    if let Ok(dir) = std::env::var("AFB_BROWSER_SHOTS") {
        page.screenshot(&std::path::Path::new(&dir).join(format!("daemon-{name}.png")));
    }
}

#[test]
fn console_lists_apis_from_monitor_and_calls_hello_ping() {
    let Some(b) = browser() else { return };
    let dir = TempDir::new("browser");
    let d = daemon(&dir);
    let page = b.open(&format!("{}/devtools/", d.http_url()), None);
    for api in ["hello", "tictactoe", "monitor"] {
        page.wait_for(
            &format!("document.querySelector('#api-list li[data-api=\"{api}\"] button.verb')"),
            &format!("{api} and its verbs in the list"),
        );
    }
    page.click(r#"button.verb[data-api="hello"][data-verb="ping"]"#);
    page.type_into("#call-args", r#"{"clicked":true}"#);
    page.click("#call-button");
    page.wait_for(
        "document.getElementById('last-reply').textContent.includes('Some String')",
        "the reply of hello/ping",
    );
    let reply: Value = serde_json::from_str(&page.text("#last-reply")).unwrap();
    assert_eq!(reply["request"]["status"], "success");
    assert!(page.text("#log").contains("hello/ping → success"));
    // The session comes from monitor/session.
    page.wait_for(
        "document.getElementById('session-uuid').textContent.length === 36",
        "the session uuid",
    );
    shot(&page, "console");

    // Without --roothttp the console is at / too, and afb.js at /afb.js.
    let root = b.open(&format!("{}/", d.http_url()), None);
    assert_eq!(root.eval("document.title"), "AFB console");
    assert_eq!(
        root.eval("fetch('/afb.js').then(r => r.headers.get('content-type'))"),
        "text/javascript; charset=utf-8"
    );
    let errors = b.page_errors();
    assert!(errors.is_empty(), "JavaScript errors: {errors:?}");
}

fn board(p: &Page<'_>) -> String {
    p.eval("[...document.querySelectorAll('#board button')].map(b => b.textContent || '.').join('')")
        .as_str()
        .unwrap()
        .to_owned()
}

fn wait_board(p: &Page<'_>, expected: &str) {
    let expr = format!(
        "[...document.querySelectorAll('#board button')].map(b => b.textContent || '.').join('') === '{expected}'"
    );
    p.wait_for(&expr, &format!("the board {expected}"));
}

#[test]
fn tictactoe_in_two_tabs_shares_a_board_through_join() {
    let Some(b) = browser() else { return };
    let dir = TempDir::new("browser");
    let d = daemon(&dir);
    let url = format!("{}/devtools/tictactoe.html", d.http_url());
    let other = b.new_context();
    let x = b.open(&url, None);
    let o = b.open(&url, Some(&other));
    for p in [&x, &o] {
        p.wait_for(
            "/^[0-9]+$/.test(document.getElementById('board-id').textContent)",
            "a board",
        );
    }
    let id = x.text("#board-id");
    assert_ne!(id, o.text("#board-id"), "two sessions, two boards");
    o.type_into("#join-id", &id);
    o.click("#join-button");
    o.wait_for(
        &format!("document.getElementById('board-id').textContent === '{id}'"),
        "joined",
    );

    x.click(r#"#board button[data-index="0"]"#);
    wait_board(&x, "X........");
    wait_board(&o, "X........");
    o.click(r#"#board button[data-index="4"]"#);
    wait_board(&x, "X...O....");
    wait_board(&o, "X...O....");
    x.click("#server-play");
    x.wait_for(
        "[...document.querySelectorAll('#board button')].filter(b => b.textContent).length === 3",
        "the server's move",
    );
    wait_board(&o, &board(&x));
    shot(&x, "tictactoe-x");
    shot(&o, "tictactoe-o");
    let errors = b.page_errors();
    assert!(errors.is_empty(), "JavaScript errors: {errors:?}");
}
