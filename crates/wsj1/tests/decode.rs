//! Decoding: every form and example of wsj1.md, and every refusal.

use std::borrow::Cow;

use afb_wsj1::{decode, Args, Call, DecodeError, ErrorKind, Message};

fn call(text: &str) -> Call<'_> {
    match decode(text) {
        Ok(Message::Call(c)) => c,
        other => panic!("{text}: expected a call, got {other:?}"),
    }
}

fn err(text: &str) -> DecodeError {
    match decode(text) {
        Err(e) => e,
        Ok(m) => panic!("{text}: expected an error, got {m:?}"),
    }
}

fn json_args<'a>(c: &Call<'a>) -> &'a str {
    match &c.args {
        Args::Json(raw) => raw.get(),
        Args::Text(t) => panic!("expected JSON args, got text {t:?}"),
    }
}

fn text_args(c: &Call<'_>) -> String {
    match &c.args {
        Args::Text(t) => t.to_string(),
        Args::Json(raw) => panic!("expected text args, got JSON {}", raw.get()),
    }
}

#[test]
fn call_example_from_spec() {
    let c = call(r#"[2,"1","hello/ping",{"a":1}]"#);
    assert_eq!(c.id, "1");
    assert_eq!(c.api_verb, "hello/ping");
    assert_eq!(c.api(), "hello");
    assert_eq!(c.verb(), "ping");
    assert_eq!(json_args(&c), r#"{"a":1}"#);
    assert_eq!(c.token, None);
    // Unescaped strings are borrowed from the input.
    assert!(matches!(c.id, Cow::Borrowed(_)));
    assert!(matches!(c.api_verb, Cow::Borrowed(_)));
}

#[test]
fn call_with_null_args_and_other_examples() {
    let c = call(r#"[2,"2","hello/pingfail",null]"#);
    assert_eq!(c.id, "2");
    assert_eq!(c.verb(), "pingfail");
    assert_eq!(json_args(&c), "null");
    let c = call(r#"[2,"6","hello/eventsub",{"tag":"t1"}]"#);
    assert_eq!(json_args(&c), r#"{"tag":"t1"}"#);
}

#[test]
fn verb_may_contain_slash_split_at_first() {
    let c = call(r#"[2,"1","api/some/verb",true]"#);
    assert_eq!(c.split(), ("api", "some/verb"));
}

#[test]
fn numeric_id_kept_as_text_and_echoed_as_string() {
    let c = call(r#"[2,4,"hello/ping",null]"#);
    assert_eq!(c.id, "4");
    let mut out = Vec::new();
    afb_wsj1::write_reply(&mut out, &c.id, true, &serde_json::json!({"x":1}));
    assert_eq!(out, br#"[3,"4",{"x":1}]"#);
    for (text, id) in [
        (r#"[2,-12,"a/b",1]"#, "-12"),
        (r#"[2,0,"a/b",1]"#, "0"),
        (r#"[2,1.5e3,"a/b",1]"#, "1.5e3"),
        (r#"[2, 7 ,"a/b",1]"#, "7"),
    ] {
        assert_eq!(call(text).id, id, "{text}");
    }
}

#[test]
fn fifth_element_is_the_token() {
    let c = call(r#"[2,"1","hello/ping",{"a":1},"tok"]"#);
    assert_eq!(json_args(&c), r#"{"a":1}"#);
    assert_eq!(c.token.as_deref(), Some("tok"));
    let c = call(r#"[2,"1","hello/ping",hello world,"tok"]"#);
    assert_eq!(text_args(&c), "hello world");
    assert_eq!(c.token.as_deref(), Some("tok"));
    // A null token counts as absent.
    let c = call(r#"[2,"1","hello/ping",1,null]"#);
    assert_eq!(c.token, None);
    // Escaped token.
    let c = call(r#"[2,"1","hello/ping",1,"a\"b"]"#);
    assert_eq!(c.token.as_deref(), Some("a\"b"));
}

#[test]
fn args_not_json_become_text() {
    let c = call(r#"[2,"1","hello/ping",hello world]"#);
    assert_eq!(text_args(&c), "hello world");
    assert_eq!(c.args.to_json_string(), r#""hello world""#);
    assert_eq!(
        c.args.to_value().unwrap(),
        serde_json::Value::String("hello world".into())
    );
    let s: String = c.args.deserialize().unwrap();
    assert_eq!(s, "hello world");

    // Valid JSON followed by junk in the same element: the whole element is text.
    let c = call(r#"[2,"1","a/b",{"a":1} junk]"#);
    assert_eq!(text_args(&c), r#"{"a":1} junk"#);
    // Brackets and strings are balanced inside the text; commas inside them do not split.
    let c = call(r#"[2,"1","a/b",x [1, 2] "y,]" z , "tok" ]"#);
    assert_eq!(text_args(&c), r#"x [1, 2] "y,]" z"#);
    assert_eq!(c.token.as_deref(), Some("tok"));
    // JSON followed by a string without a comma: one text element, as the C binders split.
    assert_eq!(text_args(&call(r#"[2,"1","a/b",{}"t"]"#)), r#"{}"t""#);
    // Invalid JSON literals and numbers.
    assert_eq!(text_args(&call(r#"[2,"1","a/b",nul]"#)), "nul");
    assert_eq!(text_args(&call(r#"[2,"1","a/b",01]"#)), "01");
    assert_eq!(text_args(&call(r#"[2,"1","a/b",1x]"#)), "1x");
    assert_eq!(text_args(&call(r#"[2,"1","a/b",'single']"#)), "'single'");
    assert_eq!(text_args(&call("[2,\"1\",\"a/b\",  tab\tin\n  ]")), "tab\tin");
    // Text with quotes and control characters escapes properly.
    let c = call("[2,\"1\",\"a/b\",say \"hi\"\tnow]");
    assert_eq!(c.args.to_json_string(), r#""say \"hi\"\tnow""#);
}

#[test]
fn whitespace_everywhere_json_allows_it() {
    let c = call(" \r\n\t[ 2 ,\n\"1\" ,\t\"hello/ping\" , { \"a\" : 1 } , \"tok\" ] \n");
    assert_eq!(c.id, "1");
    assert_eq!(json_args(&c), "{ \"a\" : 1 }");
    assert_eq!(c.token.as_deref(), Some("tok"));
    let c = call("[2,\"1\",\"a/b\",[1, 2]\n]");
    assert_eq!(json_args(&c), "[1, 2]");
}

#[test]
fn escaped_strings_are_unescaped() {
    let c = call(r#"[2,"a\"b\\c\u0001\n","hello\/ping",{}]"#);
    assert_eq!(c.id, "a\"b\\c\u{1}\n");
    assert!(matches!(c.id, Cow::Owned(_)));
    assert_eq!(c.api_verb, "hello/ping");
    let c = call(r#"[2,"\ud83d\ude00","a/b",{}]"#);
    assert_eq!(c.id, "\u{1F600}");
    let c = call("[2,\"é✓\u{1F600}\",\"a/b\",{}]");
    assert_eq!(c.id, "é✓\u{1F600}");
}

#[test]
fn replies() {
    let text = r#"[3,"1",{"jtype":"afb-reply","request":{"status":"success","code":0,"info":"..."},"response":"Some String"}]"#;
    let Ok(Message::Reply(r)) = decode(text) else {
        panic!("not a reply")
    };
    assert_eq!(r.id, "1");
    assert!(r.success);
    let env = r.envelope().unwrap();
    assert_eq!(env.status, "success");
    assert_eq!(env.code, 0);
    assert_eq!(env.info.as_deref(), Some("..."));
    assert_eq!(env.response.unwrap().get(), r#""Some String""#);

    let text = r#"[4,"2",{"jtype":"afb-reply","request":{"status":"failed","code":-1,"info":"..."}}]"#;
    let Ok(Message::Reply(r)) = decode(text) else {
        panic!("not a reply")
    };
    assert_eq!(r.id, "2");
    assert!(!r.success);
    let env = r.envelope().unwrap();
    assert_eq!(env.status, "failed");
    assert_eq!(env.code, -1);
    assert!(env.response.is_none());

    // Numeric id, and the 4th element: the token the call renewed.
    let Ok(Message::Reply(r)) = decode(r#"[3, 12 ,{} , "tok" ]"#) else {
        panic!("not a reply")
    };
    assert_eq!(r.id, "12");
    assert_eq!(r.body.get(), "{}");
    assert_eq!(r.token.as_deref(), Some("tok"));
    let Ok(Message::Reply(r)) = decode(r#"[4,"1",{},null]"#) else {
        panic!("not a reply")
    };
    assert_eq!(r.token, None);
    let Ok(Message::Reply(r)) = decode(r#"[3,"1",{}]"#) else {
        panic!("not a reply")
    };
    assert_eq!(r.token, None);
}

#[test]
fn events() {
    let text = r#"[5,"hello/ev1",{"jtype":"afb-event","event":"hello/ev1","data":{"v":42}}]"#;
    let Ok(Message::Event(e)) = decode(text) else {
        panic!("not an event")
    };
    assert_eq!(e.name, "hello/ev1");
    let env = e.envelope().unwrap();
    assert_eq!(env.name, "hello/ev1");
    assert_eq!(env.data.unwrap().get(), r#"{"v":42}"#);
    assert_eq!(decode(text).unwrap().kind(), 5);
}

#[test]
fn deep_args_are_accepted_as_raw_without_recursion_limit() {
    let depth = 100_000;
    let text = format!(r#"[2,"1","a/b",{}{}]"#, "[".repeat(depth), "]".repeat(depth));
    let c = call(&text);
    assert_eq!(json_args(&c).len(), 2 * depth);
    // Reading them applies serde_json's limit of 128.
    assert!(c.args.to_value().is_err());
    let ok = format!("{}{}", "[".repeat(100), "]".repeat(100));
    let text = format!(r#"[2,"1","a/b",{ok}]"#);
    assert!(call(&text).args.to_value().is_ok());
}

#[test]
fn deep_unbalanced_text_is_refused_without_panic() {
    let text = format!(r#"[2,"1","a/b",x{}]"#, "[".repeat(200_000));
    let e = err(&text);
    assert_eq!(e.kind(), ErrorKind::Unterminated);
    assert_eq!(e.id(), Some("1"));
}

fn check(text: &str, kind: ErrorKind, id: Option<&str>) {
    let e = err(text);
    assert_eq!(e.kind(), kind, "{text}: {e}");
    assert_eq!(e.id(), id, "{text}: {e}");
    assert!(e.offset() <= text.len());
    let shown = e.to_string();
    assert!(shown.contains(kind.as_str()), "{shown}");
}

#[test]
fn refusals_without_id() {
    check("", ErrorKind::NotAnArray, None);
    check("   ", ErrorKind::NotAnArray, None);
    check(r#"{"a":1}"#, ErrorKind::NotAnArray, None);
    check(r#""[2]""#, ErrorKind::NotAnArray, None);
    check("[", ErrorKind::Unterminated, None);
    check("[]", ErrorKind::EmptyArray, None);
    check("[ ]", ErrorKind::EmptyArray, None);
    check(r#"[9,"1","a/b",1]"#, ErrorKind::UnknownKind, None);
    check(r#"[1,"1","a/b",1]"#, ErrorKind::UnknownKind, None);
    check(r#"[2.0,"1","a/b",1]"#, ErrorKind::UnknownKind, None);
    check(r#"[22,"1","a/b",1]"#, ErrorKind::UnknownKind, None);
    check(r#"["2","1","a/b",1]"#, ErrorKind::BadKind, None);
    check(r#"[2x,"1","a/b",1]"#, ErrorKind::BadKind, None);
    check(r#"[null]"#, ErrorKind::BadKind, None);
    check("[2]", ErrorKind::MissingId, None);
    check("[2", ErrorKind::Unterminated, None);
    check("[2 3]", ErrorKind::ExpectedComma, None);
    check(r#"[2,null,"a/b",1]"#, ErrorKind::BadId, None);
    check(r#"[2,{},"a/b",1]"#, ErrorKind::BadId, None);
    check(r#"[2,4x,"a/b",1]"#, ErrorKind::BadId, None);
    check(r#"[2,"1]"#, ErrorKind::UnterminatedString, None);
    check("[2,\"a\nb\",\"a/b\",1]", ErrorKind::ControlCharacter, None);
    check(r#"[2,"\x","a/b",1]"#, ErrorKind::BadEscape, None);
    check(r#"[2,"\ud800","a/b",1]"#, ErrorKind::BadEscape, None);
    check(r#"[3]"#, ErrorKind::MissingId, None);
    check(r#"[3,true,{}]"#, ErrorKind::BadId, None);
    // Events carry no id.
    check(r#"[5]"#, ErrorKind::MissingEventName, None);
    check(r#"[5,1,{}]"#, ErrorKind::BadEventName, None);
    check(r#"[5,"x/y"]"#, ErrorKind::MissingBody, None);
    check(r#"[5,"x/y",{]"#, ErrorKind::BadBody, None);
    check(r#"[5,"x/y",{},"z"]"#, ErrorKind::TooManyElements, None);
    check(r#"[5,"x/y",{} x]"#, ErrorKind::ExpectedEnd, None);
    check(r#"[5,"x/y",{}]x"#, ErrorKind::TrailingCharacters, None);
    check(r#"[5,"x/y",{}"#, ErrorKind::Unterminated, None);
}

#[test]
fn refusals_with_id() {
    check(r#"[2,"7",42,null]"#, ErrorKind::BadApiVerb, Some("7"));
    check(r#"[2,"7",null,null]"#, ErrorKind::BadApiVerb, Some("7"));
    check(r#"[2,7,"helloping",null]"#, ErrorKind::NoSlash, Some("7"));
    check(r#"[2,"7"]"#, ErrorKind::MissingApiVerb, Some("7"));
    check(r#"[2,"7","a/b"]"#, ErrorKind::MissingArgs, Some("7"));
    check(r#"[2,"7","a/b",]"#, ErrorKind::MissingArgs, Some("7"));
    check(r#"[2,"7","a/b", ,"t"]"#, ErrorKind::MissingArgs, Some("7"));
    check(r#"[2,"7","a/b"  1]"#, ErrorKind::ExpectedComma, Some("7"));
    check(r#"[2,"7","a/b",{}"#, ErrorKind::Unterminated, Some("7"));
    check(r#"[2,"7","a/b",{"#, ErrorKind::Unterminated, Some("7"));
    check(r#"[2,"7","a/b",x}]"#, ErrorKind::BadArgs, Some("7"));
    check(r#"[2,"7","a/b",x "y]"#, ErrorKind::UnterminatedString, Some("7"));
    check(r#"[2,"7","a/b",{},42]"#, ErrorKind::BadToken, Some("7"));
    check(r#"[2,"7","a/b",{},{}]"#, ErrorKind::BadToken, Some("7"));
    check(r#"[2,"7","a/b",{},nullx]"#, ErrorKind::ExpectedEnd, Some("7"));
    check(r#"[2,"7","a/b",{},]"#, ErrorKind::BadToken, Some("7"));
    check(r#"[2,"7","a/b",{},"#, ErrorKind::Unterminated, Some("7"));
    check(r#"[2,"7","a/b",{},"t","u"]"#, ErrorKind::TooManyElements, Some("7"));
    check(r#"[2,"7","a/b",{},"t" x]"#, ErrorKind::ExpectedEnd, Some("7"));
    check(r#"[2,"7","a/b",{},"t"]]"#, ErrorKind::TrailingCharacters, Some("7"));
    check(r#"[2,"7","a/b",{}] x"#, ErrorKind::TrailingCharacters, Some("7"));
    check(r#"[2,"7","a\qb",{}]"#, ErrorKind::BadEscape, Some("7"));
    check(r#"[3,"7"]"#, ErrorKind::MissingBody, Some("7"));
    check(r#"[3,"7",]"#, ErrorKind::BadBody, Some("7"));
    check(r#"[3,"7",hello]"#, ErrorKind::BadBody, Some("7"));
    check(r#"[4,"7",{} junk]"#, ErrorKind::ExpectedEnd, Some("7"));
    check(r#"[4,"7",{},1]"#, ErrorKind::BadToken, Some("7"));
    check(r#"[4,"7",{},"t",1]"#, ErrorKind::TooManyElements, Some("7"));
    check(r#"[3,"7",{}]]"#, ErrorKind::TrailingCharacters, Some("7"));
}

#[test]
fn error_reports_message_kind() {
    assert_eq!(err(r#"[2,"7",42,null]"#).message_kind(), Some(2));
    assert_eq!(err(r#"[4,"7"]"#).message_kind(), Some(4));
    assert_eq!(err(r#"[5]"#).message_kind(), Some(5));
    assert_eq!(err(r#"[9]"#).message_kind(), None);
    let e = err(r#"[2,"7",42,null]"#);
    let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(e);
    assert!(boxed.to_string().starts_with("invalid x-afb-ws-json1 message: "));
}

#[test]
fn error_offsets_point_at_the_problem() {
    assert_eq!(err(r#"[2,"7",42,null]"#).offset(), 7);
    assert_eq!(err(r#"[2,"7","a/b",{}] x"#).offset(), 17);
    assert_eq!(err("[2,\"a\nb\"").offset(), 5);
}

#[test]
fn utf8_everywhere() {
    let c = call("[2,\"ид\",\"апи/глагол\",текст с пробелами,\"токен\"]");
    assert_eq!(c.id, "ид");
    assert_eq!(c.split(), ("апи", "глагол"));
    assert_eq!(text_args(&c), "текст с пробелами");
    assert_eq!(c.token.as_deref(), Some("токен"));
}
