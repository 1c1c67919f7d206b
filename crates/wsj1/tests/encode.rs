//! Encoding: exact bytes of messages and envelopes (wsj1.md, rest.md), escaping (defect 16),
//! one event wrapper (defect 8), and envelope parsing.

use afb_wsj1::envelope::{
    parse_event_envelope, parse_reply_envelope, status_code, write_event_envelope, write_reply_envelope, ReplyEnvelope,
};
use afb_wsj1::{
    decode, write_call, write_event, write_event_message, write_reply, write_reply_message, JsonString, Message,
    RawValue, WriteJson,
};
use serde_json::{json, Value};

fn raw(text: &str) -> &RawValue {
    serde_json::from_str(text).unwrap()
}

fn s(out: &[u8]) -> &str {
    std::str::from_utf8(out).unwrap()
}

#[test]
fn call_bytes() {
    let mut out = Vec::new();
    write_call(&mut out, "1", "hello/ping", raw(r#"{"a":1}"#), None);
    assert_eq!(s(&out), r#"[2,"1","hello/ping",{"a":1}]"#);
    out.clear();
    write_call(&mut out, "1", "hello/ping", &json!(null), Some("tok"));
    assert_eq!(s(&out), r#"[2,"1","hello/ping",null,"tok"]"#);
}

#[test]
fn writers_append() {
    let mut out = b"prefix".to_vec();
    write_event(&mut out, "a/b", raw("1"));
    assert_eq!(s(&out), r#"prefix[5,"a/b",1]"#);
}

#[test]
fn reply_messages_exactly_as_in_the_spec() {
    let mut out = Vec::new();
    let mut env = ReplyEnvelope::success(Some(&JsonString("Some String")));
    env.info = Some("...");
    write_reply_message(&mut out, "1", &env);
    assert_eq!(
        s(&out),
        r#"[3,"1",{"jtype":"afb-reply","request":{"status":"success","code":0,"info":"..."},"response":"Some String"}]"#
    );

    out.clear();
    write_reply_message(&mut out, "2", &ReplyEnvelope::error("failed", Some("...")));
    assert_eq!(
        s(&out),
        r#"[4,"2",{"jtype":"afb-reply","request":{"status":"failed","code":-1,"info":"..."}}]"#
    );

    out.clear();
    write_reply_message(&mut out, "6", &ReplyEnvelope::success(None));
    assert_eq!(
        s(&out),
        r#"[3,"6",{"jtype":"afb-reply","request":{"status":"success","code":0}}]"#
    );
}

#[test]
fn event_message_exactly_as_in_the_spec_with_one_wrapper() {
    let mut out = Vec::new();
    write_event_message(&mut out, "hello/ev1", Some(&json!({"v":42})));
    assert_eq!(
        s(&out),
        r#"[5,"hello/ev1",{"jtype":"afb-event","event":"hello/ev1","data":{"v":42}}]"#
    );
    // The data is not itself an afb-event wrapper (defect 8).
    let Message::Event(e) = decode(s(&out)).unwrap() else {
        panic!()
    };
    let data = e.envelope().unwrap().data.unwrap();
    assert_eq!(data.get(), r#"{"v":42}"#);
    assert!(parse_event_envelope(data.get()).is_err());

    out.clear();
    write_event_message(&mut out, "hello/ev2", None);
    assert_eq!(
        s(&out),
        r#"[5,"hello/ev2",{"jtype":"afb-event","event":"hello/ev2","data":null}]"#
    );
}

#[test]
fn full_reply_envelope_key_order() {
    let mut out = Vec::new();
    let data = json!({"k":[1,2]});
    let env = ReplyEnvelope {
        status: "success",
        code: 0,
        info: Some("i"),
        reqid: Some("r"),
        uuid: Some("u"),
        token: Some("t"),
        response: Some(&data),
    };
    write_reply_envelope(&mut out, &env);
    assert_eq!(
        s(&out),
        r#"{"jtype":"afb-reply","request":{"status":"success","code":0,"info":"i","reqid":"r","uuid":"u","token":"t"},"response":{"k":[1,2]}}"#
    );
    // Only some optional keys.
    out.clear();
    let env = ReplyEnvelope {
        reqid: Some("r"),
        token: Some("t"),
        ..ReplyEnvelope::error("timeout", None)
    };
    write_reply_envelope(&mut out, &env);
    assert_eq!(
        s(&out),
        r#"{"jtype":"afb-reply","request":{"status":"timeout","code":-16,"reqid":"r","token":"t"}}"#
    );
    // A null response is written (key present).
    out.clear();
    write_reply_envelope(&mut out, &ReplyEnvelope::success(Some(&Value::Null)));
    assert!(s(&out).ends_with(r#"},"response":null}"#));
    // Codes at the extremes.
    for code in [i32::MIN, i32::MAX, 0, -1, 10] {
        out.clear();
        let env = ReplyEnvelope {
            code,
            ..ReplyEnvelope::success(None)
        };
        write_reply_envelope(&mut out, &env);
        assert_eq!(parse_reply_envelope(s(&out)).unwrap().code, code);
        assert!(s(&out).contains(&format!(r#""code":{code}}}"#)));
    }
}

#[test]
fn ids_names_tokens_info_are_escaped() {
    let nasty = "q\"b\\s/c\u{0}\u{1}\u{1f}\n\t\u{7f}é\u{1F600}";
    let mut out = Vec::new();
    write_call(&mut out, nasty, nasty, &JsonString(nasty), Some(nasty));
    let v: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v, json!([2, nasty, nasty, nasty, nasty]));
    assert!(s(&out).starts_with(r#"[2,"q\"b\\s/c\u0000\u0001\u001f\n\t"#));

    out.clear();
    write_reply(&mut out, nasty, false, raw("{}"));
    assert_eq!(serde_json::from_slice::<Value>(&out).unwrap(), json!([4, nasty, {}]));

    out.clear();
    let env = ReplyEnvelope {
        status: nasty,
        code: -1,
        info: Some(nasty),
        reqid: Some(nasty),
        uuid: Some(nasty),
        token: Some(nasty),
        response: Some(&JsonString(nasty)),
    };
    write_reply_message(&mut out, nasty, &env);
    assert_eq!(
        serde_json::from_slice::<Value>(&out).unwrap(),
        json!([4, nasty, {"jtype":"afb-reply","request":{"status":nasty,"code":-1,"info":nasty,
            "reqid":nasty,"uuid":nasty,"token":nasty},"response":nasty}, nasty])
    );
    let Message::Reply(r) = decode(s(&out)).unwrap() else {
        panic!()
    };
    assert_eq!(r.id, nasty);
    assert_eq!(r.token.as_deref(), Some(nasty));
    let p = r.envelope().unwrap();
    assert_eq!(p.status, nasty);
    assert_eq!(p.info.as_deref(), Some(nasty));
    assert_eq!(p.reqid.as_deref(), Some(nasty));
    assert_eq!(p.uuid.as_deref(), Some(nasty));
    assert_eq!(p.token.as_deref(), Some(nasty));

    out.clear();
    write_event_message(&mut out, nasty, None);
    assert_eq!(
        serde_json::from_slice::<Value>(&out).unwrap(),
        json!([5, nasty, {"jtype":"afb-event","event":nasty,"data":null}])
    );
}

#[test]
fn text_args_reencode_as_a_json_string() {
    let Message::Call(c) = decode(r#"[2,"1","hello/ping",hello world]"#).unwrap() else {
        panic!()
    };
    let mut out = Vec::new();
    c.write(&mut out);
    assert_eq!(s(&out), r#"[2,"1","hello/ping","hello world"]"#);
    let mut args = Vec::new();
    c.args.write_json(&mut args);
    assert_eq!(s(&args), r#""hello world""#);
}

#[test]
fn number_id_reencoded_as_string() {
    let m = decode(r#"[2,4,"a/b",{}]"#).unwrap();
    let mut out = Vec::new();
    m.write(&mut out);
    assert_eq!(s(&out), r#"[2,"4","a/b",{}]"#);
}

#[test]
fn status_codes() {
    let table = [
        ("success", 0),
        ("internal-error", -1),
        ("out-of-memory", -2),
        ("unknown-api", -3),
        ("unknown-verb", -4),
        ("not-available", -5),
        ("unauthorized", -6),
        ("invalid-token", -7),
        ("forbidden", -8),
        ("insufficient-scope", -9),
        ("bad-api-state", -10),
        ("not-replied", -11),
        ("invalid-request", -12),
        ("no-item", -13),
        ("bad-state", -14),
        ("disconnected", -15),
        ("timeout", -16),
        ("failed", -1),
        ("", -1),
        ("SUCCESS", -1),
    ];
    for (status, code) in table {
        assert_eq!(status_code(status), code, "{status}");
    }
}

#[test]
fn parse_reply_envelope_by_key() {
    // Keys in another order, unknown keys ignored, code defaulted from the status.
    let p = parse_reply_envelope(
        r#" {"response":[1,{"x":null}],"extra":{"deep":[[]]},"request":{"info":null,"status":"unknown-verb","x":1},"jtype":"afb-reply"} "#,
    )
    .unwrap();
    assert_eq!(p.status, "unknown-verb");
    assert_eq!(p.code, -4);
    assert!(!p.is_success());
    assert_eq!(p.info, None);
    assert_eq!(p.response.unwrap().get(), r#"[1,{"x":null}]"#);
    // jtype may be absent; a present null response is kept.
    let p = parse_reply_envelope(r#"{"request":{"status":"success","code":3},"response":null}"#).unwrap();
    assert!(p.is_success());
    assert_eq!(p.code, 3);
    assert_eq!(p.response.unwrap().get(), "null");
    // Borrowed strings when unescaped.
    let p = parse_reply_envelope(r#"{"request":{"status":"success","uuid":"u-1"}}"#).unwrap();
    assert!(matches!(p.uuid, Some(std::borrow::Cow::Borrowed("u-1"))));
}

#[test]
fn parse_reply_envelope_refusals() {
    for bad in [
        "",
        "[]",
        "null",
        r#"["afb-reply",{"status":"success"}]"#,
        r#"{"jtype":"afb-event","request":{"status":"success"}}"#,
        r#"{"jtype":"afb-reply"}"#,
        r#"{"request":{}}"#,
        r#"{"request":{"code":0}}"#,
        r#"{"request":{"status":1}}"#,
        r#"{"request":{"status":"success","code":1.5}}"#,
        r#"{"request":{"status":"success","code":4294967296}}"#,
        r#"{"request":{"status":"success","info":1}}"#,
        r#"{"request":["success",0]}"#,
        r#"{"request":{"status":"success"}} x"#,
        r#"{"request":{"status":"success"}"#,
    ] {
        let e = parse_reply_envelope(bad).unwrap_err();
        assert!(e.to_string().starts_with("invalid envelope: "), "{e}");
    }
}

#[test]
fn parse_event_envelope_by_key() {
    let p = parse_event_envelope(r#"{"data":{"v":1},"event":"a\/b","x":[]}"#).unwrap();
    assert_eq!(p.name, "a/b");
    assert_eq!(p.data.unwrap().get(), r#"{"v":1}"#);
    let p = parse_event_envelope(r#"{"jtype":"afb-event","event":"a/b"}"#).unwrap();
    assert!(p.data.is_none());
    for bad in [
        r#"{"data":1}"#,
        r#"{"jtype":"afb-reply","event":"a/b"}"#,
        r#"{"event":null}"#,
        "[1]",
    ] {
        assert!(parse_event_envelope(bad).is_err(), "{bad}");
    }
}

#[test]
fn envelope_round_trip() {
    let mut out = Vec::new();
    let data = json!({"a":[1,"x"]});
    let env = ReplyEnvelope {
        info: Some("hi"),
        reqid: Some("42"),
        ..ReplyEnvelope::success(Some(&data))
    };
    write_reply_envelope(&mut out, &env);
    let p = parse_reply_envelope(s(&out)).unwrap();
    assert_eq!(p.status, "success");
    assert_eq!(p.code, 0);
    assert_eq!(p.info.as_deref(), Some("hi"));
    assert_eq!(p.reqid.as_deref(), Some("42"));
    assert_eq!(p.uuid, None);
    assert_eq!(p.token, None);
    assert_eq!(p.response.unwrap().get(), r#"{"a":[1,"x"]}"#);

    out.clear();
    write_event_envelope(&mut out, "api/ev", Some(&raw("[true]")));
    let p = parse_event_envelope(s(&out)).unwrap();
    assert_eq!(p.name, "api/ev");
    assert_eq!(p.data.unwrap().get(), "[true]");
}

#[test]
fn reply_envelope_debug_shows_response() {
    let env = ReplyEnvelope::success(Some(&JsonString("x")));
    let shown = format!("{env:?}");
    assert!(shown.contains(r#"response: Some("\"x\"")"#), "{shown}");
}
