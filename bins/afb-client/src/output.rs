//! What the client prints: replies, events and echoed requests, in the raw form (one JSON
//! line each, as the C clients' default) or the human form (`ON-REPLY 1:api/verb: OK`, then the
//! JSON indented as json-c prints it), on stdout or through the line editor's printer.

use std::io::{self, Write};

use afb_wsj1::envelope::{self, ReplyEnvelope};
use afb_wsj1::{RawValue, WriteJson};

/// Where the text goes.
pub enum Sink {
    /// Standard output.
    Stdout,
    /// The interactive line editor (prints above the prompt).
    Printer(Box<dyn rustyline::ExternalPrinter + Send>),
    /// A buffer (tests).
    #[cfg(test)]
    Buffer(Vec<u8>),
}

/// Formats and prints the client's output.
pub struct Output {
    human: bool,
    quiet: bool,
    sink: Sink,
    text: String,
    scratch: Vec<u8>,
}

impl Output {
    /// An output in human (`-H`) or raw form; `quiet` drops the `ON-…` header lines.
    pub fn new(human: bool, quiet: bool, sink: Sink) -> Output {
        Output {
            human,
            quiet,
            sink,
            text: String::new(),
            scratch: Vec::new(),
        }
    }

    /// Whether the human form is on.
    pub fn is_human(&self) -> bool {
        self.human
    }

    /// Routes later output to another sink (after flushing what is pending).
    pub fn set_sink(&mut self, sink: Sink) -> io::Result<()> {
        self.flush()?;
        self.sink = sink;
        Ok(())
    }

    /// Writes what was formatted so far.
    pub fn flush(&mut self) -> io::Result<()> {
        if self.text.is_empty() {
            return Ok(());
        }
        let text = std::mem::take(&mut self.text);
        match &mut self.sink {
            Sink::Stdout => {
                let mut out = io::stdout().lock();
                out.write_all(text.as_bytes())?;
                out.flush()
            }
            Sink::Printer(p) => p.print(text).map_err(io::Error::other),
            #[cfg(test)]
            Sink::Buffer(b) => {
                b.extend_from_slice(text.as_bytes());
                Ok(())
            }
        }
    }

    /// The text written to a test buffer.
    #[cfg(test)]
    pub fn buffer(&mut self) -> String {
        let _ = self.flush();
        match &self.sink {
            Sink::Buffer(b) => String::from_utf8_lossy(b).into_owned(),
            _ => String::new(),
        }
    }

    /// Prints a warning: on stderr, or above the prompt in the interactive mode (where
    /// writing to stderr directly would garble the line being edited).
    pub fn warn(&mut self, msg: &str) {
        if let Sink::Printer(_) = self.sink {
            self.text.push_str("afb-client: ");
            self.line(msg);
            let _ = self.flush();
        } else {
            let _ = self.flush();
            eprintln!("afb-client: {msg}");
        }
    }

    fn line(&mut self, s: &str) {
        self.text.push_str(s);
        self.text.push('\n');
    }

    fn header(&mut self, s: std::fmt::Arguments<'_>) {
        if self.human && !self.quiet {
            use std::fmt::Write as _;
            let _ = self.text.write_fmt(s);
            self.text.push('\n');
        }
    }

    /// The JSON `json`, on one line (raw) or indented (human).
    fn json(&mut self, json: &str) {
        if self.human {
            pretty(json, &mut self.text);
            self.text.push('\n');
        } else {
            self.line(json);
        }
    }

    /// `-e`: a call about to be sent over x-afb-ws-json1.
    pub fn echo_call(&mut self, api: &str, verb: &str, args: &str) {
        self.line(&format!("SEND-CALL {api}/{verb} {args}"));
    }

    /// `-e`: a call about to be sent over wsapi.
    pub fn echo_direct_call(&mut self, verb: &str, args: &str) {
        self.line(&format!("SEND-CALL: {verb} {args}"));
    }

    /// `-e`: an event about to be sent (`! NAME DATA`).
    pub fn echo_event(&mut self, name: &str, args: &str) {
        self.line(&format!("SEND-EVENT: {name} {args}"));
    }

    /// A reply received over x-afb-ws-json1; `body` is the reply object as received.
    pub fn wsj1_reply(&mut self, label: &str, ok: bool, body: &str) {
        self.header(format_args!("ON-REPLY {label}: {}", if ok { "OK" } else { "ERROR" }));
        self.json(body);
    }

    /// An event received over x-afb-ws-json1; `body` is the event object as received.
    pub fn wsj1_event(&mut self, name: &str, body: &str) {
        self.header(format_args!("ON-EVENT {name}:"));
        self.json(body);
    }

    /// A call made by the server to this client (answered "unimplemented").
    pub fn wsj1_server_call(&mut self, api_verb: &str, args: &str) {
        self.header(format_args!("ON-CALL {api_verb}:"));
        self.json(args);
    }

    /// A reply received over wsapi: raw, the same envelope as over x-afb-ws-json1; human,
    /// `ON-REPLY N:verb: STATUS INFO` then the reply data.
    pub fn wsapi_reply(&mut self, label: &str, error: Option<&str>, info: Option<&str>, reply: &str) {
        let status = error.unwrap_or(envelope::SUCCESS);
        if self.human {
            match info {
                Some(info) => self.header(format_args!("ON-REPLY {label}: {status} {info}")),
                None => self.header(format_args!("ON-REPLY {label}: {status}")),
            }
            self.json(reply);
            return;
        }
        let response = serde_json::from_str::<&RawValue>(reply)
            .ok()
            .filter(|r| r.get() != "null");
        let env = ReplyEnvelope {
            status,
            code: envelope::status_code(status),
            info,
            reqid: None,
            uuid: None,
            token: None,
            response: response.as_ref().map(|r| r as &dyn WriteJson),
        };
        self.scratch.clear();
        envelope::write_reply_envelope(&mut self.scratch, &env);
        self.text.push_str(&String::from_utf8_lossy(&self.scratch));
        self.text.push('\n');
    }

    fn wsapi_event(&mut self, name: &str, data: &str) {
        self.scratch.clear();
        let raw = serde_json::from_str::<&RawValue>(data).ok();
        envelope::write_event_envelope(&mut self.scratch, name, raw.as_ref().map(|r| r as &dyn WriteJson));
        self.text.push_str(&String::from_utf8_lossy(&self.scratch));
        self.text.push('\n');
    }

    /// wsapi `E` (human form only).
    pub fn event_create(&mut self, id: u16, name: &str) {
        if self.human {
            self.header(format_args!("ON-EVENT-CREATE: [{id}:{name}]"));
        }
    }

    /// wsapi `e` (human form only).
    pub fn event_remove(&mut self, id: u16, name: &str) {
        if self.human {
            self.header(format_args!("ON-EVENT-REMOVE: [{id}:{name}]"));
        }
    }

    /// wsapi `X` (human form only).
    pub fn event_subscribe(&mut self, label: &str, id: u16, name: &str) {
        if self.human {
            self.header(format_args!("ON-EVENT-SUBSCRIBE {label}: [{id}:{name}]"));
        }
    }

    /// wsapi `x` (human form only).
    pub fn event_unsubscribe(&mut self, label: &str, id: u16, name: &str) {
        if self.human {
            self.header(format_args!("ON-EVENT-UNSUBSCRIBE {label}: [{id}:{name}]"));
        }
    }

    /// wsapi `P`: raw, an `afb-event` object; human, `ON-EVENT-PUSH: [ID:NAME]` and the data.
    pub fn event_push(&mut self, id: u16, name: &str, data: &str) {
        if self.human {
            self.header(format_args!("ON-EVENT-PUSH: [{id}:{name}]"));
            self.json(data);
        } else {
            self.wsapi_event(name, data);
        }
    }

    /// wsapi `B`: raw, an `afb-event` object; human, `ON-EVENT-BROADCAST: [NAME]` and the data.
    pub fn event_broadcast(&mut self, name: &str, data: &str) {
        if self.human {
            self.header(format_args!("ON-EVENT-BROADCAST: [{name}]"));
            self.json(data);
        } else {
            self.wsapi_event(name, data);
        }
    }

    /// The server closed the link (human form only, as the raw form prints only JSON).
    pub fn hangup(&mut self) {
        if self.human {
            self.header(format_args!("ON-HANGUP"));
        }
    }
}

/// Deepest indentation level written by [`pretty`].
const MAX_INDENT: usize = 64;

/// Appends `json` (valid JSON text) indented the way json-c's pretty printer does: two spaces
/// per level, one member or element per line, `"key":value` without a space. Strings and
/// numbers are copied as they are; empty objects and arrays stay `{}` and `[]`. Iterative, so
/// any nesting depth is fine. Text that is not valid JSON gives garbled but finite output.
pub fn pretty(json: &str, out: &mut String) {
    let bytes = json.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        // Indentation stops growing past MAX_INDENT levels: output stays linear in the input.
        for _ in 0..depth.min(MAX_INDENT) {
            out.push_str("  ");
        }
    };
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'"' => {
                // Copy the whole string, escapes included.
                let start = i;
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i = (i + 1).min(bytes.len());
                out.push_str(json.get(start..i).unwrap_or(""));
                continue;
            }
            b'{' | b'[' => {
                let close = if b == b'{' { b'}' } else { b']' };
                let mut j = i + 1;
                while j < bytes.len() && bytes[j].is_ascii_whitespace() {
                    j += 1;
                }
                if bytes.get(j) == Some(&close) {
                    out.push(char::from(b));
                    out.push(char::from(close));
                    i = j + 1;
                    continue;
                }
                out.push(char::from(b));
                depth += 1;
                newline(out, depth);
            }
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                newline(out, depth);
                out.push(char::from(b));
            }
            b',' => {
                out.push(',');
                newline(out, depth);
            }
            b' ' | b'\t' | b'\n' | b'\r' => {}
            _ => {
                // A run of a number or literal: copy up to the next structural byte.
                let start = i;
                while i < bytes.len() && !b"\"{}[],: \t\n\r".contains(&bytes[i]) {
                    i += 1;
                }
                if i == start {
                    // ':' (the only structural byte not handled above).
                    out.push(char::from(b));
                    i += 1;
                } else {
                    out.push_str(json.get(start..i).unwrap_or(""));
                }
                continue;
            }
        }
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(json: &str) -> String {
        let mut s = String::new();
        pretty(json, &mut s);
        s
    }

    #[test]
    fn pretty_like_json_c() {
        assert_eq!(
            p(r#"{"jtype":"afb-reply","request":{"status":"success","code":0},"response":"a, b: {c}"}"#),
            "{\n  \"jtype\":\"afb-reply\",\n  \"request\":{\n    \"status\":\"success\",\n    \"code\":0\n  },\n  \"response\":\"a, b: {c}\"\n}"
        );
        assert_eq!(p("[1, [], {} ,\"x\\\"y\"]"), "[\n  1,\n  [],\n  {},\n  \"x\\\"y\"\n]");
        assert_eq!(p("null"), "null");
        assert_eq!(p("-1.5e3"), "-1.5e3");
        assert_eq!(p("\"é/ü\""), "\"é/ü\"");
    }

    #[test]
    fn pretty_never_panics_on_garbage() {
        for junk in ["{", "}", "\"abc", "\"a\\", "[[[", "]]]", ":,:", "{\"a\" 1", "\u{feff}x"] {
            let _ = p(junk);
        }
        let deep = "[".repeat(100_000) + "1" + &"]".repeat(100_000);
        let out = p(&deep);
        assert!(out.len() > deep.len() && out.len() < 300 * deep.len(), "{}", out.len());
    }

    fn out(human: bool, quiet: bool) -> Output {
        Output::new(human, quiet, Sink::Buffer(Vec::new()))
    }

    #[test]
    fn wsj1_forms() {
        let body = r#"{"jtype":"afb-reply","request":{"status":"success","code":0}}"#;
        let mut o = out(false, false);
        o.wsj1_reply("1:hello/ping", true, body);
        o.wsj1_event("hello/ev", r#"{"data":1}"#);
        assert_eq!(o.buffer(), format!("{body}\n{{\"data\":1}}\n"));
        let mut o = out(true, false);
        o.wsj1_reply("1:hello/ping", false, "{}");
        o.wsj1_event("hello/ev", "[1]");
        o.hangup();
        assert_eq!(
            o.buffer(),
            "ON-REPLY 1:hello/ping: ERROR\n{}\nON-EVENT hello/ev:\n[\n  1\n]\nON-HANGUP\n"
        );
        let mut o = out(true, true);
        o.wsj1_reply("1:hello/ping", true, "1");
        assert_eq!(o.buffer(), "1\n");
    }

    #[test]
    fn wsapi_forms() {
        let mut o = out(false, false);
        o.wsapi_reply("1:ping", None, Some("hi"), "\"Some String\"");
        o.wsapi_reply("2:pingfail", Some("failed"), None, "null");
        o.event_create(2, "hello/ev");
        o.event_push(2, "hello/ev", r#"{"n":1}"#);
        o.event_broadcast("hello/b", "null");
        assert_eq!(
            o.buffer(),
            concat!(
                r#"{"jtype":"afb-reply","request":{"status":"success","code":0,"info":"hi"},"response":"Some String"}"#,
                "\n",
                r#"{"jtype":"afb-reply","request":{"status":"failed","code":-1}}"#,
                "\n",
                r#"{"jtype":"afb-event","event":"hello/ev","data":{"n":1}}"#,
                "\n",
                r#"{"jtype":"afb-event","event":"hello/b","data":null}"#,
                "\n"
            )
        );
        let mut o = out(true, false);
        o.wsapi_reply("1:ping", None, Some("hi"), "\"Some String\"");
        o.event_create(2, "hello/ev");
        o.event_subscribe("3:eventsub", 2, "hello/ev");
        o.event_push(2, "hello/ev", r#"{"n":1}"#);
        o.event_unsubscribe("4:eventunsub", 2, "hello/ev");
        o.event_remove(2, "hello/ev");
        o.event_broadcast("hello/b", "2");
        assert_eq!(
            o.buffer(),
            "ON-REPLY 1:ping: success hi\n\"Some String\"\nON-EVENT-CREATE: [2:hello/ev]\n\
             ON-EVENT-SUBSCRIBE 3:eventsub: [2:hello/ev]\nON-EVENT-PUSH: [2:hello/ev]\n{\n  \"n\":1\n}\n\
             ON-EVENT-UNSUBSCRIBE 4:eventunsub: [2:hello/ev]\nON-EVENT-REMOVE: [2:hello/ev]\n\
             ON-EVENT-BROADCAST: [hello/b]\n2\n"
        );
    }

    #[test]
    fn echo_forms() {
        let mut o = out(false, false);
        o.echo_call("hello", "ping", "null");
        o.echo_direct_call("ping", "{}");
        o.echo_event("ev", "1");
        assert_eq!(
            o.buffer(),
            "SEND-CALL hello/ping null\nSEND-CALL: ping {}\nSEND-EVENT: ev 1\n"
        );
    }
}
