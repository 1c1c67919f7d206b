//! Static files: `--alias /PREFIX:DIR` directories, the built-in assets
//! under `/devtools/`, `--roothttp` (or the built-in assets) at `/`, and the
//! one-page-app redirect under `--rootbase`.
//!
//! Paths are percent-decoded, then any `..` segment is refused (403); a
//! file must be a regular file whose real path (symlinks resolved) stays
//! under its directory. A directory is served through its `index.html`; a
//! directory URL without `/` redirects (301). `locales/LANG/FILE` is
//! preferred when `Accept-Language` names LANG. Files go through
//! tower-http's `ServeFile` (MIME type, quoted ETag, Last-Modified,
//! conditional requests, Range, precompressed `.br`/`.gz` siblings) with
//! `Cache-Control: max-age` added.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use http::header::{HeaderValue, ALLOW, CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH, LOCATION};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::Either;
use tower_http::services::ServeFile;

use crate::{assets, empty, full, query, Body, HttpConfig};

/// Where the built-in assets are always served.
pub const DEVTOOLS: &str = "/devtools";

struct Mount {
    prefix: String,
    dir: PathBuf,
    canon: PathBuf,
    has_locales: bool,
}

impl Mount {
    fn new(prefix: &str, dir: &Path) -> Result<Self, String> {
        let canon = std::fs::canonicalize(dir).map_err(|e| format!("static directory {}: {e}", dir.display()))?;
        if !canon.is_dir() {
            return Err(format!("static directory {}: not a directory", dir.display()));
        }
        Ok(Mount {
            prefix: prefix.trim_end_matches('/').to_owned(),
            has_locales: canon.join("locales").is_dir(),
            dir: canon.clone(),
            canon,
        })
    }
}

/// The static part of the router.
pub(crate) struct Statics {
    aliases: Vec<Mount>,
    extra_assets: Vec<(&'static str, &'static [u8])>,
    root: Option<Mount>,
    rootbase: String,
    cache_control: HeaderValue,
}

/// What a path resolves to in a directory.
#[derive(Debug, PartialEq, Eq)]
enum Resolved {
    File(PathBuf),
    RedirectDir,
    Forbidden,
    NotFound,
}

fn text(code: StatusCode, msg: &'static str) -> Response<Body> {
    let mut r = Response::new(full(msg));
    *r.status_mut() = code;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    r
}

fn redirect(location: String) -> Response<Body> {
    let mut r = Response::new(empty());
    *r.status_mut() = StatusCode::MOVED_PERMANENTLY;
    match HeaderValue::try_from(location) {
        Ok(v) => {
            r.headers_mut().insert(LOCATION, v);
            r
        }
        Err(_) => text(StatusCode::BAD_REQUEST, "bad URL\n"),
    }
}

/// The part of `path` under `prefix` (`""` for the prefix itself), if any.
fn under<'a>(path: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = path.strip_prefix(prefix)?;
    if rest.is_empty() {
        Some("")
    } else {
        rest.strip_prefix('/')
    }
}

/// The languages of an `Accept-Language` header, preferred first, each
/// followed by its primary tag (`fr-FR` then `fr`); only tags made of
/// letters, digits, `-` and `_` (so never a path), at most 8.
pub fn accept_languages(header: Option<&str>) -> Vec<String> {
    let Some(h) = header else { return Vec::new() };
    let mut tags: Vec<(&str, f32)> = Vec::new();
    for item in h.split(',').take(32) {
        let mut it = item.split(';');
        let tag = it.next().unwrap_or("").trim();
        let mut q = 1.0f32;
        for p in it {
            if let Some(v) = p.trim().strip_prefix("q=") {
                q = v.trim().parse().unwrap_or(0.0);
            }
        }
        let valid = !tag.is_empty()
            && tag.len() <= 35
            && tag.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if valid && q > 0.0 {
            tags.push((tag, q));
        }
    }
    tags.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap_or(std::cmp::Ordering::Equal));
    let mut out: Vec<String> = Vec::new();
    for (tag, _) in tags {
        let primary = tag.split(['-', '_']).next().unwrap_or(tag);
        for t in [tag, primary] {
            if out.len() < 8 && !out.iter().any(|o| o.eq_ignore_ascii_case(t)) {
                out.push(t.to_owned());
            }
        }
    }
    out
}

/// The one-page-app redirect of `path` under `rootbase`:
/// `/opa/some/page` + `q=1` -> `/opa/#!some/page?q=1`.
pub fn opa_location(rootbase: &str, path: &str, query: Option<&str>) -> Option<String> {
    let rest = path.strip_prefix(rootbase)?.strip_prefix('/')?;
    if rest.is_empty() || rest.starts_with('#') {
        return None;
    }
    let mut loc = String::with_capacity(rootbase.len() + rest.len() + 4 + query.map_or(0, |q| q.len() + 1));
    loc.push_str(rootbase);
    loc.push_str("/#!");
    loc.push_str(rest);
    if let Some(q) = query.filter(|q| !q.is_empty()) {
        loc.push('?');
        loc.push_str(q);
    }
    Some(loc)
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// A quoted ETag of a built-in asset, computed once per asset.
fn asset_etag(bytes: &'static [u8]) -> HeaderValue {
    static CACHE: OnceLock<Mutex<HashMap<usize, HeaderValue>>> = OnceLock::new();
    let key = bytes.as_ptr() as usize ^ bytes.len().rotate_left(32);
    let cache = CACHE.get_or_init(Default::default);
    if let Some(v) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
        return v.clone();
    }
    let v = HeaderValue::try_from(format!("\"{:x}-{:016x}\"", bytes.len(), fnv1a(bytes)))
        .unwrap_or_else(|_| HeaderValue::from_static("\"0\""));
    cache.lock().unwrap_or_else(|p| p.into_inner()).insert(key, v.clone());
    v
}

/// Whether an `If-None-Match` header matches `etag`.
pub fn none_match(headers: &HeaderMap, etag: &HeaderValue) -> bool {
    let Some(inm) = headers.get(IF_NONE_MATCH).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let Ok(tag) = etag.to_str() else { return false };
    inm.split(',').any(|t| {
        let t = t.trim();
        t == "*" || t.strip_prefix("W/").unwrap_or(t) == tag
    })
}

async fn resolve(m: &Mount, rel: &str, langs: &[String], slash: bool) -> Resolved {
    let rel = rel.trim_start_matches('/');
    let mut candidates = Vec::with_capacity(langs.len() + 1);
    if m.has_locales {
        for l in langs {
            candidates.push(m.dir.join("locales").join(l).join(rel));
        }
    }
    candidates.push(m.dir.join(rel));
    for c in candidates {
        let Ok(meta) = tokio::fs::metadata(&c).await else {
            continue;
        };
        let file = if meta.is_dir() {
            if !slash {
                return Resolved::RedirectDir;
            }
            let index = c.join("index.html");
            match tokio::fs::metadata(&index).await {
                Ok(mi) if mi.is_file() => index,
                _ => continue,
            }
        } else if meta.is_file() {
            c
        } else {
            return Resolved::Forbidden;
        };
        return match tokio::fs::canonicalize(&file).await {
            Ok(real) if real.starts_with(&m.canon) => Resolved::File(file),
            Ok(_) => Resolved::Forbidden,
            Err(_) => continue,
        };
    }
    Resolved::NotFound
}

impl Statics {
    pub(crate) fn new(cfg: &HttpConfig) -> Result<Self, String> {
        let mut aliases = Vec::new();
        for (prefix, dir) in &cfg.aliases {
            if !prefix.starts_with('/') || prefix.len() < 2 {
                return Err(format!(
                    "--alias {prefix}:{}: the prefix must start with / and name something",
                    dir.display()
                ));
            }
            aliases.push(Mount::new(prefix, dir)?);
        }
        aliases.sort_by_key(|m| std::cmp::Reverse(m.prefix.len()));
        let root = cfg.roothttp.as_deref().map(|d| Mount::new("", d)).transpose()?;
        let cache_control =
            HeaderValue::try_from(format!("max-age={}", cfg.cache_eol)).map_err(|e| format!("--cache-eol: {e}"))?;
        Ok(Statics {
            aliases,
            extra_assets: cfg.extra_assets.clone(),
            root,
            rootbase: cfg.rootbase.trim_end_matches('/').to_owned(),
            cache_control,
        })
    }

    /// Serves a request for a static path.
    pub(crate) async fn handle<B>(&self, req: Request<B>) -> Response<Body> {
        let (parts, _body) = req.into_parts();
        if parts.method != Method::GET && parts.method != Method::HEAD {
            let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
            r.headers_mut().insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
            return r;
        }
        let raw_path = parts.uri.path();
        let Some(path) = query::decode_path(raw_path) else {
            return text(StatusCode::BAD_REQUEST, "bad URL encoding\n");
        };
        if path.split(['/', '\\']).any(|s| s == "..") {
            return text(StatusCode::FORBIDDEN, "forbidden\n");
        }
        let slash = raw_path.ends_with('/');
        let dir_redirect = || {
            let mut loc = String::with_capacity(raw_path.len() + 2);
            loc.push_str(raw_path);
            loc.push('/');
            if let Some(q) = parts.uri.query() {
                loc.push('?');
                loc.push_str(q);
            }
            redirect(loc)
        };
        let langs = || {
            accept_languages(
                parts
                    .headers
                    .get(http::header::ACCEPT_LANGUAGE)
                    .and_then(|v| v.to_str().ok()),
            )
        };
        for m in &self.aliases {
            if let Some(rel) = under(&path, &m.prefix) {
                return match resolve(m, rel, &langs(), slash).await {
                    Resolved::File(f) => self.serve_file(f, parts).await,
                    Resolved::RedirectDir => dir_redirect(),
                    Resolved::Forbidden => text(StatusCode::FORBIDDEN, "forbidden\n"),
                    Resolved::NotFound => self.not_found(&parts),
                };
            }
        }
        if let Some(rel) = under(&path, DEVTOOLS) {
            if rel.is_empty() && !slash {
                return dir_redirect();
            }
            return self.serve_asset(rel, &parts);
        }
        let rel = path.strip_prefix('/').unwrap_or(&path);
        match &self.root {
            Some(m) => match resolve(m, rel, &langs(), slash).await {
                Resolved::File(f) => self.serve_file(f, parts).await,
                Resolved::RedirectDir => dir_redirect(),
                Resolved::Forbidden => text(StatusCode::FORBIDDEN, "forbidden\n"),
                Resolved::NotFound => self.not_found(&parts),
            },
            None => {
                let r = self.serve_asset(rel, &parts);
                if r.status() == StatusCode::NOT_FOUND {
                    self.not_found(&parts)
                } else {
                    r
                }
            }
        }
    }

    /// 404, or the one-page-app redirect for paths under `--rootbase`.
    fn not_found(&self, parts: &http::request::Parts) -> Response<Body> {
        match opa_location(&self.rootbase, parts.uri.path(), parts.uri.query()) {
            Some(loc) => redirect(loc),
            None => text(StatusCode::NOT_FOUND, "not found\n"),
        }
    }

    /// A built-in asset, else one of the extra assets.
    fn asset(&self, rel: &str) -> Option<assets::Asset> {
        assets::get(rel).or_else(|| {
            self.extra_assets
                .iter()
                .find(|(name, _)| *name == rel)
                .map(|&(name, bytes)| assets::Asset {
                    bytes,
                    content_type: assets::content_type_of(name),
                })
        })
    }

    fn serve_asset(&self, rel: &str, parts: &http::request::Parts) -> Response<Body> {
        let Some(a) = self.asset(rel) else {
            return text(StatusCode::NOT_FOUND, "not found\n");
        };
        let etag = asset_etag(a.bytes);
        let mut r = if none_match(&parts.headers, &etag) {
            let mut r = Response::new(empty());
            *r.status_mut() = StatusCode::NOT_MODIFIED;
            r
        } else {
            let mut r = Response::new(full(bytes::Bytes::from_static(a.bytes)));
            if let Ok(ct) = HeaderValue::from_str(a.content_type) {
                r.headers_mut().insert(CONTENT_TYPE, ct);
            }
            r
        };
        r.headers_mut().insert(ETAG, etag);
        r.headers_mut().insert(CACHE_CONTROL, self.cache_control.clone());
        r
    }

    async fn serve_file(&self, file: PathBuf, parts: http::request::Parts) -> Response<Body> {
        let req = Request::from_parts(parts, ());
        match ServeFile::new(&file)
            .precompressed_br()
            .precompressed_gzip()
            .try_call(req)
            .await
        {
            Ok(resp) => {
                let mut resp = resp.map(Either::Right);
                let s = resp.status();
                if s == StatusCode::OK || s == StatusCode::PARTIAL_CONTENT || s == StatusCode::NOT_MODIFIED {
                    resp.headers_mut().insert(CACHE_CONTROL, self.cache_control.clone());
                }
                resp
            }
            Err(e) => {
                tracing::warn!("serving {}: {e}", file.display());
                text(StatusCode::INTERNAL_SERVER_ERROR, "cannot read the file\n")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opa_redirect_keeps_the_rest_and_the_query() {
        assert_eq!(
            opa_location("/opa", "/opa/some/page", Some("q=1")).as_deref(),
            Some("/opa/#!some/page?q=1")
        );
        assert_eq!(opa_location("/opa", "/opa/x", None).as_deref(), Some("/opa/#!x"));
        assert_eq!(opa_location("/opa", "/opa/", None), None);
        assert_eq!(opa_location("/opa", "/opa", None), None);
        assert_eq!(opa_location("/opa", "/opaque/x", None), None);
        assert_eq!(opa_location("/opa", "/other/x", None), None);
    }

    #[test]
    fn accept_language_order_primary_tags_and_no_paths() {
        assert_eq!(
            accept_languages(Some("en;q=0.5, fr-FR, de;q=0.8, *;q=0.1")),
            vec!["fr-FR", "fr", "de", "en"]
        );
        assert_eq!(accept_languages(Some("../../etc, fr")), vec!["fr"]);
        assert_eq!(accept_languages(Some("fr;q=0")), Vec::<String>::new());
        assert_eq!(accept_languages(None), Vec::<String>::new());
    }

    #[test]
    fn path_under_prefix() {
        assert_eq!(under("/doc", "/doc"), Some(""));
        assert_eq!(under("/doc/a/b", "/doc"), Some("a/b"));
        assert_eq!(under("/docs/a", "/doc"), None);
    }

    #[test]
    fn if_none_match_lists_and_weak_tags() {
        let etag = HeaderValue::from_static("\"abc\"");
        let mut h = HeaderMap::new();
        assert!(!none_match(&h, &etag));
        h.insert(IF_NONE_MATCH, HeaderValue::from_static("\"x\", W/\"abc\""));
        assert!(none_match(&h, &etag));
        h.insert(IF_NONE_MATCH, HeaderValue::from_static("\"abcd\""));
        assert!(!none_match(&h, &etag));
    }

    #[tokio::test]
    async fn resolution_index_redirect_locales_and_escaping_symlinks() {
        let base = std::env::temp_dir().join(format!("afb-statics-{}", std::process::id()));
        let root = base.join("root");
        std::fs::create_dir_all(root.join("dir")).unwrap();
        std::fs::create_dir_all(root.join("locales/fr")).unwrap();
        std::fs::write(root.join("dir/index.html"), "i").unwrap();
        std::fs::write(root.join("a.txt"), "en").unwrap();
        std::fs::write(root.join("locales/fr/a.txt"), "fr").unwrap();
        std::fs::write(base.join("secret"), "s").unwrap();
        std::os::unix::fs::symlink(base.join("secret"), root.join("link")).unwrap();
        let m = Mount::new("", &root).unwrap();
        let canon = m.canon.clone();
        assert_eq!(resolve(&m, "dir", &[], false).await, Resolved::RedirectDir);
        assert_eq!(
            resolve(&m, "dir/", &[], true).await,
            Resolved::File(canon.join("dir/index.html"))
        );
        assert_eq!(
            resolve(&m, "a.txt", &[], false).await,
            Resolved::File(canon.join("a.txt"))
        );
        assert_eq!(
            resolve(&m, "a.txt", &["fr".into()], false).await,
            Resolved::File(canon.join("locales/fr/a.txt"))
        );
        assert_eq!(
            resolve(&m, "a.txt", &["de".into()], false).await,
            Resolved::File(canon.join("a.txt"))
        );
        assert_eq!(resolve(&m, "link", &[], false).await, Resolved::Forbidden);
        assert_eq!(resolve(&m, "nothing", &[], false).await, Resolved::NotFound);
        std::fs::remove_dir_all(&base).unwrap();
    }
}
