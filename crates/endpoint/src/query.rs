//! The query of a socket URI: `key=value` pairs separated by `&`, both
//! percent-decoded (`as-api=`, `import=`, `export=`, and TLS's `cert=`,
//! `key=`, `trust=`, `host=`). Which keys mean something is the business of
//! the protocol that reads the URI.

use std::fmt;

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, CONTROLS};

/// What [`Query`]'s `Display` encodes: what would split or end a pair, `%`
/// itself and spaces (non-ASCII bytes are always encoded).
const ENCODED: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'%')
    .add(b'&')
    .add(b'=')
    .add(b'#')
    .add(b'?')
    .add(b'+');

/// The query arguments, in the order written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Query(Vec<(String, String)>);

fn decode(s: &str) -> Result<String, String> {
    percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| format!("{s:?} is not UTF-8 once percent-decoded"))
}

impl Query {
    /// Parses the text after `?`. Empty pairs are skipped; a key without
    /// `=` has an empty value.
    pub fn parse(text: &str) -> Result<Query, String> {
        let mut pairs = Vec::new();
        for pair in text.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            pairs.push((decode(k)?, decode(v)?));
        }
        Ok(Query(pairs))
    }

    /// The value of the last pair named `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// The pairs in the order written.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The first key that is not in `known`, if any.
    pub fn unknown_key(&self, known: &[&str]) -> Option<&str> {
        self.0.iter().map(|(k, _)| k.as_str()).find(|k| !known.contains(k))
    }

    /// No pair at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Appends a pair.
    pub fn push(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.0.push((key.into(), value.into()));
    }
}

impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (k, v)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("&")?;
            }
            write!(
                f,
                "{}={}",
                utf8_percent_encode(k, ENCODED),
                utf8_percent_encode(v, ENCODED)
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_and_round_trip() {
        let q = Query::parse("a=1&&b&c=x%26y%3Dz&d=%zz").unwrap();
        let pairs: Vec<_> = q.iter().collect();
        assert_eq!(pairs, [("a", "1"), ("b", ""), ("c", "x&y=z"), ("d", "%zz")]);
        assert_eq!(q.to_string(), "a=1&b=&c=x%26y%3Dz&d=%25zz");
        assert_eq!(Query::parse(&q.to_string()).unwrap(), q);
        assert_eq!(q.unknown_key(&["a", "b", "c"]), Some("d"));
        assert_eq!(q.unknown_key(&["a", "b", "c", "d"]), None);
    }
}
