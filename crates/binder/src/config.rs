//! Config files as redpesk writes them (`--config FILE`): `.json` and
//! `.jso` files are JSON with C comments (`/* */`, `//`), any other file
//! is YAML; `{"$ref": "PATH"}` anywhere is replaced by the file PATH
//! (relative to the including file), or by the files of the directory
//! PATH merged in name order; `${VAR}` in texts is the environment
//! variable VAR (unset: an error). `binding` entries may be objects
//! `{"path": .., "uid": .., <the binding's config>}`: the path is loaded,
//! the rest becomes the settings of API `uid`. `acls` holds named access
//! rules (validated at start). Every top-level key must be a long option
//! name: an unknown one is an error naming the file, the line and the key.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

/// Deepest `$ref` nesting.
const MAX_INCLUDES: usize = 16;
/// Largest config file read.
const MAX_FILE: u64 = 4 << 20;

/// A config error, already worded with its file (and line).
pub type Error = String;

/// Removes C comments from JSON text, keeping strings and line breaks.
pub fn strip_comments(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let mut start = 0;
    while i < b.len() {
        match b[i] {
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'/' if b.get(i + 1) == Some(&b'/') => {
                out.push_str(&text[start..i]);
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                start = i;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                out.push_str(&text[start..i]);
                i += 2;
                while i < b.len() && !(b[i] == b'*' && b.get(i + 1) == Some(&b'/')) {
                    if b[i] == b'\n' {
                        out.push('\n');
                    }
                    i += 1;
                }
                i = (i + 2).min(b.len());
                start = i;
            }
            _ => i += 1,
        }
    }
    if start < text.len() {
        out.push_str(&text[start.min(text.len())..]);
    }
    out
}

/// The line (1-based) where `key` first appears as a key in `text`.
fn line_of(text: &str, key: &str) -> Option<usize> {
    let quoted = format!("\"{key}\"");
    text.lines()
        .position(|l| {
            let t = l.trim_start().trim_start_matches("- ");
            t.starts_with(&quoted) || t.starts_with(&format!("{key}:")) || t.starts_with(&format!("'{key}'"))
        })
        .map(|n| n + 1)
}

fn read_text(path: &Path) -> Result<String, Error> {
    let name = path.display();
    let len = std::fs::metadata(path).map_err(|e| format!("{name}: {e}"))?.len();
    if len > MAX_FILE {
        return Err(format!("{name}: larger than {MAX_FILE} bytes"));
    }
    std::fs::read_to_string(path).map_err(|e| format!("{name}: {e}"))
}

fn is_json(path: &Path) -> bool {
    matches!(path.extension().and_then(|e| e.to_str()), Some("json" | "jso"))
}

/// Parses one file (no includes, no variables).
fn parse(path: &Path, text: &str) -> Result<Value, Error> {
    let name = path.display();
    if is_json(path) {
        serde_json::from_str(&strip_comments(text)).map_err(|e| format!("{name}:{}: {e}", e.line()))
    } else {
        serde_yaml_ng::from_str(text).map_err(|e| match e.location() {
            Some(l) => format!("{name}:{}: {e}", l.line()),
            None => format!("{name}: {e}"),
        })
    }
}

/// Expands `${VAR}` in a text.
fn expand(s: &str, file: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<String, Error> {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("${") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let Some(end) = after.find('}') else {
            return Err(format!("{}: unterminated ${{ in {s:?}", file.display()));
        };
        let var = &after[..end];
        match env(var) {
            Some(v) => out.push_str(&v),
            None => return Err(format!("{}: ${{{var}}}: environment variable not set", file.display())),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

struct Loader<'a> {
    env: &'a dyn Fn(&str) -> Option<String>,
    stack: Vec<PathBuf>,
}

impl Loader<'_> {
    /// The value of a file or of the files of a directory, its includes
    /// and variables resolved.
    fn load(&mut self, path: &Path) -> Result<Value, Error> {
        if self.stack.len() >= MAX_INCLUDES {
            return Err(format!(
                "{}: includes nested more than {MAX_INCLUDES} deep",
                path.display()
            ));
        }
        let canon = path.canonicalize().map_err(|e| format!("{}: {e}", path.display()))?;
        if self.stack.contains(&canon) {
            return Err(format!("{}: includes itself", path.display()));
        }
        if canon.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(&canon)
                .map_err(|e| format!("{}: {e}", path.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .collect();
            files.sort();
            let mut merged = Map::new();
            for f in files {
                match self.load(&f)? {
                    Value::Object(o) => merge(&mut merged, o),
                    _ => return Err(format!("{}: an included directory holds objects only", f.display())),
                }
            }
            return Ok(Value::Object(merged));
        }
        let text = read_text(path)?;
        let v = parse(path, &text)?;
        self.stack.push(canon);
        let r = self.resolve(v, path);
        self.stack.pop();
        r
    }

    fn resolve(&mut self, v: Value, file: &Path) -> Result<Value, Error> {
        Ok(match v {
            Value::String(s) => Value::String(expand(&s, file, self.env)?),
            Value::Array(a) => Value::Array(a.into_iter().map(|x| self.resolve(x, file)).collect::<Result<_, _>>()?),
            Value::Object(o) => {
                if let Some(r) = o.get("$ref") {
                    let Value::String(target) = r else {
                        return Err(format!("{}: \"$ref\" needs a path", file.display()));
                    };
                    if o.len() > 1 {
                        return Err(format!("{}: \"$ref\" stands alone in its object", file.display()));
                    }
                    let target = expand(target, file, self.env)?;
                    let base = file.parent().unwrap_or(Path::new("."));
                    return self.load(&base.join(target));
                }
                let mut m = Map::new();
                for (k, x) in o {
                    m.insert(k, self.resolve(x, file)?);
                }
                Value::Object(m)
            }
            other => other,
        })
    }
}

/// Merges `b` into `a`: arrays are concatenated, objects merged, other
/// values replaced.
pub fn merge(a: &mut Map<String, Value>, b: Map<String, Value>) {
    for (k, v) in b {
        match (a.get_mut(&k), v) {
            (Some(Value::Array(x)), Value::Array(y)) => x.extend(y),
            (Some(Value::Object(x)), Value::Object(y)) => merge(x, y),
            (_, v) => {
                a.insert(k, v);
            }
        }
    }
}

/// Reads a config file: its object, includes and variables resolved,
/// `binding` objects turned into paths and settings, `auth` objects into
/// `API/VERB=RULE` texts; top-level keys checked against `keys`. Its
/// `acls` are added to `acls` (the named rules of the files read so far,
/// which its rules may use) and checked.
pub fn load(
    path: &Path,
    keys: &[String],
    env: &dyn Fn(&str) -> Option<String>,
    acls: &mut Map<String, Value>,
) -> Result<Map<String, Value>, Error> {
    let mut loader = Loader { env, stack: Vec::new() };
    let v = loader.load(path)?;
    let Value::Object(mut obj) = v else {
        return Err(format!(
            "{}: expected an object whose keys are long option names",
            path.display()
        ));
    };
    let text = if path.is_file() {
        read_text(path).unwrap_or_default()
    } else {
        String::new()
    };
    for k in obj.keys() {
        if k != "acls" && !keys.contains(k) {
            let at = line_of(&text, k).map(|l| format!(":{l}")).unwrap_or_default();
            return Err(format!(
                "{}{at}: unknown key {k:?} (keys are the long option names, see --help)",
                path.display()
            ));
        }
    }
    if let Some(mine) = obj.remove("acls") {
        let Value::Object(a) = mine else {
            return Err(format!("{}: \"acls\" needs an object of named rules", path.display()));
        };
        let mut all = acls.clone();
        all.extend(a);
        afb_core::access::parse_named(&all).map_err(|e| format!("{}: acls: {e}", path.display()))?;
        *acls = all;
    }
    if let Some(Value::Object(rules)) = obj.remove("auth") {
        // `{"API/VERB": RULE}`: the `--auth API/VERB=RULE` texts, in order.
        let texts = rules
            .into_iter()
            .map(|(k, v)| Value::String(format!("{k}={v}")))
            .collect();
        obj.insert("auth".into(), Value::Array(texts));
    }
    if let Some(b) = obj.remove("binding") {
        let items = match b {
            Value::Array(a) => a,
            other => vec![other],
        };
        let mut paths = Vec::new();
        let mut sets = Vec::new();
        for item in items {
            match item {
                Value::Object(mut o) => {
                    let Some(Value::String(p)) = o.remove("path") else {
                        return Err(format!("{}: a binding object needs a \"path\" text", path.display()));
                    };
                    paths.push(Value::String(p));
                    let uid = o.remove("uid");
                    if !o.is_empty() {
                        let Some(Value::String(uid)) = uid else {
                            return Err(format!(
                                "{}: a binding object with a configuration needs a \"uid\" (its API)",
                                path.display()
                            ));
                        };
                        let mut s = Map::new();
                        s.insert(uid, Value::Object(o));
                        sets.push(Value::Object(s));
                    }
                }
                other => paths.push(other),
            }
        }
        obj.insert("binding".into(), Value::Array(paths));
        if !sets.is_empty() {
            let mut all = match obj.remove("set") {
                Some(Value::Array(a)) => a,
                Some(other) => vec![other],
                None => Vec::new(),
            };
            all.extend(sets);
            obj.insert("set".into(), Value::Array(all));
        }
    }
    Ok(obj)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_are_stripped_outside_strings() {
        let t = "{ // one\n \"a\": \"x // y /* z */\", /* two\n lines */ \"b\": 1 }";
        let v: Value = serde_json::from_str(&strip_comments(t)).unwrap();
        assert_eq!(v, serde_json::json!({"a": "x // y /* z */", "b": 1}));
        assert_eq!(strip_comments("a\n/* x\ny */b").lines().count(), 3, "line numbers kept");
    }

    #[test]
    fn lines_of_keys() {
        assert_eq!(line_of("{\n  \"port\": 1,\n  \"bogus\": 2\n}", "bogus"), Some(3));
        assert_eq!(line_of("port: 1\nbogus: 2\n", "bogus"), Some(2));
    }
}
