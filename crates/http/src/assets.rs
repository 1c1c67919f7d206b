//! Web files built into the binary: the web console (`index.html`,
//! `console.js`, `console.css`) and the `afb.js` client library, plus the
//! files the daemon adds ([`crate::HttpConfig::extra_assets`]: the pages of
//! the samples it serves). Served under `/devtools/` always, and at `/`
//! when no `--roothttp` is given.
//!
//! The pages are plain HTML, CSS and ES modules: no build step, no external
//! resource; they reach the binder over the JSON WebSocket on `/api` (or
//! `?base=` given to the page).

/// A built-in file.
#[derive(Debug, Clone, Copy)]
pub struct Asset {
    /// Content.
    pub bytes: &'static [u8],
    /// MIME type.
    pub content_type: &'static str,
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// Every built-in file: (path, content, MIME type).
const FILES: &[(&str, &[u8], &str)] = &[
    ("index.html", include_bytes!("../assets/index.html"), HTML),
    ("console.js", include_bytes!("../assets/console.js"), JS),
    ("console.css", include_bytes!("../assets/console.css"), CSS),
    ("afb.js", include_bytes!("../assets/afb.js"), JS),
];

/// The MIME type of a web file, from its name's extension.
pub fn content_type_of(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html" | "htm") => HTML,
        Some("js" | "mjs") => JS,
        Some("css") => CSS,
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// The built-in file at `path` (relative, without leading `/`; `""` is the
/// console's index page). Exact names only: anything else is `None`.
pub fn get(path: &str) -> Option<Asset> {
    let path = if path.is_empty() { "index.html" } else { path };
    FILES
        .iter()
        .find(|(name, _, _)| *name == path)
        .map(|&(_, bytes, content_type)| Asset { bytes, content_type })
}

/// The paths of every built-in file.
pub fn paths() -> impl Iterator<Item = &'static str> {
    FILES.iter().map(|(name, _, _)| *name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_and_files_with_types() {
        let index = get("").unwrap();
        assert_eq!(index.content_type, HTML);
        assert_eq!(index.bytes, get("index.html").unwrap().bytes);
        assert!(std::str::from_utf8(index.bytes).unwrap().contains("AFB console"));
        assert_eq!(get("afb.js").unwrap().content_type, JS);
        assert_eq!(get("console.css").unwrap().content_type, CSS);
        assert_eq!(content_type_of("tictactoe.html"), HTML);
        assert_eq!(content_type_of("a.b.js"), JS);
        assert_eq!(content_type_of("noext"), "application/octet-stream");
        assert!(get("nope.js").is_none());
        assert!(get("/afb.js").is_none());
        assert!(get("../afb.js").is_none());
        assert!(get("index.html/").is_none());
    }

    #[test]
    fn pages_use_no_external_resource() {
        for name in paths() {
            let text = std::str::from_utf8(get(name).unwrap().bytes).unwrap();
            for bad in ["http://", "https://", "//cdn", "@import"] {
                assert!(!text.contains(bad), "{name} refers to {bad}");
            }
        }
    }

    #[test]
    fn every_local_reference_exists() {
        for name in paths().filter(|n| n.ends_with(".html") || n.ends_with(".js")) {
            let text = std::str::from_utf8(get(name).unwrap().bytes).unwrap();
            for (open, close) in [("src=\"", '"'), ("href=\"", '"'), ("from \"./", '"')] {
                let mut rest = text;
                while let Some(i) = rest.find(open) {
                    rest = &rest[i + open.len()..];
                    let target = &rest[..rest.find(close).unwrap()];
                    if target.starts_with("data:") || target.starts_with('#') {
                        continue;
                    }
                    let target = target.trim_start_matches("./");
                    // The console links to the tic-tac-toe sample's page
                    // (shown when that API is served), which the daemon
                    // adds beside these files with the samples.
                    if name == "index.html" && target == "tictactoe.html" {
                        continue;
                    }
                    assert!(
                        get(target).is_some(),
                        "{name} refers to {target}, which is not built in"
                    );
                }
            }
        }
    }
}
