//! The web console's Trace and Metrics views in headless Chromium (driven
//! over the DevTools protocol) against the real daemon started with
//! `--metrics`: starting a trace shows the records of the session's calls,
//! the filters hide rows, stopping ends them; the metrics table shows calls,
//! errors and latency quantiles per verb as `/metrics` counts them.
//!
//! Skips when Chromium is not installed, except under `CI=true` where that
//! fails (CI installs the Debian package `chromium`).

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
        let ci = std::env::var("CI").is_ok_and(|v| v == "true");
        assert!(
            !ci,
            "Chromium is not installed (scripts/install-deps.sh installs it) and CI=true"
        );
        eprintln!("SKIPPED: Chromium not found (install the Debian package `chromium`, or set AFB_CHROMIUM)");
    }
    b
}

fn call(page: &Page<'_>, api: &str, verb: &str, args: &str) {
    let n = page
        .eval("document.querySelectorAll('#log li').length")
        .as_u64()
        .unwrap();
    page.eval(&format!(
        "(() => {{ const a = document.getElementById('call-api'); a.value = '{api}'; \
         document.getElementById('call-verb').value = '{verb}'; \
         document.getElementById('call-args').value = '{args}'; \
         document.getElementById('call-button').click(); return true; }})()"
    ));
    page.wait_for(
        &format!(
            "document.querySelectorAll('#log li').length > {n} && \
             document.querySelector('#log li .entry-title').textContent.includes('{api}/{verb} →')"
        ),
        &format!("the reply of {api}/{verb}"),
    );
}

/// Waits until the API list is drawn (the page's layout then stays put,
/// so clicks land where the element is).
fn wait_apis(page: &Page<'_>) {
    for api in ["hello", "tictactoe", "monitor"] {
        page.wait_for(
            &format!("document.querySelector('#api-list li[data-api=\"{api}\"] button.verb')"),
            &format!("{api} and its verbs in the list"),
        );
    }
}

/// Presses a button from the page (a mouse click at its coordinates can
/// miss while the two-column layout settles).
fn press(page: &Page<'_>, sel: &str) {
    let done = page.eval(&format!(
        "(() => {{ const b = document.querySelector('{sel}'); if (!b || b.disabled) return false; b.click(); return true; }})()"
    ));
    assert_eq!(done, serde_json::json!(true), "no enabled button {sel}");
}

fn rows(page: &Page<'_>, sel: &str) -> Vec<Vec<String>> {
    let v = page.eval(&format!(
        "[...document.querySelectorAll('{sel}')].map(tr => [...tr.children].map(td => td.textContent))"
    ));
    serde_json::from_value(v).unwrap()
}

#[test]
fn console_trace_and_metrics_views() {
    let Some(b) = browser() else { return };
    let dir = TempDir::new("observe-browser");
    let d = Daemon::start(&["--workdir", dir.path().to_str().unwrap(), "--metrics"]);
    let page = b.open(&format!("{}/devtools/", d.http_url()), None);
    page.wait_for(
        "document.getElementById('session-uuid').textContent.length === 36",
        "the session uuid",
    );
    let uuid = page.text("#session-uuid");
    wait_apis(&page);

    // Trace: start, one call, its records.
    page.eval("document.getElementById('trace-flags').value = 'begin reply'");
    press(&page, "#trace-start");
    page.wait_for(
        "document.getElementById('trace-note').textContent.startsWith('tracing')",
        "the trace started",
    );
    call(&page, "hello", "ping", r#"{"from":"console"}"#);
    page.wait_for(
        "[...document.querySelectorAll('#trace-rows tr')].some(tr => tr.dataset.action === 'reply')",
        "the reply record",
    );
    let recs = rows(&page, "#trace-rows tr");
    let ping: Vec<&Vec<String>> = recs.iter().filter(|r| r[2] == "hello/ping").collect();
    assert_eq!(ping.len(), 2, "{recs:?}");
    // Newest first: reply then begin, with the same request number.
    assert_eq!(ping[0][3], "reply");
    assert_eq!(ping[1][3], "begin");
    assert_eq!(ping[0][1], ping[1][1]);
    let begin: Value = serde_json::from_str(&ping[1][4]).unwrap();
    assert_eq!(begin["params"][0]["from"], "console");
    let reply: Value = serde_json::from_str(&ping[0][4]).unwrap();
    assert_eq!(reply["reply"][0], "Some String");
    let session = page.eval("document.querySelector('#trace-rows tr').dataset.session");
    assert_eq!(session, uuid.as_str());
    // The records are not logged as plain events.
    assert!(!page.text("#log").contains("monitor/trace"));
    // Filters hide rows.
    page.type_into("#trace-verb", "nosuchverb");
    page.wait_for(
        "[...document.querySelectorAll('#trace-rows tr')].every(tr => tr.hidden)",
        "every row filtered out",
    );
    page.eval("(() => { const v = document.getElementById('trace-verb'); v.value = 'ping'; v.dispatchEvent(new Event('input')); return true; })()");
    page.wait_for(
        "[...document.querySelectorAll('#trace-rows tr')].filter(tr => !tr.hidden).length === 2",
        "the ping rows shown again",
    );
    // Stop: no more records.
    press(&page, "#trace-stop");
    page.wait_for(
        "document.getElementById('trace-note').textContent === 'stopped'",
        "the trace stopped",
    );
    let before = rows(&page, "#trace-rows tr").len();
    call(&page, "hello", "pingfail", "null");
    call(&page, "hello", "ping", "null");
    assert_eq!(rows(&page, "#trace-rows tr").len(), before, "records after stop");

    // Metrics: calls, errors, quantiles per verb.
    press(&page, "#metrics-refresh");
    page.wait_for(
        "!!document.querySelector('#metrics-rows tr[data-verb=\"hello/pingfail\"]')",
        "the metrics table",
    );
    let m = rows(&page, "#metrics-rows tr");
    let row = |k: &str| {
        m.iter()
            .find(|r| r[0] == k)
            .unwrap_or_else(|| panic!("{k} in {m:?}"))
            .clone()
    };
    let ping = row("hello/ping");
    assert_eq!((ping[1].as_str(), ping[2].as_str()), ("2", "0"), "{ping:?}");
    assert!(ping[3].ends_with("µs") || ping[3].ends_with("ms"), "{ping:?}");
    let fail = row("hello/pingfail");
    assert_eq!((fail[1].as_str(), fail[2].as_str()), ("1", "1"), "{fail:?}");
    // The quantile helper against a known histogram.
    let q = page.eval("window.afbConsole.quantile(0.5, [[0.001, 2], [0.002, 4], [Infinity, 4]])");
    assert!((q.as_f64().unwrap() - 0.001).abs() < 1e-12, "{q}");
    let errors = b.page_errors();
    assert!(errors.is_empty(), "JavaScript errors: {errors:?}");
}

#[test]
fn console_metrics_view_says_when_metrics_are_off() {
    let Some(b) = browser() else { return };
    let dir = TempDir::new("observe-browser-off");
    let d = Daemon::start(&["--workdir", dir.path().to_str().unwrap()]);
    let page = b.open(&format!("{}/devtools/", d.http_url()), None);
    page.wait_for(
        "document.getElementById('conn-state').textContent === 'open'",
        "the connection",
    );
    // The button is pressed from the page: this test is about the answer.
    page.eval("document.getElementById('metrics-refresh').click()");
    page.wait_for(
        "document.getElementById('metrics-note').textContent !== ''",
        "a note about the metrics",
    );
    let note = page.text("#metrics-note");
    assert_eq!(note, "the metrics are off: start the binder with --metrics");
    assert_eq!(page.eval("document.querySelectorAll('#metrics-rows tr').length"), 0);
}
