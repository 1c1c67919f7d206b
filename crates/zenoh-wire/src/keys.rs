//! The key space under the namespace: how API, verb, binder and event
//! names become Zenoh key expressions, one chunk each, and back.
//!
//! ```text
//! NS/api/API/BINDER/VERB       a call: a query to one binder's queryable
//! NS/event/API/BINDER/NAME     the pushes of event API/NAME of one binder
//! NS/broadcast/API/NAME        a broadcast (any binder)
//! NS/live/api/API/BINDER       liveliness: BINDER serves API
//! NS/live/binder/BINDER        liveliness: BINDER is up
//! ```
//!
//! A name becomes one chunk: `%` followed by two hexadecimal digits replaces
//! the bytes Zenoh reserves (`/ * $ ? # @`), `%` itself, spaces and control
//! characters; every other byte stays as it is.

/// Whether byte `b` must be escaped in a chunk.
fn escaped(b: u8) -> bool {
    matches!(b, b'/' | b'*' | b'$' | b'?' | b'#' | b'@' | b'%' | b' ') || b < 0x20 || b == 0x7f
}

/// `name` as one key chunk (never empty: an empty name is `%`).
pub fn chunk(name: &str) -> String {
    if name.is_empty() {
        return "%".into();
    }
    let mut s = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_ascii() && escaped(c as u8) {
            s.push_str(&format!("%{:02X}", c as u8));
        } else {
            s.push(c);
        }
    }
    s
}

/// The name a chunk stands for; `None` when it is not one [`chunk`] makes
/// (bad escape, not UTF-8).
pub fn unchunk(chunk: &str) -> Option<String> {
    if chunk == "%" {
        return Some(String::new());
    }
    if !chunk.contains('%') {
        return Some(chunk.to_owned());
    }
    let b = chunk.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            // Exactly two hexadecimal digits (`from_str_radix` alone would take `+1`).
            let hex = chunk
                .get(i + 1..i + 3)
                .filter(|h| h.bytes().all(|d| d.is_ascii_hexdigit()))?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The keys of one namespace and one binder.
#[derive(Debug, Clone)]
pub struct Keys {
    /// The namespace (validated: one or more chunks without wildcards).
    pub ns: String,
    /// This binder's id (its Zenoh session id).
    pub bid: String,
}

impl Keys {
    /// What the queryable of `api` on this binder is declared on.
    pub fn queryable(&self, api: &str) -> String {
        format!("{}/api/{}/{}/*", self.ns, chunk(api), self.bid)
    }

    /// The key of a call of `api/verb` to binder `bid`.
    pub fn call(&self, api: &str, bid: &str, verb: &str) -> String {
        format!("{}/api/{}/{}/{}", self.ns, chunk(api), bid, chunk(verb))
    }

    /// The verb of a call key of `api` to this binder.
    pub fn verb_of(&self, api: &str, key: &str) -> Option<String> {
        let prefix = format!("{}/api/{}/{}/", self.ns, chunk(api), self.bid);
        let rest = key.strip_prefix(&prefix)?;
        if rest.contains('/') {
            return None;
        }
        unchunk(rest)
    }

    /// The key where binder `bid` publishes event `name` (`API/NAME`).
    pub fn event(&self, bid: &str, name: &str) -> String {
        let (api, local) = name.split_once('/').unwrap_or((name, ""));
        format!("{}/event/{}/{}/{}", self.ns, chunk(api), bid, chunk(local))
    }

    /// The key of a broadcast of `name` (`API/NAME`).
    pub fn broadcast(&self, name: &str) -> String {
        let (api, local) = name.split_once('/').unwrap_or((name, ""));
        format!("{}/broadcast/{}/{}", self.ns, chunk(api), chunk(local))
    }

    /// What broadcast subscribers listen to.
    pub fn broadcasts(&self) -> String {
        format!("{}/broadcast/*/*", self.ns)
    }

    /// The name of a broadcast key.
    pub fn broadcast_name(&self, key: &str) -> Option<String> {
        let rest = key.strip_prefix(&format!("{}/broadcast/", self.ns))?;
        let (api, local) = rest.split_once('/')?;
        let (api, local) = (unchunk(api)?, unchunk(local)?);
        Some(if local.is_empty() {
            api
        } else {
            format!("{api}/{local}")
        })
    }

    /// The liveliness token of `api` on this binder.
    pub fn live_api(&self, api: &str) -> String {
        format!("{}/live/api/{}/{}", self.ns, chunk(api), self.bid)
    }

    /// What the liveliness subscriber of APIs listens to.
    pub fn live_apis(&self) -> String {
        format!("{}/live/api/*/*", self.ns)
    }

    /// The API and binder of an API liveliness key.
    pub fn live_api_of(&self, key: &str) -> Option<(String, String)> {
        let rest = key.strip_prefix(&format!("{}/live/api/", self.ns))?;
        let (api, bid) = rest.split_once('/')?;
        if bid.contains('/') || bid.is_empty() {
            return None;
        }
        Some((unchunk(api)?, bid.to_owned()))
    }

    /// The liveliness token of this binder.
    pub fn live_binder(&self) -> String {
        format!("{}/live/binder/{}", self.ns, self.bid)
    }
}

/// Checks a namespace: chunks of letters, digits and `-_.~+=`, separated by `/`.
pub fn check_namespace(ns: &str) -> Result<(), String> {
    let ok = !ns.is_empty()
        && ns.split('/').all(|c| {
            !c.is_empty()
                && !c.starts_with('@')
                && c.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.~+=".contains(&b))
        });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "bad Zenoh namespace {ns:?}: chunks of letters, digits and -_.~+= separated by /"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_round_trip() {
        for n in ["hello", "a/b", "x*y$z?#", "@at", "50%", "", "sp ace", "é/ü", "\u{1}"] {
            let c = chunk(n);
            assert!(
                !c.is_empty() && !c.contains('/') && !c.contains('*') && !c.starts_with('@'),
                "{c}"
            );
            assert_eq!(unchunk(&c).as_deref(), Some(n), "{n:?} -> {c}");
        }
        assert_eq!(chunk("a/b"), "a%2Fb");
        assert_eq!(unchunk("%zz"), None);
        assert_eq!(unchunk("%2"), None);
        assert_eq!(unchunk("%+1"), None, "a sign is not a digit");
        assert_eq!(unchunk("%FF"), None, "not UTF-8");
    }

    #[test]
    fn keys() {
        let k = Keys {
            ns: "afb".into(),
            bid: "b1".into(),
        };
        assert_eq!(k.queryable("hello"), "afb/api/hello/b1/*");
        assert_eq!(k.call("hello", "b2", "a/b"), "afb/api/hello/b2/a%2Fb");
        assert_eq!(k.verb_of("hello", "afb/api/hello/b1/a%2Fb").as_deref(), Some("a/b"));
        assert_eq!(k.verb_of("hello", "afb/api/hello/b2/ping"), None);
        assert_eq!(k.verb_of("hello", "afb/api/hello/b1/x/y"), None);
        assert_eq!(k.event("b1", "hello/tick/1"), "afb/event/hello/b1/tick%2F1");
        assert_eq!(k.broadcast("hello/tick"), "afb/broadcast/hello/tick");
        assert_eq!(
            k.broadcast_name("afb/broadcast/hello/tick").as_deref(),
            Some("hello/tick")
        );
        assert_eq!(k.broadcast_name("afb/broadcast/hello").as_deref(), None);
        assert_eq!(
            k.live_api_of("afb/live/api/hel%2Flo/b9"),
            Some(("hel/lo".to_owned(), "b9".to_owned()))
        );
        assert_eq!(k.live_api_of("afb/live/api/hello/b9/x"), None);
        assert!(check_namespace("afb").is_ok());
        assert!(check_namespace("fleet/car-1").is_ok());
        for bad in ["", "a//b", "a/*", "@x", "a b"] {
            assert!(check_namespace(bad).is_err(), "{bad:?}");
        }
    }
}
