//! Requests typed by the user: one line of stdin (`API VERB ARGS`, `VERB ARGS` with `-d`,
//! `! EVENT DATA` to send an event, `#` comments) or the command line's `API VERB [ARGS]`,
//! with ARGS checked as JSON (text that is not JSON is sent as a JSON string).

use afb_wsj1::RawValue;

/// One thing to send.
#[derive(Debug, Clone)]
pub enum Request {
    /// Call `api/verb` (`api` is empty over wsapi, where the link carries one API).
    Call {
        /// API name (empty over wsapi).
        api: String,
        /// Verb name.
        verb: String,
        /// The arguments, valid JSON text.
        args: Box<RawValue>,
    },
    /// Send the event `name` to the server (x-afb-ws-json1 only: `! NAME DATA`).
    Event {
        /// Event name.
        name: String,
        /// The data, valid JSON text.
        data: Box<RawValue>,
    },
}

/// What a line of input holds.
#[derive(Debug)]
pub enum Line {
    /// Blank or comment.
    Skip,
    /// A request; `warning` says why ARGS were turned into a JSON string, if they were.
    Request {
        /// The request.
        request: Request,
        /// Set when ARGS were not JSON.
        warning: Option<String>,
    },
    /// A line that cannot be sent (e.g. no verb).
    Bad(String),
}

/// Turns ARGS text into JSON: empty means `null`; text that is not JSON becomes a JSON
/// string holding it, with a warning.
pub fn json_args(text: &str) -> (Box<RawValue>, Option<String>) {
    let text = text.trim_matches([' ', '\t', '\r', '\n']);
    if text.is_empty() {
        return (null(), None);
    }
    if let Ok(raw) = serde_json::from_str::<Box<RawValue>>(text) {
        return (raw, None);
    }
    let quoted = serde_json::to_string(text).unwrap_or_else(|_| "null".to_owned());
    let raw = RawValue::from_string(quoted).unwrap_or_else(|_| null());
    let mut shown: String = text.chars().take(60).collect();
    if shown.len() < text.len() {
        shown.push('…');
    }
    (
        raw,
        Some(format!("ARGS {shown:?} are not valid JSON: sent as a JSON string")),
    )
}

/// The JSON `null`.
pub fn null() -> Box<RawValue> {
    Box::<RawValue>::default()
}

/// Splits off the first word (space or tab separated); returns it and the rest.
fn word(s: &str) -> (&str, &str) {
    let s = s.trim_start_matches([' ', '\t']);
    match s.find([' ', '\t']) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, ""),
    }
}

/// Parses one line of input. `direct` is the wsapi mode (`VERB ARGS`).
pub fn parse_line(line: &str, direct: bool) -> Line {
    let line = line.strip_suffix('\n').unwrap_or(line);
    let line = line.strip_suffix('\r').unwrap_or(line);
    let head = line.trim_start_matches([' ', '\t']);
    if head.is_empty() || head.starts_with('#') {
        return Line::Skip;
    }
    let (first, rest) = word(head);
    if direct {
        let (args, warning) = json_args(rest);
        return Line::Request {
            request: Request::Call {
                api: String::new(),
                verb: first.to_owned(),
                args,
            },
            warning,
        };
    }
    // `API/VERB ARGS` is accepted too (API names never hold a '/').
    let (api, verb, rest) = match first.split_once('/') {
        Some((api, verb)) if first != "!" && !api.is_empty() && !verb.is_empty() => (api, verb, rest),
        _ => {
            let (verb, rest) = word(rest);
            (first, verb, rest)
        }
    };
    if verb.is_empty() {
        return Line::Bad(format!("verb missing, bad line: {line}"));
    }
    let (args, warning) = json_args(rest);
    let request = if api == "!" {
        Request::Event {
            name: verb.to_owned(),
            data: args,
        }
    } else {
        Request::Call {
            api: api.to_owned(),
            verb: verb.to_owned(),
            args,
        }
    };
    Line::Request { request, warning }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(line: &str, direct: bool) -> (String, String, String, bool) {
        match parse_line(line, direct) {
            Line::Request {
                request: Request::Call { api, verb, args },
                warning,
            } => (api, verb, args.get().to_owned(), warning.is_some()),
            other => panic!("{line:?} gave {other:?}"),
        }
    }

    #[test]
    fn calls() {
        assert_eq!(
            call("hello ping {\"a\":1}", false),
            ("hello".into(), "ping".into(), "{\"a\":1}".into(), false)
        );
        assert_eq!(call("  hello\tping   [1, 2] \r\n", false).2, "[1, 2]");
        assert_eq!(call("hello ping", false).2, "null");
        assert_eq!(
            call("hello/ping 3", false),
            ("hello".into(), "ping".into(), "3".into(), false)
        );
        assert_eq!(
            call("ping {\"a\":1}", true),
            ("".into(), "ping".into(), "{\"a\":1}".into(), false)
        );
        assert_eq!(call("ping", true).2, "null");
    }

    #[test]
    fn malformed_args_become_a_string() {
        let (_, _, args, warned) = call("hello ping not json \"q\"", false);
        assert_eq!(args, r#""not json \"q\"""#);
        assert!(warned);
        let (_, _, args, warned) = call("ping {bad", true);
        assert_eq!(args, r#""{bad""#);
        assert!(warned);
    }

    #[test]
    fn skipped_and_bad_lines() {
        for l in ["", "   ", "\t\n", "# comment", "   # hello ping"] {
            assert!(matches!(parse_line(l, false), Line::Skip), "{l:?}");
            assert!(matches!(parse_line(l, true), Line::Skip), "{l:?}");
        }
        assert!(matches!(parse_line("hello", false), Line::Bad(m) if m.contains("verb missing")));
        assert!(matches!(parse_line("hello/", false), Line::Bad(_)));
    }

    #[test]
    fn events() {
        match parse_line("! myevent {\"x\":1}", false) {
            Line::Request {
                request: Request::Event { name, data },
                ..
            } => {
                assert_eq!(name, "myevent");
                assert_eq!(data.get(), "{\"x\":1}");
            }
            other => panic!("{other:?}"),
        }
    }
}
