//! `API/info` of SDK APIs: generated (`afb-api-info/v2`) when the API has
//! no verb of that name, the declared specification when it has one, and
//! the API's own verb when it defines `info`.

use afb_sdk::prelude::*;
use afb_sdk::testing::TestBinder;
use serde_json::{json, Value};

fn nothing() -> Verb {
    Verb::new("x", |_req: Req, _a: Value| async move { Ok::<_, Error>(()) })
}

fn named(name: &str) -> Verb {
    Verb::new(
        name.to_owned(),
        |_req: Req, _a: Value| async move { Ok::<_, Error>(()) },
    )
}

#[tokio::test]
async fn every_api_answers_info() {
    let generated = ApiBuilder::new("gen")
        .info("generated one")
        .verb(nothing().info("does nothing"))
        .verb(named("loa2").auth(Auth::loa(2)))
        .verb(named("check").auth(Auth {
            loa: Some(Loa::AtLeast(1)),
            ..Auth::check()
        }))
        .verb(named("bye").auth(Auth::NONE.close()));
    let declared = ApiBuilder::new("spec")
        .specification(r#"{"openapi":"3.0.0","info":{"title":"spec"}}"#)
        .verb(nothing());
    let text = ApiBuilder::new("text").specification("not JSON").verb(nothing());
    let own = ApiBuilder::new("own").verb(Verb::new("info", |_req: Req, _a: Value| async move {
        Ok::<_, Error>(Json("mine"))
    }));
    let b = TestBinder::start(vec![generated, declared, text, own]).await.unwrap();
    let c = b.client();

    let r = c.call("gen", "info", &()).await;
    assert!(r.is_success(), "{r:?}");
    assert_eq!(
        r.data_json(),
        Some(
            r#"{"$schema":"afb-api-info/v2","name":"gen","info":"generated one","verbs":[{"name":"x","info":"does nothing"},{"name":"loa2","auth":"loa>=2"},{"name":"check","auth":"loa>=1 and check-token"},{"name":"bye","session-close":true}]}"#
        ),
        "keys in the C binder's order"
    );
    let v: Value = serde_json::from_str(c.call("spec", "info", &()).await.data_json().unwrap()).unwrap();
    assert_eq!(v, json!({"openapi": "3.0.0", "info": {"title": "spec"}}));
    assert_eq!(c.call("text", "info", &()).await.data_json(), Some(r#""not JSON""#));
    assert_eq!(c.call("own", "info", &()).await.data_json(), Some(r#""mine""#));
    // `describe` is unchanged: the OpenAPI-like form.
    let d: Value = serde_json::from_str(c.call("gen", "describe", &()).await.data_json().unwrap()).unwrap();
    assert_eq!(d["openapi"], json!("3.0.0"));
}
