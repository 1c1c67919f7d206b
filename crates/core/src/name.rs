//! Names of APIs and verbs: validation rules and case-insensitive keys.
//!
//! The binder looks up APIs and verbs without regard to ASCII case
//! (`/api/HELLO/PING` reaches `hello/ping`), but keeps the declared spelling
//! for descriptions and event names.

use std::fmt;
use std::hash::{Hash, Hasher};

use hashbrown::Equivalent;

/// Why a name was refused at registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameError {
    /// What kind of name it was ("API", "verb", "event", "alias").
    pub kind: &'static str,
    /// The offending name, as given.
    pub name: String,
    /// What is wrong with it.
    pub reason: String,
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {} name {:?}: {}", self.kind, self.name, self.reason)
    }
}

impl std::error::Error for NameError {}

/// Bytes that may never appear in an API name: controls and space (<= 0x20),
/// `"`, `#`, `%`, `&`, `'`, `/`, `?`, `\`, `` ` `` and DEL.
fn forbidden_in_api(b: u8) -> bool {
    b <= 0x20 || matches!(b, b'"' | b'#' | b'%' | b'&' | b'\'' | b'/' | b'?' | b'\\' | b'`' | 0x7f)
}

/// Checks an API (or alias) name: non-empty, none of the forbidden bytes.
/// Bytes >= 0x80 (UTF-8) are allowed.
pub fn validate_api_name(name: &str) -> Result<(), NameError> {
    validate_with(name, "API", forbidden_in_api)
}

/// Checks a verb name. The newest binders accept any verb except an empty
/// one; we also refuse control characters (a NUL could not cross wsapi).
/// A verb may contain `/` (HTTP passes everything after `API/`).
pub fn validate_verb_name(name: &str) -> Result<(), NameError> {
    validate_with(name, "verb", |b| b < 0x20 || b == 0x7f)
}

/// Checks the local part of an event name (the part after `API/`).
pub fn validate_event_name(name: &str) -> Result<(), NameError> {
    validate_with(name, "event", |b| b < 0x20 || b == 0x7f || b == b'"')
}

fn validate_with(name: &str, kind: &'static str, bad: impl Fn(u8) -> bool) -> Result<(), NameError> {
    let err = |reason: String| NameError {
        kind,
        name: name.to_owned(),
        reason,
    };
    if name.is_empty() {
        return Err(err("empty".into()));
    }
    if let Some(b) = name.bytes().find(|&b| bad(b)) {
        return Err(err(format!("forbidden character {:?}", b as char)));
    }
    Ok(())
}

/// A name used as a hash-map key, compared and hashed without ASCII case.
#[derive(Debug, Clone)]
pub struct CiKey(Box<str>);

impl CiKey {
    /// Makes a key from a name (the spelling is kept).
    pub fn new(name: &str) -> Self {
        CiKey(name.into())
    }

    /// The name as declared.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn ci_hash<H: Hasher>(s: &str, state: &mut H) {
    for b in s.bytes() {
        state.write_u8(b.to_ascii_lowercase());
    }
    state.write_u8(0xff);
}

impl Hash for CiKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        ci_hash(&self.0, state)
    }
}

impl PartialEq for CiKey {
    fn eq(&self, other: &Self) -> bool {
        self.0.eq_ignore_ascii_case(&other.0)
    }
}

impl Eq for CiKey {}

/// A borrowed name for looking up a [`CiKey`] without allocating.
#[derive(Debug, Clone, Copy)]
pub struct CiRef<'a>(pub &'a str);

impl Hash for CiRef<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        ci_hash(self.0, state)
    }
}

impl Equivalent<CiKey> for CiRef<'_> {
    fn equivalent(&self, key: &CiKey) -> bool {
        self.0.eq_ignore_ascii_case(&key.0)
    }
}

/// Splits `API/VERB` at the first `/`; `None` when there is no `/` or either
/// side is empty.
pub fn split_api_verb(s: &str) -> Option<(&str, &str)> {
    let (api, verb) = s.split_once('/')?;
    if api.is_empty() || verb.is_empty() {
        None
    } else {
        Some((api, verb))
    }
}

/// Matches `name` against a glob `pattern` where `*` matches any run of
/// characters and `?` any single character (ASCII case-insensitive, as API
/// names are). Used for event handlers such as `hello/*`.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let p = pattern.as_bytes();
    let n = name.as_bytes();
    let (mut pi, mut ni) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        match p.get(pi) {
            Some(b'*') => {
                star = Some((pi, ni));
                pi += 1;
            }
            Some(&c) if c == b'?' || c.eq_ignore_ascii_case(&n[ni]) => {
                pi += 1;
                ni += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    pi = sp + 1;
                    ni = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    p[pi.min(p.len())..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use hashbrown::HashMap;

    #[test]
    fn api_names() {
        assert!(validate_api_name("hello").is_ok());
        assert!(validate_api_name("tic-tac-toe_2.0").is_ok());
        assert!(validate_api_name("héllo").is_ok());
        assert!(validate_api_name(".private").is_ok());
        for bad in [
            "", "a b", "a/b", "a\"b", "a#b", "a%b", "a&b", "a'b", "a?b", "a\\b", "a`b", "a\u{7f}", "a\tb",
        ] {
            let e = validate_api_name(bad).unwrap_err();
            assert_eq!(e.kind, "API");
            assert_eq!(e.name, bad);
        }
        let e = validate_api_name("a/b").unwrap_err().to_string();
        assert!(e.contains("\"a/b\"") && e.contains("'/'"), "{e}");
    }

    #[test]
    fn verb_names() {
        assert!(validate_verb_name("ping").is_ok());
        assert!(validate_verb_name("a/b.c").is_ok());
        assert!(validate_verb_name("").is_err());
        assert!(validate_verb_name("a\0b").is_err());
    }

    #[test]
    fn case_insensitive_keys() {
        let mut m: HashMap<CiKey, u32> = HashMap::new();
        m.insert(CiKey::new("TicTacToe"), 1);
        assert_eq!(m.get(&CiRef("tictactoe")), Some(&1));
        assert_eq!(m.get(&CiRef("TICTACTOE")), Some(&1));
        assert_eq!(m.get(&CiRef("tictacto")), None);
        assert_eq!(m.get(&CiKey::new("tictactoe")), Some(&1));
        assert_eq!(m.keys().next().map(CiKey::as_str), Some("TicTacToe"));
    }

    #[test]
    fn split() {
        assert_eq!(split_api_verb("hello/ping"), Some(("hello", "ping")));
        assert_eq!(split_api_verb("a/b/c"), Some(("a", "b/c")));
        assert_eq!(split_api_verb("hello"), None);
        assert_eq!(split_api_verb("/ping"), None);
        assert_eq!(split_api_verb("hello/"), None);
    }

    #[test]
    fn globs() {
        assert!(glob_match("hello/*", "hello/event"));
        assert!(glob_match("HELLO/*", "hello/x"));
        assert!(glob_match("*", ""));
        assert!(glob_match("*/board", "tictactoe/board"));
        assert!(glob_match("a?c", "abc"));
        assert!(!glob_match("a?c", "ac"));
        assert!(!glob_match("hello/*", "hell/x"));
        assert!(glob_match("a*b*c", "aXXbYYc"));
        assert!(!glob_match("a*b*c", "aXXbYY"));
        assert!(glob_match("exact", "exact"));
        assert!(!glob_match("exact", "exactly"));
    }

    proptest::proptest! {
        #[test]
        fn star_matches_everything(s in ".*") {
            proptest::prop_assert!(glob_match("*", &s));
        }

        #[test]
        fn literal_matches_itself(s in "[a-z/]{0,12}") {
            proptest::prop_assert!(glob_match(&s, &s));
            proptest::prop_assert!(glob_match(&s.to_uppercase(), &s));
        }
    }
}
