//! Static files served by the real daemon: `--roothttp`, `--alias`,
//! index pages, directory redirects, traversal refusals, conditional and
//! range requests, caching headers, precompressed siblings, localised
//! files, the one-page-app redirect, methods, and the built-in assets.

#[path = "../../../crates/http/tests/http_client/mod.rs"]
mod http_client;

use std::fs;
use std::path::Path;

use afb_testkit::{Daemon, TempDir};
use http_client::{Conn, Req};

struct Site {
    d: Daemon,
    _root: TempDir,
    _work: TempDir,
}

fn write(p: &Path, content: &[u8]) {
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, content).unwrap();
}

/// A site: `/` from a root dir, `/doc` from another, `/secret` outside both.
fn site(extra: &[&str]) -> Site {
    let root = TempDir::new("www");
    let work = TempDir::new("work");
    let r = root.path();
    write(&r.join("www/index.html"), b"<h1>home</h1>");
    write(&r.join("www/style.css"), b"body{}");
    write(&r.join("www/data.txt"), b"0123456789");
    write(&r.join("www/sub/index.html"), b"sub index");
    write(&r.join("www/app.js"), b"plain javascript");
    write(&r.join("www/app.js.gz"), b"\x1f\x8bgzipped-bytes");
    write(&r.join("www/hello.txt"), b"hello");
    write(&r.join("www/locales/fr/hello.txt"), b"bonjour");
    write(&r.join("www/opa/index.html"), b"one page app");
    write(&r.join("doc/guide.txt"), b"the guide");
    write(&r.join("secret"), b"do not serve");
    std::os::unix::fs::symlink(r.join("secret"), r.join("www/escape")).unwrap();
    let www = r.join("www").display().to_string();
    let alias = format!("/doc:{}", r.join("doc").display());
    let wd = work.path().display().to_string();
    let mut args = vec![
        "--workdir",
        wd.as_str(),
        "--roothttp",
        www.as_str(),
        "--alias",
        alias.as_str(),
    ];
    args.extend_from_slice(extra);
    Site {
        d: Daemon::start(&args),
        _root: root,
        _work: work,
    }
}

impl Site {
    fn conn(&self) -> Conn {
        Conn::tcp(self.d.addr())
    }
}

#[test]
fn index_pages_directory_redirects_and_mime_types() {
    let s = site(&[]);
    let mut c = s.conn();
    let r = c.get("/");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "<h1>home</h1>");
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    let r = c.get("/sub");
    assert_eq!(r.status, 301);
    assert_eq!(r.header("location"), Some("/sub/"));
    let r = c.get("/sub?x=1");
    assert_eq!(r.header("location"), Some("/sub/?x=1"));
    assert_eq!(c.get("/sub/").text(), "sub index");
    assert_eq!(c.get("/style.css").header("content-type"), Some("text/css"));
    assert_eq!(c.get("/nothing-here").status, 404);
    // Alias.
    assert_eq!(c.get("/doc/guide.txt").text(), "the guide");
    assert_eq!(c.get("/doc").header("location"), Some("/doc/"));
}

#[test]
fn traversal_and_escaping_symlinks_are_refused() {
    let s = site(&[]);
    let mut c = s.conn();
    for target in [
        "/../secret",
        "/%2e%2e/secret",
        "/sub/%2E%2E/%2e%2e/secret",
        "/doc/..%2fsecret",
        "/doc/%2e%2e/secret",
    ] {
        let r = c.get(target);
        assert_eq!(r.status, 403, "{target}: {}", r.text());
        assert!(!r.text().contains("do not serve"));
    }
    let r = c.get("/escape");
    assert_eq!(r.status, 403, "a symlink out of the root");
}

#[test]
fn etag_304_last_modified_head_range_and_max_age() {
    let s = site(&["--cache-eol", "4242"]);
    let mut c = s.conn();
    let r = c.get("/data.txt");
    assert_eq!(r.status, 200);
    let etag = r.header("etag").expect("ETag").to_owned();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "quoted ETag: {etag}");
    assert!(r.header("last-modified").is_some());
    assert_eq!(r.header("cache-control"), Some("max-age=4242"));
    let r = c.request(&Req::get("/data.txt").header("if-none-match", etag.clone()));
    assert_eq!(r.status, 304);
    assert!(r.body.is_empty());
    assert_eq!(r.header("cache-control"), Some("max-age=4242"));
    let r = c.request(&Req::get("/data.txt").header("if-none-match", "\"other\""));
    assert_eq!(r.status, 200);
    // HEAD: headers, no body.
    let r = c.request(&Req::get("/data.txt").method("HEAD"));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some("10"));
    assert!(r.body.is_empty());
    // Range.
    let r = c.request(&Req::get("/data.txt").header("range", "bytes=2-5"));
    assert_eq!(r.status, 206);
    assert_eq!(r.text(), "2345");
    assert_eq!(r.header("content-range"), Some("bytes 2-5/10"));
    // The connection survived all of it.
    assert_eq!(c.get("/data.txt").status, 200);
}

#[test]
fn default_max_age_is_100000() {
    let s = site(&[]);
    assert_eq!(
        s.conn().get("/data.txt").header("cache-control"),
        Some("max-age=100000")
    );
}

#[test]
fn precompressed_sibling_when_accepted() {
    let s = site(&[]);
    let mut c = s.conn();
    let r = c.request(&Req::get("/app.js").header("accept-encoding", "gzip"));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    assert_eq!(r.body, b"\x1f\x8bgzipped-bytes");
    let r = c.get("/app.js");
    assert_eq!(r.header("content-encoding"), None);
    assert_eq!(r.text(), "plain javascript");
}

#[test]
fn localised_file_preferred_when_accept_language_matches() {
    let s = site(&[]);
    let mut c = s.conn();
    let r = c.request(&Req::get("/hello.txt").header("accept-language", "fr-FR,fr;q=0.9,en;q=0.5"));
    assert_eq!(r.text(), "bonjour");
    let r = c.request(&Req::get("/hello.txt").header("accept-language", "de, en;q=0.5"));
    assert_eq!(r.text(), "hello");
    assert_eq!(c.get("/hello.txt").text(), "hello");
}

#[test]
fn one_page_app_redirect() {
    let s = site(&[]);
    let mut c = s.conn();
    let r = c.get("/opa/some/page?q=1");
    assert_eq!(r.status, 301);
    assert_eq!(r.header("location"), Some("/opa/#!some/page?q=1"));
    // The app's own files are served, not redirected.
    assert_eq!(c.get("/opa/").text(), "one page app");
}

#[test]
fn other_methods_on_static_paths_get_405() {
    let s = site(&[]);
    let mut c = s.conn();
    for m in ["POST", "PUT", "DELETE"] {
        let r = c.request(&Req::get("/data.txt").method(m));
        assert_eq!(r.status, 405, "{m}");
        assert_eq!(r.header("allow"), Some("GET, HEAD"));
    }
}

#[test]
fn built_in_assets_at_root_without_roothttp_and_under_devtools_always() {
    let work = TempDir::new("work");
    let d = Daemon::start(&["--workdir", work.path().to_str().unwrap()]);
    let mut c = Conn::tcp(d.addr());
    let r = c.get("/");
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    let etag = r.header("etag").expect("ETag").to_owned();
    let r2 = c.request(&Req::get("/").header("if-none-match", etag));
    assert_eq!(r2.status, 304);
    let dev = c.get("/devtools/");
    assert_eq!(dev.status, 200);
    assert_eq!(dev.body, r.body);
    assert_eq!(c.get("/devtools").header("location"), Some("/devtools/"));
    // With --roothttp, / is the site and /devtools/ still the console.
    let s = site(&[]);
    let mut c = s.conn();
    assert_eq!(c.get("/").text(), "<h1>home</h1>");
    assert_eq!(c.get("/devtools/").body, r.body);
}
