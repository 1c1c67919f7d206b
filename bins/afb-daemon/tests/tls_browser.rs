//! The built-in web console over HTTPS and `wss://` in headless Chromium:
//! the daemon serves a certificate of the test CA, Chromium trusts its
//! public key (`--ignore-certificate-errors-spki-list`); the console's
//! WebSocket follows the page's origin (`wss:` on an `https:` page), lists
//! the APIs and calls `hello/ping` by clicking.
//!
//! Skips (printing why) only when Chromium is not installed; fails then
//! under CI=true.

#[path = "../../../crates/http/tests/ws_support/cdp.rs"]
mod cdp;
#[path = "../../../crates/http/tests/ws_support/std_ws.rs"]
mod std_ws;

use afb_testkit::certs::TestPki;
use afb_testkit::Daemon;
use cdp::Browser;
use serde_json::Value;

#[test]
fn console_over_wss() {
    let pki = TestPki::new("browser-wss");
    let spki = format!("--ignore-certificate-errors-spki-list={}", pki.server.spki_sha256);
    let Some(b) = Browser::launch_with(&[spki]) else {
        afb_testkit::skip_or_fail("Chromium is not installed (Debian package `chromium`, or set AFB_CHROMIUM)");
        return;
    };
    let d = Daemon::start(&[
        "--https",
        "--tls-cert",
        pki.server.cert.to_str().unwrap(),
        "--tls-key",
        pki.server.key.to_str().unwrap(),
    ]);
    let page = b.open(&format!("https://localhost:{}/devtools/", d.port), None);
    assert_eq!(page.eval("location.protocol"), "https:");
    for api in ["hello", "monitor"] {
        page.wait_for(
            &format!("document.querySelector('#api-list li[data-api=\"{api}\"] button.verb')"),
            &format!("{api} and its verbs in the list"),
        );
    }
    page.click(r#"button.verb[data-api="hello"][data-verb="ping"]"#);
    page.type_into("#call-args", r#"{"over":"wss"}"#);
    page.click("#call-button");
    page.wait_for(
        "document.getElementById('last-reply').textContent.includes('Some String')",
        "the reply of hello/ping",
    );
    let reply: Value = serde_json::from_str(&page.text("#last-reply")).unwrap();
    assert_eq!(reply["request"]["status"], "success");
    // The WebSocket went over TLS: the console's client was made for wss.
    let url = page.eval(
        "new Promise(ok => { const w = new WebSocket(`wss://${location.host}/api`, ['x-afb-ws-json1']); \
         w.onopen = () => { ok(w.url + ' ' + w.protocol); w.close(); }; w.onerror = () => ok('error'); })",
    );
    assert_eq!(url, format!("wss://localhost:{}/api x-afb-ws-json1", d.port));
    let errors = b.page_errors();
    assert!(errors.is_empty(), "JavaScript errors: {errors:?}");
    // Cleartext ws:// to the same port does not open.
    let plain = page.eval(
        "new Promise(ok => { const w = new WebSocket(`ws://${location.host}/api`); \
         w.onopen = () => ok('open'); w.onerror = () => ok('error'); })",
    );
    assert_eq!(plain, "error");
}
