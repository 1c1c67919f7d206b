//! Property tests: encode -> decode round trips, decode never panics, encoders emit valid JSON.

use afb_wsj1::envelope::{
    parse_event_envelope, parse_reply_envelope, write_event_envelope, write_reply_envelope, ReplyEnvelope,
};
use afb_wsj1::{
    decode, write_call, write_event, write_event_message, write_reply, write_reply_message, write_reply_with_token,
    Args, JsonString, Message, RawValue,
};
use proptest::prelude::*;
use serde_json::Value;

/// Any unicode, with quotes, backslashes, slashes and control characters well represented.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        proptest::collection::vec(
            prop_oneof![
                Just('"'),
                Just('\\'),
                Just('/'),
                Just('\u{0}'),
                Just('\n'),
                Just('\u{1f}'),
                Just('\u{7f}'),
                Just('\u{2028}'),
                Just('\u{1F600}'),
                any::<char>(),
            ],
            0..12
        )
        .prop_map(|v| v.into_iter().collect()),
    ]
}

fn api_verb() -> impl Strategy<Value = String> {
    (text(), text()).prop_map(|(a, v)| format!("{a}/{v}"))
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map(text(), inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// JSON text of a value, compact or with whitespace sprinkled by the pretty printer.
fn json_text() -> impl Strategy<Value = String> {
    (json_value(), any::<bool>()).prop_map(|(v, pretty)| {
        if pretty {
            serde_json::to_string_pretty(&v).unwrap()
        } else {
            serde_json::to_string(&v).unwrap()
        }
    })
}

fn raw(text: &str) -> &RawValue {
    serde_json::from_str(text).unwrap()
}

fn parse(out: &[u8]) -> Value {
    serde_json::from_slice(out).expect("encoder output is valid JSON")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn call_round_trip(id in text(), av in api_verb(), args in json_text(), token in proptest::option::of(text())) {
        let mut out = Vec::new();
        write_call(&mut out, &id, &av, raw(&args), token.as_deref());
        let v = parse(&out);
        prop_assert_eq!(&v[0], &Value::from(2));
        let text = std::str::from_utf8(&out).unwrap();
        let Ok(Message::Call(c)) = decode(text) else {
            return Err(TestCaseError::fail(format!("not decoded as a call: {text}")));
        };
        prop_assert_eq!(c.id.as_ref(), id.as_str());
        prop_assert_eq!(c.api_verb.as_ref(), av.as_str());
        prop_assert_eq!(c.split().0, av.split_once('/').unwrap().0);
        prop_assert_eq!(c.split().1, av.split_once('/').unwrap().1);
        match &c.args {
            Args::Json(r) => prop_assert_eq!(r.get(), args.as_str()),
            Args::Text(t) => return Err(TestCaseError::fail(format!("text args {t:?}"))),
        }
        prop_assert_eq!(c.token.as_deref(), token.as_deref());
        // Re-encoding the decoded call gives the same bytes.
        let mut again = Vec::new();
        c.write(&mut again);
        prop_assert_eq!(again, out);
    }

    #[test]
    fn text_args_round_trip(id in text(), text_arg in "[a-zA-Z][a-zA-Z0-9 ._:;!?-]{0,20}", token in proptest::option::of(text())) {
        // Non-JSON args written by hand, as a sloppy client would.
        let mut out = b"[2,".to_vec();
        serde_json::to_writer(&mut out, &id).unwrap();
        out.extend_from_slice(b",\"a/b\", ");
        out.extend_from_slice(text_arg.as_bytes());
        if let Some(t) = &token {
            out.extend_from_slice(b" ,");
            serde_json::to_writer(&mut out, t).unwrap();
        }
        out.extend_from_slice(b" ]");
        let text = std::str::from_utf8(&out).unwrap();
        let Ok(Message::Call(c)) = decode(text) else {
            return Err(TestCaseError::fail(format!("not decoded: {text}")));
        };
        let expect = text_arg.trim_end();
        match &c.args {
            // Words like `true`, `null` or numbers are JSON.
            Args::Json(r) => prop_assert_eq!(r.get(), expect),
            Args::Text(t) => {
                prop_assert!(serde_json::from_str::<Value>(expect).is_err());
                prop_assert_eq!(t.as_ref(), expect);
            }
        }
        prop_assert_eq!(c.token.as_deref(), token.as_deref());
        // Re-encoded, the text is a JSON string that decodes to the same JSON.
        let mut again = Vec::new();
        c.write(&mut again);
        let Ok(Message::Call(c2)) = decode(std::str::from_utf8(&again).unwrap()) else {
            return Err(TestCaseError::fail("re-encoded call not decoded"));
        };
        prop_assert_eq!(c2.args.to_json_string(), c.args.to_json_string());
        prop_assert_eq!(c2.args.to_value().unwrap(), c.args.to_value().unwrap());
    }

    #[test]
    fn reply_and_event_round_trip(
        id in text(),
        success in any::<bool>(),
        body in json_text(),
        token in proptest::option::of(text()),
    ) {
        let mut out = Vec::new();
        write_reply_with_token(&mut out, &id, success, raw(&body), token.as_deref());
        let v = parse(&out);
        prop_assert_eq!(v.as_array().map(Vec::len), Some(if token.is_some() { 4 } else { 3 }));
        let Ok(Message::Reply(r)) = decode(std::str::from_utf8(&out).unwrap()) else {
            return Err(TestCaseError::fail("reply not decoded"));
        };
        prop_assert_eq!(r.id.as_ref(), id.as_str());
        prop_assert_eq!(r.success, success);
        prop_assert_eq!(r.body.get(), body.as_str());
        prop_assert_eq!(r.token.as_deref(), token.as_deref());
        if token.is_none() {
            let mut plain = Vec::new();
            write_reply(&mut plain, &id, success, raw(&body));
            prop_assert_eq!(&plain, &out);
        }

        out.clear();
        write_event(&mut out, &id, raw(&body));
        parse(&out);
        let Ok(Message::Event(e)) = decode(std::str::from_utf8(&out).unwrap()) else {
            return Err(TestCaseError::fail("event not decoded"));
        };
        prop_assert_eq!(e.name.as_ref(), id.as_str());
        prop_assert_eq!(e.body.get(), body.as_str());
    }

    #[test]
    fn envelopes_round_trip(
        id in text(),
        status in prop_oneof![Just("success".to_string()), text()],
        code in any::<i32>(),
        info in proptest::option::of(text()),
        reqid in proptest::option::of(text()),
        uuid in proptest::option::of(text()),
        token in proptest::option::of(text()),
        response in proptest::option::of(json_value()),
    ) {
        let env = ReplyEnvelope {
            status: &status,
            code,
            info: info.as_deref(),
            reqid: reqid.as_deref(),
            uuid: uuid.as_deref(),
            token: token.as_deref(),
            response: response.as_ref().map(|r| r as &dyn afb_wsj1::WriteJson),
        };
        let mut out = Vec::new();
        write_reply_message(&mut out, &id, &env);
        let v = parse(&out);
        prop_assert_eq!(&v[0], &Value::from(if status == "success" { 3 } else { 4 }));
        prop_assert_eq!(&v[1], &Value::String(id.clone()));
        prop_assert_eq!(&v[2]["request"]["code"], &Value::from(code));
        // The renewed token is also the 4th element.
        let fourth = token.as_ref().map(|t| Value::String(t.clone()));
        prop_assert_eq!(v.get(3), fourth.as_ref());
        // Compared as text: serde_json's default float parsing is not exactly round-trip.
        let response_text = response.as_ref().map(|r| serde_json::to_string(r).unwrap());
        let Ok(Message::Reply(r)) = decode(std::str::from_utf8(&out).unwrap()) else {
            return Err(TestCaseError::fail("reply not decoded"));
        };
        prop_assert_eq!(r.success, status == "success");
        let p = r.envelope().unwrap();
        prop_assert_eq!(p.status.as_ref(), status.as_str());
        prop_assert_eq!(p.code, code);
        prop_assert_eq!(p.info.as_deref(), info.as_deref());
        prop_assert_eq!(p.reqid.as_deref(), reqid.as_deref());
        prop_assert_eq!(p.uuid.as_deref(), uuid.as_deref());
        prop_assert_eq!(p.token.as_deref(), token.as_deref());
        prop_assert_eq!(r.token.as_deref(), token.as_deref());
        prop_assert_eq!(p.response.map(RawValue::get), response_text.as_deref());

        // The bare envelope is the same JSON.
        let mut bare = Vec::new();
        write_reply_envelope(&mut bare, &env);
        prop_assert_eq!(&parse(&bare), &v[2]);
        prop_assert!(parse_reply_envelope(std::str::from_utf8(&bare).unwrap()).is_ok());

        // Events.
        out.clear();
        let data = response.as_ref().map(|r| r as &dyn afb_wsj1::WriteJson);
        write_event_message(&mut out, &id, data);
        let v = parse(&out);
        prop_assert_eq!(&v[2]["event"], &Value::String(id.clone()));
        prop_assert_eq!(v[2]["event"].as_str(), Some(id.as_str()));
        let Ok(Message::Event(e)) = decode(std::str::from_utf8(&out).unwrap()) else {
            return Err(TestCaseError::fail("event not decoded"));
        };
        let p = e.envelope().unwrap();
        prop_assert_eq!(p.name.as_ref(), id.as_str());
        prop_assert_eq!(p.data.unwrap().get(), response_text.as_deref().unwrap_or("null"));
        let mut bare = Vec::new();
        write_event_envelope(&mut bare, &id, Some(&JsonString(&id)));
        let p = parse_event_envelope(std::str::from_utf8(&bare).unwrap()).unwrap();
        prop_assert_eq!(p.data.unwrap().get(), serde_json::to_string(&id).unwrap());
    }

    #[test]
    fn numeric_ids_come_back_as_strings(n in any::<i64>(), f in any::<f64>().prop_filter("finite", |f| f.is_finite())) {
        for id in [n.to_string(), serde_json::to_string(&f).unwrap()] {
            let text = format!(r#"[2,{id},"a/b",null]"#);
            let Ok(Message::Call(c)) = decode(&text) else {
                return Err(TestCaseError::fail(format!("not decoded: {text}")));
            };
            prop_assert_eq!(c.id.as_ref(), id.as_str());
        }
    }

    #[test]
    fn decode_arbitrary_text_never_panics(text in any::<String>()) {
        check_decode(&text)?;
    }

    #[test]
    fn decode_near_valid_text_never_panics(
        prefix in prop_oneof![Just("[2,"), Just("[3,"), Just("[4,"), Just("[5,"), Just("[2,\"1\",\"a/b\","), Just("")],
        body in "[\\[\\]{}\",:\\\\ a-z0-9nul.eE+-]{0,40}",
    ) {
        check_decode(&format!("{prefix}{body}"))?;
    }

    #[test]
    fn parse_envelopes_arbitrary_text_never_panics(text in "[\\[\\]{}\",:\\\\ a-z0-9]{0,60}") {
        let _ = parse_reply_envelope(&text);
        let _ = parse_event_envelope(&text);
    }
}

/// Decoding never panics; an error's offset is in range and its id only for 2/3/4; a success
/// re-encodes to valid JSON that decodes to the same content.
fn check_decode(text: &str) -> Result<(), TestCaseError> {
    match decode(text) {
        Err(e) => {
            prop_assert!(e.offset() <= text.len());
            if e.id().is_some() {
                prop_assert!(matches!(e.message_kind(), Some(2..=4)));
            }
        }
        Ok(m) => {
            let mut out = Vec::new();
            m.write(&mut out);
            parse(&out);
            let again = decode(std::str::from_utf8(&out).unwrap()).unwrap();
            same(&m, &again)?;
        }
    }
    Ok(())
}

fn same(a: &Message<'_>, b: &Message<'_>) -> Result<(), TestCaseError> {
    match (a, b) {
        (Message::Call(a), Message::Call(b)) => {
            prop_assert_eq!(&a.id, &b.id);
            prop_assert_eq!(&a.api_verb, &b.api_verb);
            prop_assert_eq!(a.args.to_json_string(), b.args.to_json_string());
            prop_assert_eq!(&a.token, &b.token);
        }
        (a, b) => prop_assert_eq!(a, b),
    }
    Ok(())
}
