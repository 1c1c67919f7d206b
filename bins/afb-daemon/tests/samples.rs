//! The sample APIs and their web page come from the daemon binary (its
//! `samples` feature), not from the binder: served with no API option or
//! with `--samples`, at the URLs they always had (`/tictactoe.html` and
//! `/devtools/tictactoe.html`), and not at all when other APIs are given
//! without `--samples`.
#![cfg(feature = "samples")]

#[path = "../../../crates/http/tests/http_client/mod.rs"]
mod http_client;

use afb_testkit::{Daemon, TempDir};
use http_client::Conn;

fn page(name: &str) -> &'static [u8] {
    afb_sample_tictactoe::WEB_FILES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, bytes)| *bytes)
        .unwrap_or_else(|| panic!("{name} is not a file of the sample"))
}

fn assert_serves_the_page(d: &Daemon, at_root: bool) {
    let mut c = Conn::tcp(d.addr());
    let mut paths = vec!["/devtools/tictactoe.html", "/devtools/tictactoe.js"];
    if at_root {
        paths.extend(["/tictactoe.html", "/tictactoe.js"]);
    }
    for path in paths {
        let r = c.get(path);
        assert_eq!(r.status, 200, "{path}");
        let name = path.rsplit('/').next().unwrap();
        assert_eq!(r.body, page(name), "{path}");
        let expected = if name.ends_with(".html") {
            "text/html"
        } else {
            "text/javascript"
        };
        assert!(
            r.header("content-type").unwrap_or("").starts_with(expected),
            "{path}: {:?}",
            r.header("content-type")
        );
        assert!(r.header("etag").is_some(), "{path}");
    }
    // What the page loads beside it is the binder's own.
    for path in ["/devtools/afb.js", "/devtools/console.css"] {
        assert_eq!(c.get(path).status, 200, "{path}");
    }
}

#[test]
fn with_no_api_option_the_samples_and_their_page_are_served() {
    let work = TempDir::new("samples");
    let d = Daemon::start(&["--workdir", work.path().to_str().unwrap()]);
    assert_serves_the_page(&d, true);
    let r = Conn::tcp(d.addr()).get("/api/tictactoe/board");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["response"]["boardid"], 1);
}

#[test]
fn other_apis_without_samples_serve_neither_the_samples_nor_their_page() {
    let work = TempDir::new("no-samples");
    let wd = work.path().to_str().unwrap();
    // --auto-api gives APIs (none is found there): no sample.
    let d = Daemon::start(&["--workdir", wd, "--auto-api", wd]);
    let mut c = Conn::tcp(d.addr());
    for path in ["/tictactoe.html", "/devtools/tictactoe.html", "/devtools/tictactoe.js"] {
        assert_eq!(c.get(path).status, 404, "{path}");
    }
    assert_eq!(c.get("/devtools/afb.js").status, 200);
    assert_eq!(c.get("/api/hello/ping").status, 404);
    assert_eq!(c.get("/api/monitor/session").status, 200);
    assert!(!d.log().contains("sample APIs"), "{}", d.log());
}

#[test]
fn samples_option_adds_them_beside_other_apis_and_a_roothttp_site() {
    let work = TempDir::new("with-samples");
    let site = TempDir::new("site");
    std::fs::write(site.path().join("index.html"), "<p>site</p>").unwrap();
    let wd = work.path().to_str().unwrap();
    let root = site.path().to_str().unwrap();
    let d = Daemon::start(&["--workdir", wd, "--auto-api", wd, "--samples", "--roothttp", root]);
    // `/` is the site: the page stays under /devtools/ only, as the console.
    assert_serves_the_page(&d, false);
    let mut c = Conn::tcp(d.addr());
    assert_eq!(c.get("/tictactoe.html").status, 404);
    assert_eq!(c.get("/").text(), "<p>site</p>");
    let r = c.get("/api/hello/ping");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["response"], "Some String");
}
