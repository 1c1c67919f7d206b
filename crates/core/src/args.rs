//! The argument of a request: one JSON value kept as raw text until a verb
//! reads it, with by-name access and the local paths of uploaded files.

use std::borrow::Cow;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::typed::TypedList;

/// A file uploaded with the request (HTTP multipart), stored by the transport
/// in a temporary file that is removed when the request ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileArg {
    /// The form field name.
    pub field: String,
    /// The file name the client gave.
    pub filename: String,
    /// Where the transport stored the content.
    pub path: PathBuf,
}

/// The argument of a request.
#[derive(Default)]
pub struct Args {
    raw: Option<Box<RawValue>>,
    parsed: OnceLock<Value>,
    fallback: Option<Map<String, Value>>,
    files: Vec<FileArg>,
    typed: Option<TypedList>,
}

impl Args {
    /// No argument (JSON `null`).
    pub fn null() -> Self {
        Self::default()
    }

    /// An argument given as validated raw JSON text.
    pub fn from_raw(raw: Box<RawValue>) -> Self {
        Args {
            raw: Some(raw),
            ..Self::default()
        }
    }

    /// The empty object `{}`.
    pub fn empty_object() -> Self {
        match RawValue::from_string("{}".to_owned()) {
            Ok(raw) => Self::from_raw(raw),
            // Not reached: `{}` is JSON.
            Err(_) => Self::from_value(Value::Object(Map::new())),
        }
    }

    /// An argument given as JSON text; fails when the text is not JSON.
    pub fn from_json_str(text: &str) -> Result<Self, serde_json::Error> {
        Ok(Self::from_raw(RawValue::from_string(text.to_owned())?))
    }

    /// An argument given as a parsed value.
    pub fn from_value(value: Value) -> Self {
        let raw = serde_json::value::to_raw_value(&value).ok();
        let parsed = OnceLock::new();
        let _ = parsed.set(value);
        Args {
            raw,
            parsed,
            ..Self::default()
        }
    }

    /// Adds fields consulted by [`Args::get`] when the main value lacks them
    /// (HTTP: the query string when the body is the argument).
    pub fn with_fallback(mut self, fields: Map<String, Value>) -> Self {
        self.fallback = Some(fields);
        self
    }

    /// Adds uploaded files.
    pub fn with_files(mut self, files: Vec<FileArg>) -> Self {
        self.files = files;
        self
    }

    /// An argument given as typed values (a v4 binding's call, an RPC link),
    /// with `json` their JSON rendering for JSON readers.
    pub fn from_typed(typed: TypedList, json: Option<Box<RawValue>>) -> Self {
        Args {
            raw: json,
            typed: Some(typed),
            ..Self::default()
        }
    }

    /// The typed values, when the argument came typed.
    pub fn typed(&self) -> Option<&TypedList> {
        self.typed.as_ref()
    }

    /// The raw JSON text, `None` when there is no argument.
    pub fn raw(&self) -> Option<&RawValue> {
        self.raw.as_deref()
    }

    /// The JSON text (`"null"` when there is no argument).
    pub fn json_text(&self) -> &str {
        self.raw.as_deref().map(RawValue::get).unwrap_or("null")
    }

    /// The whole argument as a JSON value (parsed once, on first use).
    pub fn value(&self) -> &Value {
        self.parsed.get_or_init(|| self.parse())
    }

    /// The raw text parsed (`null` without an argument).
    fn parse(&self) -> Value {
        match &self.raw {
            Some(raw) => serde_json::from_str(raw.get()).unwrap_or(Value::Null),
            None => Value::Null,
        }
    }

    /// The whole argument as an owned JSON value, as [`Args::value`] gives
    /// it: cloned when it was parsed already, else parsed from the raw text
    /// for the caller alone (no cached copy to clone and drop beside it).
    pub fn to_value(&self) -> Value {
        match self.parsed.get() {
            Some(v) => v.clone(),
            None => self.parse(),
        }
    }

    /// Deserialises the whole argument into `T` straight from the raw text.
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(self.json_text())
    }

    /// The argument named `name`: a field of the object, else of the
    /// fallback fields. The search is case-sensitive.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.value()
            .as_object()
            .and_then(|o| o.get(name))
            .or_else(|| self.fallback.as_ref().and_then(|f| f.get(name)))
    }

    /// The argument named `name` as text, as the C binders' `afb_req_value`
    /// gives it: a string as is, any other value as its JSON text.
    pub fn get_str(&self, name: &str) -> Option<Cow<'_, str>> {
        self.get(name).map(|v| match v {
            Value::String(s) => Cow::Borrowed(s.as_str()),
            other => Cow::Owned(other.to_string()),
        })
    }

    /// The argument named `name` read "JSON-ish": a string holding JSON text
    /// is parsed (kept as a string when it does not parse); any other value
    /// is taken as is. This is how the C samples read `data` and `args`.
    pub fn get_jsonish(&self, name: &str) -> Option<Value> {
        self.get(name).map(jsonish)
    }

    /// The uploaded files.
    pub fn files(&self) -> &[FileArg] {
        &self.files
    }

    /// The local path of the file uploaded under field `name`.
    pub fn path(&self, name: &str) -> Option<&Path> {
        self.files.iter().find(|f| f.field == name).map(|f| f.path.as_path())
    }
}

/// Whether the JSON text `text` nests arrays and objects more than `max`
/// levels deep (`[]` is one level, a scalar none). Strings are skipped, so
/// brackets inside them do not count. The text need not be valid JSON: an
/// unbalanced text is only scanned, never trusted.
///
/// Cost: nothing for texts shorter than `max + 1` bytes; else one counting
/// pass over the bytes, and a second, string-aware pass only when the text
/// holds more than `max` opening brackets.
pub fn nesting_exceeds(text: &[u8], max: usize) -> bool {
    if text.len() <= max {
        return false;
    }
    let opening = text.iter().filter(|&&b| b == b'[' || b == b'{').count();
    if opening <= max {
        return false;
    }
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in text {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// Reads a value "JSON-ish": strings holding JSON are parsed.
pub fn jsonish(v: &Value) -> Value {
    match v {
        Value::String(s) => serde_json::from_str(s).unwrap_or_else(|_| v.clone()),
        other => other.clone(),
    }
}

impl fmt::Debug for Args {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Args")
            .field("json", &self.json_text())
            .field("files", &self.files)
            .field("typed", &self.typed)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn whole_and_by_name() {
        let a = Args::from_json_str(r#"{"boardid":"12","n":3,"o":{"x":1}}"#).unwrap();
        assert_eq!(a.get_str("boardid").as_deref(), Some("12"));
        assert_eq!(a.get_str("n").as_deref(), Some("3"));
        assert_eq!(a.get_str("o").as_deref(), Some(r#"{"x":1}"#));
        assert_eq!(a.get_str("BoardId"), None, "by-name lookup is case-sensitive");
        assert_eq!(a.value()["n"], json!(3));
        #[derive(serde::Deserialize)]
        struct B {
            n: u32,
        }
        assert_eq!(a.deserialize::<B>().unwrap().n, 3);
    }

    #[test]
    fn an_owned_value_is_the_value() {
        let text = r#"{"a":[1,2.5,"x"],"b":null}"#;
        // Parsed for the caller alone, or cloned from the parsed one.
        let fresh = Args::from_json_str(text).unwrap();
        let parsed = Args::from_json_str(text).unwrap();
        let expected = parsed.value().clone();
        assert_eq!(fresh.to_value(), expected);
        assert_eq!(parsed.to_value(), expected);
        assert!(fresh.parsed.get().is_none(), "nothing cached by to_value");
        assert_eq!(Args::null().to_value(), Value::Null);
        let empty = Args::empty_object();
        assert_eq!((empty.json_text(), empty.value()), ("{}", &json!({})));
        assert_eq!(Args::from_value(json!({"v": 1})).to_value(), json!({"v": 1}));
    }

    #[test]
    fn null_and_non_objects() {
        let a = Args::null();
        assert_eq!(a.json_text(), "null");
        assert!(a.raw().is_none());
        assert_eq!(a.get("x"), None);
        let s = Args::from_json_str(r#""text""#).unwrap();
        assert_eq!(s.get("x"), None);
        assert_eq!(s.value(), &json!("text"));
        assert!(Args::from_json_str("{bad").is_err());
    }

    #[test]
    fn fallback_fields_come_second() {
        let mut q = Map::new();
        q.insert("a".into(), json!("query"));
        q.insert("b".into(), json!("query"));
        let a = Args::from_json_str(r#"{"a":"body"}"#).unwrap().with_fallback(q);
        assert_eq!(a.get_str("a").as_deref(), Some("body"));
        assert_eq!(a.get_str("b").as_deref(), Some("query"));
        assert_eq!(a.json_text(), r#"{"a":"body"}"#);
    }

    #[test]
    fn jsonish_reads() {
        let a = Args::from_value(json!({"d1": "{\"v\":1}", "d2": {"v": 2}, "d3": "plain"}));
        assert_eq!(a.get_jsonish("d1"), Some(json!({"v": 1})));
        assert_eq!(a.get_jsonish("d2"), Some(json!({"v": 2})));
        assert_eq!(a.get_jsonish("d3"), Some(json!("plain")));
        assert_eq!(a.get_jsonish("none"), None);
    }

    fn nested(depth: usize) -> String {
        format!("{}{}", "[".repeat(depth), "]".repeat(depth))
    }

    #[test]
    fn nesting_depth() {
        assert!(!nesting_exceeds(b"1", 0));
        assert!(nesting_exceeds(b"[]", 0));
        assert!(!nesting_exceeds(b"[]", 1));
        assert!(!nesting_exceeds(nested(64).as_bytes(), 64));
        assert!(nesting_exceeds(nested(65).as_bytes(), 64));
        let mixed = r#"{"a":[{"b":[1,2,{"c":null}]}],"d":{}}"#;
        assert!(!nesting_exceeds(mixed.as_bytes(), 5));
        assert!(nesting_exceeds(mixed.as_bytes(), 4));
        // Brackets inside strings (with escaped quotes) do not count.
        let in_string = format!(r#"["\"{}\\", 1]"#, "[".repeat(100));
        assert!(serde_json::from_str::<Value>(&in_string).is_ok(), "{in_string}");
        assert!(!nesting_exceeds(in_string.as_bytes(), 1));
        // Siblings do not add up.
        let wide = format!("[{}[]]", "[],".repeat(100));
        assert!(!nesting_exceeds(wide.as_bytes(), 2));
        // Garbage is scanned, not trusted.
        assert!(nesting_exceeds("]]]]{{{{".as_bytes(), 3));
        assert!(!nesting_exceeds("\"[[[[[[".as_bytes(), 3));
    }

    #[test]
    fn nesting_agrees_with_serde_on_valid_json() {
        for depth in [0, 1, 2, 10, 63, 64, 65, 127] {
            let text = nested(depth);
            let actual = serde_json::from_str::<Value>(&text).ok().map(|_| depth);
            if actual.is_some() {
                assert!(!nesting_exceeds(text.as_bytes(), depth), "{depth}");
            }
            if depth > 0 {
                assert!(nesting_exceeds(text.as_bytes(), depth - 1), "{depth}");
            }
        }
    }

    #[test]
    fn files() {
        let a = Args::from_value(json!({"hidden": "x"})).with_files(vec![FileArg {
            field: "file".into(),
            filename: "a.txt".into(),
            path: "/tmp/up-1".into(),
        }]);
        assert_eq!(a.path("file"), Some(Path::new("/tmp/up-1")));
        assert_eq!(a.path("hidden"), None);
        assert_eq!(a.files().len(), 1);
    }
}
