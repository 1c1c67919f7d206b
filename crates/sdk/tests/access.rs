//! Access rules on SDK verbs: the typed builder (`Auth::perm(..).or(..)`),
//! each node and combination checked before the verb runs, the refusal
//! statuses, the permission backends (deny-all by default, grant-all, a
//! policy, a verb of the binder) and `Req::check_permission`.

use std::sync::Arc;

use afb_sdk::core::access::{ApiBackend, GrantAll, Policy, PolicyBackend};
use afb_sdk::prelude::*;
use afb_sdk::testing::{data, TestBinder, TestClient};
use serde_json::json;

async fn ran() -> Result<Value, Error> {
    Ok(json!("ran"))
}

async fn login(req: Req) -> Result<Value, Error> {
    req.set_loa(1)?;
    Ok(json!(1))
}

async fn check(req: Req, Json(p): Json<String>) -> Result<Value, Error> {
    Ok(json!(req.check_permission(&p).await))
}

async fn perm_check(args: Value) -> Result<Value, Error> {
    let p = args["permission"].as_str().unwrap_or("");
    if p.starts_with("urn:ok") {
        Ok(json!(true))
    } else if p == "urn:false" {
        Ok(json!(false))
    } else {
        Err(Error::failed("refused"))
    }
}

fn apis() -> Vec<ApiBuilder> {
    let v = |name: &str, a: AuthRule| Verb::new(name, ran).auth(a);
    vec![
        ApiBuilder::new("acc")
            .verb(v("no", AuthRule::No))
            .verb(v("yes", AuthRule::Yes))
            .verb(v("token", AuthRule::Token))
            .verb(v("loa1", AuthRule::loa(1)))
            .verb(v("ok", Auth::perm("urn:ok:1")))
            .verb(v("ko", Auth::perm("urn:ko")))
            .verb(v("ko-or-loa1", Auth::perm("urn:ko").or(AuthRule::loa(1))))
            .verb(v("ok-and-ko", Auth::perm("urn:ok:1").and(Auth::perm("urn:ko"))))
            .verb(v("not-ko", !Auth::perm("urn:ko")))
            .verb(v("not-loa1", !AuthRule::loa(1)))
            .verb(v("perm-or-session", Auth::perm("urn:ko").or(Auth::loa(1))))
            .verb(Verb::new("both", ran).auth(Auth::check()).auth(Auth::perm("urn:ok:2")))
            .verb(Verb::new("login", login))
            .verb(Verb::new("check", check)),
        ApiBuilder::new("perm").verb(Verb::new("check", perm_check)),
    ]
}

async fn status(c: &TestClient, verb: &str) -> String {
    c.call("acc", verb, &json!(null)).await.status.into_owned()
}

#[tokio::test]
async fn rules_with_the_default_backend_refuse_permissions() {
    let b = TestBinder::start(apis()).await.unwrap();
    let c = b.client();
    assert_eq!(status(&c, "yes").await, "success");
    assert_eq!(status(&c, "no").await, "insufficient-scope");
    assert_eq!(status(&c, "ok").await, "insufficient-scope", "deny-all is the default");
    assert_eq!(status(&c, "not-ko").await, "success");
    assert_eq!(status(&c, "loa1").await, "insufficient-scope");
    assert_eq!(status(&c, "not-loa1").await, "success");
    assert_eq!(data(&c.call("acc", "check", &json!("urn:ok:1")).await), json!(false));
}

#[tokio::test]
async fn each_node_and_combination_with_a_backend() {
    let b = TestBinder::start(apis()).await.unwrap();
    b.registry()
        .access()
        .set_backend(Arc::new(ApiBackend::new(b.registry(), "perm", "check")));
    let c = b.client();
    for (verb, want) in [
        ("yes", "success"),
        ("no", "insufficient-scope"),
        ("ok", "success"),
        ("ko", "insufficient-scope"),
        ("ko-or-loa1", "insufficient-scope"),
        ("ok-and-ko", "insufficient-scope"),
        ("not-ko", "success"),
        ("loa1", "insufficient-scope"),
        ("not-loa1", "success"),
        ("both", "success"),
    ] {
        assert_eq!(status(&c, verb).await, want, "{verb} before login");
    }
    assert_eq!(data(&c.call("acc", "login", &json!(null)).await), json!(1));
    for (verb, want) in [
        ("loa1", "success"),
        ("ko-or-loa1", "success"),
        ("perm-or-session", "success"),
        ("not-loa1", "insufficient-scope"),
        ("ok-and-ko", "insufficient-scope"),
    ] {
        assert_eq!(status(&c, verb).await, want, "{verb} after login");
    }
    assert_eq!(data(&c.call("acc", "check", &json!("urn:ok:x")).await), json!(true));
    assert_eq!(data(&c.call("acc", "check", &json!("urn:false")).await), json!(false));
    assert_eq!(data(&c.call("acc", "check", &json!("urn:nope")).await), json!(false));
}

#[tokio::test]
async fn a_token_rule_refuses_a_wrong_token_with_invalid_token() {
    let b = TestBinder::start(apis()).await.unwrap();
    b.registry().access().set_backend(Arc::new(GrantAll));
    let c = b.client();
    // The session gets a token; presenting another one is refused.
    let s = b.registry().sessions().get(&c.session_uuid()).unwrap();
    let tok = s.renew_token();
    c.set_token(Some("wrong"));
    assert_eq!(status(&c, "token").await, "invalid-token");
    assert_eq!(status(&c, "both").await, "invalid-token");
    assert_eq!(
        data(&c.call("acc", "check", &json!("urn:redpesk:token:valid")).await),
        json!(false)
    );
    c.set_token(Some(&tok));
    assert_eq!(status(&c, "token").await, "success");
    assert_eq!(status(&c, "both").await, "success");
    assert_eq!(status(&c, "ko").await, "success", "grant-all");
    assert_eq!(
        data(&c.call("acc", "check", &json!("urn:redpesk:token:valid")).await),
        json!(true)
    );
}

#[tokio::test]
async fn a_policy_decides_first_match_and_is_replaced() {
    let b = TestBinder::start(apis()).await.unwrap();
    let p = |v| Policy::from_value(v).unwrap();
    let backend = Arc::new(PolicyBackend::new(
        "test",
        p(json!({"rules": [
            {"permission": "urn:ko", "decision": "deny"},
            {"permission": "urn:*", "decision": "allow"},
        ]})),
    ));
    b.registry().access().set_backend(backend.clone());
    let c = b.client();
    assert_eq!(status(&c, "ok").await, "success");
    assert_eq!(status(&c, "ko").await, "insufficient-scope");
    backend.replace(p(json!({"rules": [{"permission": "urn:ko", "decision": "allow"}]})));
    assert_eq!(status(&c, "ok").await, "insufficient-scope");
    assert_eq!(status(&c, "ko").await, "success");
}

#[tokio::test]
async fn describe_and_info_show_the_rules() {
    let b = TestBinder::start(apis()).await.unwrap();
    let c = b.client();
    let info = data(&c.call("acc", "info", &json!(null)).await);
    let verb = |n: &str| {
        info["verbs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == n)
            .cloned()
            .unwrap()
    };
    assert_eq!(verb("ko-or-loa1")["auth"], json!("(urn:ko or loa>=1)"));
    assert_eq!(verb("not-loa1")["auth"], json!("not loa>=1"));
    assert_eq!(verb("no")["auth"], json!("no"));
    let d = data(&c.call("acc", "describe", &json!(null)).await);
    assert_eq!(
        d["paths"]["/ok-and-ko"]["get"]["x-auth"],
        json!({"allOf": [{"permission": "urn:ok:1"}, {"permission": "urn:ko"}]})
    );
}
