//! Completion of API and verb names in the interactive mode, from the descriptions the
//! server gives (`monitor/get {"apis":true}` and `API/describe` over x-afb-ws-json1, `D` over
//! wsapi).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use rustyline::completion::{Completer, Pair};
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::Validator;
use rustyline::Context;
use serde_json::Value;

/// Known API names and their verbs (sorted). With `-d` there is one API, named by the URI.
#[derive(Debug, Default)]
pub struct Completions {
    apis: BTreeMap<String, Vec<String>>,
}

/// The most names kept for one API (a description is untrusted input).
const MAX_NAMES: usize = 4096;

impl Completions {
    /// Shared, empty.
    pub fn shared() -> Arc<Mutex<Completions>> {
        Arc::new(Mutex::new(Completions::default()))
    }

    /// Records that `api` exists.
    pub fn add_api(&mut self, api: &str) {
        if self.apis.len() < MAX_NAMES && !api.is_empty() {
            self.apis.entry(api.to_owned()).or_default();
        }
    }

    /// Records the verbs found in `description` for `api`.
    pub fn set_verbs(&mut self, api: &str, description: &Value) {
        let mut verbs = verbs_of(description);
        verbs.sort();
        verbs.dedup();
        verbs.truncate(MAX_NAMES);
        if self.apis.len() < MAX_NAMES || self.apis.contains_key(api) {
            self.apis.insert(api.to_owned(), verbs);
        }
    }

    /// API names starting with `prefix`.
    pub fn apis_with(&self, prefix: &str) -> Vec<String> {
        self.apis.keys().filter(|a| a.starts_with(prefix)).cloned().collect()
    }

    /// Verbs of `api` starting with `prefix`.
    pub fn verbs_with(&self, api: &str, prefix: &str) -> Vec<String> {
        self.apis
            .get(api)
            .map(|v| v.iter().filter(|v| v.starts_with(prefix)).cloned().collect())
            .unwrap_or_default()
    }
}

/// The verb names of an API description: the keys of `paths` (OpenAPI form, AGL:
/// `{"paths":{"/ping":…}}`) or the names in `verbs` (redpesk info form:
/// `{"verbs":[{"verb":"ping"},…]}` or `{"groups":[{"verbs":[…]}]}`).
pub fn verbs_of(description: &Value) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(paths) = description.get("paths").and_then(Value::as_object) {
        out.extend(paths.keys().map(|k| k.trim_start_matches('/').to_owned()));
    }
    let mut lists: Vec<&Value> = description.get("verbs").into_iter().collect();
    if let Some(groups) = description.get("groups").and_then(Value::as_array) {
        lists.extend(groups.iter().filter_map(|g| g.get("verbs")));
    }
    for list in lists {
        match list {
            Value::Array(items) => out.extend(items.iter().filter_map(|v| {
                match v {
                    Value::String(s) => Some(s.clone()),
                    Value::Object(o) => o
                        .get("verb")
                        .or_else(|| o.get("name"))
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                    _ => None,
                }
            })),
            Value::Object(map) => out.extend(map.keys().cloned()),
            _ => {}
        }
    }
    out.retain(|v| !v.is_empty() && !v.contains(char::is_whitespace));
    out
}

/// The API names in a `monitor/get {"apis":true}` response (`{"apis":{NAME:DESC,…}}`), each
/// with its description when it has one.
pub fn apis_of(response: &Value) -> Vec<(String, Option<&Value>)> {
    match response.get("apis") {
        Some(Value::Object(map)) => map
            .iter()
            .map(|(name, desc)| (name.clone(), desc.is_object().then_some(desc)))
            .collect(),
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(Value::as_str)
            .map(|name| (name.to_owned(), None))
            .collect(),
        _ => Vec::new(),
    }
}

/// The rustyline helper: completes the first word (API, or verb with `-d`) and the second
/// word (verb of that API).
pub struct Helper {
    completions: Arc<Mutex<Completions>>,
    direct: bool,
}

impl Helper {
    /// A helper reading `completions`; `direct` is the wsapi mode (`VERB ARGS` lines).
    pub fn new(completions: Arc<Mutex<Completions>>, direct: bool) -> Helper {
        Helper { completions, direct }
    }

    /// The candidates for `line` cut at `pos`: the start of the word and the names.
    pub fn candidates(&self, line: &str, pos: usize) -> (usize, Vec<String>) {
        let Some(before) = line.get(..pos) else {
            return (pos, Vec::new());
        };
        let Ok(known) = self.completions.lock() else {
            return (pos, Vec::new());
        };
        let start = before.rfind([' ', '\t']).map_or(0, |i| i + 1);
        let word = &before[start..];
        let words: Vec<&str> = before[..start].split([' ', '\t']).filter(|w| !w.is_empty()).collect();
        let names = match (self.direct, words.as_slice()) {
            (true, []) => {
                let api = known.apis_with("").into_iter().next().unwrap_or_default();
                known.verbs_with(&api, word)
            }
            (false, []) => match word.split_once('/') {
                Some((api, verb)) => {
                    let off = start + api.len() + 1;
                    return (off, known.verbs_with(api, verb));
                }
                None => known.apis_with(word),
            },
            (false, [api]) if !api.contains('/') => known.verbs_with(api, word),
            _ => Vec::new(),
        };
        (start, names)
    }
}

impl Completer for Helper {
    type Candidate = Pair;

    fn complete(&self, line: &str, pos: usize, _ctx: &Context<'_>) -> rustyline::Result<(usize, Vec<Pair>)> {
        let (start, names) = self.candidates(line, pos);
        let pairs = names
            .into_iter()
            .map(|n| Pair {
                display: n.clone(),
                replacement: n + " ",
            })
            .collect();
        Ok((start, pairs))
    }
}

impl Hinter for Helper {
    type Hint = String;
}

impl Highlighter for Helper {}

impl Validator for Helper {}

impl rustyline::Helper for Helper {}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn verbs_from_descriptions() {
        let agl = json!({"openapi":"3.0.0","info":{"title":"hello"},"paths":{"/ping":{},"/pingfail":{}}});
        assert_eq!(verbs_of(&agl), vec!["ping", "pingfail"]);
        let rp = json!({"verbs":[{"verb":"a"},{"name":"b"},"c",3],"groups":[{"verbs":[{"verb":"d"}]}]});
        assert_eq!(verbs_of(&rp), vec!["a", "b", "c", "d"]);
        assert!(verbs_of(&json!(null)).is_empty());
        assert!(verbs_of(&json!({"paths":3})).is_empty());
    }

    #[test]
    fn apis_from_monitor() {
        let r = json!({"apis":{"hello":{"paths":{"/ping":{}}},"monitor":true}});
        let apis = apis_of(&r);
        assert_eq!(apis.len(), 2);
        assert!(apis.iter().any(|(n, d)| n == "hello" && d.is_some()));
        assert!(apis.iter().any(|(n, d)| n == "monitor" && d.is_none()));
        assert!(apis_of(&json!({"apis":3})).is_empty());
    }

    #[test]
    fn completes_apis_then_verbs() {
        let c = Completions::shared();
        {
            let mut k = c.lock().unwrap();
            k.add_api("monitor");
            k.set_verbs("hello", &json!({"paths":{"/ping":{},"/pingfail":{},"/exit":{}}}));
        }
        let h = Helper::new(c.clone(), false);
        assert_eq!(h.candidates("he", 2), (0, vec!["hello".to_owned()]));
        assert_eq!(
            h.candidates("hello pi", 8),
            (6, vec!["ping".to_owned(), "pingfail".to_owned()])
        );
        assert_eq!(h.candidates("hello/e", 7), (6, vec!["exit".to_owned()]));
        assert_eq!(h.candidates("hello ping {", 12).1, Vec::<String>::new());
        assert_eq!(h.candidates("é", 1).1, Vec::<String>::new(), "pos inside a char");
        let d = Helper::new(c, true);
        assert_eq!(d.candidates("pingf", 5), (0, vec!["pingfail".to_owned()]));
    }
}
