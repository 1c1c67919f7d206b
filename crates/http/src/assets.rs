//! Web files built into the binary: the web console, the `afb.js` client
//! library and the tic-tac-toe page. Served under `/devtools/` always, and
//! at `/` when no `--roothttp` is given.
//!
//! STATUS: interface only; the files are being written.

/// A built-in file.
#[derive(Debug, Clone, Copy)]
pub struct Asset {
    /// Content.
    pub bytes: &'static [u8],
    /// MIME type.
    pub content_type: &'static str,
}

/// The built-in file at `path` (relative, without leading `/`; `""` is the
/// console's index page).
pub fn get(_path: &str) -> Option<Asset> {
    None
}
